#!/usr/bin/env node
// Deterministic golden corpus generator for amstore interop tests.
//
//   node gen-corpus.mjs OUTDIR
//
// For every scenario NAME it writes OUTDIR/NAME/:
//   doc.bin              Automerge.save(doc)
//   changes/NNNNNN.bin   Automerge.getAllChanges(doc), in the returned order
//   heads.txt            Automerge.getHeads(doc), sorted lowercase hex, one per line
//   value.json           normalize(Automerge.toJS(doc)) (see json-mapping.mjs)
//   forks/N.bin          (multi-actor scenarios) save() of each actor's replica;
//                        merging them in order gives exactly doc.bin's heads and value
// Actor ids, change times and all randomness are fixed, so the output is
// byte-identical from run to run.
import * as A from '@automerge/automerge'
import fs from 'node:fs'
import path from 'node:path'
import { docJson } from './json-mapping.mjs'
import { Rng } from './rng.mjs'

// ---------------------------------------------------------------------------
// Helpers

/** 16-byte actor id made of one repeated byte, e.g. actor16(0xa1) = 'a1a1…a1'. */
const actor16 = (byte) => byte.toString(16).padStart(2, '0').repeat(16)

const T0 = 1700000000 // a fixed "now" in seconds

function ch(doc, fn, opts = {}) {
  return A.change(doc, { time: 0, ...opts }, fn)
}

/** Split a string into code points (so edits never cut a surrogate pair). */
const codePoints = (s) => Array.from(s)
/** UTF-16 offset of code point index cp in s. */
function utf16Offset(s, cp) {
  let off = 0
  let i = 0
  for (const c of s) {
    if (i === cp) break
    off += c.length
    i++
  }
  return off
}

// ---------------------------------------------------------------------------
// Scenarios. Each returns { doc } or { forks: [doc, ...] }.

const scenarios = []
const scenario = (name, fn) => scenarios.push({ name, fn })

scenario('empty', () => ({ doc: A.init({ actor: 'aa' }) }))

scenario('only-empty-changes', () => {
  let d = A.init({ actor: 'aa' })
  d = A.emptyChange(d, { time: 0 })
  d = A.emptyChange(d, { time: 1, message: 'empty' })
  d = A.emptyChange(d, { time: T0, message: '' })
  return { doc: d }
})

scenario('values-basic', () => {
  let d = A.init({ actor: actor16(0x01) })
  d = ch(d, (x) => {
    x.nul = null
    x.yes = true
    x.no = false
    x.zero = 0
    x.one = 1
    x.minusOne = -1
    x.int = 42
    x.str = 'hello'
    x.imm = new A.ImmutableString('immutable')
    x.bytes = new Uint8Array([0, 1, 2, 253, 254, 255])
    x.date = new Date(1700000000123)
    x.counter = new A.Counter(5)
    x.float = 1.5
    x.map = { a: 1 }
    x.list = [1, 'two', null]
  })
  return { doc: d }
})

scenario('values-ints', () => {
  let d = A.init({ actor: actor16(0x02) })
  d = ch(d, (x) => {
    x.a = 2 ** 31 - 1
    x.b = 2 ** 31
    x.c = -(2 ** 31)
    x.d = -(2 ** 31) - 1
    x.e = 2 ** 32 + 1
    x.f = -1099511627776
    x.g = 1e15
    x.h = 2 ** 53 - 1 // surfaces as BigInt in toJS
    x.i = -(2 ** 53 - 1)
    x.j = new A.Int(-7)
    x.k = new A.Int(123456789)
    x.l = -123456789012
    x.m = -(2n ** 60n) // int beyond 2^53
    x.n = -(2n ** 63n) // i64 min
    x.o = -5n
    x.p = 63
    x.q = 64
    x.r = -64
    x.s = -65
  })
  d = ch(d, (x) => {
    x.a = -1
    x.list = [0, -1, 2 ** 40, -(2 ** 40), 0]
    // Int/Uint/Float64 wrappers only take effect when assigned directly to a
    // property or index; inside array/object literals the library stores a map
    x.list[4] = new A.Int(9)
  })
  return { doc: d }
})

scenario('values-uint', () => {
  let d = A.init({ actor: actor16(0x03) })
  d = ch(d, (x) => {
    x.u0 = new A.Uint(0)
    x.u7 = new A.Uint(7)
    x.u127 = new A.Uint(127)
    x.u128 = new A.Uint(128)
    x.u32 = new A.Uint(2 ** 32)
    x.safe = new A.Uint(2 ** 53 - 1)
    x.big1 = 2n ** 53n + 1n
    x.big2 = 2n ** 60n + 12345n
    x.big3 = 2n ** 63n
    x.max = 2n ** 64n - 1n
    x.list = [0, 2n ** 62n, 2n ** 64n - 2n]
    x.list[0] = new A.Uint(1)
  })
  return { doc: d }
})

scenario('values-floats', () => {
  let d = A.init({ actor: actor16(0x04) })
  d = ch(d, (x) => {
    x.f01 = 0.1
    x.f1e21 = new A.Float64(1e21)
    x.f1e20 = new A.Float64(1e20)
    x.f1em7 = 1e-7
    x.f1em6 = 0.000001
    x.negzero = new A.Float64(-0)
    x.three = new A.Float64(3)
    x.half = 0.5
    x.neg = -2.5e-300
    x.tiny = 5e-324
    x.max = new A.Float64(Number.MAX_VALUE) // a plain integral number would be stored as an int
    x.pi = Math.PI
    x.big = new A.Float64(2 ** 60)
    x.third = 1 / 3
    x.e = 123.456e-20
    x.list = [0.25, -0.125, 0, 0, 2.2250738585072014e-308]
    x.list[2] = new A.Float64(1)
    x.list[3] = new A.Float64(-1.7976931348623157e308)
  })
  return { doc: d }
})

