#include "automerge/op_set.h"

#include <algorithm>

#include "automerge/flat_map.h"

namespace amstore {

namespace {

// Whether two ops of one object write to the same slot: the same map key, or the same list
// element (an insert's element is the op itself).
bool same_key(const DocOp& a, const DocOp& b) {
  if (a.map_key != b.map_key) return false;
  if (a.map_key) return a.op->key == b.op->key;
  return (a.insert ? a.id : a.elem) == (b.insert ? b.id : b.elem);
}

// Op id → index in the op list. A change's ops have consecutive counters and sit together
// in the list, so each actor keeps one (first counter, first index, count) range per change:
// a binary search in a small array instead of a hash lookup that misses the cache for
// every op of a large document.
class OpLocator {
 public:
  explicit OpLocator(size_t actors) : by_actor_(actors) {}
  // Registers the ops of a change; counters must increase per actor.
  bool add(uint32_t actor, uint32_t first_counter, uint32_t first_index, uint32_t count) {
    auto& v = by_actor_[actor];
    if (!v.empty() && first_counter < v.back().counter + v.back().count) return false;
    if (count > 0) v.push_back({first_counter, first_index, count});
    return true;
  }
  // The index of op `id`, or -1.
  int64_t find(OpId id) const {
    if (id.actor >= by_actor_.size()) return -1;
    const auto& v = by_actor_[id.actor];
    auto it = std::upper_bound(v.begin(), v.end(), id.counter,
                               [](uint32_t c, const Range& r) { return c < r.counter; });
    if (it == v.begin()) return -1;
    --it;
    uint32_t off = id.counter - it->counter;
    return off < it->count ? int64_t(it->index) + off : -1;
  }

 private:
  struct Range {
    uint32_t counter, index, count;
  };
  std::vector<std::vector<Range>> by_actor_;
};

// The kind of object a make op creates; false for any other action.
bool makes_object(uint8_t action, ObjType* type) {
  switch (static_cast<Action>(action)) {
    case Action::kMakeMap:
    case Action::kMakeTable: *type = ObjType::kMap; return true;
    case Action::kMakeList: *type = ObjType::kList; return true;
    case Action::kMakeText: *type = ObjType::kText; return true;
    default: return false;
  }
}

Status order_map(const std::vector<DocOp>& ops, std::vector<uint32_t>& idx) {
  for (uint32_t i : idx)
    if (!ops[i].map_key || ops[i].insert) return Status::Error("op on a map object has no map key");
  std::sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) {
    std::string_view ka = ops[a].op->key, kb = ops[b].op->key;
    int c = ka.compare(kb);  // compares as unsigned bytes (char_traits<char>), like memcmp
    if (c != 0) return c < 0;
    return lamport_less(ops[a].id, ops[b].id);
  });
  return Status::Ok();
}

