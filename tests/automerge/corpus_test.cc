// Golden-corpus tests: documents saved by the real @automerge/automerge 3.5.0 (written by
// tests/interop/gen-corpus.mjs) must round-trip through Algorithms A and B exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "automerge/chunk.h"
#include "automerge/doc_chunk.h"
#include "automerge/document.h"
#include "automerge/json_view.h"
#include "automerge/op_set.h"
#include "test_util.h"

namespace amstore {
namespace {

namespace fs = std::filesystem;
using testing::read_file;

std::vector<fs::path> scenarios() {
  std::vector<fs::path> out;
  fs::path dir = testing::corpus_dir();
  if (dir.empty() || !fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "doc.bin")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Bytes> golden_changes(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir / "changes")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<Bytes> out;
  for (const auto& f : files) out.push_back(read_file(f));
  return out;
}

// The scenario's golden changes back to back (they load as a document).
Bytes concatenated_changes(const fs::path& dir) {
  Bytes all;
  for (const Bytes& g : golden_changes(dir)) put_bytes(all, g);
  return all;
}

// The scenario's doc.bin with its first chunk parsed; `bytes` and `chunks` hold what
// `parsed` points into. Call it under ASSERT_NO_FATAL_FAILURE.
struct ParsedGolden {
  Bytes bytes;
  std::vector<Chunk> chunks;
  ParsedDocument parsed;
};
void parse_golden(const fs::path& dir, ParsedGolden* g) {
  g->bytes = read_file(dir / "doc.bin");
  ASSERT_TRUE(read_chunks(g->bytes, &g->chunks).ok());
  ASSERT_TRUE(parse_document(g->chunks[0].body, &g->parsed).ok());
}

std::vector<std::string> golden_heads(const fs::path& dir) {
  std::ifstream in(dir / "heads.txt");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

TEST(Corpus, IsPresentWhenConfigured) {
  if (testing::corpus_dir().empty()) GTEST_SKIP() << "AMSTORE_CORPUS not set";
  EXPECT_GE(scenarios().size(), 100u);
}

TEST(Corpus, AlgorithmARegeneratesEveryChangeByteForByte) {
  size_t checked = 0, one_op = 0;
  for (const fs::path& dir : scenarios()) {
    SCOPED_TRACE(dir.filename().string());
    Bytes doc = read_file(dir / "doc.bin");
    std::vector<Chunk> chunks;
    ASSERT_TRUE(read_chunks(doc, &chunks).ok());
    ASSERT_EQ(chunks[0].type, ChunkType::kDocument);
    std::vector<std::unique_ptr<StoredChange>> regenerated;
    Status s = decode_document(chunks[0].body, &regenerated);
    ASSERT_TRUE(s.ok()) << s.message();
    std::map<ChangeHash, const StoredChange*> by_hash;
    for (const auto& sc : regenerated) by_hash[sc->hash] = sc.get();
    std::vector<Bytes> golden = golden_changes(dir);
    ASSERT_EQ(golden.size(), regenerated.size());
    for (const Bytes& g : golden) {
      Chunk c;
      size_t n;
      ASSERT_TRUE(read_chunk(g, &c, &n).ok());
      auto it = by_hash.find(c.hash);
      ASSERT_NE(it, by_hash.end()) << "golden change " << to_hex(c.hash) << " not regenerated";
      EXPECT_EQ(it->second->chunk.to_vector(), g);
      // One-op changes take a shortcut there: the general encoders must agree.
      EXPECT_EQ(encode_change_body_general(it->second->change), Bytes(c.body.begin(), c.body.end()));
      one_op += it->second->change.ops.size() == 1;
      ++checked;
    }
    auto loaded = Document::load(doc);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    std::vector<std::string> heads;
    for (const auto& h : loaded->heads()) heads.push_back(to_hex(h));
    EXPECT_EQ(heads, golden_heads(dir));
  }
  std::cout << "regenerated " << checked << " golden changes (" << one_op << " of one op)\n";
}

// The ops a document's changes hold are its op rows plus its deletes, and each delete is one
// of the rows' successors: op_rows() and succ_rows() bound them before any is decoded (what
// a lean load reserves its op index by).
TEST(Corpus, OpRowsAndSuccessorsBoundTheOpsDecoded) {
  size_t docs_with_deletes = 0;
  for (const fs::path& dir : scenarios()) {
    SCOPED_TRACE(dir.filename().string());
    ParsedGolden g;
    ASSERT_NO_FATAL_FAILURE(parse_golden(dir, &g));
    const ParsedDocument& parsed = g.parsed;
    std::vector<std::unique_ptr<StoredChange>> changes;
    ASSERT_TRUE(decode_document(parsed, &changes, KnownChange()).ok());
    size_t ops = 0, deletes = 0;
    for (const auto& sc : changes) {
      ops += sc->change.ops.size();
      for (const Op& op : sc->change.ops) deletes += op.action == static_cast<uint8_t>(Action::kDel);
    }
    EXPECT_EQ(ops, parsed.op_rows() + deletes);
    EXPECT_LE(deletes, parsed.succ_rows());
    docs_with_deletes += deletes > 0;
  }
  if (!scenarios().empty()) {
    EXPECT_GT(docs_with_deletes, 10u);
  }
}

// Algorithm A told which changes the caller already has (the merge path: only the id and
// successor columns are read in full) regenerates exactly the other changes, byte for byte.
TEST(Corpus, AlgorithmAWithKnownChangesRegeneratesExactlyTheRest) {
  size_t checked = 0;
  uint64_t seed = 0x9e3779b97f4a7c15u;
  auto next_rand = [&seed] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  for (const fs::path& dir : scenarios()) {
    SCOPED_TRACE(dir.filename().string());
    Bytes doc = read_file(dir / "doc.bin");
    std::vector<Chunk> chunks;
    ASSERT_TRUE(read_chunks(doc, &chunks).ok());
    std::vector<std::unique_ptr<StoredChange>> all;
    ASSERT_TRUE(decode_document(chunks[0].body, &all).ok());
    std::map<std::string, uint64_t> seqs;  // changes per actor
    for (const auto& sc : all) {
      uint64_t& n = seqs[std::string(sc->change.author())];
      n = std::max(n, sc->change.seq);
    }
    for (unsigned percent : {10u, 50u, 90u, 100u}) {
      // What a caller has of an actor is a prefix of its seqs (a document's changes are):
      // about `percent` of each actor's, rounded at random.
      std::map<std::string, uint64_t> cutoff;
      for (const auto& [actor, n] : seqs) cutoff[actor] = (n * percent + next_rand() % 100) / 100;
      std::map<std::pair<std::string, uint64_t>, ChangeHash> known;
      for (const auto& sc : all)
        if (const std::string a(sc->change.author()); sc->change.seq <= cutoff[a])
          known[{a, sc->change.seq}] = sc->hash;
      std::vector<std::unique_ptr<StoredChange>> rest;
      Status s = decode_document(chunks[0].body, &rest,
                                 [&](std::string_view actor, uint64_t seq) -> const ChangeHash* {
                                   auto it = known.find({std::string(actor), seq});
                                   return it == known.end() ? nullptr : &it->second;
                                 });
      ASSERT_TRUE(s.ok()) << percent << "% known: " << s.message();
      std::vector<const StoredChange*> expected;
      for (const auto& sc : all)
        if (!known.count({std::string(sc->change.author()), sc->change.seq}))
          expected.push_back(sc.get());
      ASSERT_EQ(rest.size(), expected.size()) << percent << "% known";
      for (size_t i = 0; i < rest.size(); ++i) {
        EXPECT_EQ(rest[i]->hash, expected[i]->hash);
        EXPECT_EQ(rest[i]->chunk, expected[i]->chunk);
        ++checked;
      }
    }
  }
  std::cout << "regenerated " << checked << " changes next to known ones\n";
}

TEST(Corpus, GoldenChangesDecodeCanonicallyAndLoadToSameHeads) {
  for (const fs::path& dir : scenarios()) {
    SCOPED_TRACE(dir.filename().string());
    auto doc = Document::load(concatenated_changes(dir));
    ASSERT_TRUE(doc.ok()) << doc.status().message();
    EXPECT_TRUE(doc->pending().empty());
    std::vector<std::string> heads;
    for (const auto& h : doc->heads()) heads.push_back(to_hex(h));
    EXPECT_EQ(heads, golden_heads(dir));
  }
}

// Algorithm B: the document rebuilt from the library's own changes, in their stored order,
// equals Automerge.save's output once both have their columns inflated.
TEST(Corpus, AlgorithmBRebuildsTheLibrarysDocument) {
  for (const fs::path& dir : scenarios()) {
    SCOPED_TRACE(dir.filename().string());
    Bytes doc = read_file(dir / "doc.bin");
    std::vector<Chunk> chunks;
    ASSERT_TRUE(read_chunks(doc, &chunks).ok());
    std::vector<std::unique_ptr<StoredChange>> order;
    ASSERT_TRUE(decode_document(chunks[0].body, &order).ok());
    std::map<ChangeHash, StoredChange> golden;
    for (const Bytes& g : golden_changes(dir)) {
      Chunk c;
      size_t n;
      ASSERT_TRUE(read_chunk(g, &c, &n).ok());
      auto ch = decode_change(c.body);
      ASSERT_TRUE(ch.ok()) << ch.status().message();
      StoredChange& sc = golden[c.hash];
      sc.hash = c.hash;
      sc.chunk.assign(g.begin(), g.end());
      sc.change = std::move(ch).value();
    }
    std::vector<const StoredChange*> list;
    for (const auto& sc : order) list.push_back(&golden.at(sc->hash));
    auto rebuilt = encode_document(list, false);
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().message();
    Chunk rc;
    size_t n;
    ASSERT_TRUE(read_chunk(*rebuilt, &rc, &n).ok());
    auto expected = inflate_document_body(chunks[0].body);
    ASSERT_TRUE(expected.ok());
    // Scenarios that pass `message: ''` explicitly: the library stores "" in its message
    // column, which a change chunk cannot express, so amstore stores null (spec §6.2). Both
    // regenerate the same changes; the rebuilt document must then differ only there.
    bool explicit_empty_message = dir.filename() == "messages-and-times" ||
                                  dir.filename() == "only-empty-changes";
    Bytes body(rc.body.begin(), rc.body.end());
    if (!explicit_empty_message) {
      EXPECT_TRUE(body == *expected) << "rebuilt document differs from Automerge.save";
    } else {
      EXPECT_FALSE(body == *expected);
      std::vector<std::unique_ptr<StoredChange>> again;
      ASSERT_TRUE(decode_document(rc.body, &again).ok());
      ASSERT_EQ(again.size(), order.size());
      for (size_t i = 0; i < again.size(); ++i) EXPECT_EQ(again[i]->chunk, order[i]->chunk);
    }
    // And the compressed form is what amstore serves: it must load back to the same heads.
    auto compact = encode_document(list, true);
    ASSERT_TRUE(compact.ok());
    auto back = Document::load(*compact);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->changes().size(), list.size());
  }
}

// A lean load (each change checked, and its ops dropped, as it is regenerated) holds what a
// full load holds, and takes later merges the same way: its op index is complete.
TEST(Corpus, LeanLoadHoldsWhatAFullLoadHolds) {
  for (const fs::path& dir : scenarios()) {
    SCOPED_TRACE(dir.filename().string());
    const Bytes doc = read_file(dir / "doc.bin");
    auto full = Document::load(doc);
    auto lean = Document::load(doc, true);
    ASSERT_TRUE(full.ok()) << full.status().message();
    ASSERT_TRUE(lean.ok()) << lean.status().message();
    EXPECT_EQ(lean->heads(), full->heads());
    EXPECT_EQ(lean->op_count(), full->op_count());
    ASSERT_EQ(lean->changes().size(), full->changes().size());
    for (size_t i = 0; i < full->changes().size(); ++i) {
      EXPECT_EQ(lean->changes()[i]->hash, full->changes()[i]->hash);
      EXPECT_EQ(lean->changes()[i]->chunk, full->changes()[i]->chunk);
      EXPECT_TRUE(lean->changes()[i]->change.ops.empty());
      EXPECT_TRUE(lean->changes()[i]->change.deps.empty());  // read from the chunk when needed
    }
    // What a client holding the first, the middle or the last change lacks: the lean
    // document reads its deps from the chunks.
    const size_t n = full->changes().size();
    for (size_t i : {size_t(0), n / 2, n - 1}) {
      if (i >= n) continue;
      const std::vector<ChangeHash> have{full->changes()[i]->hash};
      EXPECT_EQ(lean->changes_since(have), full->changes_since(have)) << "have change " << i;
    }
    EXPECT_EQ(*lean->save(), *full->save());
    EXPECT_EQ(*lean->to_json(), *full->to_json());
    if (!fs::exists(dir / "forks")) continue;
    std::vector<fs::path> forks;
    for (const auto& e : fs::directory_iterator(dir / "forks")) forks.push_back(e.path());
    std::sort(forks.begin(), forks.end());
    auto a = Document::load(read_file(forks[0]), true);
    auto b = Document::load(read_file(forks[0]));
    ASSERT_TRUE(a.ok() && b.ok());
    for (size_t k = 1; k < forks.size(); ++k) {
      const Bytes fork = read_file(forks[k]);
      auto ra = a->merge(fork);
      auto rb = b->merge(fork);
      ASSERT_TRUE(ra.ok()) << ra.status().message();
      ASSERT_TRUE(rb.ok()) << rb.status().message();
      EXPECT_EQ(ra->applied, rb->applied);
    }
    EXPECT_EQ(a->heads(), b->heads());
    EXPECT_EQ(*a->save(), *b->save());
  }
}

// An op set grown by batches of changes (OpSetBuilder), and change columns grown with it,
// as a document keeps both between saves, equal the ones built from scratch from the same
// changes, at every step: the same document bytes and the same JSON. And a document saved
// after each fork it merges saves what a copy of its change set (built from scratch) saves.
TEST(Corpus, OpSetGrownByBatchesEqualsOneBuiltAtOnce) {
  size_t steps = 0;
  for (const fs::path& dir : scenarios()) {
    SCOPED_TRACE(dir.filename().string());
    auto doc = Document::load(concatenated_changes(dir));
    ASSERT_TRUE(doc.ok()) << doc.status().message();
    std::vector<const StoredChange*> causal;
    for (const auto& sc : doc->changes()) causal.push_back(sc.get());
    OpSetBuilder grown;
    ChangeColumns kept;  // grown along, as a document keeps them
    // Batches of 1, 1, 2, 3, 5, ... changes, then the rest.
    for (size_t step = 1, next = 1, end = 0; end < causal.size(); ++steps) {
      end = std::min(causal.size(), end + step);
      std::tie(step, next) = std::make_pair(next, step + next);
      std::vector<const StoredChange*> prefix(causal.begin(), causal.begin() + end);
      Status st = grown.add(prefix);
      ASSERT_TRUE(st.ok()) << st.message();
      ASSERT_EQ(grown.covered(), end);
      auto fresh = build_op_set(prefix);
      ASSERT_TRUE(fresh.ok()) << fresh.status().message();
      EXPECT_EQ(grown.op_set().actors, fresh->actors);
      // Each entry's copy of its successor count agrees with its successor range.
      const OpSet& g = grown.op_set();
      for (uint32_t i = 0; i < g.all.size(); ++i)
        ASSERT_EQ(g.all[i].succ_count, g.succ_start[i + 1] - g.succ_start[i]) << "op " << i;
      auto a = encode_document(grown.op_set(), prefix, false, nullptr, &kept);
      auto b = encode_document(*fresh, prefix, false);
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_TRUE(*a == *b) << "after " << end << " of " << causal.size() << " changes";
      EXPECT_EQ(*render_json(grown.op_set()), *render_json(*fresh));
    }
    if (!fs::exists(dir / "forks")) continue;
    std::vector<fs::path> forks;
    for (const auto& e : fs::directory_iterator(dir / "forks")) forks.push_back(e.path());
    std::sort(forks.begin(), forks.end());
    Document merged;
    for (const fs::path& f : forks) {
      ASSERT_TRUE(merged.merge(read_file(f)).ok());
      auto saved = merged.save();
      ASSERT_TRUE(saved.ok()) << saved.status().message();
      const ChangeSet set = merged.change_set();
      ASSERT_TRUE(*saved == *set.save()) << "after merging " << f.filename();
      EXPECT_EQ(*merged.to_json(), *set.to_json());
    }
  }
  std::cout << "compared " << steps << " grown op sets\n";
}

// A document chunk's op order (decode_document's doc_order) is what OpSetBuilder computes
// from its changes, and a first add() takes it as given: even an order it would not make, if
// each op comes once and objects come one after another by id. What is not such an order is
// refused, and the objects are ordered from the changes. The order may cover the first
// changes only: the others join it in the same add().
TEST(Corpus, OpSetTakesTheDocumentsOrder) {
  size_t swapped = 0, prefixes = 0;
  for (const fs::path& dir : scenarios()) {
    SCOPED_TRACE(dir.filename().string());
    ParsedGolden g;
    ASSERT_NO_FATAL_FAILURE(parse_golden(dir, &g));
    const ParsedDocument& parsed = g.parsed;
    std::vector<std::unique_ptr<StoredChange>> changes;
    std::vector<uint32_t> order;
    Status s = decode_document(parsed, &changes, nullptr, nullptr, &order);
    ASSERT_TRUE(s.ok()) << s.message();
    std::vector<const StoredChange*> list;
    for (const auto& sc : changes) list.push_back(sc.get());
    auto fresh = build_op_set(list);
    ASSERT_TRUE(fresh.ok()) << fresh.status().message();
    auto built_with = [&](const std::vector<uint32_t>& o) {
      OpSetBuilder b;
      Status st = b.add(list, &o);
      EXPECT_TRUE(st.ok()) << st.message();
      return std::move(b).take();
    };
    const OpSet taken = built_with(order);
    EXPECT_EQ(taken.order, fresh->order);
    ASSERT_EQ(taken.objects.size(), fresh->objects.size());
    for (size_t k = 0; k < taken.objects.size(); ++k) {
      EXPECT_EQ(taken.objects[k].id, fresh->objects[k].id);
      EXPECT_EQ(taken.objects[k].begin, fresh->objects[k].begin);
      EXPECT_EQ(taken.objects[k].end, fresh->objects[k].end);
    }
    EXPECT_EQ(*encode_document(taken, list, false), *encode_document(*fresh, list, false));
    // Two ops of one object swapped: taken as given.
    for (const ObjectRange& r : fresh->objects) {
      if (r.end - r.begin < 2) continue;
      std::vector<uint32_t> other = order;
      std::swap(other[r.begin], other[r.begin + 1]);
      EXPECT_EQ(built_with(other).order, other);
      ++swapped;
      break;
    }
    if (order.size() < 2) continue;
    // An op twice, an op missing, two objects' ops interleaved or objects out of order:
    // refused.
    std::vector<std::vector<uint32_t>> refused(2, order);
    refused[0][1] = refused[0][0];
    refused[1].pop_back();
    if (fresh->objects.size() >= 2) {
      refused.push_back(order);  // the first op of the second object moved to the front
      std::rotate(refused.back().begin(), refused.back().begin() + fresh->objects[1].begin,
                  refused.back().begin() + fresh->objects[1].begin + 1);
    }
    for (const auto& o : refused) EXPECT_EQ(built_with(o).order, fresh->order);

    // The order of a document of the first half of the changes, with the second half
    // added in the same add() (a document merged into after its load): what is built from
    // scratch.
    const size_t half = list.size() / 2;
    if (half == 0) continue;
    const std::vector<const StoredChange*> first(list.begin(), list.begin() + half);
    auto half_doc = encode_document(first, false);
    ASSERT_TRUE(half_doc.ok()) << half_doc.status().message();
    std::vector<Chunk> half_chunks;
    ASSERT_TRUE(read_chunks(*half_doc, &half_chunks).ok());
    ParsedDocument half_parsed;
    ASSERT_TRUE(parse_document(half_chunks[0].body, &half_parsed).ok());
    std::vector<std::unique_ptr<StoredChange>> half_changes;
    std::vector<uint32_t> half_order;
    ASSERT_TRUE(decode_document(half_parsed, &half_changes, nullptr, nullptr, &half_order).ok());
    ASSERT_EQ(half_changes.size(), half);
    std::vector<const StoredChange*> joined;
    for (const auto& sc : half_changes) joined.push_back(sc.get());
    joined.insert(joined.end(), list.begin() + half, list.end());
    OpSetBuilder b;
    Status st = b.add(joined, &half_order, half);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(b.covered(), list.size());
    EXPECT_EQ(b.op_set().order, fresh->order);
    EXPECT_EQ(b.op_set().actors, fresh->actors);
    EXPECT_EQ(*encode_document(b.op_set(), joined, false), *encode_document(*fresh, list, false));
    // The prefix's order given as the whole's: refused (it misses the second half's ops),
    // and the whole ordered from the changes.
    OpSetBuilder whole;
    ASSERT_TRUE(whole.add(joined, &half_order).ok());
    EXPECT_EQ(whole.op_set().order, fresh->order);
    ++prefixes;
  }
  if (!scenarios().empty()) {  // (without a corpus, nothing ran: IsPresentWhenConfigured)
    EXPECT_GT(swapped, 50u);
    EXPECT_GT(prefixes, 50u);
  }
}

// A document loaded from one chunk takes that chunk's change columns up for its first save
// (ChangeColumns::take_loaded) instead of encoding every row again: its saves must be what
// encoding every row gives, also after merges that add rows and actors.
TEST(Corpus, FirstSaveTakesTheLoadedChangeColumns) {
  size_t taken = 0, merged = 0;
  for (const fs::path& dir : scenarios()) {
    SCOPED_TRACE(dir.filename().string());
    ParsedGolden g;
    ASSERT_NO_FATAL_FAILURE(parse_golden(dir, &g));
    std::vector<std::unique_ptr<StoredChange>> changes;
    std::vector<uint32_t> order;
    ChangeColumns columns;
    ASSERT_TRUE(decode_document(g.parsed, &changes, KnownChange(), nullptr, &order, false,
                                &columns)
                    .ok());
    EXPECT_TRUE(columns.rows() == 0 || columns.rows() == changes.size());
    taken += columns.rows() > 0;
    auto d = Document::load(g.bytes);
    ASSERT_TRUE(d.ok()) << d.status().message();
    for (bool compress : {false, true}) {
      auto saved = d->save(compress);
      ASSERT_TRUE(saved.ok()) << saved.status().message();
      EXPECT_EQ(*saved, *d->change_set().save(compress));
    }
    if (!fs::exists(dir / "forks")) continue;
    for (const auto& e : fs::directory_iterator(dir / "forks")) {
      auto f = Document::load(g.bytes);
      ASSERT_TRUE(f.ok());
      ASSERT_TRUE(f->merge(read_file(e.path())).ok());
      auto saved = f->save();
      ASSERT_TRUE(saved.ok()) << saved.status().message();
      EXPECT_EQ(*saved, *f->change_set().save());
      ++merged;
    }
  }
  if (!scenarios().empty()) {
    // (Most scenarios' changes carry messages, whose documents' rows are encoded as usual.)
    EXPECT_GE(taken, 30u);
    EXPECT_GT(merged, 100u);
  }
}

TEST(Corpus, ForksMergeToTheLibrarysHeads) {
  for (const fs::path& dir : scenarios()) {
    if (!fs::exists(dir / "forks")) continue;
    SCOPED_TRACE(dir.filename().string());
    Document merged;
    for (const auto& e : fs::directory_iterator(dir / "forks")) {
      auto r = merged.merge(read_file(e.path()));
      ASSERT_TRUE(r.ok()) << r.status().message();
    }
    std::vector<std::string> heads;
    for (const auto& h : merged.heads()) heads.push_back(to_hex(h));
    EXPECT_EQ(heads, golden_heads(dir));
    auto saved = merged.save();
    ASSERT_TRUE(saved.ok()) << saved.status().message();
    // A copy of its change set saves the same bytes, and renders the same JSON.
    const ChangeSet set = merged.change_set();
    EXPECT_EQ(*set.save(), *saved);
    EXPECT_EQ(*set.to_json(), *merged.to_json());
  }
}

}  // namespace
}  // namespace amstore
