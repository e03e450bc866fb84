#!/usr/bin/env node
// Payload generator for the format-core benchmark (bench/format/run).
//
//   node gen.mjs OUTDIR
//
// Writes, with the real @automerge/automerge@3.5.0 (the copy pinned by tests/interop):
//   OUTDIR/doc.bin, doc-forkA.bin, doc-forkB.bin      "doc":  ~10,000 changes, ~1 MB
//   OUTDIR/text.bin, text-forkA.bin, text-forkB.bin   "text": 100,000 characters typed one
//                                                     character per change
//   OUTDIR/manifest.json                              sizes, change counts, heads
// Everything (actors, times, randomness) is fixed, so the output is the same on every run.
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { Rng } from '../../tests/interop/rng.mjs'
import { sentence, vocabulary } from '../prose.mjs'

const require = createRequire(new URL('../../tests/interop/package.json', import.meta.url))
const A = require('@automerge/automerge')

const GEN_VERSION = 1
const DOC_CHANGES = +(process.env.DOC_CHANGES || 10000)    // changes in the "doc" base
const TEXT_CHARS = 100000     // final length of the "text" base
const FORK_CHANGES = 200      // extra changes in each fork
const NPAGES = 20             // text pages in "doc"

// ---------------------------------------------------------------------------
const actor16 = (b) => b.toString(16).padStart(2, '0').repeat(16)
const T0 = 1700000000

// ---------------------------------------------------------------------------
// "doc": a shared project workspace edited by 6 actors: NPAGES pages of text, a list of
// task maps (text titles, booleans, counters, tag lists, nested maps), a settings map
// and a few counters. Actors work in rounds and sync (merge) after each round, so there
// is real concurrency: interleaved list/text inserts, concurrent counter increments and
// occasional map conflicts.
function docEdit(x, rng, vocab, actorIdx, st) {
  // st.lens[p] tracks x.pages[p].body.length: reading it from the proxy renders the text.
  const r = rng.next()
  const p = Math.min(rng.int(0, NPAGES - 1), rng.int(0, NPAGES - 1))  // low pages are hotter
  const len = st.lens[p]
  if (r < 0.40) {
    // type a phrase into a page
    const pos = rng.chance(0.6) ? len : rng.int(0, len)
    let s = ''
    for (let i = rng.int(1, 5); i > 0; i--) s += sentence(rng, vocab, rng.int(6, 32))
    A.splice(x, ['pages', p, 'body'], pos, 0, s)
    st.lens[p] += s.length
  } else if (r < 0.48 && len > 50) {
    // delete (and maybe retype) a span of a page
    const pos = rng.int(0, len - 20)
    const del = rng.int(1, 15)
    const s = rng.chance(0.5) ? sentence(rng, vocab, rng.int(1, 3)) : ''
    A.splice(x, ['pages', p, 'body'], pos, del, s)
    st.lens[p] += s.length - del
  } else if (r < 0.58 || x.tasks.length < 5) {
    // add a task
    const pos = rng.chance(0.7) ? x.tasks.length : rng.int(0, x.tasks.length)
    x.tasks.insertAt(pos, {
      id: rng.hex(12),
      link: 'https://example.org/' + rng.hex(10),
      title: sentence(rng, vocab, rng.int(2, 6)).trim(),
      description: sentence(rng, vocab, rng.int(5, 20)) + sentence(rng, vocab, rng.int(5, 20)),
      done: false,
      votes: new A.Counter(0),
      priority: rng.int(1, 5),
      tags: [rng.pick(vocab), rng.pick(vocab)],
      created: new Date((T0 + rng.int(0, 1e6)) * 1000),
      owner: { actor: actorIdx, estimate: rng.int(1, 40) / 2 },
    })
  } else if (r < 0.68) {
    // edit a task title
    const t = x.tasks[rng.int(0, x.tasks.length - 1)]
    const len = t.title.length
    const pos = rng.int(0, len)
    const del = Math.min(len - pos, rng.int(0, 4))
    A.splice(t, ['title'], pos, del, rng.pick(vocab) + ' ')
  } else if (r < 0.74) {
    const t = x.tasks[rng.int(0, x.tasks.length - 1)]
    t.done = !t.done
    if (rng.chance(0.3)) t.priority = rng.int(1, 5)
  } else if (r < 0.82) {
    const t = x.tasks[rng.int(0, x.tasks.length - 1)]
    t.votes.increment(rng.int(1, 3))
    x.stats.views.increment(1)
  } else if (r < 0.87) {
    const t = x.tasks[rng.int(0, x.tasks.length - 1)]
    if (t.tags.length > 4 && rng.chance(0.5)) t.tags.deleteAt(rng.int(0, t.tags.length - 1))
    else t.tags.push(rng.pick(vocab))
  } else if (r < 0.93) {
    const key = 'k' + rng.int(0, 60)
    const v = rng.int(0, 3)
    x.settings[key] = v === 0 ? rng.int(-1e6, 1e6) : v === 1 ? rng.pick(vocab) : v === 2 ? rng.chance(0.5) : rng.next()
  } else if (r < 0.96 && x.tasks.length > 20) {
    x.tasks.deleteAt(rng.int(0, x.tasks.length - 1))
  } else {
    // several small edits in one change
    x.stats.edits.increment(1)
    for (let i = rng.int(2, 6); i > 0; i--) {
      const t = x.tasks[rng.int(0, x.tasks.length - 1)]
      t.owner.estimate = rng.int(1, 40) / 2
    }
  }
}