// RGA order (spec §6.4): pre-order of the insertion tree, children by descending id, each
// element followed by the non-insert ops that target it. Iterative: text typed one
// character at a time makes the tree as deep as the text is long.
// `insert_pos` (one entry per op, reused across objects) maps an insert op's index to its
// position among this object's inserts; `elem_of` checks that an element is one of them.
Status order_list(const std::vector<DocOp>& ops, const OpLocator& locate,
                  std::vector<uint32_t>& insert_pos, std::vector<uint32_t>& idx) {
  std::vector<uint32_t> inserts, others;
  // An object's ops lie scattered over `ops` (between those of other objects): each pass
  // over them fetches a few rows ahead so the cache misses overlap.
  for (size_t j = 0; j < idx.size(); ++j) {
    if (j + 16 < idx.size()) __builtin_prefetch(&ops[idx[j + 16]]);
    uint32_t i = idx[j];
    if (ops[i].map_key) return Status::Error("op on a list or text object has a map key");
    if (ops[i].insert) {
      insert_pos[i] = static_cast<uint32_t>(inserts.size());
      inserts.push_back(i);
    } else {
      others.push_back(i);
    }
  }
  // Position among this object's inserts of element `e`, or null.
  uint32_t found;
  auto elem_index = [&](OpId e) -> const uint32_t* {
    int64_t j = locate.find(e);
    if (j < 0) return nullptr;
    uint32_t p = insert_pos[j];
    if (p >= inserts.size() || inserts[p] != j) return nullptr;
    found = p;
    return &found;
  };
  const uint32_t n = static_cast<uint32_t>(inserts.size());
  // parent[k]: 0 for HEAD, else 1 + index of the parent element.
  std::vector<uint32_t> parent(n);
  for (uint32_t k = 0; k < n; ++k) {
    if (k + 16 < n) __builtin_prefetch(&ops[inserts[k + 16]]);
    OpId p = ops[inserts[k]].elem;
    if (p.is_zero()) {
      parent[k] = 0;
    } else if (k > 0 && ops[inserts[k - 1]].id == p) {
      parent[k] = k;  // after the element inserted just before (text typed in order)
    } else {
      const uint32_t* at = elem_index(p);
      if (!at) return Status::Error("insert after an element that does not exist");
      parent[k] = *at + 1;
    }
  }
  // Children lists (CSR, by a counting sort on the parent), each sorted by descending id.
  // Most elements have one child (text typed in order), so the sorts are mostly no-ops.
  std::vector<uint32_t> first(n + 2, 0);
  for (uint32_t k = 0; k < n; ++k) ++first[parent[k] + 1];
  for (uint32_t p = 1; p < n + 2; ++p) first[p] += first[p - 1];
  std::vector<uint32_t> order(n);
  {
    std::vector<uint32_t> fill(first.begin(), first.end() - 1);
    for (uint32_t k = 0; k < n; ++k) order[fill[parent[k]]++] = k;
  }
  auto newer = [&](uint32_t a, uint32_t b) {
    return lamport_less(ops[inserts[b]].id, ops[inserts[a]].id);
  };
  for (uint32_t p = 0; p + 1 < n + 2; ++p)
    if (first[p + 1] - first[p] > 1)
      std::sort(order.begin() + first[p], order.begin() + first[p + 1], newer);
  // order[first[p] .. first[p+1]) are the children of node p, descending.
  std::vector<uint32_t> seq;
  seq.reserve(n);
  std::vector<uint32_t> stack;
  auto push_children = [&](uint32_t node) {
    for (uint32_t j = first[node + 1]; j > first[node]; --j) stack.push_back(order[j - 1]);
  };
  push_children(0);
  while (!stack.empty()) {
    uint32_t k = stack.back();
    stack.pop_back();
    seq.push_back(k);
    push_children(k + 1);
  }
  if (seq.size() != n) return Status::Error("list elements form a cycle");
  std::vector<uint32_t> pos(n);
  for (uint32_t i = 0; i < n; ++i) pos[seq[i]] = i;
  // Non-insert ops grouped under their element, by id.
  std::vector<std::pair<uint32_t, uint32_t>> targeted;  // (element position, op index)
  targeted.reserve(others.size());
  for (uint32_t i : others) {
    const uint32_t* at = elem_index(ops[i].elem);
    if (!at) return Status::Error("op targets a list element that does not exist");
    targeted.emplace_back(pos[*at], i);
  }
  // By element position, then id (counting sort on the position, then small sorts).
  {
    std::vector<uint32_t> at(n + 1, 0);
    for (const auto& t : targeted) ++at[t.first + 1];
    for (uint32_t p = 0; p < n; ++p) at[p + 1] += at[p];
    std::vector<std::pair<uint32_t, uint32_t>> sorted(targeted.size());
    std::vector<uint32_t> fill(at.begin(), at.end() - 1);
    for (const auto& t : targeted) sorted[fill[t.first]++] = t;
    for (uint32_t p = 0; p < n; ++p)
      if (at[p + 1] - at[p] > 1)
        std::sort(sorted.begin() + at[p], sorted.begin() + at[p + 1],
                  [&](const auto& a, const auto& b) {
                    return lamport_less(ops[a.second].id, ops[b.second].id);
                  });
    targeted.swap(sorted);
  }
  idx.clear();
  size_t t = 0;
  for (uint32_t p = 0; p < n; ++p) {
    idx.push_back(inserts[seq[p]]);
    while (t < targeted.size() && targeted[t].first == p) idx.push_back(targeted[t++].second);
  }
  return Status::Ok();
}

}  // namespace

