// A hash map from nonzero 64-bit keys (packed op ids) to small values: open addressing with
// linear probing in one flat array. Far cheaper than std::unordered_map for the millions of
// op ids of a large document (no allocation per entry). Key 0 marks an empty slot; op ids
// always have a counter of at least 1, so they are never 0.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "automerge/hash.h"

namespace amstore {

template <typename V>
class U64Map {
 public:
  void reserve(size_t n) {
    if (n * 2 > slots_.size()) rehash(capacity_for(n));
  }
  V* find(uint64_t key) {
    if (slots_.empty()) return nullptr;
    size_t mask = slots_.size() - 1;
    for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
      if (slots_[i].first == key) return &slots_[i].second;
      if (slots_[i].first == 0) return nullptr;
    }
  }
  const V* find(uint64_t key) const { return const_cast<U64Map*>(this)->find(key); }

  // Inserts if absent. Returns the value and whether it was inserted.
  std::pair<V*, bool> emplace(uint64_t key, const V& value) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(capacity_for(size_ + 1));
    size_t mask = slots_.size() - 1;
    for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
      if (slots_[i].first == key) return {&slots_[i].second, false};
      if (slots_[i].first == 0) {
        slots_[i] = {key, value};
        ++size_;
        return {&slots_[i].second, true};
      }
    }
  }

 private:
  static uint64_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
  }
  static size_t capacity_for(size_t n) {
    size_t c = 16;
    while (c < n * 2) c <<= 1;
    return c;
  }
  void rehash(size_t cap) {
    std::vector<std::pair<uint64_t, V>> old(cap);
    old.swap(slots_);
    size_ = 0;
    size_t mask = slots_.size() - 1;
    for (auto& s : old) {
      if (s.first == 0) continue;
      size_t i = hash(s.first) & mask;
      while (slots_[i].first != 0) i = (i + 1) & mask;
      slots_[i] = std::move(s);
      ++size_;
    }
  }

  std::vector<std::pair<uint64_t, V>> slots_;
  size_t size_ = 0;
};

// The same for change hashes (SHA-256, so already uniform: the first 8 bytes serve as the
// hash). One flat array instead of a node per change: documents have 10^5 changes and more.
template <typename V>
class ChangeHashMap {
 public:
  size_t size() const { return size_; }
  void clear() {
    slots_.clear();
    size_ = 0;
  }
  void reserve(size_t n) {
    if (n * 2 > slots_.size()) rehash(capacity_for(n));
  }
  V* find(const ChangeHash& key) {
    if (slots_.empty()) return nullptr;
    size_t mask = slots_.size() - 1;
    for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
      if (!slots_[i].used) return nullptr;
      if (slots_[i].key == key) return &slots_[i].value;
    }
  }
  const V* find(const ChangeHash& key) const { return const_cast<ChangeHashMap*>(this)->find(key); }
  bool contains(const ChangeHash& key) const { return find(key) != nullptr; }

  // Inserts if absent. Returns the value and whether it was inserted.
  std::pair<V*, bool> emplace(const ChangeHash& key, const V& value) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(capacity_for(size_ + 1));
    size_t mask = slots_.size() - 1;
    for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
      if (slots_[i].used && slots_[i].key == key) return {&slots_[i].value, false};
      if (!slots_[i].used) {
        slots_[i] = Slot{key, value, true};
        ++size_;
        return {&slots_[i].value, true};
      }
    }
  }

 private:
  struct Slot {
    ChangeHash key{};
    V value{};
    bool used = false;
  };
  static size_t hash(const ChangeHash& k) { return ChangeHashHasher()(k); }
  static size_t capacity_for(size_t n) {
    size_t c = 16;
    while (c < n * 2) c <<= 1;
    return c;
  }
  void rehash(size_t cap) {
    std::vector<Slot> old(cap);
    old.swap(slots_);
    size_ = 0;
    for (auto& s : old)
      if (s.used) emplace(s.key, s.value);
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace amstore
