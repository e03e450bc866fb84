// FsStore against real files in a temporary directory.
#include "storage/fs_store.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "automerge/change.h"
#include "automerge/document.h"

namespace fs = std::filesystem;

namespace amstore {
namespace {

Bytes read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Writes `b` as the whole file `p`, or (with std::ios::app) after what it holds.
void write_file(const fs::path& p, ByteView b, std::ios::openmode how = std::ios::trunc) {
  std::ofstream out(p, std::ios::binary | how);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void append_file(const fs::path& p, ByteView b) { write_file(p, b, std::ios::app); }

// The files in `dir` whose names start with `prefix`.
std::vector<fs::path> files_named(const fs::path& dir, std::string_view prefix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().starts_with(prefix)) out.push_back(e.path());
  return out;
}

// Where a repair sets `bytes` aside: named by what they hold, `prefix` and the first 16 hex
// digits of their SHA-256.
fs::path set_aside_path(const fs::path& dir, std::string_view prefix, ByteView bytes) {
  const ChangeHash digest = sha256(bytes);
  return dir / (std::string(prefix) + to_hex(ByteView(digest.data(), 8)));
}

// The one file in `dir` whose name starts with `prefix` holds exactly `bytes`, and is named
// by what it holds (set_aside_path).
void expect_set_aside(const fs::path& dir, std::string_view prefix, ByteView bytes) {
  const std::vector<fs::path> aside = files_named(dir, prefix);
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(read_all(aside[0]), Bytes(bytes.begin(), bytes.end()));
  EXPECT_EQ(aside[0], set_aside_path(dir, prefix, bytes));
}

// A change by the actor of 16 bytes `tag` with one op: root map key `key` set to the int
// `value` (callers give it deps, or another object, as they need).
Change set_change(uint8_t tag, uint64_t seq, uint64_t start_op, const std::string& key,
                  int64_t value) {
  Change c;
  c.actors = {std::string(16, static_cast<char>(tag))};
  c.seq = seq;
  c.start_op = start_op;
  Op op;
  op.map_key = true;
  op.key = key;
  op.action = 1;  // set
  op.value.type = static_cast<uint8_t>(ValueType::kInt);
  op.value.i = value;
  c.ops.push_back(op);
  return c;
}

// A chain of changes by one actor, each setting root key "<tag><seq>" to seq.
class Author {
 public:
  explicit Author(uint8_t tag) : tag_(tag) {}

  StoredChange next() {
    ++seq_;
    Change c = set_change(tag_, seq_, seq_,
                          "k" + std::to_string(tag_) + "_" + std::to_string(seq_),
                          static_cast<int64_t>(seq_));
    if (have_head_) c.deps = {head_};
    StoredChange sc = store_change(std::move(c));
    head_ = sc.hash;
    have_head_ = true;
    return sc;
  }
  const ChangeHash& head() const { return head_; }

 private:
  uint8_t tag_;
  uint64_t seq_ = 0;
  ChangeHash head_{};
  bool have_head_ = false;
};

// Each store's "doc" holds every change of `chains` (one chain per author), nothing pending:
// its heads are the chains' last changes.
void expect_holds_all_chains(const std::vector<FsStore*>& stores,
                             const std::vector<std::vector<StoredChange>>& chains) {
  std::vector<ChangeHash> want;
  size_t total = 0;
  for (const auto& c : chains) {
    want.push_back(c.back().hash);
    total += c.size();
  }
  std::sort(want.begin(), want.end());
  for (FsStore* s : stores) {
    GetResult g;
    ASSERT_TRUE(s->get("doc", true, &g).ok());
    EXPECT_EQ(g.info.heads, want);
    EXPECT_EQ(g.info.changes, total);
    EXPECT_EQ(g.info.pending, 0u);
  }
}

class FsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/amstore-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<FsStore> open(uint64_t compact_min = 1 << 20, uint64_t cache = 64 << 20,
                                std::function<void()> before_unlocked_save = nullptr,
                                std::function<void()> before_save_wait = nullptr) {
    FsStoreOptions o;
    o.data_dir = dir_.string();
    o.compact_min_bytes = compact_min;
    o.cache_bytes = cache;
    o.background_compaction = false;
    o.before_unlocked_save = std::move(before_unlocked_save);
    o.before_save_wait = std::move(before_save_wait);
    std::string err;
    auto s = FsStore::open(o, &err);
    EXPECT_TRUE(s) << err;
    return s;
  }

  fs::path dir_;
};

TEST(DocumentIdTest, Rule) {
  EXPECT_TRUE(valid_document_id("a"));
  EXPECT_TRUE(valid_document_id("doc-1_2.v3"));
  EXPECT_TRUE(valid_document_id(std::string(200, 'x')));
  EXPECT_FALSE(valid_document_id(std::string(201, 'x')));
  EXPECT_FALSE(valid_document_id(""));
  EXPECT_FALSE(valid_document_id(".hidden"));
  EXPECT_FALSE(valid_document_id(".."));
  EXPECT_FALSE(valid_document_id("../etc/passwd"));
  EXPECT_FALSE(valid_document_id("a/b"));
  EXPECT_FALSE(valid_document_id(std::string("a\0b", 3)));
  EXPECT_FALSE(valid_document_id("a%2Fb"));
  EXPECT_FALSE(valid_document_id("a b"));
}

TEST(LogPrefixTest, StopsAtTornTail) {
  Author a(1);
  Bytes log;
  for (int i = 0; i < 3; ++i) put_bytes(log, a.next().chunk);
  size_t whole = log.size();
  EXPECT_EQ(valid_log_prefix(log), whole);
  Bytes next = a.next().chunk.to_vector();
  for (size_t cut = 1; cut < next.size(); cut += 3) {
    Bytes torn = log;
    torn.insert(torn.end(), next.begin(), next.begin() + static_cast<long>(cut));
    EXPECT_EQ(valid_log_prefix(torn), whole) << cut;
  }
  Bytes flipped = log;
  put_bytes(flipped, next);
  flipped[whole + next.size() - 1] ^= 1;  // checksum no longer matches
  EXPECT_EQ(valid_log_prefix(flipped), whole);
  Bytes zeros = log;
  zeros.resize(zeros.size() + 100, 0);
  EXPECT_EQ(valid_log_prefix(zeros), whole);
}

// A crash leaves a prefix of the chunk it was appending (or zeros, on a file system that
// kept the length but not the data); anything else at a log's end is damage.
TEST(LogPrefixTest, DamagedTailsAreToldFromTornOnes) {
  Author a(1);
  const Bytes chunk = a.next().chunk.to_vector();
  for (size_t cut = 1; cut < chunk.size(); ++cut)
    EXPECT_FALSE(is_damaged_tail(ByteView(chunk).first(cut))) << cut;
  EXPECT_FALSE(is_damaged_tail(Bytes(100, 0)));
  EXPECT_FALSE(is_damaged_tail(Bytes(3, 0)));
  Bytes flipped = chunk;
  flipped.back() ^= 0x01;
  EXPECT_TRUE(is_damaged_tail(flipped));  // all its bytes, failing the checksum
  for (size_t at = 0; at < sizeof kMagic; ++at) {
    Bytes bad = chunk;
    bad[at] ^= 0x01;
    EXPECT_TRUE(is_damaged_tail(bad)) << at;
    EXPECT_TRUE(is_damaged_tail(ByteView(bad).first(at + 1))) << at;
  }
}

TEST(LogPrefixTest, ChunksAfterDamageAreFoundOnlyAfterDamage) {
  Author a(1);
  std::vector<Bytes> chunks;
  for (int i = 0; i < 4; ++i) chunks.push_back(a.next().chunk.to_vector());
  // A torn chunk at the end (every cut): nothing follows it.
  for (size_t cut = 1; cut < chunks[0].size(); cut += 3) {
    Bytes torn(chunks[0].begin(), chunks[0].begin() + static_cast<long>(cut));
    std::vector<Bytes> mended;
    EXPECT_TRUE(chunks_after_damage(torn, &mended).empty()) << cut;
    EXPECT_TRUE(mended.empty());
  }
  auto same = [](ByteView a, const Bytes& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  };
  // A damaged chunk (a byte flipped, or cut short), then whole ones: those, in order,
  // whatever the damage; and the damaged one itself, mended, when the byte flipped is one
  // of its magic number's.
  for (size_t at = 0; at < chunks[1].size(); ++at) {
    for (bool cut_short : {false, true}) {
      Bytes rest = chunks[1];
      if (cut_short && at == 0) continue;  // (no bad bytes at all)
      if (cut_short) rest.resize(at); else rest[at] ^= 0x40;
      const size_t whole_from = rest.size();
      put_bytes(rest, chunks[2]);
      put_bytes(rest, chunks[3]);
      std::vector<Bytes> mended;
      std::vector<ByteView> found = chunks_after_damage(rest, &mended);
      const bool magic = !cut_short && at < sizeof kMagic;
      ASSERT_EQ(found.size(), magic ? 3u : 2u) << at << " " << cut_short;
      ASSERT_EQ(mended.size(), magic ? 1u : 0u);
      if (magic) {
        EXPECT_EQ(found[0].data(), mended[0].data());
        EXPECT_EQ(mended[0], chunks[1]);
        found.erase(found.begin());
      }
      EXPECT_EQ(found[0].data(), rest.data() + whole_from);
      EXPECT_TRUE(same(found[1], chunks[3]));
    }
  }
  // Where a chunk must start, right after one found, a magic number damaged is mended too;
  // nowhere else (a chunk's bytes anywhere else are only taken with their magic number).
  {
    Bytes rest{0xff};
    put_bytes(rest, chunks[1]);
    put_bytes(rest, chunks[2]);
    rest[1 + chunks[1].size()] ^= 0x01;  // chunks[2]'s magic number
    std::vector<Bytes> mended;
    std::vector<ByteView> found = chunks_after_damage(rest, &mended);
    ASSERT_EQ(found.size(), 2u);
    EXPECT_EQ(found[0].data(), rest.data() + 1);
    ASSERT_EQ(mended.size(), 1u);
    EXPECT_EQ(mended[0], chunks[2]);
    Bytes apart{0xff, 0xff};  // chunks[1] one byte past where the bad byte ends
    put_bytes(apart, chunks[1]);
    apart[2] ^= 0x01;
    mended.clear();
    EXPECT_TRUE(chunks_after_damage(apart, &mended).empty());
    EXPECT_TRUE(mended.empty());
  }
  // Magic numbers that do not start chunks (inside a client's string value, say) are passed
  // over; those that claim more than the bytes that follow cost nothing to refuse.
  Bytes planted{0};
  for (int i = 0; i < 1000; ++i) {
    put_bytes(planted, ByteView(kMagic, 4));
    const uint8_t fake[] = {1, 2, 3, 4, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    put_bytes(planted, ByteView(fake, sizeof fake));
  }
  for (int i = 0; i < 1000; ++i) {  // each claims 1 GiB
    put_bytes(planted, ByteView(kMagic, 4));
    const uint8_t fake[] = {1, 2, 3, 4, 1, 0x80, 0x80, 0x80, 0x80, 0x04};
    put_bytes(planted, ByteView(fake, sizeof fake));
  }
  put_bytes(planted, chunks[0]);
  std::vector<Bytes> mended;
  std::vector<ByteView> found = chunks_after_damage(planted, &mended);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_TRUE(mended.empty());
  EXPECT_EQ(found[0].data(), planted.data() + planted.size() - chunks[0].size());
}

TEST_F(FsStoreTest, CreateGetAndMerge) {
  auto store = open();
  Author a(1);
  StoredChange c1 = a.next();
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", c1.chunk, &m).ok());
  EXPECT_TRUE(m.created);
  EXPECT_EQ(m.new_changes, 1u);
  EXPECT_EQ(m.info.heads, std::vector<ChangeHash>{c1.hash});
  EXPECT_TRUE(fs::exists(dir_ / "doc.automerge"));

  StoredChange c2 = a.next();
  ASSERT_TRUE(store->merge("doc", c2.chunk, &m).ok());
  EXPECT_FALSE(m.created);
  EXPECT_EQ(m.new_changes, 1u);
  EXPECT_EQ(m.info.heads, std::vector<ChangeHash>{c2.hash});

  GetResult g;
  ASSERT_TRUE(store->get("doc", true, &g).ok());
  ASSERT_TRUE(g.bytes);
  auto loaded = Document::load(*g.bytes);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->heads(), std::vector<ChangeHash>{c2.hash});
  EXPECT_EQ(loaded->changes().size(), 2u);
  EXPECT_EQ(g.info.etag, m.info.etag);
  // GET is one document chunk, not snapshot + log.
  EXPECT_EQ((*g.bytes)[8], 0) << "chunk type should be document";

  GetResult missing;
  EXPECT_EQ(store->get("other", true, &missing).code, StoreCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ / "other.automerge.lock"));
  EXPECT_EQ(store->list(), std::vector<std::string>{"doc"});
}

