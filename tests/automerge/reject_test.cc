// Negative tests: malformed variants of the real 3.5.0 bytes of spec §11 must be rejected
// with an error (spec §3, §5.7, §6, §10) — never accepted silently, never a crash. Each
// variant is built by editing a chunk body and re-computing the checksum, so that it is the
// body rule under test, not the checksum, that rejects it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "automerge/change.h"
#include "automerge/chunk.h"
#include "automerge/columns.h"
#include "automerge/deflate.h"
#include "automerge/doc_chunk.h"
#include "automerge/document.h"
#include "test_util.h"

namespace amstore {
namespace {

using testing::cat;
using testing::change_chain;
using testing::first_change;
using testing::hex_bytes;
using testing::root_op;

// ---- the spec's real bytes (§11) ------------------------------------------------------------

// 11.1: document chunk (aa's change + bb's change), value {x: 2, l: [true]}.
const Bytes& kDoc() {
  static const Bytes b = hex_bytes(
      "856f4a834593f129009b010201aa01bb01c9e1808691a3e584025864d2a5218a8bf9c4a8c4453c39dd81dcedc4"
      "4eed287e0701030303130323024003430256020d01040204130415082105230534024204560657028001058101"
      "028301027e00017e01007e030102007e00017f00020700037f0000037f0200037f007f016c020178000102007e"
      "01007c027f037f03017f0203017f0002147f0201027e000102007f017f0401");
  return b;
}
// 11.2: bb's change (seq 1, startOp 4, deps [aa's change], set x = 2 with pred 1@aa).
const Bytes& kBb() {
  static const Bytes b = hex_bytes(
      "856f4a83c9e18086014a016f0f573972d6d33a4db147c4063e8ee13185ce9e17f1218e85936c61a73e53b401bb"
      "010400000101aa08150334014202560257017002710273027f0178017f017f14027f017f017f01");
  return b;
}
// 11.2 "for contrast": aa's change (seq 1, startOp 1, 3 ops).
const Bytes& kAa() {
  static const Bytes b = hex_bytes(
      "856f4a836f0f5739013b0001aa01010000000901040204130415073402420456045701700200027f0000027f"
      "0200027f007e0178016c000102017d0102017d140002010300");
  return b;
}
// 11.3: empty change by aa (seq 1, startOp 1, message "empty").
const Bytes& kEmptyChange() {
  static const Bytes b = hex_bytes("856f4a831960cda1010e0001aa01010005656d7074790000");
  return b;
}
// 11.3 / 10.1: the empty document.
const Bytes& kEmptyDoc() {
  static const Bytes b = hex_bytes("856f4a83b81a9544000400000000");
  return b;
}

// ---- helpers ----------------------------------------------------------------------------------

Bytes body_of(ByteView chunk) {
  Chunk c;
  size_t n = 0;
  Status s = read_chunk(chunk, &c, &n);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  return Bytes(c.body.begin(), c.body.end());
}

// A chunk of any type byte around `body`, with a correct checksum over it.
Bytes rechunk(uint8_t type, ByteView body) {
  Bytes out;
  write_chunk(out, static_cast<ChunkType>(type), body);
  return out;
}
Bytes doc_chunk(ByteView body) { return rechunk(0, body); }
Bytes change_chunk(ByteView body) { return rechunk(1, body); }

ChangeHash hash_of(ByteView chunk) { return sha256(chunk.subspan(8)); }

Change decoded(ByteView chunk) {
  auto r = decode_change(body_of(chunk));
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : Change{};
}
Bytes encoded(const Change& c) { return change_chunk(encode_change_body(c)); }

// A change without ops.
Bytes empty_change(const std::string& actor, uint64_t seq, uint64_t start_op,
                   std::vector<ChangeHash> deps = {}) {
  Change c;
  c.actors = {actor};
  c.seq = seq;
  c.start_op = start_op;
  std::sort(deps.begin(), deps.end());
  c.deps.assign(deps.data(), deps.data() + deps.size());
  return encoded(c);
}

// Column data from values (always canonical: these are the library's own encoders).
Bytes delta_col(std::initializer_list<std::optional<int64_t>> vals) {
  DeltaEncoder e;
  for (const auto& v : vals) v ? e.append(*v) : e.append_null();
  return e.finish();
}
Bytes uint_col(std::initializer_list<std::optional<uint64_t>> vals) {
  UintEncoder e;
  for (const auto& v : vals) v ? e.append(*v) : e.append_null();
  return e.finish();
}
Bytes uleb(uint64_t v) {
  Bytes b;
  put_uleb(b, v);
  return b;
}
Bytes sleb(int64_t v) {
  Bytes b;
  put_sleb(b, v);
  return b;
}

using Columns = std::vector<std::pair<uint32_t, Bytes>>;  // spec as stored (deflate bit kept)

Status read_columns_meta(Reader& r, Columns* cols) {
  uint64_t n;
  AM_TRY(r.count(&n, 2));
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t spec, len;
    AM_TRY(r.uleb(&spec));
    AM_TRY(r.uleb(&len));
    cols->emplace_back(static_cast<uint32_t>(spec), Bytes(len));
  }
  return Status::Ok();
}
Status read_columns_data(Reader& r, Columns* cols) {
  for (auto& [spec, data] : *cols) {
    ByteView d;
    AM_TRY(r.take(data.size(), &d));
    data.assign(d.begin(), d.end());
  }
  return Status::Ok();
}
void write_columns_meta(Bytes& out, const Columns& cols) {
  put_uleb(out, cols.size());
  for (const auto& [spec, data] : cols) {
    put_uleb(out, spec);
    put_uleb(out, data.size());
  }
}
void write_columns_data(Bytes& out, const Columns& cols) {
  for (const auto& c : cols) put_bytes(out, c.second);
}
Bytes& column(Columns& cols, uint32_t spec) {
  for (auto& c : cols)
    if (c.first == spec) return c.second;
  ADD_FAILURE() << "no column " << spec;
  static Bytes none;
  return none;
}
// Replaces, adds (in ascending spec order) or — with empty data — removes a column.
void set_column(Columns& cols, uint32_t spec, Bytes data) {
  auto it = std::find_if(cols.begin(), cols.end(), [&](const auto& c) { return c.first == spec; });
  if (it != cols.end()) {
    if (data.empty()) cols.erase(it); else it->second = std::move(data);
    return;
  }
  if (data.empty()) return;
  it = std::find_if(cols.begin(), cols.end(), [&](const auto& c) { return c.first > spec; });
  cols.insert(it, {spec, std::move(data)});
}

// A document chunk body split into its fields (spec §6.1), editable and re-serialisable.
struct DocBody {
  std::vector<std::string> actors;
  std::vector<ChangeHash> heads;
  Columns change_cols, op_cols;
  Bytes tail;  // heads index (and anything after it)

  static DocBody parse(ByteView chunk) {
    DocBody d;
    Bytes body = body_of(chunk);
    Reader r(body);
    auto run = [&]() -> Status {
      uint64_t n;
      AM_TRY(r.count(&n, 1));
      d.actors.resize(n);
      for (auto& a : d.actors) AM_TRY(r.prefixed_string(&a));
      AM_TRY(r.count(&n, 32));
      d.heads.resize(n);
      for (auto& h : d.heads) {
        ByteView b;
        AM_TRY(r.take(32, &b));
        std::memcpy(h.data(), b.data(), 32);
      }
      AM_TRY(read_columns_meta(r, &d.change_cols));
      AM_TRY(read_columns_meta(r, &d.op_cols));
      AM_TRY(read_columns_data(r, &d.change_cols));
      AM_TRY(read_columns_data(r, &d.op_cols));
      ByteView rest = r.rest();
      d.tail.assign(rest.begin(), rest.end());
      return Status::Ok();
    };
    Status s = run();
    EXPECT_TRUE(s.ok()) << s.message();
    return d;
  }
  Bytes body() const {
    Bytes out;
    put_uleb(out, actors.size());
    for (const auto& a : actors) put_prefixed(out, a);
    put_uleb(out, heads.size());
    for (const auto& h : heads) put_bytes(out, h);
    write_columns_meta(out, change_cols);
    write_columns_meta(out, op_cols);
    write_columns_data(out, change_cols);
    write_columns_data(out, op_cols);
    put_bytes(out, tail);
    return out;
  }
  Bytes chunk() const { return doc_chunk(body()); }
};

// A change chunk body split into header (deps … other actors), op columns and extra bytes.
struct ChangeBody {
  Bytes header;
  Columns cols;
  Bytes extra;