scenario('values-strings', () => {
  let d = A.init({ actor: actor16(0x05) })
  d = ch(d, (x) => {
    x.empty = ''
    x.ascii = 'hello world'
    x.latin = 'héllo wörld ñ'
    x.cjk = '日本語のテキスト'
    x.emoji = '😀🎉👨‍👩‍👧‍👦🇯🇵'
    x.combining = 'e\u0301 n\u0303 a\u030a\u0323'
    x.nonbmp = '𠀀𝄞𝔘𝔫𝔦'
    x.escapes = 'quote" backslash\\ slash/ nl\n tab\t cr\r bell\u0007 nul\u0000 del\u007f'
    x.bidi = 'abc \u202e def \u200f'
    x.imm_empty = new A.ImmutableString('')
    x.imm_uni = new A.ImmutableString('ünï😀\u0301')
    x.list = ['a', new A.ImmutableString('b'), '😀']
  })
  return { doc: d }
})

scenario('values-bytes', () => {
  let d = A.init({ actor: actor16(0x06) })
  const big = new Uint8Array(300)
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff
  d = ch(d, (x) => {
    x.empty = new Uint8Array(0)
    x.one = new Uint8Array([0xff])
    x.two = new Uint8Array([0x00, 0x10])
    x.three = new Uint8Array([1, 2, 3])
    x.big = big
    x.list = [new Uint8Array([9]), new Uint8Array([])]
  })
  return { doc: d }
})

scenario('values-dates', () => {
  let d = A.init({ actor: actor16(0x07) })
  d = ch(d, (x) => {
    x.epoch = new Date(0)
    x.ms = new Date(1700000000123)
    x.before = new Date(-1)
    x.y1900 = new Date(Date.UTC(1900, 0, 1, 12, 30, 15, 7))
    x.y2038 = new Date(Date.UTC(2038, 0, 19, 3, 14, 8))
    x.list = [new Date(86400000), new Date(1)]
  })
  return { doc: d }
})

scenario('values-dates-extreme', () => {
  let d = A.init({ actor: actor16(0x08) })
  d = ch(d, (x) => {
    x.y10000 = new Date(Date.UTC(10000, 0, 1))
    x.yMinus1 = new Date(Date.UTC(-1, 5, 1))
    x.y0 = new Date(Date.UTC(0, 0, 1))
    x.max = new Date(8.64e15)
    x.min = new Date(-8.64e15)
  })
  return { doc: d }
})

scenario('values-counters', () => {
  let d = A.init({ actor: actor16(0x09) })
  d = ch(d, (x) => {
    x.c0 = new A.Counter(0)
    x.cneg = new A.Counter(-5)
    x.c10 = new A.Counter(10)
    x.list = [new A.Counter(1), new A.Counter(2)]
    x.map = { c: new A.Counter(100) }
  })
  d = ch(d, (x) => {
    x.c0.increment(3)
    x.cneg.decrement(10)
    x.c10.increment(-10)
    x.list[0].increment(5)
    x.map.c.increment(1)
  }, { time: 1 })
  d = ch(d, (x) => {
    x.c0.increment(1)
    x.list[1].increment(1000000)
  }, { time: 2 })
  return { doc: d }
})

scenario('nested', () => {
  let d = A.init({ actor: actor16(0x0a) })
  d = ch(d, (x) => {
    x.a = { b: { c: [1, [2, [3, { d: 'deep', e: [] }]]] } }
    x.emptyMap = {}
    x.emptyList = []
    x.emptyText = ''
    x.listOfMaps = [{ id: 1, tags: ['x', 'y'] }, { id: 2, tags: [] }]
    x.mapOfLists = { l1: [1, 2], l2: [[true], [false, null]] }
  })
  d = ch(d, (x) => {
    x.a.b.c[1][1][1].d = 'changed'
    x.a.b.c[1][1][1].e.push({ f: 1 })
    x.listOfMaps[1].tags.push('z')
    x.mapOfLists.l2[1][1] = { replaced: true }
    delete x.mapOfLists.l1
  }, { time: 1 })
  d = ch(d, (x) => {
    x.emptyMap = 'now a string'
    x.a.b = 5 // replace a whole subtree with a scalar
    x.emptyList = { now: 'a map' }
  }, { time: 2 })
  return { doc: d }
})

scenario('list-ops', () => {
  let d = A.init({ actor: actor16(0x0b) })
  d = ch(d, (x) => { x.l = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] })
  d = ch(d, (x) => { A.insertAt(x.l, 0, 'first'); A.insertAt(x.l, 5, 'mid1', 'mid2'); x.l.push('last') })
  d = ch(d, (x) => { A.deleteAt(x.l, 1); A.deleteAt(x.l, 3, 2) })
  d = ch(d, (x) => { x.l[0] = 'overwritten'; x.l[2] = { obj: true }; x.l[3] = [1, 2] })
  d = ch(d, (x) => { x.l.splice(4, 2, 'sp1', 'sp2', 'sp3'); x.l.unshift('u') })
  d = ch(d, (x) => { x.l.pop(); x.l.shift() })
  d = ch(d, (x) => { x.l[1] = null; x.l[1] = 'twice' }) // overwrite twice in one change
  d = ch(d, (x) => { x.gone = [1, 2, 3] })
  d = ch(d, (x) => { x.gone.splice(0, 3) })
  d = ch(d, (x) => { x.l2 = []; for (let i = 0; i < 50; i++) x.l2.push(i) })
  d = ch(d, (x) => { for (let i = 49; i >= 0; i -= 3) A.deleteAt(x.l2, i) })
  return { doc: d }
})

