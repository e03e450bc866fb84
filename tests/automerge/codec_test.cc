// Primitive and column codecs against the byte examples of the format spec (§2, §4), and
// the one-op shortcut of the change encoder against its general column encoders.
#include <cstring>
#include <new>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>

#include "automerge/change.h"
#include "automerge/columns.h"
#include "automerge/deflate.h"
#include "automerge/hash.h"
#include "automerge/leb128.h"
#include "automerge/small_string.h"
#include "automerge/small_vector.h"

namespace amstore {
namespace {

Bytes hex(std::string_view s) {
  Bytes out;
  std::string clean;
  for (char c : s)
    if (c != ' ') clean.push_back(c);
  for (size_t i = 0; i + 1 < clean.size(); i += 2) out.push_back(std::stoi(clean.substr(i, 2), nullptr, 16));
  return out;
}

TEST(Leb128, UnsignedExamples) {
  std::vector<std::pair<uint64_t, std::string>> cases = {
      {0, "00"}, {127, "7f"}, {128, "8001"}, {300, "ac02"}, {16383, "ff7f"}, {16384, "808001"},
      {UINT64_MAX, "ffffffffffffffffff01"}};
  for (auto& [v, h] : cases) {
    Bytes b;
    put_uleb(b, v);
    EXPECT_EQ(b, hex(h)) << v;
    Reader r(b);
    uint64_t got;
    ASSERT_TRUE(r.uleb(&got).ok());
    EXPECT_EQ(got, v);
    EXPECT_TRUE(r.done());
  }
}

TEST(Leb128, SignedExamples) {
  std::vector<std::pair<int64_t, std::string>> cases = {
      {0, "00"}, {1, "01"}, {63, "3f"}, {64, "c000"}, {-1, "7f"}, {-64, "40"}, {-65, "bf7f"},
      {127, "ff00"}, {300, "ac02"}, {-8192, "8040"}, {INT64_MAX, "ffffffffffffffffff00"},
      {INT64_MIN, "8080808080808080807f"}};
  for (auto& [v, h] : cases) {
    Bytes b;
    put_sleb(b, v);
    EXPECT_EQ(b, hex(h)) << v;
    Reader r(b);
    int64_t got;
    ASSERT_TRUE(r.sleb(&got).ok());
    EXPECT_EQ(got, v);
  }
}

// Around every power of two, both signs: write_sleb writes the shortest form, which the
// reader, refusing overlong forms, reads back.
TEST(Leb128, SignedRoundTripsAtEveryLength) {
  for (int k = 0; k < 64; ++k) {
    const uint64_t power = uint64_t(1) << k;
    for (uint64_t u : {power - 1, power, power + 1, ~power, ~power + 1, ~power + 2}) {
      const int64_t v = static_cast<int64_t>(u);
      uint8_t b[kMaxLebBytes];
      const size_t n = write_sleb(b, v);
      Reader r(ByteView(b, n));
      int64_t got;
      ASSERT_TRUE(r.sleb(&got).ok()) << v;
      EXPECT_EQ(got, v);
      EXPECT_TRUE(r.done()) << v;
      // Shortest: one byte fewer cannot hold it (seven bits a byte, the top one the sign).
      if (n > 1) {
        const int bits = 7 * static_cast<int>(n - 1);
        EXPECT_TRUE(v < -(int64_t(1) << (bits - 1)) || v >= (int64_t(1) << (bits - 1))) << v;
      }
    }
  }
}

TEST(Leb128, RejectsOverlongOverflowAndTruncation) {
  for (const char* h : {"8000", "ff8000", "ffffffffffffffffff02", "ffffffffffffffffffff01", "80", ""}) {
    Bytes b = hex(h);
    Reader r(b);
    uint64_t v;
    EXPECT_FALSE(r.uleb(&v).ok()) << h;
  }
  for (const char* h : {"8000", "ff7f", "ffffffffffffffffff01", "80"}) {
    Bytes b = hex(h);
    Reader r(b);
    int64_t v = 0;
    EXPECT_FALSE(r.sleb(&v).ok()) << h;
  }
}

// Every two-byte sequence (the readers' inline path): accepted exactly when it is the
// canonical encoding of what it decodes to.
TEST(Leb128, EveryTwoByteForm) {
  for (int b0 = 0x80; b0 <= 0xff; ++b0) {
    for (int b1 = 0x00; b1 <= 0x7f; ++b1) {
      const Bytes b = {static_cast<uint8_t>(b0), static_cast<uint8_t>(b1)};
      {
        Reader r(b);
        uint64_t v;
        Bytes again;
        const bool ok = r.uleb(&v).ok();
        if (ok) put_uleb(again, v);
        EXPECT_EQ(ok, b1 != 0) << b0 << " " << b1;
        if (ok) {
          EXPECT_EQ(again, b) << b0 << " " << b1;
        }
      }
      {
        Reader r(b);
        int64_t v;
        Bytes again;
        const bool ok = r.sleb(&v).ok();
        if (ok) put_sleb(again, v);
        const bool overlong = (b1 == 0x00 && !(b0 & 0x40)) || (b1 == 0x7f && (b0 & 0x40));
        EXPECT_EQ(ok, !overlong) << b0 << " " << b1;
        if (ok) {
          EXPECT_EQ(again, b) << b0 << " " << b1;
        }
      }
    }
  }
}

// Every three-byte sLEB form (also read inline): accepted exactly when canonical.
TEST(Leb128, EveryThreeByteSignedForm) {
  for (int b0 = 0x80; b0 <= 0xff; ++b0) {
    for (int b1 = 0x80; b1 <= 0xff; ++b1) {
      for (int b2 = 0x00; b2 <= 0x7f; ++b2) {
        const Bytes b = {static_cast<uint8_t>(b0), static_cast<uint8_t>(b1), static_cast<uint8_t>(b2)};
        Reader r(b);
        int64_t v = 0;
        const bool ok = r.sleb(&v).ok();
        const bool overlong = (b2 == 0x00 && !(b1 & 0x40)) || (b2 == 0x7f && (b1 & 0x40));
        ASSERT_EQ(ok, !overlong) << b0 << " " << b1 << " " << b2;
        if (ok) {
          Bytes again;
          put_sleb(again, v);
          ASSERT_EQ(again, b) << b0 << " " << b1 << " " << b2;
          ASSERT_TRUE(r.done());
        }
      }
    }
  }
}

template <typename Enc>
Bytes encode_uints(const std::vector<std::optional<uint64_t>>& vals) {
  Enc e;
  for (auto& v : vals) {
    if (v) e.append(*v); else e.append_null();
  }
  return e.finish();
}

std::vector<std::optional<uint64_t>> decode_uints(ByteView data, size_t n) {
  UintDecoder d(data);
  std::vector<std::optional<uint64_t>> out;
  for (size_t i = 0; i < n; ++i) {
    bool has;
    uint64_t v;
    EXPECT_TRUE(d.next(&has, &v).ok());
    out.push_back(has ? std::optional<uint64_t>(v) : std::nullopt);
  }
  EXPECT_TRUE(d.done());
  return out;
}

TEST(Rle, SpecExamplesRoundTrip) {
  using V = std::vector<std::optional<uint64_t>>;
  std::vector<std::pair<V, std::string>> cases = {
      {{0, 0, 0, std::nullopt, std::nullopt, 1, 2, 3}, "0300 0002 7d010203"},
      {{1, 2, 2}, "7f01 0202"},
      {{1, 1, 2}, "0201 7f02"},
      {{7, std::nullopt}, "7f07 0001"},
      {{std::nullopt, 7}, "0001 7f07"},
      {{0, 1, 2, 2, 2}, "7e0001 0302"}};
  for (auto& [vals, h] : cases) {
    Bytes b = encode_uints<UintEncoder>(vals);
    EXPECT_EQ(b, hex(h));
    EXPECT_EQ(decode_uints(b, vals.size()), vals);
  }
}

TEST(Rle, StringExample) {
  StringEncoder e;
  e.append("a");
  e.append("");
  e.append_null();
  e.append("boo");
  e.append("boo");
  EXPECT_EQ(e.finish(), hex("7e 01 61 00 00 01 02 03 62 6f 6f"));
}

TEST(Rle, RejectsNonCanonicalRuns) {
  // repeat of 1, adjacent literals, adjacent null runs, literal repeating a value, empty null run
  for (const char* h : {"0105", "7f01 7f02", "0001 0001", "7e0101", "0000", "0201 7f01", "0201 0201"}) {
    Bytes b = hex(h);
    UintDecoder d(b);
    Status s;
    for (int i = 0; i < 4 && s.ok(); ++i) {
      bool has;
      uint64_t v;
      s = d.next(&has, &v);
    }
    EXPECT_FALSE(s.ok()) << h;
  }
}

TEST(Delta, SpecExamples) {
  DeltaEncoder e;
  for (int64_t v : {3, 4, 5, 6, 9, 7, 8}) e.append(v);
  Bytes b = e.finish();
  EXPECT_EQ(b, hex("7f 03 03 01 7d 03 7e 01"));
  DeltaDecoder d(b);
  for (int64_t want : {3, 4, 5, 6, 9, 7, 8}) {
    bool has;
    int64_t v = 0;
    ASSERT_TRUE(d.next(&has, &v).ok());
    EXPECT_EQ(v, want);
  }
  DeltaEncoder e2;
  e2.append(5);
  e2.append_null();
  e2.append(6);
  e2.append(7);
  EXPECT_EQ(e2.finish(), hex("7f 05 00 01 02 01"));
}

// append_runs and append_delta_runs hand encoders whole runs: the bytes must be those of
// appending the same values one by one, split into calls anywhere (a column built a block at
// a time), with nulls anywhere, values from a small range (runs) and a large one (literals).
TEST(Rle, RunsAppendedWholeMatchValueByValue) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    const size_t n = rng() % 40;
    const uint64_t range = trial % 3 == 0 ? 3 : trial % 3 == 1 ? 2 : 1000;
    std::vector<std::optional<uint64_t>> vals(n);
    for (auto& v : vals)
      if (rng() % 4 != 0) v = rng() % range;
    std::vector<bool> bits(n);
    for (size_t k = 0; k < n; ++k) bits[k] = rng() % range == 0;
    UintEncoder one, whole;
    DeltaEncoder one_delta;
    IntEncoder whole_delta;
    BoolEncoder one_bool, whole_bool;
    for (size_t k = 0; k < n; ++k) {
      if (vals[k]) {
        one.append(*vals[k]);
        one_delta.append(static_cast<int64_t>(*vals[k]));
      } else {
        one.append_null();
        one_delta.append_null();
      }
      one_bool.append(bits[k]);
    }
    int64_t last = 0;
    for (size_t at = 0; at < n;) {
      const size_t m = std::min(n - at, size_t(1 + rng() % 12));
      auto is_null = [&](size_t k) { return !vals[at + k].has_value(); };
      append_runs(whole, m, is_null, [&](size_t k) { return *vals[at + k]; });
      append_delta_runs(whole_delta, &last, m, is_null,
                        [&](size_t k) { return static_cast<int64_t>(*vals[at + k]); });
      append_runs(whole_bool, m, nullptr, [&](size_t k) { return bool(bits[at + k]); });
      at += m;
    }
    ASSERT_EQ(whole.finish(), one.finish()) << trial;
    ASSERT_EQ(whole_delta.finish(), one_delta.finish()) << trial;
    ASSERT_EQ(whole_bool.finish(), one_bool.finish()) << trial;
  }
}