  static ChangeBody parse(ByteView chunk) {
    ChangeBody c;
    Bytes body = body_of(chunk);
    Reader r(body);
    auto run = [&]() -> Status {
      uint64_t n, u;
      int64_t i;
      ByteView b;
      std::string s;
      AM_TRY(r.count(&n, 32));
      AM_TRY(r.take(32 * n, &b));
      AM_TRY(r.prefixed_string(&s));
      AM_TRY(r.uleb(&u));
      AM_TRY(r.uleb(&u));
      AM_TRY(r.sleb(&i));
      AM_TRY(r.prefixed_string(&s));
      AM_TRY(r.count(&n, 1));
      for (uint64_t k = 0; k < n; ++k) AM_TRY(r.prefixed_string(&s));
      c.header.assign(body.begin(), body.begin() + r.pos());
      AM_TRY(read_columns_meta(r, &c.cols));
      AM_TRY(read_columns_data(r, &c.cols));
      ByteView rest = r.rest();
      c.extra.assign(rest.begin(), rest.end());
      return Status::Ok();
    };
    Status s = run();
    EXPECT_TRUE(s.ok()) << s.message();
    return c;
  }
  Bytes body() const {
    Bytes out = header;
    write_columns_meta(out, cols);
    write_columns_data(out, cols);
    put_bytes(out, extra);
    return out;
  }
  Bytes chunk() const { return change_chunk(body()); }
};

// ---- assertions -------------------------------------------------------------------------------

::testing::AssertionResult Rejected(ByteView bytes) {
  auto r = Document::load(bytes);
  if (r.ok())
    return ::testing::AssertionFailure()
           << "loaded " << bytes.size() << " bytes: " << r->changes().size() << " changes, "
           << r->pending().size() << " pending";
  if (r.status().message().empty()) return ::testing::AssertionFailure() << "error without a message";
  // A lean load (as the server loads) checks each change as it is regenerated: same verdict.
  auto lean = Document::load(bytes, true);
  if (lean.ok()) return ::testing::AssertionFailure() << "a lean load accepted it";
  if (lean.status().message().empty()) return ::testing::AssertionFailure() << "lean: error without a message";
  // Merged into an empty document (an id's first upload): refused, and nothing of it kept,
  // though a whole document's ops are staged in the op index as each change is checked: a
  // valid document merged next loads as it loads alone.
  Document d;
  if (d.merge(bytes).ok()) return ::testing::AssertionFailure() << "a merge into an empty document accepted it";
  if (!d.changes().empty() || !d.pending().empty() || !d.heads().empty() || d.op_count() != 0)
    return ::testing::AssertionFailure() << "a refused merge left changes or ops behind";
  if (auto next = d.merge(kDoc()); !next.ok())
    return ::testing::AssertionFailure() << "after a refused merge: " << next.status().message();
  if (d.heads() != Document::load(kDoc())->heads())
    return ::testing::AssertionFailure() << "after a refused merge, a valid document merged to other heads";
  // AMSTORE_REJECT_VERBOSE=1 shows why each variant was refused.
  if (std::getenv("AMSTORE_REJECT_VERBOSE"))
    std::cerr << ::testing::UnitTest::GetInstance()->current_test_info()->name() << ": "
              << r.status().message() << "\n";
  return ::testing::AssertionSuccess() << r.status().message();
}

// A document chunk body that both decode_document and Document::load refuse.
::testing::AssertionResult DocRejected(const DocBody& d) {
  Bytes body = d.body();
  std::vector<std::unique_ptr<StoredChange>> changes;
  Status s = decode_document(body, &changes);
  if (s.ok()) return ::testing::AssertionFailure() << "decode_document accepted it";
  if (s.message().empty()) return ::testing::AssertionFailure() << "decode_document: no message";
  return Rejected(doc_chunk(body));
}

// DocRejected, for the reason `why` (decode_document's message).
::testing::AssertionResult DocRejectedFor(const DocBody& d, std::string_view why) {
  ::testing::AssertionResult r = DocRejected(d);
  if (!r) return r;
  std::vector<std::unique_ptr<StoredChange>> changes;
  const std::string message = decode_document(d.body(), &changes).message();
  if (message != why) return ::testing::AssertionFailure() << "rejected for another reason: " << message;
  return r;
}

// DocRejected, for the reason that the ops are not in document order.
::testing::AssertionResult DocRejectedAsOutOfOrder(const DocBody& d) {
  return DocRejectedFor(d, "document ops are not in document order");
}

// A change body that decode_change refuses, and that does not load even with its deps.
::testing::AssertionResult ChangeRejected(ByteView change_chunk_bytes) {
  Chunk c;
  size_t n = 0;
  Status s = read_chunk(change_chunk_bytes, &c, &n);
  if (s.ok()) {
    auto ch = decode_change(c.body);
    if (ch.ok()) return ::testing::AssertionFailure() << "decode_change accepted it";
    if (ch.status().message().empty()) return ::testing::AssertionFailure() << "no message";
  }
  auto alone = Rejected(change_chunk_bytes);
  if (!alone) return alone;
  return Rejected(cat({kAa(), change_chunk_bytes}));
}

// Bytes that either fail to load, or load into a document that saves, reloads to the same
// heads and serves its changes; the JSON view may fail but must not crash.
::testing::AssertionResult ErrorOrRoundTrip(ByteView bytes, bool* loaded = nullptr) {
  auto r = Document::load(bytes);
  if (loaded) *loaded = r.ok();
  auto lean = Document::load(bytes, true);
  if (lean.ok() != r.ok())
    return ::testing::AssertionFailure()
           << (r.ok() ? "only a lean load refused it: " + lean.status().message()
                      : "only a lean load accepted it");
  if (lean.ok() && (lean->heads() != r->heads() || *lean->save() != *r->save()))
    return ::testing::AssertionFailure() << "a lean load holds something else";
  if (!r.ok()) {
    if (r.status().message().empty()) return ::testing::AssertionFailure() << "error without a message";
    return ::testing::AssertionSuccess();
  }
  (void)r->to_json();
  auto saved = r->save();
  if (!saved.ok()) return ::testing::AssertionFailure() << "loads but does not save: " << saved.status().message();
  auto again = Document::load(*saved);
  if (!again.ok()) return ::testing::AssertionFailure() << "saved bytes do not reload: " << again.status().message();
  if (again->heads() != r->heads()) return ::testing::AssertionFailure() << "reload changed the heads";
  auto served = Document::load(r->changes_since({}));
  if (!served.ok()) return ::testing::AssertionFailure() << "changes_since does not reload: " << served.status().message();
  if (served->heads() != r->heads()) return ::testing::AssertionFailure() << "changes_since lost heads";
  return ::testing::AssertionSuccess();
}

// ---- the base inputs are valid, and the editors are exact -------------------------------------

TEST(RejectBase, SpecExamplesLoad) {
  auto doc = Document::load(kDoc());
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  ASSERT_EQ(doc->heads().size(), 1u);
  EXPECT_EQ(doc->heads()[0], hash_of(kBb()));
  EXPECT_EQ(to_hex(hash_of(kAa())).substr(0, 8), "6f0f5739");
  auto changes = Document::load(cat({kAa(), kBb()}));
  ASSERT_TRUE(changes.ok()) << changes.status().message();
  EXPECT_EQ(changes->heads(), doc->heads());
  EXPECT_TRUE(ErrorOrRoundTrip(kDoc()));
  auto empty = Document::load(kEmptyDoc());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->heads().empty());
  auto nothing = Document::load(ByteView());
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->heads().empty());
  auto ec = Document::load(kEmptyChange());
  ASSERT_TRUE(ec.ok()) << ec.status().message();
  EXPECT_EQ(ec->heads().size(), 1u);
}

TEST(RejectBase, EditorsRoundTripExactly) {
  EXPECT_EQ(DocBody::parse(kDoc()).chunk(), kDoc());
  EXPECT_EQ(DocBody::parse(kEmptyDoc()).chunk(), kEmptyDoc());
  EXPECT_EQ(ChangeBody::parse(kBb()).chunk(), kBb());
  EXPECT_EQ(ChangeBody::parse(kAa()).chunk(), kAa());
  EXPECT_EQ(ChangeBody::parse(kEmptyChange()).chunk(), kEmptyChange());
  EXPECT_EQ(encoded(decoded(kBb())), kBb());
  EXPECT_EQ(encoded(decoded(kAa())), kAa());
  EXPECT_EQ(encoded(decoded(kEmptyChange())), kEmptyChange());
  DocBody d = DocBody::parse(kDoc());
  EXPECT_EQ(column(d.change_cols, col::kChangeSeq), hex_bytes("7e0100"));
  EXPECT_EQ(delta_col({1, 1}), hex_bytes("7e0100"));
  EXPECT_EQ(uint_col({2, 1, 1, 1}), hex_bytes("7f020301"));
}

// ---- container (§3) ---------------------------------------------------------------------------

TEST(RejectContainer, BadMagic) {
  for (const Bytes* base : {&kDoc(), &kBb(), &kEmptyDoc()}) {
    for (size_t i = 0; i < 4; ++i) {
      Bytes b = *base;
      b[i] ^= 0x01;
      EXPECT_TRUE(Rejected(b)) << "magic byte " << i;
    }
  }
  EXPECT_TRUE(Rejected(hex_bytes("856f4a")));
  EXPECT_TRUE(Rejected(hex_bytes("00")));
  EXPECT_TRUE(Rejected(hex_bytes("856f4a84b81a9544000400000000")));
  // A good chunk followed by one with a bad magic.
  Bytes second = kBb();
  second[3] = 0x00;
  EXPECT_TRUE(Rejected(cat({kAa(), second})));
}

TEST(RejectContainer, BadChecksum) {
  for (const Bytes* base : {&kDoc(), &kBb(), &kAa(), &kEmptyChange(), &kEmptyDoc()}) {
    for (size_t i = 4; i < 8; ++i) {
      for (uint8_t mask : {0x01, 0x80, 0xff}) {
        Bytes b = *base;
        b[i] ^= mask;
        EXPECT_TRUE(Rejected(b)) << "checksum byte " << i;
      }
    }
  }
  // Body edited without recomputing the checksum.
  Bytes b = kDoc();
  b.back() ^= 0x01;
  EXPECT_TRUE(Rejected(b));
  // The checksum of a different type byte: a change chunk relabelled as a document.
  Bytes relabelled = kBb();
  relabelled[8] = 0x00;
  EXPECT_TRUE(Rejected(relabelled));
}

TEST(RejectContainer, UnknownChunkTypes) {
  for (int type : {4, 5, 7, 8, 0x10, 0x7f, 0x80, 0xfe, 0xff}) {
    EXPECT_TRUE(Rejected(rechunk(type, body_of(kBb())))) << type;
    EXPECT_TRUE(Rejected(rechunk(type, body_of(kDoc())))) << type;
    EXPECT_TRUE(Rejected(rechunk(type, {}))) << type;
    EXPECT_TRUE(Rejected(cat({kDoc(), rechunk(type, body_of(kBb()))}))) << type;
  }
}

