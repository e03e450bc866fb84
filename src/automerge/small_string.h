// SmallString: an owned string in 16 bytes, for the fields of ops (map keys, string values,
// mark names). Documents hold an op per character typed, and nearly all of these strings are
// a few bytes: inline up to 12, on the heap beyond. std::string takes 32 bytes for each.
// ActorId: the same in 32 bytes (inline up to 28), for the actor ids a change names:
// std::string keeps 15 bytes inline, one short of the 16 of Automerge's ids, and so
// allocated for every change of a document.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace amstore {

// Copies n bytes (k ≤ n ≤ 2k) from src to dst as two moves of k bytes, the first k and the
// last k, both read before either is written (so src and dst may overlap).
template <size_t k>
inline void copy_ends(char* dst, const char* src, size_t n) {
  char a[k], b[k];
  std::memcpy(a, src, k);
  std::memcpy(b, src + n - k, k);
  std::memcpy(dst, a, k);
  std::memcpy(dst + n - k, b, k);
}

// Copies n bytes from src to dst, which may overlap if dst comes first (a move down). Up to
// 32 bytes, with at most two overlapping fixed-size moves: a memcpy of variable size is a
// call (or `rep movsb`, whose start-up costs dozens of cycles), and most of what a change or
// an op holds (a character typed, an actor id, a map key) is a byte or two, or 16.
inline void copy_bytes(void* dst_, const void* src_, size_t n) {
  char* dst = static_cast<char*>(dst_);
  const char* src = static_cast<const char*>(src_);
  // The shortest first: most are a character or two of text.
  if (n < 4) {
    if (n > 0) {  // in ascending order: a move down stays correct
      dst[0] = src[0];
      dst[n / 2] = src[n / 2];
      dst[n - 1] = src[n - 1];
    }
  } else if (n < 8) {
    copy_ends<4>(dst, src, n);
  } else if (n < 16) {
    copy_ends<8>(dst, src, n);
  } else if (n <= 32) {
    copy_ends<16>(dst, src, n);
  } else {
    std::memmove(dst, src, n);
  }
}

template <uint32_t kInline>
class BasicSmallString {
 public:
  // data() has this many bytes to read when size() is at most this.
  static constexpr size_t kInlineSize = kInline;
  BasicSmallString() = default;
  BasicSmallString(std::string_view s) { set(s); }  // NOLINT: implicit like std::string
  BasicSmallString(const char* s) { set(s); }        // NOLINT
  BasicSmallString(const std::string& s) { set(s); }  // NOLINT
  BasicSmallString(const BasicSmallString& o) { set(o.view()); }
  // Moves copy the whole buffer, used or not: cheaper than branching on the size, and copying
  // a char array's indeterminate bytes is well defined. (GCC's -Wmaybe-uninitialized flags
  // it where a default-constructed string is moved; leaving buf_ unset is what keeps
  // making an op cheap.)
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning, nor the false alarm
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
  BasicSmallString(BasicSmallString&& o) noexcept : size_(o.size_) {
    std::memcpy(buf_, o.buf_, sizeof(buf_));
    o.size_ = 0;
  }
  BasicSmallString& operator=(const BasicSmallString& o) {
    if (this != &o) assign(o.view());
    return *this;
  }
  BasicSmallString& operator=(BasicSmallString&& o) noexcept {
    if (this != &o) {
      release();
      size_ = o.size_;
      std::memcpy(buf_, o.buf_, sizeof(buf_));
      o.size_ = 0;
    }
    return *this;
  }
#pragma GCC diagnostic pop
  BasicSmallString& operator=(std::string_view s) {
    assign(s);
    return *this;
  }
  BasicSmallString& operator=(const char* s) { return *this = std::string_view(s); }
  BasicSmallString& operator=(const std::string& s) { return *this = std::string_view(s); }
  ~BasicSmallString() { release(); }

  void assign(std::string_view s) {
    release();
    set(s);
  }
  void clear() { assign({}); }

  const char* data() const { return size_ <= kInline ? buf_ : heap(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const char* begin() const { return data(); }
  const char* end() const { return data() + size_; }
  std::string_view view() const { return {data(), size_}; }
  operator std::string_view() const { return view(); }  // NOLINT: implicit by design
  int compare(std::string_view o) const { return view().compare(o); }

  friend bool operator==(const BasicSmallString& a, const BasicSmallString& b) {
    return a.view() == b.view();
  }
  friend bool operator==(const BasicSmallString& a, std::string_view b) { return a.view() == b; }
  friend bool operator<(const BasicSmallString& a, const BasicSmallString& b) {
    return a.view() < b.view();
  }

 private:
  char* heap() const {
    char* p;
    std::memcpy(&p, buf_, sizeof(p));
    return p;
  }
  void set(std::string_view s) {
    size_ = static_cast<uint32_t>(s.size());
    if (s.size() <= kInline) {
      copy_bytes(buf_, s.data(), s.size());
    } else {
      char* p = new char[s.size()];
      std::memcpy(p, s.data(), s.size());
      std::memcpy(buf_, &p, sizeof(p));
    }
  }
  void release() {
    if (size_ > kInline) delete[] heap();
    size_ = 0;
  }

  static_assert(kInline >= sizeof(char*) && kInline <= 32);
  uint32_t size_ = 0;
  char buf_[kInline];
};

using SmallString = BasicSmallString<12>;  // 16 bytes: op keys, string values, mark names
using ActorId = BasicSmallString<28>;      // 32 bytes: actor ids (16 bytes as Automerge makes them)

}  // namespace amstore
