// SmallString: an owned string in 16 bytes, for the fields of ops (map keys, string values,
// mark names). Documents hold an op per character typed, and nearly all of these strings are
// a few bytes: inline up to 12, on the heap beyond. std::string takes 32 bytes for each.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace amstore {

class SmallString {
 public:
  SmallString() = default;
  SmallString(std::string_view s) { set(s); }  // NOLINT: implicit like std::string
  SmallString(const char* s) { set(s); }        // NOLINT
  SmallString(const std::string& s) { set(s); }  // NOLINT
  SmallString(const SmallString& o) { set(o.view()); }
  // Moves copy all 16 bytes, used or not: cheaper than branching on the size, and copying
  // a char array's indeterminate bytes is well defined. (GCC's -Wmaybe-uninitialized flags
  // it where a default-constructed string is moved; leaving buf_ unset is what keeps
  // making an op cheap.)
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning, nor the false alarm
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
  SmallString(SmallString&& o) noexcept : size_(o.size_) {
    std::memcpy(buf_, o.buf_, sizeof(buf_));
    o.size_ = 0;
  }
  SmallString& operator=(const SmallString& o) {
    if (this != &o) assign(o.view());
    return *this;
  }
  SmallString& operator=(SmallString&& o) noexcept {
    if (this != &o) {
      release();
      size_ = o.size_;
      std::memcpy(buf_, o.buf_, sizeof(buf_));
      o.size_ = 0;
    }
    return *this;
  }
#pragma GCC diagnostic pop
  SmallString& operator=(std::string_view s) {
    assign(s);
    return *this;
  }
  SmallString& operator=(const char* s) { return *this = std::string_view(s); }
  SmallString& operator=(const std::string& s) { return *this = std::string_view(s); }
  ~SmallString() { release(); }

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

  friend bool operator==(const SmallString& a, const SmallString& b) { return a.view() == b.view(); }
  friend bool operator==(const SmallString& a, std::string_view b) { return a.view() == b; }

 private:
  static constexpr uint32_t kInline = 12;
  char* heap() const {
    char* p;
    std::memcpy(&p, buf_, sizeof(p));
    return p;
  }
  void set(std::string_view s) {
    size_ = static_cast<uint32_t>(s.size());
    if (s.size() <= kInline) {
      copy_small(buf_, s.data(), s.size());
    } else {
      char* p = new char[s.size()];
      std::memcpy(p, s.data(), s.size());
      std::memcpy(buf_, &p, sizeof(p));
    }
  }
  // Copies n ≤ 12 bytes with at most two overlapping fixed-size moves: a memcpy of variable
  // size compiles to `rep movsb` here, whose start-up costs dozens of cycles, and most
  // strings of a document (one character typed) are a byte or two.
  static void copy_small(char* dst, const char* src, size_t n) {
    if (n >= 8) {
      uint64_t a, b;
      std::memcpy(&a, src, 8);
      std::memcpy(&b, src + n - 8, 8);
      std::memcpy(dst, &a, 8);
      std::memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
      uint32_t a, b;
      std::memcpy(&a, src, 4);
      std::memcpy(&b, src + n - 4, 4);
      std::memcpy(dst, &a, 4);
      std::memcpy(dst + n - 4, &b, 4);
    } else if (n > 0) {
      dst[0] = src[0];
      dst[n / 2] = src[n / 2];
      dst[n - 1] = src[n - 1];
    }
  }
  void release() {
    if (size_ > kInline) delete[] heap();
    size_ = 0;
  }

  uint32_t size_ = 0;
  char buf_[kInline];
};

}  // namespace amstore