TEST(RejectContainer, BundleChunks) {
  EXPECT_TRUE(Rejected(rechunk(3, body_of(kBb()))));
  EXPECT_TRUE(Rejected(rechunk(3, body_of(kDoc()))));
  EXPECT_TRUE(Rejected(rechunk(3, {})));
  // Spec §10.10's observed bundle prefix: deps, one actor aa, then column metadata.
  Bytes body = hex_bytes("01");
  ChangeHash h = hash_of(kAa());
  put_bytes(body, h);
  put_bytes(body, hex_bytes("0101aa0000"));
  EXPECT_TRUE(Rejected(rechunk(3, body)));
  EXPECT_TRUE(Rejected(cat({kAa(), rechunk(3, body)})));
}

TEST(RejectContainer, TruncatedChunks) {
  // Body length larger than the data that follows (the checksum is correct for the bytes
  // present, so only the length rule can reject it).
  for (const Bytes* base : {&kDoc(), &kBb()}) {
    Bytes body = body_of(*base);
    Bytes b(kMagic, kMagic + 4);
    Bytes hashed;
    hashed.push_back((*base)[8]);
    put_uleb(hashed, body.size() + 1);
    put_bytes(hashed, body);
    ChangeHash h = sha256(hashed);
    b.insert(b.end(), h.begin(), h.begin() + 4);
    put_bytes(b, hashed);
    EXPECT_TRUE(Rejected(b));
  }
  // Header cut inside the length, and an overlong or >64-bit length.
  EXPECT_TRUE(Rejected(hex_bytes("856f4a83b81a95440080")));
  EXPECT_TRUE(Rejected(hex_bytes("856f4a83b81a954400")));
  EXPECT_TRUE(Rejected(hex_bytes("856f4a83b81a9544008400000000")));
  EXPECT_TRUE(Rejected(hex_bytes("856f4a83b81a954400ffffffffffffffffff7f00")));
}

TEST(RejectContainer, EveryTruncationFails) {
  for (const Bytes* base : {&kDoc(), &kBb(), &kAa(), &kEmptyChange(), &kEmptyDoc()}) {
    for (size_t len = 1; len < base->size(); ++len) {
      ByteView cut = ByteView(*base).first(len);
      EXPECT_TRUE(Rejected(cut)) << "length " << len << " of " << base->size();
      // And after a good chunk.
      if (len % 7 == 0) {
        EXPECT_TRUE(Rejected(cat({kAa(), cut}))) << "length " << len;
      }
    }
    auto zero = Document::load(ByteView(*base).first(0));
    ASSERT_TRUE(zero.ok());
    EXPECT_TRUE(zero->heads().empty());
  }
}

TEST(RejectContainer, EveryBodyTruncationFails) {
  // The body cut short and the chunk rebuilt around it with a correct checksum. The only
  // valid cut is a document without its (optional, spec §6.1) heads index.
  Bytes doc_body = body_of(kDoc());
  for (size_t len = 0; len < doc_body.size(); ++len) {
    Bytes b = doc_chunk(ByteView(doc_body).first(len));
    if (len == doc_body.size() - 1) {
      auto d = Document::load(b);
      ASSERT_TRUE(d.ok()) << d.status().message();
      EXPECT_EQ(d->heads(), std::vector<ChangeHash>{hash_of(kBb())});
      EXPECT_TRUE(ErrorOrRoundTrip(b));
    } else {
      EXPECT_TRUE(Rejected(b)) << "document body length " << len;
    }
  }
  for (const Bytes* base : {&kBb(), &kAa(), &kEmptyChange()}) {
    Bytes body = body_of(*base);
    for (size_t len = 0; len < body.size(); ++len)
      EXPECT_TRUE(ChangeRejected(change_chunk(ByteView(body).first(len)))) << "change body length " << len;
  }
}

TEST(RejectContainer, TrailingGarbage) {
  for (const Bytes* base : {&kDoc(), &kBb(), &kEmptyDoc()}) {
    EXPECT_TRUE(Rejected(cat({*base, hex_bytes("00")})));
    EXPECT_TRUE(Rejected(cat({*base, hex_bytes("ffff")})));
    EXPECT_TRUE(Rejected(cat({*base, ByteView(kMagic, 4)})));
    EXPECT_TRUE(Rejected(cat({*base, ByteView(kDoc()).first(20)})));
    EXPECT_TRUE(Rejected(cat({*base, ByteView(kEmptyDoc()).first(13)})));
    EXPECT_TRUE(Rejected(cat({hex_bytes("00"), *base})));
  }
  // A change chunk whose length field stops one byte short: the last byte is left over.
  Bytes body = body_of(kBb());
  Bytes short_chunk = change_chunk(ByteView(body).first(body.size() - 1));
  short_chunk.push_back(body.back());
  EXPECT_TRUE(Rejected(cat({kAa(), short_chunk})));
}

TEST(RejectContainer, LeftoverDataInDocumentBody) {
  for (const char* extra : {"00", "01", "0000", "7f", "856f4a83"}) {
    DocBody d = DocBody::parse(kDoc());
    put_bytes(d.tail, hex_bytes(extra));
    EXPECT_TRUE(DocRejected(d)) << extra;
    DocBody e = DocBody::parse(kEmptyDoc());
    put_bytes(e.tail, hex_bytes(extra));
    EXPECT_TRUE(DocRejected(e)) << extra;
  }
  // A heads index that is not a uLEB.
  DocBody d = DocBody::parse(kDoc());
  d.tail = hex_bytes("80");
  EXPECT_TRUE(DocRejected(d));
  d.tail = hex_bytes("8100");
  EXPECT_TRUE(DocRejected(d));
}

// ---- document chunks (§6, §7) ------------------------------------------------------------------

TEST(RejectDocument, UnsortedActors) {
  DocBody d = DocBody::parse(kDoc());
  std::swap(d.actors[0], d.actors[1]);
  EXPECT_TRUE(DocRejected(d));
  // Swapped and every actor index remapped, so only the order rule is broken.
  Columns& cc = d.change_cols;
  column(cc, col::kChangeActor) = uint_col({1, 0});
  column(d.op_cols, col::kObjActor) = hex_bytes("00037f01");
  column(d.op_cols, col::kIdActor) = uint_col({1, 1, 0, 1});
  column(d.op_cols, col::kSuccActor) = uint_col({0});
  EXPECT_TRUE(DocRejected(d));
  DocBody dup = DocBody::parse(kDoc());
  dup.actors[1] = dup.actors[0];
  EXPECT_TRUE(DocRejected(dup));
}

TEST(RejectDocument, UnusedActor) {
  // An actor that authored no change (3.5.0 panics on this, spec §6.1, §10.11).
  DocBody d = DocBody::parse(kDoc());
  d.actors.push_back("\xcc");
  EXPECT_TRUE(DocRejected(d));
  DocBody e = DocBody::parse(kEmptyDoc());
  e.actors.push_back("\xaa");
  EXPECT_TRUE(DocRejected(e));
  // Actor bb listed in a document holding only aa's change.
  auto only_aa = Document::load(kAa());
  ASSERT_TRUE(only_aa.ok());
  auto saved = only_aa->save(false);
  ASSERT_TRUE(saved.ok());
  DocBody a = DocBody::parse(*saved);
  ASSERT_EQ(a.actors.size(), 1u);
  EXPECT_TRUE(Document::load(a.chunk()).ok());
  a.actors.push_back("\xbb");
  EXPECT_TRUE(DocRejected(a));
}

// A document with two heads: aa's change and an independent empty change by cc.
Bytes two_head_doc() {
  auto d = Document::load(cat({kAa(), empty_change("\xcc", 1, 1)}));
  EXPECT_TRUE(d.ok());
  auto saved = d->save(false);
  EXPECT_TRUE(saved.ok());
  return *saved;
}

TEST(RejectDocument, UnsortedHeads) {
  DocBody d = DocBody::parse(two_head_doc());
  ASSERT_EQ(d.heads.size(), 2u);
  ASSERT_LT(d.heads[0], d.heads[1]);
  ASSERT_TRUE(Document::load(d.chunk()).ok());
  std::swap(d.heads[0], d.heads[1]);
  EXPECT_TRUE(DocRejected(d));
  Bytes index = d.tail;
  ASSERT_EQ(index.size(), 2u);
  std::swap(d.tail[0], d.tail[1]);
  EXPECT_TRUE(DocRejected(d));
  d.tail.clear();
  EXPECT_TRUE(DocRejected(d));
}

TEST(RejectDocument, WrongHeads) {
  DocBody base = DocBody::parse(kDoc());
  {
    DocBody d = base;
    d.heads[0] = hash_of(kAa());  // a change of the document, but not its head
    EXPECT_TRUE(DocRejected(d));
  }
  for (size_t byte : {0, 5, 31}) {
    DocBody d = base;
    d.heads[0][byte] ^= 0x01;
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = base;  // no heads
    d.heads.clear();
    d.tail.clear();
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = base;  // the head twice
    d.heads.push_back(d.heads[0]);
    d.tail = hex_bytes("0101");
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = base;  // an extra head
    ChangeHash a = hash_of(kAa());
    d.heads.insert(d.heads.begin(), a);
    d.tail = hex_bytes("0001");
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = DocBody::parse(two_head_doc());  // one of two heads missing
    d.heads.pop_back();
    d.tail.pop_back();
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = DocBody::parse(kEmptyDoc());  // a head without changes
    d.heads.push_back(hash_of(kBb()));
    EXPECT_TRUE(DocRejected(d));
  }
}

