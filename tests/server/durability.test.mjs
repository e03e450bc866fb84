// Durability: kill -9 the server at random moments during concurrent uploads, many times.
// After each restart, every change from an upload that got a 200 must be there, and every
// stored document (as served, and as the files on disk) must load in the JS library.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {
  Automerge as A, Rng, baseDoc, download, flipBits, forkFor, randomEdit, sleep, startServer,
  storedFiles, tempDir, upload
} from './helpers.mjs'

const KILLS = Number(process.env.AMSTORE_DURABILITY_KILLS || 22)
const CLIENTS = 6
const DOCS = ['durable-a', 'durable-b']

test(`durability: ${KILLS} kill -9 cycles during concurrent uploads`, async () => {
  const dataDir = tempDir('durable')
  const rng = new Rng(2024)
  // Small compaction threshold: kills also land during compactions.
  const args = ['--quiet', '--compact-min', '4K']
  const clients = []
  for (let c = 0; c < CLIENTS; c++) {
    const docs = {}
    for (const id of DOCS) docs[id] = forkFor(baseDoc(), c)
    clients.push({ rng: new Rng(500 + c), docs })
  }
  // Per document: the heads of every acknowledged upload (their ancestors came along).
  const acked = Object.fromEntries(DOCS.map((id) => [id, new Set()]))
  let totalAcked = 0
  const deadline = Date.now() + 100000

  // The server of the current cycle: killed if an assertion fails mid-cycle, or its process
  // would keep this test file (and the whole suite) waiting.
  let server = null
  try {
    for (let cycle = 0; cycle < KILLS; cycle++) {
      assert.ok(Date.now() < deadline, 'durability test ran out of time')
      server = await startServer({ dataDir, args })

      // Check everything acknowledged so far survived the previous kill.
      for (const id of DOCS) {
        if (acked[id].size === 0) continue
        const got = await download(server.url, id)
        assert.equal(got.status, 200, `cycle ${cycle}: ${id} missing`)
        const remote = A.load(got.bytes)
        for (const h of acked[id]) {
          assert.ok(A.hasHeads(remote, [h]), `cycle ${cycle}: ${id} lost acknowledged change ${h}`)
        }
        const files = storedFiles(dataDir, id)
        const onDisk = A.load(new Uint8Array(Buffer.concat([files.snapshot, files.log])))
        assert.ok(A.getHeads(onDisk).length > 0)
      }

      // Concurrent uploads until a random moment, then SIGKILL.
      let stop = false
      // Requests still in flight when the server dies are aborted: a fetch whose connection
      // went away may otherwise never settle (seen once in CI: the file's event loop emptied
      // while the test waited for the clients).
      const inFlight = new AbortController()
      const loops = clients.map(async (cl, c) => {
        for (let i = 0; i < 200 && !stop; i++) {
          const id = cl.rng.pick(DOCS)
          cl.docs[id] = randomEdit(cl.docs[id], cl.rng, `c${c}k${cycle}i${i}`)
          // Full documents mostly, sometimes only the latest change (both are valid uploads).
          const full = cl.rng.chance(0.8)
          const body = full ? A.save(cl.docs[id]) : A.getLastLocalChange(cl.docs[id])
          const heads = A.getHeads(cl.docs[id])
          try {
            const res = await upload(server.url, id, body, cl.rng.chance(0.5) ? 'POST' : 'PUT',
              inFlight.signal)
            assert.equal(res.status, 200, res.text)
            totalAcked++
            // A full document: all of it is acknowledged. A lone change: acknowledged as
            // applied only if it is now a head (its deps may have died with an earlier kill,
            // leaving it stored but pending, which the JS library does not report).
            const serverHeads = JSON.parse(res.text).heads
            for (const h of heads) if (full || serverHeads.includes(h)) acked[id].add(h)
          } catch (err) {
            if (err.code === 'ERR_ASSERTION') throw err
            return // the server died under us: that upload was never acknowledged
          }
        }
      })
      await sleep(rng.int(30, 400))
      stop = true
      await server.kill9()
      server = null
      inFlight.abort()
      await Promise.all(loops)
    }
  } finally {
    if (server) await server.kill9()
  }

  if (process.env.AMSTORE_TEST_VERBOSE) console.log("acknowledged uploads:", totalAcked, "acked heads:", DOCS.map((id) => acked[id].size))
  // Final restart: everything acknowledged is there, and the files load.
  server = await startServer({ dataDir, args })
  try {
    for (const id of DOCS) {
      const got = await download(server.url, id)
      assert.equal(got.status, 200)
      const remote = A.load(got.bytes)
      for (const h of acked[id]) assert.ok(A.hasHeads(remote, [h]), `final: lost ${h}`)
      // Every client's latest state can still be merged in (nothing corrupt on the server).
      for (const cl of clients) {
        const res = await upload(server.url, id, A.save(cl.docs[id]))
        assert.equal(res.status, 200, res.text)
      }
    }
    assert.ok(totalAcked > KILLS, `too few acknowledged uploads (${totalAcked}) to mean anything`)
  } finally {
    assert.equal((await server.stop()).code, 0)
  }
})

