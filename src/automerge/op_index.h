// OpIndex: what a document knows about each of its ops (object kind, element, key slot),
// so that a new change can be validated against the document in time proportional to the
// change, not the document. It rejects what would make the document unsavable: ops on
// objects or elements that do not exist, keys of the wrong kind, predecessors that are
// missing, newer than the op, or at another key, and deletes without predecessors. And
// ops on list elements newer than themselves, which no change that saw the element can
// hold, and which list order (OpSetBuilder's splice) takes as impossible. And what the
// library cannot load back from a document: deletes named as preds, tables, and marks
// other than it makes them (an end must follow its begin, by id and in the list).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "automerge/change.h"
#include "automerge/key_numbers.h"

namespace amstore {

class OpIndex {
 public:
  // Checks `change` against the committed ops plus those staged since the last commit, and
  // stages its ops. On error nothing of `change` is staged.
  Status stage(const Change& change);
  void commit() {
    committed_ = blocks_.size();
    committed_ops_ = meta_.size();
    keys_.commit();
  }
  // Room for `changes` more changes holding `ops` ops in all (growing by at least a quarter,
  // so that many small merges still cost amortized constant time per op: a cached document
  // would otherwise keep twice the index it needs after its first merge).
  void reserve(size_t changes, size_t ops) {
    grow(blocks_, blocks_.size() + changes);
    grow(target_, target_.size() + ops);
    grow(meta_, meta_.size() + ops);
  }
  void rollback();
  // Bytes held beyond the 8 per op: the map keys' table, and the lists' trees once a mark
  // was checked (see precedes).
  size_t extra_memory() const {
    return keys_.memory() + (depth_.capacity() + jump_.capacity()) * sizeof(uint32_t);
  }

 private:
  // kSpecial: with the element bit, a mark op with a name (a begin, which the op after it by
  // id pairs with when that is a mark without a name: see stage_ops); without, a delete,
  // which no op may name as its pred (a document keeps no delete to name). Neither makes an
  // object.
  enum Kind : uint32_t { kPlain = 0, kMap = 1, kSeq = 2, kSpecial = 3 };
  // What is kept per op, in two arrays of 8 bytes an op together (a cached document's index
  // is most of its memory). meta_[i]: bits 0–1 the kind of object op i makes (make ops), bit
  // 2 set if it creates a list element (insert), bits 3–31 its object: 0 for the root, else
  // 1 + the index here of the object's make op. target_[i]: a map op's key (its number in
  // keys_), a list op's element (the index here of the element's insert); an insert's
  // parent instead, the element it was inserted after (kHead: none), since an insert writes
  // to its own element (slot_of). Exact, not a hash, which a client can make collide on
  // purpose: a predecessor at another key would then pass, and the document could no
  // longer be saved. So two ops write to the same slot when their object fields and their
  // slots are equal (an object is a map or a list, never both).
  static constexpr uint32_t kKindMask = 3, kElement = 4, kObjShift = 3;
  static constexpr uint64_t kMaxOps = (uint64_t(1) << (32 - kObjShift)) - 1;
  static constexpr uint32_t kNotFound = UINT32_MAX;
  static constexpr uint32_t kHead = UINT32_MAX;  // target_ of an insert at a list's head
  static uint32_t kind_of(uint32_t meta) { return meta & kKindMask; }
  static bool makes_object(uint32_t meta) {
    return kind_of(meta) == kMap || kind_of(meta) == kSeq;
  }
  static bool is_mark_begin(uint32_t meta) {
    return kind_of(meta) == kSpecial && (meta & kElement);
  }
  static bool is_delete(uint32_t meta) {
    return kind_of(meta) == kSpecial && !(meta & kElement);
  }
  static uint32_t obj_of(uint32_t meta) { return meta >> kObjShift; }
  uint32_t slot_of(uint32_t i) const { return meta_[i] & kElement ? i : target_[i]; }
  // Forgets the ops from index n on, in every array.
  void truncate_ops(size_t n) {
    target_.resize(n);
    meta_.resize(n);
    if (depth_.size() > n) {
      depth_.resize(n);
      jump_.resize(n);
    }
  }
  // The index here of `actor`, added if new. Consecutive changes are mostly one author's:
  // that case inline, with no hashing.
  uint32_t actor_id(std::string_view actor) {
    if (last_actor_ < actors_.size() && same_actor(actors_[last_actor_], actor))
      return last_actor_;
    return find_actor_id(actor);
  }
  uint32_t find_actor_id(std::string_view actor);
  template <typename V>
  static void grow(V& v, size_t need) {
    if (need > v.capacity()) v.reserve(std::max(need, v.capacity() + v.capacity() / 4));
  }
  struct Block;
  // Stages the change's ops, the last of `block`'s.
  Status stage_ops(const Change& change, const std::vector<uint32_t>& ids, Block block);
  // Stages a character typed on, if `change` is one (see op_index.cc); false, with nothing
  // staged, for any other change.
  bool stage_typed(const Change& change);
  // The index here of op `key` (counter << 32 | actor index), or kNotFound.
  uint32_t find(uint64_t key) const;
  bool older(uint64_t a, uint64_t b) const;  // Lamport order on (counter, actor bytes)
  uint64_t key_at(uint32_t i) const;          // op i's id as find() takes it
  // Whether list element u comes before element v (another) of the same list. List order
  // is a pre-order walk of the tree in which each element's parent is the element it was
  // inserted after (the list's head the root), children newest first.
  bool precedes(uint32_t u, uint32_t v);
  // Element i's depth in its list's tree, computed on first use with its ancestors' and
  // kept (a parent never changes); and its jump pointer, an ancestor chosen so that any
  // ancestor is reached in O(log depth) steps (Myers' skew-binary jump pointers).
  uint32_t depth(uint32_t i);
  uint32_t parent(uint32_t i) const { return i == kHead ? kHead : target_[i]; }
  uint32_t jump(uint32_t i) const { return i == kHead ? kHead : jump_[i]; }
  uint32_t ancestor_at(uint32_t i, uint32_t d);  // i's ancestor at depth d (<= depth(i))

