// libFuzzer target for the format core: arbitrary bytes into Document::load, and for every
// input that loads, the round trips a server relies on (save → load, changes_since → load,
// merge) must hold. Any violated invariant aborts (__builtin_trap), like a crash.
//
// Random mutations almost never keep a chunk's SHA-256 checksum valid, which would confine
// the fuzzer to the chunk header. So every input is tried twice: as given (exercising the
// container checks), and with the checksum of every chunk recomputed (exercising the body
// parsers: change bodies, document columns, Algorithm A, the merge rules).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "fuzz_check.h"
#include "automerge/chunk.h"
#include "automerge/deflate.h"
#include "automerge/document.h"

namespace {

using namespace amstore;

// The server's bound on an upload's ops (`--max-ops`) in the fuzzer: above what any input
// that loads can hold (Document::load bounds rows by max_rows_for), so it refuses nothing
// that loads, while the counting it drives still runs.
constexpr uint64_t kMaxOps = uint64_t(1) << 24;

// Rewrites the checksum field of each well-framed chunk so that it matches the body (for
// type 2: the hash of the inflated, type-1 form). Stops at the first byte that does not
// start a chunk; what follows is left as it is.
Bytes fix_checksums(ByteView in) {
  Bytes out(in.begin(), in.end());
  size_t pos = 0;
  while (out.size() - pos >= 10 && std::memcmp(out.data() + pos, kMagic, 4) == 0) {
    Reader r(ByteView(out).subspan(pos + 9));
    uint64_t len;
    if (!r.uleb(&len).ok() || len > r.remaining()) break;
    size_t body_at = pos + 9 + r.pos();
    size_t end = body_at + static_cast<size_t>(len);
    uint8_t type = out[pos + 8];
    ChangeHash h;
    if (type == 2) {
      Bytes inflated;
      // A small bound keeps every run fast; larger inflations are left unfixed.
      if (!inflate_raw(ByteView(out).subspan(body_at, len), &inflated, size_t(1) << 20).ok()) {
        pos = end;
        continue;
      }
      Bytes uncompressed;  // the type-1 chunk whose hash a type-2 chunk carries
      h = write_chunk(uncompressed, ChunkType::kChange, inflated);
    } else {
      h = sha256(ByteView(out).subspan(pos + 8, end - (pos + 8)));
    }
    std::memcpy(out.data() + pos + 4, h.data(), 4);
    pos = end;
  }
  return out;
}

void exercise(ByteView in) {
  auto loaded = Document::load(in);
  // A lean load (as the server loads: each change checked, and its ops dropped, as it is
  // regenerated) gives the same verdict.
  auto lean = Document::load(in, true);
  FUZZ_CHECK(lean.ok() == loaded.ok());
  if (!loaded.ok()) {
    FUZZ_CHECK(!loaded.status().message().empty());
    FUZZ_CHECK(!lean.status().message().empty());
    return;
  }
  Document& doc = loaded.value();
  const std::vector<ChangeHash> heads = doc.heads();

  // The JSON view may refuse (e.g. an op on a missing object) but must not crash.
  auto json = doc.to_json();
  FUZZ_CHECK(json.ok() || !json.status().message().empty());

  // The applied changes, as served to clients, load on their own to the same heads.
  Bytes since = doc.changes_since({});
  auto served = Document::load(since);
  FUZZ_CHECK(served.ok());
  FUZZ_CHECK(served->heads() == heads);
  FUZZ_CHECK(served->pending().empty());
  FUZZ_CHECK(served->changes().size() == doc.changes().size());
  FUZZ_CHECK(doc.changes_since(heads).empty());

  // Whatever loads saves (load refuses change sets that would make the document
  // unsavable, see op_index.h); the saved document reloads to the same heads and the same
  // pending changes, and saves to the same bytes again.
  for (bool compress : {true, false}) {
    auto saved = doc.save(compress);
    FUZZ_CHECK(saved.ok());
    // The same bytes as every row encoded afresh (a document loaded from one chunk takes
    // that chunk's change columns up instead: ChangeColumns::take_loaded).
    auto fresh = doc.change_set().save(compress);
    FUZZ_CHECK(fresh.ok() && *fresh == *saved);
    auto again = Document::load(*saved);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->heads() == heads);
    FUZZ_CHECK(again->changes().size() == doc.changes().size());
    FUZZ_CHECK(again->pending().size() == doc.pending().size());
    auto resaved = again->save(compress);
    FUZZ_CHECK(resaved.ok());
    FUZZ_CHECK(*resaved == *saved);
  }

  // The lean document holds the same changes and saves the same bytes; so does a full one
  // made lean afterwards.
  {
    FUZZ_CHECK(lean->heads() == heads);
    FUZZ_CHECK(lean->changes().size() == doc.changes().size());
    FUZZ_CHECK(lean->pending().size() == doc.pending().size());
    auto made_lean = Document::load(in);
    FUZZ_CHECK(made_lean.ok());
    made_lean->set_lean(true);
    auto a = lean->save();
    auto b = doc.save();
    auto c = made_lean->save();
    FUZZ_CHECK(a.ok() && b.ok() && c.ok() && *a == *b && *c == *b);
    // A lean document reads its changes' deps from their chunks: the same changes served.
    FUZZ_CHECK(lean->changes_since({}) == since);
    if (!doc.changes().empty()) {
      const std::vector<ChangeHash> first{doc.changes()[0]->hash};
      FUZZ_CHECK(lean->changes_since(first) == doc.changes_since(first));
    }
  }