TEST(Boolean, SpecExamples) {
  auto enc = [](std::vector<bool> v) {
    BoolEncoder e;
    for (bool b : v) e.append(b);
    return e.finish();
  };
  EXPECT_EQ(enc({true, true, false, false, false}), hex("00 02 03"));
  EXPECT_EQ(enc({false, false}), hex("02"));
  EXPECT_EQ(enc({true}), hex("00 01"));
  EXPECT_EQ(enc({}), Bytes{});
  Bytes b = hex("00 02 03");
  BoolDecoder d(b);
  for (bool want : {true, true, false, false, false}) {
    bool v;
    ASSERT_TRUE(d.next(&v).ok());
    EXPECT_EQ(v, want);
  }
  EXPECT_TRUE(d.done());
  Bytes bad = hex("01 00 02");  // zero-length run after the first
  BoolDecoder d2(bad);
  bool v;
  ASSERT_TRUE(d2.next(&v).ok());
  EXPECT_FALSE(d2.next(&v).ok());
}

TEST(Values, SpecExamples) {
  struct Case { Value v; std::string meta, raw; };
  std::vector<Case> cases;
  Value u; u.type = 3; u.u = 300; cases.push_back({u, "7f23", "ac02"});
  Value i; i.type = 4; i.i = -3; cases.push_back({i, "7f14", "7d"});
  Value f; f.type = 5; f.f = 3.5; cases.push_back({f, "7f8501", "000000000000 0c40"});
  Value s; s.type = 6; s.bytes = "h\xc3\xa9llo"; cases.push_back({s, "7f66", "68c3a96c6c6f"});
  Value c; c.type = 8; c.i = 10; cases.push_back({c, "7f18", "0a"});
  Value t; t.type = 9; t.i = 1700000000000; cases.push_back({t, "7f69", "80d095ffbc31"});
  for (auto& cs : cases) {
    ValueEncoder e;
    e.append(cs.v);
    Bytes meta = e.finish_meta(), raw = e.finish_raw();
    EXPECT_EQ(meta, hex(cs.meta));
    EXPECT_EQ(raw, hex(cs.raw));
    ValueDecoder d(meta, raw);
    Value got;
    ASSERT_TRUE(d.next(&got).ok());
    EXPECT_TRUE(got == cs.v);
  }
}

