// Bad input: every request gets the expected 4xx, the stored document stays byte-identical
// (over HTTP and on disk), nothing is written outside the data directory, and the server
// keeps answering.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {
  Automerge as A, Rng, baseDoc, download, rawRequest, randomEdit, startServer, storedFiles,
  tempDir, upload
} from './helpers.mjs'

const MAX_BODY = 8192
let server, root, dataDir, good, goodBytes
const ID = 'victim'

before(async () => {
  root = tempDir('bad')
  dataDir = path.join(root, 'data')
  server = await startServer({ dataDir, args: ['--max-body', String(MAX_BODY)] })
  let doc = baseDoc()
  const rng = new Rng(3)
  for (let i = 0; i < 5; i++) doc = randomEdit(doc, rng, `e${i}`)
  good = doc
  goodBytes = A.save(doc)
  assert.ok(goodBytes.length < MAX_BODY)
  // Two uploads so that both a snapshot and a log exist.
  assert.equal((await upload(server.url, ID, A.save(baseDoc()))).status, 200)
  assert.equal((await upload(server.url, ID, goodBytes)).status, 200)
})

after(async () => {
  const { code } = await server.stop()
  assert.equal(code, 0)
})

async function state () {
  const got = await download(server.url, ID)
  assert.equal(got.status, 200)
  return { http: Buffer.from(got.bytes), files: storedFiles(dataDir, ID), etag: got.etag }
}

function assertUnchanged (before, after, what) {
  assert.ok(before.http.equals(after.http), `${what}: GET bytes changed`)
  assert.ok(before.files.snapshot.equals(after.files.snapshot), `${what}: snapshot changed`)
  assert.ok(before.files.log.equals(after.files.log), `${what}: log changed`)
  assert.equal(before.etag, after.etag)
}

async function healthy () {
  const res = await fetch(`${server.url}/healthz`)
  assert.equal(res.status, 200)
  await res.text()
}

function badBodies () {
  const rng = new Rng(99)
  const bodies = []
  const garbage = new Uint8Array(500).map(() => rng.int(0, 255))
  bodies.push(['garbage', garbage])
  bodies.push(['magic then garbage', Uint8Array.from([0x85, 0x6f, 0x4a, 0x83, ...garbage.slice(0, 60)])])
  for (const frac of [0.1, 0.5, 0.9, 0.99]) {
    bodies.push([`truncated at ${frac}`, goodBytes.slice(0, Math.floor(goodBytes.length * frac))])
  }
  bodies.push(['truncated by one byte', goodBytes.slice(0, goodBytes.length - 1)])
  // A document with new changes, so a flip cannot hide behind "nothing new".
  const newer = A.save(randomEdit(A.clone(good), rng, 'flip'))
  for (let i = 0; i < 24; i++) {
    const flipped = Uint8Array.from(newer)
    const at = i < 12 ? i : rng.int(0, flipped.length - 1) // header bytes, then anywhere
    flipped[at] ^= 1 << rng.int(0, 7)
    bodies.push([`bit flip at ${at}`, flipped])
  }
  return bodies
}

test('garbage, truncated and bit-flipped bodies: 400 with a reason, nothing changes', async () => {
  const before = await state()
  for (const [what, body] of badBodies()) {
    for (const method of ['POST', 'PUT']) {
      const res = await upload(server.url, ID, body, method)
      assert.equal(res.status, 400, `${what} (${method}): ${res.status} ${res.text}`)
      const err = JSON.parse(res.text).error
      assert.ok(typeof err === 'string' && err.length > 0, what)
    }
  }
  assertUnchanged(before, await state(), 'bad bodies')
  await healthy()
})

test('empty body: 400, nothing changes; unknown id is not created', async () => {
  const before = await state()
  for (const method of ['POST', 'PUT']) {
    const res = await upload(server.url, ID, new Uint8Array(0), method)
    assert.equal(res.status, 400, res.text)
    assert.match(JSON.parse(res.text).error, /empty/)
    const fresh = await upload(server.url, 'fresh-empty', new Uint8Array(0), method)
    assert.equal(fresh.status, 400)
  }
  assert.equal((await download(server.url, 'fresh-empty')).status, 404)
  assertUnchanged(before, await state(), 'empty body')
  await healthy()
})

test('oversized body: 413, nothing changes', async () => {
  const before = await state()
  let doc = A.clone(good)
  const rng = new Rng(5)
  // A real, valid document that is simply too big.
  // Random text, so DEFLATE cannot shrink it under the limit.
  let text = ''
  while (text.length < MAX_BODY * 3) text += rng.next().toString(36).slice(2)
  doc = A.change(doc, (d) => { d.big = text })
  const big = A.save(doc)
  assert.ok(big.length > MAX_BODY)
  for (const method of ['POST', 'PUT']) {
    const res = await upload(server.url, ID, big, method)
    assert.equal(res.status, 413, res.text)
  }
  const huge = new Uint8Array(1 << 20)
  assert.equal((await upload(server.url, ID, huge)).status, 413)
  assert.equal((await upload(server.url, 'new-doc-too-big', big)).status, 413)
  assert.equal((await download(server.url, 'new-doc-too-big')).status, 404)
  assertUnchanged(before, await state(), 'oversized')
  await healthy()
})

test('hostile ids: 400, nothing written outside (or inside) the data directory', async () => {
  const before = await state()
  const rootBefore = fs.readdirSync(root).sort()
  const dataBefore = fs.readdirSync(dataDir).sort()
  const ids = [
    '..%2F..%2Fetc%2Fpasswd', '%2E%2E%2F%2E%2E%2Fetc%2Fpasswd', '..%2Fescape', '%00', 'a%00b',
    '.hidden', '..', '.', 'a%2Fb', '%2F', 'a%2', 'a%zz', 'sp%20ace', 'x'.repeat(201),
    '%C3%A9', 'a:b', 'a*b'
  ]
  for (const id of ids) {
    for (const method of ['GET', 'POST', 'PUT']) {
      const res = await rawRequest(server.port, method, `/${id}`, method === 'GET' ? null : Buffer.from(goodBytes))
      assert.equal(res.status, 400, `${method} /${id} gave ${res.status}: ${res.body}`)
    }
  }
  // Raw dot segments that fetch would normalize away.
  for (const p of ['/../../etc/passwd', '/../escape', '/./x/../../y']) {
    const res = await rawRequest(server.port, 'POST', p, Buffer.from(goodBytes))
    assert.equal(res.status, 400, `${p} gave ${res.status}`)
  }
  assert.deepEqual(fs.readdirSync(root).sort(), rootBefore)
  assert.deepEqual(fs.readdirSync(dataDir).sort(), dataBefore)
  assertUnchanged(before, await state(), 'hostile ids')
  await healthy()
})

test('malformed HTTP and unknown routes do not hurt the server', async () => {
  const before = await state()
  const garbage = await new Promise((resolve) => {
    const sock = net.connect(server.port, '127.0.0.1', () => sock.end('NOT HTTP AT ALL\r\n\r\n'))
    let data = ''
    sock.on('data', (d) => { data += d })
    sock.on('close', () => resolve(data))
    sock.on('error', () => resolve(data))
  })
  assert.match(garbage, /^HTTP\/1\.1 400/)
  assert.equal((await rawRequest(server.port, 'DELETE', `/${ID}`)).status, 405)
  assert.equal((await rawRequest(server.port, 'GET', `/${ID}/nope`)).status, 404)
  const since = await fetch(`${server.url}/${ID}?since=zz`)
  assert.equal(since.status, 400)
  await since.text()
  assertUnchanged(before, await state(), 'malformed')
  await healthy()
})
