#include "automerge/document.h"

#include <algorithm>
#include <bit>
#include <deque>
#include <mutex>
#include <tuple>

#include "automerge/chunk.h"
#include "automerge/columns.h"
#include "automerge/deflate.h"
#include "automerge/doc_chunk.h"
#include "automerge/json_view.h"
#include "automerge/keyed_hash.h"
#include "automerge/op_set.h"

namespace amstore {

namespace {

// What a lean document's applied changes keep decoded: seq, startOp and time, beside their
// hash and chunk. The rest is in the chunk: its ops (~100 bytes each decoded), and its deps
// and actors (~130 bytes a change, on the heap: a third of a typed text's memory).
void drop_decoded(Change& c) {
  c.ops.release();
  std::vector<OpId>().swap(c.preds);
  c.rare.reset();
  c.deps.release();
  c.actors.release();
}

// A stored change decoded again from its chunk, for saving or rendering (lean documents
// and change sets keep chunks, not ops).
Status decode_again(ByteView chunk, const ChangeHash& hash, StoredChange* out) {
  auto ch = decode_stored_change(chunk);
  if (!ch.ok()) return Status::Error("stored change does not decode: " + ch.status().message());
  out->change = std::move(ch).value();
  out->hash = hash;
  return Status::Ok();
}

}  // namespace

struct Document::OpSetCache {
  std::mutex mu;
  // Null until the first save or JSON view, and after a failed one.
  std::unique_ptr<OpSetBuilder> builder;
  // The last change it holds: a check that the changes it holds are still changes_' first.
  const StoredChange* last = nullptr;
  ChangeColumns columns;  // of the last save
  // The document order of the ops of changes_' first `ordered` changes (the last of them
  // `ordered_last`), as a whole document loaded them (decode_document's doc_order): the
  // first builder takes it instead of ordering them, and frees it.
  std::vector<uint32_t> doc_order;
  size_t ordered = 0;
  const StoredChange* ordered_last = nullptr;
  ChangeAuthors authors;  // of the same changes, as the load's checks found them
  // Their change columns as loaded (see ChangeColumns::take_loaded; empty if not taken):
  // the first builder's `columns` start from them.
  ChangeColumns loaded_columns;
  // Frees what the load left for the first builder (taken, or of no more use).
  void drop_loaded() {
    std::vector<uint32_t>().swap(doc_order);
    authors = ChangeAuthors();
    loaded_columns = ChangeColumns();
  }
};

Document::Document() : op_set_cache_(std::make_unique<OpSetCache>()) {}
Document::~Document() = default;
Document::Document(Document&&) noexcept = default;
Document& Document::operator=(Document&&) noexcept = default;

Result<Document> Document::load(ByteView bytes, bool lean) {
  Document d;
  d.set_lean(lean);
  AM_ASSIGN(PreparedUpload upload, prepare(bytes));
  // No stats to return: not listing what was added spares copying every change's hash.
  auto r = d.merge_upload(std::move(upload), false);
  if (!r.ok()) return r.status();
  return d;
}

Result<MergeStats> Document::merge(ByteView bytes) {
  AM_ASSIGN(PreparedUpload upload, prepare(bytes));
  return merge(std::move(upload));
}

namespace {

std::string chunk_prefix(size_t i, size_t n) {
  return n > 1 ? "chunk " + std::to_string(i) + ": " : "";
}

}  // namespace

Result<PreparedUpload> Document::prepare(ByteView bytes, uint64_t max_ops) {
  std::vector<Chunk> chunks;
  PreparedUpload up;
  up.inflate_left_ = inflate_budget_for(bytes.size());
  AM_TRY(read_chunks(bytes, &chunks, &up.inflate_left_));
  // The size bound is for the upload as a whole: each chunk is held to one of its own
  // (max_rows_for its body), but a thousand small chunks could each describe a million ops.
  up.max_ops_ = std::min<uint64_t>(max_ops, max_rows_for(bytes.size()));
  up.items_.resize(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    PreparedUpload::Item& item = up.items_[i];
    item.type = c.type;
    if (c.type == ChunkType::kDocument) {
      Status s = parse_document_header(c.body, &item.doc);
      if (!s.ok())
        return Status::Error(chunk_prefix(i, chunks.size()) + "invalid document: " + s.message());
    } else {
      auto ch = decode_change(c.body);
      if (!ch.ok())
        return Status::Error(chunk_prefix(i, chunks.size()) + "invalid change: " +
                             ch.status().message());
      StoredChange& sc = item.change;
      sc.hash = c.hash;
      // (A compressed change is kept uncompressed, as read_chunk wrote and hashed it.)
      const ByteView stored = c.type == ChunkType::kChange ? c.bytes : ByteView(c.uncompressed);
      sc.chunk.assign(stored.begin(), stored.end());
      sc.change = std::move(ch).value();
      AM_TRY(up.count_ops(sc.change.ops.size()));
    }
  }
  return up;
}

Status PreparedUpload::count_ops(uint64_t ops) {
  ops_ += ops;
  if (ops_ > max_ops_)
    return Status::Error("upload has more than " + std::to_string(max_ops_) + " ops");
  return Status::Ok();
}

Status PreparedUpload::read_columns(size_t i) {
  Item& item = items_[i];
  const size_t n = items_.size();
  Status s = parse_document_columns(&item.doc, &inflate_left_);
  if (!s.ok()) return Status::Error(chunk_prefix(i, n) + "invalid document: " + s.message());
  if (!item.counted) {
    item.counted = true;
    AM_TRY(count_ops(item.doc.op_rows()));
  }
  return Status::Ok();
}

namespace {

// A document chunk whose heads are all applied in `doc` brings nothing new. (Not one without
// heads: it must be read to be known to be really empty.)
bool heads_applied(const ParsedDocument& parsed, const Document& doc) {
  const std::vector<ChangeHash>& heads = parsed.heads();
  return !heads.empty() && std::all_of(heads.begin(), heads.end(),
                                       [&](const ChangeHash& h) { return doc.has_applied(h); });
}

}  // namespace

void PreparedUpload::skip_held(const Document& doc) {
  for (Item& item : items_)
    if (item.type == ChunkType::kDocument && heads_applied(item.doc, doc)) item.held = true;
}

Status PreparedUpload::decode_against(std::shared_ptr<const KnownChanges> known) {
  const bool against = known && !known->by_actor.empty();
  KnownChange lookup = [k = known.get()](std::string_view actor, uint64_t seq) {
    return k->find(actor, seq);
  };
  const size_t n = items_.size();
  for (size_t i = 0; i < n; ++i) {
    Item& item = items_[i];
    if (item.type != ChunkType::kDocument || item.held) continue;
    AM_TRY(read_columns(i));
    Status s = against ? decode_document(item.doc, &item.changes, lookup) : Status::Ok();
    if (!s.ok()) return Status::Error(chunk_prefix(i, n) + "invalid document: " + s.message());
    item.decoded = against;
  }
  if (against) known_ = std::move(known);
  return Status::Ok();
}

namespace {
constexpr size_t kFirstBlock = 16;
// Block of hash i and its offset there (block b starts at kFirstBlock × (2^b − 1)).
std::pair<size_t, size_t> block_of(size_t i) {
  const size_t b = std::bit_width(i / kFirstBlock + 1) - 1;
  return {b, i - kFirstBlock * ((size_t(1) << b) - 1)};
}
}  // namespace

const ChangeHash& KnownChanges::Hashes::operator[](size_t i) const {
  auto [b, off] = block_of(i);
  return blocks[b][off];
}

void KnownChanges::Hashes::append(const ChangeHash* h, size_t n) {
  while (n > 0) {
    auto [b, off] = block_of(count);
    if (b == blocks.size())  // (not zeroed: only the first `count` are read)
      blocks.push_back(std::make_shared_for_overwrite<ChangeHash[]>(kFirstBlock << b));
    const size_t take = std::min(n, (kFirstBlock << b) - off);
    std::memcpy(blocks[b].get() + off, h, take * sizeof(ChangeHash));
    h += take;
    n -= take;
    count += take;
  }
}

std::shared_ptr<const KnownChanges> Document::known_changes() const {
  return std::make_shared<const KnownChanges>(known_);
}

Result<MergeStats> Document::merge(PreparedUpload&& upload) {
  return merge_upload(std::move(upload), true);
}

Result<MergeStats> Document::merge_upload(PreparedUpload&& upload, bool list_added) {
  // Changes decoded against a snapshot are trusted if this document still holds every
  // actor's last change of it: a document is closed under dependencies, and each change
  // depends on its author's previous one, so it then holds all of the snapshot.
  bool snapshot_held = upload.known_ != nullptr;
  if (snapshot_held)
    for (const auto& [actor, hashes] : upload.known_->by_actor)
      if (hashes.count > 0 && !has_applied(hashes[hashes.count - 1])) snapshot_held = false;
  std::vector<std::unique_ptr<StoredChange>> incoming;
  const size_t n = upload.items_.size();
  // One document chunk into an empty document: its changes are distinct, in causal order
  // and closed under dependencies (deps are indexes of earlier rows).
  if (n == 1 && upload.items_[0].type == ChunkType::kDocument && !upload.items_[0].decoded &&
      changes_.empty() && pending_.empty())
    return load_whole(upload, 0, list_added);
  ChangeHashMap<bool> seen;  // across chunks, which may repeat changes
  auto take = [&](std::unique_ptr<StoredChange>&& sc) {
    if (has_change(sc->hash) || !seen.emplace(sc->hash, true).second) return;
    incoming.push_back(std::move(sc));
  };
  for (size_t i = 0; i < n; ++i) {
    PreparedUpload::Item& item = upload.items_[i];
    if (item.type != ChunkType::kDocument) {
      take(std::make_unique<StoredChange>(std::move(item.change)));
      continue;
    }
    if (heads_applied(item.doc, *this)) continue;  // nothing new: not read further
    if (item.decoded && snapshot_held) {
      for (auto& sc : item.changes) take(std::move(sc));
      continue;
    }
    std::vector<std::unique_ptr<StoredChange>> changes;
    // Changes already here (by actor and seq) are not regenerated; heads still verify them.
    KnownChange known = [this](std::string_view actor, uint64_t seq) {
      return known_.find(actor, seq);
    };
    AM_TRY(upload.read_columns(i));
    Status s = decode_document(item.doc, &changes, changes_.empty() ? KnownChange() : known);
    if (!s.ok()) return Status::Error(chunk_prefix(i, n) + "invalid document: " + s.message());
    for (auto& sc : changes) take(std::move(sc));
  }
  return integrate(std::move(incoming));
}

const StoredChange* Document::find(const ChangeHash& h) const {
  if (const uint32_t i = position_of(h); i != ChangeIndex::kNone) return changes_[i].get();
  const uint32_t* j = pending_index_.find(h);
  return j ? pending_[*j].get() : nullptr;
}

Result<MergeStats> Document::merge(const Document& other) {
  std::vector<std::unique_ptr<StoredChange>> incoming;
  for (const auto* list : {&other.changes_, &other.pending_})
    for (const auto& sc : *list)
      if (!has_change(sc->hash)) {
        incoming.push_back(std::make_unique<StoredChange>(*sc));
        if (other.lean_ && list == &other.changes_) {  // its ops were dropped: decode them
          auto ch = decode_stored_change(sc->chunk);
          if (!ch.ok()) return ch.status();
          incoming.back()->change = std::move(ch).value();
        }
      }
  return integrate(std::move(incoming));
}

class Document::Checker {
 public:
  explicit Checker(Document& doc) : doc_(doc) {}
  // The seq of `actor`'s last change, applied or checked.
  uint64_t seq_of(std::string_view actor) { return state_of(actor)->second.first; }
  // `deps_max_op`: the highest maxOp of the change's deps, to check its startOp against
  // (check_start_op).
  Status check(const StoredChange& sc, uint64_t deps_max_op) {
    const Change& c = sc.change;
    if (!last_author_ || !same_actor(*last_author_, c.author())) {
      auto it = state_of(c.author());
      last_author_ = &it->first;
      state_ = &it->second;
    }
    if (c.seq != state_->first + 1)
      return Status::Error("change " + to_hex(sc.hash) + " has seq " + std::to_string(c.seq) +
                           " but actor " + to_hex(as_bytes(c.author())) + " is at seq " +
                           std::to_string(state_->first));
    if (c.start_op <= state_->second)
      return Status::Error("change " + to_hex(sc.hash) +
                           " reuses op counters of an earlier change by the same actor");
    if (Status s = check_start_op(c.start_op, c.ops.size(), deps_max_op, state_->second);
        !s.ok())
      return Status::Error("change " + to_hex(sc.hash) + ": " + s.message());
    Status valid = doc_.ops_.stage(c);
    if (!valid.ok()) return Status::Error("change " + to_hex(sc.hash) + ": " + valid.message());
    *state_ = {c.seq, c.max_op()};
    return Status::Ok();
  }

