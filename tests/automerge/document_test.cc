// Document behaviour: pending changes, all-or-nothing merges, changes since heads, and
// documents too deep for recursion.
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <thread>
#include <gtest/gtest.h>

#include "automerge/chunk.h"
#include "automerge/columns.h"
#include "automerge/deflate.h"
#include "automerge/document.h"
#include "test_util.h"

namespace amstore {
namespace {

using testing::cat;
using testing::change_chain;
using testing::first_change;
using testing::hex_bytes;
using testing::root_op;

// Spec §11: aa's change, then bb's change (which depends on aa's).
const char* kChangeAa =
    "856f4a836f0f5739013b0001aa01010000000901040204130415073402420456045701700200027f0000027f0200"
    "027f007e0178016c000102017d0102017d140002010300";
const char* kChangeBb =
    "856f4a83c9e18086014a016f0f573972d6d33a4db147c4063e8ee13185ce9e17f1218e85936c61a73e53b401bb"
    "010400000101aa08150334014202560257017002710273027f0178017f017f14027f017f017f01";

// The hash of aa's change, which changes made on top of it depend on.
ChangeHash aa_hash() {
  Chunk c;
  size_t n;
  EXPECT_TRUE(read_chunk(hex_bytes(kChangeAa), &c, &n).ok());
  return c.hash;
}

// A change of one op by `actor` (then `others`, the other actors its ids refer to), with
// `op` as op `start`, predecessors `preds` and the one dep `dep`.
StoredChange one_op_change(std::string actor, uint64_t seq, uint64_t start, ChangeHash dep,
                           Op op, std::vector<OpId> preds = {},
                           std::vector<std::string> others = {}) {
  Change c = first_change(std::move(actor));
  for (const std::string& a : others) c.actors.push_back(a);
  c.deps = {dep};
  c.seq = seq;
  c.start_op = start;
  op.pred_count = static_cast<uint32_t>(preds.size());
  c.preds = std::move(preds);
  c.ops.push_back(op);
  return store_change(std::move(c));
}

// A write of `true` to root key `key`.
Op set_true(std::string_view key) {
  Op op = root_op(key, Action::kSet);
  op.value.type = static_cast<uint8_t>(ValueType::kTrue);
  return op;
}

std::string heads_hex(const Document& d) {
  std::string s;
  for (const auto& h : d.heads()) s += to_hex(h) + ";";
  return s;
}

TEST(Document, EmptyInputIsAnEmptyDocument) {
  auto d = Document::load({});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->heads().empty());
  auto saved = d->save();
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(*saved, hex_bytes("856f4a83b81a954400040000 0000"));
  EXPECT_EQ(*d->to_json(), "{}");
}

TEST(Document, ChangesWithMissingDepsWaitAsPendingAndJoinLater) {
  Bytes bb = hex_bytes(kChangeBb), aa = hex_bytes(kChangeAa);
  auto d = Document::load(bb);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_TRUE(d->heads().empty());
  ASSERT_EQ(d->pending().size(), 1u);
  EXPECT_EQ(*d->to_json(), "{}");
  // save() keeps the pending change after the document chunk, and it reloads as pending.
  auto saved = d->save();
  ASSERT_TRUE(saved.ok());
  auto again = Document::load(*saved);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pending().size(), 1u);
  // The missing dependency arrives: both changes join, in causal order.
  auto stats = d->merge(aa);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->new_changes, 1u);
  EXPECT_EQ(stats->applied, 2u);
  EXPECT_EQ(stats->pending, 0u);
  EXPECT_TRUE(d->pending().empty());
  EXPECT_EQ(heads_hex(*d), "c9e1808691a3e584025864d2a5218a8bf9c4a8c4453c39dd81dcedc44eed287e;");
  EXPECT_EQ(*d->to_json(), "{\"l\":[true],\"x\":2}");
}

TEST(Document, MergeIsAllOrNothing) {
  Bytes aa = hex_bytes(kChangeAa);
  auto d = Document::load(aa);
  ASSERT_TRUE(d.ok());
  auto before = d->save();
  Bytes input = hex_bytes(kChangeBb);
  Bytes garbage = {0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0};
  put_bytes(input, garbage);
  auto r = d->merge(input);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(d->changes().size(), 1u);
  EXPECT_EQ(*d->save(), *before);
}

TEST(Document, MergeOfKnownChangesWritesNothingNew) {
  Bytes both = hex_bytes(kChangeAa);
  put_bytes(both, hex_bytes(kChangeBb));
  auto d = Document::load(both);
  ASSERT_TRUE(d.ok());
  auto saved = d->save();
  auto r = d->merge(*saved);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->new_changes, 0u);
  r = d->merge(both);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->new_changes, 0u);
}

TEST(Document, ChangesSinceHeads) {
  Bytes aa = hex_bytes(kChangeAa), bb = hex_bytes(kChangeBb);
  Bytes both = aa;
  put_bytes(both, bb);
  auto d = Document::load(both);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->changes_since({}), both);
  ChangeHash aa_hash;
  ASSERT_TRUE(parse_hash_hex("6f0f573972d6d33a4db147c4063e8ee13185ce9e17f1218e85936c61a73e53b4", &aa_hash));
  EXPECT_EQ(d->changes_since({aa_hash}), bb);
  EXPECT_TRUE(d->changes_since(d->heads()).empty());
  ChangeHash unknown{};
  EXPECT_EQ(d->changes_since({unknown}), both);
}

TEST(Document, RejectsASeqGap) {
  // bb's change renumbered to seq 2: its dependency is present but bb's seq 1 is not.
  Change c = std::move(decode_change(ByteView(hex_bytes(kChangeBb)).subspan(10)).value());
  c.seq = 2;
  StoredChange sc = store_change(std::move(c));
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  auto r = d->merge(sc.chunk);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("seq"), std::string::npos);
  EXPECT_EQ(d->changes().size(), 1u);
}

// A batch refused part-way (here at its second change's seq) keeps nothing of its first
// change either: not in the document, nor in what later merges check new changes against.
TEST(Document, ARefusedBatchLeavesNothingStagedBehind) {
  Bytes aa = hex_bytes(kChangeAa);
  auto d = Document::load(aa);
  ASSERT_TRUE(d.ok());
  StoredChange sx = one_op_change(std::string("\xcc", 1), 1, 10, aa_hash(),
                                  root_op("k", Action::kMakeMap));
  // Its seq 1 was never seen.
  StoredChange sz = one_op_change(std::string("\xdd", 1), 2, 20, aa_hash(),
                                  root_op("z", Action::kMakeMap));
  Bytes batch = sx.chunk.to_vector();
  put_bytes(batch, sz.chunk);
  auto r = d->merge(batch);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("seq"), std::string::npos) << r.status().message();
  // x on its own is valid: its ops were not left behind to collide with themselves.
  r = d->merge(sx.chunk);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->applied, 1u);
  // Nor may a change build on x's map while x is not in the document: on a fresh copy of
  // aa, refuse a batch at its seq again, then a change setting a key inside x's map.
  auto e = Document::load(aa);
  ASSERT_TRUE(e.ok());
  ASSERT_FALSE(e->merge(batch).ok());
  Op in_x = set_true("inner");
  in_x.obj = OpId{10, 1};  // x's map (actor 1 of w's table: cc)
  r = e->merge(one_op_change(std::string("\xee", 1), 1, 30, aa_hash(), in_x, {},
                             {std::string("\xcc", 1)})
                   .chunk);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("object that does not exist"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(e->save().ok());
}