// Damage on disk in the middle of a log (a crash only tears its end): the uploads
// acknowledged after the damaged chunk are kept, and the damaged bytes are set aside.
test('a log damaged in the middle keeps the uploads after the damage', async () => {
  const dataDir = tempDir('damaged')
  const id = 'damaged'
  let a = forkFor(baseDoc(), 0)
  let b = forkFor(baseDoc(), 1)
  let server = await startServer({ dataDir, args: ['--quiet'] })
  const logSizes = []
  try {
    assert.equal((await upload(server.url, id, A.save(a))).status, 200)
    for (let i = 0; i < 3; i++) {
      a = A.change(a, { time: 0 }, (d) => { d[`a${i}`] = i })
      assert.equal((await upload(server.url, id, A.getLastLocalChange(a))).status, 200)
      logSizes.push(storedFiles(dataDir, id).log.length)
    }
    b = A.change(b, { time: 0 }, (d) => { d.b = 'kept' })
    assert.equal((await upload(server.url, id, A.getLastLocalChange(b))).status, 200)
  } finally {
    assert.equal((await server.stop()).code, 0)
  }
  // A bit flipped inside a's second change (the log's second chunk).
  const logPath = path.join(dataDir, `${id}.automerge.log`)
  const log = flipBits(logPath, Math.floor((logSizes[0] + logSizes[1]) / 2), 0x08)

  server = await startServer({ dataDir, args: ['--quiet'] })
  try {
    const got = await download(server.url, id)
    assert.equal(got.status, 200)
    const remote = A.load(got.bytes)
    assert.equal(A.toJS(remote).b, 'kept')           // after the damage: kept
    assert.equal(A.toJS(remote).a0, 0)               // before it: kept
    assert.equal(A.toJS(remote).a1, undefined)       // in it: lost on the server
    assert.match(server.log(), /is damaged from byte \d+ on/)
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    assert.match(metrics, /^amstore_repairs_total\{kind="damaged_log"\} 1$/m)
    assert.match(metrics, /^amstore_repairs_total\{kind="damaged_snapshot"\} 0$/m)
    const aside = fs.readdirSync(dataDir).filter((n) => n.startsWith(`${id}.automerge.log.damaged.`))
    assert.equal(aside.length, 1)
    assert.deepEqual(fs.readFileSync(path.join(dataDir, aside[0])), log.subarray(logSizes[0]))
    // The files load as they are, in the library too.
    const files = storedFiles(dataDir, id)
    A.load(new Uint8Array(Buffer.concat([files.snapshot, files.log])))
    // a's client uploads its document: what was lost (and a2, which waited for it) is back.
    assert.equal((await upload(server.url, id, A.save(a))).status, 200)
    const merged = A.load((await download(server.url, id)).bytes)
    assert.deepEqual([A.toJS(merged).a1, A.toJS(merged).a2, A.toJS(merged).b], [1, 2, 'kept'])
  } finally {
    assert.equal((await server.stop()).code, 0)
  }
})