 private:
  Document& doc_;
  // Per actor, its seq and max op as they would be after applying what was checked.
  std::unordered_map<std::string, std::pair<uint64_t, uint64_t>, KnownChanges::ActorHash,
                     std::equal_to<>>
      actor_state_;
  const std::string* last_author_ = nullptr;  // consecutive changes are often one author's
  std::pair<uint64_t, uint64_t>* state_ = nullptr;

  // `actor`'s entry in actor_state_, made from the document's on first sight. (Entries stay
  // where they are when the table grows: last_author_ and state_ point into them.)
  auto state_of(std::string_view actor) -> decltype(actor_state_)::iterator {
    auto [it, fresh] = try_emplace_view(actor_state_, actor);
    if (fresh) {
      auto k = doc_.known_.by_actor.find(actor);
      if (k != doc_.known_.by_actor.end()) it->second = {k->second.count, doc_.max_op_[k->first]};
    }
    return it;
  }
};

Result<MergeStats> Document::load_whole(PreparedUpload& upload, size_t i, bool list_added) {
  const size_t n = upload.items_.size();
  AM_TRY(upload.read_columns(i));
  // Room for every change and every op the document holds: its op rows and its deletes,
  // which are not rows (each is one of the rows' successors). Reserving the rows alone, the
  // index outgrew its arrays at the last few changes and doubled them: a copy, fresh pages,
  // and twice the memory kept for as long as the document is. (Likewise the batch's
  // records: 56 bytes a change, copied at each doubling.)
  const ParsedDocument& parsed = upload.items_[i].doc;
  ops_.reserve(parsed.change_rows(), parsed.op_rows() + parsed.succ_rows());
  Staged staged;
  staged.list_added = list_added;
  staged.changes.reserve(parsed.change_rows());
  std::unordered_map<std::string, uint32_t, KnownChanges::ActorHash, std::equal_to<>> author_at;
  uint32_t author = 0;
  // The document is empty, and decode_document checks each change's seq and op counters
  // against its author's change before (as a Checker would): only its ops are left.
  ChangeSink check = [&](const StoredChange& sc) -> Status {
    if (Status valid = ops_.stage(sc.change); !valid.ok())
      return Status::Error("change " + to_hex(sc.hash) + ": " + valid.message());
    const std::string_view a = sc.change.author();
    // (Mostly one author's.)
    if (staged.authors.empty() || !same_actor(staged.authors[author], a)) {
      auto [it, fresh] =
          try_emplace_view(author_at, a, static_cast<uint32_t>(staged.authors.size()));
      if (fresh) staged.authors.emplace_back(a);
      author = it->second;
    }
    // Field by field, in place: a record built on the stack was copied with loads wider
    // than its stores (a store-forwarding stall per change).
    Staged::Change& r = staged.changes.emplace_back();
    r.max_op = sc.change.max_op();
    r.ops = static_cast<uint32_t>(sc.change.ops.size());
    r.author = author;
    return Status::Ok();
  };
  std::vector<std::unique_ptr<StoredChange>> changes;
  std::vector<uint32_t> doc_order;  // (see OpSetCache)
  ChangeColumns change_columns;
  Status s = decode_document(parsed, &changes, KnownChange(), check,
                             lean_ ? nullptr : &doc_order, lean_, &change_columns,
                             &staged.hashes);
  if (!s.ok()) {
    ops_.rollback();
    return Status::Error(chunk_prefix(i, n) + "invalid document: " + s.message());
  }
  staged.heads = parsed.heads();  // decode_document checked that the changes end there
  AM_ASSIGN(MergeStats stats, integrate(std::move(changes), &staged));
  if (!doc_order.empty() && op_set_cache_ && !changes_.empty()) {
    OpSetCache& cache = *op_set_cache_;
    cache.doc_order = std::move(doc_order);
    cache.loaded_columns = std::move(change_columns);
    cache.ordered = changes_.size();
    cache.ordered_last = changes_.back().get();
    cache.authors.actors = std::move(staged.authors);
    cache.authors.of.resize(staged.changes.size());
    for (size_t c = 0; c < staged.changes.size(); ++c) cache.authors.of[c] = staged.changes[c].author;
    cache.authors.ops = op_count_;  // (the document was empty)
  }
  return stats;
}

Result<MergeStats> Document::integrate(std::vector<std::unique_ptr<StoredChange>> incoming,
                                       const Staged* staged) {
  MergeStats stats;
  stats.new_changes = incoming.size();
  if (!staged || staged->list_added) {
    stats.added.reserve(incoming.size());
    for (size_t i = 0; i < incoming.size(); ++i)
      stats.added.push_back(staged ? staged->hashes[i] : incoming[i]->hash);
  }
  if (incoming.empty()) {
    stats.pending = pending_.size();
    return stats;
  }
  // The entries of the author of the change applied last: consecutive changes are often one
  // author's.
  const std::string* author = nullptr;
  KnownChanges::Hashes* mine = nullptr;
  uint64_t* mine_max_op = nullptr;
  // Notes n applied changes of one author, in seq order: their hashes, and the max op of
  // the last.
  auto note_applied = [&](std::string_view by, const ChangeHash* hashes, size_t n,
                          uint64_t max_op) {
    if (!author || !same_actor(*author, by)) {
      auto it = try_emplace_view(known_.by_actor, by).first;
      author = &it->first;  // not the change's own: a lean document drops it
      mine = &it->second;
      mine_max_op = &max_op_[*author];
    }
    mine->append(hashes, n);
    *mine_max_op = max_op;
  };
  auto hash_at = [this](uint32_t i) -> const ChangeHash& { return changes_[i]->hash; };
  if (staged) {
    // A whole document into an empty one (load_whole): its changes are distinct, in causal
    // order, and were checked (their ops staged) as they were made, so all of them apply,
    // in the order given; none waits.
    if (!changes_.empty() || !pending_.empty()) {
      ops_.rollback();
      return Status::Error("a checked batch goes into an empty document only");
    }
    ops_.commit();
    changes_ = std::move(incoming);
    max_op_at_.reserve(staged->changes.size());
    // A run of one author's changes at a time (a typed text is one run): their hashes
    // appended to its list at once.
    const std::vector<Staged::Change>& sc = staged->changes;
    for (size_t k = 0; k < sc.size();) {
      size_t end = k + 1;
      while (end < sc.size() && sc[end].author == sc[k].author) ++end;
      note_applied(staged->authors[sc[k].author], &staged->hashes[k], end - k,
                   sc[end - 1].max_op);
      for (; k < end; ++k) {
        op_count_ += sc[k].ops;
        max_op_at_.push_back(sc[k].max_op);
      }
    }
    heads_ = staged->heads;
    index_.insert_all(
        0, static_cast<uint32_t>(changes_.size()),
        [staged](uint32_t k) -> const ChangeHash& { return staged->hashes[k]; }, hash_at);
    stats.applied = changes_.size();
    return stats;
  }
  size_t incoming_ops = 0;  // the index's arrays grow once, not by doubling (a copy each time)
  for (const auto& c : incoming) incoming_ops += c->change.ops.size();
  ops_.reserve(incoming.size(), incoming_ops);
  // Candidates: changes waiting from earlier merges, then the new ones, in arrival order.
  std::vector<StoredChange*> pool;
  for (auto& p : pending_) pool.push_back(p.get());
  for (auto& p : incoming) pool.push_back(p.get());
  Checker checker(*this);
  std::vector<size_t> order;
  std::vector<bool> dropped(pool.size(), false);
  // Any refusal takes back what the batch staged: else the next merge would commit the ops
  // of changes that were never applied.
  // The highest max op of each pool change's deps that are here (all of them, once it is
  // ready to apply): its startOp must follow on (check_start_op).
  std::vector<uint64_t> deps_max_op(pool.size(), 0);
  auto check = [&](size_t i) { return checker.check(*pool[i], deps_max_op[i]); };
  auto apply = [&](size_t i) -> Status {
    Status s = check(i);
    if (!s.ok()) {
      ops_.rollback();
      return s;
    }
    order.push_back(i);
    return Status::Ok();
  };
  {
    // Who waits for whom inside the pool, as flat arrays (a merge may bring 10^5 changes,
    // each waiting for its predecessors): waiters of pool[j] are waiter[first[j] .. first[j+1]).
    ChangeHashMap<uint32_t> in_pool;
    in_pool.reserve(pool.size());
    for (size_t i = 0; i < pool.size(); ++i)
      in_pool.emplace(pool[i]->hash, static_cast<uint32_t>(i));
    std::vector<uint32_t> missing(pool.size(), 0);
    std::vector<uint32_t> first(pool.size() + 1, 0);
    for (size_t i = 0; i < pool.size(); ++i) {
      for (const ChangeHash& d : pool[i]->change.deps) {
        uint64_t dep_max_op;
        if (const uint32_t p = position_of(d); p != ChangeIndex::kNone) {
          dep_max_op = max_op_at_[p];
        } else {
          ++missing[i];  // a dep in neither: waits until a later merge brings it
          const uint32_t* j = in_pool.find(d);
          if (!j) continue;
          ++first[*j + 1];
          dep_max_op = pool[*j]->change.max_op();
        }
        deps_max_op[i] = std::max(deps_max_op[i], dep_max_op);
      }
    }
    for (size_t j = 0; j < pool.size(); ++j) first[j + 1] += first[j];
    std::vector<uint32_t> waiter(first.back());
    {
      std::vector<uint32_t> fill(first.begin(), first.end() - 1);
      for (size_t i = 0; i < pool.size(); ++i)
        for (const ChangeHash& d : pool[i]->change.deps)
          if (!has_applied(d))
            if (const uint32_t* j = in_pool.find(d)) waiter[fill[*j]++] = static_cast<uint32_t>(i);
    }
    std::deque<size_t> ready;
    for (size_t i = 0; i < pool.size(); ++i)
      if (missing[i] == 0) ready.push_back(i);
    const size_t from_before = pending_.size();  // pool[0, from_before): earlier merges'
    while (!ready.empty()) {
      size_t i = ready.front();
      ready.pop_front();
      if (i < from_before) {
        // An earlier upload's change, waiting until now: if it is invalid now that its deps
        // are here, it can never apply. It is dropped (nothing of it was staged), and does
        // not veto this upload: else anyone knowing the hash of a change not yet applied
        // could block it for good with an invalid change depending on it. (Its waiters
        // stay pending.)
        if (!check(i).ok()) {
          dropped[i] = true;
          continue;
        }
        order.push_back(i);
      } else {
        AM_TRY(apply(i));
      }
      for (uint32_t k = first[i]; k < first[i + 1]; ++k)
        if (--missing[waiter[k]] == 0) ready.push_back(waiter[k]);
    }
  }

  // The library refuses a file holding two changes of one actor with one seq ("duplicate
  // seq"). So a change left waiting whose seq its author has used already, which can never
  // apply, is dropped if an earlier upload brought it, and refuses this upload if this one
  // did; and so does one whose seq another waiting change has (one of them this upload's).
  {
    std::vector<bool> in_order(pool.size(), false);
    for (size_t i : order) in_order[i] = true;
    std::vector<std::tuple<std::string_view, uint64_t, size_t>> waiting;  // author, seq, i
    auto refuse = [&](size_t i, const char* by) -> Status {
      ops_.rollback();
      const Change& c = pool[i]->change;
      return Status::Error("change " + to_hex(pool[i]->hash) + " has seq " +
                           std::to_string(c.seq) + ", which actor " +
                           to_hex(as_bytes(c.author())) + " has used already" + by);
    };
    for (size_t i = 0; i < pool.size(); ++i) {
      if (in_order[i] || dropped[i]) continue;
      const Change& c = pool[i]->change;
      if (checker.seq_of(c.author()) < c.seq) {
        waiting.emplace_back(c.author(), c.seq, i);
      } else if (i < pending_.size()) {
        dropped[i] = true;
      } else {
        return refuse(i, "");
      }
    }
    std::sort(waiting.begin(), waiting.end());
    for (size_t k = 1; k < waiting.size(); ++k) {
      const auto& [author, seq, i] = waiting[k];
      const auto& [author_before, seq_before, i_before] = waiting[k - 1];
      if (author == author_before && seq == seq_before)
        return refuse(std::max(i, i_before), " in another change waiting for its deps");
    }
  }

  // Commit: nothing below can fail.
  ops_.commit();
  std::vector<std::unique_ptr<StoredChange>> owned;
  owned.reserve(pool.size());
  for (auto& p : pending_) owned.push_back(std::move(p));
  for (auto& p : incoming) owned.push_back(std::move(p));
  std::vector<bool> applied(pool.size(), false);
  changes_.reserve(changes_.size() + order.size());
  max_op_at_.reserve(changes_.size() + order.size());
  const size_t first_new = changes_.size();
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    applied[i] = true;
    std::unique_ptr<StoredChange> sc = std::move(owned[i]);
    for (const ChangeHash& d : sc->change.deps) {
      auto h = std::lower_bound(heads_.begin(), heads_.end(), d, hash_less);
      if (h != heads_.end() && hash_equal(*h, d)) heads_.erase(h);
    }
    heads_.insert(std::lower_bound(heads_.begin(), heads_.end(), sc->hash, hash_less),
                  sc->hash);
    note_applied(sc->change.author(), &sc->hash, 1, sc->change.max_op());
    op_count_ += sc->change.ops.size();
    max_op_at_.push_back(sc->change.max_op());
    if (lean_) drop_decoded(sc->change);
    changes_.push_back(std::move(sc));
  }
  index_.insert_all(static_cast<uint32_t>(first_new), static_cast<uint32_t>(changes_.size()),
                    hash_at, hash_at);
  pending_.clear();
  pending_index_.clear();
  for (size_t i = 0; i < owned.size(); ++i) {
    if (applied[i]) continue;
    if (dropped[i]) {
      ++stats.dropped;
      continue;
    }
    pending_index_.emplace(owned[i]->hash, static_cast<uint32_t>(pending_.size()));
    pending_.push_back(std::move(owned[i]));
  }
  stats.applied = order.size();
  stats.pending = pending_.size();
  return stats;
}

