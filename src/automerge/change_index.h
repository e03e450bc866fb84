// ChangeIndex: the position of each change of a list (a document's changes, in causal order)
// by its hash, in 8 bytes a slot. A FlatMap from hash to position holds the 32-byte hash in
// every slot (40 bytes, in a table at most half full: up to 160 bytes a change, more than the
// change's own chunk); here a slot holds 32 bits mixed from the hash and the position, and a
// lookup whose bits match compares the full hash with the list's own copy. So the list must
// keep its order and outlive the lookups; callers pass `hash_at(i)`: the hash at position i.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
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
  // Adds `h` at position `pos` (< kNone) unless it is there already.
  template <typename HashAt>
  void insert(const ChangeHash& h, uint32_t pos, const HashAt& hash_at) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(table_capacity(size_ + 1));
    place(mix(h), pos, [&h]() -> const ChangeHash& { return h; }, hash_at);
  }
  // Adds new_hash(k) at position k for each k in [begin, end) (< kNone): insert() one after
  // another, each hash's first slot requested kAhead hashes before it is placed (the table
  // of a long history is megabytes: without asking ahead, every change missed the cache).
  // Sorting the hashes by the part of the table they go to, and writing the table front to
  // back, took 1.3 to 2 times as long (10^4 to 4·10^6 hashes).
  template <typename NewHash, typename HashAt>
  void insert_all(uint32_t begin, uint32_t end, const NewHash& new_hash, const HashAt& hash_at) {
    if (begin >= end) return;
    const uint32_t n = end - begin;
    if ((size_ + n) * 2 > slots_.size()) rehash(table_capacity(size_ + n));
    const size_t mask = slots_.size() - 1;
    constexpr uint32_t kAhead = 16;
    uint32_t bits[kAhead];  // of the hashes requested, at their position mod kAhead
    auto request = [&](uint32_t k) {
      bits[k % kAhead] = mix(new_hash(begin + k));
      __builtin_prefetch(&slots_[bits[k % kAhead] & mask], 1);
    };
    for (uint32_t k = 0; k < std::min(n, kAhead); ++k) request(k);
    for (uint32_t k = 0; k < n; ++k) {
      const uint32_t b = bits[k % kAhead];
      if (k + kAhead < n) request(k + kAhead);
      const uint32_t pos = begin + k;
      place(b, pos, [&]() -> const ChangeHash& { return new_hash(pos); }, hash_at);
    }
  }

 private:
  struct Slot {
    uint32_t bits = 0;  // mix(hash): its low bits also pick the first slot to probe
    uint32_t pos1 = 0;  // position + 1; 0: empty
  };
  // Keyed as a ChangeHashMap is (see KeyedChangeHash): clients can grind hashes alike.
  uint32_t mix(const ChangeHash& h) const { return static_cast<uint32_t>(key_(h)); }
  // Puts position `pos` of the hash h() (whose mix is `bits`) in the first free slot from
  // its own, unless the hash is there already (h() is called only where a slot's bits match).
  template <typename Hash, typename HashAt>
  void place(uint32_t bits, uint32_t pos, const Hash& h, const HashAt& hash_at) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = bits & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.pos1 == 0) {
        s = Slot{bits, pos + 1};
        ++size_;
        return;
      }
      if (s.bits == bits && hash_equal(hash_at(s.pos1 - 1), h())) return;
    }
  }
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