// A change whose counters follow on from its author's change before joins that change's
// block of the op index (one block for text typed a change at a time). Refused with its
// batch, its ops are taken out of the block again: no later change may name them, and the
// change can still come on its own.
TEST(Document, OpsThatJoinedTheirAuthorsBlockAreTakenBackWithARefusedBatch) {
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  const std::string cc("\xcc", 1);
  StoredChange first = one_op_change(cc, 1, 10, aa_hash(), set_true("a"));
  ASSERT_TRUE(d->merge(first.chunk).ok());
  StoredChange next = one_op_change(cc, 2, 11, first.hash, set_true("b"));  // joins op 10's
  Bytes refused = next.chunk.to_vector();
  put_bytes(refused,  // seq gap
            one_op_change(std::string("\xdd", 1), 2, 20, aa_hash(), set_true("gap")).chunk);
  ASSERT_FALSE(d->merge(refused).ok());
  // A write to "b" over cc's op 11 (actor 1 of its table), which is not in the document.
  auto r = d->merge(
      one_op_change(std::string("\xee", 1), 1, 30, first.hash, set_true("b"), {OpId{11, 1}}, {cc})
          .chunk);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("op's predecessor does not exist"), std::string::npos)
      << r.status().message();
  r = d->merge(next.chunk);
  ASSERT_TRUE(r.ok()) << r.status().message();
  r = d->merge(
      one_op_change(std::string("\xee", 1), 1, 30, next.hash, set_true("b"), {OpId{11, 1}}, {cc})
          .chunk);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(d->save().ok());
}

// Map keys first seen in a refused batch are forgotten with it, and their numbers given
// out again: a key of a later change must not share a number with a key still known.
TEST(Document, KeysOfARefusedBatchAreForgotten) {
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  Bytes refused = one_op_change(std::string("\xcc", 1), 1, 10, aa_hash(), set_true("first")).chunk.to_vector();
  put_bytes(refused,  // seq gap
            one_op_change(std::string("\xdd", 1), 2, 20, aa_hash(), set_true("gap")).chunk);
  ASSERT_FALSE(d->merge(refused).ok());
  // "second" now takes the number "first" had; "first" must come back with another.
  StoredChange second =
      one_op_change(std::string("\xee", 1), 1, 30, aa_hash(), set_true("second"));
  ASSERT_TRUE(d->merge(second.chunk).ok());
  // A write to "first" naming ee's write to "second" (actor 1 of its table) as its pred.
  auto r = d->merge(one_op_change(std::string("\xff", 1), 1, 40, second.hash,
                                  set_true("first"), {OpId{30, 1}}, {std::string("\xee", 1)})
                        .chunk);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("op's predecessor is at a different key"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(d->save().ok());
}

// A waiting change whose seq its author has used already can never apply, and the library
// refuses a file that holds both ("duplicate seq"): an earlier upload's is dropped once the
// other applies, and an upload that brings one is refused.
TEST(Document, AWaitingChangeWhoseSeqIsTakenIsDroppedOrRefused) {
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  const Op set = set_true("l");
  const std::string bb("\xbb", 1);
  ChangeHash unknown{};
  unknown[0] = 0x42;
  StoredChange l1 = one_op_change(bb, 1, 10, aa_hash(), set);
  StoredChange l2 = one_op_change(bb, 2, 11, l1.hash, set);
  StoredChange other2 = one_op_change(bb, 2, 11, unknown, set);  // bb's seq 2 as well
  ASSERT_TRUE(d->merge(other2.chunk).ok());  // waits for a change that never comes
  EXPECT_EQ(d->pending().size(), 1u);
  ASSERT_TRUE(d->merge(l1.chunk).ok());
  auto r = d->merge(l2.chunk);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->applied, 1u);
  EXPECT_EQ(r->dropped, 1u);
  EXPECT_TRUE(d->pending().empty());
  EXPECT_TRUE(d->save().ok());
  // Brought now: refused, and nothing of its upload is kept.
  StoredChange l3 = one_op_change(bb, 3, 12, l2.hash, set);
  auto refused = d->merge(cat({l3.chunk, other2.chunk}));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("has seq 2, which actor bb has used already"),
            std::string::npos)
      << refused.status().message();
  EXPECT_FALSE(d->has_change(l3.hash));
  EXPECT_TRUE(d->pending().empty());
  // Two waiting changes with one seq: the upload that brings the second is refused.
  ChangeHash unknown2 = unknown;
  unknown2[1] = 0x43;
  StoredChange waits4 = one_op_change(bb, 4, 13, unknown, set);
  StoredChange other4 = one_op_change(bb, 4, 13, unknown2, set);
  ASSERT_TRUE(d->merge(waits4.chunk).ok());
  auto twice = d->merge(other4.chunk);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find(
                "has seq 4, which actor bb has used already in another change waiting"),
            std::string::npos)
      << twice.status().message();
  EXPECT_EQ(d->pending().size(), 1u);
  EXPECT_TRUE(d->has_change(waits4.hash));
}

// A change kept pending by an earlier upload that turns out invalid once its deps arrive is
// dropped; it does not veto the upload that brings those deps. (Otherwise anyone who learnt
// the hash of a change not yet applied, say from a pending change a GET returns, could
// upload an invalid change depending on it and block it for good.)
TEST(Document, AnInvalidPendingChangeDoesNotBlockTheChangeItWaitedFor) {
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  const Op set = set_true("l");
  const std::string bb("\xbb", 1);
  StoredChange l1 = one_op_change(bb, 1, 10, aa_hash(), set);
  StoredChange l2 = one_op_change(bb, 2, 11, l1.hash, set);
  Op nowhere = set;
  nowhere.obj = OpId{99, 0};  // an object that does not exist
  StoredChange bad = one_op_change(std::string("\xdd", 1), 1, 20, l1.hash, nowhere);
  ASSERT_TRUE(d->merge(l2.chunk).ok());  // out of order: waits for l1
  ASSERT_TRUE(d->merge(bad.chunk).ok());  // waits for l1 too
  EXPECT_EQ(d->pending().size(), 2u);
  auto r = d->merge(l1.chunk);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->applied, 2u);  // l1, then l2
  EXPECT_EQ(r->dropped, 1u);
  EXPECT_TRUE(d->pending().empty());
  EXPECT_TRUE(d->has_applied(l2.hash));
  EXPECT_FALSE(d->has_change(bad.hash));
  EXPECT_TRUE(d->save().ok());
  // The upload's own changes are still all or nothing: an invalid one refuses the upload.
  StoredChange l3 = one_op_change(bb, 3, 12, l2.hash, set);
  StoredChange bad2 = one_op_change(std::string("\xdd", 1), 1, 30, l3.hash, nowhere);
  Bytes both = l3.chunk.to_vector();
  put_bytes(both, bad2.chunk);
  EXPECT_FALSE(d->merge(both).ok());
  EXPECT_FALSE(d->has_change(l3.hash));
}

// The load reads and matches op rows a block of 1,024 at a time, and a slot's successors
// carry over from block to block: one root key written 3,000 times, each write a change
// overwriting the one before, then deleted. Every row is in that one slot, and each change's
// predecessor (the row before) is known only from that row's successors, as is the delete.
TEST(Document, OneSlotOverManyRowBlocksLoadsToTheSameChanges) {
  constexpr uint32_t kWrites = 3000;
  const std::string aa(1, '\xaa');
  const Bytes chunks = change_chain(aa, kWrites + 1, [&](uint32_t i, Change& c) {
    Op op = root_op("k", i < kWrites ? Action::kSet : Action::kDel);
    if (i < kWrites) {
      op.value.type = static_cast<uint8_t>(ValueType::kUint);
      op.value.u = i;
    }
    if (i > 0) {
      op.pred_count = 1;
      c.preds = {OpId{i, 0}};
    }
    c.ops = {op};
  });
  auto doc = Document::load(chunks);
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  auto saved = doc->save();
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  for (bool lean : {false, true}) {
    auto back = Document::load(*saved, lean);
    ASSERT_TRUE(back.ok()) << back.status().message();
    ASSERT_EQ(back->changes().size(), doc->changes().size());
    for (size_t i = 0; i < doc->changes().size(); ++i)
      ASSERT_EQ(back->changes()[i]->chunk, doc->changes()[i]->chunk) << "change " << i;
  }
}

