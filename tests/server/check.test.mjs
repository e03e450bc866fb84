// `amstore check`: a data directory written by a real server, then torn and damaged on disk
// by hand. The check must say what each document's files hold without changing any of
// them, and predict what the server then serves once its first requests have mended them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {
  AMSTORE_BIN, Automerge as A, baseDoc, download, flipBits, forkFor, startServer, storedFiles,
  tempDir, upload
} from './helpers.mjs'

function check (dataDir, ids = []) {
  const r = spawnSync(AMSTORE_BIN, ['check', '--data-dir', dataDir, ...ids], { encoding: 'utf8' })
  const lines = r.stdout.trim().split('\n')
  const byId = Object.fromEntries(lines.filter((l) => /^[\w-]+: /.test(l) && !l.startsWith('set aside'))
    .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]))
  return { status: r.status, stderr: r.stderr, lines, byId }
}

// Every file of the directory with its bytes' hash; lock files aside (the check, like any
// reader, locks a document through its lock file, made when missing).
function snapshotDir (dataDir) {
  return Object.fromEntries(fs.readdirSync(dataDir).filter((n) => !n.endsWith('.lock')).sort().map((n) =>
    [n, crypto.createHash('sha256').update(fs.readFileSync(path.join(dataDir, n))).digest('hex')]))
}

