#include "automerge/op_index.h"

#include <algorithm>
#include <functional>
#include <span>
#include <string_view>

#include "automerge/keyed_hash.h"

namespace amstore {

namespace {
uint64_t key_of(uint32_t counter, uint32_t actor) { return uint64_t(counter) << 32 | actor; }
// An insert of a plain value without preds (a character typed): after an element of its
// list, nothing else of it needs checking.
bool plain_insert(const Op& op) {
  return op.insert && op.action == static_cast<uint8_t>(Action::kSet) && op.pred_count == 0;
}
}  // namespace

uint32_t OpIndex::find_actor_id(std::string_view actor) {
  auto [it, fresh] = try_emplace_view(actor_ids_, actor, static_cast<uint32_t>(actors_.size()));
  if (fresh) {
    actors_.emplace_back(actor);
    by_actor_.emplace_back();
  }
  last_actor_ = it->second;
  return it->second;
}

uint32_t OpIndex::find(uint64_t key) const {
  uint32_t counter = static_cast<uint32_t>(key >> 32), actor = static_cast<uint32_t>(key);
  if (actor == last_block_.actor && counter - last_block_.start < last_block_.size)
    return last_block_.begin + (counter - last_block_.start);
  if (actor >= by_actor_.size()) return kNotFound;
  const ActorBlocks& a = by_actor_[actor];
  auto it = std::upper_bound(a.starts.begin(), a.starts.end(), counter);
  if (it == a.starts.begin()) return kNotFound;
  const uint32_t bi = a.blocks[it - a.starts.begin() - 1];
  const Block& b = blocks_[bi];
  uint32_t offset = counter - b.start;
  const size_t size = block_size(bi);
  if (offset >= size) return kNotFound;
  // Not the last block, which may still grow (rollback() forgets this one).
  if (bi + 1 < blocks_.size()) last_block_ = {actor, b.start, static_cast<uint32_t>(size), b.begin};
  return b.begin + offset;
}

void OpIndex::rollback() {
  last_block_ = {};
  last_obj_ = 0;
  keys_.rollback();
  for (ActorBlocks& a : by_actor_) {
    while (!a.blocks.empty() && a.blocks.back() >= committed_) {
      a.blocks.pop_back();
      a.starts.pop_back();
    }
  }
  blocks_.resize(committed_);
  truncate_ops(committed_ops_);  // (staged ops may have joined the last committed block)
}

bool OpIndex::older(uint64_t a, uint64_t b) const {
  uint32_t ca = a >> 32, cb = b >> 32;
  if (ca != cb) return ca < cb;
  return actors_[a & 0xffffffffu] < actors_[b & 0xffffffffu];
}

// A character typed on: a change of one op, referring to its author alone, inserting a plain
// value right after the author's op before it, in the list that op was staged in, and so
// continuing the last block (most changes of a typed text). The checks that such an op
// needs (stage_ops' own for it) without the rest of stage's work per change, which cost
// several times more.
bool OpIndex::stage_typed(const Change& c) {
  if (c.ops.size() != 1 || c.actors.size() != 1 || blocks_.empty()) return false;
  const Op& op = c.ops[0];
  if (!plain_insert(op) || op.map_key || op.obj.is_zero() || op.obj.actor != 0 ||
      op.elem.actor != 0 || uint64_t{op.elem.counter} + 1 != c.start_op || last_kind_ != kSeq)
    return false;
  const Block& b = blocks_.back();
  const size_t here = meta_.size();
  // The last block is the author's and holds its op before (here − 1), whose counter is
  // the one before the change's.
  if (here == b.begin || here + 1 > kMaxOps || uint64_t{b.start} + (here - b.begin) != c.start_op ||
      key_of(op.obj.counter, b.actor) != last_obj_ || !same_actor(actors_[b.actor], c.actors[0]))
    return false;
  const uint32_t elem = static_cast<uint32_t>(here - 1);
  if (!(meta_[elem] & kElement) || obj_of(meta_[elem]) != last_obj_ref_) return false;
  last_actor_ = b.actor;
  target_.push_back(elem);
  meta_.push_back(last_obj_ref_ << kObjShift | kElement);
  return true;
}

Status OpIndex::stage(const Change& c) {
  if (stage_typed(c)) return Status::Ok();
  std::vector<uint32_t>& ids = ids_;
  ids.resize(c.actors.size());
  for (size_t i = 0; i < c.actors.size(); ++i) ids[i] = actor_id(c.actors[i]);
  if (c.ops.empty()) return Status::Ok();
  if (meta_.size() + c.ops.size() > kMaxOps) return Status::Error("document has too many ops");
  // The change's ops join its author's block when that is the last block of all and the
  // change's counters follow on from it (text typed a change at a time: one block, not one
  // per change). Otherwise they make a block of their own, staged first and filled as ops
  // pass, since later ops of the change may refer to earlier ones; on error it is taken
  // out again.
  ActorBlocks& mine = by_actor_[ids[0]];
  bool join = false;
  if (!mine.starts.empty()) {
    const uint32_t bi = mine.blocks.back();
    const uint64_t end = uint64_t(blocks_[bi].start) + block_size(bi);
    if (c.start_op < end) return Status::Error("op id is already used by another change");
    join = bi + 1 == blocks_.size() && c.start_op == end;
    // Else the author's previous change, which its new ops refer to most (typing on):
    // looked up first (no longer the last block once this change's block is added below).
    if (!join)
      last_block_ = {ids[0], blocks_[bi].start, static_cast<uint32_t>(block_size(bi)),
                     blocks_[bi].begin};
  }
  const size_t begin = meta_.size();
  if (!join) {
    mine.starts.push_back(static_cast<uint32_t>(c.start_op));
    mine.blocks.push_back(static_cast<uint32_t>(blocks_.size()));
    blocks_.push_back(
        Block{static_cast<uint32_t>(c.start_op), static_cast<uint32_t>(begin), ids[0]});
  }
  Status s = stage_ops(c, ids, blocks_.back());
  if (!s.ok()) {
    last_obj_ = 0;  // may be an object this change made
    if (!join) {
      mine.starts.pop_back();
      mine.blocks.pop_back();
      blocks_.pop_back();
    }
    truncate_ops(begin);
  }
  return s;
}

// (Inline in stage, its only caller: a change of one op, most of a typed text's, paid more
// for the call than for its staging.)
[[gnu::always_inline]] inline Status OpIndex::stage_ops(const Change& c,
                                                       const std::vector<uint32_t>& ids,
                                                       Block block) {
  auto global = [&](OpId id) { return key_of(id.counter, ids[id.actor]); };
  // Ops refer to earlier ops of their own block most often of all (text typed in a run):
  // those of the change, and of the author's changes before it that the block holds.
  const uint32_t author = ids[0];
  const uint64_t start = block.start;
  const size_t begin = block.begin;
  // The change's ops get their entries up front, filled as they are staged: op i's at
  // `first + i` (`here`). An entry from `here` on is not staged yet, and is not found.
  const uint32_t first = static_cast<uint32_t>(meta_.size());
  if (c.ops.size() == 1) {  // (most changes: inline, where resize is a call)
    target_.push_back(0);
    meta_.push_back(0);
  } else {
    target_.resize(first + c.ops.size());
    meta_.resize(first + c.ops.size());
  }
  uint32_t* const targets = target_.data();
  uint32_t* const metas = meta_.data();
  auto find_op = [&](uint64_t key, uint32_t here) -> uint32_t {
    if (static_cast<uint32_t>(key) == author && (key >> 32) - start < here - begin)
      return static_cast<uint32_t>(begin + ((key >> 32) - start));
    const uint32_t at = find(key);
    return at < here ? at : kNotFound;  // (kNotFound is the largest)
  };
  // Consecutive ops, and consecutive changes, mostly share their object: its kind is looked
  // up once (last_obj_ and the rest: what is staged never changes; rollback() forgets it).
  const OpId* pred = c.preds.data();  // the op's preds: the ops before it have theirs first
  const std::span<const Op> ops(c.ops.data(), c.ops.size());  // (data() looked up once)
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    const uint32_t here = first + static_cast<uint32_t>(i);  // this op's index
    uint64_t id = key_of(static_cast<uint32_t>(c.start_op + i), ids[0]);
    uint32_t obj_kind = kMap;
    uint32_t obj_ref = 0;  // meta_'s object field
    uint64_t obj = 0;
    if (!op.obj.is_zero()) {
      obj = global(op.obj);
      if (obj != last_obj_) {
        const uint32_t o = find(obj);
        if (o >= here || !makes_object(metas[o]))  // (kNotFound is the largest)
          return Status::Error("op refers to an object that does not exist");
        last_obj_ = obj;
        last_kind_ = kind_of(metas[o]);
        last_obj_ref_ = o + 1;
      }
      obj_kind = last_kind_;
      obj_ref = last_obj_ref_;
    }
    uint32_t target;  // target_[here]
    uint32_t slot;    // slot_of(here)
    if (obj_kind == kMap) {
      if (!op.map_key || op.insert) return Status::Error("op on a map object has no map key");
      target = slot = keys_.number(op.key);
    } else {
      if (op.map_key) return Status::Error("op on a list or text object has a map key");
      uint32_t elem = kHead;
      if (op.elem.actor == 0 && uint64_t{op.elem.counter} + 1 == id >> 32 &&
          op.elem.counter >= start) {
        // The author's op just before this one (text typed on), which its block holds right
        // before it (a block's counters are contiguous): no lookup, and older by its id.
        elem = here - 1;
        if (!(metas[elem] & kElement) || obj_of(metas[elem]) != obj_ref)
          return Status::Error("op refers to a list element that does not exist");
        // A character typed (a plain insert without preds): none of the checks below apply.
        if (plain_insert(op)) {
          targets[here] = elem;
          metas[here] = obj_ref << kObjShift | kElement;
          continue;
        }
      } else if (!op.elem.is_zero()) {
        const uint64_t elem_id = global(op.elem);
        const uint32_t e = find_op(elem_id, here);
        if (e == kNotFound || !(metas[e] & kElement) || obj_of(metas[e]) != obj_ref)
          return Status::Error("op refers to a list element that does not exist");
        // As with predecessors: a change cannot have seen a newer op than its own. (And list
        // order relies on it: an element comes before the newer ones inserted after it.)
        if (!older(elem_id, id))
          return Status::Error("op refers to a list element that is not older than it");
        elem = e;
      } else if (!op.insert) {
        return Status::Error("op targets the head of a list");
      }
      target = elem;
      slot = op.insert ? here : elem;  // an insert makes its own element
    }
    if (op.action == static_cast<uint8_t>(Action::kDel) && op.pred_count == 0)
      return Status::Error("delete op without predecessors");
    // Marks as the library makes them, which is all that it can load from a document: each
    // an insert, the end (no name) right after its begin by id (the library pairs them so),
    // in the same object, and after it in the list (checked below, once the end is staged).
    // Else its document load fails ("invalid mark operation order"), or its text differs
    // from ours.
    const bool mark = op.action == static_cast<uint8_t>(Action::kMark);
    if (mark && !op.insert) return Status::Error("mark op is not an insert");
    uint32_t mark_begin = kNotFound;
    if (mark && !op.has_mark_name) {
      const uint32_t b = id >> 32 > 1 ? find_op(id - (uint64_t(1) << 32), here) : kNotFound;
      if (b == kNotFound || !is_mark_begin(metas[b]) || obj_of(metas[b]) != obj_ref)
        return Status::Error("mark end does not follow its mark begin in the same object");
      mark_begin = b;
    }
    for (uint32_t k = 0; k < op.pred_count; ++k) {
      uint64_t p = global(*pred++);
      const uint32_t pi = find_op(p, here);
      if (pi == kNotFound) return Status::Error("op's predecessor does not exist");
      if (is_delete(metas[pi])) return Status::Error("op's predecessor is a delete");
      if (!older(p, id)) return Status::Error("op's predecessor is not older than the op");
      if (obj_of(metas[pi]) != obj_ref || slot_of(pi) != slot)
        return Status::Error("op's predecessor is at a different key");
    }
    uint32_t meta = obj_ref << kObjShift | (op.insert ? kElement : 0);
    switch (static_cast<Action>(op.action)) {
      case Action::kMakeMap: meta |= kMap; break;
      case Action::kMakeList:
      case Action::kMakeText: meta |= kSeq; break;
      case Action::kMark: if (op.has_mark_name) meta |= kSpecial; break;  // (an insert)
      case Action::kDel: meta |= kSpecial; break;  // (never an insert: decode_change)
      // The library (3.5.0) panics on any op inside a table ("Missing from Index") and
      // shows an empty one as a list: none of its documents can hold one.
      case Action::kMakeTable: return Status::Error("tables are not supported");
      default: break;
    }
    targets[here] = target;
    metas[here] = meta;
    if (mark_begin != kNotFound && !precedes(mark_begin, here))
      return Status::Error("mark end comes before its mark begin in the list");
  }
  return Status::Ok();
}

