#!/usr/bin/env node
// Payload generator for the server benchmark (bench/run, issue 4).
//
//   node gen.mjs OUTDIR
//
// Writes, with the real @automerge/automerge 3.5.0 pinned in this folder's package.json:
//   base.bin             ~1,000 changes by 4 actors, ~100 KB saved       (workloads 1-3)
//   fork-00..63.bin      base + FORK_CHANGES distinct changes, each by its own actor
//   big.bin              ~1 MB saved                                     (workload 1b)
//   seq.bin, seq.idx     the tutorial's pattern: one client, one change, Automerge.save,
//                        SEQ_CHANGES times; seq.bin is the saves back to back and seq.idx
//                        holds "offset length" per line                  (workload 4)
//   manifest.json        sizes, change counts, heads, and the heads every fork-merge must end at
// Everything (actors, times, randomness) is fixed, so the output is the same on every run.
// Nothing here is timed by the benchmark.
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { Rng } from '../../tests/interop/rng.mjs'
import { sentence, vocabulary } from '../prose.mjs'

const require = createRequire(import.meta.url)
const A = require('@automerge/automerge')

export const GEN_VERSION = 1
const BASE_CHANGES = 1000
const BIG_CHANGES = 4000       // with larger pastes: ~1 MB
const NFORKS = 64
const FORK_CHANGES = 5
const SEQ_CHANGES = 2000
const NPAGES = 8
const BASE_PASTE = 8          // sentences typed per page edit (scales the saved size)
const BIG_PASTE = 30

const actorHex = (tag, n) => (tag + n.toString(16).padStart(4, '0')).padEnd(32, '0')
const T0 = 1700000000

// A todo app with notes, as in the tutorial: tasks (text titles, booleans, counters, tags),
// note pages of text, a settings map. `paste` scales how much text one edit types.
function edit (x, rng, vocab, st, paste = 1) {
  const r = rng.next()
  if (r < 0.30 || x.tasks.length < 3) {
    x.tasks.push({
      id: rng.hex(8),
      title: sentence(rng, vocab, rng.int(2, 6)).trim(),
      done: false,
      votes: new A.Counter(0),
      tags: [rng.pick(vocab)]
    })
  } else if (r < 0.55) {
    const p = rng.int(0, NPAGES - 1)
    const pos = rng.chance(0.7) ? st.lens[p] : rng.int(0, st.lens[p])
    let s = ''
    for (let i = rng.int(1, 2) * paste; i > 0; i--) s += sentence(rng, vocab, rng.int(4, 14))
    A.splice(x, ['pages', p, 'body'], pos, 0, s)
    st.lens[p] += s.length
  } else if (r < 0.65) {
    const t = x.tasks[rng.int(0, x.tasks.length - 1)]
    const len = t.title.length
    const pos = rng.int(0, len)
    A.splice(t, ['title'], pos, Math.min(len - pos, rng.int(0, 4)), rng.pick(vocab) + ' ')
  } else if (r < 0.80) {
    const t = x.tasks[rng.int(0, x.tasks.length - 1)]
    t.done = !t.done
  } else if (r < 0.90) {
    x.tasks[rng.int(0, x.tasks.length - 1)].votes.increment(1)
  } else if (r < 0.95) {
    x.tasks[rng.int(0, x.tasks.length - 1)].tags.push(rng.pick(vocab))
  } else {
    x.settings['k' + rng.int(0, 30)] = rng.chance(0.5) ? rng.int(0, 1e6) : rng.pick(vocab)
  }
}

function init (actor) {
  return A.change(A.init({ actor }), { time: T0, message: 'init' }, (x) => {
    x.title = 'Todo'
    x.tasks = []
    x.pages = []
    for (let p = 0; p < NPAGES; p++) x.pages.push({ name: 'page ' + p, body: '' })
    x.settings = { theme: 'dark' }
  })
}

