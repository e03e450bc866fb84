// SipHash against the reference vectors of its paper (SipHash-2-4, key 00 01 .. 0f), the
// keyed hash that map keys are numbered with, the numbering itself, and the keyed hash of
// op ids and change hashes.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "automerge/flat_map.h"
#include "automerge/key_numbers.h"

namespace amstore {
namespace {

constexpr uint64_t kK0 = 0x0706050403020100ULL, kK1 = 0x0f0e0d0c0b0a0908ULL;

std::string bytes_upto(size_t n) {  // 00 01 02 .. n-1
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i));
  return s;
}

TEST(KeyedHash, SipHash24MatchesThePapersVectors) {
  EXPECT_EQ(siphash24(kK0, kK1, ""), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(siphash24(kK0, kK1, bytes_upto(1)), 0x74f839c593dc67fdULL);
  EXPECT_EQ(siphash24(kK0, kK1, bytes_upto(15)), 0xa129ca6149be45e5ULL);  // the paper's example
}

TEST(KeyedHash, DependsOnItsKey) {
  KeyedHash a, b;  // random keys
  int same = 0;
  for (int i = 0; i < 64; ++i) {
    const std::string k = "key" + std::to_string(i);
    EXPECT_EQ(a(k), a(std::string_view(k)));
    same += a(k) == b(k);
  }
  EXPECT_LT(same, 2);
  EXPECT_NE(KeyedHash(1, 2)("x"), KeyedHash(1, 3)("x"));
  EXPECT_EQ(KeyedHash(1, 2)("x"), KeyedHash(1, 2)("x"));
}

// Keys an attacker made to land in one slot of a 2^16-slot table under the mix with key 0
// (splitmix64's finalizer, inverted): under a table's own random key they spread as random
// keys do. With the key left out they would all share a slot.
std::vector<uint64_t> keys_colliding_under_key_zero(size_t n) {
  auto inverse = [](uint64_t c) {  // of an odd c, mod 2^64 (Newton's iteration)
    uint64_t x = c;
    for (int i = 0; i < 6; ++i) x *= 2 - c * x;
    return x;
  };
  auto unshift = [](uint64_t y, int s) {  // inverse of y ^ (y >> s)
    uint64_t x = y;
    for (int k = s; k < 64; k += s) x = y ^ (x >> s);
    return x;
  };
  std::vector<uint64_t> keys;
  for (uint64_t i = 1; i <= n; ++i) {
    uint64_t x = i << 16;  // low 16 bits zero: one slot
    x = unshift(x, 31) * inverse(0x94d049bb133111ebULL);
    x = unshift(x, 27) * inverse(0xbf58476d1ce4e5b9ULL);
    x = unshift(x, 30);
    keys.push_back(x);
  }
  return keys;
}

TEST(KeyedU64Hash, KeysMadeToCollideSpreadUnderATablesKey) {
  const std::vector<uint64_t> keys = keys_colliding_under_key_zero(2000);
  std::set<size_t> slots_unkeyed, slots_a, slots_b;
  KeyedU64Hash zero(0), a, b;  // a, b: random keys
  size_t same = 0;
  for (uint64_t k : keys) {
    slots_unkeyed.insert(zero(k) & 0xffff);
    slots_a.insert(a(k) & 0xffff);
    slots_b.insert(b(k) & 0xffff);
    same += a(k) == b(k);
  }
  EXPECT_EQ(slots_unkeyed.size(), 1u);  // the construction works
  // 2000 random keys in 65536 slots take ~1970 distinct slots.
  EXPECT_GT(slots_a.size(), 1900u);
  EXPECT_GT(slots_b.size(), 1900u);
  EXPECT_LT(same, 2u);
  EXPECT_EQ(KeyedU64Hash(7)(keys[0]), KeyedU64Hash(7)(keys[0]));
}

TEST(KeyedU64Hash, MapsFindWhatTheyHoldWhateverTheKeys) {
  const std::vector<uint64_t> keys = keys_colliding_under_key_zero(5000);
  U64Map<uint32_t> m;
  for (uint32_t i = 0; i < keys.size(); ++i) EXPECT_TRUE(m.emplace(keys[i], i).second);
  U64Map<uint32_t> copy = m;  // a copy hashes as its original
  for (uint32_t i = 0; i < keys.size(); ++i) {
    ASSERT_NE(m.find(keys[i]), nullptr);
    EXPECT_EQ(*m.find(keys[i]), i);
    ASSERT_NE(copy.find(keys[i]), nullptr);
    EXPECT_EQ(*copy.find(keys[i]), i);
  }
  EXPECT_EQ(m.find(0), nullptr);
}

// Every committed key keeps its number through rollbacks, whether the table was rebuilt
// meanwhile (many new keys) or not (a few).
TEST(KeyNumbers, RollbackForgetsOnlyWhatCameSinceTheCommit) {
  KeyNumbers k;
  auto name = [](int i) { return "key-" + std::to_string(i); };
  for (int i = 0; i < 100; ++i) EXPECT_EQ(k.number(name(i)), static_cast<uint32_t>(i));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(k.number(name(i)), static_cast<uint32_t>(i));
  k.commit();
  for (int extra : {3, 5000}) {
    for (int i = 100; i < 100 + extra; ++i) EXPECT_EQ(k.number(name(i)), static_cast<uint32_t>(i));
    k.rollback();
    EXPECT_EQ(k.size(), 100u);
    for (int i = 99; i >= 0; --i) EXPECT_EQ(k.number(name(i)), static_cast<uint32_t>(i));
    EXPECT_EQ(k.size(), 100u);
  }
  // Numbers forgotten are given out again, to whatever key comes next.
  EXPECT_EQ(k.number("another"), 100u);
  EXPECT_EQ(k.number(name(100)), 101u);
  EXPECT_EQ(k.number(""), 102u);
  EXPECT_EQ(k.number(std::string("\0", 1)), 103u);
  EXPECT_EQ(k.number(""), 102u);
}

}  // namespace
}  // namespace amstore