scenario('list-concurrent', () => {
  let base = A.init({ actor: actor16(0x10) })
  base = ch(base, (x) => { x.l = ['a', 'b', 'c', 'd'] })
  let p = A.clone(base, { actor: actor16(0x11) })
  let q = A.clone(base, { actor: actor16(0x12) })
  let r = A.clone(base, { actor: actor16(0x13) })
  p = ch(p, (x) => { A.insertAt(x.l, 1, 'p1', 'p2'); A.deleteAt(x.l, 3) }, { time: 10 })
  q = ch(q, (x) => { A.insertAt(x.l, 1, 'q1'); x.l[2] = 'B' }, { time: 11 })
  r = ch(r, (x) => { A.deleteAt(x.l, 1); A.insertAt(x.l, 0, 'r0') }, { time: 12 })
  base = ch(base, (x) => { x.l.push('e'); x.l[0] = 'A' }, { time: 13 })
  // concurrent delete + overwrite of the same element
  q = A.merge(q, r)
  q = ch(q, (x) => { x.l[0] = 'over-r0' }, { time: 14 })
  r = ch(r, (x) => { A.deleteAt(x.l, 0) }, { time: 15 })
  return { forks: [base, p, q, r] }
})

scenario('text-unicode', () => {
  let d = A.init({ actor: actor16(0x14) })
  d = ch(d, (x) => { x.t = '' })
  d = ch(d, (x) => { A.splice(x, ['t'], 0, 0, 'Hello, world!') })
  d = ch(d, (x) => { A.splice(x, ['t'], 7, 5, '😀🎉') }) // replace "world" with emoji
  d = ch(d, (x) => { A.splice(x, ['t'], 0, 0, 'e\u0301') }) // combining acute
  d = ch(d, (x) => {
    const s = x.t
    A.splice(x, ['t'], s.length, 0, ' 👨‍👩‍👧 🇯🇵 𝄞 日本 n\u0303')
  })
  d = ch(d, (x) => {
    // delete the first emoji (a surrogate pair = 2 UTF-16 units)
    const off = x.t.indexOf('😀')
    A.splice(x, ['t'], off, 2)
  })
  d = ch(d, (x) => { A.updateText(x, ['t'], x.t.replace('Hello', 'Grüße')) })
  d = ch(d, (x) => { x.other = 'abc'; A.splice(x, ['other'], 1, 1, '\u0000\n"\\') })
  d = ch(d, (x) => { x.texts = ['one', 'two😀'] })
  d = ch(d, (x) => { A.splice(x, ['texts', 1], 3, 0, '✓') })
  return { doc: d }
})

scenario('text-typed', () => {
  // a text typed one character at a time (a few thousand chars)
  let d = A.init({ actor: actor16(0x15) })
  d = ch(d, (x) => { x.text = '' })
  const rng = new Rng(15)
  const alphabet = 'abcdefghijklmnopqrstuvwxyz     ,.éü'
  let len = 0 // UTF-16 length
  for (let i = 0; i < 3000; i++) {
    let ins
    if (i % 97 === 0) ins = '😀'
    else if (i % 50 === 0) ins = '\n'
    else ins = alphabet[rng.int(0, alphabet.length - 1)]
    const time = T0 + i
    if (i % 41 === 40 && len > 0) {
      // a backspace (never splitting a surrogate pair: re-read the text)
      d = ch(d, (x) => {
        const cps = codePoints(x.text)
        const last = cps[cps.length - 1]
        A.splice(x, ['text'], x.text.length - last.length, last.length)
        len -= last.length
      }, { time })
      continue
    }
    d = ch(d, (x) => { A.splice(x, ['text'], len, 0, ins) }, { time })
    len += ins.length
  }
  return { doc: d }
})

scenario('text-typed-chunks', () => {
  // several characters per change, typed at varying positions
  let d = A.init({ actor: actor16(0x16) })
  d = ch(d, (x) => { x.text = '' })
  const rng = new Rng(16)
  for (let i = 0; i < 400; i++) {
    d = ch(d, (x) => {
      const s = x.text
      const cps = codePoints(s)
      const at = utf16Offset(s, rng.int(0, cps.length))
      const words = ['lorem ', 'ipsum ', 'dolor ', 'sït ', 'amet😀 ', 'ñ ']
      A.splice(x, ['text'], at, 0, rng.pick(words))
    }, { time: T0 + i })
  }
  return { doc: d }
})

scenario('text-concurrent', () => {
  let base = A.init({ actor: actor16(0x17) })
  base = ch(base, (x) => { x.t = 'The quick brown fox' })
  let p = A.clone(base, { actor: actor16(0x18) })
  let q = A.clone(base, { actor: actor16(0x19) })
  p = ch(p, (x) => { A.splice(x, ['t'], 4, 5, 'slow😀') }, { time: 1 })
  q = ch(q, (x) => { A.splice(x, ['t'], 4, 0, 'very '); A.splice(x, ['t'], x.t.length, 0, ' jumps') }, { time: 2 })
  base = ch(base, (x) => { A.splice(x, ['t'], 0, 4, '') }, { time: 3 })
  p = A.merge(p, q)
  p = ch(p, (x) => { A.splice(x, ['t'], 0, 0, '» ') }, { time: 4 })
  return { forks: [base, p, q] }
})

scenario('counters-concurrent', () => {
  let base = A.init({ actor: actor16(0x20) })
  base = ch(base, (x) => {
    x.c = new A.Counter(1)
    x.d = new A.Counter(0)
    x.e = new A.Counter(7)
    x.list = [new A.Counter(10)]
    x.m = { c: new A.Counter(-3) }
  })
  let p = A.clone(base, { actor: actor16(0x21) })
  let q = A.clone(base, { actor: actor16(0x22) })
  let r = A.clone(base, { actor: actor16(0x23) })
  p = ch(p, (x) => { x.c.increment(2); x.d.increment(1); x.list[0].increment(1); x.m.c.increment(3) }, { time: 1 })
  q = ch(q, (x) => { x.c.increment(10); x.d = new A.Counter(100); x.list[0].increment(-20) }, { time: 2 })
  r = ch(r, (x) => { x.c.increment(-4); x.d.increment(5); x.e = 'no longer a counter'; x.m.c.increment(1) }, { time: 3 })
  base = ch(base, (x) => { x.e.increment(1); x.c.increment(100) }, { time: 4 })
  // after seeing q's overwrite, p increments the new counter
  p = A.merge(p, q)
  p = ch(p, (x) => { x.d.increment(7) }, { time: 5 })
  return { forks: [base, p, q, r] }
})

