// build_op_set on hand-made changes: the cases that documents from the library never reach.
#include <gtest/gtest.h>

#include <string>

#include "automerge/doc_chunk.h"
#include "automerge/op_set.h"

namespace amstore {
namespace {

const std::string kAa("\xaa", 1), kBb("\xbb", 1);

Op make_map_op() {
  Op op;
  op.action = static_cast<uint8_t>(Action::kMakeMap);
  op.map_key = true;
  op.key = "m";
  return op;
}

Op set_in(OpId obj, const char* key) {
  Op op;
  op.action = static_cast<uint8_t>(Action::kSet);
  op.value.type = static_cast<uint8_t>(ValueType::kTrue);
  op.obj = obj;
  op.map_key = true;
  op.key = key;
  return op;
}

StoredChange change_of(const std::string& author, uint64_t start_op, std::vector<Op> ops,
                       std::vector<std::string> others = {}) {
  Change c;
  c.actors = {author};
  for (const std::string& a : others) c.actors.push_back(a);
  c.seq = 1;
  c.start_op = start_op;
  c.ops.assign(ops.begin(), ops.end());
  return store_change(std::move(c));
}

// bb's change sets a key in the map 1@aa, which aa's change makes; the list names bb's change
// first. (Not a causal history the library would write, but build_op_set takes its input's
// order as given: the op must still be grouped under its object, after that object's make.)
TEST(OpSet, OpOnAnObjectMadeLaterInTheListJoinsIt) {
  // In bb's change, actor index 1 is aa.
  StoredChange bb = change_of(kBb, 2, {set_in(OpId{1, 1}, "x")}, {kAa});
  StoredChange aa = change_of(kAa, 1, {make_map_op()});
  auto s = build_op_set({&bb, &aa});
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->actors, (std::vector<std::string>{kAa, kBb}));
  ASSERT_EQ(s->objects.size(), 2u);  // the root, then 1@aa
  EXPECT_EQ(s->objects[1].id, (OpId{1, 0}));
  ASSERT_EQ(s->objects[1].end - s->objects[1].begin, 1u);
  const DocOp& set = s->op(s->objects[1].begin);  // in the range of 1@aa: its object
  EXPECT_EQ(set.id, (OpId{2, 1}));
}

// The save writes a run of object ids per object range, and a map's ops without element
// ids: an op set whose ranges leave an op out, or whose map holds a list op, is refused
// rather than written with its columns out of step.
TEST(OpSet, EncodingRefusesRangesThatDoNotFitTheOps) {
  StoredChange aa = change_of(kAa, 1, {make_map_op(), set_in(OpId{1, 0}, "x")});
  auto built = build_op_set({&aa});
  ASSERT_TRUE(built.ok()) << built.status().message();
  ASSERT_TRUE(encode_document(*built, {&aa}, false).ok());
  {
    OpSet s = *built;
    ASSERT_EQ(s.objects.size(), 2u);
    --s.objects[1].end;  // the last op in no range
    EXPECT_FALSE(encode_document(s, {&aa}, false).ok());
  }
  {
    OpSet s = *built;
    s.objects[1].type = ObjType::kList;  // its op has a map key
    EXPECT_FALSE(encode_document(s, {&aa}, false).ok());
  }
}

TEST(OpSet, OpOnAnObjectThatNoChangeMakesIsRefused) {
  StoredChange aa = change_of(kAa, 1, {make_map_op(), set_in(OpId{5, 0}, "x")});
  auto s = build_op_set({&aa});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "op refers to an object that does not exist");
}

// Successor lists come out grouped by predecessor and in Lamport order, whatever the order
// of the changes that name them.
TEST(OpSet, SuccessorsAreInLamportOrder) {
  StoredChange base = change_of(kAa, 1, {set_in(OpId{}, "k")});
  Op over_bb = set_in(OpId{}, "k");
  over_bb.pred_count = 1;
  Op over_aa = over_bb;
  Change cb;  // bb overwrites 1@aa with 2@bb
  cb.actors = {kBb, kAa};
  cb.seq = 1;
  cb.start_op = 2;
  cb.ops = {over_bb};
  cb.preds = {OpId{1, 1}};
  Change ca;  // aa overwrites 1@aa with 2@aa, concurrently
  ca.actors = {kAa};
  ca.seq = 2;
  ca.start_op = 2;
  ca.ops = {over_aa};
  ca.preds = {OpId{1, 0}};
  StoredChange b = store_change(std::move(cb)), a = store_change(std::move(ca));
  auto s = build_op_set({&base, &b, &a});  // bb's successor listed first
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->succ_count(0), 2u);
  const uint32_t first = s->succ_start[0];
  EXPECT_EQ(s->succ[first], (OpId{2, 0}));      // 2@aa
  EXPECT_EQ(s->succ[first + 1], (OpId{2, 1}));  // 2@bb
  EXPECT_EQ(s->succ_ops[first], &a.change.ops[0]);
  EXPECT_EQ(s->succ_ops[first + 1], &b.change.ops[0]);
  EXPECT_EQ(s->succ_count(1), 0u);
  EXPECT_EQ(s->succ_count(2), 0u);
  // The entries' own counts, which the save reads.
  EXPECT_EQ(s->all[0].succ_count, 2u);
  EXPECT_EQ(s->all[1].succ_count, 0u);
  EXPECT_EQ(s->all[2].succ_count, 0u);
}