// FsStoreOptions::before_unlocked_save for tests: the first save outside a document's locks
// waits there until open(); later ones pass. Counts them, and (through wait_hook(), for
// FsStoreOptions::before_save_wait) the readers that waited for another's save.
class SaveGate {
 public:
  std::function<void()> wait_hook() {
    return [this] {
      std::lock_guard<std::mutex> g(mu_);
      ++waits_;
      cv_.notify_all();
    };
  }
  // Until `n` readers have come to wait for a save (false after 30 s).
  bool wait_waiters(int n) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, std::chrono::seconds(30), [&] { return waits_ >= n; });
  }
  std::function<void()> hook() {
    return [this] {
      std::unique_lock<std::mutex> g(mu_);
      if (++saves_ == 1) {
        cv_.notify_all();
        cv_.wait(g, [&] { return open_; });
      }
    };
  }
  // Until the first save is held (false after 30 s).
  bool wait_first() {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, std::chrono::seconds(30), [&] { return saves_ >= 1; });
  }
  void open() {
    std::lock_guard<std::mutex> g(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int saves() {
    std::lock_guard<std::mutex> g(mu_);
    return saves_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int saves_ = 0;
  int waits_ = 0;
  bool open_ = false;
};

// Uploads `c` to "doc" while a save is held in `gate`: true once merged with heads {c},
// false if it waited 30 s for the save (the gate is then opened, so that the test ends).
bool upload_meanwhile(FsStore& store, SaveGate& gate, const StoredChange& c) {
  auto f = std::async(std::launch::async, [&] {
    MergeResult r;
    return store.merge("doc", c.chunk, &r).ok() && r.info.heads == std::vector{c.hash};
  });
  if (f.wait_for(std::chrono::seconds(30)) == std::future_status::ready) return f.get();
  gate.open();
  return false;
}

// A GET that has to save the document saves a copy of its change set outside the
// document's locks: uploads go on meanwhile (a large document's save takes long enough to
// stall them), and each reader gets the state its request found or a newer one. One save
// of a document runs at a time; readers that come during it share the next one.
TEST_F(FsStoreTest, ReadersSaveOutsideTheDocumentsLocks) {
  SaveGate gate;
  auto store = open(1 << 20, 64 << 20, gate.hook(), gate.wait_hook());

  Author a(1);
  StoredChange c1 = a.next(), c2 = a.next(), c3 = a.next(), c4 = a.next();
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", c1.chunk, &m).ok());
  ASSERT_TRUE(store->merge("doc", c2.chunk, &m).ok());  // not saved in this state yet

  GetResult first, second, third;
  std::thread r1([&] { EXPECT_TRUE(store->get("doc", true, &first).ok()); });
  ASSERT_TRUE(gate.wait_first()) << "the reader never started its save";
  // The first reader is saving (held in the gate): uploads complete, and readers of the
  // newer states wait for the next save, which starts once the first is done.
  ASSERT_TRUE(upload_meanwhile(*store, gate, c3)) << "an upload waited for a reader's save";
  std::thread r2([&] { EXPECT_TRUE(store->get("doc", true, &second).ok()); });
  // Each reader's request must have reached the document (found its state) before the
  // next step, or the threads' timing decides which states they find.
  EXPECT_TRUE(gate.wait_waiters(1)) << "the second reader never came to wait";
  ASSERT_TRUE(upload_meanwhile(*store, gate, c4)) << "an upload waited for a reader's save";
  std::thread r3([&] { EXPECT_TRUE(store->get("doc", true, &third).ok()); });
  EXPECT_TRUE(gate.wait_waiters(2)) << "the third reader never came to wait";
  gate.open();
  r1.join();
  r2.join();
  r3.join();

  auto heads_of = [](const GetResult& g) {
    auto d = Document::load(*g.bytes);
    return d.ok() ? d->heads() : std::vector<ChangeHash>{};
  };
  // The first reader got the state its request found; its ETag goes with its bytes.
  ASSERT_TRUE(first.bytes && second.bytes && third.bytes);
  EXPECT_EQ(heads_of(first), std::vector{c2.hash});
  EXPECT_EQ(first.info.heads, std::vector{c2.hash});
  // The other two shared one save of the newest state (the second reader's request found
  // c3, a state no one saved: the save waiting to start moved on to c4).
  EXPECT_EQ(heads_of(second), std::vector{c4.hash});
  EXPECT_EQ(second.info.heads, std::vector{c4.hash});
  EXPECT_EQ(third.bytes, second.bytes);
  EXPECT_EQ(third.info.etag, second.info.etag);
  EXPECT_EQ(gate.saves(), 2);
  // That save is the document's current state: kept and served, not made again.
  GetResult again;
  ASSERT_TRUE(store->get("doc", true, &again).ok());
  EXPECT_EQ(again.bytes, second.bytes);
  EXPECT_EQ(gate.saves(), 2);
}

TEST_F(FsStoreTest, VersionSentFromTheSnapshotKeepsItsBytes) {
  // With no log, GET sends straight from the snapshot file. A response in flight must
  // still send the old bytes after another instance replaces the snapshot (compaction
  // renames a new file over it), and its descriptor must not be the new file.
  auto s1 = open(), s2 = open();
  Author a(1);
  MergeResult m;
  GetResult g;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(s1->merge("doc", a.next().chunk, &m).ok());
  ASSERT_TRUE(s1->compact("doc").ok());
  ASSERT_TRUE(s1->get("doc", true, &g).ok());
  auto v = s1->cached("doc");
  ASSERT_TRUE(v);
  ASSERT_GE(v->fd, 0);
  struct stat sent, file;
  ASSERT_EQ(::fstat(v->fd, &sent), 0);
  ASSERT_EQ(::stat((dir_ / "doc.automerge").c_str(), &file), 0);
  EXPECT_EQ(sent.st_ino, file.st_ino);  // the snapshot itself, not a copy
  const Bytes old = *v->bytes;
  EXPECT_EQ(read_all(dir_ / "doc.automerge"), old);

  ASSERT_TRUE(s2->merge("doc", a.next().chunk, &m).ok());
  ASSERT_TRUE(s2->compact("doc").ok());
  ASSERT_NE(read_all(dir_ / "doc.automerge"), old);
  Bytes in_fd(old.size() + 1);
  ASSERT_EQ(::pread(v->fd, in_fd.data(), in_fd.size(), 0), static_cast<ssize_t>(old.size()));
  in_fd.resize(old.size());
  EXPECT_EQ(in_fd, old);
  EXPECT_EQ(s1->cached("doc"), nullptr);  // stale: the next GET builds the new state
  ASSERT_TRUE(s1->get("doc", true, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{a.head()});
}

// A new document that arrives as one document chunk is stored as uploaded; anything else
// (change chunks, concatenations) is stored as one document of amstore's own encoding.
TEST_F(FsStoreTest, CreatedFromOneDocumentChunkStoresTheUpload) {
  auto store = open();
  Author a(1);
  Document d;
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(d.merge(a.next().chunk).ok());
  // Uncompressed, so that the upload differs from what save() with DEFLATE would write.
  Bytes upload = *d.save(false);
  ASSERT_NE(upload, *d.save(true));
  MergeResult m;
  ASSERT_TRUE(store->merge("one", upload, &m).ok());
  EXPECT_TRUE(m.created);
  EXPECT_EQ(read_all(dir_ / "one.automerge"), upload);
  GetResult g;
  ASSERT_TRUE(store->get("one", true, &g).ok());
  EXPECT_EQ(*g.bytes, upload);

  Bytes two = upload;
  StoredChange extra = a.next();
  put_bytes(two, extra.chunk);
  ASSERT_TRUE(store->merge("two", two, &m).ok());
  Bytes stored = read_all(dir_ / "two.automerge");
  EXPECT_NE(stored, two);
  auto loaded = Document::load(stored);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->heads(), std::vector<ChangeHash>{extra.hash});
}

TEST_F(FsStoreTest, NothingNewWritesNothing) {
  auto store = open();
  Author a(1);
  Bytes all;
  for (int i = 0; i < 3; ++i) {
    StoredChange c = a.next();
    MergeResult m;
    ASSERT_TRUE(store->merge("doc", c.chunk, &m).ok());
    put_bytes(all, c.chunk);
  }
  auto snap_time = fs::last_write_time(dir_ / "doc.automerge");
  auto log_time = fs::last_write_time(dir_ / "doc.automerge.log");
  Bytes snap = read_all(dir_ / "doc.automerge"), log = read_all(dir_ / "doc.automerge.log");
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", all, &m).ok());
  EXPECT_EQ(m.new_changes, 0u);
  GetResult g;
  ASSERT_TRUE(store->get("doc", true, &g).ok());
  ASSERT_TRUE(store->merge("doc", *g.bytes, &m).ok());  // the saved document itself
  EXPECT_EQ(m.new_changes, 0u);
  EXPECT_EQ(read_all(dir_ / "doc.automerge"), snap);
  EXPECT_EQ(read_all(dir_ / "doc.automerge.log"), log);
  EXPECT_EQ(fs::last_write_time(dir_ / "doc.automerge"), snap_time);
  EXPECT_EQ(fs::last_write_time(dir_ / "doc.automerge.log"), log_time);
}

TEST_F(FsStoreTest, InvalidInputChangesNothing) {
  auto store = open();
  Author a(1);
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", a.next().chunk, &m).ok());
  ASSERT_TRUE(store->merge("doc", a.next().chunk, &m).ok());
  Bytes snap = read_all(dir_ / "doc.automerge"), log = read_all(dir_ / "doc.automerge.log");
  GetResult before;
  ASSERT_TRUE(store->get("doc", true, &before).ok());

  StoredChange good = a.next();
  std::vector<Bytes> bad;
  bad.push_back(Bytes{});
  bad.push_back(Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9});
  bad.push_back(Bytes(good.chunk.begin(), good.chunk.end() - 3));  // truncated
  Bytes flipped = good.chunk.to_vector();
  flipped[flipped.size() / 2] ^= 0x10;
  bad.push_back(flipped);
  Bytes trailing = good.chunk.to_vector();
  trailing.push_back(0x85);  // a valid chunk then garbage: all-or-nothing
  bad.push_back(trailing);
  for (const Bytes& b : bad) {
    StoreStatus st = store->merge("doc", b, &m);
    EXPECT_EQ(st.code, StoreCode::kInvalid) << st.message;
    EXPECT_FALSE(st.message.empty());
  }
  EXPECT_EQ(store->merge("../escape", good.chunk, &m).code, StoreCode::kInvalid);
  EXPECT_EQ(store->merge(std::string("a\0b", 3), good.chunk, &m).code, StoreCode::kInvalid);
  EXPECT_EQ(read_all(dir_ / "doc.automerge"), snap);
  EXPECT_EQ(read_all(dir_ / "doc.automerge.log"), log);
  GetResult after;
  ASSERT_TRUE(store->get("doc", true, &after).ok());
  EXPECT_EQ(*after.bytes, *before.bytes);
  EXPECT_EQ(store->list(), std::vector<std::string>{"doc"});
}

// An upload refused at its second change (a seq gap) leaves no trace of its first one, which
// then uploads on its own. (The document once kept the first change's ops staged and turned
// it away as reusing its own op ids.)
TEST_F(FsStoreTest, ARefusedUploadDoesNotBlockItsValidPart) {
  auto store = open();
  Author a(1);
  MergeResult m;
  StoredChange first = a.next();
  ASSERT_TRUE(store->merge("doc", first.chunk, &m).ok());
  StoredChange x = a.next();
  Change gap;
  gap.actors = {std::string(16, '\x02')};
  gap.seq = 2;  // this actor's seq 1 exists nowhere
  gap.start_op = 100;
  gap.deps = {x.hash};
  Op op;
  op.map_key = true;
  op.key = "gap";
  op.action = 1;  // set
  gap.ops.push_back(op);
  Bytes both = x.chunk.to_vector();
  put_bytes(both, store_change(std::move(gap)).chunk);
  StoreStatus st = store->merge("doc", both, &m);
  ASSERT_EQ(st.code, StoreCode::kInvalid);
  EXPECT_NE(st.message.find("seq"), std::string::npos) << st.message;
  st = store->merge("doc", x.chunk, &m);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(m.new_changes, 1u);
  auto fresh = open();
  expect_holds_all_chains({store.get(), fresh.get()}, {{first, x}});
}

// A change an earlier upload left waiting, invalid once its deps arrive, does not stop the
// upload that brings them; it is dropped, also when the log is read again.
TEST_F(FsStoreTest, AnInvalidWaitingChangeDoesNotBlockItsDeps) {
  auto store = open();
  Author a(1);
  MergeResult m;
  StoredChange first = a.next(), second = a.next(), third = a.next();
  ASSERT_TRUE(store->merge("doc", first.chunk, &m).ok());
  ASSERT_TRUE(store->merge("doc", third.chunk, &m).ok());  // waits for `second`
  Change bad = set_change(2, 1, 100, "k", 0);
  bad.deps = {second.hash};  // known from `third`, which a GET returns as pending
  bad.ops[0].obj = OpId{99, 0};  // an object that does not exist
  ASSERT_TRUE(store->merge("doc", store_change(std::move(bad)).chunk, &m).ok());  // waits too
  StoreStatus st = store->merge("doc", second.chunk, &m);
  ASSERT_TRUE(st.ok()) << st.message;
  auto fresh = open();
  expect_holds_all_chains({store.get(), fresh.get()}, {{first, second, third}});
}

TEST_F(FsStoreTest, SurvivesReopen) {
  ChangeHash head;
  {
    auto store = open();
    Author a(1);
    for (int i = 0; i < 10; ++i) {
      MergeResult m;
      ASSERT_TRUE(store->merge("doc", a.next().chunk, &m).ok());
    }
    head = a.head();
  }
  auto store = open();
  GetResult g;
  ASSERT_TRUE(store->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{head});
  EXPECT_EQ(g.info.changes, 10u);
}

TEST_F(FsStoreTest, TornLogTailIsCutOffByTheFirstRead) {
  Author a(1);
  {
    auto store = open();
    MergeResult m;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->merge("doc", a.next().chunk, &m).ok());
  }
  ChangeHash durable = a.head();
  uint64_t good_size = fs::file_size(dir_ / "doc.automerge.log");
  StoredChange lost = a.next();  // a crash mid-append: only part of it reached the disk
  append_file(dir_ / "doc.automerge.log",
              ByteView(lost.chunk.data(), lost.chunk.size() / 2));

  // A reader skips the tail, and cuts it off: the files on disk are whole chunks again.
  auto store = open();
  GetResult g;
  ASSERT_TRUE(store->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{durable});
  EXPECT_EQ(fs::file_size(dir_ / "doc.automerge.log"), good_size);
  ASSERT_TRUE(store->get("doc", false, &g).ok());  // and reads on from there
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{durable});
  EXPECT_EQ(store->stats().torn_log_tails, 1u);
  EXPECT_EQ(store->stats().damaged_logs, 0u);
  EXPECT_TRUE(files_named(dir_, "doc.automerge.log.damaged.").empty());  // nothing kept

  // The next writer appends after whole chunks.
  Author b(2);
  StoredChange c = b.next();
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", c.chunk, &m).ok());
  EXPECT_EQ(fs::file_size(dir_ / "doc.automerge.log"), good_size + c.chunk.size());
  Bytes log = read_all(dir_ / "doc.automerge.log");
  EXPECT_EQ(valid_log_prefix(log), log.size());

  // The client retries the lost upload: it arrives whole.
  ASSERT_TRUE(store->merge("doc", lost.chunk, &m).ok());
  EXPECT_EQ(m.new_changes, 1u);
  auto fresh = open();
  ASSERT_TRUE(fresh->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.changes, 5u);
}

