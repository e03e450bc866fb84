// OpIndex: what a document knows about each of its ops (object kind, element, key slot),
// so that a new change can be validated against the document in time proportional to the
// change, not the document. It rejects what would make the document unsavable: ops on
// objects or elements that do not exist, keys of the wrong kind, predecessors that are
// missing, newer than the op, or at another key, and deletes without predecessors.
#pragma once

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "automerge/change.h"

namespace amstore {

class OpIndex {
 public:
  // Checks `change` against the committed ops plus those staged since the last commit, and
  // stages its ops. On error nothing of `change` is staged.
  Status stage(const Change& change);
  void commit() { committed_ = blocks_.size(); }
  // Room for `changes` more changes holding `ops` ops in all (growing at least twofold, so
  // that many small merges still cost amortized constant time per op).
  void reserve(size_t changes, size_t ops) {
    grow(blocks_, blocks_.size() + changes);
    grow(infos_, infos_.size() + ops);
  }
  void rollback();

 private:
  enum Kind : uint8_t { kPlain = 0, kMap = 1, kSeq = 2 };
  struct Info {
    uint64_t slot;
    uint64_t obj;      // the object the op belongs to
    uint8_t kind;      // object kind for make ops
    bool element;      // insert ops create list elements
  };
  uint32_t actor_id(const std::string& actor);
  template <typename V>
  static void grow(V& v, size_t need) {
    if (need > v.capacity()) v.reserve(std::max(need, 2 * v.capacity()));
  }
  Status stage_ops(const Change& change, const std::vector<uint32_t>& ids);
  const Info* find(uint64_t key) const;
  bool older(uint64_t a, uint64_t b) const;  // Lamport order on (counter, actor bytes)

  std::unordered_map<std::string, uint32_t> actor_ids_;
  std::vector<std::string> actors_;
  uint32_t last_actor_ = 0;  // the actor actor_id() returned last
  // The ops of each change form a block of consecutive counters. Per actor, the blocks'
  // first counters in ascending order (an actor's changes never reuse counters), so an op
  // is found by a binary search over a small array and one index: no hash table over
  // millions of ops, and recent ops (what new ops refer to) stay in cache.
  struct Block {
    uint32_t start;  // first counter
    uint32_t begin;  // its ops are infos_[begin, next block's begin or infos_.size())
  };
  struct ActorBlocks {
    std::vector<uint32_t> starts;
    std::vector<uint32_t> blocks;  // indexes into blocks_
  };
  // How many ops block bi holds.
  size_t block_size(uint32_t bi) const {
    return (bi + 1 < blocks_.size() ? blocks_[bi + 1].begin : infos_.size()) - blocks_[bi].begin;
  }
  std::vector<Block> blocks_;
  std::vector<Info> infos_;  // the ops of all blocks, block after block
  std::vector<ActorBlocks> by_actor_;
  size_t committed_ = 0;  // blocks_[committed_..] are staged
  std::vector<uint32_t> ids_;  // scratch: the staged change's actors as indexes here
  // The block find() found last (not the last block): new ops mostly refer to the ops of a few recent
  // changes (the text typed just before), so most lookups skip the binary search.
  struct LastBlock {
    uint32_t actor = UINT32_MAX, start = 0, size = 0, begin = 0;
  };
  mutable LastBlock last_block_;
  // The object the last staged op belongs to (0: none) and its kind.
  uint64_t last_obj_ = 0;
  uint8_t last_kind_ = kMap;
};

}  // namespace amstore
