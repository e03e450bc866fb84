// SHA-256 change hashes (spec §3.2, §5.6).
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

#include "automerge/leb128.h"

namespace amstore {

using ChangeHash = std::array<uint8_t, 32>;

// Equality and order of change hashes in a few word compares, inline: loops over 10^5
// changes compare several hashes each (heads, deps), and std::array's operators call
// memcmp, whose call costs more than the comparison.
inline bool hash_equal(const ChangeHash& a, const ChangeHash& b) {
  uint64_t x[4], y[4];
  std::memcpy(x, a.data(), sizeof x);
  std::memcpy(y, b.data(), sizeof y);
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}
inline bool hash_less(const ChangeHash& a, const ChangeHash& b) {
  for (size_t off = 0; off < a.size(); off += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + off, 8);
    std::memcpy(&y, b.data() + off, 8);
    if (x == y) continue;
    if constexpr (std::endian::native == std::endian::little) {  // bytes in order
      x = __builtin_bswap64(x);
      y = __builtin_bswap64(y);
    }
    return x < y;
  }
  return false;
}

// A change's deps: a list of change hashes like std::vector's, but one is kept inline. Most
// changes have exactly one dep, and a load makes 10^5 of them (an allocation each, with
// std::vector).
class Deps {
 public:
  Deps() = default;
  Deps(std::initializer_list<ChangeHash> hashes) { assign(hashes.begin(), hashes.end()); }
  Deps(const Deps& o) { assign(o.begin(), o.end()); }
  Deps(Deps&& o) noexcept { take(o); }
  Deps& operator=(const Deps& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  Deps& operator=(Deps&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  Deps& operator=(std::initializer_list<ChangeHash> hashes) {
    assign(hashes.begin(), hashes.end());
    return *this;
  }
  ~Deps() { release(); }

  // (The range may lie in this list.)
  void assign(const ChangeHash* first, const ChangeHash* last) {
    const size_t n = static_cast<size_t>(last - first);
    if (n > capacity_) {
      auto* p = new ChangeHash[n];
      std::memcpy(p, first, sizeof(ChangeHash) * n);
      if (capacity_ > 1) delete[] heap_;
      heap_ = p;
      capacity_ = static_cast<uint32_t>(n);
    } else {
      std::memmove(data(), first, sizeof(ChangeHash) * n);
    }
    size_ = static_cast<uint32_t>(n);
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  ChangeHash* data() { return capacity_ > 1 ? heap_ : &one_; }
  const ChangeHash* data() const { return capacity_ > 1 ? heap_ : &one_; }
  ChangeHash* begin() { return data(); }
  ChangeHash* end() { return data() + size_; }
  const ChangeHash* begin() const { return data(); }
  const ChangeHash* end() const { return data() + size_; }
  ChangeHash& operator[](size_t i) { return data()[i]; }
  const ChangeHash& operator[](size_t i) const { return data()[i]; }
  void clear() { size_ = 0; }
  void reserve(size_t n) {
    if (n <= capacity_) return;
    auto* p = new ChangeHash[n];
    std::memcpy(p, data(), sizeof(ChangeHash) * size_);
    if (capacity_ > 1) delete[] heap_;
    heap_ = p;
    capacity_ = static_cast<uint32_t>(n);
  }
  void push_back(const ChangeHash& h) {
    if (size_ == capacity_) {
      const ChangeHash copy = h;  // (h may be one of these)
      reserve(2 * size_t{capacity_});
      data()[size_++] = copy;
      return;
    }
    data()[size_++] = h;
  }
  // Frees what is on the heap: empty, with room for one.
  void release() {
    if (capacity_ > 1) delete[] heap_;
    capacity_ = 1;
    size_ = 0;
  }

 private:
  void take(Deps& o) {  // of a released or new list
    size_ = o.size_;
    capacity_ = o.capacity_;
    if (capacity_ > 1) {
      heap_ = o.heap_;
    } else if (size_ == 1) {
      one_ = o.one_;
    }
    o.capacity_ = 1;
    o.size_ = 0;
  }
  uint32_t size_ = 0;
  uint32_t capacity_ = 1;  // 1: the one inline
  union {  // not zeroed first: only the first size_ are ever read
    ChangeHash one_;
    ChangeHash* heap_;
  };
};

ChangeHash sha256(ByteView data);
std::string to_hex(ByteView bytes);
inline std::string to_hex(const ChangeHash& h) { return to_hex(ByteView(h.data(), h.size())); }
// The value of one hex digit (either case), or -1.
int hex_digit(char c);
// Parses exactly 64 hex digits.
bool parse_hash_hex(std::string_view hex, ChangeHash* out);

}  // namespace amstore
