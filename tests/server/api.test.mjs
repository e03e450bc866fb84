// The rest of the HTTP API: ETag / If-None-Match, HEAD, ?since, /json, CORS, /healthz,
// /metrics, flags from the environment, graceful shutdown with a request in flight.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import { spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import {
  AMSTORE_BIN, Automerge as A, download, noise, rawRequest, sleep, sortedHeads, startServer, tempDir, upload
} from './helpers.mjs'

let server
before(async () => { server = await startServer() })
after(async () => { assert.equal((await server.stop()).code, 0) })

test('POST answers heads, newChanges and the ETag; GET serves the same ETag; 304', async () => {
  const doc = A.change(A.init(), (d) => { d.a = 1 })
  const r1 = await upload(server.url, 'etag', A.save(doc))
  assert.equal(r1.status, 200)
  const body = JSON.parse(r1.text)
  assert.deepEqual(body.heads, sortedHeads(doc))
  assert.equal(body.newChanges, 1)
  assert.ok(r1.etag)
  const again = await upload(server.url, 'etag', A.save(doc), 'PUT')
  assert.equal(JSON.parse(again.text).newChanges, 0)
  assert.equal(again.etag, r1.etag)

  const got = await fetch(`${server.url}/etag`)
  assert.equal(got.status, 200)
  assert.equal(got.headers.get('content-type'), 'application/octet-stream')
  assert.equal(got.headers.get('etag'), r1.etag)
  await got.arrayBuffer()
  const cached = await fetch(`${server.url}/etag`, { headers: { 'If-None-Match': r1.etag } })
  assert.equal(cached.status, 304)
  const weak = await fetch(`${server.url}/etag`, { headers: { 'If-None-Match': `"nope", W/${r1.etag}` } })
  assert.equal(weak.status, 304)

  const doc2 = A.change(doc, (d) => { d.b = 2 })
  const r2 = await upload(server.url, 'etag', A.save(doc2))
  assert.notEqual(r2.etag, r1.etag)
  const stale = await fetch(`${server.url}/etag`, { headers: { 'If-None-Match': r1.etag } })
  assert.equal(stale.status, 200)
  assert.equal(stale.headers.get('etag'), r2.etag)
  assert.deepEqual(A.toJS(A.load(new Uint8Array(await stale.arrayBuffer()))), { a: 1, b: 2 })

  const head = await fetch(`${server.url}/etag`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.headers.get('etag'), r2.etag)
  const full = await download(server.url, 'etag')
  assert.equal(Number(head.headers.get('content-length')), full.bytes.length)
  assert.equal((await head.arrayBuffer()).byteLength, 0)
  assert.equal((await fetch(`${server.url}/unknown-doc`, { method: 'HEAD' })).status, 404)
})

test('bodies larger than the read buffer arrive whole (a 3 MB document, then a merge into it)', async () => {
  const blob = noise(3 << 20)
  let doc = A.change(A.init(), (d) => { d.blob = blob })
  const bytes = A.save(doc)
  assert.ok(bytes.length > (2 << 20))
  const r1 = await upload(server.url, 'large', bytes)
  assert.equal(r1.status, 200, r1.text)
  doc = A.change(doc, (d) => { d.note = 'after' })
  const r2 = await upload(server.url, 'large', A.save(doc))
  assert.equal(r2.status, 200, r2.text)
  assert.equal(JSON.parse(r2.text).newChanges, 1)
  const got = await download(server.url, 'large')
  const back = A.load(got.bytes)
  assert.deepEqual(sortedHeads(back), sortedHeads(doc))
  assert.deepEqual(back.blob, blob)
  assert.equal(back.note, 'after')
})