  std::unordered_map<std::string, uint32_t, KeyedHash, std::equal_to<>> actor_ids_;
  KeyNumbers keys_;  // map keys by number (target_ of map ops)
  std::vector<std::string> actors_;
  uint32_t last_actor_ = 0;  // the actor actor_id() returned last
  // The ops of each change form a block of consecutive counters, or join the block of the
  // author's change before (see stage). Per actor, the blocks' first counters in ascending
  // order (an actor's changes never reuse counters), so an op is found by a binary search
  // over a small array and one index: no hash table over millions of ops, and recent ops
  // (what new ops refer to) stay in cache.
  struct Block {
    uint32_t start;  // first counter
    uint32_t begin;  // its ops are [begin, next block's begin or size()) in target_ and meta_
    uint32_t actor;
  };
  struct ActorBlocks {
    std::vector<uint32_t> starts;
    std::vector<uint32_t> blocks;  // indexes into blocks_
  };
  // How many ops block bi holds.
  size_t block_size(uint32_t bi) const {
    return (bi + 1 < blocks_.size() ? blocks_[bi + 1].begin : meta_.size()) - blocks_[bi].begin;
  }
  std::vector<Block> blocks_;
  std::vector<uint32_t> target_;  // the ops of all blocks, block after block
  std::vector<uint32_t> meta_;
  // Per op, once a mark end was checked (then sized to all ops): an element's depth (0:
  // not computed yet) and jump pointer. Kept for all later checks, so that each element's
  // are computed once: a mark spanning a long text costs O(log) after the first.
  std::vector<uint32_t> depth_, jump_;
  std::vector<uint32_t> path_;  // scratch for depth()
  std::vector<ActorBlocks> by_actor_;
  size_t committed_ = 0;      // blocks_[committed_..] are staged
  size_t committed_ops_ = 0;  // and so are the ops from this index on
  std::vector<uint32_t> ids_;  // scratch: the staged change's actors as indexes here
  // The block find() found last (not the last block): new ops mostly refer to the ops of a few recent
  // changes (the text typed just before), so most lookups skip the binary search.
  struct LastBlock {
    uint32_t actor = UINT32_MAX, start = 0, size = 0, begin = 0;
  };
  mutable LastBlock last_block_;
  // The object the last staged op belongs to (0: none), its kind and its meta_ object field.
  uint64_t last_obj_ = 0;
  uint32_t last_kind_ = kMap;
  uint32_t last_obj_ref_ = 0;
};

}  // namespace amstore
