// DocumentStore: where the server keeps Automerge documents. Every upload is merged into the
// stored copy (the union of both histories); nothing is ever overwritten.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "automerge/hash.h"
#include "automerge/leb128.h"

namespace amstore {

enum class StoreCode { kOk, kNotFound, kInvalid, kIo };

// Outcome of a store operation. kInvalid: the caller sent something that is not a valid
// id or not valid Automerge (a 400); kIo: our fault (a 500).
struct StoreStatus {
  StoreCode code = StoreCode::kOk;
  std::string message;

  bool ok() const { return code == StoreCode::kOk; }
  static StoreStatus Ok() { return {}; }
  static StoreStatus NotFound() { return {StoreCode::kNotFound, "not found"}; }
  static StoreStatus Invalid(std::string m) { return {StoreCode::kInvalid, std::move(m)}; }
  static StoreStatus Io(std::string m) { return {StoreCode::kIo, std::move(m)}; }
};

// What identifies a document's state: its heads (and any changes still waiting for deps).
struct DocInfo {
  std::vector<ChangeHash> heads;  // sorted
  size_t changes = 0;             // applied changes
  size_t pending = 0;             // changes waiting for their dependencies
  std::string etag;               // quoted, derived from heads and pending hashes
};

struct GetResult {
  DocInfo info;
  // One compact document (Document::save of the merged state). Null when the caller only
  // asked for the info (HEAD, or an If-None-Match that matched).
  std::shared_ptr<const Bytes> bytes;
};

// One version of a document as served by GET: immutable, shared by the store's cache and
// the responses still sending it.
struct DocVersion {
  DocInfo info;
  std::shared_ptr<const Bytes> bytes;  // Document::save of that state
  // A read-only descriptor whose first bytes.size() bytes are exactly `bytes`, for sending
  // with sendfile (no copy): the snapshot file they were read from (never written in place)
  // or a sealed memfd; -1 if none.
  int fd = -1;

  DocVersion() = default;
  DocVersion(const DocVersion&) = delete;
  DocVersion& operator=(const DocVersion&) = delete;
  ~DocVersion();
};

struct MergeResult {
  DocInfo info;
  size_t new_changes = 0;
  bool created = false;
};

struct StoreStats {
  uint64_t compactions = 0;
  // Files mended by this process (docs/server.md, "Atomic" and "Damage on disk").
  uint64_t torn_log_tails = 0;     // a crash's torn append cut off a log
  uint64_t damaged_logs = 0;       // bytes damaged in a log set aside (whole chunks after kept)
  uint64_t damaged_snapshots = 0;  // a damaged snapshot's whole chunks kept, and it rewritten
  // Changes a document's files lacked (a repair by another process kept only part of a
  // damaged file), put back from the copy this process held in memory.
  uint64_t restored_from_memory = 0;
  // JSON views rendered; one is served again while its document stays as it was.
  uint64_t json_renders = 0;
  uint64_t cache_bytes = 0;
  uint64_t cache_entries = 0;
  uint64_t documents = 0;  // documents on disk
};

class DocumentStore {
 public:
  virtual ~DocumentStore() = default;

  // `with_bytes` false: only the info is filled (no serialization work).
  virtual StoreStatus get(const std::string& id, bool with_bytes, GetResult* out) = 0;
  // The current version of `id` if it is cached and provably as fresh as get() would be,
  // found without blocking (no locks held by writers, no file reads); null otherwise (not
  // cached, changed, unknown: use get()). Cheap enough to call on an event loop.
  virtual std::shared_ptr<const DocVersion> cached(const std::string& id) { return nullptr; }
  // Merges `body` (a saved document, change chunks, or a concatenation) into the document,
  // creating it if unknown. Durable when it returns Ok. An upload bringing nothing new
  // writes nothing. An invalid body changes nothing.
  virtual StoreStatus merge(const std::string& id, ByteView body, MergeResult* out) = 0;
  // The applied changes not reachable from `have`, as concatenated change chunks.
  virtual StoreStatus changes_since(const std::string& id, const std::vector<ChangeHash>& have,
                                    Bytes* out, DocInfo* info) = 0;
  virtual StoreStatus json(const std::string& id, std::string* out, DocInfo* info) = 0;
  virtual std::vector<std::string> list() = 0;
  virtual StoreStats stats() = 0;
};

// Ids: 1–200 characters of [A-Za-z0-9._-], not starting with '.'. Such an id can never name
// a path outside the data directory (no '/', no '..' component, no NUL).
bool valid_document_id(std::string_view id);

// The ETag of a state: a quoted hash over the sorted heads (and pending change hashes).
std::string make_etag(const std::vector<ChangeHash>& heads,
                      const std::vector<ChangeHash>& pending_hashes);

}  // namespace amstore
