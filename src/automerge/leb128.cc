#include "automerge/leb128.h"

namespace amstore {

void put_uleb_slow(Bytes& out, uint64_t v) {
  uint8_t b[10];
  out.insert(out.end(), b, b + write_uleb(b, v));
}

void put_sleb_slow(Bytes& out, int64_t v) {
  uint8_t b[10];
  out.insert(out.end(), b, b + write_sleb(b, v));
}

size_t uleb_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

Status Reader::uleb_slow(uint64_t* out) {
  uint64_t result = 0;
  unsigned shift = 0;
  for (size_t i = 0;; ++i) {
    if (pos_ >= data_.size()) return Status::Error("truncated LEB128 integer");
    uint8_t b = data_[pos_++];
    if (shift == 63 && (b & 0x7e) != 0) return Status::Error("LEB128 integer exceeds 64 bits");
    if (shift > 63) return Status::Error("LEB128 integer exceeds 64 bits");
    result |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (b == 0 && i > 0) return Status::Error("overlong LEB128 integer");
      *out = result;
      return Status::Ok();
    }
    shift += 7;
  }
}

Status Reader::sleb_slow(int64_t* out) {
  uint64_t result = 0;
  unsigned shift = 0;
  uint8_t prev = 0;
  for (size_t i = 0;; ++i) {
    if (pos_ >= data_.size()) return Status::Error("truncated LEB128 integer");
    uint8_t b = data_[pos_++];
    if (shift == 63) {
      // The last group may only carry the sign: 0x00 or 0x7f.
      if (b != 0x00 && b != 0x7f) return Status::Error("LEB128 integer exceeds 64 bits");
    }
    if (shift > 63) return Status::Error("LEB128 integer exceeds 64 bits");
    result |= uint64_t(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) {
      if (i > 0) {
        // Overlong: the last byte only repeats the sign already carried by the previous one.
        bool prev_sign = prev & 0x40;
        if ((b == 0x00 && !prev_sign) || (b == 0x7f && prev_sign))
          return Status::Error("overlong LEB128 integer");
      }
      if (shift < 64 && (b & 0x40)) result |= ~uint64_t(0) << shift;
      *out = static_cast<int64_t>(result);
      return Status::Ok();
    }
    prev = b;
  }
}

Status Reader::byte(uint8_t* out) {
  if (pos_ >= data_.size()) return Status::Error("unexpected end of data");
  *out = data_[pos_++];
  return Status::Ok();
}

Status Reader::prefixed_string(std::string* out) {
  ByteView b;
  AM_TRY(prefixed(&b));
  out->assign(as_chars(b));
  return Status::Ok();
}

Status Reader::count(uint64_t* out, size_t min_item_size) {
  AM_TRY(uleb(out));
  if (min_item_size > 0 && *out > remaining() / min_item_size)
    return Status::Error("item count exceeds the data");
  return Status::Ok();
}

}  // namespace amstore
