#include "automerge/deflate.h"

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <limits>

#include <memory>

namespace amstore {

namespace {
struct CompressorDeleter {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};
struct DecompressorDeleter {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};
// Compressing is ISA-L's (igzip), at its level 3: of the 1 MB benchmark document's 2.2 MB
// of columns, libdeflate's fastest level (1) took 15 ms and made 994 kB; igzip's level 3
// takes 7 ms and makes 1,019 kB (the 100 k-character text: libdeflate 0.9 ms and 67.8 kB,
// igzip 0.5 ms and 68.2 kB). Inflating stays libdeflate's (igzip's took 11 % longer).
// libdeflate's level 1 compresses instead should igzip fail: without its working memory, or
// out of room (never expected: it falls back to stored blocks, within the same bound).
constexpr int kLibdeflateLevel = 1;
constexpr int kIgzipLevel = 3;
constexpr size_t kIgzipLevelBuf = ISAL_DEF_LVL3_DEFAULT;

// igzip's working memory at kIgzipLevel (340 kB), one per thread, mapped on its own rather
// than taken from the heap: a block kept there for good, allocated during a first save,
// held a loaded document's freed memory from being reused by the next (the benchmark's first
// save peaked at 440 MB instead of 290).
class IgzipLevelBuf {
 public:
  static uint8_t* mine() {
    thread_local IgzipLevelBuf b;
    return b.p_;
  }
  ~IgzipLevelBuf() {
    if (p_) munmap(p_, kIgzipLevelBuf);
  }

 private:
  IgzipLevelBuf() {
    void* p = mmap(nullptr, kIgzipLevelBuf, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p != MAP_FAILED) p_ = static_cast<uint8_t*>(p);
  }
  uint8_t* p_ = nullptr;
};

// One per thread: the objects are not thread-safe, and allocating them per call is costly.
libdeflate_compressor* compressor() {
  thread_local std::unique_ptr<libdeflate_compressor, CompressorDeleter> c(
      libdeflate_alloc_compressor(kLibdeflateLevel));
  return c.get();
}
libdeflate_decompressor* decompressor() {
  thread_local std::unique_ptr<libdeflate_decompressor, DecompressorDeleter> d(
      libdeflate_alloc_decompressor());
  return d.get();
}

// A per-thread buffer that (de)compression writes into, its result then copied out at its
// exact size: a result sized beforehand by the input (or by guesses) was zero-filled, and
// its pages faulted in, for output often a fraction of that. One above kKept bytes is given
// back after the call (servers run many threads).
class Scratch {
 public:
  static Scratch& mine() {
    thread_local Scratch s;
    return s;
  }
  size_t size() const { return size_; }
  uint8_t* room(size_t cap) {  // at least cap bytes, contents not kept
    if (cap > size_) {
      buf_.reset();
      buf_.reset(new uint8_t[cap]);
      size_ = cap;
    }
    return buf_.get();
  }
  void trim() {
    constexpr size_t kKept = size_t(1) << 20;
    if (size_ > kKept) {
      buf_.reset();
      size_ = 0;
    }
  }

 private:
  std::unique_ptr<uint8_t[]> buf_;
  size_t size_ = 0;
};
}  // namespace

Bytes deflate_raw(ByteView data) {
  libdeflate_compressor* c = compressor();
  Scratch& scratch = Scratch::mine();
  const size_t bound = libdeflate_deflate_compress_bound(c, data.size());
  uint8_t* buf = scratch.room(bound);
  size_t n = 0;
  uint8_t* level_buf = IgzipLevelBuf::mine();
  if (level_buf && bound <= UINT32_MAX) {
    isal_zstream z;
    isal_deflate_stateless_init(&z);
    z.gzip_flag = IGZIP_DEFLATE;  // raw DEFLATE: no header or trailer
    z.level = kIgzipLevel;
    z.level_buf = level_buf;
    z.level_buf_size = kIgzipLevelBuf;
    z.end_of_stream = 1;
    z.flush = NO_FLUSH;
    z.next_in = const_cast<uint8_t*>(data.data());
    z.avail_in = static_cast<uint32_t>(data.size());
    z.next_out = buf;
    z.avail_out = static_cast<uint32_t>(bound);
    if (isal_deflate_stateless(&z) == COMP_OK && z.avail_in == 0) n = z.total_out;
  }
  if (n == 0) n = libdeflate_deflate_compress(c, data.data(), data.size(), buf, bound);
  Bytes out(buf, buf + n);
  scratch.trim();
  return out;
}

Status inflate_raw(ByteView data, Bytes* out, size_t max_size) {
  libdeflate_decompressor* d = decompressor();
  // DEFLATE does not record the inflated size: the scratch buffer grows (×4, up to
  // max_size) until the stream fits.
  Scratch& scratch = Scratch::mine();
  size_t cap = std::min(max_size, std::max<size_t>({256, data.size() * 4, scratch.size()}));
  while (true) {
    uint8_t* buf = scratch.room(cap);
    size_t in_used = 0, actual = 0;
    libdeflate_result r = libdeflate_deflate_decompress_ex(d, data.data(), data.size(),
                                                           buf, cap, &in_used, &actual);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE && cap < max_size) {
      cap = std::min(max_size, cap * 4);
      continue;
    }
    Status st = r == LIBDEFLATE_INSUFFICIENT_SPACE
                    ? Status::Error("decompressed data exceeds the size limit")
                : r != LIBDEFLATE_SUCCESS ? Status::Error("unable to decompress: invalid DEFLATE data")
                : in_used != data.size() ? Status::Error("trailing bytes after DEFLATE stream")
                                         : Status::Ok();
    if (st.ok()) out->assign(buf, buf + actual);
    scratch.trim();
    return st;
  }
}

// zlib (like the library's inflater) refuses some streams that libdeflate inflates, such as
// one with a bit flipped in its Huffman tables that still gave the same columns. Inflating
// through zlib instead cost the 1 MB document's load 4–6 %, so only bytes kept as they came
// (an upload stored as uploaded) are checked with it.
Status check_deflate_strict(ByteView data, size_t max_size) {
  struct Inflater {
    z_stream z{};
    bool ok = inflateInit2(&z, -15) == Z_OK;  // raw DEFLATE
    ~Inflater() {
      if (ok) inflateEnd(&z);
    }
  };
  thread_local Inflater inflater;
  z_stream* z = &inflater.z;
  if (!inflater.ok || inflateReset(z) != Z_OK) return Status::Error("no inflater");
  if (data.size() > std::numeric_limits<uInt>::max())
    return Status::Error("compressed data exceeds the size limit");
  z->next_in = const_cast<Bytef*>(data.data());
  z->avail_in = static_cast<uInt>(data.size());
  uint8_t out[16384];  // the output is not kept: zlib holds the window it refers back to
  for (size_t total = 0;; total += sizeof out - z->avail_out) {
    if (total > max_size) return Status::Error("decompressed data exceeds the size limit");
    z->next_out = out;
    z->avail_out = sizeof out;
    const int r = inflate(z, Z_NO_FLUSH);
    if (r == Z_STREAM_END)
      return z->avail_in == 0 ? Status::Ok() : Status::Error("trailing bytes after DEFLATE stream");
    if (r != Z_OK) return Status::Error("invalid DEFLATE data");  // (or cut short)
  }
}

}  // namespace amstore
