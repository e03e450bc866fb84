// The server against what goes wrong outside it: clients that hang up in the middle of a
// large response, a disk without room, no descriptors left. It stays up, keeps answering,
// and acknowledges nothing it did not store.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import {
  Automerge as A, download, noise, rawRequest, sortedHeads, startServer, storedFiles, upload
} from './helpers.mjs'

async function healthy (server) {
  const res = await fetch(`${server.url}/healthz`)
  assert.equal(res.status, 200)
  await res.text()
}

// Sends GET /id and resets the connection (RST) once the first bytes of the answer arrive,
// without reading the rest: the server is mid-send when the connection goes away.
function getAndReset (port, id) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(`GET /${id} HTTP/1.1\r\nHost: x\r\n\r\n`))
    sock.once('data', () => sock.resetAndDestroy())
    sock.on('close', resolve)
    sock.on('error', () => {})
  })
}

test('clients that reset the connection during a large GET do not take the server down', async () => {
  const server = await startServer()
  try {
    // 8 MB: more than the socket buffers of both ends hold, so the server is still sending
    // (with sendfile, which has no MSG_NOSIGNAL) when the reset arrives.
    const doc = A.change(A.init(), (d) => { d.blob = noise(8 << 20) })
    const bytes = A.save(doc)
    assert.equal((await upload(server.url, 'big', bytes)).status, 200)
    // One at a time: each reset then meets the server alone, mid-send.
    for (let i = 0; i < 40; i++) await getAndReset(server.port, 'big')
    assert.equal(server.proc.exitCode, null, `server exited: ${server.proc.exitCode ?? server.proc.signalCode}`)
    await healthy(server)
    const got = await download(server.url, 'big')
    assert.equal(got.status, 200)
    assert.deepEqual(sortedHeads(A.load(got.bytes)), sortedHeads(doc))
  } finally {
    const { code, signal } = await server.stop()
    assert.equal(signal, null)
    assert.equal(code, 0)
  }
})

test('a disk without room: uploads that do not fit get a 500 and change nothing', async () => {
  // A file size limit stands in for a full disk: a write past it fails (EFBIG) as one on a
  // full disk does (ENOSPC); the signal it also raises (SIGXFSZ) must not end the server.
  const LIMIT = 256 << 10
  const server = await startServer({ wrapper: ['prlimit', `--fsize=${LIMIT}`, '--'] })
  try {
    let doc = A.change(A.init(), (d) => { d.title = 'fits' })
    assert.equal((await upload(server.url, 'doc', A.save(doc))).status, 200)
    const before = await download(server.url, 'doc')
    const filesBefore = storedFiles(server.dataDir, 'doc')

    // A change too large for the log, then a new document too large for its snapshot.
    const grown = A.change(A.clone(doc), (d) => { d.blob = noise(LIMIT + 4096) })
    for (const [id, body] of [['doc', A.save(grown)], ['doc', A.getChanges(doc, grown)[0]], ['other', A.save(grown)]]) {
      const res = await upload(server.url, id, body)
      assert.equal(res.status, 500, `${id}: ${res.status} ${res.text}`)
      assert.match(JSON.parse(res.text).error, /\S/)
    }
    assert.equal(server.proc.exitCode, null, 'server exited')
    assert.equal((await download(server.url, 'other')).status, 404)
    const after = await download(server.url, 'doc')
    assert.equal(after.status, 200)
    assert.deepEqual(after.bytes, before.bytes)
    // The same bytes on disk (a log that is missing and one that is empty read alike), no
    // snapshot for 'other', no temporary file left; lock files may stay.
    assert.deepEqual(storedFiles(server.dataDir, 'doc'), filesBefore)
    const others = fs.readdirSync(server.dataDir)
      .filter((f) => !['doc.automerge', 'doc.automerge.log'].includes(f) && !f.endsWith('.lock'))
    assert.deepEqual(others, [])

    // Small uploads still fit, and are stored.
    doc = A.change(doc, (d) => { d.more = 'still fits' })
    const res = await upload(server.url, 'doc', A.save(doc))
    assert.equal(res.status, 200, res.text)
    assert.deepEqual(sortedHeads(A.load((await download(server.url, 'doc')).bytes)), sortedHeads(doc))
    assert.equal((await rawRequest(server.port, 'GET', '/healthz')).status, 200)
  } finally {
    const { code, signal } = await server.stop()
    assert.equal(signal, null)
    assert.equal(code, 0)
  }
})

// CPU time (user + system) the process has used so far, in seconds.
function cpuSeconds (pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100  // utime, stime (USER_HZ = 100)
}

async function until (what, check, ms = 5000) {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (check()) return
  }
  assert.fail(`timed out waiting for ${what}`)
}

// A request on an open socket; resolves with the status line.
function requestOn (sock, path) {
  return new Promise((resolve) => {
    let got = ''
    const onData = (d) => {
      got += d
      if (got.includes('\r\n')) { sock.off('data', onData); resolve(got.split('\r\n')[0]) }
    }
    sock.on('data', onData)
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
  })
}

test('out of descriptors: the server neither spins nor stops, and accepts again once some are free', async () => {
  const server = await startServer({ wrapper: ['prlimit', '--nofile=64', '--'] })
  const flood = []
  try {
    const first = net.connect(server.port, '127.0.0.1')
    await new Promise((resolve) => first.on('connect', resolve))
    assert.equal(await requestOn(first, '/healthz'), 'HTTP/1.1 200 OK')
    for (let i = 0; i < 120; i++) {
      const s = net.connect(server.port, '127.0.0.1')
      s.on('error', () => {})
      flood.push(s)
    }
    await until('the server to run out of descriptors', () => /cannot accept connections/.test(server.log()))
    const before = cpuSeconds(server.proc.pid)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const used = cpuSeconds(server.proc.pid) - before
    assert.ok(used < 0.3, `the server used ${used} s of CPU in 1 s while out of descriptors`)
    // A connection it already has is served.
    assert.equal(await requestOn(first, '/healthz'), 'HTTP/1.1 200 OK')
    first.destroy()
    for (const s of flood) s.destroy()
    await until('the server to accept again', () => /accepting connections again/.test(server.log()))
    await healthy(server)
  } finally {
    for (const s of flood) s.destroy()
    const { code, signal } = await server.stop()
    assert.equal(signal, null)
    assert.equal(code, 0)
  }
})

test('serve raises its descriptor limit to the hard limit', async () => {
  const server = await startServer({ wrapper: ['prlimit', '--nofile=256:2048', '--'] })
  try {
    const line = fs.readFileSync(`/proc/${server.proc.pid}/limits`, 'utf8').split('\n')
      .find((l) => l.startsWith('Max open files'))
    assert.match(line, /^Max open files\s+2048\s+2048\s/)
  } finally {
    assert.equal((await server.stop()).code, 0)
  }
})

test('--max-ops: an upload holding more ops is refused with a 400 before it is decoded', async () => {
  const server = await startServer({ args: ['--max-ops', '1000'] })
  try {
    const big = A.change(A.init(), (d) => { d.text = 'x'.repeat(1500) })  // ~1,500 ops
    const res = await upload(server.url, 'doc', A.save(big))
    assert.equal(res.status, 400, res.text)
    assert.equal(JSON.parse(res.text).error, 'upload has more than 1000 ops')
    assert.equal((await download(server.url, 'doc')).status, 404)
    const small = A.change(A.init(), (d) => { d.text = 'x'.repeat(500) })
    assert.equal((await upload(server.url, 'doc', A.save(small))).status, 200)
  } finally {
    assert.equal((await server.stop()).code, 0)
  }
})