void Document::set_lean(bool lean) {
  if (!lean) {
    if (lean_) {
      // The applied changes' ops, decoded again. Their chunks were made from validated
      // changes, so this does not fail; if one did, the document would stay lean.
      std::vector<StoredChange> decoded;
      std::vector<const StoredChange*> list;
      if (!decoded_changes(&decoded, &list).ok()) return;
      for (size_t i = 0; i < changes_.size(); ++i)
        changes_[i]->change = std::move(decoded[i].change);
    }
    lean_ = false;
    return;
  }
  lean_ = true;
  for (auto& c : changes_) drop_decoded(c->change);
  if (op_set_cache_) {  // it points into the dropped ops
    op_set_cache_->builder.reset();
    op_set_cache_->drop_loaded();
  }
}

template <typename R, typename F>
Result<R> Document::with_op_set(F&& use) const {
  std::vector<StoredChange> scratch;
  std::vector<const StoredChange*> list;
  AM_TRY(decoded_changes(&scratch, &list));
  if (lean_ || !op_set_cache_) {  // (no cache: moved from)
    AM_ASSIGN(OpSet s, build_op_set(list));
    return use(s, list, nullptr);
  }
  OpSetCache& cache = *op_set_cache_;
  std::lock_guard<std::mutex> guard(cache.mu);
  // changes_ only ever grows at its end; should the cache not be a prefix of it, start over.
  if (cache.builder && (cache.builder->covered() > list.size() ||
                        (cache.builder->covered() > 0 &&
                         list[cache.builder->covered() - 1] != cache.last)))
    cache.builder.reset();
  if (!cache.builder) {
    cache.builder = std::make_unique<OpSetBuilder>();
    cache.columns = ChangeColumns();
    if (!cache.doc_order.empty() && cache.ordered <= list.size() &&
        list[cache.ordered - 1] == cache.ordered_last) {
      cache.columns = std::move(cache.loaded_columns);  // (the rows of list[0, ordered))
      if (Status st = cache.builder->add(list, &cache.doc_order, cache.ordered, &cache.authors);
          !st.ok()) {
        cache.builder.reset();
        return st;
      }
    }
  }
  cache.drop_loaded();
  if (Status st = cache.builder->add(list); !st.ok()) {
    cache.builder.reset();
    return st;
  }
  cache.last = list.empty() ? nullptr : list.back();
  return use(cache.builder->op_set(), list, &cache.columns);
}

