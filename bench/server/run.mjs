#!/usr/bin/env node
// Server benchmark (issue 4): amstore next to the tutorial's Node servers and nginx, on the
// same payloads with the same load generator. Called by bench/run, which installs what is
// missing and builds the driver; prints one markdown table on stdout, progress on stderr.
//
// Environment: AMSTORE_BIN (required here), DRIVER (the built driver.cc), FORMAT_BENCH
// (bench/format/format_bench.cc built; without it the "format core alone" rows are empty),
// BENCH_RUNS (3),
// BENCH_PAYLOADS (payload cache folder), BENCH_ONLY (comma list of servers to run, for
// debugging: amstore,merge,tutorial,nginx), BENCH_KEEP=1 keeps the data folders.
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { generate, GEN_VERSION } from './gen.mjs'

const require = createRequire(import.meta.url)
const A = require('@automerge/automerge')
const here = path.dirname(fileURLToPath(import.meta.url))

const AMSTORE_BIN = path.resolve(process.env.AMSTORE_BIN || path.join(here, '..', '..', 'build', 'amstore'))
const DRIVER = path.resolve(process.env.DRIVER || path.join(here, '..', '..', 'build-bench-server', 'driver'))
const FORMAT_BENCH = process.env.FORMAT_BENCH ? path.resolve(process.env.FORMAT_BENCH) : ''
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS || 3))
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : null
// cached across runs, keyed by the generator's source
// Payloads depend on the generator and the helpers it imports.
const GEN_HASH = ['gen.mjs', '../prose.mjs', '../../tests/interop/rng.mjs']
  .reduce((h, f) => h.update(fs.readFileSync(path.join(here, f))), crypto.createHash('sha256'))
  .digest('hex').slice(0, 12)
const PAYLOADS = process.env.BENCH_PAYLOADS || path.join(os.tmpdir(), `amstore-bench-server-payloads-${GEN_HASH}`)

// Bounds of every run (seconds) and the targets of the issue.
const GET_SECONDS = 2
const POST_SECONDS = 2
const GRACE = 40             // waiting for uploads in flight after POST_SECONDS
const SEQ_BUDGET = 6         // workload 4: past this, skip to the last SEQ_WINDOW uploads
const SEQ_WINDOW = 50
const CONNS = 64
const TARGET_MERGE_X = 1000  // workloads 2 and 3: amstore >= 1000x the Node merge server
const TARGET_GET_X = 0.9     // workload 1: amstore >= 0.9x nginx
const TARGET_FLAT = 1.5      // workload 4: end time per upload <= 1.5x start time

const log = (...a) => console.error('[bench]', ...a)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const median = (xs) => { const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b); return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : NaN }

// ---------------------------------------------------------------------------------------
// payloads
function payloads () {
  const mf = path.join(PAYLOADS, 'manifest.json')
  try {
    const m = JSON.parse(fs.readFileSync(mf, 'utf8'))
    if (m.gen_version === GEN_VERSION && m.seq) { log(`payloads: ${PAYLOADS} (cached)`); return m }
  } catch {}
  log(`payloads: generating in ${PAYLOADS} (once; ~1 min)`)
  fs.rmSync(PAYLOADS, { recursive: true, force: true })
  return generate(PAYLOADS)
}

// ---------------------------------------------------------------------------------------
// servers
function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