// A text typed one character at a time is a chain as deep as the text is long: saving,
// loading and rendering it must not recurse.
TEST(Document, HundredThousandCharacterTypedText) {
  constexpr uint32_t kChars = 100000;
  Change c = first_change(std::string("\x01\x02", 2));
  c.ops.push_back(root_op("text", Action::kMakeText));
  for (uint32_t i = 0; i < kChars; ++i) {
    Op op;
    op.obj = OpId{1, 0};
    op.elem = i == 0 ? OpId{} : OpId{i + 1, 0};  // after the previous character
    op.insert = true;
    op.action = static_cast<uint8_t>(Action::kSet);
    op.value.type = static_cast<uint8_t>(ValueType::kString);
    op.value.bytes = std::string(1, static_cast<char>('a' + i % 26));
    c.ops.push_back(op);
  }
  StoredChange sc = store_change(std::move(c));
  auto d = Document::load(sc.chunk);
  ASSERT_TRUE(d.ok()) << d.status().message();
  auto saved = d->save();
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  auto back = Document::load(*saved);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->heads(), d->heads());
  auto json = back->to_json();
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->size(), kChars + 11);  // {"text":"..."}
  EXPECT_EQ(json->substr(0, 14), "{\"text\":\"abcde");
}

}  // namespace
}  // namespace amstore

