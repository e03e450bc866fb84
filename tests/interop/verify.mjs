#!/usr/bin/env node
// Interop test suite: the amstore CLI against @automerge/automerge (the reference).
//
//   node tests/interop/verify.mjs --amstore PATH_TO_AMSTORE --corpus CORPUS_DIR
//   AMSTORE_BIN=... AMSTORE_CORPUS=... node --test tests/interop/verify.mjs
//
// Without a corpus, one is generated into a temporary directory with
// gen-corpus.mjs. Without an amstore binary (neither given nor at
// build/amstore), only the corpus self-check runs and the CLI tests are skipped.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import zlib from 'node:zlib'
import { fileURLToPath } from 'node:url'
import * as A from '@automerge/automerge'
import { docJson, parseJsonExact } from './json-mapping.mjs'
import { mutateChange } from './mutate-change.mjs'
import { Rng } from './rng.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const REPO = path.resolve(HERE, '..', '..')

function option(name) {
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1]
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3)
  }
  return undefined
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'amstore-interop-'))
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }))

let amstore = option('amstore') ?? process.env.AMSTORE_BIN
if (!amstore && fs.existsSync(path.join(REPO, 'build', 'amstore'))) amstore = path.join(REPO, 'build', 'amstore')
if (amstore) amstore = path.resolve(amstore)
const haveAmstore = Boolean(amstore && fs.existsSync(amstore))

let corpus = option('corpus') ?? process.env.AMSTORE_CORPUS
if (!corpus) {
  corpus = path.join(tmpRoot, 'corpus')
  const r = spawnSync(process.execPath, [path.join(HERE, 'gen-corpus.mjs'), corpus], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`gen-corpus.mjs failed:\n${r.stderr}`)
}
corpus = path.resolve(corpus)

const scenarios = fs.readdirSync(corpus, { withFileTypes: true })
  .filter((e) => e.isDirectory() && fs.existsSync(path.join(corpus, e.name, 'doc.bin')))
  .map((e) => e.name)
  .sort()

// ---------------------------------------------------------------------------
// Helpers

let tmpCounter = 0
const tmpFile = (name) => path.join(tmpRoot, `${tmpCounter++}-${name}`)

/** Run amstore; returns { status, signal, stdout, stderr }. */
function run(args) {
  const r = spawnSync(amstore, args, { encoding: 'utf8', maxBuffer: 1 << 30, timeout: 120_000 })
  if (r.error && r.error.code !== 'ETIMEDOUT') throw r.error
  return r
}

/** Run amstore and require success; returns stdout. */
function ok(args) {
  const r = run(args)
  const what = `amstore ${args.map((a) => path.basename(a)).join(' ')}`
  assert.equal(r.signal, null, `${what} was killed by ${r.signal}; stderr: ${r.stderr}`)
  assert.equal(r.status, 0, `${what} exited ${r.status}; stderr: ${r.stderr}`)
  return r.stdout
}

const readHeads = (file) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)
const sortedHeads = (doc) => A.getHeads(doc).map((h) => h.toLowerCase()).sort()
const lines = (text) => text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0)

function changeFiles(dir) {
  const d = path.join(dir, 'changes')
  return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.bin')).sort().map((f) => path.join(d, f)) : []
}

function forkFiles(dir) {
  const d = path.join(dir, 'forks')
  if (!fs.existsSync(d)) return []
  return fs.readdirSync(d).filter((f) => /^\d+\.bin$/.test(f))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10)).map((f) => path.join(d, f))
}

/** Expected change metadata per hash, from the library. */
function expectedChanges(dir) {
  const files = changeFiles(dir)
  let meta // fallback for changes decodeChange cannot render (e.g. uint values > 2^53)
  const out = new Map()
  for (const f of files) {
    const bytes = new Uint8Array(fs.readFileSync(f))
    let c
    try {
      c = A.decodeChange(bytes)
    } catch {
      meta ??= new Map(A.getChangesMetaSince(A.load(fs.readFileSync(path.join(dir, 'doc.bin'))), []).map((m) => [m.hash, m]))
      // change hash = SHA-256 of the chunk from the type byte on (spec §3.2)
      const h = createHash('sha256').update(bytes.subarray(8)).digest('hex')
      c = meta.get(h)
      assert.ok(c, `library cannot describe change ${path.basename(f)}`)
    }
    out.set(c.hash, {
      actor: c.actor.toLowerCase(),
      seq: c.seq,
      startOp: c.startOp,
      time: c.time,
      message: c.message === '' ? null : c.message ?? null,
      deps: c.deps.map((d) => d.toLowerCase()),
    })
  }
  return out
}

