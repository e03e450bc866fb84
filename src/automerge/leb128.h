// LEB128 integers and a bounds-checked byte reader (spec §2).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "automerge/status.h"

namespace amstore {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view as_chars(ByteView b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

// The longest 64-bit LEB128.
constexpr size_t kMaxLebBytes = 10;

// Write v at p, which has room for kMaxLebBytes; return its length.
inline size_t write_uleb(uint8_t* p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  p[n++] = static_cast<uint8_t>(v);
  return n;
}
inline size_t write_sleb(uint8_t* p, int64_t v) {
  size_t n = 0;
  while (true) {
    const uint8_t b = v & 0x7f;
    v >>= 7;  // arithmetic shift
    if ((v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40))) {
      p[n++] = b;
      return n;
    }
    p[n++] = b | 0x80;
  }
}

void put_uleb_slow(Bytes& out, uint64_t v);
void put_sleb_slow(Bytes& out, int64_t v);
// One-byte values (most of what columns hold) take an inline path.
inline void put_uleb(Bytes& out, uint64_t v) {
  if (v < 0x80) {
    out.push_back(static_cast<uint8_t>(v));
    return;
  }
  put_uleb_slow(out, v);
}
inline void put_sleb(Bytes& out, int64_t v) {
  if (v >= -64 && v < 64) {
    out.push_back(static_cast<uint8_t>(v & 0x7f));
    return;
  }
  put_sleb_slow(out, v);
}
size_t uleb_size(uint64_t v);
inline void put_bytes(Bytes& out, ByteView b) { out.insert(out.end(), b.begin(), b.end()); }
// uLEB length prefix, then the bytes.
inline void put_prefixed(Bytes& out, std::string_view s) {
  put_uleb(out, s.size());
  put_bytes(out, as_bytes(s));
}

// A cursor over bytes. Every read checks bounds; LEB128 reads reject overlong forms and
// values beyond 64 bits, as the reference does for header fields.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}

  bool done() const { return pos_ == data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }
  ByteView rest() const { return data_.subspan(pos_); }

  // One- and two-byte values (most of them in columns), and three-byte sLEB, take an
  // inline path; anything else, including overlong forms, goes to the checked loop.
  Status uleb(uint64_t* out) {
    if (pos_ < data_.size() && data_[pos_] < 0x80) {
      *out = data_[pos_++];
      return Status::Ok();
    }
    if (pos_ + 1 < data_.size() && data_[pos_ + 1] < 0x80 && data_[pos_ + 1] != 0) {
      *out = uint64_t(data_[pos_] & 0x7f) | uint64_t(data_[pos_ + 1]) << 7;
      pos_ += 2;
      return Status::Ok();
    }
    return uleb_slow(out);
  }
  Status sleb(int64_t* out) {
    if (pos_ < data_.size() && data_[pos_] < 0x80) {
      uint8_t b = data_[pos_++];
      *out = (b & 0x40) ? static_cast<int64_t>(b) - 0x80 : b;
      return Status::Ok();
    }
    // Two or three bytes (counter deltas between distant elements).
    size_t n = 0;
    if (pos_ + 1 < data_.size() && data_[pos_ + 1] < 0x80)
      n = 2;
    else if (pos_ + 2 < data_.size() && data_[pos_ + 1] >= 0x80 && data_[pos_ + 2] < 0x80)
      n = 3;
    if (n > 0) {
      const uint8_t prev = data_[pos_ + n - 2], last = data_[pos_ + n - 1];
      const bool negative = last & 0x40;
      // Overlong: the last byte only repeats the sign the one before already carries.
      if (!(last == (negative ? 0x7f : 0x00) && bool(prev & 0x40) == negative)) {
        int64_t v = 0;
        for (size_t k = 0; k < n; ++k) v |= int64_t(data_[pos_ + k] & 0x7f) << (7 * k);
        *out = negative ? v - (int64_t(1) << (7 * n)) : v;
        pos_ += n;
        return Status::Ok();
      }
    }
    return sleb_slow(out);
  }
  Status byte(uint8_t* out);
  // Inline: string and value columns take one slice per value.
  Status take(size_t n, ByteView* out) {
    if (n > remaining()) return Status::Error("unexpected end of data");
    *out = data_.subspan(pos_, n);
    pos_ += n;
    return Status::Ok();
  }
  // uLEB length prefix then that many bytes.
  Status prefixed(ByteView* out) {
    uint64_t n;
    AM_TRY(uleb(&n));
    if (n > remaining()) return Status::Error("length prefix exceeds the data");
    return take(static_cast<size_t>(n), out);
  }
  Status prefixed_string(std::string* out);
  // A count read from the wire, checked against the bytes left (each item needs at least
  // `min_item_size` bytes) so that hostile counts cannot drive huge allocations.
  Status count(uint64_t* out, size_t min_item_size);

 private:
  Status uleb_slow(uint64_t* out);
  Status sleb_slow(int64_t* out);
  ByteView data_;
  size_t pos_ = 0;
};

}  // namespace amstore