// NA actors take turns in rounds of a few changes and exchange them after each round.
function genDoc (seed, tag, changes, paste, NA) {
  const rng = new Rng(seed)
  const vocab = vocabulary(rng, 5000)
  let time = T0 + 1
  const base = init(actorHex(tag, 0))
  const actors = [base]
  for (let i = 1; i < NA; i++) actors.push(A.clone(base, { actor: actorHex(tag, i) }))
  const st = { lens: new Array(NPAGES).fill(0) }
  let count = 1
  while (count < changes) {
    const made = actors.map(() => [])
    for (let i = 0; i < NA && count < changes; i++) {
      const stI = NA === 1 ? st : { lens: st.lens.slice() }
      for (let k = rng.int(5, 30); k > 0 && count < changes; k--) {
        const next = A.change(actors[i], { time: time++ }, (x) => edit(x, rng, vocab, stI, paste))
        if (next !== actors[i]) { count++; made[i].push(A.getLastLocalChange(next)) }
        actors[i] = next
      }
    }
    if (NA === 1) continue
    for (let i = 0; i < NA; i++) {
      const theirs = made.flatMap((c, j) => (j === i ? [] : c))
      if (theirs.length) [actors[i]] = A.applyChanges(actors[i], theirs)
    }
    st.lens = actors[0].pages.map((pg) => pg.body.length)
  }
  return { doc: actors[0], vocab, time }
}

export function generate (out) {
  fs.mkdirSync(out, { recursive: true })
  const t0 = Date.now()
  const manifest = { gen_version: GEN_VERSION, automerge: JSON.parse(fs.readFileSync(new URL('node_modules/@automerge/automerge/package.json', import.meta.url))).version }
  const write = (name, bytes) => { fs.writeFileSync(path.join(out, name), bytes); return bytes.length }
  const heads = (d) => A.getHeads(d).slice().sort()

  // base and its forks
  const { doc: base, vocab, time } = genDoc(0xba5e, 'b0', BASE_CHANGES, BASE_PASTE, 4)
  manifest.base = { bytes: write('base.bin', A.save(base)), changes: A.getAllChanges(base).length, heads: heads(base) }
  const lens = base.pages.map((pg) => pg.body.length)
  const extras = []
  manifest.forks = []
  for (let f = 0; f < NFORKS; f++) {
    let d = A.clone(base, { actor: actorHex('f0', f) })
    const rng = new Rng(0xf000 + f)
    const st = { lens: lens.slice() }
    for (let k = 0; k < FORK_CHANGES;) {
      const next = A.change(d, { time: time + f * 100 + k }, (x) => edit(x, rng, vocab, st))
      if (next !== d) k++
      d = next
    }
    const bytes = A.save(d)
    manifest.forks.push({ bytes: write(`fork-${String(f).padStart(2, '0')}.bin`, bytes), heads: heads(d) })
    extras.push(...A.getChanges(base, d))
  }
  const [merged] = A.applyChanges(A.clone(base), extras)
  manifest.forks_merged = { heads: heads(merged), changes: A.getAllChanges(merged).length, bytes: A.save(merged).length }

  // ~1 MB document
  const { doc: big } = genDoc(0xb16, 'c0', BIG_CHANGES, BIG_PASTE, 1)
  manifest.big = { bytes: write('big.bin', A.save(big)), changes: A.getAllChanges(big).length, heads: heads(big) }

  // the tutorial's pattern: one change, save, upload; SEQ_CHANGES times
  {
    const rng = new Rng(0x5e0)
    const vocab2 = vocabulary(rng, 5000)
    let d = init(actorHex('d0', 0))
    const st = { lens: new Array(NPAGES).fill(0) }
    const fd = fs.openSync(path.join(out, 'seq.bin'), 'w')
    const idx = []
    let off = 0
    for (let k = 0; k < SEQ_CHANGES;) {
      const next = A.change(d, { time: T0 + 10 + k }, (x) => edit(x, rng, vocab2, st))
      if (next === d) continue
      d = next
      k++
      const bytes = A.save(d)
      fs.writeSync(fd, bytes)
      idx.push(`${off} ${bytes.length}`)
      off += bytes.length
    }
    fs.closeSync(fd)
    fs.writeFileSync(path.join(out, 'seq.idx'), idx.join('\n') + '\n')
    manifest.seq = { uploads: SEQ_CHANGES, first_bytes: +idx[0].split(' ')[1], last_bytes: +idx[idx.length - 1].split(' ')[1], total_bytes: off, heads: heads(d) }
  }
  manifest.gen_seconds = (Date.now() - t0) / 1000
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n')
  return manifest
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2]
  if (!out) { console.error('usage: node gen.mjs OUTDIR'); process.exit(2) }
  const m = generate(out)
  console.log(JSON.stringify({ base: m.base.bytes, fork: m.forks[0].bytes, big: m.big.bytes, seq_last: m.seq.last_bytes, seq_total: m.seq.total_bytes, seconds: m.gen_seconds }))
}