// A document stores no startOp: the library recovers it as one above the highest maxOp of
// the change's deps, and fails to load a document where that is not the change's.
// A document of aa's change (ops 1–3), then aa's empty second change on it (its row's
// maxOp: 3).
Bytes aa_then_empty_doc() {
  auto doc = Document::load(cat({kAa(), empty_change("\xaa", 2, 4, {hash_of(kAa())})}));
  EXPECT_TRUE(doc.ok()) << doc.status().message();
  auto saved = doc->save(false);
  EXPECT_TRUE(saved.ok());
  return *saved;
}

TEST(RejectDocument, CountersThatDoNotFollowOnFromTheDeps) {
  DocBody base = DocBody::parse(aa_then_empty_doc());
  ASSERT_EQ(column(base.change_cols, col::kChangeMaxOp), delta_col({3, 3}));
  EXPECT_TRUE(Document::load(base.chunk()).ok());
  {
    DocBody d = base;  // the empty change claims op 4
    column(d.change_cols, col::kChangeMaxOp) = delta_col({3, 4});
    EXPECT_TRUE(DocRejectedFor(
        d, "empty change has startOp 5, not one above its dependencies' highest op counter 3"));
  }
  {
    DocBody d = base;  // aa's second change does not depend on its first
    column(d.change_cols, col::kChangeDepsGroup) = hex_bytes("0200");
    set_column(d.change_cols, col::kChangeDepsIndex, {});
    EXPECT_TRUE(DocRejectedFor(
        d, "change does not follow on from its author's previous change: its dependencies' "
           "highest op counter 0 is below that change's maxOp 3"));
  }
}

TEST(RejectDocument, SeqOutOfOrderOrGap) {
  for (auto seqs : {std::vector<int64_t>{1, 2}, {2, 1}, {1, 0}, {0, 1}, {2, 2}, {1, -1}}) {
    DocBody d = DocBody::parse(kDoc());
    column(d.change_cols, col::kChangeSeq) = delta_col({seqs[0], seqs[1]});
    EXPECT_TRUE(DocRejected(d)) << seqs[0] << "," << seqs[1];
  }
  // Two changes by aa: seq 1 then 2 is fine; 1 then 3 (a gap), 1 then 1 and 2 then 1 are not.
  DocBody base = DocBody::parse(aa_then_empty_doc());
  ASSERT_EQ(column(base.change_cols, col::kChangeSeq), delta_col({1, 2}));
  EXPECT_TRUE(Document::load(base.chunk()).ok());
  for (auto seqs : {std::vector<int64_t>{1, 3}, {1, 1}, {2, 1}, {2, 3}, {1, 0}}) {
    DocBody d = base;
    column(d.change_cols, col::kChangeSeq) = delta_col({seqs[0], seqs[1]});
    EXPECT_TRUE(DocRejected(d)) << seqs[0] << "," << seqs[1];
  }
  // maxOp decreasing for one actor.
  DocBody d = base;
  column(d.change_cols, col::kChangeMaxOp) = delta_col({3, 2});
  EXPECT_TRUE(DocRejected(d));
}

TEST(RejectDocument, ForwardOrBadDepIndex) {
  struct Case { const char* group; Bytes index; };
  std::vector<Case> cases = {
      {"7e0100", delta_col({1})},      // row 0 depends on row 1
      {"7e0001", delta_col({1})},      // row 1 depends on itself
      {"7e0001", delta_col({2})},      // beyond the table
      {"7e0001", delta_col({-1})},     // negative
      {"0201", delta_col({0, 1})},     // row 0 depends on itself
      {"7e0002", delta_col({0, 0})},   // duplicate dep
      {"7e0001", {}},                  // missing index column
      {"7e0001", delta_col({0, 0})},   // more indexes than the groups say
  };
  for (const auto& c : cases) {
    DocBody d = DocBody::parse(kDoc());
    column(d.change_cols, col::kChangeDepsGroup) = hex_bytes(c.group);
    set_column(d.change_cols, col::kChangeDepsIndex, c.index);
    EXPECT_TRUE(DocRejected(d)) << c.group << " " << to_hex(c.index);
  }
}

TEST(RejectDocument, DepsInIndexOrderInsteadOfHashOrder) {
  // Rows: aa's change and cc's empty change (independent), then dd's change depending on
  // both. Arrange the rows so that the dep with the smaller hash has the larger row index:
  // the correct deps index is then descending, and ascending index order is wrong (§6.2).
  Bytes cc = empty_change("\xcc", 1, 1);
  ChangeHash ha = hash_of(kAa()), hc = hash_of(cc);
  Bytes dd = empty_change("\xdd", 1, 4, {ha, hc});  // startOp one above aa's maxOp
  Bytes input = ha < hc ? cat({cc, kAa(), dd}) : cat({kAa(), cc, dd});
  auto doc = Document::load(input);
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  auto saved = doc->save(false);
  ASSERT_TRUE(saved.ok());
  DocBody d = DocBody::parse(*saved);
  ASSERT_EQ(column(d.change_cols, col::kChangeDepsIndex), delta_col({1, 0}));
  EXPECT_TRUE(Document::load(d.chunk()).ok());
  column(d.change_cols, col::kChangeDepsIndex) = delta_col({0, 1});
  EXPECT_TRUE(DocRejected(d));
}

TEST(RejectDocument, NonCanonicalRle) {
  struct Case { bool op; uint32_t spec; const char* data; };
  const Case cases[] = {
      {false, col::kChangeActor, "01000101"},        // two repeat runs of 1
      {false, col::kChangeActor, "7f007f01"},        // two adjacent literal runs
      {false, col::kChangeSeq, "01010100"},          // repeat runs of 1 (delta column)
      {false, col::kChangeSeq, "7e8100 00"},         // overlong LEB128 in a literal
      {false, col::kChangeMaxOp, "0103 0101"},       // repeat runs of 1
      {false, col::kChangeTime, "7e0000"},           // literal of equal values
      {false, col::kChangeTime, "01000100"},         // repeat 1 + repeat 1 of the same value
      {false, col::kChangeDepsGroup, "01000101"},
      {false, col::kChangeDepsIndex, "0100"},        // repeat run of 1
      {false, col::kChangeExtraMeta, "7e0707"},
      {false, col::kChangeExtraMeta, "01070107"},
      {true, col::kObjActor, "0001 0002 7f00"},      // two adjacent null runs
      {true, col::kObjActor, "00030100"},            // repeat run of 1
      {true, col::kObjActor, "0000 0003 7f00"},      // empty null run
      {true, col::kObjCounter, "00037f02 0000"},     // empty trailing null run
      {true, col::kKeyCounter, "00030100"},
      {true, col::kKeyString, "7f016c 7e01780178 0001"},  // equal strings in a literal
      {true, col::kKeyString, "7f016c 7f0178 7f0178 0001"},    // adjacent literal runs
      {true, col::kIdActor, "0200 0101 7f00"},
      {true, col::kIdActor, "0200 7f01 7f00"},
      {true, col::kIdCounter, "7d027f03 017f"},
      {true, col::kInsert, "030001"},                // zero-length boolean run mid-column
      {true, col::kInsert, "02000101"},
      {true, col::kAction, "7f02 7d010101"},
      {true, col::kAction, "7f02 0101 0201"},
      {true, col::kValueMeta, "7f00 7e1414 7f02"},
      {true, col::kSuccGroup, "7e0001 01000100"},
      {true, col::kSuccActor, "0101"},
      {true, col::kSuccCounter, "0104"},
  };
  for (const Case& c : cases) {
    DocBody d = DocBody::parse(kDoc());
    column(c.op ? d.op_cols : d.change_cols, c.spec) = hex_bytes(c.data);
    EXPECT_TRUE(DocRejected(d)) << (c.op ? "op" : "change") << " column " << c.spec << ": " << c.data;
  }
}

TEST(RejectDocument, ColumnMetadata) {
  {
    DocBody d = DocBody::parse(kDoc());  // op columns out of order
    std::swap(d.op_cols[2], d.op_cols[3]);
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // change columns out of order
    std::swap(d.change_cols[0], d.change_cols[1]);
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // a duplicated column
    d.op_cols.insert(d.op_cols.begin() + 8, d.op_cols[8]);
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // deflate bit on a column that is not DEFLATE data
    d.op_cols[9].first |= kDeflateBit;
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody e = DocBody::parse(kDoc());  // a column length beyond the body
    e.op_cols.back().second.push_back(0);  // declared one byte longer...
    Bytes longer = e.body();
    longer.resize(longer.size() - 2);      // ...then cut: the data ends inside the column
    EXPECT_TRUE(Rejected(doc_chunk(longer)));
    std::vector<std::unique_ptr<StoredChange>> out;
    EXPECT_FALSE(decode_document(longer, &out).ok());
  }
  {
    DocBody d = DocBody::parse(kDoc());  // row counts disagree
    column(d.change_cols, col::kChangeTime) = hex_bytes("0300");
    EXPECT_TRUE(DocRejected(d));
    d = DocBody::parse(kDoc());
    column(d.op_cols, col::kInsert) = hex_bytes("0301 01");
    EXPECT_TRUE(DocRejected(d));
    d = DocBody::parse(kDoc());
    column(d.op_cols, col::kAction) = hex_bytes("7f020201");
    EXPECT_TRUE(DocRejected(d));
    d = DocBody::parse(kDoc());
    column(d.op_cols, col::kSuccGroup) = uint_col({0, 2, 0, 0});  // 2 successors, 1 listed
    EXPECT_TRUE(DocRejected(d));
  }
  // Listed, but with no data, where every row is empty (aa's change alone: no deps, no
  // extra data, no successors): the library refuses these three ("invalid column length",
  // "invalid load length"), as it does when they are missing.
  const Bytes aa_doc = *Document::load(kAa())->save();
  for (const uint32_t spec : {col::kChangeDepsGroup, col::kChangeExtraMeta, col::kSuccGroup}) {
    DocBody d = DocBody::parse(aa_doc);
    column(spec == col::kSuccGroup ? d.op_cols : d.change_cols, spec).clear();
    const char* why = spec == col::kSuccGroup
                          ? "document op columns lack the successor column, or list it with no data"
                          : "document change columns lack the deps or the extra data column, or "
                            "list it with no data";
    EXPECT_TRUE(DocRejectedFor(d, why)) << "column " << spec;
  }
  // Column ids above 15: the library compares specs by their low byte alone, and so refuses
  // or misreads them. Refused wherever they are listed, with no data or some.
  for (const uint32_t spec : {(1u << 20) << 4, (1u << 20) << 4 | 9, 16u << 4 | 4}) {
    for (Bytes data : {Bytes{}, hex_bytes("7f00")}) {
      DocBody d = DocBody::parse(kDoc());
      d.op_cols.emplace_back(spec, data);
      EXPECT_TRUE(DocRejectedFor(d, "column spec " + std::to_string(spec) + " has an id above 15"));
      d = DocBody::parse(kEmptyDoc());
      d.op_cols.emplace_back(spec, data);
      EXPECT_TRUE(DocRejectedFor(d, "column spec " + std::to_string(spec) + " has an id above 15"));
    }
  }
}

