// amstore's JSON mapping of an Automerge value, computed from the reference
// library's Automerge.toJS() output, plus an exact-number JSON reader used to
// compare amstore's output with the expected JSON.
//
// Mapping (see README.md in this directory):
//   map -> object, list -> array, text -> string, ImmutableString -> string,
//   int / uint (number or BigInt) -> JSON number with exact digits,
//   Counter -> its numeric value, float -> JSON.stringify text (NaN/Inf -> null),
//   Date -> toJSON() (null if invalid), Uint8Array -> base64 with padding,
//   null / booleans as is.
import * as Automerge from '@automerge/automerge'

// ---------------------------------------------------------------------------
// Serializer: JS value from Automerge.toJS() -> JSON text

function numberText(n) {
  if (!Number.isFinite(n)) return 'null'
  if (Object.is(n, -0)) return '0'
  return String(n) // same text as JSON.stringify for finite numbers
}

function stringText(s) {
  // JSON.stringify of a primitive string gives a valid JSON string literal
  // (well-formed: lone surrogates are escaped).
  return JSON.stringify(s)
}

function isImmutable(v) {
  return (typeof Automerge.isImmutableString === 'function' && Automerge.isImmutableString(v)) ||
    v instanceof Automerge.ImmutableString
}

function immutableText(v) {
  if (typeof v.val === 'string') return v.val
  return v.toString()
}

function base64(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

/** Serialize a value as returned by Automerge.toJS() into amstore's JSON mapping. */
export function normalize(value) {
  const out = []
  write(value, out)
  return out.join('')
}

function write(v, out) {
  if (v === null || v === undefined) { out.push('null'); return }
  switch (typeof v) {
    case 'boolean': out.push(v ? 'true' : 'false'); return
    case 'number': out.push(numberText(v)); return
    case 'bigint': out.push(v.toString()); return
    case 'string': out.push(stringText(v)); return
    case 'object': break
    default: throw new Error(`normalize: unexpected ${typeof v}`)
  }
  // arrays first: the library's isCounter/isImmutableString are fooled by list proxies
  if (Array.isArray(v)) {
    out.push('[')
    for (let i = 0; i < v.length; i++) {
      if (i) out.push(',')
      write(v[i], out)
    }
    out.push(']')
    return
  }
  if (v instanceof Automerge.Counter || (typeof Automerge.isCounter === 'function' && Automerge.isCounter(v))) {
    const n = v.value
    out.push(typeof n === 'bigint' ? n.toString() : numberText(n))
    return
  }
  if (isImmutable(v)) { out.push(stringText(immutableText(v))); return }
  if (v instanceof Date) {
    out.push(Number.isNaN(v.getTime()) ? 'null' : stringText(v.toJSON()))
    return
  }
  if (v instanceof Uint8Array) { out.push(stringText(base64(v))); return }
  if (ArrayBuffer.isView(v)) { out.push(stringText(base64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)))); return }
  out.push('{')
  let first = true
  for (const key of Object.keys(v)) {
    if (!first) out.push(',')
    first = false
    out.push(stringText(key), ':')
    write(v[key], out)
  }
  out.push('}')
}

/** normalize(Automerge.toJS(doc)) */
export function docJson(doc) {
  return normalize(Automerge.toJS(doc))
}

// ---------------------------------------------------------------------------
// Exact JSON reader. JSON.parse would round integers beyond 2^53; here an
// integer literal whose magnitude exceeds Number.MAX_SAFE_INTEGER becomes a
// BigInt, every other number a Number (with -0 read as 0). The result can be
// compared with assert.deepStrictEqual (which ignores object key order).

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

export function parseJsonExact(text) {
  let i = 0
  const n = text.length
  const fail = (msg) => { throw new SyntaxError(`JSON: ${msg} at offset ${i}`) }
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++
      else break
    }
  }
  const value = () => {
    ws()
    if (i >= n) fail('unexpected end')
    const c = text[i]
    if (c === '{') return object()
    if (c === '[') return array()
    if (c === '"') return string()
    if (c === '-' || (c >= '0' && c <= '9')) return number()
    if (text.startsWith('true', i)) { i += 4; return true }
    if (text.startsWith('false', i)) { i += 5; return false }
    if (text.startsWith('null', i)) { i += 4; return null }
    fail(`unexpected character ${JSON.stringify(c)}`)
  }
  const object = () => {
    i++ // {
    const obj = Object.create(null)
    const seen = new Set()
    ws()
    if (text[i] === '}') { i++; return plain(obj) }
    for (;;) {
      ws()
      if (text[i] !== '"') fail('expected key')
      const key = string()
      if (seen.has(key)) fail(`duplicate key ${JSON.stringify(key)}`)
      seen.add(key)
      ws()
      if (text[i] !== ':') fail('expected :')
      i++
      obj[key] = value()
      ws()
      if (text[i] === ',') { i++; continue }
      if (text[i] === '}') { i++; return plain(obj) }
      fail('expected , or }')
    }
  }
  const plain = (obj) => {
    // copy into an ordinary object; defineProperty keeps keys like "__proto__" as own data
    const res = {}
    for (const k of Object.keys(obj)) {
      Object.defineProperty(res, k, { value: obj[k], enumerable: true, writable: true, configurable: true })
    }
    return res
  }
  const array = () => {
    i++ // [
    const arr = []
    ws()
    if (text[i] === ']') { i++; return arr }
    for (;;) {
      arr.push(value())
      ws()
      if (text[i] === ',') { i++; continue }
      if (text[i] === ']') { i++; return arr }
      fail('expected , or ]')
    }
  }
  const string = () => {
    i++ // opening quote
    let s = ''
    let start = i
    for (;;) {
      if (i >= n) fail('unterminated string')
      const c = text.charCodeAt(i)
      if (c === 0x22) { s += text.slice(start, i); i++; return s }
      if (c < 0x20) fail('control character in string')
      if (c === 0x5c) {
        s += text.slice(start, i)
        const e = text[i + 1]
        i += 2
        switch (e) {
          case '"': s += '"'; break
          case '\\': s += '\\'; break
          case '/': s += '/'; break
          case 'b': s += '\b'; break
          case 'f': s += '\f'; break
          case 'n': s += '\n'; break
          case 'r': s += '\r'; break
          case 't': s += '\t'; break
          case 'u': {
            const hex = text.slice(i, i + 4)
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape')
            s += String.fromCharCode(parseInt(hex, 16))
            i += 4
            break
          }
          default: fail('bad escape')
        }
        start = i
        continue
      }
      i++
    }
  }
  const number = () => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400))
    if (!m) fail('bad number')
    i += m[0].length
    const lit = m[0]
    if (!m[2] && !m[3]) {
      const b = BigInt(lit)
      if (b > MAX_SAFE || b < -MAX_SAFE) return b
    }
    const v = Number(lit)
    return Object.is(v, -0) ? 0 : v
  }
  const result = value()
  ws()
  if (i !== n) fail('trailing data')
  return result
}
