// Scalar values of ops (spec §4.8) and op identifiers (§1).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "automerge/small_string.h"

namespace amstore {

enum class ValueType : uint8_t {
  kNull = 0, kFalse = 1, kTrue = 2, kUint = 3, kInt = 4, kF64 = 5, kString = 6, kBytes = 7,
  kCounter = 8, kTimestamp = 9,
  // 10..15: unknown types, kept as opaque bytes.
};

struct Value {
  union {
    uint64_t u;
    int64_t i;
    double f;
  };
  SmallString bytes;  // string, bytes and unknown types
  uint8_t type = 0;   // ValueType, or 10..15

  Value() : u(0) {}
  ValueType kind() const { return static_cast<ValueType>(type); }
  bool operator==(const Value& o) const {
    return type == o.type && u == o.u && bytes == o.bytes;
  }
};

enum class Action : uint8_t {
  kMakeMap = 0, kSet = 1, kMakeList = 2, kDel = 3, kMakeText = 4, kInc = 5, kMakeTable = 6,
  kMark = 7,
};
inline constexpr uint64_t kMaxAction = 7;

inline bool is_make(uint8_t action) {
  return action == 0 || action == 2 || action == 4 || action == 6;
}

// (counter, actor): actor is an index into the actor table of whatever holds the id (a
// change's [author, others...] or a document's sorted actor list). Counter 0 means the root
// object (for object ids) or HEAD (for element ids).
struct OpId {
  uint32_t counter = 0;
  uint32_t actor = 0;
  // As one 8-byte word each (two fields, no padding): one comparison, not two and a branch.
  bool operator==(const OpId& o) const {
    uint64_t a, b;
    std::memcpy(&a, this, sizeof a);
    std::memcpy(&b, &o, sizeof b);
    return a == b;
  }
  bool operator!=(const OpId& o) const { return !(*this == o); }
  bool is_zero() const { return counter == 0; }
};
static_assert(sizeof(OpId) == 8);

inline uint64_t opid_key(OpId id) { return uint64_t(id.counter) << 32 | id.actor; }

// Lamport order, valid when actor indexes follow actor byte order (document tables do):
// counters first, then actors, as one comparison of the two as a 64-bit key.
inline bool lamport_less(OpId a, OpId b) { return opid_key(a) < opid_key(b); }

}  // namespace amstore
