#include "automerge/change_index.h"

#include <gtest/gtest.h>

#include <vector>

#include "automerge/hash.h"

namespace amstore {
namespace {

// Distinct hashes, as SHA-256 of small numbers.
std::vector<ChangeHash> some_hashes(size_t n) {
  std::vector<ChangeHash> v;
  for (size_t i = 0; i < n; ++i) {
    Bytes b(8);
    for (size_t k = 0; k < 8; ++k) b[k] = static_cast<uint8_t>(i >> (8 * k));
    v.push_back(sha256(b));
  }
  return v;
}

TEST(ChangeIndex, FindsEveryChangeThroughGrowthAndNothingElse) {
  const std::vector<ChangeHash> all = some_hashes(5000);
  std::vector<ChangeHash> list(all.begin(), all.begin() + 4000);  // the rest: never added
  auto hash_at = [&](uint32_t i) -> const ChangeHash& { return list[i]; };
  ChangeIndex index;
  EXPECT_EQ(index.find(all[0], hash_at), ChangeIndex::kNone);  // empty
  for (uint32_t i = 0; i < list.size(); ++i) {
    index.insert(list[i], i, hash_at);
    ASSERT_EQ(index.find(list[i], hash_at), i);
  }
  EXPECT_EQ(index.size(), list.size());
  for (uint32_t i = 0; i < list.size(); ++i) EXPECT_EQ(index.find(list[i], hash_at), i);
  for (size_t i = list.size(); i < all.size(); ++i)
    EXPECT_EQ(index.find(all[i], hash_at), ChangeIndex::kNone);
  // Adding a hash again keeps its first position.
  index.insert(list[7], 3999, hash_at);
  EXPECT_EQ(index.size(), list.size());
  EXPECT_EQ(index.find(list[7], hash_at), 7u);
  index.clear();
  EXPECT_EQ(index.find(list[7], hash_at), ChangeIndex::kNone);
}

// Hashes alike in the 8 bytes the slots are mixed from share their slot bits; the full
// hash, compared with the list's, still tells them apart.
TEST(ChangeIndex, HashesThatShareTheirMixedBitsAreStillDifferent) {
  std::vector<ChangeHash> list = some_hashes(64);
  for (size_t i = 1; i < list.size(); ++i)
    std::copy(list[0].begin(), list[0].begin() + 8, list[i].begin());
  ChangeHash absent = list[5];
  absent[31] ^= 1;
  auto hash_at = [&](uint32_t i) -> const ChangeHash& { return list[i]; };
  ChangeIndex index;
  for (uint32_t i = 0; i < list.size(); ++i) index.insert(list[i], i, hash_at);
  EXPECT_EQ(index.size(), list.size());
  for (uint32_t i = 0; i < list.size(); ++i) EXPECT_EQ(index.find(list[i], hash_at), i);
  EXPECT_EQ(index.find(absent, hash_at), ChangeIndex::kNone);
}

// insert_all, which asks for each hash's slot ahead of placing it, finds what insert() one
// by one finds: into a table that already holds changes (and grows), with hashes repeated
// in the batch (the first position kept, as insert() keeps it), hashes that share their
// mixed bits, and a batch shorter than the distance it asks ahead.
TEST(ChangeIndex, InsertAllFindsWhatInsertingOneByOneFinds) {
  std::vector<ChangeHash> list = some_hashes(6005);
  for (size_t i = 4000; i < 4064; ++i)  // alike in the 8 bytes slots are mixed from
    std::copy(list[4000].begin(), list[4000].begin() + 8, list[i].begin());
  list[5000] = list[4500];  // a batch's own repeat
  list[5001] = list[10];    // a hash the table holds before the batch
  auto hash_at = [&](uint32_t i) -> const ChangeHash& { return list[i]; };
  ChangeIndex one_by_one, batched;
  for (uint32_t i = 0; i < 1000; ++i) {
    one_by_one.insert(list[i], i, hash_at);
    batched.insert(list[i], i, hash_at);
  }
  for (uint32_t i = 1000; i < list.size(); ++i) one_by_one.insert(list[i], i, hash_at);
  batched.insert_all(1000, 6000, hash_at, hash_at);
  EXPECT_EQ(batched.size(), 6000u - 2);
  batched.insert_all(6000, 6005, hash_at, hash_at);
  EXPECT_EQ(batched.size(), one_by_one.size());
  EXPECT_EQ(batched.size(), list.size() - 2);
  for (uint32_t i = 0; i < list.size(); ++i)
    ASSERT_EQ(batched.find(list[i], hash_at), one_by_one.find(list[i], hash_at)) << i;
  EXPECT_EQ(batched.find(list[5000], hash_at), 4500u);
  EXPECT_EQ(batched.find(list[5001], hash_at), 10u);
  ChangeHash absent = list[4001];
  absent[31] ^= 1;
  EXPECT_EQ(batched.find(absent, hash_at), ChangeIndex::kNone);
  // An empty batch changes nothing.
  batched.insert_all(7, 7, hash_at, hash_at);
  EXPECT_EQ(batched.size(), list.size() - 2);
}

}  // namespace
}  // namespace amstore
