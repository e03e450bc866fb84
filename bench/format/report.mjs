// Prints bench/format/run's markdown table from the payload manifest and the JSON lines
// of format_bench / js_bench.mjs.   node report.mjs MANIFEST RESULTS
import fs from 'node:fs'
import os from 'node:os'

const [manifestPath, resultsPath] = process.argv.slice(2)
const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
const rows = fs.readFileSync(resultsPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
const find = (payload, op, impl) => rows.find((r) => r.payload === payload && r.op === op && (impl === undefined || r.impl === impl))
// One operation's results, one per round, by round.
const rounds = (payload, op, impl) => new Map(rows.filter((r) => r.payload === payload && r.op === op && r.impl === impl).map((r) => [r.round, r]))
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

// Operations without a target (save-first, merge-held) show how the numbers above come about.
const TARGET = { load: 10, 'load-lean': 10, save: 2, merge: 10 }
const OPS = {
  load: 'load',
  'load-lean': 'load, lean (as the server loads)',
  save: 'save',
  'save-first': 'first save after the load (amstore: builds the op set it keeps)',
  merge: 'merge (load A + merge B + save)',
  'merge-held': 'merge B + save, into A loaded and saved before',
}
const int = (n) => n.toLocaleString('en-US')
const kb = (n) => (n >= 10240 ? `${int(Math.round(n / 1024))} MB` : `${(n / 1024).toFixed(1)} MB`)
const msFmt = (m) => (m >= 100 ? m.toFixed(0) : m >= 10 ? m.toFixed(1) : m.toFixed(2))
const same = (a, b) => JSON.stringify([...(a || [])].sort()) === JSON.stringify([...(b || [])].sort())

const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) || [])[1] || 'unknown'
const out = []
out.push(`Machine: ${os.availableParallelism?.() ?? os.cpus().length} CPUs (nproc), ${cpu}, ` +
  `${(os.totalmem() / 2 ** 30).toFixed(0)} GB RAM, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at the end; ` +
  `Node ${process.version}, @automerge/automerge ${manifest.automerge}; amstore ${process.env.REV || '?'}, ` +
  `build type ${process.env.BUILD_TYPE || '?'}.`)
out.push(`Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}. ${process.env.ROUNDS} rounds; in each, every operation ran in amstore and then in the library, ` +
  `each in its own process, ${process.env.RUNS} timed runs after one warm-up run (the process's figure is their median). ` +
  `Times: the median over the rounds; ratio: the median of the rounds' ratios, then their range.`)
