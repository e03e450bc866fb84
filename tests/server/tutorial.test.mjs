// The tutorial's client code (remote-storage.md), verbatim, against amstore.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Automerge, startServer, sortedHeads } from './helpers.mjs'

let server
const realFetch = globalThis.fetch

before(async () => {
  server = await startServer()
  // The tutorial hard-codes http://localhost:5000; point it at this test's server instead
  // of editing the functions below.
  globalThis.fetch = (url, init) =>
    realFetch(String(url).replace('http://localhost:5000', server.url), init)
})
after(async () => {
  globalThis.fetch = realFetch
  const { code } = await server.stop()
  assert.equal(code, 0)
})

// ---- verbatim from the tutorial ----
function saveToRemote (docId, doc) {
  let binary = Automerge.save(doc)
  return fetch(`http://localhost:5000/${docId}`, {
    body: binary,
    method: "post",
    headers: {
      "Content-Type": "application/octet-stream",
    }
  })
}

async function loadFromRemote (docId) {
  const response = await fetch(`http://localhost:5000/${docId}`)
  if (response.status !== 200) throw new Error('No saved draft for doc with id=' + docId)
  const respbuffer = await response.arrayBuffer()
  if (respbuffer.byteLength === 0) throw new Error('No saved draft for doc with id=' + docId)
  const view = new Uint8Array(respbuffer)
  return Automerge.load(view)
}
// ---- end of tutorial code ----

test('save: saveToRemote gets a 200', async () => {
  const doc = Automerge.change(Automerge.init(), (d) => { d.items = [{ text: 'buy milk', done: false }] })
  const res = await saveToRemote('todos-save', doc)
  assert.equal(res.status, 200)
})

test('load: loadFromRemote of an unknown id throws, as the tutorial expects', async () => {
  await assert.rejects(loadFromRemote('never-saved'), /No saved draft/)
})

test('round trip: what was saved loads back equal', async () => {
  let doc = Automerge.change(Automerge.init(), (d) => {
    d.items = [{ text: 'buy milk', done: false }]
    d.title = 'groceries'
  })
  assert.equal((await saveToRemote('todos', doc)).status, 200)
  doc = Automerge.change(doc, (d) => { d.items[0].done = true; d.items.push({ text: 'eggs', done: false }) })
  assert.equal((await saveToRemote('todos', doc)).status, 200)
  const loaded = await loadFromRemote('todos')
  assert.deepEqual(sortedHeads(loaded), sortedHeads(doc))
  assert.deepEqual(Automerge.toJS(loaded), Automerge.toJS(doc))
})

test('the tutorial race is gone: two devices saving in rapid succession both survive', async () => {
  const base = Automerge.change(Automerge.init(), (d) => { d.items = [] })
  assert.equal((await saveToRemote('shared', base)).status, 200)
  const laptop = Automerge.change(Automerge.clone(base), (d) => { d.items.push('from laptop') })
  const phone = Automerge.change(Automerge.clone(base), (d) => { d.items.push('from phone') })
  const results = await Promise.all([saveToRemote('shared', laptop), saveToRemote('shared', phone)])
  assert.deepEqual(results.map((r) => r.status), [200, 200])
  const loaded = await loadFromRemote('shared')
  const expected = Automerge.merge(Automerge.clone(laptop), phone)
  assert.deepEqual(sortedHeads(loaded), sortedHeads(expected))
  assert.deepEqual(Automerge.toJS(loaded), Automerge.toJS(expected))
  assert.equal(Automerge.toJS(loaded).items.length, 2)
})