TEST(RejectDocument, UnknownActionAndExplicitDelete) {
  for (auto actions : {std::vector<uint64_t>{8, 1, 1, 1}, {2, 8, 1, 1}, {2, 1, 1, 9},
                       {2, 1, 1, 127}, {2, 1, 1, 128}, {2, 1, 1, uint64_t(1) << 40}}) {
    DocBody d = DocBody::parse(kDoc());
    UintEncoder e;
    for (uint64_t a : actions) e.append(a);
    column(d.op_cols, col::kAction) = e.finish();
    EXPECT_TRUE(DocRejected(d)) << actions[0] << actions[1] << actions[2] << actions[3];
  }
  // Explicit delete rows (action 3) must never be in a document (§6.3): row 1 (1@aa, x = 1,
  // superseded by 4@bb) as a delete with a null value.
  DocBody d = DocBody::parse(kDoc());
  column(d.op_cols, col::kAction) = uint_col({2, 3, 1, 1});
  EXPECT_TRUE(DocRejected(d));
  column(d.op_cols, col::kValueMeta) = uint_col({0, 0, 0x14, 2});
  column(d.op_cols, col::kValueRaw) = hex_bytes("02");
  EXPECT_TRUE(DocRejected(d));
  // Row 3 (the list insert) as a delete.
  DocBody e = DocBody::parse(kDoc());
  column(e.op_cols, col::kAction) = uint_col({2, 1, 1, 3});
  EXPECT_TRUE(DocRejected(e));
}

// kDoc's op rows, in document order: root "l" (2@aa makeList), root "x" (1@aa = 1, succ
// 4@bb), root "x" (4@bb = 2), and in the list 2@aa the insert 3@aa = true. With the root's
// keys in the other order every change still regenerates to the same hash (the "x" rows
// stay together); only the order is wrong, and the library would load it into a different
// state (it takes ops in the order stored).
TEST(RejectDocument, OpsOutOfDocumentOrder) {
  auto with_root_keys = [](bool x_first) {
    DocBody d = DocBody::parse(kDoc());
    Value l_val, x1, x2, t;
    x1.type = x2.type = static_cast<uint8_t>(ValueType::kInt);
    x1.i = 1;
    x2.i = 2;
    t.type = static_cast<uint8_t>(ValueType::kTrue);
    StringEncoder keys;
    ValueEncoder values;
    if (x_first) {
      for (const char* k : {"x", "x", "l"}) keys.append(k);
      for (const Value* v : {&x1, &x2, &l_val, &t}) values.append(*v);
      column(d.op_cols, col::kIdActor) = uint_col({0, 1, 0, 0});
      column(d.op_cols, col::kIdCounter) = delta_col({1, 4, 2, 3});
      column(d.op_cols, col::kAction) = uint_col({1, 1, 2, 1});
      column(d.op_cols, col::kSuccGroup) = uint_col({1, 0, 0, 0});
    } else {
      for (const char* k : {"l", "x", "x"}) keys.append(k);
      for (const Value* v : {&l_val, &x1, &x2, &t}) values.append(*v);
      column(d.op_cols, col::kIdActor) = uint_col({0, 0, 1, 0});
      column(d.op_cols, col::kIdCounter) = delta_col({2, 1, 4, 3});
      column(d.op_cols, col::kAction) = uint_col({2, 1, 1, 1});
      column(d.op_cols, col::kSuccGroup) = uint_col({0, 1, 0, 0});
    }
    keys.append_null();
    column(d.op_cols, col::kKeyString) = keys.finish();
    column(d.op_cols, col::kValueMeta) = values.finish_meta();
    column(d.op_cols, col::kValueRaw) = values.finish_raw();
    return d;
  };
  // Control: the columns as rebuilt here, in document order, are kDoc itself.
  EXPECT_EQ(with_root_keys(false).chunk(), kDoc());
  DocBody swapped = with_root_keys(true);
  EXPECT_TRUE(DocRejectedAsOutOfOrder(swapped));
}

// The load reads, checks and matches op rows a block of 1,024 at a time; an order broken
// between the last row of one block and the first of the next is refused like any other.
// Root keys k0000 … k1999, one change each; rows 1023 and 1024 swap keys.
TEST(RejectDocument, OpsOutOfOrderAcrossARowBlock) {
  constexpr uint32_t kKeys = 2000;
  auto key = [](uint32_t i) {
    char k[8];
    std::snprintf(k, sizeof k, "k%04u", i);
    return std::string(k);
  };
  const Bytes chunks = change_chain(std::string(1, '\xaa'), kKeys, [&](uint32_t i, Change& c) {
    c.ops = {root_op(key(i), Action::kSet)};
    c.ops[0].value.type = static_cast<uint8_t>(ValueType::kTrue);
  });
  auto doc = Document::load(chunks);
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  auto saved = doc->save(false);  // columns uncompressed, to be rewritten here
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  auto with_keys = [&](bool swapped) {
    DocBody d = DocBody::parse(*saved);
    std::vector<std::string> names;  // the encoder keeps views of them
    for (uint32_t i = 0; i < kKeys; ++i)
      names.push_back(key(swapped && i == 1023 ? 1024 : swapped && i == 1024 ? 1023 : i));
    StringEncoder keys;
    for (const std::string& k : names) keys.append(k);
    column(d.op_cols, col::kKeyString) = keys.finish();
    return d;
  };
  // Control: the key column as rebuilt here, in order, is the saved document's.
  EXPECT_EQ(with_keys(false).chunk(), *saved);
  EXPECT_TRUE(DocRejectedAsOutOfOrder(with_keys(true)));
}

// Two concurrent inserts at the head of a list: RGA puts the newer one (3@bb) first.
// Stored the other way round, both changes still regenerate to the same hashes.
TEST(RejectDocument, ListElementsOutOfRgaOrder) {
  const std::string aa(1, '\xaa'), bb(1, '\xbb');
  Change a = first_change(aa);
  Op make = root_op("l", Action::kMakeList);
  Op ins;
  ins.obj = OpId{1, 0};
  ins.insert = true;
  ins.action = static_cast<uint8_t>(Action::kSet);
  ins.value.type = static_cast<uint8_t>(ValueType::kString);
  ins.value.bytes = "a";
  a.ops = {make, ins};
  StoredChange sa = store_change(a);
  Change b;
  b.actors = {bb, aa};
  b.seq = 1;
  b.start_op = 3;
  b.deps = {sa.hash};
  ins.obj = OpId{1, 1};
  ins.value.bytes = "b";
  b.ops = {ins};
  StoredChange sb = store_change(b);
  Document d;
  ASSERT_TRUE(d.merge(sa.chunk).ok());
  ASSERT_TRUE(d.merge(sb.chunk).ok());
  const Bytes saved = *d.save(false);

  auto with_list = [&](bool rga) {
    DocBody body = DocBody::parse(saved);
    Value a_val, b_val, none;
    a_val.type = b_val.type = static_cast<uint8_t>(ValueType::kString);
    a_val.bytes = "a";
    b_val.bytes = "b";
    ValueEncoder values;
    for (const Value* v : {&none, rga ? &b_val : &a_val, rga ? &a_val : &b_val}) values.append(*v);
    column(body.op_cols, col::kIdActor) = rga ? uint_col({0, 1, 0}) : uint_col({0, 0, 1});
    column(body.op_cols, col::kIdCounter) = rga ? delta_col({1, 3, 2}) : delta_col({1, 2, 3});
    column(body.op_cols, col::kValueMeta) = values.finish_meta();
    column(body.op_cols, col::kValueRaw) = values.finish_raw();
    return body;
  };
  EXPECT_EQ(with_list(true).chunk(), saved);  // control: the rows as rebuilt here
  DocBody swapped = with_list(false);
  EXPECT_TRUE(DocRejectedAsOutOfOrder(swapped));
}

TEST(RejectDocument, IncWithNonNumericValue) {
  DocBody d = DocBody::parse(kDoc());
  column(d.op_cols, col::kAction) = uint_col({2, 1, 1, 5});  // row 3 (value true) as inc
  EXPECT_TRUE(DocRejected(d));
  DocBody e = DocBody::parse(kDoc());
  column(e.op_cols, col::kAction) = uint_col({5, 1, 1, 1});  // row 0 (value null) as inc
  EXPECT_TRUE(DocRejected(e));
}

