// Shared helpers for the server tests: real `amstore serve` processes on loopback with temp
// data directories, the real @automerge/automerge from tests/interop, seeded random edits.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(new URL('../interop/package.json', import.meta.url))
export const Automerge = require('@automerge/automerge')
const A = Automerge

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const AMSTORE_BIN = process.env.AMSTORE_BIN
  ? path.resolve(process.env.AMSTORE_BIN)
  : path.join(repo, 'build', 'amstore')

const tempDirs = []
process.on('exit', () => {
  if (process.env.AMSTORE_KEEP_TEMP) return
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true })
})

/** A fresh temp directory, removed when the test process exits (unless AMSTORE_KEEP_TEMP). */
export function tempDir (tag = 'srv') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `amstore-${tag}-`))
  tempDirs.push(d)
  return d
}

/**
 * Starts `amstore serve --port 0` and resolves once it prints its address. `wrapper`: a
 * command that runs amstore in place (it must exec it), e.g. ['prlimit', '--fsize=N', '--'].
 * Returns { url, port, proc, dataDir, log(), stop(), kill9(), exited }.
 */
export function startServer ({ dataDir = tempDir(), args = [], env = process.env, timeoutMs = 10000, wrapper = [] } = {}) {
  return new Promise((resolve, reject) => {
    const command = [...wrapper, AMSTORE_BIN,
      'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...args]
    const proc = spawn(command[0], command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env })
    let stderr = ''
    let done = false
    // Sanitizer builds (AMSTORE_SANITIZE=ON) report to stderr: any report fails the test.
    const checked = (result) => {
      const m = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)[^]*/.exec(stderr)
      if (m) throw new Error('sanitizer report from amstore:\n' + m[0].slice(0, 4000))
      return result
    }
    const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })))
    const timer = setTimeout(() => {
      if (done) return
      done = true
      proc.kill('SIGKILL')
      reject(new Error('server did not start:\n' + stderr))
    }, timeoutMs)
    proc.on('error', (err) => { if (!done) { done = true; clearTimeout(timer); reject(err) } })
    proc.stderr.setEncoding('utf8')
    proc.stderr.on('data', (chunk) => {
      stderr += chunk
      if (stderr.length > 4e6) stderr = stderr.slice(-2e6) // bounded
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)
      if (m && !done) {
        done = true
        clearTimeout(timer)
        const port = Number(m[1])
        resolve({
          url: `http://127.0.0.1:${port}`,
          port,
          proc,
          dataDir,
          exited,
          log: () => stderr,
          async stop () {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
            return checked(await exited)
          },
          async kill9 () {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
            return checked(await exited)
          }
        })
      }
    })
    exited.then(({ code, signal }) => {
      if (!done) {
        done = true
        clearTimeout(timer)
        reject(new Error(`server exited early (${code ?? signal}):\n${stderr}`))
      }
    })
  })
}

export async function upload (url, id, bytes, method = 'POST', signal = undefined) {
  const res = await fetch(`${url}/${id}`, {
    method,
    body: bytes,
    headers: { 'Content-Type': 'application/octet-stream' },
    signal
  })
  const text = await res.text()
  return { status: res.status, text, etag: res.headers.get('etag') }
}

export async function download (url, id) {
  const res = await fetch(`${url}/${id}`)
  const buf = new Uint8Array(await res.arrayBuffer())
  return { status: res.status, bytes: buf, etag: res.headers.get('etag') }
}

/** A request with a raw (unnormalized) path, which fetch would rewrite. */
export function rawRequest (port, method, rawPath, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, agent: false,
      headers: body ? { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length } : {} },
    (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }))
    })
    req.on('error', reject)
    if (body) req.write(body)
    req.end()
  })
}

/** n bytes of xorshift32 noise: DEFLATE cannot shrink them, so a document holding them
 * saves to about their size. */
export function noise (n, seed = 0x9e3779b9) {
  const out = new Uint8Array(n)
  let x = seed | 0
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Snapshot + log bytes of a stored document, as on disk. */
export function storedFiles (dataDir, id) {
  const read = (p) => (fs.existsSync(p) ? fs.readFileSync(p) : Buffer.alloc(0))
  return {
    snapshot: read(path.join(dataDir, `${id}.automerge`)),
    log: read(path.join(dataDir, `${id}.automerge.log`))
  }
}

/** Damage by hand: flips the bits `mask` of byte `at` of a file on disk; its new bytes. */
export function flipBits (file, at, mask) {
  const bytes = fs.readFileSync(file)
  bytes[at] ^= mask
  fs.writeFileSync(file, bytes)
  return bytes
}

export const sortedHeads = (doc) => [...A.getHeads(doc)].sort()

export function sleep (ms) { return new Promise((resolve) => setTimeout(resolve, ms)) }

export { Rng } from '../interop/rng.mjs'

export const actorHex = (n) => n.toString(16).padStart(2, '0').repeat(16)

/** The common starting point: a map, a list, text and a counter. */
export function baseDoc () {
  return A.change(A.init({ actor: actorHex(0xee) }), { time: 0 }, (d) => {
    d.map = { nested: { depth: 1 } }
    d.list = ['a', 'b']
    d.text = 'hello world'
    d.counter = new A.Counter(0)
    d.shared = 'base'
  })
}

export function forkFor (base, clientNo) {
  return A.load(A.save(base), { actor: actorHex(clientNo + 1) })
}

/** One change of seeded random edits (maps, nested maps, lists, text, counters, conflicts). */
export function randomEdit (doc, rng, tag) {
  return A.change(doc, { time: 0 }, (d) => {
    const n = rng.int(1, 3)
    for (let i = 0; i < n; i++) {
      switch (rng.int(0, 7)) {
        case 0: // same keys for every client: conflicts
          d.shared = `${tag}-${i}`
          break
        case 1:
          d.map[rng.pick(['x', 'y', 'z'])] = rng.pick([rng.int(0, 1000), `${tag}`, true, null, 1.5])
          break
        case 2: { // nested maps
          const k = rng.pick(['p', 'q'])
          if (typeof d.map[k] !== 'object' || d.map[k] === null) d.map[k] = { v: 0, inner: {} }
          else if (rng.chance(0.5)) d.map[k].v = rng.int(0, 99)
          else d.map[k].inner[rng.pick(['a', 'b'])] = tag
          break
        }
        case 3: // list insert
          d.list.splice(rng.int(0, d.list.length), 0, `${tag}.${i}`)
          break
        case 4: // list delete or overwrite
          if (d.list.length > 0) {
            const at = rng.int(0, d.list.length - 1)
            if (rng.chance(0.5)) d.list.splice(at, 1)
            else d.list[at] = rng.int(0, 9)
          }
          break
        case 5: { // text
          const len = d.text.length
          const pos = rng.int(0, len)
          const del = rng.chance(0.3) ? Math.min(rng.int(0, 3), len - pos) : 0
          A.splice(d, ['text'], pos, del, rng.pick(['x', 'yz', ' ', 'é']))
          break
        }
        case 6:
          d.counter.increment(rng.int(-5, 10))
          break
        default:
          d[`k${rng.int(0, 4)}`] = { from: tag, n: rng.int(0, 50) }
      }
    }
  })
}