const num = (v) => (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v)

function checkRejected(file, what) {
  const r = run(['show', file])
  assert.equal(r.signal, null, `${what}: amstore killed by signal ${r.signal} (crash?); stderr: ${r.stderr}`)
  assert.notEqual(r.status, 0, `${what}: amstore show exited 0; stdout: ${r.stdout.slice(0, 200)}`)
  assert.ok(r.status < 128, `${what}: exit status ${r.status} looks like a signal`)
  const err = r.stderr.replace(/\r?\n$/, '')
  assert.ok(err.length > 0, `${what}: nothing on stderr`)
  assert.ok(!err.includes('\n'), `${what}: expected exactly one line on stderr, got:\n${r.stderr}`)
  assert.doesNotMatch(err, /segmentation|abort|terminate called|sanitizer|core dumped|stack trace|panic/i,
    `${what}: stderr looks like a crash: ${err}`)
}

// ---------------------------------------------------------------------------
// Corpus self-check (library only; always runs)

test('corpus is consistent with @automerge/automerge', () => {
  assert.ok(scenarios.length > 0, `no scenarios in ${corpus}`)
  for (const name of scenarios) {
    const dir = path.join(corpus, name)
    const doc = A.load(fs.readFileSync(path.join(dir, 'doc.bin')))
    assert.deepEqual(sortedHeads(doc), readHeads(path.join(dir, 'heads.txt')), `${name}: heads`)
    assert.deepEqual(parseJsonExact(docJson(doc)), parseJsonExact(fs.readFileSync(path.join(dir, 'value.json'), 'utf8')),
      `${name}: value`)
    assert.equal(changeFiles(dir).length, A.getAllChanges(doc).length, `${name}: number of changes`)
  }
})

// ---------------------------------------------------------------------------
// amstore CLI against the corpus

if (!haveAmstore) {
  test('amstore CLI interop', { skip: `no amstore binary (pass --amstore PATH or set AMSTORE_BIN; tried ${amstore ?? 'build/amstore'})` }, () => {})
}