TEST_F(FsStoreTest, TornLogTailIsCutOffByAWriter) {
  Author a(1);
  {
    auto store = open();
    MergeResult m;
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(store->merge("doc", a.next().chunk, &m).ok());
  }
  uint64_t good_size = fs::file_size(dir_ / "doc.automerge.log");
  StoredChange lost = a.next();
  append_file(dir_ / "doc.automerge.log", ByteView(lost.chunk.data(), 7));
  auto store = open();
  StoredChange c = Author(2).next();
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", c.chunk, &m).ok());
  EXPECT_EQ(fs::file_size(dir_ / "doc.automerge.log"), good_size + c.chunk.size());
  Bytes log = read_all(dir_ / "doc.automerge.log");
  EXPECT_EQ(valid_log_prefix(log), log.size());
}

// A log's last chunk whose bytes are all there but fail its checksum was changed on disk (a
// crash cuts an append short), maybe after its upload was acknowledged: it is cut off like a
// torn tail, so that the log is whole chunks again, but its bytes are set aside first.
TEST_F(FsStoreTest, DamagedLastLogChunkIsSetAsideBeforeTheCut) {
  Author a(1);
  {
    auto store = open();
    MergeResult m;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->merge("doc", a.next().chunk, &m).ok());
  }
  const ChangeHash kept = a.head();
  const fs::path log_path = dir_ / "doc.automerge.log";
  const uint64_t good_size = fs::file_size(log_path);
  StoredChange hit = a.next();
  Bytes damaged(hit.chunk.begin(), hit.chunk.end());
  damaged[damaged.size() - 3] ^= 0x01;  // in its body: the length still covers all of it
  append_file(log_path, damaged);

  auto store = open();
  FileCheck checked;
  ASSERT_TRUE(store->check("doc", &checked).ok());
  EXPECT_TRUE(checked.log_tail_damaged);
  EXPECT_EQ(checked.log_whole, good_size);
  EXPECT_EQ(checked.log_chunks_after_damage, 0u);
  EXPECT_EQ(fs::file_size(log_path), good_size + damaged.size());  // check changes nothing

  GetResult g;
  ASSERT_TRUE(store->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{kept});
  EXPECT_EQ(fs::file_size(log_path), good_size);
  EXPECT_EQ(store->stats().damaged_logs, 1u);
  EXPECT_EQ(store->stats().torn_log_tails, 0u);
  ASSERT_NO_FATAL_FAILURE(expect_set_aside(dir_, "doc.automerge.log.damaged.", damaged));
  ASSERT_TRUE(store->check("doc", &checked).ok());
  EXPECT_FALSE(checked.log_tail_damaged);
  EXPECT_EQ(checked.log_whole, checked.log_bytes);

  // A client that has the change uploads it again.
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", hit.chunk, &m).ok());
  EXPECT_EQ(m.new_changes, 1u);
  EXPECT_EQ(m.info.heads, std::vector<ChangeHash>{hit.hash});

  // A chunk cut short (a crash's torn append) is not damage, even with its magic number and
  // length in place: nothing more is set aside.
  StoredChange torn = a.next();
  append_file(log_path, ByteView(torn.chunk.data(), torn.chunk.size() - 1));
  auto fresh = open();
  ASSERT_TRUE(fresh->check("doc", &checked).ok());
  EXPECT_FALSE(checked.log_tail_damaged);
  EXPECT_LT(checked.log_whole, checked.log_bytes);
  ASSERT_TRUE(fresh->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{hit.hash});
  EXPECT_EQ(fresh->stats().torn_log_tails, 1u);
  EXPECT_EQ(fresh->stats().damaged_logs, 0u);
  EXPECT_EQ(files_named(dir_, "doc.automerge.log.damaged.").size(), 1u);
}