// next_n reads a run of the metadata column at a time: the values must be those encoded, in
// blocks of any size as one at a time (next()), runs of each type included; and a raw column
// too short for a run, a null, or a bad payload length must be refused either way.
TEST(Values, ReadInBlocksAsOneByOne) {
  std::vector<Value> vals;
  std::mt19937_64 rng(11);
  for (int k = 0; k < 600; ++k) {
    Value v;
    const int kind = static_cast<int>(rng() % 7);
    const int repeat = 1 + static_cast<int>(rng() % 4);  // runs of equal metadata
    for (int r = 0; r < repeat; ++r) {
      v = Value();
      switch (kind) {
        case 0: v.type = 0; break;
        case 1: v.type = 2; break;
        case 2: v.type = 3; v.u = rng() % 100; break;
        case 3: v.type = 4; v.i = -static_cast<int64_t>(rng() % 50); break;
        case 4: v.type = 5; v.f = static_cast<double>(rng() % 1000) / 8; break;
        case 5: v.type = 6; v.bytes = std::string(1 + kind % 3, static_cast<char>('a' + rng() % 26)); break;
        default: v.type = 7; v.bytes = std::string(20, static_cast<char>(rng())); break;
      }
      vals.push_back(v);
    }
  }
  ValueEncoder e;
  for (const Value& v : vals) e.append(v);
  const Bytes meta = e.finish_meta(), raw = e.finish_raw();
  ValueDecoder one(meta, raw), blocks(meta, raw);
  std::vector<ValueView> got(vals.size());
  for (size_t at = 0; at < vals.size();) {
    const size_t m = std::min(vals.size() - at, size_t(1 + rng() % 30));
    ASSERT_TRUE(blocks.next_n(m, got.data() + at).ok());
    at += m;
  }
  EXPECT_TRUE(blocks.done());
  for (size_t k = 0; k < vals.size(); ++k) {
    ValueView want;
    ASSERT_TRUE(one.next(&want).ok());
    ASSERT_EQ(got[k].type, want.type) << k;
    ASSERT_EQ(got[k].bytes(), want.bytes()) << k;
    if (!ValueView::has_bytes(want.type)) {
      ASSERT_EQ(got[k].u, want.u) << k;
    }
    Value copied;
    got[k].copy_to(&copied);
    ASSERT_TRUE(copied == vals[k]) << k;
  }
  // Refused: a run of three 2-byte strings with 5 raw bytes; a null; a uint whose payload
  // is longer than its LEB128; a boolean with a payload.
  for (const auto& [m, r] : std::vector<std::pair<std::string, std::string>>{
           {"03 26", "6162636465"}, {"00 01", ""}, {"7f 23", "0100"}, {"7f 12", "00"}}) {
    Bytes mb = hex(m), rb = hex(r);
    ValueDecoder d(mb, rb), d1(mb, rb);
    ValueView v[3];
    EXPECT_FALSE(d.next_n(m == "03 26" ? 3 : 1, v).ok()) << m;
    Status s1 = d1.next(&v[0]);
    for (int k = 1; k < 3 && s1.ok() && m == "03 26"; ++k) s1 = d1.next(&v[k]);
    EXPECT_FALSE(s1.ok()) << m;
  }
}

