// Times bench/format/run's operations with amstore's format_bench and the library's
// js_bench.mjs side by side: for each payload and operation, one process per implementation
// (so that its peak RSS is that operation's), started in "paced" mode and kept for the
// whole comparison, their timed runs taken in turn for CYCLES cycles (who goes first
// rotates; the shorter runs several times a cycle: paced.mjs). Each run of one side
// then has runs of the other around it within a second or two: the host's slow and fast
// spells, which last from a tenth of a second to several seconds, fall on both sides
// alike. Appends each process's JSON result (its runs' times in order, and how many of them
// each cycle took) to RESULTS.
//
//   node pace.mjs FORMAT_BENCH CACHE RESULTS
//   (CYCLES, OP_TIMEOUT, PAYLOADS, OPS: see bench/format/run)
import fs from 'node:fs'
import path from 'node:path'
import { Proc, takeTurns } from './paced.mjs'

const [bench, cache, results] = process.argv.slice(2)
const cycles = Number(process.env.CYCLES || 15)
const timeoutMs = 1000 * Number(process.env.OP_TIMEOUT || 300)
const jsBench = new URL('js_bench.mjs', import.meta.url).pathname
if (!bench || !cache || !results || !(cycles >= 1)) {
  console.error('usage: CYCLES=N node pace.mjs FORMAT_BENCH CACHE RESULTS')
  process.exit(2)
}

// The processes of one comparison, started one after another (each warms up alone).
async function compare(payload, members) {
  const label = members.map(([impl, op]) => `${impl} ${op}`).join(', ')
  console.error(`  ${payload}: ${label} (${cycles} cycles) ...`)
  const procs = []
  let ok = true
  for (const [impl, op, files] of members) {
    const p = impl === 'amstore'
      ? new Proc(bench, [op, 'paced', ...files], timeoutMs)
      : new Proc(process.execPath, ['--expose-gc', jsBench, op, 'paced', ...files], timeoutMs)
    procs.push(p)
    if (!(await p.ready())) { ok = false; break }
  }
  let perCycle = []
  if (ok) ({ ok, perCycle } = await takeTurns(procs, cycles))
  // A result for every member, a failure too (those not started after another's failed).
  for (const [i, [impl, op]] of members.entries()) {
    const p = procs[i]
    const r = ok ? await p.finish() : null
    if (p) p.kill()
    const out = r && !r.failed ? { ...r, runs_per_cycle: perCycle[i] } : { impl, op, failed: true }
    if (!r) console.error(`  ${payload}: ${impl} ${op} failed`)
    fs.appendFileSync(results, JSON.stringify({ payload, ...out }) + '\n')
  }
}

const payloads = (process.env.PAYLOADS || 'doc text').split(/\s+/).filter(Boolean)
const ops = (process.env.OPS || 'load save save-first merge merge-held').split(/\s+/).filter(Boolean)
for (const p of payloads) {
  const base = [path.join(cache, `${p}.bin`)]
  const forks = [path.join(cache, `${p}-forkA.bin`), path.join(cache, `${p}-forkB.bin`)]
  for (const op of ops) {
    if (op === 'load') {
      // load-lean (amstore only): the load the server runs, set against the library's load.
      await compare(p, [['amstore', 'load', base], ['amstore', 'load-lean', base], ['js', 'load', base]])
    } else {
      const files = op.startsWith('merge') ? forks : base
      await compare(p, [['amstore', op, files], ['js', op, files]])
    }
  }
}
