#!/usr/bin/env node
// The JS half of the format-core benchmark: the same operations as format_bench.cc, with
// the real @automerge/automerge@3.5.0 (the copy pinned by tests/interop), one process per
// operation, same command line and same JSON output.
//
//   node --expose-gc js_bench.mjs load  RUNS DOC    Automerge.load(DOC bytes)
//   node --expose-gc js_bench.mjs save  RUNS DOC    Automerge.save(doc), doc loaded once, untimed
//   node --expose-gc js_bench.mjs merge RUNS A B    Automerge.save(Automerge.merge(load(A), load(B)))
//
// Inputs are read before timing; one untimed warm-up run (it lets V8 tier the wasm up);
// between runs (untimed) the documents are freed and the JS heap collected.
import { createRequire } from 'node:module'
import fs from 'node:fs'

const require = createRequire(new URL('../../tests/interop/package.json', import.meta.url))
const A = require('@automerge/automerge')

const [op, runsArg, fileA, fileB] = process.argv.slice(2)
const runs = Number(runsArg)
if (!['load', 'save', 'merge'].includes(op) || !(runs >= 1) || !fileA || (op === 'merge' && !fileB)) {
  console.error('usage: js_bench.mjs load|save|merge RUNS FILE [FILE2]')
  process.exit(2)
}
const a = new Uint8Array(fs.readFileSync(fileA))
const b = op === 'merge' ? new Uint8Array(fs.readFileSync(fileB)) : null
const maxRss = () => process.resourceUsage().maxRSS // kilobytes
const collect = () => { if (globalThis.gc) globalThis.gc() }
collect()
const rssInputs = maxRss()

const loaded = op === 'save' ? A.load(a) : null
const rssBefore = maxRss()
const ms = []
let heads = null
let outBytes = 0
for (let i = 0; i <= runs; i++) { // run 0: warm-up
  collect()
  const t0 = performance.now()
  let t1
  if (op === 'load') {
    const d = A.load(a)
    t1 = performance.now()
    if (i === 0) heads = A.getHeads(d).sort()
    A.free(d)
  } else if (op === 'save') {
    const out = A.save(loaded)
    t1 = performance.now()
    outBytes = out.length
  } else {
    const da = A.load(a)
    const db = A.load(b)
    const m = A.merge(da, db)
    const out = A.save(m)
    t1 = performance.now()
    outBytes = out.length
    if (i === 0) heads = A.getHeads(m).sort()
    A.free(m)
    A.free(db)
  }
  if (i > 0) ms.push(t1 - t0)
}
if (op === 'save') heads = A.getHeads(loaded).sort()

const sorted = [...ms].sort((x, y) => x - y)
const n = sorted.length
const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
console.log(JSON.stringify({
  impl: 'js', op, runs, median_ms: +median.toFixed(3), min_ms: +sorted[0].toFixed(3),
  times_ms: ms.map((t) => +t.toFixed(3)), peak_rss_kb: maxRss(), rss_inputs_kb: rssInputs,
  rss_before_kb: rssBefore, out_bytes: outBytes, heads,
}))