test('a damaged snapshot keeps the log and serves again', async () => {
  const dataDir = tempDir('damaged-snapshot')
  const id = 'damaged-snapshot'
  let a = forkFor(baseDoc(), 0)
  a = A.change(a, { time: 0 }, (d) => { d.a = 'in the snapshot' })
  let b = forkFor(baseDoc(), 1)
  // A document of its own (no dependencies on the snapshot's changes).
  let c = A.change(A.init({ actor: 'cc'.repeat(16) }), { time: 0 }, (d) => { d.c = 'own' })
  let server = await startServer({ dataDir, args: ['--quiet'] })
  try {
    assert.equal((await upload(server.url, id, A.save(a))).status, 200)
    b = A.change(b, { time: 0 }, (d) => { d.b = 'waits' })
    assert.equal((await upload(server.url, id, A.getLastLocalChange(b))).status, 200)
    assert.equal((await upload(server.url, id, A.save(c))).status, 200)
  } finally {
    assert.equal((await server.stop()).code, 0)
  }
  const snapPath = path.join(dataDir, `${id}.automerge`)
  const snap = flipBits(snapPath, Math.floor(fs.statSync(snapPath).size / 2), 0x20)

  server = await startServer({ dataDir, args: ['--quiet'] })
  try {
    const got = await download(server.url, id)
    assert.equal(got.status, 200)
    const remote = A.load(got.bytes)
    assert.equal(A.toJS(remote).c, 'own')          // in the log, needing nothing: kept
    assert.equal(A.toJS(remote).a, undefined)      // in the snapshot: lost on the server
    assert.equal(A.toJS(remote).b, undefined)      // waits for the base it was made on
    assert.match(server.log(), /automerge is damaged from byte \d+ on/)
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    assert.match(metrics, /^amstore_repairs_total\{kind="damaged_snapshot"\} 1$/m)
    assert.match(metrics, /^amstore_repairs_total\{kind="damaged_log"\} 0$/m)
    const aside = fs.readdirSync(dataDir).filter((n) => n.startsWith(`${id}.automerge.damaged.`))
    assert.equal(aside.length, 1)
    assert.deepEqual(fs.readFileSync(path.join(dataDir, aside[0])), snap)
    // The files load as they are, in the library too.
    const files = storedFiles(dataDir, id)
    A.load(new Uint8Array(Buffer.concat([files.snapshot, files.log])))
    // a's client uploads its document: the base, a's change and b's (which waited) are back.
    assert.equal((await upload(server.url, id, A.save(a))).status, 200)
    const merged = A.toJS(A.load((await download(server.url, id)).bytes))
    assert.deepEqual([merged.a, merged.b, merged.c, merged.shared], ['in the snapshot', 'waits', 'own', 'base'])
  } finally {
    assert.equal((await server.stop()).code, 0)
  }
})

test('a process that holds a document puts back what another lost to a damaged snapshot', async () => {
  const dataDir = tempDir('held-copy')
  const id = 'held-copy'
  let a = forkFor(baseDoc(), 0)
  a = A.change(a, { time: 0 }, (d) => { d.a = 'in the snapshot' })
  const holder = await startServer({ dataDir, args: ['--quiet'] })
  let other = null
  try {
    assert.equal((await upload(holder.url, id, A.save(a))).status, 200)
    assert.equal((await download(holder.url, id)).status, 200)  // compacted, and held
    const snapPath = path.join(dataDir, `${id}.automerge`)
    flipBits(snapPath, Math.floor(fs.statSync(snapPath).size / 2), 0x20)
    // Another process reads it first: the damaged snapshot kept nothing it could read.
    other = await startServer({ dataDir, args: ['--quiet'] })
    const lost = await download(other.url, id)
    assert.equal(lost.status, 200)
    assert.equal(A.toJS(A.load(lost.bytes)).a, undefined)
    // The holder's next request puts its copy's changes back on disk, for both.
    for (const server of [holder, other]) {
      const got = await download(server.url, id)
      assert.equal(got.status, 200)
      assert.deepEqual(A.getHeads(A.load(got.bytes)).sort(), A.getHeads(a).sort())
    }
    assert.match(holder.log(), /its files lack \d+ changes this process held in memory/)
    const metrics = await (await fetch(`${holder.url}/metrics`)).text()
    assert.match(metrics, /^amstore_repairs_total\{kind="restored_from_memory"\} 1$/m)
    const files = storedFiles(dataDir, id)
    const stored = A.load(new Uint8Array(Buffer.concat([files.snapshot, files.log])))
    assert.equal(A.toJS(stored).a, 'in the snapshot')
  } finally {
    assert.equal((await holder.stop()).code, 0)
    if (other) assert.equal((await other.stop()).code, 0)
  }
})