// A chunk whose magic number alone was damaged on disk loses nothing: the checksum covers
// the rest, which is checked whole with the magic number put back. At a log's end as in its
// middle; a last chunk damaged beyond its magic number is set aside (a crash's torn append
// keeps the magic number's bytes), not cut off unseen.
TEST_F(FsStoreTest, ChunksWithADamagedMagicNumberAreMended) {
  Author a(1);
  StoredChange a1 = a.next(), a2 = a.next(), a3 = a.next(), a4 = a.next();
  {
    auto store = open();
    MergeResult m;
    for (const StoredChange* c : {&a1, &a2, &a3, &a4})
      ASSERT_TRUE(store->merge("doc", c->chunk, &m).ok());
  }
  const fs::path log_path = dir_ / "doc.automerge.log";
  Bytes log = read_all(log_path);
  ASSERT_EQ(log.size(), a2.chunk.size() + a3.chunk.size() + a4.chunk.size());
  log[a2.chunk.size() + 1] ^= 0x20;                         // a3's magic number
  log[a2.chunk.size() + a3.chunk.size() + 3] ^= 0x01;       // a4's, the last chunk's
  write_file(log_path, log);

  auto store = open();
  FileCheck checked;
  ASSERT_TRUE(store->check("doc", &checked).ok());
  EXPECT_EQ(checked.log_whole, a2.chunk.size());
  EXPECT_EQ(checked.log_chunks_after_damage, 2u);
  EXPECT_EQ(checked.mended_chunks, 2u);
  EXPECT_EQ(checked.info.heads, std::vector<ChangeHash>{a4.hash});
  GetResult g;
  ASSERT_TRUE(store->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{a4.hash});
  EXPECT_EQ(g.info.changes, 4u);
  EXPECT_EQ(store->stats().damaged_logs, 1u);
  ASSERT_NO_FATAL_FAILURE(expect_set_aside(dir_, "doc.automerge.log.damaged.",
                                           ByteView(log).subspan(a2.chunk.size())));
  ASSERT_TRUE(store->check("doc", &checked).ok());
  EXPECT_EQ(checked.mended_chunks, 0u);
  EXPECT_EQ(checked.log_whole, checked.log_bytes);

  // The last chunk's magic number and a byte of its body: not mendable, and not a crash's
  // torn append either. Set aside before the cut.
  StoredChange a5 = a.next();
  Bytes bad = a5.chunk.to_vector();
  bad[0] ^= 0x04;
  bad[bad.size() - 2] ^= 0x04;
  const uint64_t good_size = fs::file_size(log_path);
  append_file(log_path, bad);
  auto fresh = open();
  ASSERT_TRUE(fresh->check("doc", &checked).ok());
  EXPECT_TRUE(checked.log_tail_damaged);
  EXPECT_EQ(checked.log_chunks_after_damage, 0u);
  ASSERT_TRUE(fresh->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{a4.hash});
  EXPECT_EQ(fs::file_size(log_path), good_size);
  EXPECT_EQ(fresh->stats().damaged_logs, 1u);
  EXPECT_EQ(fresh->stats().torn_log_tails, 0u);
  // (The mend above set aside a file of its own.)
  const fs::path aside = set_aside_path(dir_, "doc.automerge.log.damaged.", bad);
  ASSERT_TRUE(fs::exists(aside));
  EXPECT_EQ(read_all(aside), bad);
  EXPECT_EQ(files_named(dir_, "doc.automerge.log.damaged.").size(), 2u);
}

