// Numbers for map keys: each distinct key gets the next number on first sight. What the op
// index compares map ops' slots by (exactly: two keys never share a number). Keys come from
// clients, so the table hashes them under a key of its own (KeyedHash). Keys numbered since
// the last commit() can be taken back with rollback().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "automerge/keyed_hash.h"

namespace amstore {

class KeyNumbers {
 public:
  uint32_t number(std::string_view key);
  void commit() {
    committed_ = names_.size();
    rebuilt_ = false;
  }
  // Forgets the keys numbered since the last commit(); their numbers are given out again.
  void rollback();
  size_t size() const { return names_.size(); }
  // Bytes held, roughly: the slots, and each key's string with what its text takes.
  size_t memory() const { return slots_.size() * sizeof(Slot) + names_.size() * sizeof(std::string) + bytes_; }

 private:
  // Open addressing with linear probing. A slot holds a key's number (kFree: none) and the
  // top half of its hash, compared before the key itself.
  struct Slot {
    uint32_t number;
    uint32_t tag;
  };
  static constexpr uint32_t kFree = UINT32_MAX;
  // Places every key anew in `capacity` slots (a power of two).
  void rebuild(size_t capacity);
  // The first free slot from where a key hashed to `h` starts probing.
  size_t free_slot(uint64_t h) const;

  KeyedHash hash_;
  std::vector<Slot> slots_;
  std::vector<std::string> names_;  // key n is names_[n]
  size_t bytes_ = 0;  // the keys' text beyond what fits inside a std::string
  size_t committed_ = 0;
  bool rebuilt_ = false;  // slots_ rebuilt since the last commit (see rollback)
};

}  // namespace amstore