// deflate_raw's streams inflate to their input, also under zlib (as strict as the library's
// inflater): empty, around the 256-byte threshold, text-like, a long run, and random bytes,
// which do not compress and must come back as stored blocks, little larger than the input.
TEST(Deflate, RoundTripsAnyDataStrictly) {
  std::mt19937_64 rng(5);
  auto random_bytes = [&](size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
  };
  auto words = [&](size_t n) {
    static const char* w[] = {"change ", "op ", "actor ", "heads ", "chunk ", "the ", "a "};
    Bytes b;
    while (b.size() < n) put_bytes(b, as_bytes(w[rng() % 7]));
    b.resize(n);
    return b;
  };
  std::vector<Bytes> inputs = {Bytes{}, Bytes{'x'}, words(255), words(256), words(70000),
                               Bytes(5u << 20, 'a'), random_bytes(300), random_bytes(1u << 20)};
  for (const Bytes& in : inputs) {
    SCOPED_TRACE(in.size());
    const Bytes out = deflate_raw(in);
    Bytes back;
    ASSERT_TRUE(inflate_raw(out, &back).ok());
    EXPECT_TRUE(back == in);
    EXPECT_TRUE(check_deflate_strict(out).ok());
    EXPECT_LE(out.size(), in.size() + in.size() / 1000 + 16);
  }
  EXPECT_LT(deflate_raw(words(70000)).size(), 70000u / 3);
}