// Bytes damaged in the middle of a log (not a crash's torn tail, which has nothing after
// it) cost only the chunk they are in: the whole chunks after them are kept, the document
// is rewritten as a snapshot, and the log's bytes from the damage on are set aside.
TEST_F(FsStoreTest, DamagedLogKeepsTheChunksAfterTheDamage) {
  Author a(1), b(2);
  StoredChange a1 = a.next(), a2 = a.next(), a3 = a.next(), b1 = b.next(), a4 = a.next();
  {
    auto store = open();
    MergeResult m;
    for (const StoredChange* c : {&a1, &a2, &a3, &b1, &a4})
      ASSERT_TRUE(store->merge("doc", c->chunk, &m).ok());
  }
  const fs::path log_path = dir_ / "doc.automerge.log";
  Bytes log = read_all(log_path);
  ASSERT_EQ(log.size(), a2.chunk.size() + a3.chunk.size() + b1.chunk.size() + a4.chunk.size());
  const size_t damaged_at = a2.chunk.size();
  log[damaged_at + a3.chunk.size() / 2] ^= 0x10;  // inside a3's body: its checksum fails
  write_file(log_path, log);
  auto damaged_files = [&] { return files_named(dir_, "doc.automerge.log.damaged."); };

  // The first read keeps b1 (a4 waits for a3), and rewrites the files.
  auto store = open();
  GetResult g;
  ASSERT_TRUE(store->get("doc", false, &g).ok());
  std::vector<ChangeHash> want{a2.hash, b1.hash};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(g.info.heads, want);
  EXPECT_EQ(g.info.changes, 3u);
  EXPECT_EQ(g.info.pending, 1u);
  EXPECT_EQ(fs::file_size(log_path), 0u);
  EXPECT_EQ(store->stats().damaged_logs, 1u);
  EXPECT_EQ(store->stats().torn_log_tails, 0u);
  ASSERT_NO_FATAL_FAILURE(
      expect_set_aside(dir_, "doc.automerge.log.damaged.", ByteView(log).subspan(damaged_at)));
  {
    auto other = open();  // what the files hold now, read afresh
    ASSERT_TRUE(other->get("doc", false, &g).ok());
    EXPECT_EQ(g.info.heads, want);
    EXPECT_EQ(g.info.pending, 1u);
  }

  // A client that still has a3 uploads it: a4 goes in with it.
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", a3.chunk, &m).ok());
  want = {a4.hash, b1.hash};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(m.info.heads, want);
  EXPECT_EQ(m.info.pending, 0u);

  // A torn tail after that is cut off as always: nothing more is set aside.
  append_file(log_path, ByteView(a1.chunk.data(), a1.chunk.size() / 2));
  auto fresh = open();
  ASSERT_TRUE(fresh->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, want);
  EXPECT_EQ(g.info.changes, 5u);
  EXPECT_EQ(damaged_files().size(), 1u);
  Bytes now = read_all(log_path);
  EXPECT_EQ(valid_log_prefix(now), now.size());
}

// Bytes damaged in a snapshot (a document chunk, then the chunks of changes still waiting
// for their dependencies) cost only the chunk they are in: the first read keeps the whole
// chunks and the log, writes them as the new snapshot and keeps the damaged file under a
// second name. A snapshot whose chunks are all whole but that does not load is no damage,
// and is left as it is.
// A snapshot whose document chunk was hit in its magic number alone loses nothing either:
// the chunk is mended and the document rewritten from it, the damaged file set aside.
TEST_F(FsStoreTest, SnapshotWithADamagedMagicNumberLosesNothing) {
  Author a(1), b(2);
  StoredChange a1 = a.next(), a2 = a.next(), a3 = a.next(), b1 = b.next(), b2 = b.next();
  {
    auto store = open();
    MergeResult m;
    for (const StoredChange* ch : {&a1, &a2, &b2})
      ASSERT_TRUE(store->merge("doc", ch->chunk, &m).ok());
    ASSERT_TRUE(store->compact("doc").ok());  // the snapshot: a1, a2, then b2 waiting for b1
    ASSERT_TRUE(store->merge("doc", a3.chunk, &m).ok());
  }
  const fs::path snap_path = dir_ / "doc.automerge";
  Bytes snap = read_all(snap_path);
  snap[2] ^= 0x80;
  write_file(snap_path, snap);

  auto store = open();
  FileCheck checked;
  ASSERT_TRUE(store->check("doc", &checked).ok());
  ASSERT_TRUE(checked.snapshot_damaged_at.has_value());
  EXPECT_EQ(*checked.snapshot_damaged_at, 0u);
  EXPECT_EQ(checked.snapshot_chunks, 2u);  // the document chunk, mended, and b2's
  EXPECT_EQ(checked.mended_chunks, 1u);
  EXPECT_EQ(checked.info.heads, std::vector<ChangeHash>{a3.hash});
  GetResult g;
  ASSERT_TRUE(store->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{a3.hash});
  EXPECT_EQ(g.info.changes, 3u);
  EXPECT_EQ(g.info.pending, 1u);
  EXPECT_EQ(store->stats().damaged_snapshots, 1u);
  ASSERT_NO_FATAL_FAILURE(expect_set_aside(dir_, "doc.automerge.damaged.", snap));
  ASSERT_TRUE(store->check("doc", &checked).ok());
  EXPECT_FALSE(checked.snapshot_damaged_at.has_value());
  EXPECT_EQ(checked.mended_chunks, 0u);
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", b1.chunk, &m).ok());
  EXPECT_EQ(m.info.pending, 0u);
  EXPECT_EQ(m.info.changes, 5u);
}

TEST_F(FsStoreTest, DamagedSnapshotKeepsItsWholeChunksAndTheLog) {
  Author a(1), b(2), c(3);
  StoredChange a1 = a.next(), a2 = a.next(), a3 = a.next(), a4 = a.next();
  StoredChange b1 = b.next(), b2 = b.next(), c1 = c.next();
  {
    auto store = open();
    MergeResult m;
    for (const StoredChange* ch : {&a1, &a2, &a3, &b2})
      ASSERT_TRUE(store->merge("doc", ch->chunk, &m).ok());
    ASSERT_TRUE(store->compact("doc").ok());  // the snapshot: a1-a3, then b2 waiting for b1
    for (const StoredChange* ch : {&a4, &c1}) ASSERT_TRUE(store->merge("doc", ch->chunk, &m).ok());
  }
  const fs::path snap_path = dir_ / "doc.automerge";
  const fs::path log_path = dir_ / "doc.automerge.log";
  Bytes snap = read_all(snap_path);
  ASSERT_EQ(valid_log_prefix(snap), snap.size());
  ASSERT_GT(snap.size(), b2.chunk.size());
  ASSERT_TRUE(std::equal(b2.chunk.begin(), b2.chunk.end(),
                         snap.end() - static_cast<long>(b2.chunk.size())));
  snap[(snap.size() - b2.chunk.size()) / 2] ^= 0x04;  // inside the document chunk
  write_file(snap_path, snap);
  auto damaged_files = [&] { return files_named(dir_, "doc.automerge.damaged."); };

  // a1-a3 are lost, so a4 waits for them; b2 still waits for b1; c1 needs nothing.
  auto store = open();
  FileCheck checked;  // read as it is first: nothing changes, and what the read keeps is told
  ASSERT_TRUE(store->check("doc", &checked).ok());
  ASSERT_TRUE(checked.snapshot_damaged_at.has_value());
  EXPECT_EQ(*checked.snapshot_damaged_at, 0u);
  EXPECT_EQ(checked.snapshot_chunks, 1u);  // b2's
  EXPECT_EQ(checked.log_chunks_after_damage, 0u);
  EXPECT_EQ(checked.log_whole, checked.log_bytes);
  EXPECT_EQ(read_all(snap_path), snap);
  EXPECT_TRUE(damaged_files().empty());
  GetResult g;
  ASSERT_TRUE(store->get("doc", true, &g).ok());
  EXPECT_EQ(g.info.etag, checked.info.etag);
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{c1.hash});
  EXPECT_EQ(g.info.changes, 1u);
  EXPECT_EQ(g.info.pending, 2u);
  EXPECT_EQ(fs::file_size(log_path), 0u);
  EXPECT_EQ(store->stats().damaged_snapshots, 1u);
  EXPECT_EQ(store->stats().damaged_logs, 0u);
  const Bytes rewritten = read_all(snap_path);
  EXPECT_EQ(valid_log_prefix(rewritten), rewritten.size());
  EXPECT_EQ(rewritten, *g.bytes);
  ASSERT_NO_FATAL_FAILURE(expect_set_aside(dir_, "doc.automerge.damaged.", snap));
  {
    auto other = open();  // what the files hold now, read afresh
    ASSERT_TRUE(other->get("doc", false, &g).ok());
    EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{c1.hash});
    EXPECT_EQ(g.info.pending, 2u);
  }

  // Clients that still have the lost changes upload them: what waited goes in with them.
  MergeResult m;
  Bytes upload;
  for (const StoredChange* ch : {&a1, &a2, &a3, &b1}) put_bytes(upload, ch->chunk);
  ASSERT_TRUE(store->merge("doc", upload, &m).ok());
  std::vector<ChangeHash> want{a4.hash, b2.hash, c1.hash};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(m.info.heads, want);
  EXPECT_EQ(m.info.changes, 7u);
  EXPECT_EQ(m.info.pending, 0u);
  EXPECT_EQ(damaged_files().size(), 1u);

  // Whole chunks that do not load (c1 without an object it writes to) are not damage: the
  // read fails, and the files stay as they are.
  store.reset();
  Change bad = set_change(9, 1, 1, "k", 0);
  bad.ops[0].obj = OpId{7, 0};  // no such object
  const StoredChange bad_change = store_change(std::move(bad));
  const Bytes bad_chunk(bad_change.chunk.begin(), bad_change.chunk.end());
  fs::remove(log_path);
  write_file(snap_path, bad_chunk);
  store = open();
  const StoreStatus st = store->get("doc", false, &g);
  EXPECT_EQ(st.code, StoreCode::kIo);
  EXPECT_NE(st.message.find("unreadable"), std::string::npos) << st.message;
  EXPECT_EQ(read_all(snap_path), bad_chunk);
  EXPECT_EQ(damaged_files().size(), 1u);
}