async function waitListening (port, proc, what, ms = 15000) {
  const t0 = Date.now()
  while (Date.now() - t0 < ms) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${what} exited early (${proc.exitCode ?? proc.signalCode})`)
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1')
      c.on('connect', () => { c.destroy(); resolve(true) })
      c.on('error', () => resolve(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`${what} did not listen on ${port}`)
}

const SERVERS = {
  amstore: { label: 'amstore', post: true },
  merge: { label: 'Node merge', post: true },
  tutorial: { label: 'Node tutorial (overwrite)', post: true },
  nginx: { label: 'nginx', post: false }
}

let root
const live = new Set()
process.on('exit', () => { for (const p of live) try { p.kill('SIGKILL') } catch {} })
async function startServer (name, tag) {
  const dir = fs.mkdtempSync(path.join(root, `${name}-${tag}-`))
  const port = await freePort()
  const out = fs.openSync(path.join(dir, 'server.log'), 'w')
  let proc
  if (name === 'amstore') {
    // --quiet: no access log, like the other servers here (nginx runs with access_log off,
    // the Node servers log nothing). Everything else at its default, fsync included.
    proc = spawn(AMSTORE_BIN, ['serve', '--quiet', '--host', '127.0.0.1', '--port', String(port), '--data-dir', path.join(dir, 'data')], { stdio: ['ignore', out, out] })
  } else if (name === 'merge' || name === 'tutorial') {
    proc = spawn(process.execPath, [path.join(here, 'ref', `${name}.js`), String(port), path.join(dir, 'data')], { stdio: ['ignore', out, out] })
  } else {
    // nginx as an unprivileged-style local instance: our config, our prefix, no daemon
    const www = path.join(dir, 'www')
    fs.mkdirSync(www)
    fs.mkdirSync(path.join(dir, 'tmp'))
    for (const d of [root, dir, www]) fs.chmodSync(d, 0o755)
    fs.writeFileSync(path.join(dir, 'nginx.conf'), `
worker_processes ${os.cpus().length};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    location / { try_files $uri =404; }
  }
}
`)
    proc = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', out, out] })
  }
  fs.closeSync(out)
  live.add(proc)
  proc.on('exit', () => live.delete(proc))
  await waitListening(port, proc, name)
  return { name, port, proc, dir, url: `http://127.0.0.1:${port}` }
}

function pidsOf (pid) {
  const out = [pid]
  try {
    for (const c of fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) out.push(...pidsOf(Number(c)))
  } catch {}
  return out
}
// Peak resident set (VmHWM) in MB, summed over the process and its children (nginx workers).
function peakRssMB (srv) {
  let kb = 0
  for (const p of pidsOf(srv.proc.pid)) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))
      if (m) kb += Number(m[1])
    } catch {}
  }
  return kb / 1024
}

// CPU time (user + system, all threads) in seconds, summed over the process and its
// children: what a server spent, whatever else (the load generator) ran beside it.
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
function cpuSeconds (srv) {
  let ticks = 0
  for (const p of pidsOf(srv.proc.pid)) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')  // from field 3 (state) on
      ticks += Number(f[11]) + Number(f[12])  // fields 14 and 15: utime, stime
    } catch {}
  }
  return ticks / CLK_TCK
}

async function stopServer (srv) {
  const rss = peakRssMB(srv)
  const exited = new Promise((resolve) => {
    if (srv.proc.exitCode !== null || srv.proc.signalCode !== null) resolve()
    else srv.proc.on('exit', resolve)
  })
  srv.proc.kill(srv.name === 'nginx' ? 'SIGQUIT' : 'SIGTERM')
  const t = setTimeout(() => { try { srv.proc.kill('SIGKILL') } catch {} }, 25000)
  await exited
  clearTimeout(t)
  if (!process.env.BENCH_KEEP) fs.rmSync(srv.dir, { recursive: true, force: true })
  return rss
}

async function upload (srv, id, file) {
  const r = await fetch(`${srv.url}/${id}`, { method: 'POST', body: fs.readFileSync(file), headers: { 'Content-Type': 'application/octet-stream' } })
  await r.arrayBuffer()
  if (r.status !== 200) throw new Error(`${srv.name}: seeding ${id}: HTTP ${r.status}`)
}