namespace amstore {
namespace {

// Changes built by hand on top of aa's change (ops 1@aa x=1, 2@aa makeList l, 3@aa insert).
Change hostile_change() {
  Change c;
  c.deps = {};
  c.actors = {std::string("\xcc", 1), std::string("\xaa", 1)};
  c.seq = 1;
  c.start_op = 10;
  return c;
}

// `on_aa`: the change depends on aa's (else on nothing).
Status merge_onto_aa(Change c, bool on_aa = true) {
  Bytes aa = hex_bytes(kChangeAa);
  auto d = Document::load(aa);
  EXPECT_TRUE(d.ok());
  if (on_aa) c.deps = {aa_hash()};
  StoredChange sc = store_change(std::move(c));
  // The same onto aa saved as a document and loaded lean (its op index filled as each
  // change was regenerated): the same verdict, for the same reason.
  auto lean = Document::load(*d->save(), true);
  EXPECT_TRUE(lean.ok());
  auto r_lean = lean->merge(sc.chunk);
  auto r = d->merge(sc.chunk);
  EXPECT_EQ(r_lean.ok(), r.ok());
  if (!r.ok() && !r_lean.ok()) {
    EXPECT_EQ(r_lean.status().message(), r.status().message());
  }
  if (r.ok()) {
    EXPECT_TRUE(d->save().ok());  // anything accepted must still save
    return Status::Ok();
  }
  EXPECT_EQ(d->changes().size(), 1u);  // refused: the document is unchanged
  return r.status();
}

// Refused, and for the reason the case is about (not some other flaw of the hand-made change).
void expect_refused(Change c, const std::string& reason, bool on_aa = true) {
  Status s = merge_onto_aa(std::move(c), on_aa);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(reason), std::string::npos) << s.message();
}

Op set_op() {
  Op op;
  op.action = static_cast<uint8_t>(Action::kSet);
  op.value.type = static_cast<uint8_t>(ValueType::kTrue);
  return op;
}

// set_op at map key `key` of the object `obj` (the root map by default).
Op map_set_op(std::string_view key, OpId obj = OpId{}) {
  Op op = set_op();
  op.obj = obj;
  op.map_key = true;
  op.key = key;
  return op;
}

// set_op inserted into the list 2@aa, after its element `after`.
Op list_insert(OpId after = OpId{3, 1}) {
  Op op = set_op();
  op.obj = OpId{2, 1};
  op.elem = after;
  op.insert = true;
  return op;
}

// An op making an object (`action`: a make action) at root map key `key`.
Op make_op(Action action, const char* key) {
  Op op;
  op.action = static_cast<uint8_t>(action);
  op.map_key = true;
  op.key = key;
  return op;
}

// A mark op in the list 2@aa, inserted after its element `after`; `name`: a begin's.
Op mark_op(const char* name, Change* c, OpId after = OpId{3, 1}) {
  Op op;
  op.action = static_cast<uint8_t>(Action::kMark);
  op.obj = OpId{2, 1};
  op.elem = after;
  op.insert = true;
  if (name) {
    op.has_mark_name = true;
    c->mutable_mark_names().emplace_back(static_cast<uint32_t>(c->ops.size()), name);
  }
  return op;
}

// The library loads no document in which a mark's end comes before its begin in the list
// ("invalid mark operation order"), so no change may place it there. Where each lands is
// decided by list order, which amstore's op set (to_json) computes in its own way: the
// oracle here is the same change with two plain inserts in place of the marks. On a
// random insertion tree, deep (so that the depth checks take jumps) and with siblings of
// one counter by two actors.
TEST(Document, MarkEndsFollowTheirBegins) {
  std::mt19937 rng(7);
  const std::string a = "\xa1", b = "\xb2", c = "\xc3", d = "\xd4";
  // The list 1@a: its make op, then 300 inserts by a; by b and c, each on a's change only,
  // 60 inserts with the same counters. Values: the counters (b's and c's plus 1000 and
  // 2000). The list's elements as (counter, author); counter 0: the head.
  using Elem = std::pair<uint32_t, std::string>;
  std::vector<Elem> elems;
  auto actor_index = [](Change& ch, std::string_view actor) {
    for (uint32_t i = 0; i < ch.actors.size(); ++i)
      if (std::string_view(ch.actors[i]) == actor) return i;
    ch.actors.emplace_back(actor);
    return static_cast<uint32_t>(ch.actors.size() - 1);
  };
  auto insert_after = [&](Change& ch, const Elem& parent, uint64_t label) {
    Op op;
    op.action = static_cast<uint8_t>(Action::kSet);
    op.value.type = static_cast<uint8_t>(ValueType::kUint);
    op.value.u = label;
    op.insert = true;
    op.obj = OpId{1, actor_index(ch, a)};
    if (parent.first) op.elem = OpId{parent.first, actor_index(ch, parent.second)};
    ch.ops.push_back(op);
  };
  // An element to insert after: mostly the one inserted last (typing), else any, or the head.
  auto pick = [&](size_t upto) -> Elem {
    const uint32_t r = rng() % 10;
    if (upto == 0 || r == 0) return {0, a};
    return r < 7 ? elems[upto - 1] : elems[rng() % upto];
  };
  Change base = first_change(a);
  base.ops.push_back(root_op("l", Action::kMakeList));
  for (uint32_t k = 0; k < 300; ++k) {
    insert_after(base, pick(elems.size()), k + 2);
    elems.emplace_back(k + 2, a);
  }
  StoredChange base_sc = store_change(std::move(base));
  const size_t from_a = elems.size();
  Bytes chunks(base_sc.chunk.begin(), base_sc.chunk.end());
  std::vector<ChangeHash> heads;
  for (const std::string* by : {&b, &c}) {
    Change ch = first_change(*by);
    ch.start_op = 302;
    ch.deps = {base_sc.hash};
    std::vector<Elem> mine;
    for (uint32_t k = 0; k < 60; ++k) {
      const auto parent = rng() % 2 || mine.empty() ? pick(from_a) : mine.back();
      insert_after(ch, parent, 302 + k + (by == &b ? 1000 : 2000));
      mine.emplace_back(302 + k, *by);
    }
    elems.insert(elems.end(), mine.begin(), mine.end());
    StoredChange sc = store_change(std::move(ch));
    heads.push_back(sc.hash);
    put_bytes(chunks, sc.chunk);
  }
  std::sort(heads.begin(), heads.end());
  int refused = 0, merged = 0;
  // Every trial's marks also go into one lean document, each change by an author of its
  // own: each element's depth is then computed once, for all later checks.
  auto all = Document::load(chunks, /*lean=*/true);
  ASSERT_TRUE(all.ok());
  for (int trial = 0; trial < 400; ++trial) {
    // The begin (362@author) and the end (363@author), after elements chosen at random:
    // each may be the head, the other's parent, or (for the end) the begin itself.
    const auto random_elem = [&] { return rng() % 20 ? elems[rng() % elems.size()] : Elem{0, a}; };
    const Elem begin_after = random_elem();
    const uint32_t r = rng() % 10;
    const Elem end_after = r == 0 ? begin_after : r == 1 ? Elem{362, d} : random_elem();
    auto change = [&](const std::string& author, bool marks) {
      Change ch = first_change(author);
      std::vector<std::string> others = {a};  // (sorted, after the author)
      for (const auto& [counter, by] : {begin_after, end_after})
        if (counter && by != d && std::find(others.begin(), others.end(), by) == others.end())
          others.push_back(by);
      std::sort(others.begin(), others.end());
      for (const std::string& o : others) ch.actors.emplace_back(o);
      ch.start_op = 362;
      for (const ChangeHash& h : heads) ch.deps.push_back(h);
      insert_after(ch, begin_after, 1000001);
      insert_after(ch, end_after.second == d ? Elem{362, author} : end_after, 1000002);
      if (marks) {
        for (Op& op : ch.ops) {
          op.action = static_cast<uint8_t>(Action::kMark);
          op.value = Value();
        }
        ch.ops[0].has_mark_name = true;
        ch.mutable_mark_names().emplace_back(0, "bold");
      }
      return store_change(std::move(ch)).chunk;
    };
    auto doc = Document::load(chunks);
    ASSERT_TRUE(doc.ok());
    ASSERT_TRUE(doc->merge(change(d, false)).ok());
    auto json = doc->to_json();
    ASSERT_TRUE(json.ok());
    const bool begin_first = json->find("1000001") < json->find("1000002");
    doc = Document::load(chunks);
    ASSERT_TRUE(doc.ok());
    Status marked = doc->merge(change(d, true)).status();
    EXPECT_EQ(marked.ok(), begin_first) << "trial " << trial << ": " << marked.message();
    if (!begin_first) {
      EXPECT_NE(marked.message().find("mark end comes before its mark begin in the list"),
                std::string::npos)
          << marked.message();
    }
    (marked.ok() ? merged : refused)++;
    const std::string author = d + static_cast<char>(trial >> 8) + static_cast<char>(trial);
    EXPECT_EQ(all->merge(change(author, true)).ok(), begin_first) << "trial " << trial;
  }
  EXPECT_EQ(all->changes().size(), 3u + merged);
  // Both verdicts, often.
  EXPECT_GT(merged, 100);
  EXPECT_GT(refused, 100);
}

TEST(Document, RefusesWhatTheLibraryCannotLoadFromADocument) {
  {
    Change c = hostile_change();  // a table: the library panics on ops inside one
    c.actors.pop_back();
    c.ops.push_back(make_op(Action::kMakeTable, "t"));
    expect_refused(c, "tables are not supported");
    c.ops.back().action = static_cast<uint8_t>(Action::kMakeMap);
    Status fine = merge_onto_aa(std::move(c));
    EXPECT_TRUE(fine.ok()) << fine.message();
  }
  {
    Change c = hostile_change();  // a mark begin and its end, 10@cc and 11@cc: fine
    c.ops.push_back(mark_op("bold", &c));
    c.ops.push_back(mark_op(nullptr, &c, OpId{10, 0}));  // (after the begin: see below)
    Status fine = merge_onto_aa(c);
    EXPECT_TRUE(fine.ok()) << fine.message();
    Change not_insert = c;  // a mark that overwrites the element instead
    not_insert.ops[0].insert = false;
    expect_refused(not_insert, "mark op is not an insert");
    Change swapped = hostile_change();  // the end first: no begin right before it
    swapped.ops.push_back(mark_op(nullptr, &swapped));
    swapped.ops.push_back(mark_op("bold", &swapped));
    expect_refused(swapped, "mark end does not follow its mark begin in the same object");
    Change apart = hostile_change();  // a set between them
    apart.ops.push_back(mark_op("bold", &apart));
    apart.ops.push_back(list_insert());
    apart.ops.push_back(mark_op(nullptr, &apart));
    expect_refused(apart, "mark end does not follow its mark begin in the same object");
    Change other_object = hostile_change();  // the end in another list, made first (10@cc)
    other_object.ops.push_back(make_op(Action::kMakeList, "m"));
    other_object.ops.push_back(mark_op("bold", &other_object));  // 11@cc, in 2@aa
    Op end = mark_op(nullptr, &other_object);                     // 12@cc, at the head of 10@cc
    end.obj = OpId{10, 0};
    end.elem = OpId{};
    other_object.ops.push_back(end);
    expect_refused(other_object, "mark end does not follow its mark begin in the same object");
    Change end_alone = hostile_change();
    end_alone.ops.push_back(mark_op(nullptr, &end_alone));
    expect_refused(end_alone, "mark end does not follow its mark begin in the same object");
    // Both after 3@aa: the end, newer, comes first in the list (MarkEndsFollowTheirBegins
    // has the general case).
    Change end_first = hostile_change();
    end_first.ops.push_back(mark_op("bold", &end_first));
    end_first.ops.push_back(mark_op(nullptr, &end_first));
    expect_refused(end_first, "mark end comes before its mark begin in the list");
  }
  {
    // An empty change's startOp is one above its deps' highest maxOp (aa's: 3), nothing
    // else: a document stores no startOp, and the library recovers it from the deps.
    Change c = hostile_change();
    c.actors.pop_back();
    c.start_op = 3;
    expect_refused(c, "empty change has startOp 3, not one above");
    c.start_op = 5;
    expect_refused(c, "empty change has startOp 5, not one above");
    c.start_op = 1;  // on nothing: one above 0
    Status fine = merge_onto_aa(c, false);
    EXPECT_TRUE(fine.ok()) << fine.message();
    c.start_op = 4;
    fine = merge_onto_aa(std::move(c));
    EXPECT_TRUE(fine.ok()) << fine.message();
  }
}

TEST(Document, AcceptsAValidChangeOnTopOfOthers) {
  Change c = hostile_change();
  c.ops.push_back(list_insert());
  EXPECT_TRUE(merge_onto_aa(std::move(c)).ok());
}

// libstdc++'s std::hash for strings (MurmurHash64A with a fixed, public seed), and a
// 16-byte printable string with the same hash as `target`, made by running the function
// backwards from the target through the second block. Empty if this standard library
// hashes strings some other way.
uint64_t murmur64a(std::string_view s) {
  constexpr uint64_t kMul = 0xc6a4a7935bd1e995ULL;
  auto shift_mix = [](uint64_t v) { return v ^ (v >> 47); };
  uint64_t h = 0xc70f6907ULL ^ (s.size() * kMul);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t k;
    std::memcpy(&k, s.data() + i, 8);
    h = (h ^ (shift_mix(k * kMul) * kMul)) * kMul;
  }
  if (i < s.size()) {
    uint64_t k = 0;
    for (size_t j = s.size(); j-- > i;) k = (k << 8) | static_cast<unsigned char>(s[j]);
    h = (h ^ k) * kMul;
  }
  return shift_mix(shift_mix(h) * kMul);
}

