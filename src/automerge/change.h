// Changes (spec §5): the decoded form of a change chunk and its canonical encoding.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "automerge/hash.h"
#include "automerge/leb128.h"
#include "automerge/small_string.h"
#include "automerge/small_vector.h"
#include "automerge/value.h"

namespace amstore {

// One op as a change stores it. Actor indexes refer to Change::actors.
// 64 bytes (documents hold millions): the flags and the pred count sit in the value's tail
// padding. What a save reads (value, flags, key) comes first, so that an op read in document
// order, scattered over the changes, is mostly one cache line.
struct Op {
  // User-provided, so that value-initialisation (vector::resize) runs just the member
  // initialisers instead of first zeroing all 64 bytes (a slow `rep stos` per op).
  Op() {}  // NOLINT(modernize-use-equals-default)
  [[no_unique_address]] Value value;
  uint8_t action = 0;
  // The flags, and the byte that holds them, for code that sets them all at once (a store
  // of the byte, where each flag's own store reads the byte back first): bit k is the k-th
  // flag (kMapKeyFlag and the rest; bit-fields are laid out from the lowest bit, which a
  // test checks).
  union {
    struct {
      bool map_key : 1;  // true: `key` is a map key; false: `elem` is an element id
      bool insert : 1;
      bool expand : 1;
      bool has_mark_name : 1;  // the name is in Change::mark_names (rare: kept out of line)
    };
    uint8_t flags = 0;
  };
  static constexpr uint8_t kMapKeyFlag = 1, kInsertFlag = 2, kExpandFlag = 4,
                           kMarkNameFlag = 8;
  // Its preds are the next pred_count of Change::preds (those of the ops before it come
  // first), in ascending Lamport order.
  uint32_t pred_count = 0;
  SmallString key;
  OpId obj;   // counter 0: the root object
  OpId elem;  // counter 0: HEAD
};
static_assert(sizeof(Op) == 64);

// The value paired with `index` in `pairs` (sorted by index), or null: for the few ops that
// carry something kept out of line.
template <typename V>
const V* find_by_index(const std::vector<std::pair<uint32_t, V>>& pairs, uint64_t index) {
  auto it = std::lower_bound(pairs.begin(), pairs.end(), index,
                             [](const auto& p, uint64_t k) { return p.first < k; });
  return it != pairs.end() && it->first == index ? &it->second : nullptr;
}

// What few changes have: a message, extra bytes, marks. Out of line (Change::rare), as 8
// bytes in every change instead of 80: a document holds up to millions of changes.
struct ChangeRare {
  std::string message;
  Bytes extra;
  // Mark names of the ops that have one (has_mark_name), by ascending op index. Out of the
  // ops themselves: a name in every op would add 16 bytes to millions of them.
  std::vector<std::pair<uint32_t, SmallString>> mark_names;
};

// A unique_ptr that copies what it points to (so that Change stays copyable).
template <typename T>
class DeepPtr {
 public:
  DeepPtr() = default;
  DeepPtr(const DeepPtr& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  DeepPtr& operator=(const DeepPtr& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  DeepPtr(DeepPtr&&) noexcept = default;
  DeepPtr& operator=(DeepPtr&&) noexcept = default;
  const T* get() const { return p_.get(); }
  T& make() {
    if (!p_) p_ = std::make_unique<T>();
    return *p_;
  }
  void reset() { p_.reset(); }

 private:
  std::unique_ptr<T> p_;
};

struct Change {
  uint64_t seq = 0;
  uint64_t start_op = 0;
  int64_t time = 0;
  std::vector<OpId> preds;          // every op's preds, op by op (Op::pred_count)
  DeepPtr<ChangeRare> rare;         // null: no message, no extra bytes, no mark names
  // Last: the room of each for its one item inline is left untouched by a change that
  // keeps none of them (a lean document's, see StoredChange). Most changes of a typed text
  // have one op, and a full load made an allocation for each (~190 instructions).
  SmallVector<ChangeHash> deps;     // sorted ascending
  SmallVector<ActorId> actors;      // [author, other actors sorted ascending]
  SmallVector<Op> ops;              // op i has id (start_op + i, author)

  // Empty: no message.
  const std::string& message() const { return rare.get() ? rare.get()->message : kNoString; }
  const Bytes& extra() const { return rare.get() ? rare.get()->extra : kNoBytes; }
  const std::vector<std::pair<uint32_t, SmallString>>& mark_names() const {
    return rare.get() ? rare.get()->mark_names : kNoMarkNames;
  }
  std::string& mutable_message() { return rare.make().message; }
  Bytes& mutable_extra() { return rare.make().extra; }
  std::vector<std::pair<uint32_t, SmallString>>& mutable_mark_names() {
    return rare.make().mark_names;
  }
  // The mark name of op i (which has_mark_name).
  std::string_view mark_name(size_t i) const;

  std::string_view author() const { return actors[0]; }
  // startOp + number of ops − 1 (startOp − 1 for an empty change).
  uint64_t max_op() const { return start_op + ops.size() - 1; }

 private:
  static const std::string kNoString;
  static const Bytes kNoBytes;
  static const std::vector<std::pair<uint32_t, SmallString>> kNoMarkNames;
};

// The error of check_start_op (below), for counters that do not follow on.
Status start_op_error(uint64_t start_op, size_t num_ops, uint64_t deps_max_op,
                      uint64_t author_max_op);

// Checks that a change's op counters follow on from its dependencies' as the library needs
// to load it back from a document, which stores no startOp: the library takes it to be one
// above the highest maxOp of the change's deps (0 without deps), and gives the change the
// author's ops from there up to its maxOp. So startOp must be above that, an empty change's
// exactly one above it, and that range must not reach into the author's change before
// (whose maxOp is `author_max_op`, 0 for a first change): which the library's changes never
// do, as each depends on the author's one before. `deps_max_op`: the deps' highest maxOp.
// (Inline: a load checks every change, and the call cost more than the test.)
inline Status check_start_op(uint64_t start_op, size_t num_ops, uint64_t deps_max_op,
                             uint64_t author_max_op) {
  const bool follows = num_ops > 0 ? start_op > deps_max_op : start_op == deps_max_op + 1;
  if (deps_max_op >= author_max_op && follows) [[likely]] return Status::Ok();
  return start_op_error(start_op, num_ops, deps_max_op, author_max_op);
}

// Decodes a change body and checks it is valid and canonical: re-encoding it gives back
// exactly `body` (anything else could not survive a document round trip, spec §5.7).
// `check_canonical` = false skips the re-encoding, for bodies this code wrote or checked.
Result<Change> decode_change(ByteView body, bool check_canonical = true);
// The canonical body of a change (§5.1–5.3).
Bytes encode_change_body(const Change& change);
// Appends the canonical body to `out`.
void encode_change_body(const Change& change, Bytes& out);
// The canonical body with the op columns always through the general column encoders:
// encode_change_body writes one-op changes' directly, and tests hold the two to the same
// bytes.
Bytes encode_change_body_general(const Change& change);

}  // namespace amstore

namespace amstore {

// A change together with its hash and canonical type-1 chunk bytes. Every member, and every
// member of Change, is initialized by its own declaration: a load makes 10^5 of them
// default-initialized (ChangeArena::make), without first zeroing the whole
// (value-initialization did).
// What a lean document keeps (hash, chunk, seq, startOp, time) comes first, in the fewest
// cache lines.
struct StoredChange {
  ChangeHash hash{};
  // Inline up to 120 bytes: a one-op change's chunk takes 100–120 (its dep and author take
  // 50), and each was an allocation of its own.
  SmallVector<uint8_t, 120> chunk;
  Change change;

