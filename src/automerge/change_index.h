// ChangeIndex: the position of each change of a list (a document's changes, in causal order)
// by its hash, in 8 bytes a slot. A FlatMap from hash to position holds the 32-byte hash in
// every slot (40 bytes, in a table at most half full: up to 160 bytes a change, more than the
// change's own chunk); here a slot holds 32 bits mixed from the hash and the position, and a
// lookup whose bits match compares the full hash with the list's own copy. So the list must
// keep its order and outlive the lookups; callers pass `hash_at(i)`: the hash at position i.
#pragma once

#include <cstdint>
#include <vector>

#include "automerge/flat_map.h"
#include "automerge/hash.h"

namespace amstore {

class ChangeIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  size_t size() const { return size_; }
  void clear() {
    slots_.clear();
    size_ = 0;
  }
  // Room for n changes in all.
  void reserve(size_t n) {
    if (n * 2 > slots_.size()) rehash(table_capacity(n));
  }
  // The position of `h`, or kNone.
  template <typename HashAt>
  uint32_t find(const ChangeHash& h, const HashAt& hash_at) const {
    if (slots_.empty()) return kNone;
    const uint32_t bits = mix(h);
    const size_t mask = slots_.size() - 1;
    for (size_t i = bits & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.pos1 == 0) return kNone;
      if (s.bits == bits && hash_equal(hash_at(s.pos1 - 1), h)) return s.pos1 - 1;
    }
  }
  // Starts loading the slot of `h` (for callers inserting many, each a cache miss).
  void prefetch(const ChangeHash& h) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[mix(h) & (slots_.size() - 1)], 1);
  }
  // Adds `h` at position `pos` (< kNone) unless it is there already.
  template <typename HashAt>
  void insert(const ChangeHash& h, uint32_t pos, const HashAt& hash_at) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(table_capacity(size_ + 1));
    const uint32_t bits = mix(h);
    const size_t mask = slots_.size() - 1;
    for (size_t i = bits & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.pos1 == 0) {
        s = Slot{bits, pos + 1};
        ++size_;
        return;
      }
      if (s.bits == bits && hash_equal(hash_at(s.pos1 - 1), h)) return;
    }
  }

 private:
  struct Slot {
    uint32_t bits = 0;  // mix(hash): its low bits also pick the first slot to probe
    uint32_t pos1 = 0;  // position + 1; 0: empty
  };
  // Keyed as a ChangeHashMap is (see KeyedChangeHash): clients can grind hashes alike.
  uint32_t mix(const ChangeHash& h) const { return static_cast<uint32_t>(key_(h)); }
  // The slots keep their mixed bits, so growing needs no hash again.
  void rehash(size_t cap) {
    std::vector<Slot> old(cap);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.pos1 == 0) continue;
      size_t i = s.bits & mask;
      while (slots_[i].pos1 != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  KeyedChangeHash key_;
};

}  // namespace amstore
