// Document: a set of changes closed under dependencies, plus changes still waiting for
// their dependencies. Loading, merging (the union of change sets), saving, changes since
// given heads, and the JSON view. Bytes in, bytes out: no I/O, no threads, no globals.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "automerge/change.h"
#include "automerge/chunk.h"
#include "automerge/doc_chunk.h"
#include "automerge/flat_map.h"
#include "automerge/hash.h"
#include "automerge/keyed_hash.h"
#include "automerge/op_index.h"

namespace amstore {

class Document;

struct MergeStats {
  size_t new_changes = 0;      // changes not known before (applied or pending)
  size_t applied = 0;          // of those, now part of the document
  size_t pending = 0;          // changes (old and new) still waiting for their deps
  // Changes kept pending by earlier merges that were refused once their deps arrived
  // (they can never apply), and dropped.
  size_t dropped = 0;
  std::vector<ChangeHash> added;  // the new changes, in the order they were taken in
};

// The hashes of a document's applied changes by actor, in seq order: enough to decode an
// upload against the document without holding it (PreparedUpload::decode_against).
// The document keeps one and appends to it; a snapshot is a copy of the block pointers and
// counts, O(actors × log changes). It stays valid while the document moves on: the blocks
// never move, and the document writes only past what any snapshot covers.
class KnownChanges {
 public:
  // Actor ids come from clients: hashed under a key of the table's own (keyed_hash.h).
  using ActorHash = KeyedHash;
  // One actor's hashes: block b holds kFirst << b of them (16, 32, 64, ...).
  struct Hashes {
    std::vector<std::shared_ptr<ChangeHash[]>> blocks;
    size_t count = 0;
    const ChangeHash& operator[](size_t i) const;
    void append(const ChangeHash* h, size_t n);
  };
  // The hash of `actor`'s change `seq`, or null.
  const ChangeHash* find(std::string_view actor, uint64_t seq) const {
    auto it = by_actor.find(actor);
    if (it == by_actor.end() || seq == 0 || seq > it->second.count) return nullptr;
    return &it->second[seq - 1];
  }
  std::unordered_map<std::string, Hashes, ActorHash, std::equal_to<>> by_actor;
};

// An upload read as far as it can be without the document it goes into: chunks and their
// checksums, change chunks decoded, document chunk headers (heads) read. Views into the
// upload bytes, which must outlive it.
class PreparedUpload {
 public:
  // Marks the document chunks whose heads `doc` has all applied: they bring nothing new, so
  // their columns are never inflated (a client re-uploading what the store holds costs a
  // checksum). Their checksums were verified; columns malformed on purpose behind a valid
  // checksum and known heads are passed over, as they could not add anything.
  void skip_held(const Document& doc);
  // Reads the columns of the document chunks that are not held (inflating, change rows);
  // with a non-empty snapshot of the target document's changes (Document::known_changes),
  // also runs Algorithm A against it, so that only what is new is left for merge().
  // Outside the caller's lock: concurrent uploads to one document decode in parallel.
  // merge() checks that the document still holds the snapshot's changes and decodes again
  // if not.
  Status decode_against(std::shared_ptr<const KnownChanges> known);

 private:
  friend class Document;
  // Inflates and reads item i's columns (once), counting its op rows against the upload's
  // limit on ops.
  Status read_columns(size_t i);
  // Counts `ops` more against the limit.
  Status count_ops(uint64_t ops);
  struct Item {
    ChunkType type;
    ParsedDocument doc;   // document chunks
    StoredChange change;  // change chunks
    bool held = false;                  // document chunks: see skip_held
    bool counted = false;               // document chunks: op rows counted (read_columns)
    bool decoded = false;               // document chunks: `changes` are the new ones
    std::vector<std::unique_ptr<StoredChange>> changes;  // relative to known_
  };
  std::vector<Item> items_;
  std::shared_ptr<const KnownChanges> known_;
  // The ops of the change chunks and the op rows of the document chunks read so far, and
  // how many the upload may have: decoding costs ~200 bytes of memory an op, and columns
  // can describe millions of ops in a few bytes.
  uint64_t ops_ = 0, max_ops_ = 0;
  // What its compressed changes and document columns may still inflate to, together.
  size_t inflate_left_ = 0;
};

// A document's change set as it stands, copied out of it (Document::change_set): the
// applied changes' chunks and hashes in causal order, and the pending changes' chunks.
// save() and to_json() on it give what the document's would have given at the time of the
// copy, without the document: e.g. outside the lock that guards the document, while merges
// into it go on. The copy costs a memcpy of the chunks; save() costs what a lean document's
// save costs (every chunk is decoded again).
class ChangeSet {
 public:
  Result<Bytes> save(bool compress = true) const;
  Result<std::string> to_json() const;