test('GET ?since= returns only the missing changes, which loadIncremental applies', async () => {
  let doc = A.change(A.init(), (d) => { d.list = [] })
  for (let i = 0; i < 5; i++) doc = A.change(doc, (d) => { d.list.push(i) })
  assert.equal((await upload(server.url, 'since', A.save(doc))).status, 200)
  const old = A.clone(doc)
  doc = A.change(doc, (d) => { d.list.push(99) })
  const other = A.change(A.clone(old), (d) => { d.x = 'y' })
  await upload(server.url, 'since', A.save(doc))
  await upload(server.url, 'since', A.save(other))

  const res = await fetch(`${server.url}/since?since=${A.getHeads(old).join(',')}`)
  assert.equal(res.status, 200)
  const bytes = new Uint8Array(await res.arrayBuffer())
  const caughtUp = A.loadIncremental(A.clone(old), bytes)
  const expected = A.merge(A.clone(doc), other)
  assert.deepEqual(sortedHeads(caughtUp), sortedHeads(expected))
  assert.deepEqual(A.toJS(caughtUp), A.toJS(expected))

  const all = await fetch(`${server.url}/since?since=`)
  const fromScratch = A.loadIncremental(A.init(), new Uint8Array(await all.arrayBuffer()))
  assert.deepEqual(sortedHeads(fromScratch), sortedHeads(expected))
  const none = await fetch(`${server.url}/since?since=${A.getHeads(expected).join(',')}`)
  assert.equal((await none.arrayBuffer()).byteLength, 0)
})

test('GET /:id/json renders the document', async () => {
  const renders = async () => Number(/^amstore_json_renders_total (\d+)$/m.exec(await (await fetch(`${server.url}/metrics`)).text())[1])
  const doc = A.change(A.init(), (d) => { d.title = 'hi'; d.n = 3; d.items = ['a', { b: true }] })
  await upload(server.url, 'json', A.save(doc))
  const before = await renders()
  const res = await fetch(`${server.url}/json/json`)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type'), /application\/json/)
  const text = await res.text()
  const value = JSON.parse(text)
  assert.equal(value.title, 'hi')
  assert.equal(value.n, 3)
  assert.equal(value.items[0], 'a')
  assert.equal((await fetch(`${server.url}/missing/json`)).status, 404)

  // An ETag of its own: If-None-Match answers 304 until the document changes.
  const etag = res.headers.get('etag')
  const docEtag = (await fetch(`${server.url}/json`, { method: 'HEAD' })).headers.get('etag')
  assert.match(etag, /^"[0-9a-f]+-json"$/)
  assert.equal(etag, docEtag.replace(/"$/, '-json"'))
  const same = await fetch(`${server.url}/json/json`, { headers: { 'If-None-Match': etag } })
  assert.equal(same.status, 304)
  assert.equal(same.headers.get('etag'), etag)
  assert.equal(await same.text(), '')
  const other = await fetch(`${server.url}/json/json`, { headers: { 'If-None-Match': docEtag } })
  assert.equal(other.status, 200)  // the binary's ETag is not the JSON's
  assert.equal(await other.text(), text)
  assert.equal(await renders(), before + 1)  // rendered once, then served again
  const next = A.change(doc, (d) => { d.n = 4 })
  await upload(server.url, 'json', A.getLastLocalChange(next))
  const changed = await fetch(`${server.url}/json/json`, { headers: { 'If-None-Match': etag } })
  assert.equal(changed.status, 200)
  assert.equal((await changed.json()).n, 4)
  assert.notEqual(changed.headers.get('etag'), etag)
  assert.equal(await renders(), before + 2)
  assert.equal((await fetch(`${server.url}/missing/json`, { headers: { 'If-None-Match': etag } })).status, 404)
})

test('CORS: any origin, preflight answered', async () => {
  const pre = await fetch(`${server.url}/cors`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' }
  })
  assert.ok(pre.status === 204 || pre.status === 200)
  assert.equal(pre.headers.get('access-control-allow-origin'), '*')
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/)
  assert.match(pre.headers.get('access-control-allow-headers'), /content-type/i)
  const get = await fetch(`${server.url}/cors`, { headers: { Origin: 'http://example.test' } })
  assert.equal(get.headers.get('access-control-allow-origin'), '*')
  assert.match(get.headers.get('access-control-expose-headers'), /ETag/i)
})