scenario('counter-inc-over-conflict', () => {
  // A counter wins a conflict with a text object; the increment's pred lists
  // both ops, so the text op gets an inc successor. In the library only
  // counter ops stay visible with inc successors: after the counter is deleted
  // the key is gone (the text is NOT resurrected); same for the list element.
  let base = ch(A.init({ actor: 'aa' }), (x) => { x.z = 0; x.l = ['x'] })
  let p = A.clone(base, { actor: 'cc' })
  let q = A.clone(base, { actor: 'bb' })
  // same op counters in both, and 'cc' > 'bb': the counters win every conflict
  p = ch(p, (x) => { x.kept = new A.Counter(2); x.l[0] = new A.Counter(3); x.k = new A.Counter(1) }, { time: 1 })
  q = ch(q, (x) => { x.kept = 7; x.l[0] = false; x.k = 'text' }, { time: 2 })
  p = A.merge(p, q)
  p = ch(p, (x) => { x.k.increment(10); x.kept.increment(5); x.l[0].increment(1) }, { time: 3 })
  p = ch(p, (x) => { delete x.k; A.deleteAt(x.l, 0) }, { time: 4 })
  return { forks: [p, q] }
})

scenario('map-conflicts', () => {
  const actors = [actor16(0x30), actor16(0x31), actor16(0x32), actor16(0x33)]
  let base = A.init({ actor: actors[0] })
  base = ch(base, (x) => { x.keep = 'x'; x.del = 1; x.nested = { k: 'v' } })
  const reps = actors.slice(1).map((a) => A.clone(base, { actor: a }))
  reps[0] = ch(reps[0], (x) => { x.same = 'string'; x.del = 2; x.obj = { from: 1 }; x.nested.k = 'p' }, { time: 1 })
  reps[1] = ch(reps[1], (x) => { x.same = 42; delete x.del; x.obj = [2]; x.nested.k = 'q' }, { time: 2 })
  reps[2] = ch(reps[2], (x) => { x.same = null; x.obj = 'three'; delete x.nested; x.keep = new A.Counter(3) }, { time: 3 })
  base = ch(base, (x) => { x.same = { map: true }; x.obj = new Uint8Array([4]) }, { time: 4 })
  return { forks: [base, ...reps] }
})

scenario('map-conflicts-independent', () => {
  // actors that never shared a base: every root key conflicts
  const forks = []
  for (let i = 0; i < 3; i++) {
    let d = A.init({ actor: ['aa', 'aabb', 'ab'][i] })
    d = ch(d, (x) => { x.k = i; x.l = [i]; x.t = `text${i}`; x[`own${i}`] = true }, { time: i })
    forks.push(d)
  }
  return { forks }
})

scenario('marks', () => {
  let d = A.init({ actor: actor16(0x40) })
  d = ch(d, (x) => { x.t = 'The quick brown fox jumps over the lazy dog' })
  d = ch(d, (x) => {
    A.mark(x, ['t'], { start: 0, end: 3, expand: 'before' }, 'bold', true)
    A.mark(x, ['t'], { start: 4, end: 9, expand: 'after' }, 'italic', true)
    A.mark(x, ['t'], { start: 10, end: 15, expand: 'both' }, 'link', 'https://example.com/ü')
    A.mark(x, ['t'], { start: 16, end: 19, expand: 'none' }, 'size', 12)
    A.mark(x, ['t'], { start: 20, end: 25 }, 'when', new Date(1700000000000))
    A.mark(x, ['t'], { start: 26, end: 30, expand: 'both' }, 'float', 1.25)
    A.mark(x, ['t'], { start: 31, end: 34, expand: 'none' }, 'bin', new Uint8Array([1, 2]))
  }, { time: 1 })
  d = ch(d, (x) => {
    A.unmark(x, ['t'], { start: 1, end: 2, expand: 'both' }, 'bold')
    A.mark(x, ['t'], { start: 5, end: 20, expand: 'both' }, 'bold', false)
    A.mark(x, ['t'], { start: 36, end: 40, expand: 'after' }, 'nulled', null)
  }, { time: 2 })
  d = ch(d, (x) => {
    // insert at mark boundaries
    A.splice(x, ['t'], 15, 0, '[b]')
    A.splice(x, ['t'], 10, 0, '[a]')
    A.splice(x, ['t'], 3, 0, '[x]')
    A.splice(x, ['t'], 0, 0, '[0]')
    A.splice(x, ['t'], 20, 4) // delete across a mark end
  }, { time: 3 })
  d = ch(d, (x) => { A.unmark(x, ['t'], { start: 0, end: x.t.length }, 'italic') }, { time: 4 })
  return { doc: d }
})

scenario('marks-concurrent', () => {
  let base = A.init({ actor: actor16(0x41) })
  base = ch(base, (x) => { x.t = 'concurrent marks 😀 here' })
  let p = A.clone(base, { actor: actor16(0x42) })
  let q = A.clone(base, { actor: actor16(0x43) })
  p = ch(p, (x) => { A.mark(x, ['t'], { start: 0, end: 10, expand: 'both' }, 'bold', true) }, { time: 1 })
  q = ch(q, (x) => { A.mark(x, ['t'], { start: 5, end: 16, expand: 'none' }, 'bold', 'other'); A.splice(x, ['t'], 10, 0, 'X') }, { time: 2 })
  base = ch(base, (x) => { A.unmark(x, ['t'], { start: 2, end: 8, expand: 'before' }, 'bold'); A.splice(x, ['t'], 0, 0, '>') }, { time: 3 })
  return { forks: [base, p, q] }
})