TEST(Hash, HexRoundTrip) {
  ChangeHash h = sha256(as_bytes("abc"));
  EXPECT_EQ(to_hex(h), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ChangeHash back;
  ASSERT_TRUE(parse_hash_hex(to_hex(h), &back));
  EXPECT_EQ(back, h);
  EXPECT_FALSE(parse_hash_hex("zz", &back));
}

// sha256_padded hashes as sha256 does at every length around the block boundaries (55/56
// bytes: one block of padding or two), keeps the data, and writes nothing past its room.
TEST(Hash, PaddedInPlaceMatchesSha256) {
  uint64_t seed = 7;
  for (size_t size = 0; size <= 300; ++size) {
    std::vector<uint8_t> buf(size + kSha256PadRoom + 16, 0xa5);
    for (size_t i = 0; i < size; ++i) {
      seed = seed * 6364136223846793005u + 1442695040888963407u;
      buf[i] = static_cast<uint8_t>(seed >> 56);
    }
    const std::vector<uint8_t> data(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(size));
    SCOPED_TRACE(size);
    EXPECT_EQ(sha256_padded(buf.data(), size), sha256(ByteView(data.data(), data.size())));
    EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
    for (size_t i = size + kSha256PadRoom; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0xa5) << i;
  }
  uint8_t abc[3 + kSha256PadRoom] = {'a', 'b', 'c'};
  EXPECT_EQ(to_hex(sha256_padded(abc, 3)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// hash_equal and hash_less (word compares) agree with std::array's == and <, byte order
// included, for hashes that differ in each byte, in either direction.
TEST(Hash, WordComparesAgreeWithTheArrays) {
  const ChangeHash base = sha256(as_bytes("abc"));
  EXPECT_TRUE(hash_equal(base, base));
  EXPECT_FALSE(hash_less(base, base));
  for (size_t i = 0; i < base.size(); ++i) {
    for (int delta : {1, -1, 0x80}) {
      ChangeHash other = base;
      other[i] = static_cast<uint8_t>(other[i] + delta);
      SCOPED_TRACE(std::to_string(i) + " " + std::to_string(delta));
      EXPECT_FALSE(hash_equal(base, other));
      EXPECT_EQ(hash_less(base, other), base < other);
      EXPECT_EQ(hash_less(other, base), other < base);
    }
  }
  // Pairs that differ in many bytes: the first difference decides, not a word's value.
  ChangeHash a = base, b = sha256(as_bytes("abd"));
  for (int k = 0; k < 200; ++k) {
    b[0] = a[0];  // the first byte shared; every second pair, the first word
    if (k % 2) std::copy(a.begin(), a.begin() + 8, b.begin());
    EXPECT_EQ(hash_equal(a, b), a == b);
    EXPECT_EQ(hash_less(a, b), a < b) << k;
    EXPECT_EQ(hash_less(b, a), b < a) << k;
    a = sha256(ByteView(b.data(), b.size()));
    b = sha256(ByteView(a.data(), a.size()));
  }
}

// Both inline strings hold every length, inline or on the heap, through copies, moves and
// assignments, and compare as std::string does. (Lengths 16–28 take ActorId's 16-byte
// copies; a wrong overlap there garbles the middle bytes.)
template <typename S>
void check_small_string() {
  std::vector<std::string> all;
  for (size_t n = 0; n <= 40; ++n) {
    std::string x(n, '\0');
    for (size_t i = 0; i < n; ++i) x[i] = static_cast<char>('a' + (i * 7 + n) % 26);
    all.push_back(x);
  }
  for (const std::string& x : all) {
    S a(x);
    EXPECT_EQ(a.view(), x);
    S b = a;              // copy
    S c = std::move(b);   // move
    EXPECT_EQ(c.view(), x);
    S d("other");
    d = c;                // copy-assign over another value
    EXPECT_EQ(d.view(), x);
    d = S(std::string(x.size() + 20, 'z'));  // move-assign a heap one
    d.assign(x);
    EXPECT_EQ(d.view(), x);
    for (const std::string& y : all) {
      const S e(y);
      EXPECT_EQ(a == e, x == y);
      EXPECT_EQ(a < e, x < y) << x << " " << y;
    }
  }
}

TEST(SmallString, EveryLengthInlineOrOnTheHeap) {
  check_small_string<SmallString>();
  check_small_string<ActorId>();
  static_assert(sizeof(SmallString) == 16 && sizeof(ActorId) == 32);
}

// copy_bytes copies every length, apart or moved down over itself, as memmove does.
TEST(SmallString, CopyBytesAsMemmove) {
  for (size_t n = 0; n <= 48; ++n) {
    for (size_t shift = 0; shift <= 20; ++shift) {  // 0: apart; else dst = src − shift
      char got[160], want[160];
      for (size_t k = 0; k < sizeof got; ++k) got[k] = want[k] = static_cast<char>(k * 7 + 1);
      const size_t src = 40, dst = shift == 0 ? 100 : src - shift;
      copy_bytes(got + dst, got + src, n);
      std::memmove(want + dst, want + src, n);
      ASSERT_EQ(std::memcmp(got, want, sizeof got), 0) << n << " " << shift;
    }
  }
}

// A SmallVector holds what a std::vector of the same items holds, through every way it is
// filled, copied and moved, inline (up to N) and on the heap (more); `make(i)` makes item i.
template <typename T, size_t N = 1, typename Make>
void check_small_vector(Make make) {
  using V = SmallVector<T, N>;
  auto same = [](const V& d, const std::vector<T>& v) {
    if (d.size() != v.size() || d.empty() != v.empty()) return false;
    if (!std::equal(d.begin(), d.end(), v.begin(), v.end())) return false;
    for (size_t k = 0; k < v.size(); ++k)
      if (!(d[k] == v[k]) || !(d.data()[k] == v[k])) return false;
    return true;
  };
  for (int n = 0; n <= static_cast<int>(N) + 8; ++n) {
    V d;
    std::vector<T> v;
    for (int i = 0; i < n; ++i) {
      if (i % 2) d.push_back(make(i)); else d.emplace_back(make(i));
      v.push_back(make(i));
      ASSERT_TRUE(same(d, v)) << n << " " << i;
    }
    if (n > 0) {  // a push_back of one of its own items, as the list grows
      V grown = d;
      std::vector<T> w = v;
      grown.push_back(grown[0]);
      w.push_back(w[0]);
      ASSERT_TRUE(same(grown, w)) << n;
      grown.pop_back();
      w.pop_back();
      ASSERT_TRUE(same(grown, w)) << n;
    }
    V copy(d);
    EXPECT_TRUE(same(copy, v)) << n;
    V assigned = {make(99)};
    assigned = d;
    EXPECT_TRUE(same(assigned, v)) << n;
    // Made in memory full of other bytes, so that an item not moved cannot pass for one.
    alignas(V) unsigned char room[sizeof(V)];
    std::memset(room, 0xab, sizeof room);
    V& moved = *new (room) V(std::move(copy));
    EXPECT_TRUE(same(moved, v)) << n;
    EXPECT_TRUE(copy.empty()) << n;  // NOLINT(bugprone-use-after-move): moved from, empty
    V move_assigned = {make(7), make(8), make(9)};
    move_assigned = std::move(moved);
    moved.~V();
    EXPECT_TRUE(same(move_assigned, v)) << n;
    V ranged;
    ranged.assign(v.data(), v.data() + v.size());
    EXPECT_TRUE(same(ranged, v)) << n;
    const size_t skip = n > 1 ? 1 : 0;
    ranged.assign(ranged.begin() + skip, ranged.end());  // a range of its own
    EXPECT_TRUE(same(ranged, std::vector<T>(v.begin() + skip, v.end()))) << n;
    ranged.resize(n + 2);
    std::vector<T> resized(v.begin() + skip, v.end());
    resized.resize(n + 2);
    EXPECT_TRUE(same(ranged, resized)) << n;
    ranged.resize(1);
    resized.resize(1);
    EXPECT_TRUE(same(ranged, resized)) << n;
    ranged.clear();
    EXPECT_TRUE(same(ranged, {})) << n;
    ranged.push_back(make(5));  // reused after clear
    EXPECT_TRUE(same(ranged, {make(5)})) << n;
    ranged.release();
    EXPECT_TRUE(same(ranged, {})) << n;
  }
  V listed = {make(1)};
  EXPECT_TRUE(same(listed, {make(1)}));
  listed = {make(2), make(3)};
  EXPECT_TRUE(same(listed, {make(2), make(3)}));
  listed = {};
  EXPECT_TRUE(same(listed, {}));
}

// Counts its instances alive: a SmallVector destroys every item it made, once.
struct Counted {
  static inline int alive = 0;
  int value = 0;
  Counted() { ++alive; }
  Counted(int v) : value(v) { ++alive; }  // NOLINT: implicit, as the test makes them
  Counted(const Counted& o) : value(o.value) { ++alive; }
  Counted(Counted&& o) noexcept : value(o.value) { ++alive; }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) = default;
  ~Counted() { --alive; }
  bool operator==(const Counted& o) const { return value == o.value; }
};

TEST(SmallVector, HoldsWhatAVectorHolds) {
  check_small_vector<ChangeHash>([](int i) {
    ChangeHash h{};
    for (size_t k = 0; k < h.size(); ++k) h[k] = static_cast<uint8_t>(i * 31 + k);
    return h;
  });
  // Actor ids inline in the string (16 bytes) and on the heap (40).
  for (size_t length : {16, 40})
    check_small_vector<ActorId>([length](int i) { return ActorId(std::string(length, char('a' + i))); });
  check_small_vector<Counted>([](int i) { return Counted(i); });
  check_small_vector<Counted, 3>([](int i) { return Counted(i); });
  EXPECT_EQ(Counted::alive, 0);
  // A change's chunk: bytes, 120 inline.
  check_small_vector<uint8_t, 120>([](int i) { return static_cast<uint8_t>(i * 7 + 1); });
}

// append_made appends what make(at, i) constructs, after the items there, inline or not.
TEST(SmallVector, AppendMadeAppendsInOrder) {
  SmallVector<SmallString, 2> v;
  v.push_back("first");
  v.append_made(3, [](SmallString* at, size_t i) {
    new (at) SmallString(std::string(i + 13, static_cast<char>('a' + i)));  // on the heap
  });
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0].view(), "first");
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(v[i + 1].view(), std::string(i + 13, static_cast<char>('a' + i)));
  v.append_made(0, [](SmallString*, size_t) { FAIL(); });
  EXPECT_EQ(v.size(), 4u);
  // A make that throws: the items it made are destroyed (their heap strings freed: a leak
  // fails this under ASan), and the list is as it was.
  EXPECT_THROW(v.append_made(3,
                             [](SmallString* at, size_t i) {
                               if (i == 2) throw std::runtime_error("no");
                               new (at) SmallString(std::string(20, 'z'));
                             }),
               std::runtime_error);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[3].view(), std::string(15, 'c'));
  v.push_back("after");
  EXPECT_EQ(v[4].view(), "after");
}

