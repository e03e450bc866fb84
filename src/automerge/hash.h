// SHA-256 change hashes (spec §3.2, §5.6).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "automerge/leb128.h"

namespace amstore {

using ChangeHash = std::array<uint8_t, 32>;

ChangeHash sha256(ByteView data);
std::string to_hex(ByteView bytes);
inline std::string to_hex(const ChangeHash& h) { return to_hex(ByteView(h.data(), h.size())); }
// Parses exactly 64 hex digits.
bool parse_hash_hex(std::string_view hex, ChangeHash* out);

}  // namespace amstore
