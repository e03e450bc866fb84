// Raw DEFLATE (RFC 1951) for document columns and compressed change chunks (spec §4.9, §5.8).
#pragma once

#include "automerge/leb128.h"

namespace amstore {

// Largest inflated size accepted for one column or change: decompression-bomb guard.
inline constexpr size_t kMaxInflatedSize = size_t(1) << 30;

Bytes deflate_raw(ByteView data);
Status inflate_raw(ByteView data, Bytes* out, size_t max_size = kMaxInflatedSize);

}  // namespace amstore