// assign_padded gives what assign gives: inline (a fixed-size copy, which reads past the
// items) and on the heap, shorter and longer than before.
TEST(SmallVector, AssignPaddedAssigns) {
  std::vector<uint8_t> buf(300);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 7 + 1);
  SmallVector<uint8_t, 120> v;
  for (size_t n : {0, 1, 100, 120, 5, 121, 200, 7, 120}) {
    v.assign_padded(buf.data() + 3, n);
    EXPECT_EQ(v.to_vector(), std::vector<uint8_t>(buf.begin() + 3, buf.begin() + 3 + n)) << n;
  }
}

// An op's flags byte holds its flags as the kFlag bits say (the bit-fields' layout).
TEST(Op, FlagsByteHoldsTheFlags) {
  for (unsigned bits = 0; bits < 16; ++bits) {
    Op op;
    op.flags = static_cast<uint8_t>(bits);
    EXPECT_EQ(op.map_key, (bits & Op::kMapKeyFlag) != 0) << bits;
    EXPECT_EQ(op.insert, (bits & Op::kInsertFlag) != 0) << bits;
    EXPECT_EQ(op.expand, (bits & Op::kExpandFlag) != 0) << bits;
    EXPECT_EQ(op.has_mark_name, (bits & Op::kMarkNameFlag) != 0) << bits;
    Op set;
    set.map_key = bits & Op::kMapKeyFlag;
    set.insert = bits & Op::kInsertFlag;
    set.expand = bits & Op::kExpandFlag;
    set.has_mark_name = bits & Op::kMarkNameFlag;
    EXPECT_EQ(set.flags, bits);
    EXPECT_EQ(set.action, 0);  // (the byte before, untouched)
  }
  EXPECT_EQ(Op().flags, 0);
}

