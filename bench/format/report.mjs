// Prints bench/format/run's markdown table from the payload manifest and the JSON lines
// of format_bench / js_bench.mjs.   node report.mjs MANIFEST RESULTS
import fs from 'node:fs'
import os from 'node:os'
import { cycleMeans, mean, median } from './paced.mjs'

const [manifestPath, resultsPath] = process.argv.slice(2)
const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
const rows = fs.readFileSync(resultsPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
const find = (payload, op, impl) => rows.find((r) => r.payload === payload && r.op === op && (impl === undefined || r.impl === impl))

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
out.push(`Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}. For each operation, amstore's process and the library's ` +
  `(each its own, after one untimed warm-up run) took their timed runs in turn for ${process.env.CYCLES} cycles (bench/format/pace.mjs): ` +
  'one run each in the first cycle, then in each cycle as many runs in a row as take about as long as one run of the slowest. ' +
  'Times: each side\'s mean run; ratio: of the two means (the target is judged on it); then the median and the range of the cycles\' own ratios.')
out.push('')
out.push('| payload | operation | amstore ms | JS ms | ratio (JS/amstore) | cycles\' ratios: median, range | fastest runs\' ratio | amstore peak RSS | JS peak RSS | target | met? |')
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
    const c = find(p, op, 'amstore')
    const j = find(p, op === 'load-lean' ? 'load' : op, 'js')
    if (!c && !j) continue  // not run (PAYLOADS, OPS)
    const ok = (r) => r && !r.failed && r.times_ms?.length > 0
    const both = ok(c) && ok(j)
    const cMs = ok(c) ? msFmt(mean(c.times_ms)) : 'FAILED'
    const jMs = ok(j) ? msFmt(mean(j.times_ms)) : 'FAILED'
    const ratio = both ? mean(j.times_ms) / mean(c.times_ms) : NaN
    // Each cycle's mean run of each side (the two taken one right after the other).
    const [cCycles, jCycles] = both ? [cycleMeans(c), cycleMeans(j)] : [[], []]
    const cycleRatios = cCycles.slice(0, jCycles.length).map((t, k) => jCycles[k] / t)
    const cycleCol = cycleRatios.length
      ? `${median(cycleRatios).toFixed(2)}×, ${Math.min(...cycleRatios).toFixed(2)}–${Math.max(...cycleRatios).toFixed(2)}×`
      : '–'
    const fast = both ? `${(Math.min(...j.times_ms) / Math.min(...c.times_ms)).toFixed(2)}×` : '–'
    const rss = (r) => (ok(r) ? kb(r.peak_rss_kb) : '–')
    const target = TARGET[op]
    const met = !target ? '–' : Number.isNaN(ratio) ? 'n/a' : ratio >= target ? 'met' : 'not met'
    out.push(`| ${label} | ${OPS[op]} | ${cMs} | ${jMs} | ` +
      `${Number.isNaN(ratio) ? '–' : ratio.toFixed(2) + '×'} | ${cycleCol} | ${fast} | ${rss(c)} | ${rss(j)} | ` +
      `${target ? `≥${target}×` : '–'} | ${met} |`)
    const want = op.startsWith('merge') ? m.merged_heads : m.heads
    for (const r of [c, j].filter(ok)) {
      if (!same(r.heads, want)) notes.push(`**heads differ** from the library's for ${p} ${op} (${r.impl})`)
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
notes.push('Why runs in turn: this host has slow and fast spells (the same run takes up to 1.8 times as long in one as in the other), ' +
  'lasting from a tenth of a second to several seconds. amstore\'s runs are 10–20 times shorter than the library\'s, so each falls in one spell, ' +
  'where each of the library\'s spans several; with the runs of the two sides taken in turn, both sides\' means cover the same spells. ' +
  'Fastest runs\' ratio: the library\'s fastest run divided by amstore\'s, the two sides each at their best.')
notes.push('Peak RSS: the process\'s `ru_maxrss` after all its runs, which includes the inputs, the runtime (Node ≈ 50–60 MB before any document) ' +
  'and, for *save*, the loaded document.')
const sizes = ['doc', 'text'].map((p) => {
  const c = find(p, 'save', 'amstore')
  const j = find(p, 'save', 'js')
  return c && j && !c.failed && !j.failed ? `${p}: amstore ${int(c.out_bytes)} B, library ${int(j.out_bytes)} B` : null
}).filter(Boolean)
if (sizes.length) notes.push(`Saved sizes (*save* output): ${sizes.join('; ')}.`)
for (const n of notes) out.push(`- ${n}`)
console.log(out.join('\n'))