for (const name of haveAmstore ? scenarios : []) {
  const dir = path.join(corpus, name)
  const docFile = path.join(dir, 'doc.bin')
  const headsFile = path.join(dir, 'heads.txt')
  const valueFile = path.join(dir, 'value.json')

  test(name, async (t) => {
    const expectedHeads = readHeads(headsFile)
    const expectedValue = parseJsonExact(fs.readFileSync(valueFile, 'utf8'))
    const changes = changeFiles(dir)
    const forks = forkFiles(dir)
    let changesCat
    const catChanges = () => {
      if (!changesCat) {
        changesCat = tmpFile(`${name}-changes.bin`)
        fs.writeFileSync(changesCat, Buffer.concat(changes.map((f) => fs.readFileSync(f))))
      }
      return changesCat
    }
    /** The library's view of a file amstore wrote. */
    const checkLoads = (file, what) => {
      const doc = A.load(fs.readFileSync(file))
      assert.deepEqual(sortedHeads(doc), expectedHeads, `${what}: heads after Automerge.load`)
      assert.deepEqual(parseJsonExact(docJson(doc)), expectedValue, `${what}: value after Automerge.load`)
    }

    await t.test('show doc.bin', () => {
      const out = ok(['show', docFile])
      assert.deepEqual(parseJsonExact(out), expectedValue)
    })

    await t.test('heads doc.bin', () => {
      assert.deepEqual(lines(ok(['heads', docFile])), expectedHeads)
    })

    await t.test('changes doc.bin', () => {
      const expected = expectedChanges(dir)
      const got = lines(ok(['changes', docFile])).map((l) => parseJsonExact(l))
      const gotHashes = got.map((c) => String(c.hash).toLowerCase())
      assert.equal(new Set(gotHashes).size, gotHashes.length, 'duplicate hashes in output')
      assert.deepEqual([...gotHashes].sort(), [...expected.keys()].sort(), 'set of change hashes')
      const mismatches = []
      for (const c of got) {
        const want = expected.get(String(c.hash).toLowerCase())
        const have = {
          actor: typeof c.actor === 'string' ? c.actor.toLowerCase() : c.actor,
          seq: num(c.seq),
          startOp: num(c.startOp),
          time: num(c.time),
          message: c.message === '' || c.message === undefined ? null : c.message,
          deps: Array.isArray(c.deps) ? c.deps.map((d) => String(d).toLowerCase()) : c.deps,
        }
        try {
          assert.deepEqual(have, want)
        } catch {
          mismatches.push({ hash: c.hash, have, want })
          if (mismatches.length >= 3) break
        }
      }
      assert.deepEqual(mismatches, [], 'change fields differ from Automerge.decodeChange')
    })

    await t.test('heads of the concatenated change chunks', () => {
      assert.deepEqual(lines(ok(['heads', catChanges()])), expectedHeads)
    })

    if (forks.length) {
      await t.test(`merge ${forks.length} forks`, () => {
        const out = tmpFile(`${name}-forks.bin`)
        ok(['merge', '-o', out, ...forks])
        checkLoads(out, 'merged forks')
      })
    }

    await t.test('merge doc.bin with itself', () => {
      const out = tmpFile(`${name}-self.bin`)
      ok(['merge', '-o', out, docFile, docFile])
      checkLoads(out, 'doc.bin + doc.bin')
    })

    await t.test('merge doc.bin with its own changes', () => {
      const out = tmpFile(`${name}-withchanges.bin`)
      ok(['merge', '-o', out, docFile, catChanges()])
      checkLoads(out, 'doc.bin + changes')
    })

    await t.test('rejects a flipped byte', () => {
      const bytes = fs.readFileSync(docFile)
      for (const pos of new Set([Math.floor(bytes.length / 2), bytes.length - 1, 5])) {
        const bad = Buffer.from(bytes)
        bad[pos] ^= 0x01
        const f = tmpFile(`${name}-flip${pos}.bin`)
        fs.writeFileSync(f, bad)
        checkRejected(f, `byte ${pos} of ${bytes.length} flipped`)
      }
    })

    await t.test('rejects a truncated doc.bin', () => {
      const bytes = fs.readFileSync(docFile)
      for (const len of new Set([bytes.length - 1, Math.max(1, Math.floor(bytes.length / 2)), 3])) {
        const f = tmpFile(`${name}-trunc${len}.bin`)
        fs.writeFileSync(f, bytes.subarray(0, len))
        checkRejected(f, `truncated to ${len} of ${bytes.length} bytes`)
      }
    })
  })
}

// ---------------------------------------------------------------------------
// amstore CLI: files it cannot read or write

if (haveAmstore) {
  test('files that cannot be read or written: one line naming the file and why, exit 1', () => {
    const docFile = path.join(corpus, scenarios[0], 'doc.bin')
    const missing = path.join(tmpRoot, 'no-such-file.bin')
    const cases = [
      [['show', missing], /^amstore: open .*no-such-file\.bin: No such file or directory$/],
      [['heads', tmpRoot], /^amstore: .*: is a directory$/],
      [['merge', '-o', path.join(tmpRoot, 'no-such-dir', 'out.bin'), docFile], /^amstore: open .*no-such-dir: No such file or directory$/],
    ]
    for (const [args, want] of cases) {
      const r = run(args)
      assert.equal(r.status, 1, `amstore ${args[0]}: exit ${r.status}, stderr ${r.stderr}`)
      assert.match(r.stderr.replace(/\n$/, ''), want)
    }
  })

  test('merge -o replaces its output whole, leaving no temporary file', () => {
    const dir = fs.mkdtempSync(path.join(tmpRoot, 'merge-out-'))
    const out = path.join(dir, 'out.bin')
    fs.writeFileSync(out, 'previous contents')
    const docFile = path.join(corpus, scenarios[0], 'doc.bin')
    ok(['merge', '-o', out, docFile])
    assert.deepEqual(fs.readdirSync(dir), ['out.bin'])
    assert.deepEqual(sortedHeads(A.load(fs.readFileSync(out))), readHeads(path.join(corpus, scenarios[0], 'heads.txt')).sort())
  })
}

