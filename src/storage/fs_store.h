// FsStore: the embedded filesystem store. Per document, in the data directory:
//
//   <id>.automerge        snapshot: one compact document (replaced atomically by rename)
//   <id>.automerge.log    change chunks appended since the snapshot (fsync'd per append)
//   <id>.automerge.lock   flock target serializing writers across processes
//
// snapshot + log concatenated is itself a valid Automerge file. Suffixes end differently, and
// ids cannot contain '/', so no id's files collide with another's.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "automerge/keyed_hash.h"
#include "storage/chunk_scan.h"
#include "storage/store.h"

namespace amstore {

class PreparedUpload;
class ChangeSet;

class Document;

struct FsStoreOptions {
  std::string data_dir = "./data";
  // Upper bound (approximate) on the memory held by cached parsed documents.
  uint64_t cache_bytes = 256ull << 20;
  // Compact the log into the snapshot once it exceeds max(compact_min_bytes, snapshot size),
  // so compaction work stays proportional to the bytes appended.
  uint64_t compact_min_bytes = 256ull << 10;
  // Compact on a background thread (false: inline, after the merge is durable; for tests).
  bool background_compaction = true;
  // Also serialize the merged document before acknowledging an upload that brings new
  // changes. Document::merge already validates every new op against the document (OpIndex),
  // so this is a belt-and-braces check that costs a whole save per merge; off by default.
  bool verify_merges = false;
  // The most ops an upload may hold, over all its chunks (a document chunk counts all of its
  // op rows, unless the store already holds its heads). Decoding takes ~200 bytes an op, and
  // a few bytes of columns can describe millions: this bounds what one request can make
  // the server allocate. Beyond it the upload is refused (kInvalid) before it is decoded.
  uint64_t max_upload_ops = UINT64_MAX;
  // Tests only: called by a reader about to save a document outside its locks (it holds
  // none then), so that a test can keep it there while other requests go on.
  std::function<void()> before_unlocked_save;
  // Tests only: called by a reader about to wait, holding no locks, for a save another
  // reader runs (one it joined, or the one its own save must follow), so that a test knows
  // the reader's request has reached the document.
  std::function<void()> before_save_wait;
};

// Identity of the on-disk state a cached document was built from; any other process's
// write changes it (rename gives the snapshot a new inode; the log only grows or shrinks).
struct FileIdentity {
  bool snap_exists = false;
  uint64_t snap_dev = 0, snap_ino = 0, snap_size = 0;
  int64_t snap_mtime_ns = 0, snap_ctime_ns = 0;
  bool log_exists = false;
  uint64_t log_ino = 0, log_size = 0;

  bool same_snapshot(const FileIdentity& o) const {
    return snap_exists == o.snap_exists && snap_dev == o.snap_dev && snap_ino == o.snap_ino &&
           snap_size == o.snap_size && snap_mtime_ns == o.snap_mtime_ns &&
           snap_ctime_ns == o.snap_ctime_ns;
  }
};

// What a document's files hold, read as they are (FsStore::check).
struct FileCheck {
  uint64_t snapshot_bytes = 0;
  uint64_t log_bytes = 0;
  // The snapshot's bytes fail their checksums from this byte on (damage on disk); it still
  // holds `snapshot_chunks` whole chunks (a request would keep them).
  std::optional<uint64_t> snapshot_damaged_at;
  size_t snapshot_chunks = 0;
  uint64_t log_whole = 0;  // the log's prefix of whole chunks, in bytes
  // Whole chunks after the log's first bad byte: damage on disk when there are any, a torn
  // tail (a crash mid-append, never acknowledged) when log_whole < log_bytes and none,
  // unless log_tail_damaged.
  size_t log_chunks_after_damage = 0;
  // No whole chunks after it, but the log's bad bytes are damage, not a crash's torn
  // append (is_damaged_tail). The next request sets them aside before cutting them off.
  bool log_tail_damaged = false;
  // Of the whole chunks after damage (snapshot and log), those whose magic number alone
  // was damaged: mended, and kept as the others are (chunks_after_damage).
  size_t mended_chunks = 0;
  DocInfo info;  // what the whole chunks hold: what the next request for it serves
};

class FsStore : public DocumentStore {
 public:
  // Creates the data directory if needed.
  static std::unique_ptr<FsStore> open(FsStoreOptions options, std::string* error);
  ~FsStore() override;

  StoreStatus get(const std::string& id, bool with_bytes, GetResult* out) override;
  // Two stats, no flock: see the comment at its definition for why that is enough.
  std::shared_ptr<const DocVersion> cached(const std::string& id) override;
  StoreStatus merge(const std::string& id, ByteView body, MergeResult* out) override;
  StoreStatus changes_since(const std::string& id, const std::vector<ChangeHash>& have,
                            Bytes* out, DocInfo* info) override;
  StoreStatus json(const std::string& id, std::string* out, DocInfo* info) override;
  std::vector<std::string> list() override;
  StoreStats stats() override;

  // Reads a document's files as they are, under the shared lock: nothing is repaired or
  // written (`amstore check`). kNotFound without a snapshot; kIo when a file cannot be read,
  // or when the snapshot's chunks are whole and still do not load.
  StoreStatus check(const std::string& id, FileCheck* out);
  // Whether a file of the data directory is bytes a repair set aside
  // (<id>.automerge.damaged.<hash>, <id>.automerge.log.damaged.<hash>).
  static bool is_set_aside(std::string_view name);
  // Compacts one document now (used by the background thread and tests).
  StoreStatus compact(const std::string& id);
  // Waits until queued background compactions are done (tests, shutdown).
  void drain_compactions();

