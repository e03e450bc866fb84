#include "automerge/op_set.h"

#include <algorithm>
#include <span>
#include <tuple>

#include "automerge/flat_map.h"

namespace amstore {

namespace {

// Room for `n` elements and an eighth more: the op set's arrays grow by each save's new ops,
// and moving tens of MB (and faulting fresh pages in) for a few hundred ops would cost more
// than the rest of that save.
template <typename T>
void reserve_for(std::vector<T>& v, size_t n) {
  if (v.capacity() < n) v.reserve(n + n / 8);
}

// Per op of `all`: index (in creation order) of its object, with kDeleted set for deletes
// (they are not in the document, but their slot is checked).
constexpr uint32_t kDeleted = uint32_t(1) << 31;

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
  // Actor indexes renumbered (new actors joined the sorted list): actor a becomes to[a].
  void renumber(const std::vector<uint32_t>& to, size_t actors) {
    std::vector<std::vector<Range>> moved(actors);
    for (size_t a = 0; a < by_actor_.size(); ++a) moved[to[a]] = std::move(by_actor_[a]);
    by_actor_.swap(moved);
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

// Map order: by key, then id. idx[0, sorted) is in that order already (the object's ops
// before an add); the rest are new, and only they are checked and sorted.
Status order_map(const std::vector<DocOp>& ops, std::vector<uint32_t>& idx, size_t sorted) {
  for (size_t j = sorted; j < idx.size(); ++j)
    if (!ops[idx[j]].map_key || ops[idx[j]].insert)
      return Status::Error("op on a map object has no map key");
  auto less = [&](uint32_t a, uint32_t b) {
    std::string_view ka = ops[a].op->key, kb = ops[b].op->key;
    int c = ka.compare(kb);  // compares as unsigned bytes (char_traits<char>), like memcmp
    if (c != 0) return c < 0;
    return lamport_less(ops[a].id, ops[b].id);
  };
  std::sort(idx.begin() + sorted, idx.end(), less);
  std::inplace_merge(idx.begin(), idx.begin() + sorted, idx.end(), less);
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

// A list object's order with new ops spliced in, the old order kept: each new element goes
// after its reference element, past the elements that follow it while they are newer than
// the new one. Those are the reference element's newer children and everything inserted
// after them, which are newer still, since an element is older than the elements inserted
// after it (changes are held to that: see OpIndex). The first older element met is a
// younger sibling, or lies past the reference element's subtree: the new element goes
// before it, as in RGA's pre-order with children by descending id. New ops that target an
// element join the ops after it, by id.
// `old`: the object's ops in order; `fresh`: its new ops (any order); `node_of`: scratch,
// one entry per op; `is_insert`: a bit per op, whether it is an insert; `wanted`: scratch,
// a bit per op, all clear (and left so). Returns false, leaving `out` unspecified, where it
// cannot splice (a new element after one not older than it, a long scan, an op it cannot
// place): the object is then ordered from scratch, which also finds what is invalid.
bool splice_list(const std::vector<DocOp>& ops, const OpLocator& locate,
                 std::vector<uint32_t>& node_of, const std::vector<uint64_t>& is_insert,
                 std::vector<uint64_t>& wanted, const uint32_t* old, size_t old_n,
                 const uint32_t* fresh, size_t fresh_n, std::vector<uint32_t>& out) {
  auto bit = [](const std::vector<uint64_t>& bits, uint32_t i) {
    return (bits[i >> 6] >> (i & 63)) & 1;
  };
  if (old_n == 0 || !bit(is_insert, old[0])) return false;  // an object's order opens with an element
  std::vector<uint32_t> inserts, others;
  for (size_t j = 0; j < fresh_n; ++j) {
    const DocOp& d = ops[fresh[j]];
    if (d.map_key) return false;
    (d.insert ? inserts : others).push_back(fresh[j]);
  }
  // The old elements the new ops name, (op, its position in `old`) by op, found in one scan
  // of `old` that reads a bit per op. Nothing here is per old element: in a long text the
  // new ops are a few among them all, and the old order is copied a run at a time.
  constexpr uint32_t kNone = UINT32_MAX;
  std::vector<std::pair<uint32_t, uint32_t>> named;
  for (size_t j = 0; j < fresh_n; ++j) {
    const DocOp& d = ops[fresh[j]];
    if (d.elem.is_zero()) continue;
    const int64_t at = locate.find(d.elem);
    if (at < 0) return false;
    named.emplace_back(static_cast<uint32_t>(at), kNone);
  }
  std::sort(named.begin(), named.end());
  named.erase(std::unique(named.begin(), named.end()), named.end());
  for (const auto& [at, pos] : named) wanted[at >> 6] |= uint64_t(1) << (at & 63);
  for (size_t j = 0, left = named.size(); j < old_n && left > 0; ++j) {
    const uint32_t at = old[j];
    if (!bit(wanted, at)) continue;
    auto it = std::lower_bound(named.begin(), named.end(), std::make_pair(at, uint32_t(0)));
    if (bit(is_insert, at)) it->second = static_cast<uint32_t>(j);  // (else no element)
    --left;
  }
  for (const auto& [at, pos] : named) wanted[at >> 6] = 0;
  std::sort(inserts.begin(), inserts.end(),
            [&](uint32_t a, uint32_t b) { return lamport_less(ops[a].id, ops[b].id); });
  // Nodes: the new elements by id (0 .. k-1), the old ones by position (k + position), the
  // head. A new element hangs in a chain after an old element (or the head), its anchor:
  // `after` gives each anchor's first, `next_new` the rest; the old elements themselves
  // follow one another implicitly.
  const uint32_t k = static_cast<uint32_t>(inserts.size());
  if (size_t(k) + old_n >= kNone - 1) return false;
  const uint32_t head = k + static_cast<uint32_t>(old_n), end = kNone;
  for (uint32_t i = 0; i < k; ++i) node_of[inserts[i]] = i;
  std::vector<uint32_t> next_new(k, end), anchor(k, head);
  U64Map<uint32_t> after;         // anchor → the first new element after it
  std::vector<uint32_t> anchors;  // after's keys
  auto first_after = [&](uint32_t a) { return after.find(a); };
  size_t budget = 4 * (old_n + k) + 1024;  // scan steps before ordering from scratch
  // The old element after the one at position p (the head: p = old_n), or end.
  auto next_old = [&](uint32_t p) -> uint32_t {
    if (p == old_n) return k;
    for (uint32_t q = p + 1; q < old_n; ++q) {
      if (bit(is_insert, old[q])) return k + q;
      if (budget > 0) --budget;
    }
    return end;
  };
  auto next_of = [&](uint32_t n) -> uint32_t {
    if (n < k) return next_new[n] != end ? next_new[n] : next_old(anchor[n] - k);
    if (const uint32_t* f = first_after(n)) return *f;
    return next_old(n - k);
  };
  auto op_of = [&](uint32_t n) { return n < k ? inserts[n] : old[n - k]; };
  // The node of element `e`, or false if it is no element of this object.
  auto node_of_elem = [&](OpId e, uint32_t* node) {
    const int64_t at = locate.find(e);
    if (at < 0) return false;
    const uint32_t a = static_cast<uint32_t>(at);
    if (node_of[a] < k && inserts[node_of[a]] == a) {
      *node = node_of[a];
      return true;
    }
    auto it = std::lower_bound(named.begin(), named.end(), std::make_pair(a, uint32_t(0)));
    if (it == named.end() || it->first != a || it->second == kNone) return false;
    *node = k + it->second;
    return true;
  };
  for (uint32_t i = 0; i < k; ++i) {
    const DocOp& x = ops[inserts[i]];
    uint32_t at = head;
    if (!x.elem.is_zero()) {
      if (!node_of_elem(x.elem, &at)) return false;
      if ((at < k && at >= i) || !lamport_less(ops[op_of(at)].id, x.id)) return false;
    }
    for (uint32_t n; (n = next_of(at)) != end && lamport_less(x.id, ops[op_of(n)].id);) {
      at = n;
      if (budget == 0 || --budget == 0) return false;
    }
    if (at < k) {
      next_new[i] = next_new[at];
      next_new[at] = i;
      anchor[i] = anchor[at];
    } else if (uint32_t* f = first_after(at)) {
      next_new[i] = *f;
      *f = i;
      anchor[i] = at;
    } else {
      after.emplace(at, i);
      anchors.push_back(at);
      anchor[i] = at;
    }
  }
  // New ops on elements, grouped by element node, then by id.
  std::vector<std::pair<uint32_t, uint32_t>> targeted;  // (node, op)
  for (uint32_t o : others) {
    uint32_t n;
    if (!node_of_elem(ops[o].elem, &n)) return false;
    targeted.emplace_back(n, o);
  }
  std::sort(targeted.begin(), targeted.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : lamport_less(ops[a.second].id, ops[b.second].id);
  });
  auto targeting = [&](uint32_t node) {
    return std::lower_bound(targeted.begin(), targeted.end(), node,
                            [](const auto& p, uint32_t n) { return p.first < n; });
  };
  // A chain of new elements, each followed by its new ops.
  auto put_chain = [&](uint32_t i) {
    for (; i != end; i = next_new[i]) {
      out.push_back(inserts[i]);
      for (auto t = targeting(i); t != targeted.end() && t->first == i; ++t) out.push_back(t->second);
    }
  };
  // The old positions where something new goes: elements with new ops, and anchors of
  // chains; between them, the old order is copied as it is.
  std::vector<uint32_t> stops;
  for (const auto& [node, op] : targeted)
    if (node >= k && (stops.empty() || stops.back() != node - k)) stops.push_back(node - k);
  for (const uint32_t an : anchors)
    if (an != head) stops.push_back(an - k);
  std::sort(stops.begin(), stops.end());
  stops.erase(std::unique(stops.begin(), stops.end()), stops.end());
  out.clear();
  out.reserve(old_n + fresh_n);
  if (const uint32_t* f = first_after(head)) put_chain(*f);
  uint32_t copied = 0;  // old[0, copied) are out
  for (const uint32_t p : stops) {
    // The element at p and the old ops on it: up to the next element.
    uint32_t q = p + 1;
    while (q < old_n && !bit(is_insert, old[q])) ++q;
    auto t = targeting(k + p);
    if (t != targeted.end() && t->first == k + p) {
      out.insert(out.end(), old + copied, old + p + 1);
      const uint32_t* o = old + p + 1;
      for (; t != targeted.end() && t->first == k + p; ++t) {
        while (o != old + q && lamport_less(ops[*o].id, ops[t->second].id)) out.push_back(*o++);
        out.push_back(t->second);
      }
      out.insert(out.end(), o, old + q);
    } else {
      out.insert(out.end(), old + copied, old + q);
    }
    if (const uint32_t* f = first_after(k + p)) put_chain(*f);
    copied = q;
  }
  out.insert(out.end(), old + copied, old + old_n);
  return out.size() == old_n + fresh_n;
}

}  // namespace

std::string_view OpSet::mark_name(uint32_t i) const {
  const std::string_view* name = find_by_index(mark_names, i);
  return name ? *name : std::string_view();
}


struct OpSetBuilder::State {
  OpSet s;
  size_t covered = 0;
  OpLocator locate{0};
  // Objects in the order their make ops came (the root first); s.objects has them sorted.
  std::vector<std::pair<OpId, ObjType>> objects{{OpId{}, ObjType::kMap}};
  U64Map<uint32_t> object_index;  // object id → index in `objects`
  std::vector<uint32_t> obj_of;   // per op of s.all (see kDeleted)
  // Per index in `objects`: where its ops are in s.order (empty: none).
  std::vector<std::pair<uint32_t, uint32_t>> range_of;
  std::vector<uint32_t> insert_pos;  // order_list's scratch, one entry per op
  // A bit per op of s.all: whether it is an insert (what splice_list reads of every op of a
  // list, a few hundred kB instead of a scattered 32-byte DocOp each); and its scratch.
  std::vector<uint64_t> insert_bits, wanted_bits;
  std::vector<uint32_t> per_op;      // merge_successors' scratch, one entry per op