// ---------------------------------------------------------------------------
// Documents altered below the checksum: what amstore loads, the library must load too (a
// new document uploaded as one chunk is served as uploaded): each column of a few corpus
// documents dropped (its metadata entry and data) or listed with no data, a column of an
// unknown id above 15 added, and each bit of one document's change columns flipped; the
// checksum made right again. Only a compressed column may be taken by amstore alone: its
// inflater is more lenient than the library's, so such a document is saved anew rather
// than kept (tests/server/corpus.test.mjs checks that).

// The parts of a document chunk: [body before the columns, [change columns, op columns]
// as {spec, data}, body after the columns].
function documentParts (bytes) {
  let p = 8
  const uleb = () => { let v = 0, s = 0; for (;;) { const x = bytes[p++]; v += (x & 0x7f) * 2 ** s; s += 7; if (!(x & 0x80)) return v } }
  p++
  const len = uleb()
  const bodyStart = p
  const actors = uleb()
  for (let i = 0; i < actors; i++) { const n = uleb(); p += n }  // (not p += uleb(): p is read first)
  const heads = uleb()
  p += 32 * heads
  const before = bytes.subarray(bodyStart, p)
  const tables = [0, 1].map(() => Array.from({ length: uleb() }, () => ({ spec: uleb(), len: uleb() })))
  for (const cols of tables) for (const c of cols) { c.data = bytes.subarray(p, p + c.len); p += c.len }
  return [before, tables, bytes.subarray(p, bodyStart + len)]
}
const uleb128 = (v) => { const o = []; do { let x = v % 128; v = Math.floor(v / 128); if (v) x |= 0x80; o.push(x) } while (v); return o }
function documentChunk (before, tables, after) {
  const body = Buffer.concat([before,
    ...tables.map((cols) => Buffer.from([...uleb128(cols.length), ...cols.flatMap((c) => [...uleb128(c.spec), ...uleb128(c.data.length)])])),
    ...tables.flatMap((cols) => cols.map((c) => c.data)), after])
  return seal(Buffer.concat([Buffer.from([0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0]), Buffer.from(uleb128(body.length)), body]))
}
function seal (chunk) {
  createHash('sha256').update(chunk.subarray(8)).digest().copy(chunk, 4, 0, 4)
  return chunk
}

if (haveAmstore) {
  test('documents altered below the checksum: what amstore loads, the library loads', () => {
    const variants = []
    for (const name of ['values-basic', 'messages-and-times', 'marks', 'only-empty-changes', 'keys-odd', 'empty']) {
      const [before, tables, after] = documentParts(fs.readFileSync(path.join(corpus, name, 'doc.bin')))
      const withTable = (t, cols) => documentChunk(before, tables.map((cs, u) => (u === t ? cols : cs)), after)
      tables.forEach((cols, t) => cols.forEach((c, i) => {
        const what = `${name}: ${t ? 'op' : 'change'} column 0x${c.spec.toString(16)}`
        variants.push([`${what} dropped`, withTable(t, cols.filter((_, j) => j !== i))])
        variants.push([`${what} listed with no data`, withTable(t, cols.map((x, j) => (j === i ? { ...x, data: Buffer.alloc(0) } : x)))])
      }))
      // An unknown column whose id is above 15, listed last: the library reads such specs
      // by their low byte. With no data, and (deflate bit set) with a little.
      for (const spec of [2 ** 24, 2 ** 24 + 9, 2 ** 24 + 10, 16 * 16 + 4]) {
        const data = spec & 8 ? zlib.deflateRawSync(Buffer.from([0xff, 0xff, 0xff])) : Buffer.alloc(0)
        tables.forEach((cols, t) => variants.push([`${name}: ${t ? 'op' : 'change'} column ${spec} added`, withTable(t, [...cols, { spec, data }])]))
      }
    }
    // Each bit of the change columns' data of one document flipped.
    const original = fs.readFileSync(path.join(corpus, 'many-actors', 'doc.bin'))
    const [, [changeCols]] = documentParts(original)
    const from = changeCols[0].data.byteOffset - original.byteOffset
    const to = from + changeCols.reduce((n, c) => n + c.data.length, 0)
    for (let at = from; at < to; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const bytes = Buffer.from(original)
        bytes[at] ^= 1 << bit
        variants.push([`many-actors: byte ${at} bit ${bit} flipped`, seal(bytes)])
      }
    }
    const problems = []
    let both = 0
    for (const [what, bytes] of variants) {
      const file = tmpFile('altered.bin')
      fs.writeFileSync(file, bytes)
      const r = run(['heads', file])
      if (r.status !== 0) continue
      try {
        assert.deepEqual(lines(r.stdout), sortedHeads(A.load(bytes)))
        both++
      } catch (e) {
        if (!/corrupt deflate stream/.test(e.message)) problems.push(`${what}: amstore loads it, the library: ${e.message.slice(0, 120)}`)
      }
    }
    assert.deepEqual(problems, [])
    assert.ok(both > 0 && variants.length > 300, `${variants.length} variants, ${both} loaded by both`)
  })
}