  // Made on its own (16 bytes more than the change, for a header) or by a ChangeArena;
  // `delete` (a unique_ptr's) frees either kind.
  static void* operator new(size_t size);
  static void operator delete(void* p) noexcept;
};

// Makes the changes of one load side by side in blocks of up to 64 KiB, rather than each
// with a malloc of its own: a load makes up to 10^5 and more, and glibc's malloc took ~200
// instructions for each. A block is freed when its last change is (each deleted as any
// other, from any thread), so a change kept holds its whole block: fine for a load's
// changes, which a document keeps or drops together. No state is shared between arenas.
class ChangeArena {
 public:
  // `expected`: how many changes the load will make (blocks are no larger than that needs:
  // a merge's few new changes would otherwise each hold a block).
  explicit ChangeArena(size_t expected) : left_(expected) {}
  ChangeArena(const ChangeArena&) = delete;
  ChangeArena& operator=(const ChangeArena&) = delete;
  ~ChangeArena() { retire(); }
  // A new StoredChange, default-initialised, owned by the caller (a unique_ptr's `delete`).
  StoredChange* make() {
    if (used_ == slots_) next_block();
    if (left_ > 0) --left_;
    return make_in(block_, used_++, slots_);
  }

  struct Block;

 private:
  void next_block();
  void retire();  // gives up the block's slots not handed out
  // Slot `slot` of the `slots` of block b. It also asks for the memory of the slot a few
  // ahead, to be written: a load's changes are made one after another in fresh memory, and
  // each change's first writes waited for their cache lines.
  static StoredChange* make_in(Block* b, size_t slot, size_t slots);

  // The block being filled, and its slots handed out of its `slots_`. Once all are, the
  // arena holds no claim on it: its changes may all be gone, and it with them.
  Block* block_ = nullptr;
  size_t used_ = 0, slots_ = 0;
  size_t left_;  // changes still expected
};

// Whether two actor ids are the same, without a memcmp call for the usual 16 bytes: loops
// over 10^5 changes compare each one's author with the previous change's.
inline bool same_actor(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.size() != 16) return a == b;
  uint64_t x[2], y[2];
  std::memcpy(x, a.data(), sizeof x);
  std::memcpy(y, b.data(), sizeof y);
  return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
}

// Asks for every cache line of `*sc` (not what it points to): loops over the changes of a
// long history, each allocated on its own, read a few fields of each.
inline void prefetch_change(const StoredChange* sc) {
  const char* p = reinterpret_cast<const char*>(sc);
  for (size_t off = 0; off < sizeof(StoredChange); off += 64) __builtin_prefetch(p + off);
}

// Encodes `change` into a StoredChange (chunk bytes and hash).
StoredChange store_change(Change change);
// Sets sc->chunk and sc->hash to those of `change`, which may be sc->change or another's
// (a lean load seals its scratch change straight into the change it keeps).
void seal_change(const Change& change, StoredChange* sc);
// Decodes the change of a StoredChange's chunk again (the chunk was written by
// store_change from a validated change, so the canonical re-encoding check is skipped).
Result<Change> decode_stored_change(ByteView chunk);
// Only the deps of a StoredChange's chunk (they lead its body): no ops decoded.
Status stored_change_deps(ByteView chunk, SmallVector<ChangeHash>* deps);

}  // namespace amstore