  // Merging into a document that holds the first half of the changes (the server's path,
  // which decodes only the rows of new changes) ends where loading everything does. A
  // damaged copy of the input merged into that half is refused without changing it, or
  // taken and leaves a document that saves and reloads.
  if (doc.pending().empty() && doc.changes().size() >= 2) {
    Bytes half;
    for (size_t i = 0; i < doc.changes().size() / 2; ++i) put_bytes(half, doc.changes()[i]->chunk);
    auto part = Document::load(half);
    FUZZ_CHECK(part.ok());
    const std::vector<ChangeHash> half_heads = part->heads();
    FUZZ_CHECK(part->save().ok());  // the half's op set, kept: the merge's changes grow it
    auto m = part->merge(in);
    FUZZ_CHECK(m.ok());
    FUZZ_CHECK(part->heads() == heads);
    FUZZ_CHECK(part->changes().size() == doc.changes().size());
    // Grown, it saves what an op set built at once from the same changes saves.
    {
      auto grown = part->save();
      auto at_once = part->change_set().save();
      FUZZ_CHECK(grown.ok() && at_once.ok() && *grown == *at_once);
    }

    // The same into that half saved as one document and loaded lean, as the server holds
    // a stored document (its op index filled change by change as the load regenerates).
    {
      auto half_doc = Document::load(half);
      FUZZ_CHECK(half_doc.ok());
      auto half_saved = half_doc->save();
      FUZZ_CHECK(half_saved.ok());
      auto lean_part = Document::load(*half_saved, true);
      FUZZ_CHECK(lean_part.ok());
      FUZZ_CHECK(lean_part->heads() == half_heads);
      FUZZ_CHECK(lean_part->merge(in).ok());
      FUZZ_CHECK(lean_part->heads() == heads);
    }

    // The same in the server's steps (fs_store.cc): prepared with a bound on ops, what the
    // document holds passed over, the rest decoded against a snapshot of its changes, then
    // merged. Once with the snapshot current, once with the document a change further on
    // by the time of the merge (uploads merged in between: the snapshot is behind).
    for (bool behind : {false, true}) {
      auto lean_part = Document::load(half, true);
      FUZZ_CHECK(lean_part.ok());
      auto up = Document::prepare(in, kMaxOps);
      FUZZ_CHECK(up.ok());
      up->skip_held(*lean_part);
      FUZZ_CHECK(up->decode_against(lean_part->known_changes()).ok());
      if (behind) {
        const size_t next = doc.changes().size() / 2;
        FUZZ_CHECK(lean_part->merge(doc.changes()[next]->chunk).ok());
      }
      auto merged = lean_part->merge(std::move(*up));
      FUZZ_CHECK(merged.ok());
      FUZZ_CHECK(lean_part->heads() == heads);
      FUZZ_CHECK(lean_part->pending().empty());
    }

    auto part2 = Document::load(half);
    FUZZ_CHECK(part2.ok());
    (void)part2->to_json();  // builds the half's op set and keeps it (when it can)
    Bytes bad(in.begin(), in.end());
    size_t sum = 0;
    for (uint8_t b : bad) sum += b;
    bad[sum % bad.size()] ^= static_cast<uint8_t>(1u << (bad.size() % 8));
    bad = fix_checksums(bad);
    auto m2 = part2->merge(bad);
    if (!m2.ok()) {
      FUZZ_CHECK(!m2.status().message().empty());
      FUZZ_CHECK(part2->heads() == half_heads);
      // Refused without a trace: the intact input still merges to the full heads.
      FUZZ_CHECK(part2->merge(in).ok());
      FUZZ_CHECK(part2->heads() == heads);
    } else {
      auto saved = part2->save();
      FUZZ_CHECK(saved.ok());
      auto at_once = part2->change_set().save();
      FUZZ_CHECK(at_once.ok() && *at_once == *saved);
      auto again = Document::load(*saved);
      FUZZ_CHECK(again.ok());
      FUZZ_CHECK(again->heads() == part2->heads());
    }
  }

  // Merging is idempotent, and merging into an empty document gives the same heads.
  auto stats = doc.merge(in);
  FUZZ_CHECK(stats.ok());
  FUZZ_CHECK(stats->new_changes == 0);
  FUZZ_CHECK(doc.heads() == heads);
  Document copy;
  FUZZ_CHECK(copy.merge(doc).ok());
  FUZZ_CHECK(copy.heads() == heads);
  FUZZ_CHECK(copy.pending().size() == doc.pending().size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView in(data, size);
  exercise(in);
  Bytes fixed = fix_checksums(in);
  if (size > 0 && std::memcmp(fixed.data(), data, size) != 0) exercise(fixed);
  return 0;
}