scenario('messages-and-times', () => {
  let d = A.init({ actor: actor16(0x50) })
  d = A.change(d, { message: 'm', time: 0 }, (x) => { x.a = 1 })
  d = A.change(d, { message: 'unicode ✓ 😀 message\nwith newline', time: T0 }, (x) => { x.b = 2 })
  d = A.change(d, { message: '', time: -1 }, (x) => { x.c = 3 })
  d = A.change(d, { message: 'x'.repeat(600), time: 2 ** 40 }, (x) => { x.d = 4 })
  d = A.change(d, { time: -(2 ** 40) }, (x) => { x.e = 5 })
  d = A.emptyChange(d, { message: 'empty with message', time: 5 })
  d = A.emptyChange(d, { time: 6 })
  d = A.change(d, { message: 'after empties', time: 7 }, (x) => { x.f = 6 })
  d = A.emptyChange(d, { message: 'trailing empty', time: 8 })
  return { doc: d }
})

scenario('merge-3-actors', () => {
  const names = [actor16(0x61), actor16(0x62), actor16(0x63)]
  let reps = names.map((a, i) => ch(A.init({ actor: a }), (x) => { x[`k${i}`] = i }, { time: i }))
  reps[0] = A.merge(reps[0], reps[1])
  reps[0] = ch(reps[0], (x) => { x.shared = 'after 0+1' }, { time: 10 })
  reps[2] = A.merge(reps[2], reps[0])
  reps[2] = ch(reps[2], (x) => { x.shared = 'after all' }, { time: 11 })
  reps[1] = ch(reps[1], (x) => { x.shared = 'concurrent' }, { time: 12 })
  return { forks: reps }
})

scenario('merge-6-actors-mixed-lengths', () => {
  // actor ids of different lengths, incl. one that is a prefix of another
  const names = ['aa', 'aabb', '01', actor16(0xaa), 'ff'.repeat(32), 'aa00']
  const reps = names.map((a, i) => {
    let d = A.init({ actor: a })
    d = ch(d, (x) => { x[`a${i}`] = { n: i }; x.list = [a] }, { time: i })
    return d
  })
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < reps.length; i++) {
      const j = (i + round + 1) % reps.length
      reps[i] = A.merge(reps[i], reps[j])
      reps[i] = ch(reps[i], (x) => {
        x.last = `${i}/${round}`
        if (Array.isArray(x.list)) x.list.push(i * 10 + round)
      }, { time: 100 + round })
    }
  }
  return { forks: reps }
})

scenario('many-actors', () => {
  let base = A.init({ actor: actor16(0x70) })
  base = ch(base, (x) => { x.log = []; x.c = new A.Counter(0); x.t = '' })
  const reps = [base]
  for (let i = 1; i < 12; i++) reps.push(A.clone(base, { actor: actor16(0x70 + i) }))
  for (let i = 0; i < reps.length; i++) {
    reps[i] = ch(reps[i], (x) => {
      x.log.push(i)
      x.c.increment(i)
      A.splice(x, ['t'], 0, 0, String.fromCodePoint(0x1f600 + i))
      x[`actor${i}`] = i
    }, { time: i })
  }
  return { forks: reps }
})

scenario('keys-special', () => {
  let d = A.init({ actor: actor16(0x80) })
  d = ch(d, (x) => {
    x['10'] = 'ten'
    x['2'] = 'two'
    x['1'] = 'one'
    x['0'] = 'zero'
    x['-1'] = 'minus one'
    x['01'] = 'zero one'
    x['1.5'] = 'one point five'
    x[''] = 'empty key'
    x[' '] = 'space'
    x['😀'] = 'emoji'
    x['𠀀'] = 'cjk ext b'
    x['ключ'] = 'cyrillic'
    x['e\u0301'] = 'combining'
    x['\u00e9'] = 'precomposed'
    x.nested = { '10': { '2': [1] }, '😀😀': true }
  })
  return { doc: d }
})

scenario('keys-odd', () => {
  let d = A.init({ actor: actor16(0x81) })
  d = ch(d, (x) => {
    x['a\u0000b'] = 'nul in key'
    x['line\nbreak'] = 1
    x['quote"'] = 2
    x['back\\slash'] = 3
    x['tab\t'] = 4
    x['constructor'] = 5
    x['toString'] = 6
    x['hasOwnProperty'] = 7
    x['k'.repeat(300)] = 'long key'
  })
  return { doc: d }
})

scenario('deletes', () => {
  let d = A.init({ actor: actor16(0x90) })
  d = ch(d, (x) => { x.a = 1; x.b = { c: 2 }; x.l = [1, 2, 3]; x.t = 'text' })
  d = ch(d, (x) => { delete x.a; delete x.b; x.l.splice(0, 3); A.splice(x, ['t'], 0, 4) })
  d = ch(d, (x) => { x.a = 'back' })
  d = ch(d, (x) => { delete x.a })
  return { doc: d }
})

scenario('large-deflate', () => {
  let d = A.init({ actor: actor16(0xa0) })
  const rng = new Rng(0xa0)
  d = ch(d, (x) => {
    x.map = {}
    for (let i = 0; i < 1500; i++) x.map[`key${i}`] = i % 3 === 0 ? `value ${i}` : i % 3 === 1 ? i * 1000 : (i % 2 === 0)
  })
  d = ch(d, (x) => {
    x.list = []
    for (let i = 0; i < 1500; i++) x.list.push(rng.int(-100000, 100000))
  }, { time: 1 })
  d = ch(d, (x) => {
    let s = ''
    for (let i = 0; i < 1500; i++) s += 'abcdefghij😀'[rng.int(0, 10)]
    x.text = s
  }, { time: 2 })
  d = ch(d, (x) => {
    for (let i = 0; i < 1500; i += 7) delete x.map[`key${i}`]
    for (let i = 0; i < 200; i++) x.list[rng.int(0, x.list.length - 1)] = rng.int(0, 9)
    for (let i = 0; i < 100; i++) A.deleteAt(x.list, rng.int(0, x.list.length - 1))
  }, { time: 3 })
  return { doc: d }
})