// Two stores on one directory (two processes): what a repair of damaged files loses, the
// one that still held the document in memory puts back; a compaction, which loses nothing,
// and a document removed by hand leave nothing to put back, and a copy that does not merge
// into what the files hold now is dropped.
TEST_F(FsStoreTest, ChangesHeldInMemoryAreNotLostToARepair) {
  Author a(1), b(2);
  std::vector<StoredChange> chain;
  for (int i = 0; i < 5; ++i) chain.push_back(a.next());
  const fs::path snap_path = dir_ / "doc.automerge";
  const std::vector<ChangeHash> all_of_a{a.head()};
  // A snapshot of one document chunk holding the whole chain, damaged: a repair keeps
  // nothing of it.
  auto damage_snapshot = [&] {
    Bytes snap = read_all(snap_path);
    snap[snap.size() / 2] ^= 0x04;
    write_file(snap_path, snap);
  };
  auto holder = open(), other = open();
  MergeResult m;
  for (const StoredChange& c : chain) ASSERT_TRUE(holder->merge("doc", c.chunk, &m).ok());
  ASSERT_TRUE(holder->compact("doc").ok());
  GetResult g;
  ASSERT_TRUE(holder->get("doc", false, &g).ok());  // held in memory from here on
  ASSERT_EQ(g.info.changes, 5u);

  // Another process repairs the damaged snapshot: it keeps what it can read, nothing.
  damage_snapshot();
  ASSERT_TRUE(other->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.changes, 0u);
  EXPECT_EQ(other->stats().damaged_snapshots, 1u);
  // The process that held the document puts its changes back, on disk.
  ASSERT_TRUE(holder->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, all_of_a);
  EXPECT_EQ(g.info.changes, 5u);
  EXPECT_EQ(holder->stats().restored_from_memory, 1u);
  ASSERT_TRUE(other->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, all_of_a);
  {
    auto fresh = open();
    FileCheck checked;
    ASSERT_TRUE(fresh->check("doc", &checked).ok());
    EXPECT_FALSE(checked.snapshot_damaged_at.has_value());
    EXPECT_EQ(checked.info.heads, all_of_a);
    EXPECT_EQ(checked.info.changes, 5u);
  }
  // A compaction by another process leaves nothing to put back.
  ASSERT_TRUE(other->merge("doc", b.next().chunk, &m).ok());
  ASSERT_TRUE(other->compact("doc").ok());
  ASSERT_TRUE(holder->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.changes, 6u);
  EXPECT_EQ(holder->stats().restored_from_memory, 1u);

  // Damage that the holder repairs itself: it loses nothing either.
  damage_snapshot();
  ASSERT_TRUE(holder->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.changes, 6u);
  EXPECT_EQ(holder->stats().damaged_snapshots, 1u);
  EXPECT_EQ(holder->stats().restored_from_memory, 2u);
  EXPECT_EQ(files_named(dir_, "doc.automerge.damaged.").size(), 2u);

  // Damage in the log, repaired by another process: it keeps the chunk after the damage
  // (a7, waiting for a6), and the holder puts back the one the damage hit.
  const StoredChange a6 = a.next(), a7 = a.next();
  for (const StoredChange* ch : {&a6, &a7}) ASSERT_TRUE(holder->merge("doc", ch->chunk, &m).ok());
  const fs::path log_path = dir_ / "doc.automerge.log";
  Bytes log = read_all(log_path);
  ASSERT_EQ(log.size(), a6.chunk.size() + a7.chunk.size());
  log[a6.chunk.size() / 2] ^= 0x10;
  write_file(log_path, log);
  ASSERT_TRUE(other->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.changes, 6u);
  EXPECT_EQ(g.info.pending, 1u);
  EXPECT_EQ(other->stats().damaged_logs, 1u);
  ASSERT_TRUE(holder->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.changes, 8u);
  EXPECT_EQ(g.info.pending, 0u);
  EXPECT_EQ(holder->stats().restored_from_memory, 3u);
  ASSERT_TRUE(other->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.changes, 8u);

  // A document whose files were removed is not brought back, even under its old id.
  fs::remove(snap_path);
  fs::remove(log_path);
  EXPECT_EQ(holder->get("doc", false, &g).code, StoreCode::kNotFound);
  Author c(3);
  const StoredChange c1 = c.next();
  ASSERT_TRUE(other->merge("doc", c1.chunk, &m).ok());
  ASSERT_TRUE(holder->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{c1.hash});
  EXPECT_EQ(g.info.changes, 1u);

  // Files replaced by hand with another history of the same actor: the held copy does not
  // merge into it (its seq 1 is taken), so the files win, whole.
  const StoredChange other1 = store_change(set_change(3, 1, 1, "other", 7));
  ASSERT_NE(other1.hash, c1.hash);
  write_file(snap_path, other1.chunk);
  fs::remove(log_path);
  ASSERT_TRUE(holder->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{other1.hash});
  EXPECT_EQ(g.info.changes, 1u);
  EXPECT_EQ(holder->stats().restored_from_memory, 3u);
}

// The data directory's file names other than doc's files and lock files (temporary
// snapshots, for instance).
std::vector<std::string> stray_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n != "doc.automerge" && n != "doc.automerge.log" && !n.ends_with(".lock")) out.push_back(n);
  }
  return out;
}

