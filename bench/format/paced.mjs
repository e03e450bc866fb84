// Benchmark processes in "paced" mode (format_bench's and js_bench.mjs's RUNS "paced"),
// their timed runs taken in turn, and the figures made of those runs: for bench/format/run's
// table (pace.mjs, report.mjs) and for two builds side by side (ab).
import { spawn } from 'node:child_process'
import readline from 'node:readline'

// One process: it answers "ready" after its warm-up, then its time for each run asked for,
// then its JSON result once its stdin ends.
export class Proc {
  constructor(cmd, args, timeoutMs) {
    this.timeoutMs = timeoutMs
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
        new Promise((resolve) => { timer = setTimeout(resolve, this.timeoutMs) }),
      ])
      clearTimeout(timer)
      this.waiting = null
    }
    return this.lines.length ? this.lines.shift() : null
  }
  async ready() { return (await this.next()) === 'ready' }
  // One timed run: its milliseconds, or null.
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

// Takes the processes' runs in turn for `cycles` cycles, who goes first rotating. Cycle 0
// runs each once; from then on, with `balance`, each runs as many times in a row as take
// about as long as one run of the slowest, so that every process spends about the same
// time in each cycle and its mean samples the host's slow and fast spells as densely as the
// others' (without it, once: processes whose runs are about as long). Returns whether every
// run answered, and per process how many runs each cycle took.
export async function takeTurns(procs, cycles, balance = true) {
  const repeat = procs.map(() => 1)
  const perCycle = procs.map(() => [])
  for (let c = 0; c < cycles; c++) {
    const first = []
    for (let k = 0; k < procs.length; k++) {
      const i = (c + k) % procs.length
      for (let n = 0; n < repeat[i]; n++) {
        const ms = await procs[i].run()
        if (ms === null) return { ok: false, perCycle }
        if (n === 0) first[i] = ms
      }
      perCycle[i].push(repeat[i])
    }
    if (c === 0 && balance) {
      const longest = Math.max(...first)
      for (let i = 0; i < procs.length; i++) repeat[i] = Math.max(1, Math.round(longest / first[i]))
    }
  }
  return { ok: true, perCycle }
}

export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

// Each cycle's mean run of a result (its times_ms, runs_per_cycle).
export function cycleMeans(r) {
  const out = []
  let at = 0
  for (const n of r.runs_per_cycle || r.times_ms.map(() => 1)) {
    out.push(mean(r.times_ms.slice(at, at + n)))
    at += n
  }
  return out
}