std::string key_hashing_like(std::string_view target) {
  constexpr uint64_t kMul = 0xc6a4a7935bd1e995ULL;
  uint64_t inv = kMul;  // kMul's inverse mod 2^64 (Newton's iteration)
  for (int i = 0; i < 6; ++i) inv *= 2 - kMul * inv;
  auto shift_mix = [](uint64_t v) { return v ^ (v >> 47); };  // its own inverse
  for (const std::string_view s : {"x", "hello world", "a longer key of 23 bytes"})
    if (murmur64a(s) != std::hash<std::string_view>()(s)) return "";
  // The state the second block must leave: the finalizer undone.
  const uint64_t after = shift_mix(shift_mix(std::hash<std::string_view>()(target)) * inv);
  auto printable = [](uint64_t v) {
    for (int b = 0; b < 8; ++b, v >>= 8)
      if ((v & 0xff) < 0x20 || (v & 0xff) > 0x7e) return false;
    return true;
  };
  for (uint64_t n = 0;; ++n) {
    uint64_t first = 0x2020202020202020ULL;  // a printable first block from n's digits
    for (uint64_t m = n, b = 0; b < 8; ++b, m /= 95) first += (m % 95) << (8 * b);
    uint64_t h = 0xc70f6907ULL ^ (16 * kMul);
    h = (h ^ (shift_mix(first * kMul) * kMul)) * kMul;
    // (h ^ D(second)) * kMul == after, with D(k) = shift_mix(k * kMul) * kMul.
    const uint64_t second = shift_mix(((after * inv) ^ h) * inv) * inv;
    if (!printable(second)) continue;
    std::string key(16, ' ');
    std::memcpy(key.data(), &first, 8);
    std::memcpy(key.data() + 8, &second, 8);
    return key;
  }
}

// An overwrite must name a predecessor at its own key. Map keys that only hash alike
// are different keys: a change naming the op at "x" as the predecessor of its write to
// such a key was let in, and the document could no longer be saved (built on purpose,
// std::hash being public and invertible, this disabled a document for good).
TEST(Document, KeysThatHashAlikeAreStillDifferentKeys) {
  const std::string key = key_hashing_like("x");
  if (key.empty()) GTEST_SKIP() << "not libstdc++'s string hash";
  ASSERT_NE(key, "x");
  ASSERT_EQ(std::hash<std::string_view>()(key), std::hash<std::string_view>()("x"));
  Change c = hostile_change();
  Op op = map_set_op(key);
  op.pred_count = 1;
  c.preds.push_back(OpId{1, 1});  // 1@aa, at key "x"
  c.ops.push_back(op);
  expect_refused(std::move(c), "op's predecessor is at a different key");
}

// The same for list elements: an op on an element of one list naming as predecessor the
// element of another list. Built against the slot hash amstore used before (the ids of two
// lists and two elements chosen, by their counters, to hash alike), which let it in.
TEST(Document, ElementsThatHashAlikeAreStillDifferentElements) {
  auto old_slot = [](uint64_t a, uint64_t b) {  // before the multiplication, a bijection
    return a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  };
  // Op ids as the op index numbered them: counter << 32 | actor (aa 0, cc 1).
  auto id = [](uint64_t counter) { return counter << 32 | 1; };
  uint64_t l1 = 0, e1 = 0, l2 = 0, e2 = 0;
  for (uint64_t s3 = 104;; s3 += 4) {  // s3 ≡ s1 (mod 4) keeps the low halves equal
    l1 = id(100), e1 = id(101), l2 = id(s3);
    e2 = (old_slot(l1, e1) ^ l2) - 0x9e3779b97f4a7c15ULL - (l2 << 6) - (l2 >> 2);
    if (static_cast<uint32_t>(e2) == 1 && (e2 >> 32) > s3 + 1 && (e2 >> 32) < 0xfffffff0u) break;
  }
  ASSERT_EQ(old_slot(l1, e1), old_slot(l2, e2));
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  const std::string cc("\xcc", 1);
  ChangeHash head = aa_hash();
  uint64_t seq = 0;
  // One change of cc's holding `op` as its op number `counter`.
  auto merge_one = [&](uint64_t counter, Op op, std::vector<OpId> preds = {}) {
    StoredChange sc = one_op_change(cc, ++seq, counter, head, op, std::move(preds));
    head = sc.hash;
    return d->merge(sc.chunk);
  };
  Op make = make_op(Action::kMakeList, "l1");
  ASSERT_TRUE(merge_one(l1 >> 32, make).ok());
  make.key = "l2";
  Op insert = set_op();
  insert.insert = true;
  insert.obj = OpId{static_cast<uint32_t>(l1 >> 32), 0};
  ASSERT_TRUE(merge_one(e1 >> 32, insert).ok());
  ASSERT_TRUE(merge_one(l2 >> 32, make).ok());
  insert.obj = OpId{static_cast<uint32_t>(l2 >> 32), 0};
  ASSERT_TRUE(merge_one(e2 >> 32, insert).ok());
  // Overwrites e2 (in l2), naming e1 (in l1) as its predecessor.
  Op overwrite = set_op();
  overwrite.obj = OpId{static_cast<uint32_t>(l2 >> 32), 0};
  overwrite.elem = OpId{static_cast<uint32_t>(e2 >> 32), 0};
  auto r = merge_one((e2 >> 32) + 1, overwrite, {OpId{static_cast<uint32_t>(e1 >> 32), 0}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("op's predecessor is at a different key"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(d->save().ok());
}

// An op naming a later op of its own change (a newer one, which the index holds an entry
// for while the change is staged, not yet filled): never found.
TEST(Document, RefusesOpsThatReferToLaterOpsOfTheirOwnChange) {
  {
    Change c = hostile_change();  // 10@cc inserts after 11@cc, its change's next insert
    c.ops.push_back(list_insert(OpId{11, 0}));
    c.ops.push_back(list_insert());
    expect_refused(std::move(c), "op refers to a list element that does not exist");
  }
  {
    Change c = hostile_change();  // 10@cc sets a key in the map 11@cc makes after it
    c.actors.pop_back();          // (no op refers to aa)
    Op op = map_set_op("k", OpId{11, 0});
    c.ops.push_back(op);
    c.ops.push_back(make_op(Action::kMakeMap, "m"));
    expect_refused(std::move(c), "op refers to an object that does not exist");
  }
  {
    Change c = hostile_change();  // 10@cc overwrites key "k", naming 11@cc (also "k")
    c.actors.pop_back();
    Op op = map_set_op("k");
    op.pred_count = 1;
    c.preds.push_back(OpId{11, 0});
    c.ops.push_back(op);
    op.pred_count = 0;
    c.ops.push_back(op);
    expect_refused(std::move(c), "op's predecessor does not exist");
  }
}

TEST(Document, RefusesOpsThatWouldMakeTheDocumentUnsavable) {
  {
    Change c = hostile_change();  // an object that does not exist
    Op op = map_set_op("k", OpId{7, 1});
    c.ops.push_back(op);
    expect_refused(std::move(c), "op refers to an object that does not exist");
  }
  {
    Change c = hostile_change();  // a map key on a list
    Op op = map_set_op("k", OpId{2, 1});
    c.ops.push_back(op);
    expect_refused(std::move(c), "op on a list or text object has a map key");
  }
  {
    Change c = hostile_change();  // insert after an element that does not exist
    c.ops.push_back(list_insert(OpId{1, 1}));  // 1@aa is a map op, not an element
    expect_refused(std::move(c), "op refers to a list element that does not exist");
  }
  {
    Change c = hostile_change();  // insert after an element, but one of another list
    Op make = make_op(Action::kMakeList, "m");  // the list 10@cc
    c.ops.push_back(make);
    Op op = set_op();
    op.obj = OpId{10, 0};
    op.elem = OpId{3, 1};  // 3@aa is an element of the list 2@aa
    op.insert = true;
    c.ops.push_back(op);
    expect_refused(std::move(c), "op refers to a list element that does not exist");
    // The same insert at the head of the new list is fine.
    c = hostile_change();
    c.actors.pop_back();  // no op refers to aa now
    c.ops.push_back(make);
    op.elem = OpId{};
    c.ops.push_back(op);
    Status fine = merge_onto_aa(std::move(c));
    EXPECT_TRUE(fine.ok()) << fine.message();
  }
  {
    Change c = hostile_change();  // insert after 3@aa as op 2@cc: an element newer than it
    c.start_op = 2;
    c.ops.push_back(list_insert());
    // A change that depends on aa's cannot be that old (nor 3@cc, which would be newer than
    // 3@aa: actor ids break the tie).
    expect_refused(c, "change startOp 2 is not above its dependencies' highest op counter 3");
    c.start_op = 3;
    expect_refused(c, "change startOp 3 is not above its dependencies' highest op counter 3");
    c.start_op = 4;
    Status fine = merge_onto_aa(std::move(c));
    EXPECT_TRUE(fine.ok()) << fine.message();
  }
  {
    // Insert after an element newer than the op: 10@bb, of a change that the new one does
    // not depend on (whose ops its startOp need not be above), made after aa's.
    auto d = Document::load(hex_bytes(kChangeAa));
    ASSERT_TRUE(d.ok());
    Change b = hostile_change();
    b.actors = {std::string("\xbb", 1), std::string("\xaa", 1)};
    b.deps = {aa_hash()};
    b.ops.push_back(list_insert());  // 10@bb, after 3@aa
    ASSERT_TRUE(d->merge(store_change(b).chunk).ok());
    Change c = hostile_change();
    c.actors = {std::string("\xcc", 1), std::string("\xaa", 1), std::string("\xbb", 1)};
    c.deps = {aa_hash()};
    c.start_op = 4;
    c.ops.push_back(list_insert(OpId{10, 2}));
    auto r = d->merge(store_change(c).chunk);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("op refers to a list element that is not older than it"),
              std::string::npos)
        << r.status().message();
    c.start_op = 10;  // 10@cc is newer than 10@bb (actor ids break the tie): fine
    r = d->merge(store_change(c).chunk);
    EXPECT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(d->save().ok());
  }
  {
    Change c = hostile_change();  // overwrite of key "l" naming the op at key "x" as pred
    Op op = map_set_op("l");
    op.pred_count = 1;
    c.preds.push_back(OpId{1, 1});
    c.ops.push_back(op);
    expect_refused(std::move(c), "op's predecessor is at a different key");
  }
  {
    // Key "x" of a new map naming the root's "x" (1@aa) as pred: one key, two objects.
    Change c = hostile_change();
    c.ops.push_back(make_op(Action::kMakeMap, "m"));  // the map 10@cc
    Op op = map_set_op("x", OpId{10, 0});
    op.pred_count = 1;
    c.preds.push_back(OpId{1, 1});
    c.ops.push_back(op);
    expect_refused(c, "op's predecessor is at a different key");
    c.ops.back().obj = OpId{};  // the root's "x" itself: fine
    Status fine = merge_onto_aa(std::move(c));
    EXPECT_TRUE(fine.ok()) << fine.message();
  }
  {
    Change c = hostile_change();  // a pred that does not exist
    Op op = map_set_op("x");
    op.pred_count = 1;
    c.preds.push_back(OpId{9, 1});
    c.ops.push_back(op);
    expect_refused(std::move(c), "op's predecessor does not exist");
  }
  {
    // A delete of key "x" (1@aa) as 10@cc, then a delete naming that delete as its pred: a
    // document keeps no delete (each is in its pred's successors), so could not keep this.
    Change c = hostile_change();
    Op del;
    del.action = static_cast<uint8_t>(Action::kDel);
    del.map_key = true;
    del.key = "x";
    del.pred_count = 1;
    c.preds.push_back(OpId{1, 1});
    c.ops.push_back(del);
    Status fine = merge_onto_aa(c);
    EXPECT_TRUE(fine.ok()) << fine.message();
    c.preds.push_back(OpId{10, 0});
    c.ops.push_back(del);
    expect_refused(c, "op's predecessor is a delete");
    c.ops[1].action = static_cast<uint8_t>(Action::kSet);  // a write over it: the same
    expect_refused(std::move(c), "op's predecessor is a delete");
  }
  {
    Change c = hostile_change();  // a delete without predecessors
    c.actors.pop_back();  // no op refers to aa (else that would be the error)
    Op op;
    op.action = static_cast<uint8_t>(Action::kDel);
    op.map_key = true;
    op.key = "x";
    c.ops.push_back(op);
    expect_refused(std::move(c), "delete op without predecessors");
  }
  {
    Change c = hostile_change();  // an op id that aa already used
    c.actors = {std::string("\xaa", 1)};
    c.seq = 2;
    c.start_op = 3;
    Op op = map_set_op("y");
    c.ops.push_back(op);
    expect_refused(c, "reuses op counters of an earlier change by the same actor");
    // Counters after aa's, but not depending on aa's change: the library would give it the
    // counters from 1 on (its deps' highest maxOp is 0), aa's first change's among them.
    c.start_op = 4;
    expect_refused(c, "change does not follow on from its author's previous change", false);
    Status fine = merge_onto_aa(std::move(c));
    EXPECT_TRUE(fine.ok()) << fine.message();
  }
}

}  // namespace
}  // namespace amstore