function genDoc() {
  const rng = new Rng(0xd0c)
  const vocab = vocabulary(rng, 20000)
  const NA = 6
  let time = T0
  let base = A.init({ actor: actor16(0x01) })
  base = A.change(base, { time: time++, message: 'init' }, (x) => {
    x.title = 'Project workspace'
    x.pages = []
    for (let p = 0; p < NPAGES; p++) x.pages.push({ name: 'page ' + p, body: '' })
    x.tasks = []
    x.settings = { theme: 'dark' }
    x.stats = { views: new A.Counter(0), edits: new A.Counter(0) }
  })
  let count = 1
  let actors = []
  for (let i = 0; i < NA; i++) actors.push(A.clone(base, { actor: actor16(0x01 + i) }))
  const states = actors.map(() => ({ lens: new Array(NPAGES).fill(0) }))
  const pageLens = (d) => d.pages.map((pg) => pg.body.length)
  while (count < DOC_CHANGES) {
    const made = actors.map(() => [])
    for (let i = 0; i < NA && count < DOC_CHANGES; i++) {
      const n = rng.int(10, 60)
      for (let k = 0; k < n && count < DOC_CHANGES; k++) {
        const msg = rng.chance(0.1) ? sentence(rng, vocab, 3).trim() : undefined
        const next = A.change(actors[i], { time: time++, message: msg }, (x) => docEdit(x, rng, vocab, i, states[i]))
        if (next !== actors[i]) {  // an edit that made no op makes no change
          count++
          made[i].push(A.getLastLocalChange(next))
        }
        actors[i] = next
      }
    }
    // sync: actor 0 receives the others' changes of this round and every other actor
    // continues from a fork of it, so the next round is concurrent again. (The library's
    // applyChanges walks the whole op set on every call, whereas a fork is cheap.)
    const theirs = made.slice(1).flat()
    if (theirs.length) [actors[0]] = A.applyChanges(actors[0], theirs)
    for (let i = 1; i < NA; i++) actors[i] = A.clone(actors[0], { actor: actor16(0x01 + i) })
    const lens = pageLens(actors[0])
    for (const st of states) st.lens = lens.slice()
  }
  const doc = actors[0]
  const forks = [0x71, 0x72].map((b, f) => {
    let d = A.clone(doc, { actor: actor16(b) })
    const frng = new Rng(0xf0 + f)
    const st = { lens: pageLens(doc) }
    for (let k = 0; k < FORK_CHANGES;) {
      const next = A.change(d, { time: time++ }, (x) => docEdit(x, frng, vocab, 10 + f, st))
      if (next !== d) k++
      d = next
    }
    return d
  })
  return { doc, forks }
}