async function fetchDoc (srv, id) {
  // A request sent on a kept-alive connection just as the server closes it (the Node
  // servers close idle ones after 5 s) fails with "other side closed": tried once more.
  for (let attempt = 0; ; attempt++) {
    let r, b
    try {
      r = await fetch(`${srv.url}/${id}`)
      b = new Uint8Array(await r.arrayBuffer())
    } catch (e) {
      if (attempt >= 1) throw e
      continue
    }
    if (r.status !== 200) return null
    try { return A.load(b) } catch (e) { return null }
  }
}

function drive (srv, args, seconds) {
  const r = spawnSync(DRIVER, ['--port', String(srv.port), ...args], { encoding: 'utf8', timeout: (seconds + 60) * 1000 })
  if (r.status !== 0) throw new Error(`driver failed on ${srv.name}: ${r.stderr || r.error}`)
  if (r.stderr.trim()) log(`${srv.name}: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`)
  const res = JSON.parse(r.stdout.trim().split('\n').pop())
  if (res.conn_errors || res.unfinished || res.timed_out) log(`${srv.name}: ${JSON.stringify(res)}`)
  return res
}

// ---------------------------------------------------------------------------------------
// workloads: each returns { runs: [driver results], extra } for one server
const peak = {}     // server -> MB, the highest VmHWM of its processes
const peakWl = {}   // server -> the workload in which it was reached
let currentWl = ''
function notePeak (name, mb) { if (mb > (peak[name] || 0)) { peak[name] = mb; peakWl[name] = currentWl } }

// All servers are up at once and their runs alternate (run 1 of each, then run 2, ...): the
// host's speed drifts by more than the ±10 % the nginx target is about over the minutes a
// workload takes, and this way each server's median spans the same stretch of time.
async function workloadGet (names, file, tag) {
  const srvs = []
  try {
    for (const name of names) {
      const srv = await startServer(name, tag)
      srvs.push(srv)
      if (name === 'nginx') fs.copyFileSync(file, path.join(srv.dir, 'www', 'doc'))
      else await upload(srv, 'doc', file)
    }
    for (const srv of srvs) drive(srv, ['--mode', 'get', '--id', 'doc', '--conns', String(CONNS), '--duration', '0.5'], 1)
    const runs = Object.fromEntries(names.map((n) => [n, []]))
    for (let i = 0; i < RUNS; i++) {
      for (const srv of srvs) runs[srv.name].push(drive(srv, ['--mode', 'get', '--id', 'doc', '--conns', String(CONNS), '--duration', String(GET_SECONDS)], GET_SECONDS))
    }
    return Object.fromEntries(names.map((n) => [n, { runs: runs[n] }]))
  } finally {
    for (const srv of srvs) notePeak(srv.name, await stopServer(srv))
  }
}

// Does `doc` hold every fork's changes and end at the heads of all forks merged?
function forksKept (doc, m) {
  if (!doc) return 0
  return m.forks.filter((f) => A.hasHeads(doc, f.heads)).length
}
function headsEqual (doc, heads) {
  return !!doc && JSON.stringify(A.getHeads(doc).slice().sort()) === JSON.stringify(heads)
}

async function workloadMerge (name, mode, m) {
  const srv = await startServer(name, mode)
  try {
    drive(srv, ['--mode', mode, '--payloads', PAYLOADS, '--prefix', 'w', '--conns', '2', '--max-requests', '4', '--duration', '30'], 30)
    const runs = []
    const checks = []
    for (let i = 0; i < RUNS; i++) {
      const cpu0 = cpuSeconds(srv)
      const r = drive(srv, ['--mode', mode, '--payloads', PAYLOADS, '--prefix', `r${i}`, '--conns', String(CONNS), '--duration', String(POST_SECONDS), '--grace', String(GRACE)], POST_SECONDS + GRACE)
      r.server_cpu_ms = r.completed ? (cpuSeconds(srv) - cpu0) * 1000 / r.completed : NaN
      runs.push(r)
      // every id that received all 64 forks must hold all 64 (checked: the first such id
      // of each run, and for `distinct` the first id of every connection)
      if (r.full_rounds >= 1) {
        const ids = mode === 'contended' ? [`r${i}-c0`, `r${i}-c${r.full_rounds - 1}`] : Array.from({ length: CONNS }, (_, k) => `r${i}-u${k}-0`)
        for (const id of [...new Set(ids)]) {
          const doc = await fetchDoc(srv, id)
          checks.push({ id, kept: forksKept(doc, m), exact: headsEqual(doc, m.forks_merged.heads) })
        }
      }
    }
    return { runs, checks }
  } finally { notePeak(name, await stopServer(srv)) }
}