  Status add(const std::vector<const StoredChange*>& changes,
             const std::vector<uint32_t>* doc_order, size_t doc_order_changes,
             const ChangeAuthors* authors);
  // New actors joined the sorted list: old actor a is now to[a] (an increasing map, so the
  // ops' Lamport order, and with it every object's order, stays as it was).
  void renumber_actors(const std::vector<uint32_t>& to);
  Status merge_successors(const std::vector<std::pair<uint32_t, uint32_t>>& edges);
  Status order(uint32_t first_new);
  // Objects sorted by id (the root first): indexes into `objects`.
  std::vector<uint32_t> objects_by_id() const;
  // Takes `doc_order` as the order of the first `n` ops of s.all (a first add only);
  // false, changing nothing, if it is not one: each of those ops that is not a delete once,
  // objects one after another by id.
  bool take_order(const std::vector<uint32_t>& doc_order, size_t n);
};

OpSetBuilder::OpSetBuilder() : st_(std::make_unique<State>()) {}
OpSetBuilder::~OpSetBuilder() = default;
OpSetBuilder::OpSetBuilder(OpSetBuilder&&) noexcept = default;
OpSetBuilder& OpSetBuilder::operator=(OpSetBuilder&&) noexcept = default;
Status OpSetBuilder::add(const std::vector<const StoredChange*>& changes,
                         const std::vector<uint32_t>* doc_order, size_t doc_order_changes,
                         const ChangeAuthors* authors) {
  return st_->add(changes, doc_order, doc_order_changes, authors);
}
size_t OpSetBuilder::covered() const { return st_->covered; }
const OpSet& OpSetBuilder::op_set() const { return st_->s; }
OpSet OpSetBuilder::take() && { return std::move(st_->s); }

Result<OpSet> build_op_set(const std::vector<const StoredChange*>& changes) {
  OpSetBuilder b;
  AM_TRY(b.add(changes));
  return std::move(b).take();
}

void OpSetBuilder::State::renumber_actors(const std::vector<uint32_t>& to) {
  auto renumber = [&](OpId& id) {
    if (!id.is_zero()) id.actor = to[id.actor];
  };
  for (DocOp& d : s.all) {
    renumber(d.id);
    renumber(d.elem);
  }
  for (OpId& id : s.succ) renumber(id);
  for (size_t i = 0; i < covered; ++i) s.change_author[i] = to[s.change_author[i]];
  for (auto& [id, type] : objects) renumber(id);  // (s.objects: made again by order())
  object_index.clear();
  for (uint32_t k = 1; k < objects.size(); ++k) object_index.emplace(opid_key(objects[k].first), k);
  locate.renumber(to, s.actors.size());
}

Status OpSetBuilder::State::add(const std::vector<const StoredChange*>& changes,
                                const std::vector<uint32_t>* doc_order,
                                size_t doc_order_changes, const ChangeAuthors* authors) {
  const size_t from = covered, n = changes.size();
  if (from > n) return Status::Error("op set holds more changes than the change set");
  if (from == n && from > 0) return Status::Ok();
  size_t total = s.all.size();
  s.change_author.resize(n);
  {
    // Runs of changes by one author (one author typing: one run), as views first: a string
    // per change would allocate (actor ids are 16 bytes). Each change's author string lies
    // behind two pointers of its own: it is fetched a few changes ahead, a level at a time,
    // and read once here; the other passes use change_author.
    std::vector<std::string_view> runs;
    size_t i = from;
    if (authors && from == 0) {  // the loaded changes' authors, as given
      const size_t known = std::min(authors->of.size(), n);
      uint32_t last = UINT32_MAX;
      for (; i < known; ++i) {
        const uint32_t a = authors->of[i];
        if (a >= authors->actors.size()) return Status::Error("change author out of range");
        if (a != last) runs.push_back(authors->actors[a]);
        last = a;
        s.change_author[i] = static_cast<uint32_t>(runs.size() - 1);
      }
      total += authors->ops;
    }
    for (; i < n; ++i) {
      if (i + 48 < n) prefetch_change(changes[i + 48]);
      if (i + 32 < n) __builtin_prefetch(changes[i + 32]->change.actors.data());
      if (i + 16 < n && !changes[i + 16]->change.actors.empty())
        __builtin_prefetch(changes[i + 16]->change.actors[0].data());
      const Change& c = changes[i]->change;
      if (runs.empty() || !same_actor(runs.back(), c.author())) runs.push_back(c.author());
      s.change_author[i] = static_cast<uint32_t>(runs.size() - 1);  // a run, for now
      total += c.ops.size();
    }
    std::vector<std::string_view> authors = runs;
    std::sort(authors.begin(), authors.end());
    authors.erase(std::unique(authors.begin(), authors.end()), authors.end());
    // Actors new to the op set, merged into its sorted list.
    std::vector<std::string_view> joined;
    for (std::string_view a : authors)
      if (!std::binary_search(s.actors.begin(), s.actors.end(), a)) joined.push_back(a);
    if (!joined.empty()) {
      std::vector<std::string> all_actors;
      all_actors.reserve(s.actors.size() + joined.size());
      std::vector<uint32_t> to(s.actors.size());
      size_t j = 0;
      for (size_t a = 0; a < s.actors.size(); ++a) {
        while (j < joined.size() && joined[j] < s.actors[a]) all_actors.emplace_back(joined[j++]);
        to[a] = static_cast<uint32_t>(all_actors.size());
        all_actors.push_back(std::move(s.actors[a]));
      }
      while (j < joined.size()) all_actors.emplace_back(joined[j++]);
      s.actors.swap(all_actors);
      if (from > 0) renumber_actors(to);
      else locate = OpLocator(s.actors.size());
    }
    std::vector<uint32_t> run_author(runs.size());
    for (size_t r = 0; r < runs.size(); ++r)
      run_author[r] = static_cast<uint32_t>(
          std::lower_bound(s.actors.begin(), s.actors.end(), runs[r]) - s.actors.begin());
    for (size_t i = from; i < n; ++i) s.change_author[i] = run_author[s.change_author[i]];
  }

  // Every pass over `all` (32 bytes an op, ~50 MB for a million-op document) costs about
  // as much as the work done in it, so what can be worked out while the ops are made is,
  // and later passes read the small per-op arrays instead.
  std::vector<DocOp>& all = s.all;
  const uint32_t first_new = static_cast<uint32_t>(all.size());
  reserve_for(all, total);
  reserve_for(obj_of, total);
  obj_of.resize(total);
  insert_bits.resize(total / 64 + 1, 0);
  wanted_bits.resize(total / 64 + 1, 0);
  std::vector<std::pair<uint32_t, uint32_t>> edges;  // (pred index, succ index)
  std::vector<uint32_t> local_to_global;
  // kLater: an op on an object whose make op had not come yet (looked up again below, from
  // `later`).
  constexpr uint32_t kLater = UINT32_MAX;
  std::vector<std::pair<uint32_t, OpId>> later;  // (op index, object id)
  OpId last_obj{};  // a change's ops mostly share their object: one lookup per run
  uint32_t last_k = 0;
  size_t ordered_ops = SIZE_MAX;  // the ops of the changes doc_order covers
  for (size_t ci = from; ci < n; ++ci) {
    if (ci == doc_order_changes) ordered_ops = all.size();
    if (ci + 16 < n) prefetch_change(changes[ci + 16]);
    if (ci + 8 < n) __builtin_prefetch(changes[ci + 8]->change.ops.data());
    const StoredChange* sc = changes[ci];
    const Change& c = sc->change;
    if (all.size() + c.ops.size() > obj_of.size()) {  // more ops than `authors` counted
      obj_of.resize(all.size() + c.ops.size());
      insert_bits.resize(obj_of.size() / 64 + 1, 0);
      wanted_bits.resize(obj_of.size() / 64 + 1, 0);
    }
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
    const OpId* pred = c.preds.data();  // the op's preds: the ops before it have theirs first
    const std::span<const Op> ops(c.ops.data(), c.ops.size());  // (data() looked up once)
    for (size_t i = 0; i < ops.size(); ++i) {
      // The op 16 ahead (1 KiB): a loaded document's ops are read from memory, and 4 ahead
      // left each line's first read waiting (a first save ~3 % slower).
      if (i + 16 < ops.size()) __builtin_prefetch(&ops[i + 16]);
      const Op& op = ops[i];
      DocOp d;
      d.id = OpId{static_cast<uint32_t>(c.start_op + i), local_to_global[0]};
      const OpId obj = global(op.obj);
      d.elem = op.map_key ? OpId{} : global(op.elem);
      d.op = &op;
      d.action = op.action;
      d.insert = op.insert;
      d.map_key = op.map_key;
      uint32_t me = static_cast<uint32_t>(all.size());
      insert_bits[me >> 6] |= uint64_t(op.insert) << (me & 63);
      if (op.has_mark_name) s.mark_names.emplace_back(me, c.mark_name(i));
      for (uint32_t k = 0; k < op.pred_count; ++k) {
        OpId p = global(*pred++);
        int64_t at = locate.find(p);
        if (at < 0 || at >= me) return Status::Error("op's predecessor is not in the document");
        if (!lamport_less(p, d.id)) return Status::Error("op's predecessor is not older than the op");
        edges.emplace_back(static_cast<uint32_t>(at), me);
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
  if (ordered_ops == SIZE_MAX) ordered_ops = all.size();
  obj_of.resize(all.size());  // (fewer than `authors` counted)
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

  AM_TRY(merge_successors(edges));
  if (first_new == 0 && doc_order && take_order(*doc_order, ordered_ops)) {
    // The changes after those doc_order covers join it as a later add()'s would.
    if (ordered_ops < all.size()) AM_TRY(order(static_cast<uint32_t>(ordered_ops)));
  } else {
    AM_TRY(order(first_new));
  }
  covered = n;
  return Status::Ok();
}

// Successor lists, each in Lamport order. The lists are stored back to back (CSR), so the
// new successors shift the lists after theirs: one pass from the end moves each list to
// its new place (never before its old one) and leaves room behind it, filled from the new
// edges; the lists that gained one and hold several are sorted again (a new op can be older
// than a successor there was, when its author had not seen it). In place, in arrays with
// room to spare: no copy of the ~20 MB a large document's lists take.
Status OpSetBuilder::State::merge_successors(const std::vector<std::pair<uint32_t, uint32_t>>& edges) {
  const size_t n = s.all.size();
  if (s.succ_start.empty()) s.succ_start.push_back(0);
  const size_t old_n = s.succ_start.size() - 1;
  const uint32_t old_e = static_cast<uint32_t>(s.succ.size());
  reserve_for(s.succ_start, n + 1);
  s.succ_start.resize(n + 1, old_e);
  if (edges.empty()) return Status::Ok();
  if (old_e + edges.size() > UINT32_MAX) return Status::Error("too many successors");
  // per_op[p]: how many new successors p gains; then where the next of them goes.
  per_op.assign(n, 0);
  for (const auto& e : edges) ++per_op[e.first];
  const size_t total = old_e + edges.size();
  reserve_for(s.succ, total);
  reserve_for(s.succ_ops, total);
  s.succ.resize(total);
  s.succ_ops.resize(total);
  uint32_t shift = static_cast<uint32_t>(edges.size());
  for (size_t p = n; p-- > 0;) {
    // succ_start[p + 1] still holds p's old end: the pass writes it only now.
    const uint32_t old_begin = p < old_n ? s.succ_start[p] : old_e;
    const uint32_t old_end = p < old_n ? s.succ_start[p + 1] : old_e;
    s.succ_start[p + 1] = old_end + shift;
    shift -= per_op[p];
    if (shift > 0)
      for (uint32_t k = old_end; k-- > old_begin;) {
        s.succ[k + shift] = s.succ[k];
        s.succ_ops[k + shift] = s.succ_ops[k];
      }
    per_op[p] = old_end + shift;
  }
  s.succ_start[0] = 0;
  for (const auto& [p, x] : edges) {
    s.succ[per_op[p]] = s.all[x].id;
    s.succ_ops[per_op[p]++] = s.all[x].op;
    ++s.all[p].succ_count;
  }
  std::vector<std::pair<OpId, const Op*>> group;
  for (size_t e = 0; e < edges.size(); ++e) {
    const uint32_t p = edges[e].first;
    const uint32_t begin = s.succ_start[p], end = s.succ_start[p + 1];
    if (end - begin < 2 || (e > 0 && edges[e - 1].first == p)) continue;
    bool sorted = true;
    for (uint32_t k = begin + 1; k < end && sorted; ++k) sorted = lamport_less(s.succ[k - 1], s.succ[k]);
    if (sorted) continue;
    group.clear();
    for (uint32_t k = begin; k < end; ++k) group.emplace_back(s.succ[k], s.succ_ops[k]);
    std::sort(group.begin(), group.end(),
              [](const auto& a, const auto& b) { return lamport_less(a.first, b.first); });
    for (uint32_t k = begin; k < end; ++k) std::tie(s.succ[k], s.succ_ops[k]) = group[k - begin];
  }
  return Status::Ok();
}

// Objects in Lamport order (the root, counter 0, first), each one's non-delete ops ordered:
// objects the new ops (from first_new on) do not write to keep their order; the others are
// ordered again with them.
std::vector<uint32_t> OpSetBuilder::State::objects_by_id() const {
  std::vector<uint32_t> by_id(objects.size());
  for (uint32_t k = 0; k < objects.size(); ++k) by_id[k] = k;
  std::sort(by_id.begin() + 1, by_id.end(), [&](uint32_t a, uint32_t b) {
    return lamport_less(objects[a].first, objects[b].first);
  });
  return by_id;
}

bool OpSetBuilder::State::take_order(const std::vector<uint32_t>& doc_order, size_t n) {
  size_t live = 0;
  for (size_t i = 0; i < n; ++i) live += !(obj_of[i] & kDeleted);
  if (doc_order.size() != live) return false;
  const std::vector<uint32_t> by_id = objects_by_id();
  std::vector<bool> seen(n, false);
  std::vector<std::pair<uint32_t, uint32_t>> ranges_of(objects.size(), {0, 0});
  std::vector<ObjectRange> ranges;
  size_t next = 0;  // in by_id: objects come in that order, each at most once
  for (size_t b = 0; b < live;) {
    if (doc_order[b] >= n) return false;
    const uint32_t k = obj_of[doc_order[b]];  // (with kDeleted set, no object matches)
    while (next < by_id.size() && by_id[next] != k) ++next;
    if (next == by_id.size()) return false;
    ++next;
    size_t e = b;
    for (; e < live && doc_order[e] < n && obj_of[doc_order[e]] == k; ++e) {
      if (seen[doc_order[e]]) return false;
      seen[doc_order[e]] = true;
    }
    ranges_of[k] = {static_cast<uint32_t>(b), static_cast<uint32_t>(e)};
    ranges.push_back(ObjectRange{objects[k].first, objects[k].second, static_cast<uint32_t>(b),
                                 static_cast<uint32_t>(e)});
    b = e;
  }
  s.order = doc_order;
  s.objects.swap(ranges);
  range_of.swap(ranges_of);
  return true;
}

Status OpSetBuilder::State::order(uint32_t first_new) {
  const std::vector<DocOp>& all = s.all;
  const std::vector<uint32_t> by_id = objects_by_id();
  // New non-delete ops grouped by object (a counting sort: stable, linear).
  std::vector<uint32_t> start(objects.size() + 1, 0);
  for (uint32_t i = first_new; i < all.size(); ++i)
    if (!(obj_of[i] & kDeleted)) ++start[obj_of[i] + 1];
  for (size_t k = 0; k < objects.size(); ++k) start[k + 1] += start[k];
  std::vector<uint32_t> fresh(start.back());
  {
    std::vector<uint32_t> fill(start.begin(), start.end() - 1);
    for (uint32_t i = first_new; i < all.size(); ++i)
      if (!(obj_of[i] & kDeleted)) fresh[fill[obj_of[i]]++] = i;
  }
  range_of.resize(objects.size(), {0, 0});
  reserve_for(insert_pos, all.size());
  insert_pos.resize(all.size(), 0);
  std::vector<uint32_t> new_order;
  new_order.reserve(s.order.size() + fresh.size());
  std::vector<ObjectRange> ranges;
  ranges.reserve(objects.size());
  std::vector<uint32_t> group;
  for (uint32_t k : by_id) {
    const auto [old_begin, old_end] = range_of[k];
    const uint32_t begin = static_cast<uint32_t>(new_order.size());
    if (start[k] == start[k + 1]) {
      if (old_begin == old_end) continue;
      new_order.insert(new_order.end(), s.order.begin() + old_begin, s.order.begin() + old_end);
    } else {
      const bool list = objects[k].second != ObjType::kMap;
      if (!list || old_begin == old_end ||
          !splice_list(all, locate, insert_pos, insert_bits, wanted_bits,
                       s.order.data() + old_begin, old_end - old_begin,
                       fresh.data() + start[k], start[k + 1] - start[k], group)) {
        group.assign(s.order.begin() + old_begin, s.order.begin() + old_end);
        group.insert(group.end(), fresh.begin() + start[k], fresh.begin() + start[k + 1]);
        AM_TRY(list ? order_list(all, locate, insert_pos, group)
                    : order_map(all, group, old_end - old_begin));
      }
      new_order.insert(new_order.end(), group.begin(), group.end());
    }
    const uint32_t end = static_cast<uint32_t>(new_order.size());
    range_of[k] = {begin, end};
    ranges.push_back(ObjectRange{objects[k].first, objects[k].second, begin, end});
  }
  s.order.swap(new_order);
  s.objects.swap(ranges);
  return Status::Ok();
}

}  // namespace amstore
