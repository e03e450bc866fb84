// SmallVector: a vector that keeps its first element inline, for the lists of a change that
// mostly hold exactly one: its deps (most changes depend on one change) and its actors (its
// author; most changes refer to no other). A load makes 10^5 changes, and std::vector made
// an allocation for each of those lists of each of them.
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

namespace amstore {

template <typename T>
class SmallVector {
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
  T* data() { return capacity_ > 1 ? u_.heap : &u_.one; }
  const T* data() const { return capacity_ > 1 ? u_.heap : &u_.one; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

  // The items of [first, last), which may lie in this list.
  template <typename It>
  void assign(It first, It last) {
    const size_t n = static_cast<size_t>(std::distance(first, last));
    if constexpr (std::is_trivially_copyable_v<T> && std::is_pointer_v<It>) {
      if (n <= capacity_) {
        std::memmove(static_cast<void*>(data()), first, sizeof(T) * n);
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
    T* p = static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignof(T)}));
    T* old = data();
    for (size_t i = 0; i < size_; ++i) {
      new (p + i) T(std::move(old[i]));
      old[i].~T();
    }
    if (capacity_ > 1) ::operator delete(u_.heap, std::align_val_t{alignof(T)});
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
  void push_back(const T& item) { emplace_back(item); }
  void push_back(T&& item) { emplace_back(std::move(item)); }
  void pop_back() { data()[--size_].~T(); }
  void resize(size_t n) {
    if (n < size_) {
      for (size_t i = n; i < size_; ++i) data()[i].~T();
    } else {
      reserve(n);
      for (size_t i = size_; i < n; ++i) new (data() + i) T();
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
    if (capacity_ > 1) ::operator delete(u_.heap, std::align_val_t{alignof(T)});
    capacity_ = 1;
  }

  bool operator==(const SmallVector& o) const {
    return std::equal(begin(), end(), o.begin(), o.end());
  }

 private:
  void take(SmallVector& o) {  // into an empty list with room for one (new or released)
    if (o.capacity_ > 1) {
      u_.heap = o.u_.heap;
      capacity_ = o.capacity_;
    } else if (o.size_ == 1) {
      new (&u_.one) T(std::move(o.u_.one));
      o.u_.one.~T();
    }
    size_ = o.size_;
    o.size_ = 0;
    o.capacity_ = 1;
  }

  uint32_t size_ = 0;
  uint32_t capacity_ = 1;  // 1: the one inline (u_.one, alive when size_ is 1)
  union Storage {
    Storage() {}   // NOLINT: nothing made until an item is
    ~Storage() {}  // NOLINT: items are destroyed by the list
    T one;
    T* heap;
  } u_;
};

}  // namespace amstore
