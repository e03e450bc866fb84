// SmallVector: a vector that keeps its first N items inline, for the parts of a change that
// are mostly small: its deps (most changes depend on one change), its actors (its author;
// most changes refer to no other), its ops (a typed text's changes have one each) and its
// chunk (a one-op change's is 100–120 bytes). A load makes 10^5 changes, and std::vector
// made an allocation for each of those of each of them. (data() tests where the items are:
// a loop over them takes it once, not at each item.)
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace amstore {

template <typename T, size_t N = 1>
class SmallVector {
  static_assert(N >= 1 && N < UINT32_MAX);
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);  // (plain operator new)

 public:
  SmallVector() noexcept {}
  SmallVector(std::initializer_list<T> items) { assign(items.begin(), items.end()); }
  SmallVector(const SmallVector& o) { assign(o.begin(), o.end()); }
  SmallVector(SmallVector&& o) noexcept { take(o); }
  SmallVector& operator=(const SmallVector& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  SmallVector& operator=(SmallVector&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  SmallVector& operator=(std::initializer_list<T> items) {
    assign(items.begin(), items.end());
    return *this;
  }
  ~SmallVector() { release(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return capacity_ > N ? u_.heap : u_.items; }
  const T* data() const { return capacity_ > N ? u_.heap : u_.items; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

  // assign(first, first + n) from a buffer that holds at least N items from `first`,
  // whatever n is: into the room inline, a copy of a fixed size (a few moves) rather than a
  // memmove call sized at run time. (A load copies 10^5 chunks of 100-120 bytes.)
  void assign_padded(const T* first, size_t n) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (n <= N && capacity_ == N) {
      std::memcpy(static_cast<void*>(u_.items), first, sizeof(T) * N);
      size_ = static_cast<uint32_t>(n);
      return;
    }
    assign(first, first + n);
  }

  // The items of [first, last), which may lie in this list.
  template <typename It>
  void assign(It first, It last) {
    const size_t n = static_cast<size_t>(std::distance(first, last));
    if constexpr (std::is_trivially_copyable_v<T> && std::is_pointer_v<It>) {
      if (n <= capacity_) {
        if (n > 0) std::memmove(static_cast<void*>(data()), first, sizeof(T) * n);
        size_ = static_cast<uint32_t>(n);
        return;
      }
    }
    SmallVector fresh;
    fresh.reserve(n);
    for (; first != last; ++first) fresh.emplace_back(*first);
    *this = std::move(fresh);
  }
  void reserve(size_t n) {
    if (n <= capacity_) return;
    T* p = static_cast<T*>(::operator new(n * sizeof(T)));
    T* old = data();
    for (size_t i = 0; i < size_; ++i) {
      new (p + i) T(std::move(old[i]));
      old[i].~T();
    }
    if (capacity_ > N) ::operator delete(u_.heap);
    u_.heap = p;
    capacity_ = static_cast<uint32_t>(n);
  }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) {
      T item(std::forward<Args>(args)...);  // (the arguments may refer into this list)
      reserve(2 * size_t{capacity_});
      return *new (data() + size_++) T(std::move(item));
    }
    return *new (data() + size_++) T(std::forward<Args>(args)...);
  }
  // Appends n items, item i made by make(at, i), which constructs it at `at` and must not
  // read this list: the count is stored once, where n emplace_backs stored it after every
  // item (and item stores of bytes, which may alias it, had it loaded again). If make
  // throws, the items it made are destroyed and the list is as it was.
  template <typename Make>
  void append_made(size_t n, Make&& make) {
    reserve(size_ + n);
    T* const at = data() + size_;
    size_t i = 0;
    try {
      for (; i < n; ++i) make(at + i, i);
    } catch (...) {
      while (i > 0) at[--i].~T();
      throw;
    }
    size_ += static_cast<uint32_t>(n);
  }
  void push_back(const T& item) { emplace_back(item); }
  void push_back(T&& item) { emplace_back(std::move(item)); }
  void pop_back() { data()[--size_].~T(); }
  void resize(size_t n) {
    if (n < size_) {
      for (size_t i = n; i < size_; ++i) data()[i].~T();
    } else {
      reserve(n);
      if constexpr (std::is_trivial_v<T>) {
        std::memset(static_cast<void*>(data() + size_), 0, sizeof(T) * (n - size_));
      } else {
        for (size_t i = size_; i < n; ++i) new (data() + i) T();
      }
    }
    size_ = static_cast<uint32_t>(n);
  }
  void clear() {
    for (size_t i = 0; i < size_; ++i) data()[i].~T();
    size_ = 0;
  }
  // Empty, with what was on the heap freed.
  void release() {
    clear();
    if (capacity_ > N) ::operator delete(u_.heap);
    capacity_ = N;
  }

  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

  bool operator==(const SmallVector& o) const {
    return std::equal(begin(), end(), o.begin(), o.end());
  }

 private:
  void take(SmallVector& o) {  // into an empty list with its room inline (new or released)
    if (o.capacity_ > N) {
      u_.heap = o.u_.heap;
      capacity_ = o.capacity_;
    } else if constexpr (std::is_trivially_copyable_v<T>) {
      std::memcpy(static_cast<void*>(u_.items), o.u_.items, sizeof(T) * o.size_);
    } else {
      for (size_t i = 0; i < o.size_; ++i) {
        new (u_.items + i) T(std::move(o.u_.items[i]));
        o.u_.items[i].~T();
      }
    }
    size_ = o.size_;
    o.size_ = 0;
    o.capacity_ = N;
  }

  uint32_t size_ = 0;
  uint32_t capacity_ = N;  // N: inline (u_.items, the first size_ alive)
  union Storage {
    Storage() {}   // NOLINT: nothing made until an item is
    ~Storage() {}  // NOLINT: items are destroyed by the list
    T items[N];
    T* heap;
  } u_;
};

}  // namespace amstore
