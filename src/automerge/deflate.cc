#include "automerge/deflate.h"

#include <libdeflate.h>

#include <algorithm>

#include <memory>

namespace amstore {

namespace {
struct CompressorDeleter {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};
struct DecompressorDeleter {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};
// One per thread: the objects are not thread-safe, and allocating them per call is costly.
libdeflate_compressor* compressor() {
  thread_local std::unique_ptr<libdeflate_compressor, CompressorDeleter> c(
      libdeflate_alloc_compressor(6));
  return c.get();
}
libdeflate_decompressor* decompressor() {
  thread_local std::unique_ptr<libdeflate_decompressor, DecompressorDeleter> d(
      libdeflate_alloc_decompressor());
  return d.get();
}
}  // namespace

Bytes deflate_raw(ByteView data) {
  libdeflate_compressor* c = compressor();
  Bytes out(libdeflate_deflate_compress_bound(c, data.size()));
  size_t n = libdeflate_deflate_compress(c, data.data(), data.size(), out.data(), out.size());
  out.resize(n);
  return out;
}

Status inflate_raw(ByteView data, Bytes* out, size_t max_size) {
  libdeflate_decompressor* d = decompressor();
  // Grow the output buffer until the stream fits or the limit is reached.
  size_t cap = std::min(max_size, std::max<size_t>(256, data.size() * 4));
  while (true) {
    out->resize(cap);
    size_t in_used = 0, actual = 0;
    libdeflate_result r = libdeflate_deflate_decompress_ex(d, data.data(), data.size(),
                                                           out->data(), cap, &in_used, &actual);
    if (r == LIBDEFLATE_SUCCESS) {
      if (in_used != data.size()) return Status::Error("trailing bytes after DEFLATE stream");
      out->resize(actual);
      return Status::Ok();
    }
    if (r != LIBDEFLATE_INSUFFICIENT_SPACE) return Status::Error("unable to decompress: invalid DEFLATE data");
    if (cap >= max_size) return Status::Error("decompressed data exceeds the size limit");
    cap = std::min(max_size, cap * 4);
  }
}

}  // namespace amstore