TEST(RejectDocument, CountersOutOfRange) {
  const int64_t big = int64_t(1) << 32;
  {
    DocBody d = DocBody::parse(kDoc());  // maxOp ≥ 2^32
    column(d.change_cols, col::kChangeMaxOp) = delta_col({3, big});
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // an op id ≥ 2^32 (4@bb → 2^32@bb)
    column(d.op_cols, col::kIdCounter) = delta_col({2, 1, big, 3});
    EXPECT_TRUE(DocRejected(d));
    column(d.op_cols, col::kIdCounter) = delta_col({2, 1, -4, 3});
    EXPECT_TRUE(DocRejected(d));
    column(d.op_cols, col::kIdCounter) = delta_col({2, 1, 0, 3});
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // an object counter ≥ 2^32
    column(d.op_cols, col::kObjCounter) = uint_col({std::nullopt, std::nullopt, std::nullopt,
                                                    uint64_t(big) + 2});
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // a successor counter ≥ 2^32
    column(d.op_cols, col::kSuccCounter) = delta_col({big + 4});
    EXPECT_TRUE(DocRejected(d));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // an actor index beyond the table
    column(d.op_cols, col::kIdActor) = uint_col({0, 0, 2, 0});
    EXPECT_TRUE(DocRejected(d));
    d = DocBody::parse(kDoc());
    column(d.change_cols, col::kChangeActor) = uint_col({0, 2});
    EXPECT_TRUE(DocRejected(d));
  }
}

TEST(RejectDocument, OpsThatDoNotMatchTheirChanges) {
  {
    DocBody d = DocBody::parse(kDoc());  // aa's maxOp 2: op 3@aa belongs to no change
    column(d.change_cols, col::kChangeMaxOp) = delta_col({2, 4});
    EXPECT_TRUE(DocRejectedFor(d, "op does not belong to any change"));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // duplicate op id (3@aa twice, 1@aa missing)
    column(d.op_cols, col::kIdCounter) = delta_col({2, 3, 4, 3});
    EXPECT_TRUE(DocRejectedFor(d, "change ops are not contiguous (missing or duplicate ops)"));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // a gap: aa's maxOp 4, its ops 1, 2 and 4@aa
    column(d.change_cols, col::kChangeMaxOp) = delta_col({4, 4});
    column(d.op_cols, col::kIdCounter) = delta_col({2, 1, 4, 4});
    EXPECT_TRUE(DocRejectedFor(d, "change ops are not contiguous (missing or duplicate ops)"));
  }
  {
    DocBody d = DocBody::parse(kDoc());  // a successor older than its op
    column(d.op_cols, col::kSuccActor) = uint_col({0});
    column(d.op_cols, col::kSuccCounter) = delta_col({1});
    EXPECT_TRUE(DocRejected(d));
  }
}

// A successor in another slot than its op: kDoc with the successor 4@bb listed by the "l"
// row (2@aa) instead of the "x" row, and heads that match the change this regenerates (bb's,
// with pred 2@aa), so that only the slots tell. Refused by a whole load, and by a merge into
// a document that holds aa's change (which decodes only the rows that matter to bb's).
TEST(RejectDocument, SuccessorInAnotherSlot) {
  DocBody d = DocBody::parse(kDoc());
  column(d.op_cols, col::kSuccGroup) = uint_col({1, 0, 0, 0});
  Change bb = decoded(kBb());
  ASSERT_EQ(bb.preds.size(), 1u);
  bb.preds[0].counter = 2;  // 2@aa (aa is bb's actor 1)
  d.heads = {hash_of(encoded(bb))};
  EXPECT_TRUE(DocRejected(d));
  auto holder = Document::load(kAa());
  ASSERT_TRUE(holder.ok()) << holder.status().message();
  auto merged = holder->merge(d.chunk());
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().message(), "invalid document: op and its predecessor are in different slots");
  EXPECT_EQ(holder->heads(), std::vector<ChangeHash>{hash_of(kAa())});
}

// A delete (a successor id without a row of its own) named by rows of two slots: kDoc with
// bb's change one op longer (maxOp 5), its set of x no longer overwriting 1@aa, and 5@bb in
// the successor lists of both the "l" row (2@aa) and the "x" row (1@aa). Refused by a whole
// load (two deletes with one id), and by a merge into a document that holds aa's change,
// with the slot message.
TEST(RejectDocument, DeleteNamedInTwoSlots) {
  DocBody d = DocBody::parse(kDoc());
  column(d.change_cols, col::kChangeMaxOp) = delta_col({3, 5});
  column(d.op_cols, col::kSuccGroup) = uint_col({1, 1, 0, 0});
  column(d.op_cols, col::kSuccActor) = uint_col({1, 1});
  column(d.op_cols, col::kSuccCounter) = delta_col({5, 5});
  EXPECT_TRUE(DocRejected(d));
  auto holder = Document::load(kAa());
  ASSERT_TRUE(holder.ok()) << holder.status().message();
  auto merged = holder->merge(d.chunk());
  ASSERT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().message(),
            "invalid document: delete names predecessors in different slots");
}

// ---- change chunks (§5, §5.7) --------------------------------------------------------------------

TEST(RejectChange, SeqGapAndOutOfOrderSeq) {
  Change bb = decoded(kBb());
  // Control: bb's change as is.
  ASSERT_TRUE(Document::load(cat({kAa(), kBb()})).ok());
  // seq 2 while bb has no seq 1 — deps present (§5.7 step 5: the reference panics).
  Change c = bb;
  c.seq = 2;
  Bytes bb2 = encoded(c);
  ASSERT_TRUE(decode_change(body_of(bb2)).ok());  // well-formed by itself
  EXPECT_TRUE(Rejected(cat({kAa(), bb2})));
  EXPECT_TRUE(Rejected(cat({bb2, kAa()})));
  EXPECT_TRUE(Rejected(cat({kDoc(), empty_change("\xbb", 3, 5, {hash_of(kBb())})})));
  EXPECT_TRUE(Rejected(cat({kAa(), empty_change("\xbb", 2, 4, {hash_of(kAa())})})));
  // ...and with seq 2 present it loads.
  EXPECT_TRUE(Document::load(cat({kDoc(), empty_change("\xbb", 2, 5, {hash_of(kBb())})})).ok());
  // Two different changes by aa with seq 1 (aa's change and the empty change of 11.3).
  EXPECT_TRUE(Rejected(cat({kAa(), kEmptyChange()})));
  EXPECT_TRUE(Rejected(cat({kEmptyChange(), kAa()})));
  EXPECT_TRUE(Rejected(cat({kDoc(), kEmptyChange()})));
  // A second aa change with seq 1 that depends on the first.
  EXPECT_TRUE(Rejected(cat({kAa(), empty_change("\xaa", 1, 4, {hash_of(kAa())})})));
  // A later change of the same actor reusing op counters (startOp ≤ previous maxOp).
  EXPECT_TRUE(Document::load(cat({kAa(), empty_change("\xaa", 2, 4, {hash_of(kAa())})})).ok());
  EXPECT_TRUE(Rejected(cat({kAa(), empty_change("\xaa", 2, 3, {hash_of(kAa())})})));
  EXPECT_TRUE(Rejected(cat({kAa(), empty_change("\xaa", 2, 1, {hash_of(kAa())})})));
}

TEST(RejectChange, MergeIsAllOrNothing) {
  auto doc = Document::load(kDoc());
  ASSERT_TRUE(doc.ok());
  std::vector<ChangeHash> heads = doc->heads();
  Bytes good = empty_change("\xcc", 1, 1);
  Bytes gap = empty_change("\xbb", 3, 5, {hash_of(kBb())});
  auto r = doc->merge(cat({good, gap}));
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.status().message().empty());
  EXPECT_EQ(doc->heads(), heads);
  EXPECT_FALSE(doc->has_change(hash_of(good)));
  EXPECT_EQ(doc->changes().size(), 2u);
  auto garbage = doc->merge(cat({good, hex_bytes("00")}));
  EXPECT_FALSE(garbage.ok());
  EXPECT_EQ(doc->heads(), heads);
  EXPECT_TRUE(ErrorOrRoundTrip(*doc->save()));
}

TEST(RejectChange, StartOpZero) {
  for (const Bytes* base : {&kBb(), &kAa(), &kEmptyChange()}) {
    Change c = decoded(*base);
    c.start_op = 0;
    EXPECT_TRUE(ChangeRejected(encoded(c)));
  }
  Change c = decoded(kBb());
  c.seq = 0;
  EXPECT_TRUE(ChangeRejected(encoded(c)));
}

