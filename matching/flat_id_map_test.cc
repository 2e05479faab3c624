#include "matching/flat_id_map.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace proofbook::matching {
namespace {

TEST(FlatIdMap, FindsWhatWasInsertedAndNotWhatWasErased) {
  FlatIdMap m(4);
  m.Insert(7, 1);
  m.Insert(8, 2);
  EXPECT_EQ(m.Find(7), 1u);
  EXPECT_EQ(m.Find(9), kNil);
  EXPECT_TRUE(m.Erase(7));
  EXPECT_FALSE(m.Erase(7));
  EXPECT_EQ(m.Find(7), kNil);
  EXPECT_EQ(m.Find(8), 2u);
}

TEST(FlatIdMap, AgreesWithUnorderedMapUnderRandomInsertsAndErases) {
  // Backward-shift deletion must keep every remaining key reachable; sequential ids (the
  // engine's pattern) and random ids both.
  std::mt19937_64 rng(7);
  FlatIdMap m(8);
  std::unordered_map<int64_t, uint32_t> ref;
  int64_t next = 1;
  for (int i = 0; i < 200'000; ++i) {
    int op = static_cast<int>(rng() % 3);
    if (op == 0 || ref.size() < 10) {
      int64_t key = rng() % 2 ? next++ : static_cast<int64_t>(rng() % 100'000);
      uint32_t v = static_cast<uint32_t>(rng());
      m.Insert(key, v);
      ref[key] = v;
    } else {
      int64_t key = next - 1 - static_cast<int64_t>(rng() % 64);
      EXPECT_EQ(m.Erase(key), ref.erase(key) == 1);
    }
    if (i % 1000 == 0) {
      ASSERT_EQ(m.size(), ref.size());
      for (const auto& [k, v] : ref) ASSERT_EQ(m.Find(k), v);
    }
  }
}

}  // namespace
}  // namespace proofbook::matching