scenario('large-many-changes', () => {
  // many small changes by 3 actors, enough rows for DEFLATE'd change columns
  const names = [actor16(0xa1), actor16(0xa2), actor16(0xa3)]
  let base = ch(A.init({ actor: names[0] }), (x) => { x.items = []; x.counts = {} })
  const reps = [base, A.clone(base, { actor: names[1] }), A.clone(base, { actor: names[2] })]
  const rng = new Rng(0xa1)
  for (let i = 0; i < 900; i++) {
    const k = i % 3
    reps[k] = ch(reps[k], (x) => {
      x.items.push(`${k}:${i}`)
      x.counts[`c${i % 17}`] = i
    }, { time: T0 + i, message: i % 10 === 0 ? `commit ${i}` : undefined })
    if (i % 25 === 24) {
      const a = rng.int(0, 2)
      const b = (a + rng.int(1, 2)) % 3
      reps[a] = A.merge(reps[a], reps[b])
    }
  }
  return { forks: reps }
})

scenario('late-joiners', () => {
  // Actors who join a long history (a device added to a document): their counters start
  // near its maxOp, so that numbering each actor's counters from 1 leaves most of the room
  // empty (amstore's load then places ops in document order, not by counter). Each
  // newcomer's first change only deletes: its lowest counters are in successor lists alone.
  const [a, b, c] = [actor16(0xb1), actor16(0xb2), actor16(0xb3)]
  let da = ch(A.init({ actor: a }), (x) => { x.text = '' })
  for (let i = 0; i < 40; i++) {
    da = ch(da, (x) => { A.splice(x, ['text'], x.text.length, 0, `line ${String(i).padStart(3, '0')}\n`) },
      { time: T0 + i })
  }
  let db = A.clone(da, { actor: b })
  db = ch(db, (x) => { A.splice(x, ['text'], 10, 6) }, { time: T0 + 100 })
  db = ch(db, (x) => { A.splice(x, ['text'], 10, 0, 'bbbbb'); x.by = 'b' }, { time: T0 + 101 })
  let dc = A.merge(A.clone(da, { actor: c }), db)
  dc = ch(dc, (x) => { A.splice(x, ['text'], 30, 3) }, { time: T0 + 200 })
  dc = ch(dc, (x) => { A.splice(x, ['text'], 0, 0, 'cc'); x.by = 'c' }, { time: T0 + 201 })
  da = ch(da, (x) => { A.splice(x, ['text'], x.text.length, 0, 'end\n') }, { time: T0 + 300 })
  return { forks: [da, db, dc] }
})

// ---------------------------------------------------------------------------
// Seeded random multi-actor edit sequences

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', '10', '2', '😀', 'ключ', 'x y']
const MARK_NAMES = ['bold', 'em', 'link']
const EXPANDS = ['before', 'after', 'both', 'none']
const TEXT_PIECES = ['a', 'bc', 'def ', '😀', 'é', 'e\u0301', '日本', '🇯🇵', ' ', 'xyz', '\n']

// wrappers (Int/Uint/Float64) only work when assigned directly to a key or index
function randomScalar(rng, direct = false) {
  switch (rng.int(0, 13)) {
    case 0: return null
    case 1: return rng.chance(0.5)
    case 2: return rng.int(-1000, 1000)
    case 3: return rng.int(-(2 ** 40), 2 ** 40)
    case 4: return rng.int(-1000000, 1000000) / 64
    case 5: return direct ? new A.Float64(rng.int(-5, 5)) : rng.int(-5, 5) + 0.5
    case 6: return direct ? new A.Uint(rng.int(0, 100000)) : BigInt(rng.int(0, 100000))
    case 7: return 2n ** 60n + BigInt(rng.int(0, 1000))
    case 8: return new A.ImmutableString(rng.pick(TEXT_PIECES) + rng.int(0, 99))
    case 9: return new Date(1600000000000 + rng.int(0, 1e9))
    case 10: { const b = new Uint8Array(rng.int(0, 6)); for (let i = 0; i < b.length; i++) b[i] = rng.int(0, 255); return b }
    case 11: return new A.Counter(rng.int(-10, 10))
    default: return rng.pick(TEXT_PIECES) // a text object
  }
}

function randomValue(rng, depth = 0, direct = false) {
  const r = rng.int(0, 9)
  if (depth < 2 && r === 0) {
    const m = {}
    for (let i = rng.int(0, 3); i > 0; i--) m[rng.pick(KEYS)] = randomValue(rng, depth + 1)
    return m
  }
  if (depth < 2 && r === 1) {
    const l = []
    for (let i = rng.int(0, 3); i > 0; i--) l.push(randomValue(rng, depth + 1))
    return l
  }
  if (depth < 2 && r === 2) {
    let s = ''
    for (let i = rng.int(0, 4); i > 0; i--) s += rng.pick(TEXT_PIECES)
    return s
  }
  return randomScalar(rng, direct && depth === 0)
}

/**
 * Collect the paths of the editable objects of a document. Walks the plain
 * (already materialised) document, which is much faster than walking a change
 * draft; ops resolve the path in the draft and check the kind there.
 */
function collectTargets(root) {
  const maps = []
  const lists = []
  const texts = []
  const counters = []
  const walk = (obj, p, depth) => {
    if (Array.isArray(obj)) {
      lists.push(p)
      for (let i = 0; i < obj.length; i++) visit(i, obj[i], p, depth)
    } else {
      maps.push(p)
      for (const k of Object.keys(obj)) visit(k, obj[k], p, depth)
    }
  }
  const visit = (key, v, p, depth) => {
    // (A.isCounter / A.isImmutableString answer true for list proxies: test Array.isArray first)
    if (typeof v === 'string') texts.push([...p, key])
    else if (v === null || typeof v !== 'object') return
    else if (Array.isArray(v)) { if (depth < 6) walk(v, [...p, key], depth + 1) }
    else if (v instanceof A.Counter) counters.push([...p, key])
    else if (v instanceof Date || v instanceof Uint8Array || v instanceof A.ImmutableString) return
    else if (depth < 6) walk(v, [...p, key], depth + 1)
  }
  walk(root, [], 0)
  return { maps, lists, texts, counters }
}