Status Document::decoded_changes(std::vector<StoredChange>* scratch,
                                 std::vector<const StoredChange*>* list) const {
  list->reserve(changes_.size());
  if (!lean_) {
    for (const auto& c : changes_) list->push_back(c.get());
    return Status::Ok();
  }
  scratch->resize(changes_.size());
  for (size_t i = 0; i < changes_.size(); ++i) {
    AM_TRY(decode_again(changes_[i]->chunk, changes_[i]->hash, &(*scratch)[i]));
    list->push_back(&(*scratch)[i]);
  }
  return Status::Ok();
}

Result<Bytes> Document::save(bool compress) const {
  return with_op_set<Bytes>([&](const OpSet& s, const std::vector<const StoredChange*>& list,
                                ChangeColumns* kept) -> Result<Bytes> {
    // `list` is changes_ in order, so index_ gives each change's position in it.
    AM_ASSIGN(Bytes out, encode_document(s, list, compress, &index_, kept));
    for (const auto& p : pending_) put_bytes(out, p->chunk);
    return out;
  });
}

Bytes Document::changes_since(const std::vector<ChangeHash>& have) const {
  std::vector<bool> known(changes_.size(), false);
  std::vector<size_t> stack;
  for (const ChangeHash& h : have) {
    const uint32_t i = position_of(h);
    if (i != ChangeIndex::kNone && !known[i]) {
      known[i] = true;
      stack.push_back(i);
    }
  }
  SmallVector<ChangeHash> chunk_deps;
  while (!stack.empty()) {
    size_t i = stack.back();
    stack.pop_back();
    // A lean document's changes hold their deps only in their chunks.
    const SmallVector<ChangeHash>* deps = &changes_[i]->change.deps;
    if (lean_) {
      if (!stored_change_deps(changes_[i]->chunk, &chunk_deps).ok()) continue;  // (never: checked when stored)
      deps = &chunk_deps;
    }
    for (const ChangeHash& d : *deps) {
      // Usually the change just before: no table lookup.
      size_t j = i > 0 && hash_equal(changes_[i - 1]->hash, d) ? i - 1 : position_of(d);
      if (!known[j]) {
        known[j] = true;
        stack.push_back(j);
      }
    }
  }
  Bytes out;
  for (size_t i = 0; i < changes_.size(); ++i)
    if (!known[i]) put_bytes(out, changes_[i]->chunk);
  return out;
}

