#!/usr/bin/env node
// The JS half of the format-core benchmark: the same operations as format_bench.cc, with
// the real @automerge/automerge@3.5.0 (the copy pinned by tests/interop), one process per
// operation, same command line and same JSON output.
//
//   node --expose-gc js_bench.mjs load  RUNS DOC    Automerge.load(DOC bytes)
//   node --expose-gc js_bench.mjs save  RUNS DOC    Automerge.save(doc), doc loaded once, untimed
//   node --expose-gc js_bench.mjs save-first RUNS DOC  the first Automerge.save of a document
//                                                   just loaded (untimed)
//   node --expose-gc js_bench.mjs merge RUNS A B    Automerge.save(Automerge.merge(load(A), load(B)))
//   node --expose-gc js_bench.mjs merge-held RUNS A B  Automerge.save(Automerge.loadIncremental(doc, B))
//                                                   into doc loaded from A and saved once (untimed)
//
// Inputs are read before timing; one untimed warm-up run (it lets V8 tier the wasm up);
// between runs (untimed) the documents are freed and the JS heap collected. RUNS "paced":
// timed runs one at a time, when asked on stdin (see below; bench/format/run).
import { createRequire } from 'node:module'
import fs from 'node:fs'
import readline from 'node:readline'

const require = createRequire(new URL('../../tests/interop/package.json', import.meta.url))
const A = require('@automerge/automerge')

const [op, runsArg, fileA, fileB] = process.argv.slice(2)
// RUNS "paced": as format_bench's (bench/format/pace.mjs asks for each timed run on stdin).
const paced = runsArg === 'paced'
let runs = paced ? 0 : Number(runsArg)
const twoInputs = op === 'merge' || op === 'merge-held'
if (!['load', 'save', 'save-first', 'merge', 'merge-held'].includes(op) || !(paced || runs >= 1) || !fileA || (twoInputs && !fileB)) {
  console.error('usage: js_bench.mjs load|save|save-first|merge|merge-held RUNS|paced FILE [FILE2]')
  process.exit(2)
}
const a = new Uint8Array(fs.readFileSync(fileA))
const b = twoInputs ? new Uint8Array(fs.readFileSync(fileB)) : null
const maxRss = () => process.resourceUsage().maxRSS // kilobytes
const collect = () => { if (globalThis.gc) globalThis.gc() }
collect()
const rssInputs = maxRss()

const loaded = op === 'save' ? A.load(a) : null
const rssBefore = maxRss()
const ms = []
let heads = null
let outBytes = 0
// Run i (0: the warm-up), its time kept for i > 0.
function run(i) {
  // The documents these two start from are made before the clock starts.
  let held = null
  if (op === 'save-first' || op === 'merge-held') {
    held = A.load(a)
    if (op === 'merge-held') A.save(held)
  }
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
  } else { // save-first, merge, merge-held: the document saved is m
    let m = held
    let db = null
    if (op === 'merge') {
      db = A.load(b)
      m = A.merge(A.load(a), db)
    } else if (op === 'merge-held') {
      m = A.loadIncremental(held, b)
    }
    const out = A.save(m)
    t1 = performance.now()
    outBytes = out.length
    if (i === 0) heads = A.getHeads(m).sort()
    A.free(m)
    if (db) A.free(db)
  }
  if (i > 0) ms.push(t1 - t0)
}
run(0)
if (paced) {
  // Each run's garbage collected before it answers, not while amstore's next run goes on.
  collect()
  console.log('ready')
  const lines = readline.createInterface({ input: process.stdin })
  for await (const _ of lines) { // eslint-disable-line no-unused-vars
    run(++runs)
    collect()
    console.log(ms[ms.length - 1].toFixed(3))
  }
  if (runs === 0) {
    console.error('js_bench.mjs: paced: no run was asked for')
    process.exit(1)
  }
} else {
  for (let i = 1; i <= runs; i++) run(i)
}
if (op === 'save') heads = A.getHeads(loaded).sort()

const sorted = [...ms].sort((x, y) => x - y)
const n = sorted.length
const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
const mean = ms.reduce((x, y) => x + y, 0) / n
console.log(JSON.stringify({
  impl: 'js', op, runs, median_ms: +median.toFixed(3), mean_ms: +mean.toFixed(3), min_ms: +sorted[0].toFixed(3),
  times_ms: ms.map((t) => +t.toFixed(3)), peak_rss_kb: maxRss(), rss_inputs_kb: rssInputs,
  rss_before_kb: rssBefore, out_bytes: outBytes, heads,
}))