 private:
  friend class Document;
  Status decoded(std::vector<StoredChange>* scratch,
                 std::vector<const StoredChange*>* list) const;
  Bytes chunks_;                     // applied changes' chunks, back to back
  std::vector<size_t> ends_;         // where each of them ends in chunks_
  std::vector<ChangeHash> hashes_;   // their hashes
  Bytes pending_;                    // pending changes' chunks, back to back
};

class Document {
 public:
  Document();
  ~Document();
  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;

  // Parses a concatenation of document and change chunks (what Automerge.save,
  // saveIncremental and getChanges produce); all-or-nothing. Zero bytes: an empty document.
  // `lean`: the document is lean from the start (see set_lean), and a single document
  // chunk loads without ever holding all its ops decoded (a 1 MB document's load peaks at
  // two thirds of the memory). Not lean, a single document chunk's op order is kept (4
  // bytes an op) until the first save or JSON view, whose op set takes it instead of
  // ordering every object again; so are its change columns when no change has a message or
  // extra bytes (ChangeColumns::take_loaded), which the first save then extends instead of
  // encoding every row again.
  static Result<Document> load(ByteView bytes, bool lean = false);

  // Merges a concatenation of chunks into this document: the union of both change sets.
  // All-or-nothing: on error the document is unchanged. Changes whose dependencies are
  // missing are kept as pending (as Automerge.load does) and join once their deps arrive.
  Result<MergeStats> merge(ByteView bytes);
  // The same in steps: prepare() needs no document (no lock), nor do skip_held() and
  // decode_against() on the PreparedUpload; merge() does the rest.
  // `max_ops` bounds the ops of all its chunks together, decoded or about to be (document
  // chunks are counted by their op rows once inflated); beyond it, or beyond what the
  // upload's size allows (max_rows_for), the upload is refused before more is decoded.
  static Result<PreparedUpload> prepare(ByteView bytes, uint64_t max_ops = UINT64_MAX);
  Result<MergeStats> merge(PreparedUpload&& upload);
  // A snapshot of the applied changes' hashes (cheap: see KnownChanges).
  std::shared_ptr<const KnownChanges> known_changes() const;
  // Merges every change (applied and pending) of `other`.
  Result<MergeStats> merge(const Document& other);

  // Heads: sorted hashes of the applied changes no other applied change depends on.
  const std::vector<ChangeHash>& heads() const { return heads_; }
  bool has_change(const ChangeHash& h) const {
    return has_applied(h) || pending_index_.contains(h);
  }
  // Applied: part of the document, with all its dependencies (not pending).
  bool has_applied(const ChangeHash& h) const { return position_of(h) != ChangeIndex::kNone; }
  // The change with hash `h` (applied or pending), or null.
  const StoredChange* find(const ChangeHash& h) const;
  // Applied changes in causal order (a lean document's hold little decoded: see set_lean).
  const std::vector<std::unique_ptr<StoredChange>>& changes() const { return changes_; }
  const std::vector<std::unique_ptr<StoredChange>>& pending() const { return pending_; }

  // One compact document chunk (columns of 256 bytes or more DEFLATEd), followed by the
  // pending changes as change chunks, as Automerge.save does. Fails if the change set is
  // not a valid document (e.g. an op refers to an object that does not exist).
  // A document that is not lean keeps what its first save (or to_json) builds, the op set
  // in document order and the change columns (~55–80 bytes an op on top of the ~85 its
  // decoded changes take); later ones add the changes applied since, order again only the
  // objects those write to, and encode only their change rows (see OpSetBuilder).
  Result<Bytes> save(bool compress = true) const;
  // The applied changes that are not ancestors of `have` (unknown hashes are ignored),
  // as concatenated change chunks in causal order: what Automerge.loadIncremental applies.
  Bytes changes_since(const std::vector<ChangeHash>& have) const;
  // The JSON view (Algorithm C); see docs/json-mapping.md.
  Result<std::string> to_json() const;
  // A copy of the change set, to save or render later without this document.
  ChangeSet change_set() const;

