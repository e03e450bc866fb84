// Status / Result: the error type of the format core (LevelDB-style).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace amstore {

class Status {
 public:
  Status() = default;
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  Status(const Status& o)
      : message_(o.message_ ? std::make_unique<std::string>(*o.message_) : nullptr) {}
  Status& operator=(const Status& o) {
    if (this != &o) message_ = o.message_ ? std::make_unique<std::string>(*o.message_) : nullptr;
    return *this;
  }
  static Status Ok() { return Status(); }
  static Status Error(std::string message) {
    Status s;
    s.message_ = std::make_unique<std::string>(std::move(message));
    return s;
  }

  bool ok() const { return !message_; }
  const std::string& message() const {
    static const std::string kNone;
    return message_ ? *message_ : kNone;
  }

 private:
  // Null when ok: success, the hot path of every decoder, is one pointer and no string.
  std::unique_ptr<std::string> message_;
};

// Either a value or an error Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  Status status() const { return ok() ? Status::Ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace amstore

// Propagates an error Status from an expression returning Status.
#define AM_TRY(expr)                         \
  do {                                       \
    ::amstore::Status am_try_s_ = (expr);    \
    if (!am_try_s_.ok()) return am_try_s_;   \
  } while (0)

#define AM_CONCAT_INNER(a, b) a##b
#define AM_CONCAT(a, b) AM_CONCAT_INNER(a, b)
// Assigns the value of a Result expression to `lhs` or returns its error.
#define AM_ASSIGN(lhs, expr) AM_ASSIGN_IMPL(AM_CONCAT(am_res_, __LINE__), lhs, expr)
#define AM_ASSIGN_IMPL(tmp, lhs, expr)     \
  auto tmp = (expr);                       \
  if (!tmp.ok()) return tmp.status();      \
  lhs = std::move(tmp).value()
