// Race: many clients upload full documents concurrently; nothing may be lost. Once against
// one server, once against two server processes sharing one data directory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  Automerge as A, Rng, baseDoc, download, forkFor, randomEdit, sortedHeads, startServer,
  tempDir, upload
} from './helpers.mjs'

const CLIENTS = 10
const ROUNDS = 6

async function race (servers, seed, docId) {
  const rng = new Rng(seed)
  const base = baseDoc()
  const first = await upload(servers[0].url, docId, A.save(base))
  assert.equal(first.status, 200, first.text)

  const clients = []
  for (let c = 0; c < CLIENTS; c++) {
    clients.push({ doc: forkFor(base, c), rng: new Rng(seed * 100 + c), server: servers[c % servers.length] })
  }
  const t0 = Date.now()
  const deadline = Date.now() + 60000
  for (let round = 0; round < ROUNDS && Date.now() < deadline; round++) {
    for (const [c, cl] of clients.entries()) {
      const edits = cl.rng.int(1, 3)
      for (let e = 0; e < edits; e++) cl.doc = randomEdit(cl.doc, cl.rng, `c${c}r${round}e${e}`)
    }
    // Everyone uploads the full document at once, via POST or PUT, to a random server.
    const results = await Promise.all(clients.map((cl) => {
      const srv = servers[rng.int(0, servers.length - 1)]
      return upload(srv.url, docId, A.save(cl.doc), rng.chance(0.5) ? 'POST' : 'PUT')
    }))
    for (const r of results) {
      assert.equal(r.status, 200, r.text)
      const body = JSON.parse(r.text)
      assert.ok(Array.isArray(body.heads) && typeof body.newChanges === 'number')
    }
    // Some clients pull the merged state and continue from it (concurrently with others
    // still uploading in the next round).
    await Promise.all(clients.map(async (cl) => {
      if (!cl.rng.chance(0.4)) return
      const got = await download(servers[rng.int(0, servers.length - 1)].url, docId)
      assert.equal(got.status, 200)
      cl.doc = A.merge(cl.doc, A.load(got.bytes))
    }))
  }

  if (process.env.AMSTORE_TEST_VERBOSE) console.log("rounds took", Date.now() - t0)
  let expected = A.clone(clients[0].doc)
  for (const cl of clients.slice(1)) expected = A.merge(expected, cl.doc)
  for (const srv of servers) {
    const got = await download(srv.url, docId)
    assert.equal(got.status, 200)
    const remote = A.load(got.bytes)
    assert.deepEqual(sortedHeads(remote), sortedHeads(expected))
    assert.deepEqual(A.toJS(remote), A.toJS(expected))
    // The served document is one compact document chunk (type byte 0), not a log.
    assert.equal(got.bytes[8], 0)
    // Uploading what everybody has brings nothing new.
    const again = await upload(srv.url, docId, A.save(expected))
    assert.equal(JSON.parse(again.text).newChanges, 0)
  }
}

test('race: 10 clients, one server', async () => {
  const server = await startServer({ args: ['--quiet'] })
  try {
    await race([server], 7, 'race-one')
  } finally {
    assert.equal((await server.stop()).code, 0)
  }
})

test('race: 10 clients, two server processes on one data directory', async () => {
  const dataDir = tempDir('race2')
  // A small compaction threshold makes compactions race with appends from the other process.
  const args = ['--quiet', '--compact-min', '2K']
  const s1 = await startServer({ dataDir, args })
  const s2 = await startServer({ dataDir, args })
  try {
    await race([s1, s2], 11, 'race-two')
  } finally {
    assert.equal((await s1.stop()).code, 0)
    assert.equal((await s2.stop()).code, 0)
  }
})

test('a GET sees every upload another process acknowledged before it (cached GETs)', async () => {
  // GETs of a cached document are answered from memory after a freshness check on the files;
  // uploads through the other process (appends, and compactions at this small threshold)
  // must show up in the very next GET, and in its ETag.
  const dataDir = tempDir('fresh')
  const args = ['--quiet', '--compact-min', '1K']
  const s1 = await startServer({ dataDir, args })
  const s2 = await startServer({ dataDir, args })
  try {
    let doc = baseDoc()
    assert.equal((await upload(s1.url, 'fresh', A.save(doc))).status, 200)
    const rng = new Rng(5)
    for (let i = 0; i < 40; i++) {
      const [writer, reader] = i % 3 === 2 ? [s1, s2] : [s2, s1]
      const before = await download(reader.url, 'fresh') // warms the reader's cache
      assert.equal(before.status, 200)
      doc = randomEdit(doc, rng, `f${i}`)
      const up = await upload(writer.url, 'fresh', A.save(doc))
      assert.equal(up.status, 200, up.text)
      const got = await download(reader.url, 'fresh')
      assert.equal(got.status, 200)
      assert.deepEqual(sortedHeads(A.load(got.bytes)), sortedHeads(doc), `upload ${i}`)
      assert.equal(got.etag, up.etag)
      const head = await fetch(`${reader.url}/fresh`, { method: 'HEAD' })
      assert.equal(head.headers.get('etag'), up.etag)
      assert.equal(Number(head.headers.get('content-length')), got.bytes.length)
    }
  } finally {
    assert.equal((await s1.stop()).code, 0)
    assert.equal((await s2.stop()).code, 0)
  }
})
