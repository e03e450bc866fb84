// Hashing of strings that clients choose (map keys, actor ids, document ids), for hash
// tables: SipHash-1-3 under a random key of the table's own. An unkeyed hash such as std::hash (MurmurHash64A with a
// public seed) can be made to collide at will, in any number of keys at once, and a table
// then degrades to a list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace amstore {

// SipHash-1-3 (what KeyedHash uses; one compression and three finalization rounds) and
// SipHash-2-4 of `s` under the 128-bit key (k0, k1), each half read little-endian from the
// key's bytes.
uint64_t siphash13(uint64_t k0, uint64_t k1, std::string_view s);
uint64_t siphash24(uint64_t k0, uint64_t k1, std::string_view s);

// The next key of this thread's sequence for a new table: drawn once from
// std::random_device, then counted up (as Rust's RandomState does).
void next_table_key(uint64_t* k0, uint64_t* k1);

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

// try_emplace into a map keyed by std::string that looks up by string_view (KeyedHash and
// std::equal_to<>): the key becomes a string only when it is new, not on every call.
template <typename Map, typename... Args>
std::pair<typename Map::iterator, bool> try_emplace_view(Map& map, std::string_view key,
                                                         Args&&... args) {
  if (auto it = map.find(key); it != map.end()) return {it, false};
  return map.try_emplace(std::string(key), std::forward<Args>(args)...);
}

// Hashing of 64-bit keys that clients choose, for hash tables: op ids (counters are the
// client's), and the first 8 bytes of change hashes (a client can grind changes until
// their SHA-256 begins as it wants). An unkeyed mix of such keys can be inverted, or
// ground against, to put any number of them in one slot. Here the key is XORed with a
// random key of the table's own, then mixed (splitmix64's finalizer): where a key lands
// cannot be known without the table's key.
class KeyedU64Hash {
 public:
  KeyedU64Hash();
  explicit KeyedU64Hash(uint64_t key) : key_(key) {}
  size_t operator()(uint64_t k) const {
    uint64_t x = k ^ key_;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<size_t>(x ^ (x >> 31));
  }

 private:
  uint64_t key_;
};

}  // namespace amstore
