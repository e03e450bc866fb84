#include "automerge/keyed_hash.h"

#include <bit>
#include <cstring>
#include <random>

namespace amstore {

namespace {

struct SipState {
  uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13) ^ v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16) ^ v2;
    v0 += v3;
    v3 = std::rotl(v3, 21) ^ v0;
    v2 += v1;
    v1 = std::rotl(v1, 17) ^ v2;
    v2 = std::rotl(v2, 32);
  }
  void absorb(uint64_t m, int c) {
    v3 ^= m;
    for (int i = 0; i < c; ++i) round();
    v0 ^= m;
  }
};

uint64_t load_le64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

template <int C, int D>
uint64_t sip(uint64_t k0, uint64_t k1, std::string_view s) {
  SipState st{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
              k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
  const size_t whole = s.size() & ~size_t(7);
  for (size_t i = 0; i < whole; i += 8) st.absorb(load_le64(s.data() + i), C);
  // The last word: the remaining bytes, little-endian, and the length's low byte on top.
  uint64_t last = uint64_t(s.size() & 0xff) << 56;
  for (size_t i = whole; i < s.size(); ++i)
    last |= uint64_t(static_cast<unsigned char>(s[i])) << (8 * (i - whole));
  st.absorb(last, C);
  st.v2 ^= 0xff;
  for (int i = 0; i < D; ++i) st.round();
  return st.v0 ^ st.v1 ^ st.v2 ^ st.v3;
}

}  // namespace

void next_table_key(uint64_t* k0, uint64_t* k1) {
  // Asking the system for randomness takes ~35 µs here (more than a small merge), and
  // tables are made per document and per merge: each thread draws a key once, and each
  // table takes the next one in its sequence.
  struct ThreadKeys {
    uint64_t k0, k1;
    ThreadKeys() {
      std::random_device rd;
      k0 = uint64_t(rd()) << 32 | rd();
      k1 = uint64_t(rd()) << 32 | rd();
    }
  };
  thread_local ThreadKeys keys;
  *k0 = keys.k0++;
  *k1 = keys.k1;
}

KeyedHash::KeyedHash() { next_table_key(&k0_, &k1_); }

KeyedU64Hash::KeyedU64Hash() {
  uint64_t unused;  // one 64-bit key is all the mix takes
  next_table_key(&key_, &unused);
}

uint64_t siphash13(uint64_t k0, uint64_t k1, std::string_view s) { return sip<1, 3>(k0, k1, s); }
uint64_t siphash24(uint64_t k0, uint64_t k1, std::string_view s) { return sip<2, 4>(k0, k1, s); }

}  // namespace amstore