/** Follow path p in draft x; undefined if it is gone. */
function resolve(x, p) {
  let node = x
  for (const k of p) {
    if (node === null || typeof node !== 'object') return undefined
    node = node[k]
  }
  return node
}

const isMapNode = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) &&
  !(v instanceof A.Counter) && !(v instanceof Date) && !(v instanceof Uint8Array) && !(v instanceof A.ImmutableString)

function randomOp(rng, x, t) {
  const kind = rng.int(0, 99)
  const pickResolved = (paths, ok) => {
    if (!paths.length) return undefined
    const p = rng.pick(paths)
    const node = resolve(x, p)
    return ok(node) ? { p, node } : undefined
  }
  let target
  if (kind < 22 && (target = pickResolved(t.maps, isMapNode))) {
    target.node[rng.pick(KEYS)] = randomValue(rng, 0, true)
  } else if (kind >= 22 && kind < 30 && (target = pickResolved(t.maps, isMapNode))) {
    const m = target.node
    const keys = Object.keys(m)
    if (keys.length) delete m[rng.pick(keys)]
    else m[rng.pick(KEYS)] = randomValue(rng)
  } else if (kind >= 30 && kind < 50 && (target = pickResolved(t.lists, Array.isArray))) {
    const obj = target.node
    const op = rng.int(0, 3)
    if (op === 0 || obj.length === 0) {
      const vals = []
      for (let i = rng.int(1, 3); i > 0; i--) vals.push(randomValue(rng, 1))
      A.insertAt(obj, rng.int(0, obj.length), ...vals)
    } else if (op === 1) {
      const at = rng.int(0, obj.length - 1)
      A.deleteAt(obj, at, rng.int(1, Math.min(3, obj.length - at)))
    } else if (op === 2) {
      obj[rng.int(0, obj.length - 1)] = rng.chance(0.5) ? randomScalar(rng, true) : randomValue(rng, 1)
    } else {
      obj.push(randomScalar(rng))
    }
  } else if (kind >= 50 && kind < 80 && (target = pickResolved(t.texts, (v) => typeof v === 'string'))) {
    const { p, node: s } = target
    const cps = codePoints(s)
    if (cps.length && rng.chance(0.35)) {
      const from = rng.int(0, cps.length - 1)
      const to = Math.min(cps.length, from + rng.int(1, 4))
      const off = utf16Offset(s, from)
      A.splice(x, p, off, utf16Offset(s, to) - off)
    } else {
      let ins = ''
      for (let i = rng.int(1, 3); i > 0; i--) ins += rng.pick(TEXT_PIECES)
      A.splice(x, p, utf16Offset(s, rng.int(0, cps.length)), 0, ins)
    }
  } else if (kind >= 80 && kind < 90 && (target = pickResolved(t.counters, (v) => v instanceof A.Counter))) {
    target.node.increment(rng.int(-50, 50))
  } else if (kind >= 90 && kind < 96 && (target = pickResolved(t.texts, (v) => typeof v === 'string'))) {
    const { p, node: s } = target
    const cps = codePoints(s)
    if (cps.length >= 1) {
      const a = rng.int(0, cps.length - 1)
      const b = rng.int(a + 1, cps.length)
      const range = { start: utf16Offset(s, a), end: utf16Offset(s, b), expand: rng.pick(EXPANDS) }
      const name = rng.pick(MARK_NAMES)
      if (rng.chance(0.25)) A.unmark(x, p, range, name)
      else A.mark(x, p, range, name, rng.pick([true, 'v', 7, null]))
    }
  } else {
    x[rng.pick(KEYS)] = randomValue(rng, 0, true)
  }
}

/**
 * A.merge, but if the library throws while updating its JS view (seen with
 * 3.5.0: "cannot increment a non-numeric value"), build the same union of
 * changes by loading both saved documents instead.
 */
function safeMerge(local, remote, actor, where) {
  try {
    return A.merge(local, remote)
  } catch (e) {
    libraryErrors.push(`${where}: merge: ${firstLine(e)}`)
    return A.load(concat([A.save(local), A.save(remote)]), { actor })
  }
}

const firstLine = (e) => String(e?.message ?? e).split('\n')[0].slice(0, 80)

function randomScenario(seed) {
  const rng = new Rng(0x5eed0000 + seed)
  const firstActors = rng.int(2, 4)
  const actors = []
  while (actors.length < firstActors) {
    // mostly 16 random bytes; sometimes short ids to vary the actor ordering
    const a = rng.chance(0.8) ? rng.hex(16) : rng.hex(rng.int(1, 3))
    if (!actors.includes(a)) actors.push(a)
  }
  let reps
  if (rng.chance(0.6)) {
    let base = A.init({ actor: actors[0] })
    base = ch(base, (x) => {
      x.m = { a: 1 }
      x.l = [1, 2, 3]
      x.t = 'hello 😀'
      x.c = new A.Counter(0)
    }, { time: T0 })
    reps = [base, ...actors.slice(1).map((a) => A.clone(base, { actor: a }))]
  } else {
    reps = actors.map((a) => A.init({ actor: a }))
  }
  const steps = rng.int(20, 160)
  for (let step = 0; step < steps; step++) {
    // Now and then a device joins late, from a copy of one replica: its first op counters
    // start high, past most of the history (up to 8 actors in all).
    if (actors.length < 8 && rng.chance(0.02)) {
      let a
      do a = rng.hex(16); while (actors.includes(a))
      reps.push(A.clone(reps[rng.int(0, actors.length - 1)], { actor: a }))
      actors.push(a)
      continue
    }
    const nActors = actors.length
    if (rng.chance(0.18)) {
      const a = rng.int(0, nActors - 1)
      const b = (a + rng.int(1, nActors - 1)) % nActors
      reps[a] = safeMerge(reps[a], reps[b], actors[a], `${seed}/${step}`)
      continue
    }
    const i = rng.int(0, nActors - 1)
    const opts = { time: T0 + step * rng.int(0, 60) }
    if (rng.chance(0.1)) opts.message = `step ${step}`
    if (rng.chance(0.03)) {
      reps[i] = A.emptyChange(reps[i], opts)
      continue
    }
    // Mostly a few ops a change; sometimes a bulk edit (a paste, a form filled in).
    const nOps = rng.chance(0.08) ? rng.int(8, 40) : rng.int(1, 4)
    try {
      const targets = collectTargets(reps[i])
      reps[i] = A.change(reps[i], opts, (x) => {
        for (let k = 0; k < nOps; k++) randomOp(rng, x, targets)
      })
    } catch (e) {
      // @automerge/automerge 3.5.0 occasionally throws while updating its JS view
      // after the change was committed ("unable to get property
      // Symbol(_am_raw_value_)"); continue from a fresh load of what it holds.
      libraryErrors.push(`${seed}/${step}: change: ${firstLine(e)}`)
      reps[i] = A.load(A.save(reps[i]), { actor: actors[i] })
    }
  }
  return { forks: reps }
}