namespace amstore {
namespace {

const char* kDoc111 =
    "856f4a834593f129009b010201aa01bb01c9e1808691a3e584025864d2a5218a8bf9c4a8c4453c39dd81dcedc4"
    "4eed287e0701030303130323024003430256020d01040204130415082105230534024204560657028001058101"
    "028301027e00017e01007e030102007e00017f00020700037f0000037f0200037f007f016c020178000102007e"
    "01007c027f037f03017f0203017f0002147f0201027e000102007f017f0401";

// Merging a document into one that already holds some of its changes regenerates only the
// new ones; the heads check still covers the ones taken as known.
// A character typed on (one op inserted right after its author's op before it, in the
// author's own list: the case OpIndex::stage_typed stages on its own) is held to the same
// checks as any insert: right after its author's op that is no element (a map write, a
// delete), it is refused; the document is left as it was and goes on from there.
TEST(Document, ACharacterTypedOnIsCheckedAsAnyOtherInsert) {
  const std::string cc("\xcc", 1);
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  ChangeHash last = aa_hash();
  uint64_t seq = 0;
  auto add = [&](uint64_t start, Op op, std::vector<OpId> preds = {}) -> Status {
    StoredChange sc = one_op_change(cc, seq + 1, start, last, op, std::move(preds));
    auto r = d->merge(sc.chunk);
    if (!r.ok()) return r.status();
    ++seq;
    last = sc.hash;
    return Status::Ok();
  };
  const OpId list{10, 0};  // cc's list at root key "t"
  auto typed = [&](OpId after) {
    Op op = set_op();
    op.obj = list;
    op.elem = after;
    op.insert = true;
    return op;
  };
  auto refused_as_no_element = [](const Status& s) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("op refers to a list element that does not exist"),
              std::string::npos)
        << s.message();
  };
  ASSERT_TRUE(add(10, make_op(Action::kMakeList, "t")).ok());
  ASSERT_TRUE(add(11, typed(OpId{})).ok());     // at the head
  ASSERT_TRUE(add(12, typed(OpId{11, 0})).ok());  // typed on
  ASSERT_TRUE(add(13, typed(OpId{12, 0})).ok());
  ASSERT_TRUE(add(14, map_set_op("k")).ok());     // a write to the root map
  refused_as_no_element(add(15, typed(OpId{14, 0})));
  Op del = set_op();  // backspace: 13@cc deleted by 15@cc
  del.action = static_cast<uint8_t>(Action::kDel);
  del.value = Value();
  del.obj = list;
  del.elem = OpId{13, 0};
  ASSERT_TRUE(add(15, del, {OpId{13, 0}}).ok());
  refused_as_no_element(add(16, typed(OpId{15, 0})));
  ASSERT_TRUE(add(16, typed(OpId{12, 0})).ok());  // after the character before the deleted
  ASSERT_TRUE(add(17, typed(OpId{16, 0})).ok());  // and typed on
  EXPECT_EQ(d->changes().size(), 1u + seq);
  auto saved = d->save();
  ASSERT_TRUE(saved.ok());
  auto again = Document::load(*saved);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(heads_hex(*again), heads_hex(*d));
  EXPECT_EQ(*again->to_json(), *d->to_json());
}

