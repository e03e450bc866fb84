// Times bench/format/run's operations with amstore's format_bench and the library's
// js_bench.mjs side by side: for each payload and operation, one process per implementation
// (so that its peak RSS is that operation's), started in "paced" mode and kept for the
// whole comparison, their timed runs taken in turn for CYCLES cycles (who goes first
// rotates; the shorter runs several times a cycle, see compare()). Each run of one side
// then has runs of the other around it within a second or two: the host's slow and fast
// spells, which last from a tenth of a second to several seconds, fall on both sides
// alike. Appends each process's JSON result (its runs' times in order, and how many of them
// each cycle took) to RESULTS.
//
//   node pace.mjs FORMAT_BENCH CACHE RESULTS
//   (CYCLES, OP_TIMEOUT, PAYLOADS, OPS: see bench/format/run)
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'

const [bench, cache, results] = process.argv.slice(2)
const cycles = Number(process.env.CYCLES || 15)
const timeoutMs = 1000 * Number(process.env.OP_TIMEOUT || 300)
const jsBench = new URL('js_bench.mjs', import.meta.url).pathname
if (!bench || !cache || !results || !(cycles >= 1)) {
  console.error('usage: CYCLES=N node pace.mjs FORMAT_BENCH CACHE RESULTS')
  process.exit(2)
}

// One benchmark process in paced mode: lines from its stdout, one at a time.
class Proc {
  constructor(impl, op, files) {
    this.impl = impl
    this.op = op
    const [cmd, args] = impl === 'amstore'
      ? [bench, [op, 'paced', ...files]]
      : [process.execPath, ['--expose-gc', jsBench, op, 'paced', ...files]]
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] })
    this.lines = []
    this.waiting = null
    this.closed = false
    readline.createInterface({ input: this.child.stdout }).on('line', (l) => this.deliver(l))
    this.child.on('close', () => { this.closed = true; this.deliver(null) })
    this.child.on('error', () => { this.closed = true; this.deliver(null) })
  }
  deliver(line) {
    if (line !== null) this.lines.push(line)
    if (this.waiting && (this.lines.length || this.closed)) {
      const w = this.waiting
      this.waiting = null
      w()
    }
  }
  // The next line, or null if the process ended or took longer than the timeout.
  async next() {
    if (!this.lines.length && !this.closed) {
      let timer
      await Promise.race([
        new Promise((resolve) => { this.waiting = resolve }),
        new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) }),
      ])
      clearTimeout(timer)
      this.waiting = null
    }
    return this.lines.length ? this.lines.shift() : null
  }
  async run() {
    this.child.stdin.write('\n')
    const line = await this.next()
    const ms = Number(line)
    return line !== null && Number.isFinite(ms) ? ms : null
  }
  // Ends the process's runs; its JSON result, or null.
  async finish() {
    this.child.stdin.end()
    const line = await this.next()
    try {
      return line ? JSON.parse(line) : null
    } catch {
      return null
    }
  }
  kill() { if (!this.closed) this.child.kill('SIGKILL') }
}

// The processes of one comparison, started one after another (each warms up alone).
async function compare(payload, members) {
  const label = members.map(([impl, op]) => `${impl} ${op}`).join(', ')
  console.error(`  ${payload}: ${label} (${cycles} cycles) ...`)
  const procs = []
  let ok = true
  for (const [impl, op, files] of members) {
    const p = new Proc(impl, op, files)
    procs.push(p)
    if ((await p.next()) !== 'ready') { ok = false; break }
  }
  // Cycle 0 runs each process once; from then on each runs as many times in a row as takes
  // about as long as the slowest one's run, so that every side spends about the same time
  // in each cycle, and its mean samples the host's spells as densely as the others'.
  const repeat = procs.map(() => 1)
  const perCycle = procs.map(() => [])
  for (let c = 0; ok && c < cycles; c++) {
    const first = []
    for (let k = 0; ok && k < procs.length; k++) {
      const i = (c + k) % procs.length
      for (let n = 0; ok && n < repeat[i]; n++) {
        const ms = await procs[i].run()
        if (ms === null) ok = false
        if (n === 0) first[i] = ms
      }
      perCycle[i].push(repeat[i])
    }
    if (ok && c === 0) {
      const longest = Math.max(...first)
      for (let i = 0; i < procs.length; i++) repeat[i] = Math.max(1, Math.round(longest / first[i]))
    }
  }
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