async function workloadSeq (name, m) {
  const srv = await startServer(name, 'seq')
  try {
    drive(srv, ['--mode', 'seq', '--payloads', PAYLOADS, '--prefix', 'w', '--max-requests', '20', '--duration', '30'], 30)
    const runs = []
    const checks = []
    for (let i = 0; i < RUNS; i++) {
      const r = drive(srv, ['--mode', 'seq', '--payloads', PAYLOADS, '--prefix', `r${i}`, '--window', String(SEQ_WINDOW), '--budget', String(SEQ_BUDGET), '--duration', '300', '--grace', '30'], 330)
      runs.push(r)
      checks.push(headsEqual(await fetchDoc(srv, `r${i}-s`), m.seq.heads))
    }
    return { runs, checks }
  } finally { notePeak(name, await stopServer(srv)) }
}

// What the format core alone takes for one upload (bench/format/format_bench, on one core,
// no HTTP, no file): a floor under what a server that checks every upload must spend on
// it. `read`: the chunk checksum, inflating the columns and reading the change rows, which
// come before anything is merged; `merge`: all of the upload's work, into a lean document
// that holds the one before (as the server holds its documents). Median of 50 runs each.
function formatFloor () {
  if (!FORMAT_BENCH || !fs.existsSync(FORMAT_BENCH)) { log('format core rows: no FORMAT_BENCH, left empty'); return null }
  const idx = fs.readFileSync(path.join(PAYLOADS, 'seq.idx'), 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number))
  const seq = fs.readFileSync(path.join(PAYLOADS, 'seq.bin'))
  const seqFile = (name, k) => {
    const [off, len] = idx[k]
    const f = path.join(root, `seq-${name}.bin`)
    fs.writeFileSync(f, seq.subarray(off, off + len))
    return f
  }
  const fb = (...args) => {
    const r = spawnSync(FORMAT_BENCH, args, { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`format_bench ${args.join(' ')}: ${r.stderr}`)
    return JSON.parse(r.stdout)
  }
  const fork0 = path.join(PAYLOADS, 'fork-00.bin')
  const fork1 = path.join(PAYLOADS, 'fork-01.bin')
  const first = seqFile('first', 0)
  const prev = seqFile('prev', idx.length - 2)
  const last = seqFile('last', idx.length - 1)
  const fork = fb('read-upload', '50', fork1)
  const seqFirst = fb('read-upload', '50', first)
  const seqLast = fb('read-upload', '50', last)
  return {
    fork: { checksum: fork.prepare_median_ms, read: fork.median_ms, merge: fb('merge-upload', '50', fork0, fork1).median_ms },
    seqFirst: { read: seqFirst.median_ms },
    seqLast: { checksum: seqLast.prepare_median_ms, read: seqLast.median_ms, merge: fb('merge-upload', '50', prev, last).median_ms }
  }
}

// ---------------------------------------------------------------------------------------
function fmt (x, digits) {
  if (!Number.isFinite(x)) return '–'
  if (digits !== undefined) return x.toFixed(digits)
  const a = Math.abs(x)
  if (a >= 100) return Math.round(x).toLocaleString('en-US')
  if (a >= 10) return x.toFixed(1)
  if (a >= 1) return x.toFixed(2)
  return x.toPrecision(2)
}
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN)
const fmtRatio = (x) => (Number.isFinite(x) ? `${fmt(x)}×` : '–')

