// Flat hash maps: open addressing with linear probing in one array, no allocation per entry.
// Far cheaper than std::unordered_map for the 10^5–10^6 op ids and change hashes of a large
// document. Insert and find only (nothing here needs erase). Each map hashes with a Hash
// object of its own: the keyed hashes below draw a random key per map.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "automerge/hash.h"
#include "automerge/keyed_hash.h"

namespace amstore {

// Slots for a table of n entries kept at most half full: a power of two, at least 16.
inline size_t table_capacity(size_t n) {
  size_t c = 16;
  while (c < n * 2) c <<= 1;
  return c;
}

template <typename K, typename V, typename Hash>
class FlatMap {
 public:
  size_t size() const { return size_; }
  void clear() {
    slots_.clear();
    size_ = 0;
  }
  void reserve(size_t n) {
    if (n * 2 > slots_.size()) rehash(table_capacity(n));
  }
  V* find(const K& key) {
    if (slots_.empty()) return nullptr;
    size_t mask = slots_.size() - 1;
    for (size_t i = hash_(key) & mask;; i = (i + 1) & mask) {
      if (!slots_[i].used) return nullptr;
      if (slots_[i].key == key) return &slots_[i].value;
    }
  }
  const V* find(const K& key) const { return const_cast<FlatMap*>(this)->find(key); }
  bool contains(const K& key) const { return find(key) != nullptr; }
  // Starts loading the slot where `key` would go: a caller inserting many keys into a large
  // table (each a cache miss) can ask a few keys ahead. Valid until the table grows.
  void prefetch(const K& key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash_(key) & (slots_.size() - 1)], 1);
  }

  // Inserts if absent. Returns the value and whether it was inserted.
  std::pair<V*, bool> emplace(const K& key, const V& value) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(table_capacity(size_ + 1));
    size_t mask = slots_.size() - 1;
    for (size_t i = hash_(key) & mask;; i = (i + 1) & mask) {
      if (!slots_[i].used) {
        slots_[i] = Slot{key, value, true};
        ++size_;
        return {&slots_[i].value, true};
      }
      if (slots_[i].key == key) return {&slots_[i].value, false};
    }
  }

 private:
  struct Slot {
    K key{};
    V value{};
    bool used = false;
  };
  void rehash(size_t cap) {
    std::vector<Slot> old(cap);
    old.swap(slots_);
    size_ = 0;
    for (auto& s : old)
      if (s.used) emplace(s.key, s.value);
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  Hash hash_;
};

// Op ids (opid_key), which clients choose.
template <typename V>
using U64Map = FlatMap<uint64_t, V, KeyedU64Hash>;
// Change hashes: SHA-256, uniform, but a client can grind changes whose hashes begin alike;
// the table mixes their first 8 bytes under its own key.
struct KeyedChangeHash {
  KeyedU64Hash mix;
  size_t operator()(const ChangeHash& h) const {
    uint64_t v;
    std::memcpy(&v, h.data(), sizeof(v));
    return mix(v);
  }
};
template <typename V>
using ChangeHashMap = FlatMap<ChangeHash, V, KeyedChangeHash>;

}  // namespace amstore
