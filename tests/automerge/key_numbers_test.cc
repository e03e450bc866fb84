// SipHash against the reference vectors of its paper (SipHash-2-4, key 00 01 .. 0f), the
// keyed hash that map keys are numbered with, and the numbering itself.
#include <gtest/gtest.h>

#include <string>

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
