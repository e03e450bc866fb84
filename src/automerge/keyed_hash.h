// Hashing of strings that clients choose (map keys, actor ids, document ids), for hash
// tables: SipHash-1-3 under a random key of the table's own. An unkeyed hash such as std::hash (MurmurHash64A with a
// public seed) can be made to collide at will, in any number of keys at once, and a table
// then degrades to a list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace amstore {

// SipHash-1-3 (what KeyedHash uses; one compression and three finalization rounds) and
// SipHash-2-4 of `s` under the 128-bit key (k0, k1), each half read little-endian from the
// key's bytes.
uint64_t siphash13(uint64_t k0, uint64_t k1, std::string_view s);
uint64_t siphash24(uint64_t k0, uint64_t k1, std::string_view s);

class KeyedHash {
 public:
  using is_transparent = void;  // lookups by string_view
  // A random key: the next of this thread's sequence, drawn once from std::random_device.
  KeyedHash();
  KeyedHash(uint64_t k0, uint64_t k1) : k0_(k0), k1_(k1) {}
  size_t operator()(std::string_view s) const { return siphash13(k0_, k1_, s); }

 private:
  uint64_t k0_, k1_;
};

}  // namespace amstore