std::string_view OpSet::mark_name(uint32_t i) const {
  const std::string_view* name = find_by_index(mark_names, i);
  return name ? *name : std::string_view();
}

Result<OpSet> build_op_set(const std::vector<const StoredChange*>& changes) {
  OpSet s;
  size_t total = 0;
  const size_t n = changes.size();
  s.change_author.resize(n);
  {
    // Runs of changes by one author (one author typing: one run), as views first: a string
    // per change would allocate (actor ids are 16 bytes). Each change's author string lies
    // behind two pointers of its own: it is fetched a few changes ahead, a level at a time,
    // and read once here; the other passes use change_author.
    std::vector<std::string_view> runs;
    for (size_t i = 0; i < n; ++i) {
      if (i + 48 < n) prefetch_change(changes[i + 48]);
      if (i + 32 < n) __builtin_prefetch(changes[i + 32]->change.actors.data());
      if (i + 16 < n && !changes[i + 16]->change.actors.empty())
        __builtin_prefetch(changes[i + 16]->change.actors[0].data());
      const Change& c = changes[i]->change;
      if (runs.empty() || runs.back() != c.author()) runs.push_back(c.author());
      s.change_author[i] = static_cast<uint32_t>(runs.size() - 1);  // a run, for now
      total += c.ops.size();
    }
    std::vector<std::string_view> authors = runs;
    std::sort(authors.begin(), authors.end());
    authors.erase(std::unique(authors.begin(), authors.end()), authors.end());
    s.actors.assign(authors.begin(), authors.end());
    std::vector<uint32_t> run_author(runs.size());
    for (size_t r = 0; r < runs.size(); ++r)
      run_author[r] = static_cast<uint32_t>(
          std::lower_bound(authors.begin(), authors.end(), runs[r]) - authors.begin());
    for (uint32_t& a : s.change_author) a = run_author[a];
  }

  // Every pass over `all` (32 bytes an op, ~50 MB for a million-op document) costs about
  // as much as the work done in it, so what can be worked out while the ops are made is,
  // and later passes read the small per-op arrays instead.
  std::vector<DocOp> all;
  all.reserve(total);
  OpLocator locate(s.actors.size());
  std::vector<std::pair<uint32_t, uint32_t>> edges;  // (pred index, succ index)
  std::vector<uint32_t> local_to_global;
  // Objects in the order their make ops come (the root first); sorted by id further down.
  std::vector<std::pair<OpId, ObjType>> objects{{OpId{}, ObjType::kMap}};
  U64Map<uint32_t> object_index;  // object id → index in `objects`
  // Per op: index in `objects` of its object, with kDeleted set for deletes (they are not
  // in the document, but their slot is checked); kLater for an op on an object whose make
  // op had not come yet (looked up again below, from `later`).
  constexpr uint32_t kDeleted = uint32_t(1) << 31, kLater = UINT32_MAX;
  std::vector<uint32_t> obj_of(total);
  std::vector<std::pair<uint32_t, OpId>> later;  // (op index, object id)
  std::vector<uint32_t> succ_count(total + 1, 0);  // one past the end: see below
  OpId last_obj{};  // a change's ops mostly share their object: one lookup per run
  uint32_t last_k = 0;
  for (size_t ci = 0; ci < n; ++ci) {
    if (ci + 16 < n) prefetch_change(changes[ci + 16]);
    if (ci + 8 < n) __builtin_prefetch(changes[ci + 8]->change.ops.data());
    const StoredChange* sc = changes[ci];
    const Change& c = sc->change;
    local_to_global.resize(c.actors.size());
    local_to_global[0] = s.change_author[ci];
    for (size_t i = 1; i < c.actors.size(); ++i) {
      auto it = std::lower_bound(s.actors.begin(), s.actors.end(), c.actors[i]);
      if (it == s.actors.end() || *it != c.actors[i])
        return Status::Error("op refers to an actor that authored no change");
      local_to_global[i] = static_cast<uint32_t>(it - s.actors.begin());
    }
    auto global = [&](OpId id) {
      return id.is_zero() ? OpId{} : OpId{id.counter, local_to_global[id.actor]};
    };
    if (c.start_op + c.ops.size() > (uint64_t(1) << 32) ||
        !locate.add(local_to_global[0], static_cast<uint32_t>(c.start_op),
                     static_cast<uint32_t>(all.size()), static_cast<uint32_t>(c.ops.size())))
      return Status::Error("duplicate op id");
    for (size_t i = 0; i < c.ops.size(); ++i) {
      if (i + 4 < c.ops.size()) {
        __builtin_prefetch(&c.ops[i + 4]);
        __builtin_prefetch(reinterpret_cast<const char*>(&c.ops[i + 4]) + sizeof(Op) - 1);
      }
      const Op& op = c.ops[i];
      DocOp d;
      d.id = OpId{static_cast<uint32_t>(c.start_op + i), local_to_global[0]};
      const OpId obj = global(op.obj);
      d.elem = op.map_key ? OpId{} : global(op.elem);
      d.op = &op;
      d.action = op.action;
      d.insert = op.insert;
      d.map_key = op.map_key;
      uint32_t me = static_cast<uint32_t>(all.size());
      if (op.has_mark_name) s.mark_names.emplace_back(me, c.mark_name(i));
      for (uint32_t k = 0; k < op.pred_count; ++k) {
        OpId p = global(c.preds[op.pred_begin + k]);
        int64_t at = locate.find(p);
        if (at < 0 || at >= me) return Status::Error("op's predecessor is not in the document");
        if (!lamport_less(p, d.id)) return Status::Error("op's predecessor is not older than the op");
        edges.emplace_back(static_cast<uint32_t>(at), me);
        ++succ_count[at];
      }
      const bool del = op.action == static_cast<uint8_t>(Action::kDel);
      if (del && op.pred_count == 0) return Status::Error("delete op without predecessors");
      if (ObjType made; !del && makes_object(op.action, &made)) {
        if (objects.size() >= kDeleted) return Status::Error("too many objects");
        object_index.emplace(opid_key(d.id), static_cast<uint32_t>(objects.size()));
        objects.emplace_back(d.id, made);
      }
      uint32_t k;
      if (obj.is_zero()) {
        k = 0;
      } else if (obj == last_obj) {
        k = last_k;
      } else if (const uint32_t* found = object_index.find(opid_key(obj))) {
        last_obj = obj;
        k = last_k = *found;
      } else {
        k = kLater;
        later.emplace_back(me, obj);
      }
      obj_of[me] = k == kLater ? k : k | (del ? kDeleted : 0);
      all.push_back(d);
    }
  }
  for (const auto& [i, obj] : later) {
    const uint32_t* k = object_index.find(opid_key(obj));
    if (!k) return Status::Error("op refers to an object that does not exist");
    obj_of[i] = *k | (all[i].action == static_cast<uint8_t>(Action::kDel) ? kDeleted : 0);
  }
  // A successor must sit in the slot of its predecessor, or the document could not give the
  // change back (Algorithm A recovers preds and deletes from slots).
  for (const auto& [p, x] : edges)
    if ((obj_of[p] & ~kDeleted) != (obj_of[x] & ~kDeleted) || !same_key(all[p], all[x]))
      return Status::Error("op's predecessor is at a different key");

  // Successor lists, each in Lamport order: grouped by predecessor with a counting sort
  // (linear; a comparison sort of the edges was a tenth of a save), then the rare groups of
  // several successors sorted on their own.
  {
    std::vector<uint32_t> succ_index(edges.size());
    uint32_t next = 0;
    for (uint32_t& count : succ_count) {  // counts become each group's end, then its start
      next += count;
      count = next;
    }
    for (size_t e = edges.size(); e-- > 0;) succ_index[--succ_count[edges[e].first]] = edges[e].second;
    // succ_count[i] is now where all[i]'s successors start.
    s.succ.resize(edges.size());
    s.succ_ops.resize(edges.size());
    for (uint32_t p = 0; p < all.size(); ++p) {
      const uint32_t begin = succ_count[p], end = succ_count[p + 1];
      if (end - begin > 1)
        std::sort(succ_index.begin() + begin, succ_index.begin() + end,
                  [&](uint32_t a, uint32_t b) { return lamport_less(all[a].id, all[b].id); });
    }
    for (size_t k = 0; k < succ_index.size(); ++k) {
      s.succ[k] = all[succ_index[k]].id;
      s.succ_ops[k] = all[succ_index[k]].op;
    }
  }

  // Objects in Lamport order (the root, counter 0, first).
  std::vector<uint32_t> rank(objects.size());  // index in `objects` → index once sorted
  {
    std::vector<uint32_t> by_id(objects.size());
    for (uint32_t k = 0; k < objects.size(); ++k) by_id[k] = k;
    std::sort(by_id.begin() + 1, by_id.end(), [&](uint32_t a, uint32_t b) {
      return lamport_less(objects[a].first, objects[b].first);
    });
    std::vector<std::pair<OpId, ObjType>> sorted(objects.size());
    for (uint32_t k = 0; k < objects.size(); ++k) {
      sorted[k] = objects[by_id[k]];
      rank[by_id[k]] = k;
    }
    objects.swap(sorted);
  }
  // Non-delete ops grouped by object (a counting sort: stable, linear), then ordered within.
  std::vector<uint32_t> start(objects.size() + 1, 0);
  for (uint32_t& k : obj_of)
    if (!(k & kDeleted)) ++start[(k = rank[k]) + 1];
  for (size_t k = 0; k < objects.size(); ++k) start[k + 1] += start[k];
  std::vector<uint32_t> live(start.back());
  {
    std::vector<uint32_t> fill(start.begin(), start.end() - 1);
    for (uint32_t i = 0; i < obj_of.size(); ++i)
      if (!(obj_of[i] & kDeleted)) live[fill[obj_of[i]]++] = i;
  }
  std::vector<uint32_t> group;
  std::vector<uint32_t> insert_pos(all.size(), 0);
  std::vector<uint32_t> final_order;
  final_order.reserve(live.size());
  for (size_t k = 0; k < objects.size(); ++k) {
    if (start[k] == start[k + 1]) continue;
    group.assign(live.begin() + start[k], live.begin() + start[k + 1]);
    const auto [obj, type] = objects[k];
    AM_TRY(type == ObjType::kMap ? order_map(all, group)
                                 : order_list(all, locate, insert_pos, group));
    ObjectRange r{obj, type, static_cast<uint32_t>(final_order.size()), 0};
    final_order.insert(final_order.end(), group.begin(), group.end());
    r.end = static_cast<uint32_t>(final_order.size());
    s.objects.push_back(r);
  }
  s.all = std::move(all);
  s.succ_start = std::move(succ_count);
  s.order = std::move(final_order);
  return s;
}

}  // namespace amstore
