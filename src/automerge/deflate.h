// Raw DEFLATE (RFC 1951) for document columns and compressed change chunks (spec §4.9, §5.8).
#pragma once

#include "automerge/leb128.h"

namespace amstore {

// Largest inflated size accepted for one input (all its chunks and columns together):
// decompression-bomb guard.
inline constexpr size_t kMaxInflatedSize = size_t(1) << 30;
// What an input of `size` bytes may inflate to in all: real data compresses far less than
// 256:1, while DEFLATE reaches about 1000:1.
inline size_t inflate_budget_for(size_t size) {
  return size < (kMaxInflatedSize - (size_t(16) << 20)) / 256
             ? (size_t(16) << 20) + size * 256
             : kMaxInflatedSize;
}

Bytes deflate_raw(ByteView data);
Status inflate_raw(ByteView data, Bytes* out, size_t max_size = kMaxInflatedSize);
// Whether `data` is one whole stream by the letter of RFC 1951, as zlib and the library
// read it; inflate_raw takes some streams that they refuse.
Status check_deflate_strict(ByteView data, size_t max_size = kMaxInflatedSize);

}  // namespace amstore