TEST(Document, MergingADocumentRegeneratesOnlyNewChanges) {
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  auto r = d->merge(hex_bytes(kDoc111));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->new_changes, 1u);
  ASSERT_EQ(r->added.size(), 1u);
  EXPECT_EQ(to_hex(r->added[0]), "c9e1808691a3e584025864d2a5218a8bf9c4a8c4453c39dd81dcedc44eed287e");
  EXPECT_EQ(d->find(r->added[0])->chunk.to_vector(), hex_bytes(kChangeBb));
  EXPECT_EQ(*d->to_json(), "{\"l\":[true],\"x\":2}");
}

// A whole document merged into an empty one (load's path) lists every change it added, in
// the order applied: the store appends exactly those to its log. (Only load() itself, which
// returns no stats, skips the list.)
TEST(Document, MergeIntoAnEmptyDocumentListsEveryChangeAdded) {
  for (bool lean : {false, true}) {
    Document d;
    d.set_lean(lean);
    auto r = d.merge(hex_bytes(kDoc111));
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->added.size(), 2u);
    ASSERT_EQ(d.changes().size(), 2u);
    for (size_t i = 0; i < 2; ++i) EXPECT_EQ(r->added[i], d.changes()[i]->hash);
    EXPECT_EQ(to_hex(r->added[1]), "c9e1808691a3e584025864d2a5218a8bf9c4a8c4453c39dd81dcedc44eed287e");
  }
}

// A lean document drops the decoded ops of applied changes and decodes them again for save
// and the JSON view: same bytes, same JSON, before and after further merges.
TEST(Document, LeanDocumentSavesAndRendersTheSame) {
  auto full = Document::load(hex_bytes(kChangeAa));
  auto lean = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(full.ok() && lean.ok());
  lean->set_lean(true);
  EXPECT_TRUE(lean->changes()[0]->change.ops.empty());
  EXPECT_EQ(lean->op_count(), full->op_count());
  EXPECT_EQ(*lean->save(), *full->save());
  ASSERT_TRUE(full->merge(hex_bytes(kDoc111)).ok());
  ASSERT_TRUE(lean->merge(hex_bytes(kDoc111)).ok());
  EXPECT_EQ(lean->heads(), full->heads());
  EXPECT_EQ(*lean->save(), *full->save());
  EXPECT_EQ(*lean->to_json(), *full->to_json());
  EXPECT_EQ(*lean->to_json(), "{\"l\":[true],\"x\":2}");
  // Merging a lean document into another decodes its changes again.
  Document copy;
  ASSERT_TRUE(copy.merge(*lean).ok());
  EXPECT_EQ(*copy.save(), *full->save());
  // A document made lean after a save drops the op set that save kept (it points into the
  // ops dropped), and saves what the others do after the next merge.
  auto later = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(later.ok());
  ASSERT_TRUE(later->save().ok());
  later->set_lean(true);
  ASSERT_TRUE(later->merge(hex_bytes(kDoc111)).ok());
  EXPECT_EQ(*later->save(), *full->save());
  // And back: no longer lean, it holds its changes' ops again, and keeps its op set.
  later->set_lean(false);
  for (const auto& c : later->changes()) EXPECT_FALSE(c->change.ops.empty());
  EXPECT_EQ(*later->save(), *full->save());
  EXPECT_EQ(*later->save(), *full->save());
  EXPECT_EQ(*later->to_json(), *full->to_json());
}

// save() and to_json() are const, and safe to call from several threads at once on one
// document, though a document that is not lean updates the op set it keeps on the way.
TEST(Document, SavesFromSeveralThreadsAtOnceAgree) {
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->save().ok());  // its op set, kept; the merge below leaves it behind
  ASSERT_TRUE(d->merge(hex_bytes(kDoc111)).ok());
  const Bytes expected = *d->change_set().save();
  std::vector<Bytes> saved(4);
  std::vector<std::string> json(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < saved.size(); ++i)
    threads.emplace_back([&, i] {
      saved[i] = *d->save();
      json[i] = *d->to_json();
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < saved.size(); ++i) {
    EXPECT_EQ(saved[i], expected);
    EXPECT_EQ(json[i], "{\"l\":[true],\"x\":2}");
  }
}

// A change set copied out of a document saves and renders what the document did at the
// time of the copy, whatever the document does afterwards (merges, or being destroyed):
// what the store relies on to save outside a document's lock.
TEST(Document, ChangeSetKeepsTheStateItWasCopiedIn) {
  for (bool lean : {false, true}) {
    SCOPED_TRACE(lean ? "lean" : "full");
    std::optional<ChangeSet> set;
    Bytes saved_then;
    {
      auto d = Document::load(hex_bytes(kChangeAa));
      ASSERT_TRUE(d.ok());
      d->set_lean(lean);
      set = d->change_set();
      saved_then = *d->save();
      ASSERT_TRUE(d->merge(hex_bytes(kDoc111)).ok());
      EXPECT_EQ(*d->to_json(), "{\"l\":[true],\"x\":2}");
      EXPECT_NE(*d->save(), saved_then);
    }
    auto again = set->save();
    ASSERT_TRUE(again.ok()) << again.status().message();
    EXPECT_EQ(*again, saved_then);
    auto json = set->to_json();
    ASSERT_TRUE(json.ok());
    EXPECT_EQ(*json, "{\"l\":[true],\"x\":1}");
  }
  // Pending changes are kept after the document chunk, as save() keeps them.
  auto p = Document::load(hex_bytes(kChangeBb));
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->pending().size(), 1u);
  EXPECT_EQ(*p->change_set().save(), *p->save());
  // An empty document's change set is the empty document.
  EXPECT_EQ(*Document().change_set().save(), *Document().save());
}

// The per-actor hash store behind snapshots: blocks of growing size, and a snapshot keeps
// reading what it covered while the original grows past it.
TEST(Document, KnownChangeHashesAcrossBlocks) {
  KnownChanges::Hashes live;
  auto hash_of = [](size_t i) {
    ChangeHash h{};
    h[0] = static_cast<uint8_t>(i);
    h[1] = static_cast<uint8_t>(i >> 8);
    return h;
  };
  std::vector<ChangeHash> all;
  for (size_t i = 0; i < 1000; ++i) all.push_back(hash_of(i));
  // Appended in runs of 1 to 37, which end within blocks and past their ends.
  KnownChanges::Hashes snapshot;
  for (size_t i = 0; i < 1000;) {
    if (i == 300) snapshot = live;
    size_t run = std::min<size_t>(1 + i * 7 % 37, 1000 - i);
    if (i < 300) run = std::min<size_t>(run, 300 - i);
    live.append(&all[i], run);
    i += run;
  }
  ASSERT_EQ(live.count, 1000u);
  for (size_t i = 0; i < 1000; ++i) ASSERT_EQ(live[i], hash_of(i)) << i;
  ASSERT_EQ(snapshot.count, 300u);
  for (size_t i = 0; i < 300; ++i) ASSERT_EQ(snapshot[i], hash_of(i)) << i;
}

// An upload decoded against a snapshot of the document's changes before the caller's lock
// (PreparedUpload::decode_against). A snapshot that has fallen behind is harmless (what
// arrived since is deduplicated); one the document does not hold is not trusted.
TEST(Document, UploadDecodedAgainstAStaleSnapshotMergesTheSame) {
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  auto known = d->known_changes();
  EXPECT_NE(known->find(std::string(1, '\xaa'), 1), nullptr);
  EXPECT_EQ(known->find(std::string(1, '\xbb'), 1), nullptr);
  Bytes doc = hex_bytes(kDoc111);
  auto up = Document::prepare(doc);
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE(up->decode_against(known).ok());
  ASSERT_TRUE(d->merge(hex_bytes(kChangeBb)).ok());  // the snapshot is now behind
  EXPECT_NE(d->known_changes()->find(std::string(1, '\xbb'), 1), nullptr);
  auto r = d->merge(std::move(up).value());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->new_changes, 0u);
  EXPECT_EQ(*d->to_json(), "{\"l\":[true],\"x\":2}");
}