// A disk without room, played by RLIMIT_FSIZE (a write past the limit fails with EFBIG, as
// one fails with ENOSPC on a full disk): nothing that is not on disk is acknowledged, a
// failed append leaves the log as it was, a failed create or compaction leaves no file, and
// once there is room again the refused upload goes in.
TEST_F(FsStoreTest, FullDiskIsNeverAcknowledged) {
  rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct Restore {  // the limit and SIGXFSZ (which would kill the process) as they were
    rlimit limit;
    void (*handler)(int);
    ~Restore() {
      ::setrlimit(RLIMIT_FSIZE, &limit);
      std::signal(SIGXFSZ, handler);
    }
  } restore{old, std::signal(SIGXFSZ, SIG_IGN)};
  auto room = [&](rlim_t bytes) {
    rlimit r = old;
    r.rlim_cur = std::min(bytes, old.rlim_max);
    return ::setrlimit(RLIMIT_FSIZE, &r) == 0;
  };

  auto store = open();
  Author a(1);
  MergeResult m;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->merge("doc", a.next().chunk, &m).ok());
  const ChangeHash durable = a.head();
  const Bytes snapshot = read_all(dir_ / "doc.automerge");
  const uint64_t log_size = fs::file_size(dir_ / "doc.automerge.log");
  GetResult g;

  // The log has room for a few bytes of the next change, not for all of it.
  StoredChange refused = a.next();
  ASSERT_TRUE(room(log_size + refused.chunk.size() / 2));
  StoreStatus st = store->merge("doc", refused.chunk, &m);
  EXPECT_EQ(st.code, StoreCode::kIo) << st.message;
  EXPECT_EQ(fs::file_size(dir_ / "doc.automerge.log"), log_size);
  ASSERT_TRUE(store->get("doc", true, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{durable});
  ASSERT_TRUE(g.bytes);
  auto served = Document::load(*g.bytes);
  ASSERT_TRUE(served.ok());
  EXPECT_EQ(served->heads(), std::vector<ChangeHash>{durable});

  // No room for any snapshot: no document is created, and compaction keeps the old files.
  ASSERT_TRUE(room(16));
  Author b(2);
  st = store->merge("fresh", b.next().chunk, &m);
  EXPECT_EQ(st.code, StoreCode::kIo) << st.message;
  EXPECT_EQ(store->get("fresh", false, &g).code, StoreCode::kNotFound);
  st = store->compact("doc");
  EXPECT_EQ(st.code, StoreCode::kIo) << st.message;
  EXPECT_EQ(read_all(dir_ / "doc.automerge"), snapshot);
  EXPECT_EQ(fs::file_size(dir_ / "doc.automerge.log"), log_size);
  EXPECT_EQ(stray_files(dir_), std::vector<std::string>{});
  EXPECT_EQ(store->list(), std::vector<std::string>{"doc"});

  // Room again: the client's retry goes in, and what is on disk is what was acknowledged.
  ASSERT_TRUE(room(old.rlim_cur));
  ASSERT_TRUE(store->merge("doc", refused.chunk, &m).ok());
  EXPECT_EQ(m.new_changes, 1u);
  ASSERT_TRUE(store->compact("doc").ok());
  auto fresh = open();
  ASSERT_TRUE(fresh->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{refused.hash});
  EXPECT_EQ(g.info.changes, 4u);
}

// max_upload_ops bounds what one upload may make the store decode; a document chunk whose
// heads the store holds is not decoded, so it is not counted.
TEST_F(FsStoreTest, UploadsBeyondTheOpLimitAreRefused) {
  FsStoreOptions o;
  o.data_dir = dir_.string();
  o.background_compaction = false;
  o.max_upload_ops = 5;
  std::string err;
  auto store = FsStore::open(o, &err);
  ASSERT_TRUE(store) << err;
  Author a(1);
  std::vector<StoredChange> chain;
  for (int i = 0; i < 6; ++i) chain.push_back(a.next());  // one op each
  Bytes six;
  for (const auto& c : chain) six.insert(six.end(), c.chunk.begin(), c.chunk.end());
  MergeResult m;
  StoreStatus st = store->merge("doc", six, &m);
  EXPECT_EQ(st.code, StoreCode::kInvalid);
  EXPECT_EQ(st.message, "upload has more than 5 ops");
  GetResult g;
  EXPECT_EQ(store->get("doc", false, &g).code, StoreCode::kNotFound);

  // Within the limit, upload by upload; then the whole document, whose heads are held.
  Bytes five(six.begin(), six.end() - static_cast<std::ptrdiff_t>(chain[5].chunk.size()));
  ASSERT_TRUE(store->merge("doc", five, &m).ok());
  ASSERT_TRUE(store->merge("doc", chain[5].chunk, &m).ok());
  auto whole = Document::load(six);
  ASSERT_TRUE(whole.ok());
  Bytes saved = whole->save().value();
  ASSERT_TRUE(store->merge("doc", saved, &m).ok());
  EXPECT_EQ(m.new_changes, 0u);
  // The whole document with one change more is decoded, and holds 7 ops.
  ASSERT_TRUE(whole->merge(a.next().chunk).ok());
  st = store->merge("doc", whole->save().value(), &m);
  EXPECT_EQ(st.code, StoreCode::kInvalid);
  ASSERT_TRUE(store->get("doc", false, &g).ok());
  EXPECT_EQ(g.info.changes, 6u);
}

TEST_F(FsStoreTest, CompactionFoldsLogIntoSnapshot) {
  auto store = open(/*compact_min=*/256);
  Author a(1);
  MergeResult m;
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(store->merge("doc", a.next().chunk, &m).ok());
  EXPECT_GT(store->stats().compactions, 0u);
  EXPECT_LE(fs::file_size(dir_ / "doc.automerge.log"),
            std::max<uint64_t>(256, fs::file_size(dir_ / "doc.automerge")) + 200);
  ASSERT_TRUE(store->compact("doc").ok());
  EXPECT_EQ(fs::file_size(dir_ / "doc.automerge.log"), 0u);
  // The snapshot alone is a complete document.
  auto loaded = Document::load(read_all(dir_ / "doc.automerge"));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->heads(), std::vector<ChangeHash>{a.head()});
  EXPECT_EQ(loaded->changes().size(), 40u);
}

// Compaction saves outside the document's locks too: an upload that comes meanwhile is
// merged, and ends up in a new log beside the new snapshot.
TEST_F(FsStoreTest, CompactionSavesOutsideTheDocumentsLocks) {
  SaveGate gate;
  auto store = open(1 << 20, 64 << 20, gate.hook());
  Author a(1);
  StoredChange c1 = a.next(), c2 = a.next(), c3 = a.next();
  MergeResult m;
  ASSERT_TRUE(store->merge("doc", c1.chunk, &m).ok());
  ASSERT_TRUE(store->merge("doc", c2.chunk, &m).ok());

  StoreStatus compacted;
  std::thread t([&] { compacted = store->compact("doc"); });
  ASSERT_TRUE(gate.wait_first()) << "compaction never started its save";
  ASSERT_TRUE(upload_meanwhile(*store, gate, c3)) << "an upload waited for a compaction";
  gate.open();
  t.join();
  ASSERT_TRUE(compacted.ok()) << compacted.message;
  EXPECT_EQ(store->stats().compactions, 1u);
  // The snapshot holds what the save did; the log, exactly what came during it.
  auto snap = Document::load(read_all(dir_ / "doc.automerge"));
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->heads(), std::vector{c2.hash});
  EXPECT_EQ(snap->changes().size(), 2u);
  EXPECT_EQ(read_all(dir_ / "doc.automerge.log"), c3.chunk.to_vector());
  // Both instances (as two processes would) read the whole document.
  auto other = open();
  for (FsStore* st : {store.get(), other.get()}) {
    GetResult g;
    ASSERT_TRUE(st->get("doc", true, &g).ok());
    EXPECT_EQ(g.info.heads, std::vector{c3.hash});
    EXPECT_EQ(g.info.changes, 3u);
    EXPECT_EQ(Document::load(*g.bytes)->heads(), std::vector{c3.hash});
  }
  // With nothing appended during the save, the log is emptied.
  ASSERT_TRUE(store->compact("doc").ok());
  EXPECT_EQ(fs::file_size(dir_ / "doc.automerge.log"), 0u);
  EXPECT_EQ(Document::load(read_all(dir_ / "doc.automerge"))->heads(), std::vector{c3.hash});
  EXPECT_EQ(store->stats().compactions, 2u);
}

TEST_F(FsStoreTest, OtherInstanceWritesAreSeen) {
  // Two stores on one directory behave like two processes: separate caches, shared files.
  auto s1 = open(/*compact_min=*/300), s2 = open(/*compact_min=*/300);
  Author a(1);
  MergeResult m;
  GetResult g;
  for (int i = 0; i < 30; ++i) {
    FsStore& w = (i % 3 == 0) ? *s2 : *s1;
    ASSERT_TRUE(w.merge("doc", a.next().chunk, &m).ok());
    FsStore& r = (i % 3 == 0) ? *s1 : *s2;
    ASSERT_TRUE(r.get("doc", true, &g).ok());
    EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{a.head()}) << i;
    EXPECT_EQ(g.info.changes, static_cast<size_t>(i + 1));
  }
}