uint64_t OpIndex::key_at(uint32_t i) const {
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), i,
                             [](uint32_t at, const Block& b) { return at < b.begin; });
  const Block& b = *(it - 1);  // (block 0 begins at 0)
  return key_of(b.start + (i - b.begin), b.actor);
}

uint32_t OpIndex::depth(uint32_t i) {
  if (i == kHead) return 0;
  if (depth_.size() < meta_.size()) {
    depth_.resize(meta_.size(), 0);
    jump_.resize(meta_.size(), 0);
  }
  if (depth_[i]) return depth_[i];
  // Up to the first ancestor known (or the head), then down again: iterative, since a text
  // typed a character at a time is one path as deep as the text is long.
  path_.clear();
  for (uint32_t x = i; x != kHead && !depth_[x]; x = target_[x]) path_.push_back(x);
  for (size_t k = path_.size(); k-- > 0;) {
    const uint32_t x = path_[k], p = target_[x];
    const uint32_t jp = jump(p);
    // Two jumps of equal length from the parent combine into one twice as long.
    const bool combine = p != kHead && depth(p) - depth(jp) == depth(jp) - depth(jump(jp));
    jump_[x] = combine ? jump(jp) : p;
    depth_[x] = depth(p) + 1;
  }
  return depth_[i];
}

uint32_t OpIndex::ancestor_at(uint32_t i, uint32_t d) {
  while (depth(i) > d) i = depth(jump(i)) >= d ? jump(i) : parent(i);
  return i;
}

bool OpIndex::precedes(uint32_t u, uint32_t v) {
  const uint32_t du = depth(u), dv = depth(v);
  uint32_t a = ancestor_at(u, std::min(du, dv)), b = ancestor_at(v, std::min(du, dv));
  if (a == b) return du < dv;  // one is the other's ancestor, which comes first
  // Up to the children of their lowest common ancestor, jumping where the jumps (of equal
  // length at equal depths) still land apart.
  while (parent(a) != parent(b)) {
    if (jump(a) != jump(b)) {
      a = jump(a);
      b = jump(b);
    } else {
      a = parent(a);
      b = parent(b);
    }
  }
  return older(key_at(b), key_at(a));  // siblings: the newer first
}

}  // namespace amstore