// ---------------------------------------------------------------------------
// "text": one typist writes 100,000 characters, one character per change: mostly at the
// cursor, with backspaces, and now and then the cursor jumps elsewhere.
function typeChars(d, rng, vocab, state, n, time) {
  let typed = 0
  while (typed < n) {
    const word = rng.pick(vocab) + (rng.chance(0.1) ? (rng.chance(0.3) ? '.\n' : '. ') : ' ')
    for (const ch of word) {
      d = A.change(d, { time: time.t++ }, (x) => A.splice(x, ['text'], state.cursor, 0, ch))
      state.cursor++; state.len++; typed++
      if (rng.chance(0.03) && state.cursor > 0) {   // typo: backspace
        d = A.change(d, { time: time.t++ }, (x) => A.splice(x, ['text'], state.cursor - 1, 1))
        state.cursor--; state.len--; typed--
      }
      if (typed >= n) break
    }
    if (rng.chance(0.01)) state.cursor = rng.int(0, state.len)  // click elsewhere
    if (rng.chance(0.02)) state.cursor = state.len              // back to the end
  }
  return d
}

function genText() {
  const rng = new Rng(0x7e47)
  const vocab = vocabulary(rng, 2000)
  const time = { t: T0 }
  let d = A.init({ actor: actor16(0x21) })
  d = A.change(d, { time: time.t++ }, (x) => { x.text = '' })
  const state = { cursor: 0, len: 0 }
  d = typeChars(d, rng, vocab, state, TEXT_CHARS, time)
  const forks = [0x81, 0x82].map((b, f) => {
    let fd = A.clone(d, { actor: actor16(b) })
    const frng = new Rng(0xe0 + f)
    const st = { cursor: frng.int(0, state.len), len: state.len }
    return typeChars(fd, frng, vocab, st, FORK_CHANGES, { t: time.t + 1000 * f })
  })
  return { doc: d, forks }
}

// ---------------------------------------------------------------------------
const out = process.argv[2]
if (!out) { console.error('usage: node gen.mjs OUTDIR'); process.exit(2) }
fs.mkdirSync(out, { recursive: true })
const manifest = { generator: GEN_VERSION, automerge: JSON.parse(fs.readFileSync(new URL('../../tests/interop/node_modules/@automerge/automerge/package.json', import.meta.url))).version, payloads: {} }
for (const [name, gen] of [['doc', genDoc], ['text', genText]]) {
  const t0 = performance.now()
  const { doc, forks } = gen()
  const files = { base: A.save(doc), forkA: A.save(forks[0]), forkB: A.save(forks[1]) }
  fs.writeFileSync(path.join(out, `${name}.bin`), files.base)
  fs.writeFileSync(path.join(out, `${name}-forkA.bin`), files.forkA)
  fs.writeFileSync(path.join(out, `${name}-forkB.bin`), files.forkB)
  const merged = A.merge(A.clone(forks[0]), forks[1])
  manifest.payloads[name] = {
    changes: A.getAllChanges(doc).length,
    bytes: files.base.length,
    fork_changes: A.getAllChanges(forks[0]).length - A.getAllChanges(doc).length,
    fork_bytes: [files.forkA.length, files.forkB.length],
    heads: A.getHeads(doc).sort(),
    merged_heads: A.getHeads(merged).sort(),
    text_length: name === 'text' ? doc.text.length : doc.pages.reduce((n, pg) => n + pg.body.length, 0),
    gen_seconds: +((performance.now() - t0) / 1000).toFixed(1),
  }
  console.error(`gen: ${name}: ${JSON.stringify(manifest.payloads[name])}`)
}
fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
