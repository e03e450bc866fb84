// The seeded PRNG (mulberry32) that every generator of test data and benchmark payloads
// uses, so that the same seed gives the same documents everywhere.
export class Rng {
  constructor (seed) { this.s = seed >>> 0 }
  /** A float in [0, 1). */
  next () {
    this.s = (this.s + 0x6d2b79f5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  /** An integer in [lo, hi], both inclusive. */
  int (lo, hi) { return lo + Math.floor(this.next() * (hi - lo + 1)) }
  pick (arr) { return arr[Math.floor(this.next() * arr.length)] }
  chance (p) { return this.next() < p }
  /** `bytes` random bytes as lowercase hex. */
  hex (bytes) {
    let s = ''
    for (let i = 0; i < bytes; i++) s += this.int(0, 255).toString(16).padStart(2, '0')
    return s
  }
}
