// The golden corpus through real servers: every scenario's forks (each actor's replica,
// saved by the library) uploaded at once to one document, half of them through each of two
// server processes on one data directory. What is stored must be what Automerge.merge of
// the forks gives: the corpus's heads and value (tests/interop/gen-corpus.mjs). The CLI's
// merge is held to the same in tests/interop; this is the server's path (uploads read
// before the lock, decoded against the document's known changes, merged under it).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { docJson, parseJsonExact } from '../interop/json-mapping.mjs'
import { AMSTORE_BIN, Automerge as A, download, sortedHeads, startServer, tempDir, upload } from './helpers.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))

// The corpus scripts/test.sh made, or a fresh one (as tests/interop/verify.mjs does), made
// once for all the tests here.
let corpusMade
function corpusDir () {
  if (corpusMade) return corpusMade
  if (process.env.AMSTORE_CORPUS) return (corpusMade = path.resolve(process.env.AMSTORE_CORPUS))
  const dir = path.join(tempDir('corpus'), 'corpus')
  const r = spawnSync(process.execPath, [path.join(here, '..', 'interop', 'gen-corpus.mjs'), dir],
    { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`gen-corpus.mjs failed:\n${r.stderr}`)
  return (corpusMade = dir)
}

const readLines = (file) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)

test('each corpus scenario\'s forks, uploaded at once through two servers, merge to the library\'s document', async () => {
  const corpus = corpusDir()
  const scenarios = fs.readdirSync(corpus)
    .filter((n) => fs.existsSync(path.join(corpus, n, 'forks'))).sort()
  assert.ok(scenarios.length >= 100, `only ${scenarios.length} scenarios with forks in ${corpus}`)
  const dataDir = tempDir('corpus-data')
  const servers = [await startServer({ dataDir }), await startServer({ dataDir })]
  try {
    let next = 0
    // A few documents at a time, each with all its uploads in flight together.
    await Promise.all(Array.from({ length: 4 }, async (_, lane) => {
      while (next < scenarios.length) {
        const name = scenarios[next++]
        const dir = path.join(corpus, name)
        const forks = fs.readdirSync(path.join(dir, 'forks'))
          .map((f) => new Uint8Array(fs.readFileSync(path.join(dir, 'forks', f))))
        const sent = await Promise.all(forks.map((b, i) => upload(servers[(i + lane) % 2].url, name, b)))
        for (const r of sent) assert.equal(r.status, 200, `${name}: ${r.text}`)
        // Again, each through the other server: nothing new.
        const again = await Promise.all(forks.map((b, i) => upload(servers[(i + lane + 1) % 2].url, name, b)))
        for (const r of again) {
          assert.equal(r.status, 200, `${name}: ${r.text}`)
          assert.equal(JSON.parse(r.text).newChanges, 0, `${name}: a fork uploaded again brought new changes`)
        }
        const wantHeads = readLines(path.join(dir, 'heads.txt'))
        const wantValue = parseJsonExact(fs.readFileSync(path.join(dir, 'value.json'), 'utf8'))
        const got = await download(servers[lane % 2].url, name)
        assert.equal(got.status, 200, name)
        const doc = A.load(got.bytes)
        assert.deepEqual(sortedHeads(doc), wantHeads, `${name}: heads`)
        assert.deepEqual(parseJsonExact(docJson(doc)), wantValue, `${name}: value`)
        const json = await fetch(`${servers[(lane + 1) % 2].url}/${name}/json`)
        assert.equal(json.status, 200, name)
        assert.deepEqual(parseJsonExact(await json.text()), wantValue, `${name}: GET /json`)
      }
    }))
  } finally {
    for (const s of servers) await s.stop()
  }
  // What the servers left on disk: every document whole.
  const r = spawnSync(AMSTORE_BIN, ['check', '--data-dir', dataDir], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.match(r.stdout, new RegExp(`^${scenarios.length} documents: ${scenarios.length} ok, 0 torn, 0 damaged, 0 unreadable$`, 'm'))
})

// A new document uploaded as one document chunk is stored and served as uploaded. So what
// the server takes must be bytes the library loads: each bit of a small document with a
// compressed column flipped (its checksum made right again), uploaded as a new document;
// wherever the server answers 200, the library loads what GET then sends, to the heads the
// server gave. (libdeflate inflated two of these, which zlib and the library refuse.)
test('bit-flipped documents that the server takes as new documents: the library loads what it then serves', async () => {
  const original = fs.readFileSync(path.join(corpusDir(), 'messages-and-times', 'doc.bin'))
  const server = await startServer({ dataDir: tempDir('flips-data') })
  let taken = 0
  try {
    for (let at = 8; at < original.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const bytes = Buffer.from(original)
        bytes[at] ^= 1 << bit
        createHash('sha256').update(bytes.subarray(8)).digest().copy(bytes, 4, 0, 4)
        const id = `flip-${at}-${bit}`
        const res = await upload(server.url, id, bytes)
        if (res.status !== 200) continue
        taken++
        const got = await download(server.url, id)
        assert.equal(got.status, 200)
        let doc
        assert.doesNotThrow(() => { doc = A.load(got.bytes) }, `byte ${at} bit ${bit}: the library cannot load what GET sends`)
        assert.deepEqual(sortedHeads(doc), JSON.parse(res.text).heads.sort(), `byte ${at} bit ${bit}`)
      }
    }
  } finally {
    await server.stop()
  }
  assert.ok(taken > 10, `only ${taken} flipped documents taken`)
})