out.push('')
out.push('| payload | operation | amstore ms | JS ms | ratio (JS/amstore) | ratio range over rounds | fastest runs\' ratio | amstore peak RSS | JS peak RSS | target | met? |')
out.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|')
const notes = []
for (const p of ['doc', 'text']) {
  const m = manifest.payloads[p]
  const info = find(p, 'info')
  const ops = info ? `, ${int(info.ops)} ops` : ''
  const label = p === 'doc'
    ? `doc: ${int(m.changes)} changes, ${int(m.bytes)} B${ops}`
    : `text: ${int(m.text_length)} chars, ${int(m.changes)} changes, ${int(m.bytes)} B`
  for (const op of ['load', 'load-lean', 'save', 'save-first', 'merge', 'merge-held']) {
    const cs = rounds(p, op, 'amstore')
    const js = rounds(p, op === 'load-lean' ? 'load' : op, 'js')
    const ok = (r) => r && !r.failed
    const cOk = [...cs.values()].filter(ok)
    const jOk = [...js.values()].filter(ok)
    // A round counts for the ratio if both of its runs succeeded.
    const ratios = [...cs.keys()].filter((k) => ok(cs.get(k)) && ok(js.get(k))).map((k) => js.get(k).median_ms / cs.get(k).median_ms)
    const failed = (list, all) => list.length < all.size || all.size === 0
    const cMs = cOk.length && !failed(cOk, cs) ? msFmt(median(cOk.map((r) => r.median_ms))) : 'FAILED'
    const jMs = jOk.length && !failed(jOk, js) ? msFmt(median(jOk.map((r) => r.median_ms))) : 'FAILED'
    const ratio = ratios.length ? median(ratios) : NaN
    const range = ratios.length ? `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×` : '–'
    // Each side's fastest timed run over all rounds: what it does when the host leaves it
    // alone (the host's slow spells fall on single processes, not on both sides alike).
    const fastest = (list) => Math.min(...list.flatMap((r) => r.times_ms || [r.median_ms]))
    const fast = cOk.length && jOk.length ? `${(fastest(jOk) / fastest(cOk)).toFixed(2)}×` : '–'
    const rss = (list) => (list.length ? kb(Math.max(...list.map((r) => r.peak_rss_kb))) : '–')
    const target = TARGET[op]
    const met = !target ? '–' : Number.isNaN(ratio) ? 'n/a' : ratio >= target ? 'met' : 'not met'
    out.push(`| ${label} | ${OPS[op]} | ${cMs} | ${jMs} | ` +
      `${Number.isNaN(ratio) ? '–' : ratio.toFixed(2) + '×'} | ${range} | ${fast} | ${rss(cOk)} | ${rss(jOk)} | ` +
      `${target ? `≥${target}×` : '–'} | ${met} |`)
    const want = op.startsWith('merge') ? m.merged_heads : m.heads
    for (const r of [...cOk, ...jOk]) {
      if (!same(r.heads, want)) notes.push(`**heads differ** from the library's for ${p} ${op} (${r.impl}, round ${r.round})`)
    }
  }
}
out.push('')
const d = manifest.payloads.doc
const t = manifest.payloads.text
notes.push(`Payloads (generated once with the library, cached): *doc* — 6 actors editing ${20} text pages, a list of task maps ` +
  `(text titles, counters, tag lists, nested maps, dates), a settings map and counters, syncing every round ` +
  `(${int(d.changes)} changes, ${int(d.text_length)} chars of text); *text* — one actor typing ${int(t.text_length)} chars, ` +
  `one change per character (backspaces included: ${int(t.changes)} changes). Forks: base + ${d.fork_changes} (doc) / ` +
  `${t.fork_changes} (text) distinct changes each, by different actors.`)
notes.push('Timed: *load* = bytes → document (amstore: `Document::load`, i.e. Algorithm A with head verification, ' +
  'then applying the changes; JS: `Automerge.load`); *load, lean* = the same into a lean document (`Document::load(bytes, true)`: ' +
  'each change is validated as it is regenerated and its decoded ops dropped at once, keeping change chunks and the op index; ' +
  'what the server does with a stored or uploaded document), against the library\'s *load*; *save* = document → bytes of a document loaded before timing ' +
  '(`Document::save` / `Automerge.save`; the warm-up run is the first save, so amstore\'s timed saves reuse the op set and change columns it built, ' +
  'as the library\'s reuse the op set its load built); *first save* = the first `save` of a document just loaded (untimed), each run a fresh load; ' +
  '*merge* = from the two forks\' bytes to the merged document\'s bytes ' +
  '(`Document::load(A)`, `merge(B bytes)`, `save()` / `Automerge.save(Automerge.merge(Automerge.load(A), Automerge.load(B)))`); ' +
  '*merge into a held document* = A loaded and saved before timing, then `merge(B bytes)` + `save()` / ' +
  '`Automerge.save(Automerge.loadIncremental(doc, B))` (a document kept in memory taking an upload).')
notes.push('Fastest runs\' ratio: the library\'s fastest timed run over all rounds divided by amstore\'s: the two sides each at ' +
  'their best on this host, away from its slow spells (which fall on single processes, not on both sides alike). ' +
  'Targets are judged on the median ratio, not on this one.')
notes.push('Peak RSS: the process\'s `ru_maxrss` (the largest over the rounds), which includes the inputs, the runtime (Node ≈ 50–60 MB before any document) ' +
  'and, for *save*, the loaded document.')
const sizes = ['doc', 'text'].map((p) => {
  const c = find(p, 'save', 'amstore')
  const j = find(p, 'save', 'js')
  return c && j && !c.failed && !j.failed ? `${p}: amstore ${int(c.out_bytes)} B, library ${int(j.out_bytes)} B` : null
}).filter(Boolean)
if (sizes.length) notes.push(`Saved sizes (*save* output): ${sizes.join('; ')}.`)
for (const n of notes) out.push(`- ${n}`)
console.log(out.join('\n'))