// Op ids compare (as words) as their fields do: equal when both are, and in Lamport order,
// counters first.
TEST(OpId, WordComparesAgreeWithTheFields) {
  const uint32_t values[] = {0, 1, 2, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu};
  for (uint32_t c1 : values)
    for (uint32_t a1 : values)
      for (uint32_t c2 : values)
        for (uint32_t a2 : values) {
          const OpId x{c1, a1}, y{c2, a2};
          EXPECT_EQ(x == y, c1 == c2 && a1 == a2);
          EXPECT_EQ(x != y, !(c1 == c2 && a1 == a2));
          EXPECT_EQ(lamport_less(x, y), c1 != c2 ? c1 < c2 : a1 < a2);
        }
}

// same_actor agrees with string equality, at 16 bytes (compared as two words) and others.
TEST(Change, SameActorAgreesWithStringEquality) {
  for (size_t n : {0, 1, 15, 16, 17, 32}) {
    const std::string a(n, '\x5a');
    EXPECT_TRUE(same_actor(a, a));
    EXPECT_FALSE(same_actor(a, a + "x"));
    for (size_t i = 0; i < n; ++i) {
      std::string b = a;
      b[i] = '\x5b';
      EXPECT_FALSE(same_actor(a, b)) << n << " " << i;
    }
  }
}

// Changes made by a ChangeArena live on their own: each holds what was written to it until it
// is deleted, in any order, before or after its arena is gone, among changes made alone.
// (Built with ASan, as in build-fuzz, a block freed while a change in it lives, or never
// freed, fails it too. Without, a block freed too soon fails it as its memory is reused.)
TEST(ChangeArena, ChangesLiveUntilEachIsDeleted) {
  std::mt19937 rng(7);
  for (size_t expected : {0, 1, 5, 150, 400}) {
    for (size_t made : {size_t{1}, expected, expected + 3, 2 * expected + 1}) {
      std::vector<std::unique_ptr<StoredChange>> changes;
      {
        ChangeArena arena(expected);
        for (size_t i = 0; i < made; ++i) {
          // Every third made alone, between the arena's.
          changes.emplace_back(i % 3 == 2 ? new StoredChange : arena.make());
          StoredChange& sc = *changes.back();
          sc.hash.fill(static_cast<uint8_t>(i));
          // Inline (one-op changes) or on the heap, every other.
          sc.chunk.resize(i % 2 ? 130 : 90);
          std::fill(sc.chunk.begin(), sc.chunk.end(), static_cast<uint8_t>(i * 3));
          sc.change.seq = i + 1;
        }
        // Half deleted before the arena is gone, at random.
        std::shuffle(changes.begin(), changes.end(), rng);
        changes.resize(changes.size() / 2);
      }
      // Memory freed above is handed out again here: a block freed too soon is overwritten.
      std::vector<std::vector<uint8_t>> churn(64, std::vector<uint8_t>(352, 0xee));
      std::shuffle(changes.begin(), changes.end(), rng);
      while (!changes.empty()) {
        for (const auto& c : changes) {
          const size_t i = c->change.seq - 1;
          ASSERT_EQ(c->hash[31], static_cast<uint8_t>(i));
          ASSERT_EQ(c->chunk.size(), i % 2 ? 130u : 90u);
          ASSERT_EQ(c->chunk[c->chunk.size() - 1], static_cast<uint8_t>(i * 3));
        }
        changes.pop_back();
      }
    }
  }
}