// Seeds 0..119 by default. GEN_CORPUS_SEEDS=FIRST-LAST takes another range instead, for a
// longer differential run outside CI (e.g. 1000-2999); each seed names its scenario.
function seedRange() {
  const spec = process.env.GEN_CORPUS_SEEDS
  if (!spec) return [0, 119]
  const m = /^(\d+)-(\d+)$/.exec(spec)
  if (!m || Number(m[1]) > Number(m[2])) {
    console.error(`GEN_CORPUS_SEEDS: expected FIRST-LAST (e.g. 1000-2999), got "${spec}"`)
    process.exit(2)
  }
  return [Number(m[1]), Number(m[2])]
}
const [FIRST_SEED, LAST_SEED] = seedRange()
const N_RANDOM = LAST_SEED - FIRST_SEED + 1
const libraryErrors = []
for (let s = FIRST_SEED; s <= LAST_SEED; s++) {
  scenario(`random-${String(s).padStart(3, '0')}`, () => randomScenario(s))
}

// ---------------------------------------------------------------------------
// Writer

function sortedHeads(doc) { return [...A.getHeads(doc)].map((h) => h.toLowerCase()).sort() }

function concat(chunks) {
  return Buffer.concat(chunks.map((c) => Buffer.from(c)))
}

function writeScenario(outDir, name, result) {
  const dir = path.join(outDir, name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.join(dir, 'changes'), { recursive: true })

  let doc = result.doc
  if (result.forks) {
    fs.mkdirSync(path.join(dir, 'forks'))
    const forkBytes = result.forks.map((f) => A.save(f))
    forkBytes.forEach((b, i) => fs.writeFileSync(path.join(dir, 'forks', `${i}.bin`), b))
    doc = A.load(forkBytes[0])
    for (let i = 1; i < forkBytes.length; i++) doc = safeMerge(doc, A.load(forkBytes[i]), undefined, `${name}/fork${i}`)
  }

  const saved = A.save(doc)
  const changes = A.getAllChanges(doc)
  const heads = sortedHeads(doc)
  // The value is taken from a fresh load of doc.bin (the library's in-memory
  // view after incremental merges has been seen to disagree in rare cases).
  const reloaded = A.load(saved)
  const value = docJson(reloaded)

  // self-checks against the library
  if (sortedHeads(reloaded).join() !== heads.join()) throw new Error(`${name}: heads differ after load`)
  if (docJson(doc) !== value) libraryErrors.push(`${name}: in-memory toJS differs from a fresh load`)
  if (result.forks) {
    const fromForks = A.load(concat(result.forks.map((f) => A.save(f))))
    if (sortedHeads(fromForks).join() !== heads.join()) throw new Error(`${name}: heads differ when loading the forks together`)
    if (docJson(fromForks) !== value) throw new Error(`${name}: value differs when loading the forks together`)
  }
  const fromChanges = A.load(concat(changes))
  if (sortedHeads(fromChanges).join() !== heads.join()) throw new Error(`${name}: heads differ from changes`)
  JSON.parse(value)

  fs.writeFileSync(path.join(dir, 'doc.bin'), saved)
  changes.forEach((c, i) => fs.writeFileSync(path.join(dir, 'changes', `${String(i).padStart(6, '0')}.bin`), c))
  fs.writeFileSync(path.join(dir, 'heads.txt'), heads.map((h) => h + '\n').join(''))
  fs.writeFileSync(path.join(dir, 'value.json'), value + '\n')
  return { changes: changes.length, bytes: saved.length, forks: result.forks ? result.forks.length : 0 }
}

function main() {
  const outDir = process.argv[2]
  if (!outDir) {
    console.error('usage: node gen-corpus.mjs OUTDIR')
    process.exit(2)
  }
  const started = Date.now()
  fs.mkdirSync(outDir, { recursive: true })
  let totalChanges = 0
  let totalBytes = 0
  let withForks = 0
  for (const { name, fn } of scenarios) {
    const t0 = Date.now()
    const r = writeScenario(outDir, name, fn())
    if (process.env.GEN_CORPUS_VERBOSE) console.error(`${name}: ${Date.now() - t0} ms`)
    totalChanges += r.changes
    totalBytes += r.bytes
    if (r.forks) withForks++
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1)
  if (process.env.GEN_CORPUS_VERBOSE) for (const e of libraryErrors) console.error(`library error worked around: ${e}`)
  console.log(`gen-corpus: ${scenarios.length} scenarios (${withForks} with forks, ${N_RANDOM} random), ` +
    `${totalChanges} changes, ${totalBytes} doc bytes, ${libraryErrors.length} library errors worked around` +
    `, ${secs}s -> ${outDir}`)
}

main()