// ---------------------------------------------------------------------------
// Marks placed by hand: the library loads a mark whose end comes before its begin in the
// list, but not a document holding one (its own save). amstore refuses exactly those.

if (haveAmstore) {
  test('a mark end placed before its begin in the list is refused; others merge as in the library', () => {
    let doc = A.from({ t: '' }, { actor: 'aa' })
    doc = A.change(doc, (d) => A.splice(d, ['t'], 0, 0, 'hello'))  // h e l l o: 2@aa .. 6@aa
    const baseFile = tmpFile('marks-base.bin')
    fs.writeFileSync(baseFile, A.save(doc))
    // [begin's elemId, end's elemId]: the begin is 7@aa, the end 8@aa; siblings go newest first.
    const cases = [['2@aa', '4@aa'], ['2@aa', '7@aa'], ['_head', '6@aa'], ['2@aa', '2@aa'],
      ['4@aa', '2@aa'], ['_head', '_head'], ['6@aa', '_head']]
    let refused = 0
    for (const [beginAfter, endAfter] of cases) {
      const ops = [
        { action: 'markBegin', obj: '1@aa', elemId: beginAfter, insert: true, name: 'bold', value: true, expand: false, pred: [] },
        { action: 'markEnd', obj: '1@aa', elemId: endAfter, insert: true, expand: false, pred: [] },
      ]
      const change = A.encodeChange({ actor: 'aa', seq: 3, startOp: 7, time: 0, message: null, deps: A.getHeads(doc), ops })
      const changeFile = tmpFile('marks-change.bin')
      fs.writeFileSync(changeFile, change)
      const lib = A.loadIncremental(A.clone(doc), change)  // the library takes the change
      let reloaded
      try { reloaded = A.load(A.save(lib)) } catch (e) { reloaded = null }
      const where = `begin after ${beginAfter}, end after ${endAfter}`
      const out = tmpFile('marks-out.bin')
      const r = run(['merge', '-o', out, baseFile, changeFile])
      if (!reloaded) {
        refused++
        assert.notEqual(r.status, 0, `${where}: amstore merged what the library cannot load back`)
        assert.match(r.stderr, /mark end comes before its mark begin in the list/, where)
        continue
      }
      assert.equal(r.status, 0, `${where}: ${r.stderr}`)
      const merged = A.load(fs.readFileSync(out))
      assert.deepEqual(sortedHeads(merged), sortedHeads(lib), where)
      assert.deepEqual(A.marks(merged, ['t']), A.marks(reloaded, ['t']), where)
    }
    assert.equal(refused, 4)  // the last four: the end is a newer sibling, or before it
  })
}

// ---------------------------------------------------------------------------
// Mutated changes: the corpus's changes with one field altered (mutate-change.mjs), up to
// and including the altered one (and 30 % of the time the rest after it, which then wait
// for a dep that is gone), merged by amstore and loaded by the library.