TEST(Document, UploadDecodedAgainstASnapshotTheDocumentLacksIsDecodedAgain) {
  // The snapshot has bb's change; the document it is merged into does not.
  auto other = Document::load(hex_bytes(kDoc111));
  ASSERT_TRUE(other.ok());
  auto d = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(d.ok());
  Bytes doc = hex_bytes(kDoc111);
  auto up = Document::prepare(doc);
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE(up->decode_against(other->known_changes()).ok());
  auto r = d->merge(std::move(up).value());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->new_changes, 1u);
  EXPECT_EQ(d->heads(), other->heads());
  EXPECT_EQ(*d->to_json(), "{\"l\":[true],\"x\":2}");
}

TEST(Document, MergingADocumentThatDisagreesOnAKnownChangeFails) {
  // A different change by actor aa with seq 1 (the empty change of spec §11.3).
  auto d = Document::load(hex_bytes("856f4a831960cda1010e0001aa01010005656d7074790000"));
  ASSERT_TRUE(d.ok()) << d.status().message();
  auto r = d->merge(hex_bytes(kDoc111));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(d->changes().size(), 1u);
}

// A document chunk whose heads the document has all applied brings nothing new and is passed
// over without reading its columns (PreparedUpload::skip_held, and merge() itself). Its
// checksum is still verified; here the columns are broken behind a valid checksum, which
// only a document that lacks the heads gets to see.
TEST(Document, UploadWhoseHeadsAreAppliedIsNotRead) {
  std::vector<Chunk> chunks;
  Bytes good = hex_bytes(kDoc111);
  ASSERT_TRUE(read_chunks(good, &chunks).ok());
  Bytes body(chunks[0].body.begin(), chunks[0].body.end());
  // The last op column's last byte (before the one-byte heads index): unterminated LEB128.
  body[body.size() - 2] = 0xff;
  Bytes broken;
  write_chunk(broken, ChunkType::kDocument, body);

  auto empty = Document::load(Bytes{});
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->merge(broken).ok());
  auto partial = Document::load(hex_bytes(kChangeAa));
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->merge(broken).ok());

  auto d = Document::load(good);
  ASSERT_TRUE(d.ok());
  auto r = d->merge(broken);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->new_changes, 0u);
  auto up = Document::prepare(broken);
  ASSERT_TRUE(up.ok());
  up->skip_held(*d);
  ASSERT_TRUE(up->decode_against(d->known_changes()).ok());
  r = d->merge(std::move(up).value());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->new_changes, 0u);
  // Not held by `partial`: decode_against reads the columns and refuses them.
  up = Document::prepare(broken);
  ASSERT_TRUE(up.ok());
  up->skip_held(*partial);
  EXPECT_FALSE(up->decode_against(partial->known_changes()).ok());
}

// A change by its own actor (byte `who`) setting root key "k" to null `n` times, each op a
// conflict with the others: its columns are runs, so its chunk takes a few dozen bytes.
Bytes many_sets(char who, uint32_t n) {
  Change c = first_change(std::string(16, who));
  Op op = root_op("k", Action::kSet);
  op.value.type = static_cast<uint8_t>(ValueType::kNull);  // no raw bytes per op
  c.ops.resize(n);
  for (Op& o : c.ops) o = op;
  return store_change(std::move(c)).chunk.to_vector();
}

TEST(Document, UploadsAreHeldToTheirLimitOnOps) {
  // Each chunk is within what its own size allows, but not the two together.
  Bytes one = many_sets(1, 600000), two = many_sets(2, 600000);
  ASSERT_LT(one.size(), 100u);
  ASSERT_TRUE(Document::load(one).ok());
  Bytes both = one;
  both.insert(both.end(), two.begin(), two.end());
  auto r = Document::load(both);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "upload has more than " +
                                      std::to_string(max_rows_for(both.size())) + " ops");

  // A caller's limit, for change chunks (decoded in prepare) ...
  Bytes small = many_sets(3, 50);
  EXPECT_TRUE(Document::prepare(small, 50).ok());
  auto p = Document::prepare(small, 49);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "upload has more than 49 ops");
  // ... and for document chunks, counted by their op rows once inflated, whether decoded
  // against a document or merged straight away.
  auto doc = Document::load(small);
  ASSERT_TRUE(doc.ok());
  auto saved = doc->save();
  ASSERT_TRUE(saved.ok());
  auto up = Document::prepare(*saved, 49);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->decode_against(nullptr).message(), "upload has more than 49 ops");
  up = Document::prepare(*saved, 49);
  ASSERT_TRUE(up.ok());
  Document fresh;
  auto m = fresh.merge(std::move(up).value());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(), "upload has more than 49 ops");
  EXPECT_TRUE(fresh.heads().empty());
  up = Document::prepare(*saved, 50);
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE(fresh.merge(std::move(up).value()).ok());
  EXPECT_EQ(fresh.heads(), doc->heads());
}

// A change of actor `who` setting root key "big" to `n` bytes of 'a', as a compressed
// change chunk (type 2): a few kilobytes that inflate to n.
Bytes compressed_big_change(char who, size_t n) {
  Change c = first_change(std::string(16, who));
  Op op = root_op("big", Action::kSet);
  op.value.type = static_cast<uint8_t>(ValueType::kString);
  op.value.bytes = std::string(n, 'a');
  c.ops.push_back(op);
  StoredChange sc = store_change(std::move(c));
  Bytes body = encode_change_body(sc.change);
  Bytes deflated = deflate_raw(body);
  Bytes out;
  write_chunk(out, ChunkType::kCompressedChange, deflated);
  std::copy_n(sc.hash.begin(), 4, out.begin() + 4);  // the checksum is the type-1 form's
  return out;
}

// How many chunks of `size` bytes, each inflating to `inflated`, an upload needs before
// together they pass its budget (one alone is within it); 0 if no number does, when the
// chunk compresses 256:1 or less (inflate_budget_for allows each byte 256).
size_t chunks_past_budget(size_t size, size_t inflated) {
  for (size_t n = 1; n <= 64; ++n)
    if (inflate_budget_for(n * size) < n * inflated) return n;
  return 0;
}

TEST(Document, AnUploadInflatesWithinOneBudgetForAllItsChunks) {
  constexpr size_t kBig = 20 << 20;
  Bytes one = compressed_big_change(1, kBig);
  auto d = Document::load(one);  // 20 MB from ~70 KB: within 16 MB + 256 per byte
  ASSERT_TRUE(d.ok()) << d.status().message();
  // Enough such chunks to pass the budget of one upload, each within a budget of its own.
  const size_t n = chunks_past_budget(one.size(), kBig);
  ASSERT_GE(n, 2u) << one.size() << " bytes";
  Bytes many;
  for (size_t who = 1; who <= n; ++who) {
    Bytes c = compressed_big_change(static_cast<char>(who), kBig);
    many.insert(many.end(), c.begin(), c.end());
  }
  auto r = Document::load(many);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("decompressed data exceeds the size limit"), std::string::npos)
      << r.status().message();
  // The same for document chunks: copies of the document as saved.
  auto saved = d->save();
  ASSERT_TRUE(saved.ok());
  ASSERT_TRUE(Document::load(*saved).ok());
  const size_t copies = chunks_past_budget(saved->size(), kBig);
  ASSERT_GE(copies, 2u) << saved->size() << " bytes";
  Bytes docs;
  for (size_t i = 0; i < copies; ++i) docs.insert(docs.end(), saved->begin(), saved->end());
  r = Document::load(docs);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("decompressed data exceeds the size limit"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace amstore
