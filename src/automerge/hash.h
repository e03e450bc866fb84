// SHA-256 change hashes (spec §3.2, §5.6).
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
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

ChangeHash sha256(ByteView data);
// The same, for data followed by kSha256PadRoom bytes of room that it overwrites with the
// hash's padding (a change's chunk built in a buffer): nothing is copied.
inline constexpr size_t kSha256PadRoom = 72;
ChangeHash sha256_padded(uint8_t* data, size_t size);
std::string to_hex(ByteView bytes);
inline std::string to_hex(const ChangeHash& h) { return to_hex(ByteView(h.data(), h.size())); }
// The value of one hex digit (either case), or -1.
int hex_digit(char c);
// Parses exactly 64 hex digits.
bool parse_hash_hex(std::string_view hex, ChangeHash* out);

}  // namespace amstore