test('healthz and metrics', async () => {
  const h = await fetch(`${server.url}/healthz`)
  assert.equal(h.status, 200)
  assert.equal((await h.text()).trim(), 'ok')
  const m = await fetch(`${server.url}/metrics`)
  assert.equal(m.status, 200)
  const text = await m.text()
  assert.match(text, /amstore_http_requests_total\{route="doc",method="POST",status="200"\} \d+/)
  assert.match(text, /amstore_http_request_bytes_total \d+/)
  assert.match(text, /amstore_http_response_bytes_total \d+/)
  assert.match(text, /amstore_merge_duration_seconds_bucket\{le="\+Inf"\} \d+/)
  assert.match(text, /amstore_merge_duration_seconds_count \d+/)
  assert.match(text, /amstore_documents [1-9]\d*/)
  assert.match(text, /amstore_compactions_total \d+/)
  // Methods the client makes up share one label: they cannot grow the metrics.
  for (let i = 0; i < 20; i++) {
    const res = await rawRequest(server.port, `MADEUP${i}${'X'.repeat(300)}`, '/doc')
    assert.equal(res.status, 405)
  }
  const after = await (await fetch(`${server.url}/metrics`)).text()
  assert.doesNotMatch(after, /MADEUP/)
  assert.match(after, /amstore_http_requests_total\{route="doc",method="other",status="405"\} 20\n/)
  // One access-log line per request.
  assert.match(server.log(), /"GET \/healthz" 200/)
})

test('flags come from the environment; CORS can be switched off', async () => {
  const dataDir = tempDir('env')
  const proc = spawn(AMSTORE_BIN, ['serve'], {
    env: { ...process.env, AMSTORE_HOST: '127.0.0.1', AMSTORE_PORT: '0', AMSTORE_DATA_DIR: dataDir, AMSTORE_CORS_ORIGIN: 'none', AMSTORE_MAX_BODY: '1K' },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let log = ''
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no start: ' + log)), 10000)
    proc.stderr.on('data', (d) => {
      log += d
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log)
      if (m) { clearTimeout(t); resolve(Number(m[1])) }
    })
  })
  const url = `http://127.0.0.1:${port}`
  const r = await upload(url, 'x', new Uint8Array(2048))
  assert.equal(r.status, 413)
  const g = await fetch(`${url}/x`)
  assert.equal(g.headers.get('access-control-allow-origin'), null)
  await g.text()
  proc.kill('SIGTERM')
  const code = await new Promise((resolve) => proc.on('exit', resolve))
  assert.equal(code, 0)
  assert.ok(log.includes(dataDir))
})

