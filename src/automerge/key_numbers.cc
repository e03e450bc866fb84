#include "automerge/key_numbers.h"

namespace amstore {

namespace {
// What a std::string of `key` allocates outside itself (none when it fits inline).
size_t heap_bytes(std::string_view key) { return key.size() > 15 ? key.size() + 1 : 0; }
}  // namespace

uint32_t KeyNumbers::number(std::string_view key) {
  if ((names_.size() + 1) * 2 > slots_.size()) rebuild(slots_.empty() ? 16 : slots_.size() * 2);
  const uint64_t h = hash_(key);
  const uint32_t tag = static_cast<uint32_t>(h >> 32);
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  for (; slots_[i].number != kFree; i = (i + 1) & mask)
    if (slots_[i].tag == tag && names_[slots_[i].number] == key) return slots_[i].number;
  const uint32_t n = static_cast<uint32_t>(names_.size());
  slots_[i] = Slot{n, tag};
  names_.emplace_back(key);
  bytes_ += heap_bytes(key);
  return n;
}

size_t KeyNumbers::free_slot(uint64_t h) const {
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  while (slots_[i].number != kFree) i = (i + 1) & mask;
  return i;
}

void KeyNumbers::rebuild(size_t capacity) {
  slots_.assign(capacity, Slot{kFree, 0});
  for (uint32_t n = 0; n < names_.size(); ++n) {
    const uint64_t h = hash_(names_[n]);
    slots_[free_slot(h)] = Slot{n, static_cast<uint32_t>(h >> 32)};
  }
  rebuilt_ = true;
}

void KeyNumbers::rollback() {
  for (size_t n = committed_; n < names_.size(); ++n) bytes_ -= heap_bytes(names_[n]);
  if (rebuilt_) {
    // Rebuilt since the commit: the keys to keep may sit behind the others' slots now.
    names_.resize(committed_);
    rebuild(slots_.size());
  } else {
    // Freed newest first, each key's slot holds no probe path of an older key (older keys
    // were placed while it was free), so the table is as it was at the commit.
    const size_t mask = slots_.size() - 1;
    while (names_.size() > committed_) {
      const uint32_t n = static_cast<uint32_t>(names_.size() - 1);
      size_t i = hash_(names_[n]) & mask;
      while (slots_[i].number != n) i = (i + 1) & mask;
      slots_[i].number = kFree;
      names_.pop_back();
    }
  }
  rebuilt_ = false;
}

}  // namespace amstore