ChangeSet Document::change_set() const {
  ChangeSet set;
  size_t total = 0;
  for (const auto& c : changes_) total += c->chunk.size();
  set.chunks_.reserve(total);
  set.ends_.reserve(changes_.size());
  set.hashes_.reserve(changes_.size());
  for (const auto& c : changes_) {
    put_bytes(set.chunks_, c->chunk);
    set.ends_.push_back(set.chunks_.size());
    set.hashes_.push_back(c->hash);
  }
  for (const auto& p : pending_) put_bytes(set.pending_, p->chunk);
  return set;
}

Status ChangeSet::decoded(std::vector<StoredChange>* scratch,
                          std::vector<const StoredChange*>* list) const {
  scratch->resize(hashes_.size());
  list->reserve(hashes_.size());
  for (size_t i = 0; i < hashes_.size(); ++i) {
    const size_t begin = i ? ends_[i - 1] : 0;
    AM_TRY(decode_again(ByteView(chunks_).subspan(begin, ends_[i] - begin), hashes_[i],
                        &(*scratch)[i]));
    list->push_back(&(*scratch)[i]);
  }
  return Status::Ok();
}

Result<Bytes> ChangeSet::save(bool compress) const {
  std::vector<StoredChange> scratch;
  std::vector<const StoredChange*> list;
  AM_TRY(decoded(&scratch, &list));
  AM_ASSIGN(Bytes out, encode_document(list, compress));
  put_bytes(out, pending_);
  return out;
}

Result<std::string> ChangeSet::to_json() const {
  std::vector<StoredChange> scratch;
  std::vector<const StoredChange*> list;
  AM_TRY(decoded(&scratch, &list));
  AM_ASSIGN(OpSet s, build_op_set(list));
  return render_json(s);
}

Result<std::string> Document::to_json() const {
  return with_op_set<std::string>([](const OpSet& s, const std::vector<const StoredChange*>&,
                                     ChangeColumns*) {
    return render_json(s);
  });
}

}  // namespace amstore
