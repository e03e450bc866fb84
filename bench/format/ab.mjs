// Two builds of the format core on one operation, side by side (bench/format/ab): a paced
// format_bench process of each, pinned to the same CPU, their runs taken in turn, one each
// a cycle (paced.mjs), so that the host's slow and fast spells fall on both alike. For
// telling whether a change helps; the comparison with the library is bench/format/run.
// Prints a markdown table on stdout.
//
//   bench/format/ab BUILD_A BUILD_B OP FILE [FILE2]
//     BUILD_*: build trees holding bench/format_bench (Release, for figures)
//     OP, FILE, FILE2: as format_bench takes them (load, load-lean, save, save-lean,
//                      save-first, merge, merge-held)
//   CYCLES=30  cycles (each build runs once in each)
//   CPU=0      the CPU both are pinned to (taskset)
import fs from 'node:fs'
import path from 'node:path'
import { Proc, takeTurns, cycleMeans, mean, median } from './paced.mjs'

const [a, b, op, ...files] = process.argv.slice(2)
const cycles = Number(process.env.CYCLES || 30)
const cpu = process.env.CPU || '0'
if (!a || !b || !op || files.length === 0 || !(cycles >= 1)) {
  console.error(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(6, 12)
    .map((l) => l.replace(/^\/\/ ?/, '')).join('\n'))
  process.exit(2)
}
for (const build of [a, b]) {
  if (!fs.existsSync(path.join(build, 'bench/format_bench'))) {
    console.error(`ab: ${build}/bench/format_bench not found (build the format_bench target)`)
    process.exit(2)
  }
}
const procs = []
for (const build of [a, b]) {
  const p = new Proc('taskset', ['-c', cpu, path.join(build, 'bench/format_bench'), op, 'paced', ...files], 300000)
  procs.push(p)
  if (!(await p.ready())) {
    console.error(`ab: ${build}/bench/format_bench ${op} did not start`)
    for (const q of procs) q.kill()
    process.exit(1)
  }
}
const { ok, perCycle } = await takeTurns(procs, cycles, false)  // (two builds: alike in speed)
const results = []
for (const [i, p] of procs.entries()) {
  const r = ok ? await p.finish() : null
  p.kill()
  if (!r) {
    console.error('ab: a run failed')
    process.exit(1)
  }
  results.push({ ...r, runs_per_cycle: perCycle[i] })
}
const [ra, rb] = results
const [ca, cb] = [cycleMeans(ra), cycleMeans(rb)]
const ratios = cb.map((t, k) => t / ca[k])
const f = (x) => x.toFixed(3)
console.log(`${op} of ${files.map((x) => path.basename(x)).join(' + ')}, ${cycles} cycles in turn, CPU ${cpu}:`)
console.log('')
console.log('| build | runs | mean (ms) | median run (ms) | B ÷ A, means |')
console.log('|---|--:|--:|--:|--:|')
console.log(`| A: ${a} | ${ra.times_ms.length} | ${f(mean(ra.times_ms))} | ${f(median(ra.times_ms))} | |`)
console.log(`| B: ${b} | ${rb.times_ms.length} | ${f(mean(rb.times_ms))} | ${f(median(rb.times_ms))} | ` +
  `${f(mean(rb.times_ms) / mean(ra.times_ms))} |`)
console.log('')
console.log(`B ÷ A in each cycle: median ${f(median(ratios))}, range ${f(Math.min(...ratios))}–${f(Math.max(...ratios))}`)
