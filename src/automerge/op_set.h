// The op set: every op of a set of changes with document-wide actor indexes, successors
// instead of predecessors, deletes dropped, in document order (spec §6.4, Algorithm B steps
// 3–8). It is what the document chunk stores and what the JSON view reads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "automerge/change.h"

namespace amstore {

enum class ObjType : uint8_t { kMap, kList, kText };

// 32 bytes: a large document has millions, and the ordering passes visit them scattered.
// Its object is known from the ObjectRange that holds it, its successors from
// OpSet::succ_start.
struct DocOp {
  OpId id;
  const Op* op;  // the change's op: key, insert, action, value, expand, mark name
  OpId elem;     // element key with document actor index (list ops)
  // Copies of op->action/insert/map_key: the ordering passes read them for every op, and
  // the ops themselves lie scattered over the changes.
  uint8_t action = 0;
  bool insert = false;
  bool map_key = false;
  // How many successors it has (OpSet::succ_count): the save reads it with the op, where
  // succ_start would be one more cache line to fetch per op, and most ops have none.
  uint32_t succ_count = 0;
};
static_assert(sizeof(DocOp) == 32);

struct ObjectRange {
  OpId id;  // counter 0: root
  ObjType type;
  uint32_t begin, end;  // range in OpSet::ops
};

struct OpSet {
  std::vector<std::string> actors;   // sorted, exactly the authors
  std::vector<uint32_t> change_author;  // per change, as given: its author's index in actors
  std::vector<DocOp> all;            // every op, deletes included, in change order
  std::vector<uint32_t> order;       // document order, no deletes: indexes into `all`
  std::vector<OpId> succ;            // successor lists, each in Lamport order
  std::vector<uint32_t> succ_start;  // all[i]'s successors: succ[succ_start[i], succ_start[i + 1])
  std::vector<ObjectRange> objects;  // root first, then by object id (ranges of `order`)
  std::vector<const Op*> succ_ops;   // parallel to succ: the successor op itself
  // Mark names (Change::mark_names) of the ops that have one: (index in `all`, name),
  // ascending. Views into the changes.
  std::vector<std::pair<uint32_t, std::string_view>> mark_names;

  // The i-th op in document order. (An index rather than a reordered copy: a large
  // document's ops take tens of MB, and readers pass over them once.)
  const DocOp& op(size_t i) const { return all[order[i]]; }
  // How many successors all[i] has.
  uint32_t succ_count(uint32_t i) const { return succ_start[i + 1] - succ_start[i]; }
  // The mark name of all[i] (an op with has_mark_name).
  std::string_view mark_name(uint32_t i) const;
};

// `changes` must be in causal order and closed under dependencies. Fails on ops that refer
// to objects or elements that do not exist, or keys of the wrong kind for their object.
Result<OpSet> build_op_set(const std::vector<const StoredChange*>& changes);

// The authors of a change set's first changes, as loading them found them: add() then
// need not visit each of those changes to learn it (for a typed text, 10^5 changes fallen
// out of cache since the load).
struct ChangeAuthors {
  std::vector<std::string> actors;  // distinct, any order
  std::vector<uint32_t> of;         // per change: its author's index in `actors`
  size_t ops = 0;                   // the ops of those changes together
};

// The op set of a change set that grows: each add() takes the changes appended since the
// last one. Their ops join the op set, successor lists are merged (one pass over the ops),
// and only the objects their ops write to are ordered again (new list elements are spliced
// into the order there was); the others keep their order. So a document saved after a
// merge orders what the merge touched, not every object.
// build_op_set is one add() on an empty builder: the same checks, the same result.
class OpSetBuilder {
 public:
  OpSetBuilder();
  ~OpSetBuilder();
  OpSetBuilder(OpSetBuilder&&) noexcept;
  OpSetBuilder& operator=(OpSetBuilder&&) noexcept;

  // `changes`: the whole change set as for build_op_set, its first covered() entries the
  // ones added before, unchanged and at the same addresses (the op set points into them).
  // On failure the builder is spent: drop it.
  // `doc_order`: the document order of the ops of changes[0, doc_order_changes) (all of
  // them by default), decode_document's, for a first add(): taken (after a check that it
  // orders every one of those ops, object by object) instead of ordering the objects;
  // ordering is a third of a large document's first save. The changes after them (merged
  // since the load) join that order as a second add() would join them, in the same pass
  // over the ops. `authors`, for a first add(): those of changes[0, authors->of.size()),
  // which must be theirs.
  Status add(const std::vector<const StoredChange*>& changes,
             const std::vector<uint32_t>* doc_order = nullptr,
             size_t doc_order_changes = SIZE_MAX, const ChangeAuthors* authors = nullptr);
  // How many changes the op set holds.
  size_t covered() const;
  const OpSet& op_set() const;
  OpSet take() &&;

 private:
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace amstore