// What amstore refuses although the library loads it (and loads its own save of it back):
// changes the library never makes, refused on purpose (README.md, "Decisions").
const STRICTER_THAN_LIBRARY = [
  /change deps are not sorted/, // a dep named twice
  /op preds are not sorted/,
  /op on a map object has no map key|op on a list or text object has a map key/,
  /op targets the head of a list/, // an overwrite of no element
  /tables are not supported/,
  /mark op is not an insert/,
  // An op on an object, element or pred made by a change that it does not depend on, which
  // amstore applied after it (the library applies an upload's changes in the order given).
  /op refers to an object that does not exist|op refers to a list element that does not exist/,
  /op's predecessor does not exist/,
]
if (haveAmstore) {
  const cases = Number(process.env.AMSTORE_MUTATIONS ?? 600)
  test(`${cases} mutated changes: what amstore merges, the library loads to its own heads and value`, (t) => {
    const chunks = new Map(scenarios.map((s) => [s, changeFiles(path.join(corpus, s)).map((f) => fs.readFileSync(f))])
      .filter(([, files]) => files.length > 0))
    const withChanges = [...chunks.keys()]
    const decoded = new Map() // per scenario, each change decoded (null: the library cannot)
    const decodedOf = (s) => {
      if (!decoded.has(s)) decoded.set(s, chunks.get(s).map((b) => { try { return A.decodeChange(b) } catch { return null } }))
      return decoded.get(s)
    }
    const canary = A.save(A.from({ x: 1 }))
    const inFile = tmpFile('mutated-in.bin')
    const outFile = tmpFile('mutated-out.bin')
    const problems = []
    const tally = {}
    const count = (k) => { tally[k] = (tally[k] ?? 0) + 1 }
    // The library's view of a document or of changes: heads and JSON value, or why it refused.
    const libraryView = (bytes) => {
      try {
        const d = A.loadIncremental(A.init(), bytes)
        return { heads: sortedHeads(d), value: parseJsonExact(docJson(d)), doc: d }
      } catch (e) {
        // A panic may leave the library's wasm instance unusable for every later case.
        assert.equal(A.getHeads(A.load(canary)).length, 1, `the library is unusable after: ${e.message}`)
        return { error: String(e.message).split('\n')[0] }
      }
    }
    for (let n = 0; n < cases; n++) {
      const rng = new Rng(0x5eed0000 + n)
      const scenario = rng.pick(withChanges)
      const all = chunks.get(scenario)
      const k = rng.int(0, all.length - 1)
      if (!decodedOf(scenario)[k]) {
        count('not decodable by the library') // integers beyond 2^53
        continue
      }
      const change = A.decodeChange(all[k]) // a copy of its own, to alter
      const earlier = decodedOf(scenario).slice(0, k).filter(Boolean)
      delete change.hash
      const kind = mutateChange(rng, change, earlier)
      if (!kind) continue
      let mutated
      try {
        mutated = A.encodeChange(change)
      } catch {
        count('not encodable by the library')
        continue
      }
      const input = Buffer.concat([...all.slice(0, k), mutated, ...(rng.chance(0.3) ? all.slice(k + 1) : [])])
      const where = `case ${n} (${scenario}, change ${k}, ${kind})`
      fs.writeFileSync(inFile, input)
      fs.rmSync(outFile, { force: true })
      const lib = libraryView(input)
      const r = run(['merge', '-o', outFile, inFile])
      if (r.signal !== null || (r.status !== 0 && r.status !== 1)) {
        problems.push(`${where}: amstore exited ${r.status} (signal ${r.signal}): ${r.stderr}`)
        continue
      }
      if (r.status === 1) {
        count(lib.error ? 'both refuse' : 'amstore refuses')
        if (lib.error) continue
        // Stricter than the library is fine where the library could not keep it either.
        const reloaded = libraryView(A.save(lib.doc))
        if (reloaded.error) continue
        if (!STRICTER_THAN_LIBRARY.some((re) => re.test(r.stderr)))
          problems.push(`${where}: amstore refuses what the library loads: ${r.stderr.trim()}`)
        continue
      }
      count(lib.error ? 'amstore merges what the library refuses' : 'both accept')
      if (lib.error) {
        problems.push(`${where}: amstore merges what the library refuses (${lib.error})`)
        continue
      }
      const out = libraryView(fs.readFileSync(outFile))
      if (out.error) {
        problems.push(`${where}: the library cannot load amstore's merge: ${out.error}`)
        continue
      }
      if (JSON.stringify(out.heads) !== JSON.stringify(lib.heads)) problems.push(`${where}: heads differ from the library's`)
      else if (!isDeepStrictEqual(out.value, lib.value)) problems.push(`${where}: value differs from the library's`)
      else if (!isDeepStrictEqual(parseJsonExact(ok(['show', outFile])), lib.value)) problems.push(`${where}: amstore show differs from the library's value`)
    }
    t.diagnostic(Object.entries(tally).map(([k, v]) => `${k}: ${v}`).join(', '))
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`)
    // The mutations reach both ways: each outcome happens often.
    assert.ok((tally['both accept'] ?? 0) > cases / 20, 'few mutated changes were accepted')
    assert.ok((tally['both refuse'] ?? 0) > cases / 20, 'few mutated changes were refused')
  })
}