test('malloc tunables (huge pages, kept heap top): set at start-up; a user choice stands', async () => {
  const environOf = (pid) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
  let thp = ''
  try { thp = fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8') } catch {}
  const env = { ...process.env }
  delete env.GLIBC_TUNABLES
  // glibc, parsing GLIBC_TUNABLES at start-up, ends each setting in place with a NUL: the
  // settings after the first show up in /proc/PID/environ as entries of their own.
  const tunablesOf = (pid) => {
    const out = []
    for (const v of environOf(pid)) {
      if (v.startsWith('GLIBC_TUNABLES=')) out.push(v)
      else if (v.startsWith('glibc.') && out.length) out[out.length - 1] += `:${v}`
    }
    return out
  }
  const hugetlb = thp.includes('[madvise]') ? ['glibc.malloc.hugetlb=1'] : []
  const s = await startServer({ env })
  try {
    // The same process (re-executed in place), now with the tunables in its environment.
    assert.deepEqual(tunablesOf(s.proc.pid),
      [`GLIBC_TUNABLES=${[...hugetlb, 'glibc.malloc.top_pad=268435456'].join(':')}`])
    const r = await upload(s.url, 'thp', A.save(A.from({ ok: true })))
    assert.equal(r.status, 200)
  } finally {
    assert.equal((await s.stop()).code, 0)
  }
  // A user's setting of one stands, and the other is still added after it.
  const own = await startServer({ env: { ...env, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' } })
  try {
    assert.deepEqual(tunablesOf(own.proc.pid),
      ['GLIBC_TUNABLES=glibc.malloc.hugetlb=0:glibc.malloc.top_pad=268435456'])
  } finally {
    assert.equal((await own.stop()).code, 0)
  }
  const both = 'glibc.malloc.top_pad=131072:glibc.malloc.hugetlb=0'
  const mine = await startServer({ env: { ...env, GLIBC_TUNABLES: both } })
  try {
    assert.deepEqual(tunablesOf(mine.proc.pid), [`GLIBC_TUNABLES=${both}`])
  } finally {
    assert.equal((await mine.stop()).code, 0)
  }
})

test('started through the dynamic loader, amstore runs as it is (no re-exec of the loader)', (t) => {
  const loader = ['/lib64/ld-linux-x86-64.so.2', '/lib/ld-linux-aarch64.so.1'].find((f) => fs.existsSync(f))
  if (!loader) return t.skip('no known dynamic loader on this machine')
  const file = path.join(tempDir('ldso'), 'doc.automerge')
  const doc = A.from({ hello: 'world' })
  fs.writeFileSync(file, A.save(doc))
  const env = { ...process.env }
  delete env.GLIBC_TUNABLES
  const r = spawnSync(loader, [AMSTORE_BIN, 'heads', file], { env, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(r.stdout.trim().split('\n'), sortedHeads(doc))
})

test('SIGTERM: the in-flight upload finishes with 200, then the process exits 0', async () => {
  const s = await startServer()
  const doc = A.change(A.init(), (d) => { d.text = 'in flight' })
  const body = Buffer.from(A.save(doc))
  // An idle keep-alive connection must not hold the shutdown up.
  await download(s.url, 'nothing')
  const result = new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: s.port, method: 'POST', path: '/inflight', agent: false,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }
    }, (res) => {
      let text = ''
      res.on('data', (c) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode, text }))
    })
    req.on('error', reject)
    req.write(body.subarray(0, 10))
    // The rest arrives after the signal.
    setTimeout(() => { s.proc.kill('SIGTERM'); setTimeout(() => req.end(body.subarray(10)), 300) }, 200)
  })
  const res = await result
  assert.equal(res.status, 200, res.text)
  const { code } = await s.exited
  assert.equal(code, 0)
  assert.match(s.log(), /shutting down/)
  // And it was stored durably.
  const again = await startServer({ dataDir: s.dataDir })
  try {
    const got = await download(again.url, 'inflight')
    assert.equal(got.status, 200)
    assert.deepEqual(A.toJS(A.load(got.bytes)), { text: 'in flight' })
  } finally {
    await again.stop()
  }
  await sleep(0)
})

test('an upload being merged does not hold up other requests on its I/O thread', async () => {
  // One I/O thread: if it merged the upload itself, /healthz would wait for the merge.
  const s = await startServer({ args: ['--threads', '1'] })
  try {
    // ~400,000 characters typed as one change: creating it takes the server a while.
    const doc = A.change(A.init(), (d) => { d.text = 'abcdefghij'.repeat(40000) })
    const body = Buffer.from(A.save(doc))
    const order = []
    let sent
    const bodySent = new Promise((resolve) => { sent = resolve })
    const post = new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: s.port, method: 'POST', path: '/slow', agent: false,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }
      }, (res) => {
        res.resume()
        res.on('end', () => { order.push('post'); resolve(res.statusCode) })
      })
      req.on('error', reject)
      req.on('finish', sent)
      req.end(body)
    })
    await bodySent
    await sleep(5)  // the body is in; the merge is running
    const h = await fetch(`${s.url}/healthz`)
    assert.equal(h.status, 200)
    await h.text()
    order.push('healthz')
    assert.equal(await post, 200)
    assert.deepEqual(order, ['healthz', 'post'])
  } finally {
    assert.equal((await s.stop()).code, 0)
  }
})
