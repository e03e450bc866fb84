// build_op_set on hand-made changes: the cases that documents from the library never reach.
#include <gtest/gtest.h>

#include <string>

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
  c.actors.insert(c.actors.end(), others.begin(), others.end());
  c.seq = 1;
  c.start_op = start_op;
  c.ops = std::move(ops);
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
}

}  // namespace
}  // namespace amstore