test('amstore check reports torn, damaged and unreadable documents and changes nothing', async () => {
  const dataDir = tempDir('check')
  const ids = ['fine', 'torn', 'log-damaged', 'tail-damaged', 'magic-damaged', 'snapshot-damaged']
  let doc = forkFor(baseDoc(), 0)
  const logChunks = {}
  let server = await startServer({ dataDir, args: ['--quiet'] })
  try {
    for (const id of ids) {
      assert.equal((await upload(server.url, id, A.save(doc))).status, 200)
      logChunks[id] = []
      for (let i = 0; i < 3; i++) {
        doc = A.change(doc, { time: 0 }, (d) => { d[`${id}${i}`] = i })
        const change = A.getLastLocalChange(doc)
        logChunks[id].push(change.length)
        assert.equal((await upload(server.url, id, change)).status, 200)
      }
    }
  } finally {
    assert.equal((await server.stop()).code, 0)
  }

  const file = (name) => path.join(dataDir, name)
  const flip = (name, at) => flipBits(file(name), at, 0x40)
  // A crash's torn append: half a chunk after the whole ones.
  const tornBytes = Math.floor(logChunks.torn[0] / 2)
  fs.appendFileSync(file('torn.automerge.log'), fs.readFileSync(file('torn.automerge.log')).subarray(0, tornBytes))
  // A bit flipped in the log's first change: the two after it wait for it.
  flip('log-damaged.automerge.log', Math.floor(logChunks['log-damaged'][0] / 2))
  // A bit flipped in the log's last change, all of whose bytes are there: damage, not a
  // torn append; it is set aside before it is cut off.
  const tailLog = fs.statSync(file('tail-damaged.automerge.log')).size
  const tailBytes = logChunks['tail-damaged'][2]
  flip('tail-damaged.automerge.log', tailLog - 2)
  const tailDamaged = fs.readFileSync(file('tail-damaged.automerge.log')).subarray(tailLog - tailBytes)
  // A bit flipped in the magic number of the log's last change: mended, nothing lost.
  const magicLog = fs.statSync(file('magic-damaged.automerge.log')).size
  const magicAt = magicLog - logChunks['magic-damaged'][2]
  flip('magic-damaged.automerge.log', magicAt + 1)
  // A bit flipped in the snapshot: its document is lost; the log's changes wait for it.
  const snapSize = fs.statSync(file('snapshot-damaged.automerge')).size
  flip('snapshot-damaged.automerge', Math.floor(snapSize / 2))
  // Whole chunks that do not load: a change chunk with a checksum that matches a body that
  // is not a change.
  const body = Buffer.from([0x01, 0x01, 0x00])  // type 1, length 1, one byte
  const sum = crypto.createHash('sha256').update(body).digest().subarray(0, 4)
  fs.writeFileSync(file('unreadable.automerge'), Buffer.concat([Buffer.from([0x85, 0x6f, 0x4a, 0x83]), sum, body]))

  const before = snapshotDir(dataDir)
  const c = check(dataDir)
  assert.equal(c.status, 1, c.lines.join('\n'))
  assert.deepEqual(snapshotDir(dataDir), before)  // nothing changed, nothing added
  assert.match(c.byId.fine, /^ok: \d+ changes, 0 waiting for dependencies, 1 head;/)
  assert.match(c.byId.torn, new RegExp(`^torn: the log's last ${tornBytes} B are a crash's torn append`))
  assert.match(c.byId['log-damaged'], /^damaged: log from byte 0 on, 2 whole chunks after it;.* 2 waiting for dependencies, 1 head;/)
  assert.match(c.byId['tail-damaged'], new RegExp(`^damaged: log ends in ${tailBytes} B from byte ${tailLog - tailBytes} on that no crash leaves \\(a whole chunk failing its checksum, or bytes that do not start a chunk\\); the next request sets those bytes aside and cuts them off, leaving \\d+ changes, 0 waiting for dependencies, 1 head;`))
  assert.match(c.byId['magic-damaged'], new RegExp(`^damaged: log from byte ${magicAt} on, 1 whole chunk after it; 1 chunk of those mended \\(only the magic number was damaged\\); the next request keeps every whole chunk, sets the damaged bytes aside and rewrites the snapshot, leaving \\d+ changes, 0 waiting for dependencies, 1 head;`))
  assert.match(c.byId['snapshot-damaged'], /^damaged: snapshot from byte 0 on, 0 whole chunks in it;.* leaving 0 changes, 3 waiting for dependencies, 0 heads;/)
  assert.match(c.byId.unreadable, /^unreadable: stored snapshot unreadable\.automerge is unreadable: /)
  assert.equal(c.lines.at(-1), '7 documents: 1 ok, 1 torn, 4 damaged, 1 unreadable')
  const fineChanges = Number(/ok: (\d+) changes/.exec(c.byId.fine)[1])
  assert.equal(fineChanges, A.getAllChanges(A.load(new Uint8Array(Buffer.concat(Object.values(storedFiles(dataDir, 'fine')))))).length)

  // --repair mends two of them now, as a request would.
  const repair = check(dataDir, ['--repair', 'torn', 'log-damaged'])
  assert.equal(repair.status, 0, repair.lines.join('\n'))
  assert.deepEqual(repair.lines.filter((l) => / repaired: /.test(l)).map((l) => l.split(':')[0]), ['torn', 'log-damaged'])
  assert.equal(repair.lines.at(-1), '2 documents: 0 ok, 1 torn, 1 damaged, 0 unreadable; 2 repaired')
  // The server's first requests mend the others as the check said they would.
  server = await startServer({ dataDir, args: ['--quiet'] })
  try {
    for (const id of ids) assert.equal((await download(server.url, id)).status, 200)
    const tail = A.load((await download(server.url, 'tail-damaged')).bytes)
    assert.deepEqual([tail['tail-damaged0'], tail['tail-damaged1'], tail['tail-damaged2']], [0, 1, undefined])
    const magic = A.load((await download(server.url, 'magic-damaged')).bytes)
    assert.deepEqual([magic['magic-damaged0'], magic['magic-damaged1'], magic['magic-damaged2']], [0, 1, 2])
    assert.equal((await download(server.url, 'unreadable')).status, 500)
  } finally {
    assert.equal((await server.stop()).code, 0)
  }
  // What cannot be mended stays: --repair says so.
  const unmendable = check(dataDir, ['--repair', 'unreadable'])
  assert.equal(unmendable.status, 1)
  assert.match(unmendable.byId.unreadable, /^unreadable: /)
  const after = check(dataDir, ids)
  assert.equal(after.status, 0, after.lines.join('\n'))
  assert.equal(after.byId.torn, c.byId.torn.replace(/^torn: .*?; /, 'ok: ').replace(/log \d+ B$/, `log ${fs.statSync(file('torn.automerge.log')).size} B`))
  assert.match(after.byId['log-damaged'], /^ok: \d+ changes, 2 waiting for dependencies, 1 head; snapshot \d+ B, log 0 B$/)
  assert.match(after.byId['snapshot-damaged'], /^ok: 0 changes, 3 waiting for dependencies, 0 heads; snapshot \d+ B, log 0 B$/)
  assert.match(after.byId['tail-damaged'], new RegExp(`^ok: \\d+ changes, 0 waiting for dependencies, 1 head; snapshot \\d+ B, log ${tailLog - tailBytes} B$`))
  assert.match(after.byId['magic-damaged'], /^ok: \d+ changes, 0 waiting for dependencies, 1 head; snapshot \d+ B, log 0 B$/)
  assert.equal(after.lines.filter((l) => l.startsWith('set aside: ')).length, 4)
  const tailAside = `tail-damaged.automerge.log.damaged.${crypto.createHash('sha256').update(tailDamaged).digest('hex').slice(0, 16)}`
  assert.ok(after.lines.includes(`set aside: ${tailAside} (${tailBytes} B)`), after.lines.join('\n'))
  assert.deepEqual(fs.readFileSync(file(tailAside)), tailDamaged)
  assert.equal(after.lines.at(-1), '6 documents: 6 ok, 0 torn, 0 damaged, 0 unreadable')

  // Not a directory: a clear error.
  const missing = check(path.join(dataDir, 'nope'))
  assert.equal(missing.status, 1)
  assert.match(missing.stderr, /is not a directory/)
})
