#include "automerge/hash.h"

// OpenSSL 3 marks the one-context SHA-256 functions deprecated, but keeps them: they hash a
// small change with no allocation, where EVP_DigestInit frees and allocates its provider
// context on every call (a document load hashes 10^5 changes of ~150 bytes).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstdlib>

namespace amstore {

ChangeHash sha256(ByteView data) {
  ChangeHash out;
  SHA256_CTX ctx;
  if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, data.data(), data.size()) != 1 ||
      SHA256_Final(out.data(), &ctx) != 1)
    std::abort();  // only on a broken OpenSSL installation
  return out;
}

ChangeHash sha256_padded(uint8_t* data, size_t size) {
  // Padded where it lies (FIPS 180-4 §5.1.1: a 0x80 byte, zeros, the length in bits) and
  // hashed as whole blocks, the digest read from the state words: SHA256_Update's copy of the
  // tail and SHA256_Final's padding and cleansing took ~5 % of a typed text's load.
  const size_t blocks = (size + 8) / 64 + 1;
  std::memset(data + size, 0, kSha256PadRoom);  // (a fixed size: a few wide stores)
  data[size] = 0x80;
  constexpr bool kSwap = std::endian::native == std::endian::little;  // to big-endian
  const uint64_t bits = kSwap ? __builtin_bswap64(uint64_t{size} * 8) : uint64_t{size} * 8;
  std::memcpy(data + blocks * 64 - 8, &bits, 8);
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data, blocks * 64);  // (whole blocks: nothing buffered in ctx)
  ChangeHash out;
  for (size_t i = 0; i < 8; ++i) {
    const uint32_t h = static_cast<uint32_t>(ctx.h[i]);
    const uint32_t word = kSwap ? __builtin_bswap32(h) : h;
    std::memcpy(out.data() + 4 * i, &word, 4);
  }
  return out;
}

std::string to_hex(ByteView bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(digits[b >> 4]);
    s.push_back(digits[b & 15]);
  }
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_hash_hex(std::string_view hex, ChangeHash* out) {
  if (hex.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace amstore