TEST(RejectChange, CounterTooLarge) {
  const uint64_t max = 0xffffffffu;
  {
    Change c = decoded(kBb());  // one op at 2^32 − 1: the largest valid counter
    c.start_op = max;
    EXPECT_TRUE(decode_change(encode_change_body(c)).ok());
    EXPECT_TRUE(Document::load(cat({kAa(), encoded(c)})).ok());
  }
  for (uint64_t start : {max + 1, max + 2, uint64_t(1) << 40, UINT64_MAX, UINT64_MAX - 1}) {
    Change c = decoded(kBb());  // one op
    c.start_op = start;
    EXPECT_TRUE(ChangeRejected(encoded(c))) << start;
  }
  for (uint64_t start : {max - 1, max, max + 1, UINT64_MAX - 1, UINT64_MAX - 2, UINT64_MAX}) {
    Change c = decoded(kAa());  // three ops: the last counter overflows 32 (or 64) bits
    c.start_op = start;
    EXPECT_TRUE(ChangeRejected(encoded(c))) << start;
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // pred counter 2^32 (pred 1@aa → 2^32@aa)
    column(b.cols, col::kPredCounter) = cat({hex_bytes("7f"), sleb(int64_t(1) << 32)});
    EXPECT_TRUE(ChangeRejected(b.chunk()));
    column(b.cols, col::kPredCounter) = cat({hex_bytes("7f"), sleb(0)});
    EXPECT_TRUE(ChangeRejected(b.chunk()));
    column(b.cols, col::kPredCounter) = cat({hex_bytes("7f"), sleb(-1)});
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody a = ChangeBody::parse(kAa());  // object counter 2^32
    column(a.cols, col::kObjCounter) = cat({hex_bytes("00027f"), uleb(uint64_t(1) << 32)});
    EXPECT_TRUE(ChangeRejected(a.chunk()));
    column(a.cols, col::kObjCounter) = hex_bytes("00027f00");  // object counter 0
    EXPECT_TRUE(ChangeRejected(a.chunk()));
  }
  {
    ChangeBody a = ChangeBody::parse(kAa());  // element counter 2^32 for the list insert
    column(a.cols, col::kKeyCounter) = cat({hex_bytes("00027f"), sleb(int64_t(1) << 32)});
    set_column(a.cols, col::kKeyActor, hex_bytes("00027f00"));
    EXPECT_TRUE(ChangeRejected(a.chunk()));
  }
}

TEST(RejectChange, UnknownAction) {
  for (uint64_t action : {uint64_t(8), uint64_t(9), uint64_t(15), uint64_t(127), uint64_t(128),
                          uint64_t(1) << 32, UINT64_MAX}) {
    ChangeBody b = ChangeBody::parse(kBb());
    column(b.cols, col::kAction) = cat({hex_bytes("7f"), uleb(action)});
    EXPECT_TRUE(ChangeRejected(b.chunk())) << action;
    Change c = decoded(kAa());
    c.ops[1].action = static_cast<uint8_t>(action & 0xff);
    if (c.ops[1].action > kMaxAction) {
      EXPECT_TRUE(ChangeRejected(encoded(c))) << action;
    }
  }
  ChangeBody b = ChangeBody::parse(kBb());  // null action
  column(b.cols, col::kAction) = hex_bytes("0001");
  EXPECT_TRUE(ChangeRejected(b.chunk()));
}

TEST(RejectChange, IncWithNonNumericValue) {
  {
    Change c = decoded(kBb());  // control: inc by 2 is well-formed
    c.ops[0].action = static_cast<uint8_t>(Action::kInc);
    EXPECT_TRUE(decode_change(encode_change_body(c)).ok());
  }
  for (uint8_t type : {0, 1, 2, 5, 6, 7, 8, 9, 10, 15}) {
    Change c = decoded(kBb());
    c.ops[0].action = static_cast<uint8_t>(Action::kInc);
    Value& v = c.ops[0].value;
    v.type = type;
    v.u = 0;
    v.bytes.clear();
    if (type == 5) v.f = 1.5;
    if (type == 6 || type == 7 || type >= 10) v.bytes = "2";
    if (type == 8 || type == 9) v.i = 2;
    EXPECT_TRUE(ChangeRejected(encoded(c))) << "value type " << int(type);
  }
}

TEST(RejectChange, DeleteThatCannotSurviveADocument) {
  // A document stores deletes only as successors; Algorithm A regenerates them with a null
  // value and no insert/expand/mark name, so a change with anything else would come back
  // with another hash (found by the byte-flip test below: bb's set turned into a delete).
  Change del = decoded(kBb());
  del.ops[0].action = static_cast<uint8_t>(Action::kDel);
  del.ops[0].value = Value();
  Bytes good = encoded(del);
  ASSERT_TRUE(decode_change(body_of(good)).ok());
  EXPECT_TRUE(ErrorOrRoundTrip(cat({kAa(), good})));
  ASSERT_TRUE(Document::load(cat({kAa(), good})).ok());
  Change c = decoded(kBb());
  c.ops[0].action = static_cast<uint8_t>(Action::kDel);  // keeps its value int 2
  EXPECT_TRUE(ChangeRejected(encoded(c)));
  c = del;
  c.ops[0].value.type = static_cast<uint8_t>(ValueType::kTrue);
  EXPECT_TRUE(ChangeRejected(encoded(c)));
  c = del;
  c.ops[0].expand = true;
  EXPECT_TRUE(ChangeRejected(encoded(c)));
  c = del;
  c.ops[0].has_mark_name = true;
  c.mutable_mark_names().emplace_back(0, "bold");
  EXPECT_TRUE(ChangeRejected(encoded(c)));
  c = decoded(kAa());  // the list insert of aa's change as an inserting delete
  c.ops[2].action = static_cast<uint8_t>(Action::kDel);
  c.ops[2].value = Value();
  EXPECT_TRUE(ChangeRejected(encoded(c)));
}

TEST(RejectChange, DeflatedColumn) {
  ChangeBody base = ChangeBody::parse(kBb());
  for (size_t i = 0; i < base.cols.size(); ++i) {
    ChangeBody b = base;
    b.cols[i].first |= kDeflateBit;  // flag only
    EXPECT_TRUE(ChangeRejected(b.chunk())) << "column " << i;
    b.cols[i].second = deflate_raw(base.cols[i].second);  // and really DEFLATEd
    EXPECT_TRUE(ChangeRejected(b.chunk())) << "column " << i;
  }
}

TEST(RejectChange, UnknownColumn) {
  // Spec §10.5: a 3.5.0 document silently drops them, so the change would not survive.
  for (uint32_t spec : {column_spec(6, ColumnType::kActor), column_spec(6, ColumnType::kDelta),
                        column_spec(2, ColumnType::kActor), column_spec(8, ColumnType::kGroup),
                        column_spec(11, ColumnType::kInteger), column_spec(0, ColumnType::kString),
                        column_spec(4, ColumnType::kValueMeta), uint32_t(1) << 20}) {
    ChangeBody b = ChangeBody::parse(kBb());
    set_column(b.cols, spec, hex_bytes("7f01"));
    EXPECT_TRUE(ChangeRejected(b.chunk())) << spec;
  }
  ChangeBody b = ChangeBody::parse(kBb());  // a spec beyond 32 bits
  b.cols.emplace_back(0, hex_bytes("7f01"));
  Bytes body = b.header;
  put_uleb(body, b.cols.size());
  for (size_t i = 0; i + 1 < b.cols.size(); ++i) {
    put_uleb(body, b.cols[i].first);
    put_uleb(body, b.cols[i].second.size());
  }
  put_uleb(body, uint64_t(1) << 40);
  put_uleb(body, 2);
  write_columns_data(body, b.cols);
  EXPECT_TRUE(ChangeRejected(change_chunk(body)));
}

TEST(RejectChange, NonCanonicalRle) {
  struct Case { const Bytes* base; uint32_t spec; const char* data; };
  const Case cases[] = {
      {&kBb(), col::kKeyString, "010178"},          // repeat run of 1
      {&kBb(), col::kAction, "0101"},
      {&kBb(), col::kValueMeta, "0114"},
      {&kBb(), col::kPredGroup, "0101"},
      {&kBb(), col::kPredActor, "0101"},
      {&kBb(), col::kPredCounter, "0101"},
      {&kBb(), col::kAction, "7f8100"},             // overlong LEB128
      {&kBb(), col::kInsert, "0100"},               // trailing zero-length boolean run
      {&kAa(), col::kPredGroup, "7d000000"},        // literal of equal values
      {&kAa(), col::kPredGroup, "01000200"},        // repeat 1 + repeat 2 of one value
      {&kAa(), col::kAction, "0101 7e0201"},
      {&kAa(), col::kObjActor, "0001 0001 7f00"},   // adjacent null runs
      {&kAa(), col::kKeyString, "7f0178 7f016c 0001"},  // adjacent literal runs
      {&kAa(), col::kInsert, "020001"},             // zero-length run mid-column
      {&kAa(), col::kValueMeta, "7e1400 7f02"},     // adjacent literal runs
  };
  for (const Case& c : cases) {
    ChangeBody b = ChangeBody::parse(*c.base);
    column(b.cols, c.spec) = hex_bytes(c.data);
    EXPECT_TRUE(ChangeRejected(b.chunk())) << "column " << c.spec << ": " << c.data;
  }
}