  // Lean: applied changes keep only their hash, chunk, seq, startOp and time once validated;
  // their ops (a parsed op takes ~100 bytes, its chunk a few), deps, actors, message and
  // extra bytes are dropped, and read again from the chunks when needed (save() and
  // to_json() decode them all). For documents kept in memory between requests. Pending
  // changes keep everything. set_lean(false) on a lean document decodes its changes again.
  void set_lean(bool lean);
  // Ops of the applied changes (counted whether or not they are held decoded).
  size_t op_count() const { return op_count_; }
  // Bytes the op index holds beyond its 8 per op (its table of map keys, and its lists'
  // trees once a mark was checked), roughly.
  size_t index_extra_memory() const { return ops_.extra_memory(); }

 private:
  // A batch checked (and its ops staged) before integrate(), as each change was made (one
  // document chunk loaded, see load_whole): per change its max op, how many ops it has and
  // its author (an index into `authors`), and its hash (in `hashes`), what integrate() reads
  // of it: side by side here, where the changes themselves lie apart and out of cache by then
  // (and a lean document's hold no ops nor author); the heads the batch ends at.
  struct Staged {
    struct Change {
      uint64_t max_op;
      uint32_t ops;
      uint32_t author;
    };
    std::vector<Change> changes;
    std::unique_ptr<ChangeHash[]> hashes;  // (decode_document's array of them)
    std::vector<std::string> authors;
    std::vector<ChangeHash> heads;
    bool list_added = true;  // false: MergeStats::added is left empty (see merge_upload)
  };
  // Validates and applies a batch of new changes; all-or-nothing. `staged` (in causal order,
  // into an empty document, only): the batch was checked already.
  Result<MergeStats> integrate(std::vector<std::unique_ptr<StoredChange>> incoming,
                               const Staged* staged = nullptr);
  // Checks changes one at a time against this document and the changes it checked before
  // (seq, op counters, and the ops themselves, which it stages in ops_ uncommitted).
  class Checker;
  // Document chunk i of `upload`, the only chunk, into this empty document. Each change is
  // checked as soon as it is made, while it is in cache, rather than in a later pass over
  // them all. Lean, each is made in one scratch change, and only what a lean document keeps
  // of it is kept: its ops are never all held together (see decode_document).
  Result<MergeStats> load_whole(PreparedUpload& upload, size_t i, bool list_added);
  // merge(upload); with !list_added, a whole document into an empty one leaves the stats'
  // `added` empty (load(), which returns no stats: 10^5 hashes not copied).
  Result<MergeStats> merge_upload(PreparedUpload&& upload, bool list_added);
  // The applied changes with their ops decoded (decoded again if lean; `scratch` holds them).
  Status decoded_changes(std::vector<StoredChange>* scratch,
                         std::vector<const StoredChange*>* list) const;

  // The op set of a document that is not lean, kept from one save (or JSON view) to the
  // next and grown by the changes applied in between (see OpSetBuilder): a save then orders
  // what changed since the last, not the whole document. Behind a mutex, so that const
  // calls stay safe to make from several threads at once.
  struct OpSetCache;
  // Runs use(op set, changes, kept change columns) on the applied changes, decoded again if
  // lean (no kept columns then); if not, on the kept op set brought up to date, under the
  // cache's mutex.
  template <typename R, typename F>
  Result<R> with_op_set(F&& use) const;

  bool lean_ = false;
  size_t op_count_ = 0;
  std::unique_ptr<OpSetCache> op_set_cache_;

  std::vector<std::unique_ptr<StoredChange>> changes_;
  // The max op of each of changes_ (a lean document's changes hold no ops to count): a new
  // change's startOp is checked against its deps' (check_start_op).
  std::vector<uint64_t> max_op_at_;
  ChangeIndex index_;  // hash → changes_ index
  // The index in changes_ of the change with hash `h`, or ChangeIndex::kNone.
  uint32_t position_of(const ChangeHash& h) const {
    return index_.find(h, [this](uint32_t i) -> const ChangeHash& { return changes_[i]->hash; });
  }
  std::vector<std::unique_ptr<StoredChange>> pending_;
  ChangeHashMap<uint32_t> pending_index_;
  // Per actor, the hashes of its applied changes in seq order (so also how many): what
  // Algorithm A takes as known, and what snapshots copy.
  KnownChanges known_;
  // Per actor, the max op of its last applied change (kept here: a lean document's changes
  // hold no ops to count).
  std::unordered_map<std::string, uint64_t, KnownChanges::ActorHash, std::equal_to<>> max_op_;
  std::vector<ChangeHash> heads_;
  OpIndex ops_;  // validates new changes against the ops already here
};

}  // namespace amstore