TEST(ChangeEncoding, OneOpShortcutWritesWhatTheGeneralEncodersWrite) {
  std::vector<Value> values;
  auto add_value = [&](ValueType t, auto set) {
    Value v;
    v.type = static_cast<uint8_t>(t);
    set(v);
    values.push_back(v);
  };
  add_value(ValueType::kNull, [](Value&) {});
  add_value(ValueType::kTrue, [](Value&) {});
  add_value(ValueType::kFalse, [](Value&) {});
  add_value(ValueType::kUint, [](Value& v) { v.u = 300; });
  add_value(ValueType::kInt, [](Value& v) { v.i = -70; });
  add_value(ValueType::kF64, [](Value& v) { v.f = 2.5; });
  add_value(ValueType::kCounter, [](Value& v) { v.i = 1LL << 40; });
  add_value(ValueType::kTimestamp, [](Value& v) { v.i = 1700000000000; });
  add_value(ValueType::kString, [](Value& v) { v.bytes = "a"; });
  add_value(ValueType::kString, [](Value& v) { v.bytes = std::string(200, 'x'); });  // 2-byte lengths
  add_value(ValueType::kBytes, [](Value& v) { v.bytes = std::string("\0\1", 2); });
  size_t checked = 0, shortcut = 0;
  for (bool root : {true, false})
    for (int key : {0, 1, 2})  // map key; list element HEAD; list element
      for (bool insert : {false, true})
        for (uint8_t action : {0, 1, 2, 3, 4, 5, 7})
          for (const Value& value : values)
            for (int preds : {0, 1, 2})
              for (bool expand : {false, true})
                for (int mark : {0, 1, 2}) {  // none; short; long (a 2-byte column length)
                  if (key == 0 && insert) continue;
                  // Long map keys (a 2-byte column length) with the long mark names.
                  const std::string title = mark == 2 ? std::string(130, 'k') : "title";
                  Change c;
                  c.actors = {std::string(16, '\x01'), std::string(16, '\x02')};
                  c.seq = 3;
                  c.start_op = 200;
                  Op op;
                  op.obj = root ? OpId{} : OpId{130, 1};
                  op.map_key = key == 0;
                  if (key == 0) op.key = title;
                  if (key == 2) op.elem = OpId{64, 1};  // 64: its uLEB and sLEB forms differ
                  op.insert = insert;
                  op.action = action;
                  op.value = value;
                  op.expand = expand;
                  op.has_mark_name = mark != 0;
                  if (mark) c.mutable_mark_names().emplace_back(0, mark == 1 ? "bold" : std::string(140, 'b'));
                  op.pred_count = static_cast<uint32_t>(preds);
                  for (int k = 0; k < preds; ++k) c.preds.push_back(OpId{static_cast<uint32_t>(64 + k), 1});
                  c.ops.push_back(op);
                  Bytes fast;
                  encode_change_body(c, fast);
                  const Bytes general = encode_change_body_general(c);
                  ASSERT_EQ(fast, general) << "root " << root << " key " << key << " insert " << insert
                                           << " action " << int(action) << " value type "
                                           << int(value.type) << " preds " << preds << " mark "
                                           << mark;
                  ++checked;
                  shortcut += preds <= 1;
                }
  // Keys and values about the size up to which the shortcut writes its columns in place
  // (each column's length a byte), and beyond it, where they go through a buffer.
  for (size_t key_size : {0, 99, 100, 101, 126, 127, 128})
    for (size_t value_size : {99, 100, 101, 126, 127, 128})
      for (bool bytes : {false, true}) {
        Change c;
        c.actors = {std::string(16, '\x01')};
        c.seq = 1;
        c.start_op = 1;
        Op op;
        op.map_key = key_size > 0;
        op.key = std::string(key_size, 'k');
        op.insert = key_size == 0;
        op.action = 1;
        op.value.type = static_cast<uint8_t>(bytes ? ValueType::kBytes : ValueType::kString);
        op.value.bytes = std::string(value_size, 'v');
        c.ops.push_back(op);
        Bytes fast;
        encode_change_body(c, fast);
        ASSERT_EQ(fast, encode_change_body_general(c)) << key_size << " " << value_size;
        ++checked;
      }
  EXPECT_GT(shortcut, 0u);
  std::cout << "one-op changes compared: " << checked << " (" << shortcut << " through the shortcut)\n";
}

// A change's message, extra bytes and mark names live out of line (ChangeRare): a copy holds
// its own, and they survive the encoding round trip.
TEST(Change, RarePartsAreCopiedAndRoundTrip) {
  Change c;
  c.actors = {std::string(16, '\x01')};
  c.seq = 1;
  c.start_op = 1;
  EXPECT_TRUE(c.message().empty());
  EXPECT_TRUE(c.extra().empty());
  EXPECT_TRUE(c.mark_names().empty());
  EXPECT_EQ(c.rare.get(), nullptr);  // nothing rare: nothing allocated
  Op op;  // root["k"] = true
  op.action = static_cast<uint8_t>(Action::kSet);
  op.map_key = true;
  op.key = "k";
  op.value.type = static_cast<uint8_t>(ValueType::kTrue);
  c.ops.push_back(op);
  c.mutable_message() = "hello";
  c.mutable_extra() = Bytes{1, 2, 3};
  Change copy = c;
  copy.mutable_message() = "changed";
  copy.mutable_extra().push_back(4);
  EXPECT_EQ(c.message(), "hello");
  EXPECT_EQ(c.extra(), (Bytes{1, 2, 3}));
  EXPECT_EQ(copy.message(), "changed");
  EXPECT_EQ(copy.extra(), (Bytes{1, 2, 3, 4}));
  auto back = decode_change(encode_change_body(c));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->message(), "hello");
  EXPECT_EQ(back->extra(), (Bytes{1, 2, 3}));
  Change moved = std::move(copy);
  EXPECT_EQ(moved.message(), "changed");
}

}  // namespace
}  // namespace amstore