TEST(RejectChange, MalformedColumnsAndHeader) {
  {
    ChangeBody b = ChangeBody::parse(kBb());  // columns out of order
    std::swap(b.cols[1], b.cols[2]);
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // duplicate column
    b.cols.insert(b.cols.begin() + 2, b.cols[2]);
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // action says 2 rows, the others 1
    column(b.cols, col::kAction) = hex_bytes("0201");
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // pred group says 2, one pred listed
    column(b.cols, col::kPredGroup) = hex_bytes("7f02");
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // pred actor index beyond the actor table
    column(b.cols, col::kPredActor) = hex_bytes("7f02");
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // both a map key and an element key
    set_column(b.cols, col::kKeyCounter, hex_bytes("7f01"));
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // no key at all
    column(b.cols, col::kKeyString) = hex_bytes("0001");
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // a value longer than the raw column
    column(b.cols, col::kValueMeta) = hex_bytes("7f24");
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // float of the wrong length
    column(b.cols, col::kValueMeta) = hex_bytes("7f15");
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());  // column length beyond the body
    Bytes body = b.header;
    write_columns_meta(body, b.cols);
    write_columns_data(body, b.cols);
    body.resize(body.size() - 1);
    EXPECT_TRUE(ChangeRejected(change_chunk(body)));
  }
  // Header fields: unsorted or duplicate deps, unused / unsorted / author-repeating other
  // actors, overlong LEB128 seq.
  Change bb = decoded(kBb());
  {
    Change c = bb;
    ChangeHash other = hash_of(kEmptyChange());
    c.deps = {std::max(c.deps[0], other), std::min(c.deps[0], other)};
    EXPECT_TRUE(ChangeRejected(encoded(c)));
    c.deps = {bb.deps[0], bb.deps[0]};
    EXPECT_TRUE(ChangeRejected(encoded(c)));
  }
  {
    Change c = bb;
    c.actors.push_back("\xcc");  // listed, but no op uses it
    EXPECT_TRUE(ChangeRejected(encoded(c)));
    c = bb;
    c.actors = {"\xbb", "\xcc", "\xaa"};  // unsorted other actors (pred now index 2)
    c.preds[0].actor = 2;
    Change d = c;
    d.ops.push_back(c.ops[0]);  // a second op using cc so that both actors are used
    d.ops[1].key = "y";
    d.preds.push_back(OpId{1, 1});
    EXPECT_TRUE(ChangeRejected(encoded(d)));
    c = bb;
    c.actors = {"\xbb", "\xbb"};  // the author as another actor
    EXPECT_TRUE(ChangeRejected(encoded(c)));
  }
  {
    ChangeBody b = ChangeBody::parse(kBb());
    // Header: 01 <32-byte dep> 01 bb | 01 (seq) 04 00 00 01 01 aa. Seq as overlong "81 00".
    Bytes h = b.header;
    ASSERT_EQ(h[35], 0x01);
    h.insert(h.begin() + 35, 0x81);
    h[36] = 0x00;
    b.header = h;
    EXPECT_TRUE(ChangeRejected(b.chunk()));
  }
}

// ---- compressed changes (§5.8) -------------------------------------------------------------------

// A type-2 chunk: `payload` as the body, the checksum of the uncompressed change `change`.
Bytes compressed_chunk(ByteView change, ByteView payload) {
  const uint8_t header[9] = {kMagic[0], kMagic[1], kMagic[2], kMagic[3],
                             change[4], change[5], change[6], change[7],  // the checksum
                             2};
  Bytes out(header, header + 9);
  put_uleb(out, payload.size());
  put_bytes(out, payload);
  return out;
}

uint32_t adler32(ByteView data) {
  uint32_t a = 1, b = 0;
  for (uint8_t c : data) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  return b << 16 | a;
}

TEST(RejectCompressedChange, ValidTypeTwoLoadsToTheSameHash) {
  Bytes body = body_of(kBb());
  Bytes deflated = deflate_raw(body);
  Bytes type2 = compressed_chunk(kBb(), deflated);
  auto d = Document::load(cat({kAa(), type2}));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->heads(), std::vector<ChangeHash>{hash_of(kBb())});
  EXPECT_EQ(d->changes_since({}), cat({kAa(), kBb()}));  // served as type 1
  auto onto = Document::load(cat({kDoc(), type2}));
  ASSERT_TRUE(onto.ok()) << onto.status().message();
  EXPECT_EQ(onto->changes().size(), 2u);
  EXPECT_TRUE(ErrorOrRoundTrip(cat({kAa(), type2})));
  Chunk c;
  size_t n;
  ASSERT_TRUE(read_chunk(type2, &c, &n).ok());
  EXPECT_EQ(c.hash, hash_of(kBb()));
  EXPECT_EQ(n, type2.size());
  // The empty change compressed too.
  Bytes e = compressed_chunk(kEmptyChange(), deflate_raw(body_of(kEmptyChange())));
  auto de = Document::load(e);
  ASSERT_TRUE(de.ok()) << de.status().message();
  EXPECT_EQ(de->heads(), std::vector<ChangeHash>{hash_of(kEmptyChange())});
}

TEST(RejectCompressedChange, BadVariants) {
  Bytes body = body_of(kBb());
  Bytes deflated = deflate_raw(body);
  // Checksum computed over the compressed bytes (a plain write_chunk of type 2).
  EXPECT_TRUE(Rejected(cat({kAa(), rechunk(2, deflated)})));
  // zlib-wrapped (RFC 1950) instead of raw DEFLATE.
  Bytes zlib = hex_bytes("789c");
  put_bytes(zlib, deflated);
  uint32_t ad = adler32(body);
  for (int s = 24; s >= 0; s -= 8) zlib.push_back(static_cast<uint8_t>(ad >> s));
  EXPECT_TRUE(Rejected(cat({kAa(), compressed_chunk(kBb(), zlib)})));
  EXPECT_TRUE(Rejected(cat({kAa(), rechunk(2, zlib)})));
  // Trailing bytes after the DEFLATE stream, and a cut stream.
  EXPECT_TRUE(Rejected(cat({kAa(), compressed_chunk(kBb(), cat({deflated, hex_bytes("00")}))})));
  EXPECT_TRUE(Rejected(cat({kAa(), compressed_chunk(kBb(), ByteView(deflated).first(deflated.size() - 1))})));
  // Not DEFLATE at all: the uncompressed body, garbage, nothing.
  EXPECT_TRUE(Rejected(cat({kAa(), compressed_chunk(kBb(), body)})));
  EXPECT_TRUE(Rejected(compressed_chunk(kBb(), hex_bytes("ffffffff"))));
  EXPECT_TRUE(Rejected(compressed_chunk(kBb(), {})));
  // A checksum that belongs to a different change.
  EXPECT_TRUE(Rejected(cat({kAa(), compressed_chunk(kAa(), deflated)})));
  // A document body or a malformed change inside a type-2 chunk.
  Bytes doc_body = body_of(kDoc());
  EXPECT_TRUE(Rejected(compressed_chunk(change_chunk(doc_body), deflate_raw(doc_body))));
  Change c = decoded(kBb());
  c.seq = 2;
  Bytes bb2 = encoded(c);
  EXPECT_TRUE(Rejected(cat({kAa(), compressed_chunk(bb2, deflate_raw(body_of(bb2)))})));
  ChangeBody nc = ChangeBody::parse(kBb());
  column(nc.cols, col::kAction) = hex_bytes("0101");
  Bytes ncc = nc.chunk();
  EXPECT_TRUE(Rejected(cat({kAa(), compressed_chunk(ncc, deflate_raw(body_of(ncc)))})));
}

// ---- exhaustive single-byte flips ----------------------------------------------------------------

// Change columns the loader reads as what a save writes, in forms a save does not write (a
// null time or deps count, read as 0): such a document loads, and its first save writes
// what encoding every row afresh writes; it does not take the loaded columns up as they are
// (ChangeColumns::take_loaded). The spec's document as it stands is taken up, and saves the
// same.
TEST(LoadedChangeColumns, FormsASaveDoesNotWriteAreEncodedAfresh) {
  struct Case { uint32_t spec; const char* hex; };
  const std::vector<Case> cases = {
      {col::kChangeTime, "0002"},             // both times null
      {col::kChangeTime, "7f000001"},         // the first 0, the second null
      {col::kChangeDepsGroup, "00017f01"},    // the first deps count null
      {col::kChangeExtraMeta, "0207"},        // both empty byte strings: as a save writes
  };
  std::vector<Bytes> saves;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.hex);
    DocBody d = DocBody::parse(kDoc());
    set_column(d.change_cols, c.spec, hex_bytes(c.hex));
    auto doc = Document::load(d.chunk());
    ASSERT_TRUE(doc.ok()) << doc.status().message();
    auto saved = doc->save(false);
    ASSERT_TRUE(saved.ok()) << saved.status().message();
    EXPECT_EQ(*saved, *doc->change_set().save(false));
    saves.push_back(*saved);
  }
  auto plain = Document::load(doc_chunk(DocBody::parse(kDoc()).body()));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain->save(false), *plain->change_set().save(false));
  // All read as the same changes: one document, saved the same way each time.
  for (const Bytes& s : saves) EXPECT_EQ(s, *plain->save(false));
}

TEST(RejectFuzz, EverySingleByteFlip) {
  const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
  struct Base { const Bytes* bytes; const Bytes* context; };
  const Base bases[] = {{&kDoc(), nullptr}, {&kBb(), &kAa()}, {&kAa(), nullptr},
                        {&kEmptyChange(), nullptr}, {&kEmptyDoc(), nullptr}};
  size_t raw_loaded = 0, rebuilt_loaded = 0, total = 0;
  for (const Base& base : bases) {
    const Bytes& orig = *base.bytes;
    Bytes prefix = base.context ? *base.context : Bytes{};
    Bytes body = body_of(orig);
    const size_t header = orig.size() - body.size();
    for (size_t i = 0; i < orig.size(); ++i) {
      for (uint8_t m : masks) {
        ++total;
        // As stored: the checksum (or magic) must catch every flip.
        Bytes b = orig;
        b[i] ^= m;
        bool loaded = false;
        EXPECT_TRUE(ErrorOrRoundTrip(cat({prefix, b}), &loaded)) << "offset " << i << " mask " << int(m);
        raw_loaded += loaded;
        EXPECT_FALSE(loaded) << "flip not caught by the checksum: offset " << i << " mask " << int(m);
        // In the body, with the checksum recomputed: rejected, or a valid document.
        if (i >= header) {
          Bytes fb = body;
          fb[i - header] ^= m;
          Bytes c = rechunk(orig[8], fb);
          EXPECT_TRUE(ErrorOrRoundTrip(cat({prefix, c}), &loaded))
              << "base " << (&base - bases) << " body offset " << i - header << " mask " << int(m);
          rebuilt_loaded += loaded;
        }
      }
    }
  }
  std::cout << "single-byte flips: " << total << " variants, " << raw_loaded << " loaded as stored, "
            << rebuilt_loaded << " loaded with a recomputed checksum (all of them saved and reloaded)\n";
}

}  // namespace
}  // namespace amstore
