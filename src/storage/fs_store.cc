#include "storage/fs_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "automerge/chunk.h"
#include "automerge/doc_chunk.h"
#include "automerge/document.h"
#include "storage/files.h"

namespace amstore {

namespace {

constexpr std::string_view kSnapSuffix = ".automerge";
constexpr std::string_view kLogSuffix = ".automerge.log";
constexpr std::string_view kLockSuffix = ".automerge.lock";
constexpr std::string_view kTmpInfix = ".automerge.tmp.";
constexpr std::string_view kDamagedInfix = ".damaged.";  // <file>.damaged.<hash>: set aside

// Reads `len` bytes from `offset` (the caller holds the lock, so the size is stable).
bool read_range(int fd, uint64_t offset, uint64_t len, Bytes* out) {
  out->resize(len);
  uint64_t done = 0;
  while (done < len) {
    ssize_t r = ::pread(fd, out->data() + done, len - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) break;  // shorter than stat said: treat the rest as absent
    done += static_cast<uint64_t>(r);
  }
  out->resize(done);
  return true;
}

// The same for the file `name` in the directory `dir_fd`, opened and closed here.
StoreStatus read_file(int dir_fd, const std::string& name, uint64_t offset, uint64_t len,
                      Bytes* out) {
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return StoreStatus::Io(errno_text("open", name));
  const bool ok = read_range(fd, offset, len, out);
  StoreStatus err = StoreStatus::Io(errno_text("read", name));  // (errno before close)
  ::close(fd);
  return ok ? StoreStatus::Ok() : err;
}

// The name a repair gives bytes it sets aside from the file `name`: named by what they
// hold, so that a repair that fails further on and is tried again names them the same.
std::string set_aside_name(const std::string& name, ByteView bytes) {
  const ChangeHash digest = sha256(bytes);
  return name + std::string(kDamagedInfix) + to_hex(ByteView(digest.data(), 8));
}

int64_t ns_of(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// What a document's op index keeps per op, plus slack (cached documents are lean: their
// changes keep little more than their chunks, see Document::set_lean).
constexpr uint64_t kIndexBytesPerOp = 12;

// Rough, enough to bound the cache: one change's chunk bytes, decoded header and ops, its
// entries in the document's tables (hash index, per-actor hash blocks, its max op).
uint64_t change_memory(const StoredChange& c) {
  return sizeof(StoredChange) + c.chunk.size() * 2 + c.change.ops.size() * sizeof(Op) + 128;
}

uint64_t doc_memory(const Document& doc) {
  uint64_t m = sizeof(Document);
  auto add = [&](const std::vector<std::unique_ptr<StoredChange>>& v) {
    for (const auto& c : v) m += change_memory(*c);
  };
  add(doc.changes());
  add(doc.pending());
  return m + doc.op_count() * kIndexBytesPerOp + doc.index_extra_memory();
}

thread_local std::string t_save_error;

// Document::save, keeping the error message for the caller (per thread).
std::shared_ptr<const Bytes> save_checked(const Document& doc) {
  auto saved = doc.save();
  if (!saved.ok()) {
    t_save_error = saved.status().message();
    return nullptr;
  }
  return std::make_shared<const Bytes>(std::move(saved).value());
}
const std::string& last_save_error() { return t_save_error; }

// A read-only memfd holding `bytes` (sealed: nothing can change the pages a socket may still
// be sending from), or -1.
int sealed_copy(const Bytes& bytes) {
  int fd = ::memfd_create("amstore-doc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  if (!write_all(fd, bytes.data(), bytes.size()) ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The snapshot half of a FileIdentity, from the snapshot file's stat.
void note_snapshot(const struct stat& st, FileIdentity* id) {
  id->snap_exists = true;
  id->snap_dev = st.st_dev;
  id->snap_ino = st.st_ino;
  id->snap_size = static_cast<uint64_t>(st.st_size);
  id->snap_mtime_ns = ns_of(st.st_mtim);
  id->snap_ctime_ns = ns_of(st.st_ctim);
}

// A read-only descriptor of the snapshot file `name` if it is the file `ident` names and
// holds exactly `bytes` (it does not when they are amstore's own save of a snapshot stored
// as uploaded), else -1. GET sends from it rather than from a memfd copy: the page cache
// keeps a file in large folios but a memfd in 4 KB pages, and sendfile of a 1 MB document
// from the file took less kernel time (see docs/server.md). Sound because a snapshot is
// only ever replaced by a rename, never written in place: the open inode keeps these bytes
// for as long as a response sends from it.
int snapshot_fd(int dir_fd, const std::string& name, const FileIdentity& ident,
                const Bytes& bytes) {
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  FileIdentity opened;
  Bytes on_disk;
  bool same = ::fstat(fd, &st) == 0;
  if (same) note_snapshot(st, &opened);
  same = same && opened.same_snapshot(ident) && opened.snap_size == bytes.size() &&
         read_range(fd, 0, bytes.size(), &on_disk) && on_disk == bytes;
  if (!same) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Merges each chunk on its own: one that does not merge changes nothing. How many did.
size_t merge_each(Document& doc, const std::vector<ByteView>& chunks) {
  size_t kept = 0;
  for (ByteView chunk : chunks)
    if (doc.merge(chunk).ok()) ++kept;
  return kept;
}

// Merges a log's whole chunks: all at once, or, should that fail (it should not: only
// validated changes are appended), each on its own, keeping what merges. The failure, if any.
Status merge_log_chunks(Document& doc, ByteView chunks) {
  auto merged = doc.merge(chunks);
  if (merged.ok()) return Status::Ok();
  std::vector<Bytes> mended;
  merge_each(doc, whole_chunks(chunks, &mended));
  return merged.status();
}

// Whether `doc` holds every change of `other` (applied or waiting): a document holds the
// dependencies of what it applied, so its heads are enough for those.
bool holds_all(const Document& doc, const Document& other) {
  for (const ChangeHash& h : other.heads())
    if (!doc.has_applied(h)) return false;
  for (const auto& p : other.pending())
    if (!doc.has_change(p->hash)) return false;
  return true;
}

// For the lines that report damage: how many of the chunks kept were mended.
std::string mended_note(size_t mended) {
  if (mended == 0) return "";
  return " (" + std::to_string(mended) + " of them mended: only their magic number was damaged)";
}

void describe(const Document& doc, DocInfo* info) {
  info->heads = doc.heads();
  std::sort(info->heads.begin(), info->heads.end());
  info->changes = doc.changes().size();
  info->pending = doc.pending().size();
  std::vector<ChangeHash> pend;
  for (const auto& p : doc.pending()) pend.push_back(p->hash);
  std::sort(pend.begin(), pend.end());
  info->etag = make_etag(info->heads, pend);
}

}  // namespace

// An upload waiting to be merged into its document (group commit: see merge()).
struct FsStore::PendingMerge {
  PreparedUpload* upload;
  MergeResult* out;
  StoreStatus status;
  bool done = false;  // guarded by Slot::queue_mu; `status` and `out` are final
};

// A save of a document, run outside the document's locks (a large document's save takes
// long enough that uploads would queue behind it) by the reader that started it, with the
// change set copied out under the locks. Readers wanting the state it saves wait for it
// instead of saving again. At most one save per document runs at a time: a reader of a
// newer state starts a job that waits for the running one, and until that job starts,
// readers of still newer states move it on to their state (any state at least as new as
// the one a request found is a right answer to it), so they all share one save.
struct FsStore::SaveJob {
  std::mutex mu;
  std::condition_variable cv;
  // Guarded by mu. The state to save, set (and moved on) under the slot mutex until the
  // job starts; final after that.
  bool started = false;
  ChangeSet changes;   // freed once saved
  FileIdentity ident;  // the files the document reflected (Slot::ident, Slot::log_valid)
  uint64_t log_valid = 0;
  DocInfo info;        // its heads and etag, which the readers answer with
  // Guarded by mu; once done, bytes (or error) are final.
  bool done = false;
  std::shared_ptr<const Bytes> bytes;
  std::string error;
  // The job this one waits for (the save running when it was made), if any.
  std::shared_ptr<SaveJob> after;

  // With mu held: whether slot `s` (its mutex held) is in the state this job saves.
  bool matches(const FsStore::Slot& s) const;
  void wait_done() {
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [&] { return done; });
  }
};

// Per-document state in this process. `mu` serializes this process's threads on the
// document; the flock on the lock file serializes processes.
struct FsStore::Slot {
  std::mutex mu;
  // Uploads waiting for `mu` to merge into this document, in arrival order.
  std::mutex queue_mu;
  std::vector<PendingMerge*> queue;
  std::unique_ptr<Document> doc;  // null: not loaded
  FileIdentity ident;             // the files `doc` reflects
  // The document as this process held it before its files were replaced under it (by
  // another process, or by hand): everything in it was once on disk. Whatever of it the
  // files now lack (a repair kept only a damaged snapshot's whole chunks) is put back,
  // under the exclusive lock (see refresh).
  std::unique_ptr<Document> held;
  uint64_t log_valid = 0;         // bytes of the log merged into `doc`
  std::shared_ptr<const Bytes> saved;  // cached Document::save()
  // The last JSON view rendered, and the ETag of the version it shows: an unchanged
  // document serves it again (a 1 MB document takes a few hundred ms to render).
  std::shared_ptr<const std::string> json;
  std::string json_etag;
  // Drops what was made from the document (its save, its JSON view): it changed, or went.
  void drop_views() {
    saved.reset();
    json.reset();
  }
  std::shared_ptr<SaveJob> saving;     // the newest save of this document (see SaveJob)
  uint64_t doc_mem = 0;
  // Guarded by map_mu_.
  std::shared_ptr<const Version> pub;  // what cached() may serve, if still fresh
  uint64_t accounted = 0;
  bool in_lru = false;
  std::list<std::string>::iterator lru_it;
};

bool FsStore::SaveJob::matches(const FsStore::Slot& s) const {
  return s.doc && s.ident.same_snapshot(ident) && s.ident.log_exists == ident.log_exists &&
         s.ident.log_ino == ident.log_ino && s.log_valid == log_valid;
}

// A version as get() built it, with the files it reflects: the snapshot `ident` names plus
// the first `log_valid` bytes of the log.
struct FsStore::Version : DocVersion {
  FileIdentity ident;
  uint64_t log_valid = 0;
  bool fd_is_copy = false;  // fd is a memfd copy of `bytes` (counted in the cache)
};

// A flock on <id>.automerge.lock, opened per operation so that each holder has its own open
// file description (flock conflicts between descriptions even inside one process).
class FsStore::Lock {
 public:
  ~Lock() { release(); }
  StoreStatus acquire(int dir_fd, const std::string& name, bool exclusive) {
    fd_ = ::openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return StoreStatus::Io(errno_text("open", name));
    while (::flock(fd_, exclusive ? LOCK_EX : LOCK_SH) != 0) {
      if (errno == EINTR) continue;
      StoreStatus st = StoreStatus::Io(errno_text("flock", name));
      release();
      return st;
    }
    return StoreStatus::Ok();
  }
  void release() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
};

std::unique_ptr<FsStore> FsStore::open(FsStoreOptions options, std::string* error) {
  if (options.data_dir.empty()) options.data_dir = ".";
  if (::mkdir(options.data_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    *error = errno_text("mkdir", options.data_dir);
    return nullptr;
  }
  int fd = ::open(options.data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno_text("open", options.data_dir);
    return nullptr;
  }
  std::unique_ptr<FsStore> store(new FsStore(std::move(options)));
  store->dir_fd_ = fd;

  // Remove snapshot temp files left by crashed processes (their pid is gone); a live
  // process's temp file is in use and stays.
  if (DIR* d = ::fdopendir(::dup(fd))) {
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      size_t at = name.find(kTmpInfix);
      if (at == std::string_view::npos) continue;
      long pid = std::atol(std::string(name.substr(at + kTmpInfix.size())).c_str());
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
        ::unlinkat(fd, e->d_name, 0);
    }
    ::closedir(d);
  }

  if (store->opt_.background_compaction)
    store->bg_thread_ = std::thread([s = store.get()] { s->compaction_loop(); });
  return store;
}

FsStore::FsStore(FsStoreOptions options)
    : opt_(std::move(options)),
      cpu_free_(std::max(1u, std::thread::hardware_concurrency())) {}

// One of FsStore's CPU slots (cpu_free_) for the scope.
class FsStore::CpuSlot {
 public:
  explicit CpuSlot(FsStore& store) : store_(store) {
    std::unique_lock<std::mutex> g(store_.cpu_mu_);
    store_.cpu_cv_.wait(g, [this] { return store_.cpu_free_ > 0; });
    --store_.cpu_free_;
  }
  ~CpuSlot() {
    {
      std::lock_guard<std::mutex> g(store_.cpu_mu_);
      ++store_.cpu_free_;
    }
    store_.cpu_cv_.notify_one();
  }
  CpuSlot(const CpuSlot&) = delete;
  CpuSlot& operator=(const CpuSlot&) = delete;

 private:
  FsStore& store_;
};

FsStore::~FsStore() {
  {
    std::lock_guard<std::mutex> g(bg_mu_);
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  if (bg_thread_.joinable()) bg_thread_.join();
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::string FsStore::snapshot_path(const std::string& id) const {
  return opt_.data_dir + "/" + id + std::string(kSnapSuffix);
}
std::string FsStore::log_path(const std::string& id) const {
  return opt_.data_dir + "/" + id + std::string(kLogSuffix);
}
std::string FsStore::lock_path(const std::string& id) const {
  return opt_.data_dir + "/" + id + std::string(kLockSuffix);
}

std::shared_ptr<FsStore::Slot> FsStore::slot(const std::string& id) {
  std::lock_guard<std::mutex> g(map_mu_);
  auto& s = slots_[id];
  if (!s) s = std::make_shared<Slot>();
  return s;
}


void FsStore::forget(Slot& s) {
  std::unique_ptr<Document> old = std::move(s.doc);
  s.drop_views();
  s.ident = FileIdentity{};
  s.log_valid = 0;
  s.doc_mem = 0;
  std::lock_guard<std::mutex> g(map_mu_);
  s.pub.reset();
  if (s.in_lru) {
    lru_.erase(s.lru_it);
    s.in_lru = false;
  }
  cache_bytes_ -= s.accounted;
  s.accounted = 0;
}

// Called with s.mu held after the slot's document or cached bytes changed: updates the LRU
// and evicts other idle documents while over budget.
void FsStore::account(const std::string& id, Slot& s) {
  std::vector<std::unique_ptr<Document>> dropped;  // destroyed after unlocking
  {
    std::lock_guard<std::mutex> g(map_mu_);
    uint64_t mem =
        s.doc ? s.doc_mem + (s.saved ? s.saved->size() : 0) + (s.json ? s.json->size() : 0) : 0;
    // A published version of older bytes would hold memory the budget no longer counts.
    if (s.pub && (!s.doc || s.pub->bytes != s.saved)) s.pub.reset();
    if (s.pub && s.pub->fd_is_copy) mem += s.pub->bytes->size();  // its memfd copy
    cache_bytes_ = cache_bytes_ - s.accounted + mem;
    s.accounted = mem;
    if (s.in_lru) lru_.erase(s.lru_it);
    s.in_lru = false;
    if (s.doc) {
      lru_.push_front(id);
      s.lru_it = lru_.begin();
      s.in_lru = true;
    }
    // Evict from the cold end; skip documents in use (their mutex is held).
    auto it = lru_.end();
    while (cache_bytes_ > opt_.cache_bytes && it != lru_.begin()) {
      --it;
      if (*it == id) continue;
      auto found = slots_.find(*it);
      if (found == slots_.end()) continue;
      std::shared_ptr<Slot> victim = found->second;
      std::unique_lock<std::mutex> vl(victim->mu, std::try_to_lock);
      if (!vl.owns_lock()) continue;
      dropped.push_back(std::move(victim->doc));
      victim->drop_views();
      victim->pub.reset();
      victim->ident = FileIdentity{};
      victim->log_valid = 0;
      victim->doc_mem = 0;
      cache_bytes_ -= victim->accounted;
      victim->accounted = 0;
      victim->in_lru = false;
      it = lru_.erase(it);
      vl.unlock();
      if (victim.use_count() == 2) slots_.erase(found);  // only the map and `victim`
    }
  }
}

// The log is stat'ed before the snapshot: cached() relies on that order (see there). Under
// the file lock the order does not matter.
StoreStatus FsStore::read_identity(const std::string& id, FileIdentity* now) const {
  *now = FileIdentity{};
  const std::string snap_name = id + std::string(kSnapSuffix);
  const std::string log_name = id + std::string(kLogSuffix);
  struct stat st;
  if (::fstatat(dir_fd_, log_name.c_str(), &st, 0) == 0) {
    now->log_exists = true;
    now->log_ino = st.st_ino;
    now->log_size = static_cast<uint64_t>(st.st_size);
  } else if (errno != ENOENT) {
    return StoreStatus::Io(errno_text("stat", log_name));
  }
  if (::fstatat(dir_fd_, snap_name.c_str(), &st, 0) == 0) {
    note_snapshot(st, now);
  } else if (errno != ENOENT) {
    return StoreStatus::Io(errno_text("stat", snap_name));
  }
  return StoreStatus::Ok();
}

StoreStatus FsStore::refresh(const std::string& id, Slot& s, bool exclusive,
                             bool* needs_exclusive) {
  const std::string snap_name = id + std::string(kSnapSuffix);
  const std::string log_name = id + std::string(kLogSuffix);
  FileIdentity now;
  StoreStatus is = read_identity(id, &now);
  if (!is.ok()) return is;
  if (!now.snap_exists) {
    if (s.doc) forget(s);
    s.held.reset();  // removed: not brought back
    return StoreStatus::NotFound();
  }

  bool salvaged = false;  // the document is what a damaged snapshot kept: rewrite it below
  // Cached and the log only grew (or nothing changed): merge just the new log bytes.
  bool incremental = s.doc && s.ident.same_snapshot(now) &&
                     (!s.ident.log_exists || (now.log_exists && now.log_ino == s.ident.log_ino &&
                                              now.log_size >= s.log_valid));
  if (!incremental) {
    if (s.doc) {
      std::unique_ptr<Document> was = std::move(s.doc);
      forget(s);
      if (!s.held) {
        s.held = std::move(was);
      } else {  // (a copy still held from before: both are kept, as one)
        CpuSlot cpu(*this);
        if (!s.held->merge(*was).ok()) s.held = std::move(was);
      }
    }
    Bytes snap;
    if (StoreStatus rs = read_file(dir_fd_, snap_name, 0, now.snap_size, &snap); !rs.ok())
      return rs;
    std::optional<CpuSlot> cpu(std::in_place, *this);
    auto loaded = Document::load(snap, true);
    cpu.reset();
    // Bytes that fail their own checksums are damage on disk: a snapshot is written whole
    // and fsync'd before it is renamed into place. A snapshot whose chunks are all whole
    // and still does not load is not damage; nothing is guessed at then.
    if (const size_t whole = loaded.ok() ? snap.size() : valid_log_prefix(snap);
        whole < snap.size()) {
      if (!exclusive) {
        if (needs_exclusive) *needs_exclusive = true;
        return StoreStatus::Io("stored snapshot " + snap_name + " is damaged");
      }
      loaded = salvage_damaged_snapshot(id, snap, whole);
      salvaged = loaded.ok();
    }
    if (!loaded.ok())
      return StoreStatus::Io("stored snapshot " + snap_name + " is unreadable: " +
                             loaded.status().message());
    s.doc = std::make_unique<Document>(std::move(loaded).value());
    s.doc_mem = doc_memory(*s.doc);
    s.log_valid = 0;
    s.drop_views();
  }

  uint64_t log_size = now.log_exists ? now.log_size : 0;
  if (log_size > s.log_valid) {
    int fd = ::openat(dir_fd_, log_name.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return StoreStatus::Io(errno_text("open", log_name));
    Bytes tail;
    bool ok = read_range(fd, s.log_valid, log_size - s.log_valid, &tail);
    if (!ok) {
      ::close(fd);
      return StoreStatus::Io(errno_text("read", log_name));
    }
    size_t valid = valid_log_prefix(tail);
    if (valid > 0) {
      CpuSlot cpu(*this);
      if (Status merged = merge_log_chunks(*s.doc, ByteView(tail.data(), valid)); !merged.ok())
        std::fprintf(stderr, "amstore: log %s: %s; merged chunk by chunk\n", log_name.c_str(),
                     merged.message().c_str());
      s.doc_mem = doc_memory(*s.doc);
      s.drop_views();
    }
    s.log_valid += valid;
    if (valid < tail.size() && exclusive) {
      const ByteView rest = ByteView(tail).subspan(valid);
      std::vector<Bytes> mended;
      if (std::vector<ByteView> found = chunks_after_damage(rest, &mended); !found.empty()) {
        ::close(fd);
        s.ident = now;
        return recover_damaged_log(id, s, rest, found, mended.size());
      }
      // A torn tail from a crash mid-append: that upload never got its 200. Cut it off so
      // later appends land after whole chunks. A damaged one (is_damaged_tail) is set aside
      // first, as a damaged log's bytes are: keeping them costs a file, cutting them could
      // lose an acknowledged edit.
      const bool damaged_tail = is_damaged_tail(rest);
      if (damaged_tail) {
        const std::string aside = set_aside_name(log_name, rest);
        if (StoreStatus st = replace_file(id, aside.substr(id.size()), rest); !st.ok()) {
          ::close(fd);
          forget(s);
          return st;
        }
        std::fprintf(stderr,
                     "amstore: %s ends in bytes damaged on disk, not a crash's torn append "
                     "(byte %llu on): cut off; its bytes saved as %s\n",
                     log_name.c_str(), static_cast<unsigned long long>(s.log_valid),
                     aside.c_str());
      }
      if (::ftruncate(fd, static_cast<off_t>(s.log_valid)) != 0 || ::fsync(fd) != 0) {
        StoreStatus err = StoreStatus::Io(errno_text("truncate", log_name));
        ::close(fd);
        forget(s);
        return err;
      }
      now.log_size = s.log_valid;
      count(damaged_tail ? &FsStore::damaged_logs_ : &FsStore::torn_log_tails_);
    }
    ::close(fd);
  }
  s.ident = now;
  // The copy held from before the files were replaced: dropped once the files hold all of
  // it (a compaction by another process, the usual case: a check of its heads); else its
  // changes are put back, with the exclusive lock.
  bool restored = false;
  if (s.held && holds_all(*s.doc, *s.held)) {
    s.held.reset();
  } else if (s.held && !exclusive) {
    if (needs_exclusive) *needs_exclusive = true;
  } else if (s.held) {
    std::unique_ptr<Document> held = std::move(s.held);
    auto merged = [&] {
      CpuSlot cpu(*this);
      return s.doc->merge(*held);
    }();
    if (merged.ok()) {
      restored = true;
      s.doc_mem = doc_memory(*s.doc);
      s.drop_views();
      std::fprintf(stderr,
                   "amstore: %s: its files lack %zu changes this process held in memory (a "
                   "repair by another process kept only part of a damaged file?): put back\n",
                   id.c_str(), merged->new_changes);
    } else {
      // Not one history with what the files hold (replaced by hand with another
      // document?): the files win, as they would without a copy held. (A merge that fails
      // leaves the document as it was: it is still what the files hold.)
      std::fprintf(stderr,
                   "amstore: %s: the copy this process held does not merge into its files "
                   "(%s): dropped\n",
                   id.c_str(), merged.status().message().c_str());
    }
  }
  if (salvaged || restored) {
    // Until it is replaced, every process that reads the snapshot would salvage it again;
    // and changes put back are on disk only once it is.
    s.log_valid = now.log_exists ? now.log_size : 0;  // (compact_locked empties the log)
    StoreStatus st = compact_locked(id, s);
    if (!st.ok()) {
      if (restored && s.doc) s.held = std::move(s.doc);  // (put back by a later request)
      forget(s);
    } else {
      if (salvaged) count(&FsStore::damaged_snapshots_);
      if (restored) count(&FsStore::restored_from_memory_);
    }
    return st;
  }
  account(id, s);
  return StoreStatus::Ok();
}

// A snapshot is one document chunk, then the chunks of any changes waiting for their
// dependencies. Those that are whole and checksummed are kept, as in a damaged log; what
// the damage hit is lost on the server until a client that has it uploads it again
// (changes of the log that depend on it wait for it meanwhile). The damaged file itself
// stays, under a second name (a hard link: the bytes on disk, not what this read of them
// returned; a copy of what was read where the file system has no hard links).
Result<Document> FsStore::salvage_damaged_snapshot(const std::string& id, ByteView snap,
                                                   size_t damaged_at) {
  const std::string snap_name = id + std::string(kSnapSuffix);
  const std::string aside = set_aside_name(snap_name, snap);
  if (::linkat(dir_fd_, snap_name.c_str(), dir_fd_, aside.c_str(), 0) == 0 || errno == EEXIST) {
    if (::fsync(dir_fd_) != 0) return Status::Error(errno_text("fsync", "the data directory"));
  } else if (StoreStatus st = replace_file(id, aside.substr(id.size()), snap); !st.ok()) {
    return Status::Error(st.message);  // (no hard links here: a copy of what was read)
  }
  std::vector<Bytes> mended;
  const std::vector<ByteView> chunks = whole_chunks(snap, &mended);
  Result<Document> doc = Document::load(ByteView{}, true);
  if (!doc.ok()) return doc;
  size_t kept = 0;
  {
    CpuSlot cpu(*this);
    kept = merge_each(*doc, chunks);
  }
  std::fprintf(stderr,
               "amstore: %s is damaged from byte %zu on: %zu of %zu whole chunks kept%s; the "
               "damaged file kept as %s\n",
               snap_name.c_str(), damaged_at, kept, chunks.size(),
               mended_note(mended.size()).c_str(), aside.c_str());
  return doc;
}

// Bad bytes with whole chunks after them are not a crash's doing (a crash tears only the
// last append) but damage on disk. Cutting the log back to its whole-chunk prefix, as for a
// torn tail, would throw away acknowledged uploads after the damage; instead their chunks
// join the document (those whose dependencies were in the damaged bytes wait for them, as
// any change with missing dependencies does), the document becomes the new snapshot, and
// the log's bytes from the damage on are kept beside it, for whoever can mend them.
StoreStatus FsStore::recover_damaged_log(const std::string& id, Slot& s, ByteView rest,
                                         const std::vector<ByteView>& found, size_t mended) {
  const uint64_t damaged_at = s.log_valid;  // (the whole chunks before the damage)
  const std::string log_name = id + std::string(kLogSuffix);
  const std::string aside = set_aside_name(log_name, rest);
  StoreStatus st = replace_file(id, aside.substr(id.size()), rest);
  if (!st.ok()) {
    forget(s);
    return st;
  }
  size_t kept = 0;
  {
    CpuSlot cpu(*this);
    kept = merge_each(*s.doc, found);
  }
  s.doc_mem = doc_memory(*s.doc);
  s.drop_views();
  // compact_locked truncates the log: everything in it is now in the document.
  s.log_valid = s.ident.log_size;
  std::fprintf(stderr,
               "amstore: %s is damaged from byte %llu on: %zu of %zu whole chunks after the "
               "damage kept%s; its bytes from there on saved as %s\n",
               log_name.c_str(), static_cast<unsigned long long>(damaged_at), kept, found.size(),
               mended_note(mended).c_str(), aside.c_str());
  st = compact_locked(id, s);
  if (!st.ok()) forget(s); else count(&FsStore::damaged_logs_);
  return st;
}

void FsStore::fill_info(const Slot& s, DocInfo* info) const { describe(*s.doc, info); }

StoreStatus FsStore::check(const std::string& id, FileCheck* out) {
  *out = FileCheck{};
  Lock lock;
  if (StoreStatus ls = lock_document(id, lock); !ls.ok()) return ls;
  const std::string snap_name = id + std::string(kSnapSuffix);
  const std::string log_name = id + std::string(kLogSuffix);
  FileIdentity now;
  if (StoreStatus is = read_identity(id, &now); !is.ok()) return is;
  if (!now.snap_exists) return StoreStatus::NotFound();
  Bytes snap, log;
  if (StoreStatus rs = read_file(dir_fd_, snap_name, 0, now.snap_size, &snap); !rs.ok())
    return rs;
  if (now.log_exists)
    if (StoreStatus rs = read_file(dir_fd_, log_name, 0, now.log_size, &log); !rs.ok())
      return rs;
  lock.release();
  out->snapshot_bytes = snap.size();
  out->log_bytes = log.size();

  // As refresh() reads them, and as it would mend them (salvage_damaged_snapshot,
  // recover_damaged_log), but nothing is written.
  CpuSlot cpu(*this);
  Result<Document> doc = Document::load(snap, true);
  if (!doc.ok()) {
    const size_t whole = valid_log_prefix(snap);
    if (whole == snap.size())
      return StoreStatus::Io("stored snapshot " + snap_name + " is unreadable: " +
                             doc.status().message());
    out->snapshot_damaged_at = whole;
    std::vector<Bytes> mended;
    const std::vector<ByteView> chunks = whole_chunks(snap, &mended);
    out->snapshot_chunks = chunks.size();
    out->mended_chunks += mended.size();
    doc = Document::load(ByteView{}, true);
    if (!doc.ok()) return StoreStatus::Io(doc.status().message());
    merge_each(*doc, chunks);
  }
  out->log_whole = valid_log_prefix(log);
  (void)merge_log_chunks(*doc, ByteView(log).first(out->log_whole));
  if (out->log_whole < log.size()) {
    const ByteView rest = ByteView(log).subspan(out->log_whole);
    std::vector<Bytes> mended;
    const std::vector<ByteView> found = chunks_after_damage(rest, &mended);
    out->log_chunks_after_damage = found.size();
    out->mended_chunks += mended.size();
    out->log_tail_damaged = found.empty() && is_damaged_tail(rest);
    merge_each(*doc, found);
  }
  describe(*doc, &out->info);
  return StoreStatus::Ok();
}

StoreStatus FsStore::lock_document(const std::string& id, Lock& lock) const {
  if (!valid_document_id(id)) return StoreStatus::Invalid("invalid document id");
  // Unknown ids get no lock file: check the snapshot before locking. A snapshot appears
  // atomically (rename), so a miss here is simply "not there yet".
  struct stat st;
  const std::string snap_name = id + std::string(kSnapSuffix);
  if (::fstatat(dir_fd_, snap_name.c_str(), &st, 0) != 0)
    return errno == ENOENT ? StoreStatus::NotFound()
                           : StoreStatus::Io(errno_text("stat", snap_name));
  return lock.acquire(dir_fd_, id + std::string(kLockSuffix), false);
}

bool FsStore::is_set_aside(std::string_view name) {
  return name.find(std::string(kSnapSuffix) + std::string(kDamagedInfix)) != name.npos ||
         name.find(std::string(kLogSuffix) + std::string(kDamagedInfix)) != name.npos;
}

StoreStatus FsStore::read_locked(const std::string& id, const std::shared_ptr<Slot>& s,
                                 Lock& lock) {
  StoreStatus ls = lock_document(id, lock);
  if (ls.code == StoreCode::kNotFound && s->doc) forget(*s);
  if (!ls.ok()) return ls;
  const std::string lock_name = id + std::string(kLockSuffix);
  bool needs_exclusive = false;  // a damaged snapshot
  StoreStatus rs = refresh(id, *s, false, &needs_exclusive);
  if (!needs_exclusive &&
      (!rs.ok() || !s->ident.log_exists || s->ident.log_size == s->log_valid))
    return rs;
  // The log ends in a torn tail (a crash mid-append: no writer appends while we hold the
  // shared lock), or the snapshot is damaged. Mend it now, under the exclusive lock, rather
  // than at the next upload: until then the files on disk would not load as they are (in a
  // backup, say, or in the JS library). Rare: once per crash that tore an append.
  lock.release();
  ls = lock.acquire(dir_fd_, lock_name, true);
  if (!ls.ok()) return ls;
  return refresh(id, *s, true);
}

namespace {
// Erases an idle, empty slot from the map when the operation ends.
template <typename Map, typename SlotPtr>
void release_slot(std::mutex& mu, Map& slots, const std::string& id, SlotPtr& s) {
  std::lock_guard<std::mutex> g(mu);
  if (!s->in_lru && s.use_count() == 2) {
    auto it = slots.find(id);
    if (it != slots.end() && it->second == s) slots.erase(it);
  }
  s.reset();
}
}  // namespace

// Runs `read` on the document `id` with its slot mutex and a shared file lock held, the
// cached document brought up to date with the files first.
template <typename F>
StoreStatus FsStore::read_document(const std::string& id, F&& read) {
  if (!valid_document_id(id)) return StoreStatus::Invalid("invalid document id");
  auto s = slot(id);
  StoreStatus st;
  {
    std::unique_lock<std::mutex> g(s->mu);
    Lock lock;
    st = read_locked(id, s, lock);
    if (st.ok()) st = read(*s);
  }
  release_slot(map_mu_, slots_, id, s);
  return st;
}

// Why two stats without the flock are as good as get()'s locked read. A published version
// V was built under the file lock from the snapshot V.ident names and the first V.log_valid
// bytes (whole chunks) of the log. Writers change the files only under the exclusive lock,
// and only by: appending whole chunks to the log (fsync'd before the upload is answered);
// cutting the log back to its whole-chunk prefix (a torn tail or a failed append: bytes no
// upload was acknowledged for, and never part of any version), which is never below
// V.log_valid; and renaming a new snapshot into place (compaction, creation), a new inode,
// before truncating, removing or replacing the log. So V's bytes can only disappear after a
// snapshot rename. We stat the log (T0, after the request arrived), then the snapshot
// (T1 > T0). If the snapshot at T1 is still V's, there was no rename since V was built, so
// at T0 the log still began with V's bytes; if it was then exactly V.log_valid long (same
// inode), the files at T0 held exactly V. Every upload acknowledged before the request was
// in the files at T0, so it is in V: the guarantee the shared lock gives (a read sees every
// acknowledged upload). A torn tail (size != log_valid) or any doubt falls back to the locked path. Like
// that path, this trusts a replaced snapshot never to repeat the old inode, size and times.
std::shared_ptr<const DocVersion> FsStore::cached(const std::string& id) {
  std::shared_ptr<const Version> v;
  {
    std::lock_guard<std::mutex> g(map_mu_);
    auto it = slots_.find(id);
    if (it == slots_.end() || !it->second->pub) return nullptr;
    Slot& s = *it->second;
    v = s.pub;
    if (s.in_lru) lru_.splice(lru_.begin(), lru_, s.lru_it);  // keep hot documents cached
  }
  FileIdentity now;
  if (!read_identity(id, &now).ok() || !now.snap_exists || !now.same_snapshot(v->ident))
    return nullptr;
  uint64_t log_size = now.log_exists ? now.log_size : 0;
  if (log_size != v->log_valid || (log_size > 0 && now.log_ino != v->ident.log_ino))
    return nullptr;
  return v;
}

StoreStatus FsStore::get(const std::string& id, bool with_bytes, GetResult* out) {
  *out = GetResult{};
  if (auto v = cached(id)) {
    out->info = v->info;
    if (with_bytes) out->bytes = v->bytes;
    return StoreStatus::Ok();
  }
  std::shared_ptr<SaveJob> job;
  bool run = false;
  StoreStatus st = read_document(id, [&](Slot& s) {
    fill_info(s, &out->info);
    if (!with_bytes) return StoreStatus::Ok();
    if (s.saved) {
      out->bytes = s.saved;
      publish(id, s, out->info);
      return StoreStatus::Ok();
    }
    // Not saved in this state yet: join the save of this state, or move the one waiting to
    // start on to this state, or start one (see SaveJob).
    auto set_state = [&](SaveJob& j) {  // all or nothing: what may throw comes first
      ChangeSet changes = s.doc->change_set();
      DocInfo info = out->info;
      j.changes = std::move(changes);
      j.info = std::move(info);
      j.ident = s.ident;
      j.log_valid = s.log_valid;
    };
    if (std::shared_ptr<SaveJob> cur = s.saving) {
      std::lock_guard<std::mutex> g(cur->mu);
      if (cur->matches(s)) {
        job = cur;
      } else if (!cur->started) {
        set_state(*cur);
        job = cur;
      }
    }
    if (!job) {
      job = std::make_shared<SaveJob>();
      std::lock_guard<std::mutex> g(job->mu);
      set_state(*job);
      if (s.saving) {
        std::lock_guard<std::mutex> c(s.saving->mu);
        if (!s.saving->done) job->after = s.saving;
      }
      s.saving = job;
      run = true;
    }
    return StoreStatus::Ok();
  });
  if (!st.ok() || !job) return st;
  if (run) {
    run_save(*job);
  } else {
    if (opt_.before_save_wait) opt_.before_save_wait();
    job->wait_done();
  }
  // Final now: the state the job saved, at least as new as the one this request found.
  out->info = job->info;
  if (!job->bytes) return StoreStatus::Io("cannot serialize document: " + job->error);
  out->bytes = job->bytes;
  if (run) {
    // Kept for later readers, unless the document has moved on meanwhile.
    auto s = slot(id);
    {
      std::lock_guard<std::mutex> g(s->mu);
      if (s->saving == job) s->saving.reset();
      if (!s->saved && job->matches(*s)) {
        s->saved = job->bytes;
        publish(id, *s, job->info);
      }
    }
    release_slot(map_mu_, slots_, id, s);
  }
  return StoreStatus::Ok();
}

void FsStore::run_save(SaveJob& job) {
  if (job.after) {
    if (opt_.before_save_wait) opt_.before_save_wait();
    job.after->wait_done();
    job.after.reset();
  }
  ChangeSet changes;
  {
    std::lock_guard<std::mutex> g(job.mu);
    job.started = true;
    changes = std::move(job.changes);
  }
  Result<Bytes> saved = Status::Error("not saved");
  try {
    saved = save_unlocked(changes);
  } catch (const std::exception& e) {
    saved = Status::Error(std::string("internal error: ") + e.what());  // (out of memory)
  }
  {
    std::lock_guard<std::mutex> g(job.mu);
    if (saved.ok())
      job.bytes = std::make_shared<const Bytes>(std::move(saved).value());
    else
      job.error = saved.status().message();
    job.done = true;
  }
  job.cv.notify_all();
}

Result<Bytes> FsStore::save_unlocked(const ChangeSet& changes) {
  if (opt_.before_unlocked_save) opt_.before_unlocked_save();
  CpuSlot cpu(*this);
  return changes.save();
}

void FsStore::publish(const std::string& id, Slot& s, const DocInfo& info) {
  auto v = std::make_shared<Version>();
  v->info = info;
  v->bytes = s.saved;
  v->ident = s.ident;
  v->log_valid = s.log_valid;
  std::shared_ptr<const Version> old;
  {
    std::lock_guard<std::mutex> g(map_mu_);
    old = s.pub;
  }
  // Same bytes (e.g. only the files' identity moved on): share the descriptor. Else the
  // snapshot file when it holds exactly these bytes (no log; as uploaded, or compacted),
  // else a memfd copy.
  if (old && old->bytes == s.saved && old->fd >= 0) {
    v->fd = ::fcntl(old->fd, F_DUPFD_CLOEXEC, 0);
    v->fd_is_copy = old->fd_is_copy;
  } else if (s.log_valid == 0 &&
             (v->fd = snapshot_fd(dir_fd_, id + std::string(kSnapSuffix), s.ident,
                                  *s.saved)) >= 0) {
    v->fd_is_copy = false;
  } else {
    v->fd = sealed_copy(*s.saved);
    v->fd_is_copy = v->fd >= 0;
  }
  {
    std::lock_guard<std::mutex> g(map_mu_);
    s.pub = std::move(v);
  }
  account(id, s);
}

StoreStatus FsStore::changes_since(const std::string& id, const std::vector<ChangeHash>& have,
                                   Bytes* out, DocInfo* info) {
  return read_document(id, [&](Slot& s) {
    fill_info(s, info);
    *out = s.doc->changes_since(have);
    return StoreStatus::Ok();
  });
}

StoreStatus FsStore::json(const std::string& id, std::string* out, DocInfo* info) {
  // Rendered outside the document's locks, like a save (see get()), and kept for the
  // next request if the document is still as it was then.
  std::optional<ChangeSet> changes;
  std::shared_ptr<const std::string> kept;
  StoreStatus st = read_document(id, [&](Slot& s) {
    fill_info(s, info);
    if (s.json && s.json_etag == info->etag)
      kept = s.json;
    else
      changes = s.doc->change_set();
    return StoreStatus::Ok();
  });
  if (!st.ok()) return st;
  if (kept) {
    *out = *kept;
    return StoreStatus::Ok();
  }
  Result<std::string> j = Status::Error("not rendered");
  {
    CpuSlot cpu(*this);
    j = changes->to_json();
  }
  if (!j.ok()) return StoreStatus::Io("cannot render JSON: " + j.status().message());
  count(&FsStore::json_renders_);
  auto rendered = std::make_shared<const std::string>(std::move(j).value());
  auto s = slot(id);
  {
    std::lock_guard<std::mutex> g(s->mu);
    DocInfo now;
    if (s->doc) fill_info(*s, &now);
    if (s->doc && now.etag == info->etag) {
      s->json = rendered;
      s->json_etag = info->etag;
      account(id, *s);
    }
  }
  release_slot(map_mu_, slots_, id, s);
  *out = *rendered;
  return StoreStatus::Ok();
}

StoreStatus FsStore::replace_file(const std::string& id, std::string_view suffix,
                                  ByteView bytes) {
  // Unique among the processes sharing the directory, and among this one's threads.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = id + std::string(kTmpInfix) + std::to_string(::getpid()) + "." +
                    std::to_string(counter.fetch_add(1));
  std::string error;
  if (!amstore::replace_file(dir_fd_, id + std::string(suffix), tmp, bytes, &error))
    return StoreStatus::Io(error);
  return StoreStatus::Ok();
}

StoreStatus FsStore::merge(const std::string& id, ByteView body, MergeResult* out) {
  *out = MergeResult{};
  if (!valid_document_id(id)) return StoreStatus::Invalid("invalid document id");
  if (body.empty()) return StoreStatus::Invalid("empty body: expected Automerge data");
  // What needs no stored state (checksums, change chunks, document chunk headers) runs
  // before the document's lock: uploads to one document overlap in it, and a malformed
  // upload is refused without waiting for the lock.
  Result<PreparedUpload> prepared = Status::Error("not prepared");
  {
    CpuSlot cpu(*this);
    prepared = Document::prepare(body, opt_.max_upload_ops);
  }
  if (!prepared.ok()) return StoreStatus::Invalid(prepared.status().message());

  auto s = slot(id);
  // Into a cached document, a document chunk whose heads it holds is passed over unread,
  // and the others are decoded against a snapshot of its changes: only what is new is left
  // for the locked part. (The snapshot may be behind by then; merge() dedupes, checks the
  // heads again, and decodes again if the cached document no longer holds the snapshot,
  // e.g. after it was reloaded from the files.)
  std::shared_ptr<const KnownChanges> known;
  {
    std::lock_guard<std::mutex> g(s->mu);
    if (!s->doc) {
      // Not cached: not loaded yet, or being created by an upload that holds the lock. Load
      // it (waiting for that upload) under the read lock, so that this upload too is decoded
      // outside the write lock: uploads queued behind a create would otherwise each decode
      // in full while holding it, one at a time. A document that does not exist yet is
      // created below.
      Lock lock;
      (void)read_locked(id, s, lock);
    }
    if (s->doc) {
      prepared->skip_held(*s->doc);
      known = s->doc->known_changes();
    }
  }
  Status ds;
  {
    CpuSlot cpu(*this);
    ds = prepared->decode_against(std::move(known));
  }
  if (!ds.ok()) {
    release_slot(map_mu_, slots_, id, s);
    return StoreStatus::Invalid(ds.message());
  }
  // Group commit: the upload joins the document's queue; whoever gets the slot mutex next
  // merges every upload queued by then and makes them durable with one append and one
  // fsync. Concurrent uploads to one document thus share fsyncs instead of queueing one
  // each (an fsync is most of the locked time).
  PendingMerge me{&prepared.value(), out, StoreStatus::Ok()};
  {
    std::lock_guard<std::mutex> q(s->queue_mu);
    s->queue.push_back(&me);
  }
  bool want_compaction = false;
  {
    std::unique_lock<std::mutex> g(s->mu);
    std::vector<PendingMerge*> batch;
    {
      std::lock_guard<std::mutex> q(s->queue_mu);
      if (!me.done) {
        if (opt_.verify_merges) {  // checked one by one: see merge_locked
          s->queue.erase(std::find(s->queue.begin(), s->queue.end(), &me));
          batch.push_back(&me);
        } else {
          batch.swap(s->queue);
        }
      }
    }
    if (!batch.empty()) {
      try {
        Lock lock;
        StoreStatus st = lock.acquire(dir_fd_, id + std::string(kLockSuffix), true);
        if (st.ok()) st = refresh(id, *s, true);
        if (st.code == StoreCode::kNotFound) {
          // A new document, created from this upload; the others merge into it next.
          {
            std::lock_guard<std::mutex> q(s->queue_mu);
            std::erase(batch, &me);
            s->queue.insert(s->queue.begin(), batch.begin(), batch.end());
          }
          batch.assign(1, &me);
          me.status = create_locked(id, *s, std::move(*me.upload), body, out);
        } else if (!st.ok()) {
          for (PendingMerge* p : batch) p->status = st;
        } else {
          want_compaction = merge_locked(id, *s, batch);
        }
        if (want_compaction && !opt_.background_compaction) {
          StoreStatus cs = compact_locked(id, *s);
          if (!cs.ok()) std::fprintf(stderr, "amstore: compaction of %s failed: %s\n",
                                     id.c_str(), cs.message.c_str());
        }
      } catch (const std::exception& e) {
        // (Out of memory, say.) No upload of the batch is acknowledged, and the cached
        // document may hold changes that were never written: drop it. The others must not
        // wait for an answer that will not come.
        forget(*s);
        for (PendingMerge* p : batch)
          p->status = StoreStatus::Io(std::string("internal error: ") + e.what());
        {
          std::lock_guard<std::mutex> q(s->queue_mu);
          for (PendingMerge* p : batch) p->done = true;
        }
        g.unlock();
        release_slot(map_mu_, slots_, id, s);
        throw;
      }
      std::lock_guard<std::mutex> q(s->queue_mu);
      for (PendingMerge* p : batch) p->done = true;
    }
  }
  if (want_compaction && opt_.background_compaction) schedule_compaction(id);
  release_slot(map_mu_, slots_, id, s);
  return me.status;
}

StoreStatus FsStore::create_locked(const std::string& id, Slot& s, PreparedUpload&& upload,
                                   ByteView body, MergeResult* out) {
  // Its first state goes straight into a snapshot.
  std::optional<CpuSlot> cpu(std::in_place, *this);
  Result<Document> parsed = Document();
  // Kept lean, as cached documents are; a lone document chunk then loads without holding
  // all its ops at once. Anything else is saved below, which needs its ops.
  const bool one_document = is_single_document_chunk(body);
  parsed->set_lean(one_document);
  if (auto r = parsed->merge(std::move(upload)); !r.ok()) parsed = r.status();
  // An upload that is exactly one document chunk with nothing pending is stored as it is:
  // loading verified all of it (checksums, every change against the heads, document
  // order), so re-encoding it would give the same document and only cost time. But for
  // its compressed columns, which loading inflates more leniently than the library does:
  // checked again strictly, else the document is saved anew.
  auto saved = !parsed.ok() ? Result<Bytes>(parsed.status())
               : parsed->pending().empty() && one_document &&
                       check_document_deflate_strict(body).ok()
                   ? Result<Bytes>(Bytes(body.begin(), body.end()))
                   : parsed->save();
  cpu.reset();
  if (!saved.ok()) return StoreStatus::Invalid(saved.status().message());
  // A log without a snapshot is a leftover (e.g. the snapshot was deleted by hand).
  ::unlinkat(dir_fd_, (id + std::string(kLogSuffix)).c_str(), 0);
  StoreStatus st = replace_file(id, kSnapSuffix, saved.value());
  if (!st.ok()) return st;
  out->created = true;
  out->new_changes = parsed->changes().size() + parsed->pending().size();
  // The parsed upload is exactly the snapshot just written: cache it rather than loading
  // the file again.
  FileIdentity now;
  if (read_identity(id, &now).ok() && now.snap_exists && !now.log_exists) {
    s.doc = std::make_unique<Document>(std::move(parsed).value());
    s.doc->set_lean(true);
    s.doc_mem = doc_memory(*s.doc);
    s.ident = now;
    s.log_valid = 0;
    s.saved = std::make_shared<const Bytes>(std::move(saved).value());
    account(id, s);
  } else {
    st = refresh(id, s, true);
    if (!st.ok()) return st;
  }
  fill_info(s, &out->info);
  return StoreStatus::Ok();
}

bool FsStore::merge_locked(const std::string& id, Slot& s,
                           const std::vector<PendingMerge*>& batch) {
  // Each upload is merged straight into the cached document, all-or-nothing, and only the
  // changes the store lacks are regenerated and validated (against the stored ops). Their
  // chunks go to the log in the order the uploads hold them (a document's are causal).
  Bytes append;
  uint64_t fresh_mem = 0;
  for (PendingMerge* p : batch) {
    const size_t ops_before = s.doc->op_count(), extra_before = s.doc->index_extra_memory();
    auto merged = s.doc->merge(std::move(*p->upload));
    if (!merged.ok()) {
      p->status = StoreStatus::Invalid(merged.status().message());
      continue;
    }
    p->out->new_changes = merged->new_changes;
    for (const ChangeHash& h : merged->added) {
      const StoredChange* c = s.doc->find(h);
      append.insert(append.end(), c->chunk.begin(), c->chunk.end());
      fresh_mem += change_memory(*c);
    }
    fresh_mem += (s.doc->op_count() - ops_before) * kIndexBytesPerOp +
                 (s.doc->index_extra_memory() - extra_before);
    // Belt and braces (off by default; batches of one then): the merged document must
    // still serialize.
    if (opt_.verify_merges && !merged->added.empty() && !(s.saved = save_checked(*s.doc))) {
      p->status =
          StoreStatus::Invalid("upload makes the document invalid: " + last_save_error());
      forget(s);
      return false;
    }
  }
  bool want_compaction = false;
  if (!append.empty()) {
    const std::string log_name = id + std::string(kLogSuffix);
    int fd = ::openat(dir_fd_, log_name.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    if (ok && !write_all(fd, append.data(), append.size())) ok = false;
    if (ok && ::fsync(fd) != 0) ok = false;
    // A newly created log must also be reachable after a crash.
    if (ok && !s.ident.log_exists && ::fsync(dir_fd_) != 0) ok = false;
    if (!ok) {
      // Not durable: undo the partial append, and drop the in-memory state that already
      // contains the changes. No upload of the batch is acknowledged: even one that brought
      // nothing new may have relied on changes of another that are now lost.
      StoreStatus err = StoreStatus::Io(errno_text("append", log_name));
      if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(s.log_valid)) == 0) ::fsync(fd);
      forget(s);
      for (PendingMerge* p : batch)
        if (p->status.ok()) p->status = err;
    } else {
      struct stat lst;
      if (::fstat(fd, &lst) == 0 &&
          static_cast<uint64_t>(lst.st_size) == s.log_valid + append.size()) {
        s.ident.log_exists = true;
        s.ident.log_ino = lst.st_ino;
        s.ident.log_size = static_cast<uint64_t>(lst.st_size);
        s.log_valid = s.ident.log_size;
        s.doc_mem += fresh_mem;
        if (!opt_.verify_merges) s.saved.reset();  // (verified: the save of the merged document)
        s.json.reset();
        account(id, s);
      } else {
        forget(s);  // unexpected size: rebuild from the files next time
      }
      want_compaction = s.doc && s.log_valid > std::max(opt_.compact_min_bytes, s.ident.snap_size);
    }
    if (fd >= 0) ::close(fd);
  }
  DocInfo info;
  StoreStatus st;
  if (!s.doc) st = refresh(id, s, true);
  if (st.ok() && s.doc) fill_info(s, &info);
  for (PendingMerge* p : batch) {
    if (!p->status.ok()) continue;
    if (!st.ok()) {
      p->status = st;
    } else {
      p->out->info = info;
    }
  }
  return want_compaction;
}

StoreStatus FsStore::compact_locked(const std::string& id, Slot& s) {
  if (!s.doc) return StoreStatus::Ok();
  if (!s.saved) {
    CpuSlot cpu(*this);
    auto saved = s.doc->save();
    if (!saved.ok()) return StoreStatus::Io("cannot serialize: " + saved.status().message());
    s.saved = std::make_shared<const Bytes>(std::move(saved).value());
  }
  std::shared_ptr<const Bytes> bytes = s.saved;
  StoreStatus st = replace_file(id, kSnapSuffix, *bytes);
  if (!st.ok()) return st;
  // The snapshot now holds everything in the log. Crashing before the truncate is harmless:
  // merging the old log again brings only known changes.
  const std::string log_name = id + std::string(kLogSuffix);
  int fd = ::openat(dir_fd_, log_name.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (::ftruncate(fd, 0) != 0 || ::fsync(fd) != 0) {
      ::close(fd);
      forget(s);
      return StoreStatus::Io(errno_text("truncate", log_name));
    }
    ::close(fd);
  }
  {
    std::lock_guard<std::mutex> g(map_mu_);
    ++compactions_;
  }
  // Re-read the identity; the document in memory is already exactly the snapshot.
  s.log_valid = 0;
  if (!read_identity(id, &s.ident).ok() || !s.ident.snap_exists) {
    forget(s);
    return StoreStatus::Ok();
  }
  account(id, s);
  return StoreStatus::Ok();
}

StoreStatus FsStore::compact(const std::string& id) {
  if (!valid_document_id(id)) return StoreStatus::Invalid("invalid document id");
  auto s = slot(id);
  StoreStatus st;
  // 1. Under the locks: up to date with the files. Already saved in this state (say, for a
  //    GET): written at once. Else the change set is copied out, to be saved unlocked.
  std::optional<ChangeSet> changes;
  FileIdentity ident;
  uint64_t covered = 0;  // log bytes the copy holds
  auto locked = [&](auto&& then) {
    std::unique_lock<std::mutex> g(s->mu);
    struct stat sb;
    if (::fstatat(dir_fd_, (id + std::string(kSnapSuffix)).c_str(), &sb, 0) != 0)
      return StoreStatus::NotFound();
    Lock lock;
    StoreStatus ls = lock.acquire(dir_fd_, id + std::string(kLockSuffix), true);
    if (ls.ok()) ls = refresh(id, *s, true);
    return ls.ok() && s->doc ? then() : ls;
  };
  st = locked([&] {
    if (s->log_valid == 0) return StoreStatus::Ok();
    if (s->saved) return compact_locked(id, *s);
    changes = s->doc->change_set();
    ident = s->ident;
    covered = s->log_valid;
    return StoreStatus::Ok();
  });
  if (st.ok() && changes) {
    // 2. The save, outside the locks: uploads go on meanwhile.
    Result<Bytes> saved = save_unlocked(*changes);
    changes.reset();
    if (!saved.ok()) {
      st = StoreStatus::Io("cannot serialize: " + saved.status().message());
    } else {
      // 3. Under the locks again. If the log has only grown since the copy, the new
      //    snapshot replaces the old one and a new log holds what was appended meanwhile.
      //    (Else the files were replaced, by another process's compaction: nothing to do.)
      st = locked([&] {
        if (!s->ident.same_snapshot(ident) || s->ident.log_ino != ident.log_ino ||
            s->log_valid < covered)
          return StoreStatus::Ok();
        if (s->log_valid == covered) {
          if (!s->saved) s->saved = std::make_shared<const Bytes>(std::move(saved).value());
          return compact_locked(id, *s);
        }
        return compact_into(id, *s, saved.value(), covered);
      });
    }
  }
  release_slot(map_mu_, slots_, id, s);
  return st;
}

StoreStatus FsStore::compact_into(const std::string& id, Slot& s, ByteView snapshot,
                                  uint64_t covered) {
  const std::string log_name = id + std::string(kLogSuffix);
  Bytes tail;
  if (StoreStatus rs = read_file(dir_fd_, log_name, covered, s.log_valid - covered, &tail);
      !rs.ok())
    return rs;
  if (tail.size() != s.log_valid - covered)  // (the lock is held: cannot happen)
    return StoreStatus::Io(log_name + " is shorter than the document read from it");
  // The snapshot first: a crash between the two renames leaves the new snapshot with the
  // old log, whose changes it mostly holds already (merging them again adds nothing).
  StoreStatus st = replace_file(id, kSnapSuffix, snapshot);
  if (st.ok()) st = replace_file(id, kLogSuffix, tail);
  {
    std::lock_guard<std::mutex> g(map_mu_);
    if (st.ok()) ++compactions_;
  }
  // The document in memory is unchanged; the files it reflects are new.
  s.log_valid = tail.size();
  if (!st.ok() || !read_identity(id, &s.ident).ok() || !s.ident.snap_exists ||
      s.ident.log_size != s.log_valid) {
    forget(s);  // rebuilt from the files next time
    return st;
  }
  account(id, s);
  return StoreStatus::Ok();
}

void FsStore::schedule_compaction(const std::string& id) {
  {
    std::lock_guard<std::mutex> g(bg_mu_);
    if (bg_stop_ || !bg_queued_.insert(id).second) return;
    bg_queue_.push_back(id);
  }
  bg_cv_.notify_all();
}

void FsStore::compaction_loop() {
  std::unique_lock<std::mutex> g(bg_mu_);
  for (;;) {
    bg_cv_.wait(g, [&] { return bg_stop_ || !bg_queue_.empty(); });
    if (bg_stop_) return;
    std::string id = std::move(bg_queue_.front());
    bg_queue_.pop_front();
    bg_queued_.erase(id);
    bg_busy_ = true;
    g.unlock();
    StoreStatus st = compact(id);
    if (!st.ok() && st.code != StoreCode::kNotFound)
      std::fprintf(stderr, "amstore: compaction of %s failed: %s\n", id.c_str(),
                   st.message.c_str());
    g.lock();
    bg_busy_ = false;
    bg_cv_.notify_all();
  }
}

void FsStore::drain_compactions() {
  std::unique_lock<std::mutex> g(bg_mu_);
  bg_cv_.wait(g, [&] { return bg_stop_ || (bg_queue_.empty() && !bg_busy_); });
}

std::vector<std::string> FsStore::list() {
  std::vector<std::string> ids;
  int fd = ::dup(dir_fd_);
  if (fd < 0) return ids;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return ids;
  }
  ::rewinddir(d);
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name.size() <= kSnapSuffix.size() || !name.ends_with(kSnapSuffix)) continue;
    std::string_view id = name.substr(0, name.size() - kSnapSuffix.size());
    if (valid_document_id(id)) ids.emplace_back(id);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

void FsStore::count(uint64_t FsStore::*counter) {
  std::lock_guard<std::mutex> g(map_mu_);
  ++(this->*counter);
}

StoreStats FsStore::stats() {
  StoreStats s;
  s.documents = list().size();
  std::lock_guard<std::mutex> g(map_mu_);
  s.compactions = compactions_;
  s.torn_log_tails = torn_log_tails_;
  s.damaged_logs = damaged_logs_;
  s.damaged_snapshots = damaged_snapshots_;
  s.restored_from_memory = restored_from_memory_;
  s.json_renders = json_renders_;
  s.cache_bytes = cache_bytes_;
  s.cache_entries = lru_.size();
  return s;
}

}  // namespace amstore