TEST_F(FsStoreTest, CachedVersionIsNeverStale) {
  // cached() checks freshness with two stats and no lock. Another instance (a process) on
  // the same directory appends, compacts, and leaves a torn tail; after each, s1 must either
  // decline or serve the latest state, and serve from memory again once get() rebuilt it.
  auto s1 = open(), s2 = open();
  Author a(1);
  MergeResult m;
  GetResult g;
  ASSERT_TRUE(s2->merge("doc", a.next().chunk, &m).ok());
  EXPECT_EQ(s1->cached("doc"), nullptr);  // nothing built yet
  ASSERT_TRUE(s1->get("doc", true, &g).ok());
  auto v = s1->cached("doc");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->bytes, g.bytes);
  EXPECT_EQ(v->info.etag, g.info.etag);
  EXPECT_GE(v->fd, 0);

  auto expect_latest = [&](const char* step) {
    if (auto c = s1->cached("doc")) {
      EXPECT_EQ(c->info.heads, std::vector<ChangeHash>{a.head()}) << step;
    }
    ASSERT_TRUE(s1->get("doc", true, &g).ok());
    EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{a.head()}) << step;
    auto c = s1->cached("doc");
    ASSERT_TRUE(c) << step;
    EXPECT_EQ(c->info.heads, std::vector<ChangeHash>{a.head()}) << step;
    // The memfd holds exactly the bytes.
    Bytes in_fd(c->bytes->size());
    ASSERT_EQ(::pread(c->fd, in_fd.data(), in_fd.size(), 0), static_cast<ssize_t>(in_fd.size()));
    EXPECT_EQ(in_fd, *c->bytes) << step;
  };
  ASSERT_TRUE(s2->merge("doc", a.next().chunk, &m).ok());  // log appended
  expect_latest("append");
  ASSERT_TRUE(s2->compact("doc").ok());  // new snapshot, log truncated
  expect_latest("compaction");
  ASSERT_TRUE(s2->merge("doc", a.next().chunk, &m).ok());
  expect_latest("append after compaction");
  // Compaction, then an append bringing the log back to the very length (and inode) s1 has
  // cached: only the snapshot's identity tells.
  uint64_t len = fs::file_size(dir_ / "doc.automerge.log");
  ASSERT_TRUE(s2->compact("doc").ok());
  ASSERT_TRUE(s2->merge("doc", a.next().chunk, &m).ok());
  ASSERT_EQ(fs::file_size(dir_ / "doc.automerge.log"), len);
  expect_latest("same log length, new snapshot");
  // A torn tail: s1 declines until a writer cuts it off.
  StoredChange lost = a.next();
  append_file(dir_ / "doc.automerge.log", ByteView(lost.chunk.data(), lost.chunk.size() / 2));
  EXPECT_EQ(s1->cached("doc"), nullptr);
  ASSERT_TRUE(s2->merge("doc", lost.chunk, &m).ok());
  expect_latest("torn tail replaced");
  // Its own writes: the published version is dropped with the old bytes.
  ASSERT_TRUE(s1->merge("doc", a.next().chunk, &m).ok());
  EXPECT_EQ(s1->cached("doc"), nullptr);
  expect_latest("own append");
}

TEST_F(FsStoreTest, ConcurrentMergesFromThreadsAndInstances) {
  auto s1 = open(/*compact_min=*/2048), s2 = open(/*compact_min=*/2048);
  constexpr int kThreads = 8, kChanges = 30;
  std::vector<std::vector<StoredChange>> chains(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    Author a(static_cast<uint8_t>(t + 1));
    for (int i = 0; i < kChanges; ++i) chains[t].push_back(a.next());
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kChanges; ++i) {
        FsStore& s = (rng() & 1) ? *s1 : *s2;
        // Sometimes resend everything so far (a full-document upload), sometimes one change.
        Bytes body;
        if (rng() % 4 == 0)
          for (int j = 0; j <= i; ++j) put_bytes(body, chains[t][j].chunk);
        else
          body = chains[t][i].chunk.to_vector();
        MergeResult m;
        if (!s.merge("doc", body, &m).ok()) ++failures;
        if (rng() % 3 == 0) {
          GetResult g;
          if (!s.get("doc", true, &g).ok()) ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto fresh = open();
  expect_holds_all_chains({s1.get(), s2.get(), fresh.get()}, chains);
}

// Concurrent uploads to one document are merged in batches sharing one fsync (group commit).
// An upload the merge refuses (here: a second change for a seq the actor already used) is
// refused alone; the uploads merged beside it are kept.
TEST_F(FsStoreTest, RefusedUploadsDoNotSpoilTheirBatch) {
  auto store = open();
  constexpr int kThreads = 8, kChanges = 25;
  std::vector<std::vector<StoredChange>> chains(kThreads), forged(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    Author a(static_cast<uint8_t>(t + 1));
    for (int i = 0; i < kChanges; ++i) {
      chains[t].push_back(a.next());
      // The same actor, seq and deps as the change just made, other content.
      Change c = chains[t].back().change;
      c.ops[0].key = "forged";
      forged[t].push_back(store_change(std::move(c)));
    }
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kChanges; ++i) {
        MergeResult m;
        if (!store->merge("doc", chains[t][i].chunk, &m).ok()) ++wrong;
        if (store->merge("doc", forged[t][i].chunk, &m).code != StoreCode::kInvalid) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  auto fresh = open();
  expect_holds_all_chains({store.get(), fresh.get()}, chains);
}

// What a cached document is counted as includes its op index's table of map keys: a
// document of many long distinct keys holds each twice (in its change chunks, and there).
TEST_F(FsStoreTest, CacheCountsTheMapKeysOfTheOpIndex) {
  auto store = open();
  Change c;
  c.actors = {std::string(16, '\x07')};
  c.seq = 1;
  c.start_op = 1;
  constexpr size_t kKeys = 5000, kKeyBytes = 100;
  for (size_t i = 0; i < kKeys; ++i) {
    Op op;
    op.map_key = true;
    op.key = std::to_string(i) + std::string(kKeyBytes - std::to_string(i).size(), '.');
    op.action = 1;  // set
    c.ops.push_back(op);
  }
  StoredChange sc = store_change(std::move(c));
  MergeResult m;
  ASSERT_TRUE(store->merge("keys", sc.chunk, &m).ok());
  GetResult g;
  ASSERT_TRUE(store->get("keys", false, &g).ok());
  EXPECT_GE(store->stats().cache_bytes, sc.chunk.size() * 2 + kKeys * 16 + kKeys * kKeyBytes);
}

TEST_F(FsStoreTest, CacheStaysBounded) {
  auto store = open(1 << 20, /*cache=*/16 << 10);
  std::vector<ChangeHash> heads;
  for (int d = 0; d < 40; ++d) {
    Author a(static_cast<uint8_t>(d + 1));
    MergeResult m;
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(store->merge("doc" + std::to_string(d), a.next().chunk, &m).ok());
    heads.push_back(a.head());
    GetResult g;
    ASSERT_TRUE(store->get("doc" + std::to_string(d), true, &g).ok());
  }
  StoreStats st = store->stats();
  EXPECT_EQ(st.documents, 40u);
  EXPECT_LT(st.cache_bytes, 32u << 10);
  EXPECT_LT(st.cache_entries, 40u);
  for (int d = 0; d < 40; ++d) {
    GetResult g;
    ASSERT_TRUE(store->get("doc" + std::to_string(d), false, &g).ok());
    EXPECT_EQ(g.info.heads, std::vector<ChangeHash>{heads[d]});
  }
}

TEST_F(FsStoreTest, ChangesSinceAndJson) {
  auto store = open();
  Author a(1);
  MergeResult m;
  StoredChange c1 = a.next(), c2 = a.next(), c3 = a.next();
  for (auto* c : {&c1, &c2, &c3}) ASSERT_TRUE(store->merge("doc", c->chunk, &m).ok());
  Bytes out;
  DocInfo info;
  ASSERT_TRUE(store->changes_since("doc", {c1.hash}, &out, &info).ok());
  Bytes want = c2.chunk.to_vector();
  put_bytes(want, c3.chunk);
  EXPECT_EQ(out, want);
  std::string json;
  ASSERT_TRUE(store->json("doc", &json, &info).ok());
  EXPECT_NE(json.find("\"k1_3\""), std::string::npos) << json;
  EXPECT_EQ(store->stats().json_renders, 1u);

  // Unchanged, the document's view is served again without rendering it again.
  std::string again;
  DocInfo again_info;
  ASSERT_TRUE(store->json("doc", &again, &again_info).ok());
  EXPECT_EQ(again, json);
  EXPECT_EQ(again_info.etag, info.etag);
  EXPECT_EQ(store->stats().json_renders, 1u);

  // Changed by this store, or by another one on the same files (another process), it is
  // rendered again, with the change.
  StoredChange c4 = a.next(), c5 = a.next();
  ASSERT_TRUE(store->merge("doc", c4.chunk, &m).ok());
  ASSERT_TRUE(store->json("doc", &json, &info).ok());
  EXPECT_NE(json.find("\"k1_4\""), std::string::npos) << json;
  EXPECT_EQ(store->stats().json_renders, 2u);
  ASSERT_TRUE(open()->merge("doc", c5.chunk, &m).ok());
  ASSERT_TRUE(store->json("doc", &json, &info).ok());
  EXPECT_NE(json.find("\"k1_5\""), std::string::npos) << json;
  EXPECT_EQ(info.heads, std::vector<ChangeHash>{c5.hash});
  EXPECT_EQ(store->stats().json_renders, 3u);
  ASSERT_TRUE(store->json("doc", &again, &again_info).ok());
  EXPECT_EQ(again, json);
  EXPECT_EQ(store->stats().json_renders, 3u);
}

}  // namespace
}  // namespace amstore