  std::string snapshot_path(const std::string& id) const;
  std::string log_path(const std::string& id) const;
  std::string lock_path(const std::string& id) const;

 private:
  struct Slot;
  struct Version;
  struct PendingMerge;
  struct SaveJob;
  class Lock;

  explicit FsStore(FsStoreOptions options);

  std::shared_ptr<Slot> slot(const std::string& id);
  // With the slot mutex and the file lock held: brings the slot's document in line with the
  // files. `exclusive` allows repairing a torn log tail or a damaged snapshot; without it,
  // *needs_exclusive is set when the snapshot is damaged.
  StoreStatus refresh(const std::string& id, Slot& s, bool exclusive,
                      bool* needs_exclusive = nullptr);
  // The snapshot's bytes `snap` fail their checksums from `damaged_at` on: a lean document
  // of the whole chunks in them, the file kept as <id>.automerge.damaged.<hash> (under the
  // exclusive lock).
  Result<Document> salvage_damaged_snapshot(const std::string& id, ByteView snap,
                                            size_t damaged_at);
  // The log's bytes from s.log_valid on (`rest`) are not whole chunks, but whole chunks
  // follow them (`found`, `mended` of which chunks_after_damage mended): kept in a new
  // snapshot, the bytes set aside (under the exclusive lock, from refresh).
  StoreStatus recover_damaged_log(const std::string& id, Slot& s, ByteView rest,
                                  const std::vector<ByteView>& found, size_t mended);
  // Identity (inode, size, times) of a document's snapshot and log, as they are now.
  StoreStatus read_identity(const std::string& id, FileIdentity* now) const;
  // The document's shared file lock, if its snapshot exists (kNotFound otherwise).
  StoreStatus lock_document(const std::string& id, Lock& lock) const;
  StoreStatus read_locked(const std::string& id, const std::shared_ptr<Slot>& s, Lock& lock);
  template <typename F>
  StoreStatus read_document(const std::string& id, F&& read);
  void fill_info(const Slot& s, DocInfo* info) const;
  // With the slot mutex held and s.saved set: makes s.saved what cached() serves.
  void publish(const std::string& id, Slot& s, const DocInfo& info);
  // Runs a save job on the calling thread, outside every lock (see SaveJob).
  void run_save(SaveJob& job);
  // A save outside the document's locks (a GET's or a compaction's), on a CPU slot.
  Result<Bytes> save_unlocked(const ChangeSet& changes);
  void account(const std::string& id, Slot& s);
  // Adds one to a counter of stats() (a repair done, a JSON view rendered).
  void count(uint64_t FsStore::*counter);
  void forget(Slot& s);
  // Replaces the document's file <id><suffix> by `bytes` (see amstore::replace_file).
  StoreStatus replace_file(const std::string& id, std::string_view suffix, ByteView bytes);
  StoreStatus compact_locked(const std::string& id, Slot& s);
  // The same when the log has grown past `covered` bytes since `snapshot` was saved from
  // the document: the snapshot replaces the old one, and the rest of the log a new log.
  StoreStatus compact_into(const std::string& id, Slot& s, ByteView snapshot,
                           uint64_t covered);
  // With the slot mutex and the exclusive file lock held, the document absent: creates it.
  StoreStatus create_locked(const std::string& id, Slot& s, PreparedUpload&& upload,
                            ByteView body, MergeResult* out);
  // The same, the document loaded: merges a batch of uploads, then one append and one fsync.
  // Returns whether the log is now due for compaction.
  bool merge_locked(const std::string& id, Slot& s, const std::vector<PendingMerge*>& batch);
  void schedule_compaction(const std::string& id);
  void compaction_loop();

  FsStoreOptions opt_;
  int dir_fd_ = -1;
  // Threads doing CPU-heavy work (parsing and decoding uploads, loading and saving
  // documents) at once: one per core. Callers may be many threads that mostly wait for a
  // document's lock or the disk; decoding on more threads than cores only costs memory.
  // Never held while waiting for a lock (a holder only computes), so it cannot deadlock.
  // (A mutex and condition variable: std::counting_semaphore spins in sched_yield first,
  // which cost ~4 % of the CPU with many waiters.)
  std::mutex cpu_mu_;
  std::condition_variable cpu_cv_;
  unsigned cpu_free_;
  class CpuSlot;

  // Slots and the LRU of loaded documents. Lock order: map_mu_ before a slot's mutex only by
  // try_lock, so a thread holding a slot mutex may take map_mu_.
  std::mutex map_mu_;
  // (Document ids come from clients: hashed under a key of the table's own.)
  std::unordered_map<std::string, std::shared_ptr<Slot>, KeyedHash, std::equal_to<>> slots_;
  std::list<std::string> lru_;  // front: most recent
  uint64_t cache_bytes_ = 0;
  uint64_t compactions_ = 0;
  uint64_t torn_log_tails_ = 0, damaged_logs_ = 0, damaged_snapshots_ = 0;  // (StoreStats)
  uint64_t restored_from_memory_ = 0;                                      // (StoreStats)
  uint64_t json_renders_ = 0;                                              // (StoreStats)

  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  std::deque<std::string> bg_queue_;
  std::set<std::string> bg_queued_;
  bool bg_busy_ = false;
  bool bg_stop_ = false;
  std::thread bg_thread_;
};

}  // namespace amstore