// An op set grown by a second batch equals the one built at once, when that batch brings an
// actor that sorts before the others (every actor index is renumbered) and a successor that
// is older than one the op had (its list is sorted again).
TEST(OpSet, GrownBySecondBatchEqualsBuiltAtOnce) {
  const std::string kCc("\xcc", 1);
  StoredChange base = change_of(kBb, 1, {set_in(OpId{}, "k")});
  Op over = set_in(OpId{}, "k");
  over.pred_count = 1;
  auto overwrite = [&](const std::string& author) {  // author overwrites 1@bb with 2@author
    Change c;
    c.actors = {author, kBb};
    c.seq = 1;
    c.start_op = 2;
    c.ops = {over};
    c.preds = {OpId{1, 1}};
    return store_change(std::move(c));
  };
  StoredChange cc = overwrite(kCc), aa = overwrite(kAa);
  OpSetBuilder grown;
  ASSERT_TRUE(grown.add({&base, &cc}).ok());
  ASSERT_TRUE(grown.add({&base, &cc, &aa}).ok());
  EXPECT_EQ(grown.covered(), 3u);
  auto fresh = build_op_set({&base, &cc, &aa});
  ASSERT_TRUE(fresh.ok()) << fresh.status().message();
  const OpSet& s = grown.op_set();
  EXPECT_EQ(s.actors, (std::vector<std::string>{kAa, kBb, kCc}));
  EXPECT_EQ(s.change_author, fresh->change_author);
  EXPECT_EQ(s.succ, fresh->succ);
  EXPECT_EQ(s.succ_ops, fresh->succ_ops);
  EXPECT_EQ(s.succ_start, fresh->succ_start);
  EXPECT_EQ(s.order, fresh->order);
  ASSERT_EQ(s.succ_count(0), 2u);
  EXPECT_EQ(s.succ[s.succ_start[0]], (OpId{2, 0}));      // 2@aa, though it came last
  EXPECT_EQ(s.succ[s.succ_start[0] + 1], (OpId{2, 2}));  // 2@cc
  for (size_t i = 0; i < s.all.size(); ++i) {
    EXPECT_EQ(s.all[i].id, fresh->all[i].id);
    EXPECT_EQ(s.all[i].op, fresh->all[i].op);
  }
}

// Elements inserted at the head of a list by a second batch that must pass every element
// there (all newer): spliced in one at a time, or, past the splice's scan budget, the list
// ordered again from scratch. Either way the order is the one built at once.
TEST(OpSet, ListGrownBySecondBatchEqualsBuiltAtOnce) {
  for (const uint32_t late : {3u, 1000u}) {  // 3: spliced; 1,000: over the budget
    SCOPED_TRACE(late);
    Op make = make_map_op();
    make.action = static_cast<uint8_t>(Action::kMakeList);
    auto at_head = [](OpId list) {
      Op op;
      op.action = static_cast<uint8_t>(Action::kSet);
      op.value.type = static_cast<uint8_t>(ValueType::kTrue);
      op.obj = list;
      op.insert = true;  // elem: the head
      return op;
    };
    std::vector<Op> early{make};
    for (int i = 0; i < 2000; ++i) early.push_back(at_head(OpId{1, 0}));
    StoredChange bb = change_of(kBb, 1, early);  // 1@bb the list, 2..2001@bb at its head
    std::vector<Op> concurrent;
    for (uint32_t i = 0; i < late; ++i) concurrent.push_back(at_head(OpId{1, 1}));
    concurrent.push_back(at_head(OpId{1, 1}));
    concurrent.back().elem = OpId{1000, 1};  // and one after 1000@bb, which is older
    StoredChange aa = change_of(kAa, 1001, concurrent, {kBb});  // 1001..@aa
    OpSetBuilder grown;
    ASSERT_TRUE(grown.add({&bb}).ok());
    ASSERT_TRUE(grown.add({&bb, &aa}).ok());
    auto fresh = build_op_set({&bb, &aa});
    ASSERT_TRUE(fresh.ok()) << fresh.status().message();
    EXPECT_EQ(grown.op_set().order, fresh->order);
    auto a = encode_document(grown.op_set(), {&bb, &aa}, false);
    auto b = encode_document(*fresh, {&bb, &aa}, false);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(*a == *b);
  }
}

}  // namespace
}  // namespace amstore
