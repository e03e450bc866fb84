// Pseudo-English for benchmark payloads: a vocabulary of syllable words, so that text
// compresses like prose.
const SYL = ['ka', 'to', 'ri', 'mon', 'el', 'sa', 'ver', 'di', 'qu', 'an', 'lo', 'pre', 'st',
  'ing', 'tion', 'or', 'ba', 'ne', 'cu', 'ly', 'ex', 'ma', 'te', 'pho', 'ze', 'wi', 'gra', 'o']

export function vocabulary (rng, n) {
  const v = []
  for (let i = 0; i < n; i++) {
    let w = ''
    for (let k = rng.int(1, 3); k > 0; k--) w += rng.pick(SYL)
    v.push(w)
  }
  return v
}

export function sentence (rng, vocab, words) {
  const out = []
  for (let i = 0; i < words; i++) out.push(rng.pick(vocab))
  const s = out.join(' ')
  return s[0].toUpperCase() + s.slice(1) + rng.pick(['. ', '. ', ', ', '? ', '! ', '.\n'])
}