const summary = (w) => w.runs.map((r) => `${fmt(r.rps)}/s p99 ${fmt(r.p99_ms)} ms` + (r.server_cpu_ms >= 0 ? ` cpu ${fmt(r.server_cpu_ms)} ms` : '')).join(', ')

async function main () {
  if (!fs.existsSync(AMSTORE_BIN)) throw new Error(`no amstore binary at ${AMSTORE_BIN} (set AMSTORE_BIN)`)
  if (!fs.existsSync(DRIVER)) throw new Error(`no driver at ${DRIVER}`)
  const started = new Date()
  const load0 = os.loadavg()[0]
  const m = payloads()
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'amstore-bench-server-'))
  const want = (n) => !ONLY || ONLY.includes(n)
  const R = {}
  const t0 = Date.now()
  try {
    for (const [key, file] of [['get', 'base.bin'], ['getbig', 'big.bin']]) {
      const t = Date.now()
      currentWl = key === 'get' ? '1, 100 KB' : '1, 1 MB'
      R[key] = await workloadGet(['amstore', 'nginx', 'merge', 'tutorial'].filter(want), path.join(PAYLOADS, file), key)
      for (const n of Object.keys(R[key])) log(`${key}: ${n}: ${summary(R[key][n])}`)
      log(`${key}: ${((Date.now() - t) / 1000).toFixed(0)} s`)
    }
    for (const mode of ['contended', 'distinct']) {
      R[mode] = {}
      for (const n of ['amstore', 'merge', 'tutorial'].filter(want)) {
        const t = Date.now()
        currentWl = mode === 'contended' ? '2' : '3'
        R[mode][n] = await workloadMerge(n, mode, m)
        log(`${mode}: ${n}: ${summary(R[mode][n])} (${((Date.now() - t) / 1000).toFixed(0)} s)`)
      }
    }
    R.seq = {}
    for (const n of ['amstore', 'merge', 'tutorial'].filter(want)) {
      const t = Date.now()
      currentWl = '4'
      R.seq[n] = await workloadSeq(n, m)
      log(`seq: ${n}: ${R.seq[n].runs.map((r) => `${fmt(r.start_median_ms)} → ${fmt(r.end_median_ms)} ms`).join(', ')} (${((Date.now() - t) / 1000).toFixed(0)} s)`)
    }
    try {
      R.floor = formatFloor()
    } catch (e) {
      log(`format core rows left empty: ${e.message}`)
      R.floor = null
    }
  } finally {
    if (!process.env.BENCH_KEEP) fs.rmSync(root, { recursive: true, force: true })
  }
  const seconds = (Date.now() - t0) / 1000
  fs.writeFileSync(path.join(os.tmpdir(), 'amstore-bench-server-last.json'), JSON.stringify({ R, peak, peakWl }, null, 1))

  // ---- the table
  const cols = ['amstore', 'merge', 'tutorial', 'nginx']
  const rows = []
  const med = (wl, n, k) => (R[wl] && R[wl][n] ? median(R[wl][n].runs.map((r) => r[k])) : NaN)
  const row = (work, metric, vals, vsMerge, vsNginx, target, met) => rows.push([work, metric, ...cols.map((c) => vals[c] ?? ''), vsMerge, vsNginx, target, met])
  const metStr = (ok) => (ok === null ? '' : ok ? '**met**' : '**not met**')

  const getRows = (wl, title, bytes) => {
    const rps = Object.fromEntries(cols.map((c) => [c, med(wl, c, 'rps')]))
    const xg = ratio(rps.amstore, rps.nginx)
    row(`1. GET ${title} (${fmt(bytes / 1000, 0)} kB), ${CONNS} conns`, 'req/s', Object.fromEntries(cols.map((c) => [c, fmt(rps[c])])),
      fmtRatio(ratio(rps.amstore, rps.merge)), fmtRatio(xg), `≥ ${TARGET_GET_X}× nginx`, metStr(Number.isFinite(xg) ? xg >= TARGET_GET_X : null))
    for (const k of ['p50_ms', 'p99_ms']) {
      const v = Object.fromEntries(cols.map((c) => [c, med(wl, c, k)]))
      row('', k.replace('_ms', ' ms'), Object.fromEntries(cols.map((c) => [c, fmt(v[c])])), fmtRatio(ratio(v.amstore, v.merge)), fmtRatio(ratio(v.amstore, v.nginx)), '', '')
    }
  }
  getRows('get', '~100 KB doc', m.base.bytes)
  getRows('getbig', '~1 MB doc', m.big.bytes)

  const mergeRows = (wl, title, unit) => {
    const rps = Object.fromEntries(cols.map((c) => [c, med(wl, c, 'rps')]))
    const x = ratio(rps.amstore, rps.merge)
    row(title, unit, Object.fromEntries(cols.map((c) => [c, c === 'nginx' ? '' : fmt(rps[c])])), fmtRatio(x), '', `≥ ${TARGET_MERGE_X}× Node merge`, metStr(Number.isFinite(x) ? x >= TARGET_MERGE_X : null))
    for (const k of ['p50_ms', 'p99_ms', 'server_cpu_ms']) {
      const v = Object.fromEntries(cols.map((c) => [c, med(wl, c, k)]))
      const metric = k === 'server_cpu_ms' ? 'server CPU ms/upload' : k.replace('_ms', ' ms')
      row('', metric, Object.fromEntries(cols.map((c) => [c, c === 'nginx' ? '' : fmt(v[c])])), fmtRatio(ratio(v.amstore, v.merge)), '', '', '')
    }
    const kept = {}
    for (const c of cols) {
      const w = R[wl] && R[wl][c]
      if (!w) continue
      if (!w.checks.length) { kept[c] = 'no id got all 64'; continue }
      const minKept = Math.min(...w.checks.map((k) => k.kept))
      const exact = w.checks.every((k) => k.exact)
      kept[c] = `${minKept}/64${exact ? ' ✓' : ''} (${w.checks.length} ids)`
    }
    const ac = R[wl] && R[wl].amstore ? R[wl].amstore.checks : []
    row('', 'forks kept in final doc (min)', kept, '', '', '64/64', ac.length ? metStr(ac.every((k) => k.kept === 64 && k.exact)) : 'not checked')
  }
  mergeRows('contended', `2. ${CONNS} forks POSTed to one id at once (contended)`, 'uploads/s')
  mergeRows('distinct', `3. POSTs to ${CONNS} distinct ids (uncontended)`, 'uploads/s')
  {
    // What the target leaves per upload (all the machine's cores, the load generator's share
    // included), against what the format core alone takes for one fork.
    const ncpu = os.cpus().length
    const budget = (wl) => ratio(ncpu * 1000, TARGET_MERGE_X * med(wl, 'merge', 'rps'))
    const f = R.floor && R.floor.fork
    row(`2–3. one fork (${fmt(m.forks[0].bytes / 1000, 0)} kB) against the target`,
      `CPU ms/upload the target leaves (${ncpu} cores ÷ ${TARGET_MERGE_X}× Node merge's uploads/s, 2 / 3)`,
      { amstore: `${fmt(budget('contended'))} / ${fmt(budget('distinct'))}` }, '', '', '', '')
    row('', 'format core alone, ms: checksum / + inflating, change rows / whole merge', { amstore: f ? `${fmt(f.checksum)} / ${fmt(f.read)} / ${fmt(f.merge)}` : '–' }, '', '', '', '')
  }

  {
    const s = Object.fromEntries(cols.map((c) => [c, med('seq', c, 'start_median_ms')]))
    const e = Object.fromEntries(cols.map((c) => [c, med('seq', c, 'end_median_ms')]))
    const g = Object.fromEntries(cols.map((c) => [c, ratio(e[c], s[c])]))
    const skipped = cols.filter((c) => R.seq[c] && R.seq[c].runs.some((r) => r.skipped_from >= 0)).map((c) => SERVERS[c].label)
    row(`4. one client, one change, upload whole doc; ${m.seq.uploads} times (${fmt(m.seq.first_bytes / 1000, 1)} → ${fmt(m.seq.last_bytes / 1000, 0)} kB)`,
      `ms/upload, first ${SEQ_WINDOW}`, Object.fromEntries(cols.map((c) => [c, c === 'nginx' ? '' : fmt(s[c])])), fmtRatio(ratio(s.amstore, s.merge)), '', '', '')
    row('', `ms/upload, last ${SEQ_WINDOW}`, Object.fromEntries(cols.map((c) => [c, c === 'nginx' ? '' : fmt(e[c])])), fmtRatio(ratio(e.amstore, e.merge)), '', '', '')
    row('', 'last ÷ first' + (skipped.length ? ` (${skipped.join(', ')}: middle skipped after ${SEQ_BUDGET} s)` : ''), Object.fromEntries(cols.map((c) => [c, c === 'nginx' ? '' : fmtRatio(g[c])])), '', '',
      `flat: ≤ ${TARGET_FLAT}×`, metStr(Number.isFinite(g.amstore) ? g.amstore <= TARGET_FLAT : null))
    const ok = Object.fromEntries(cols.map((c) => [c, R.seq[c] ? (R.seq[c].checks.every(Boolean) ? 'all ✓' : `${R.seq[c].checks.filter(Boolean).length}/${R.seq[c].checks.length}`) : '']))
    row('', 'final doc has the client\'s heads', ok, '', '', '', '')
    // Flat leaves (TARGET_FLAT − 1) × the first uploads' time for all that grows with the
    // document; reading the last upload, before any merging, grows by this much.
    const f = R.floor
    row('', `ms/upload flat leaves for growth ((${TARGET_FLAT} − 1) × first ${SEQ_WINDOW})`, { amstore: fmt((TARGET_FLAT - 1) * s.amstore) }, '', '', '', '')
    row('', 'format core alone, last upload, ms: checksum / + inflating, change rows (first upload\'s) / whole merge',
      { amstore: f ? `${fmt(f.seqLast.checksum)} / ${fmt(f.seqLast.read)} (${fmt(f.seqFirst.read)}) / ${fmt(f.seqLast.merge)}` : '–' }, '', '', '', '')
  }
  row('5. peak RSS over all runs (VmHWM; nginx: master + workers)', 'MB (in workload)', Object.fromEntries(cols.map((c) => [c, peak[c] ? `${fmt(peak[c])} (${peakWl[c]})` : ''])), fmtRatio(ratio(peak.amstore, peak.merge)), fmtRatio(ratio(peak.amstore, peak.nginx)), '', '')

  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || os.cpus()[0].model
  const header = ['workload', 'metric', ...cols.map((c) => SERVERS[c].label), 'amstore ÷ Node merge', 'amstore ÷ nginx', 'target', '']
  let out = `Server benchmark, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC: ${os.cpus().length} cores (nproc ${execFileSync('nproc', { encoding: 'utf8' }).trim()}), ${cpu}, load average ${load0.toFixed(1)} at start; ` +
    `median of ${RUNS} runs; ${GET_SECONDS} s GET / ${POST_SECONDS} s POST runs (+ queue drain); ${seconds.toFixed(0)} s in all.\n\n`
  out += `| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`
  for (const r of rows) out += `| ${r.join(' | ')} |\n`
  process.stdout.write(out)
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))
main().catch((e) => { console.error(e); process.exit(1) })
