#include "automerge/op_index.h"

#include <functional>
#include <string_view>

namespace amstore {

namespace {
uint64_t key_of(uint32_t counter, uint32_t actor) { return uint64_t(counter) << 32 | actor; }
uint64_t mix(uint64_t a, uint64_t b) {
  a ^= b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2);
  return a * 0xff51afd7ed558ccdULL;
}
}  // namespace

uint32_t OpIndex::actor_id(const std::string& actor) {
  auto [it, fresh] = actor_ids_.try_emplace(actor, static_cast<uint32_t>(actors_.size()));
  if (fresh) actors_.push_back(actor);
  return it->second;
}

const OpIndex::Info* OpIndex::find(uint64_t key) const {
  if (!staged_.empty())
    if (const Info* i = staged_.find(key)) return i;
  return ops_.find(key);
}

bool OpIndex::older(uint64_t a, uint64_t b) const {
  uint32_t ca = a >> 32, cb = b >> 32;
  if (ca != cb) return ca < cb;
  return actors_[a & 0xffffffffu] < actors_[b & 0xffffffffu];
}

Status OpIndex::stage(const Change& c) {
  std::vector<uint32_t> ids(c.actors.size());
  for (size_t i = 0; i < c.actors.size(); ++i) ids[i] = actor_id(c.actors[i]);
  // Ops are staged as they pass, since later ops of the change may refer to them; on error
  // this change's ops are taken out again.
  size_t done = 0;
  Status s = stage_ops(c, ids, &done);
  if (!s.ok()) {
    // Take back this change's ops: rebuild the staging map without them.
    staged_keys_.resize(staged_keys_.size() - done);
    U64Map<Info> keep;
    for (uint64_t k : staged_keys_) keep.emplace(k, *staged_.find(k));
    staged_ = std::move(keep);
  }
  return s;
}

Status OpIndex::stage_ops(const Change& c, const std::vector<uint32_t>& ids, size_t* done) {
  auto global = [&](OpId id) { return key_of(id.counter, ids[id.actor]); };
  auto lookup = [&](uint64_t key) { return find(key); };
  for (size_t i = 0; i < c.ops.size(); ++i) {
    const Op& op = c.ops[i];
    uint64_t id = key_of(static_cast<uint32_t>(c.start_op + i), ids[0]);
    if (find(id)) return Status::Error("op id is already used by another change");
    uint8_t obj_kind = kMap;
    uint64_t obj = 0;
    if (!op.obj.is_zero()) {
      obj = global(op.obj);
      const Info* o = lookup(obj);
      if (!o || o->kind == kPlain) return Status::Error("op refers to an object that does not exist");
      obj_kind = o->kind;
    }
    uint64_t slot;
    if (obj_kind == kMap) {
      if (!op.map_key || op.insert) return Status::Error("op on a map object has no map key");
      slot = mix(obj, std::hash<std::string_view>()(op.key));
    } else {
      if (op.map_key) return Status::Error("op on a list or text object has a map key");
      uint64_t elem = op.elem.is_zero() ? 0 : global(op.elem);
      if (elem != 0) {
        const Info* e = lookup(elem);
        if (!e || !e->element || e->obj != obj)
          return Status::Error("op refers to a list element that does not exist");
      } else if (!op.insert) {
        return Status::Error("op targets the head of a list");
      }
      slot = mix(obj, op.insert ? id : elem) ^ 1;
    }
    if (op.action == static_cast<uint8_t>(Action::kDel) && op.pred_count == 0)
      return Status::Error("delete op without predecessors");
    for (uint32_t k = 0; k < op.pred_count; ++k) {
      uint64_t p = global(c.preds[op.pred_begin + k]);
      const Info* pi = lookup(p);
      if (!pi) return Status::Error("op's predecessor does not exist");
      if (!older(p, id)) return Status::Error("op's predecessor is not older than the op");
      if (pi->slot != slot) return Status::Error("op's predecessor is at a different key");
    }
    Info info{slot, obj, kPlain, op.insert};
    switch (static_cast<Action>(op.action)) {
      case Action::kMakeMap:
      case Action::kMakeTable: info.kind = kMap; break;
      case Action::kMakeList:
      case Action::kMakeText: info.kind = kSeq; break;
      default: break;
    }
    staged_.emplace(id, info);
    staged_keys_.push_back(id);
    ++*done;
  }
  return Status::Ok();
}

void OpIndex::commit() {
  if (ops_.empty()) {
    std::swap(ops_, staged_);
  } else {
    ops_.reserve(ops_.size() + staged_keys_.size());
    for (uint64_t k : staged_keys_) ops_.emplace(k, *staged_.find(k));
  }
  staged_ = U64Map<Info>();
  staged_keys_.clear();
}

}  // namespace amstore
