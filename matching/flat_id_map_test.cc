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

// Growing moves the old table a few slots per Insert / Erase: every id must stay findable, exactly
// once, at every step of a move, whatever is inserted (over an id still in the old table), erased
// (from either table) or copied meanwhile.
TEST(FlatIdMap, EveryIdStaysFindableWhileATableGrowsStepByStep) {
  std::mt19937_64 rng(11);
  FlatIdMap m(16);
  std::unordered_map<int64_t, uint32_t> ref;
  int64_t next = 1;
  int checks = 0;
  while (next < 300'000) {
    const int op = static_cast<int>(rng() % 8);
    if (op < 5) {  // mostly new ids, as the engine makes them
      const uint32_t v = static_cast<uint32_t>(rng());
      m.Insert(next, v);
      ref[next++] = v;
    } else if (op < 7) {  // an older id: overwritten, or erased
      const int64_t key = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(next));
      if (op == 5) {
        const uint32_t v = static_cast<uint32_t>(rng());
        m.Insert(key, v);
        ref[key] = v;
      } else {
        ASSERT_EQ(m.Erase(key), ref.erase(key) == 1) << key;
      }
    } else {
      const int64_t key = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(next));
      auto it = ref.find(key);
      ASSERT_EQ(m.Find(key), it == ref.end() ? kNil : it->second) << key;
    }
    ASSERT_EQ(m.size(), ref.size());
    // A full check now and then, and near each power of two, where a move is under way.
    const bool near_growth = (ref.size() & (ref.size() - 1)) == 0 || (next & 0x3fff) == 0;
    if (near_growth && checks < 400) {
      ++checks;
      const FlatIdMap copy = m;  // a copy taken mid-move is the same map
      for (const auto& [k, v] : ref) {
        ASSERT_EQ(m.Find(k), v) << k;
        ASSERT_EQ(copy.Find(k), v) << k;
      }
    }
  }
  for (const auto& [k, v] : ref) ASSERT_EQ(m.Find(k), v);
  EXPECT_EQ(m.Find(next + 1), kNil);
  EXPECT_EQ(m.Find(-5), kNil);
}

// From 3/8 load the next table is zeroed a slice per Insert; a copy does not share it and
// starts its own, which is not all zeroed when the copy grows soon after, and both maps grow
// on their own, whatever is inserted after.
TEST(FlatIdMap, ACopyTakenWhileTheNextTableIsBeingZeroedGrowsOnItsOwn) {
  // 2048 slots: the next table (4096) is zeroed from 768 ids, 32 slots an Insert; used from 1025.
  FlatIdMap m(1024);
  for (int64_t k = 1; k <= 1000; ++k) m.Insert(k, static_cast<uint32_t>(k));
  FlatIdMap copy = m;
  for (int64_t k = 1001; k <= 8000; ++k) {
    m.Insert(k, static_cast<uint32_t>(k));
    copy.Insert(-k, static_cast<uint32_t>(k));
  }
  for (int64_t k = 1; k <= 8000; ++k) {
    ASSERT_EQ(m.Find(k), static_cast<uint32_t>(k)) << k;
    ASSERT_EQ(m.Find(-k), kNil) << k;
    ASSERT_EQ(copy.Find(k), k <= 1000 ? static_cast<uint32_t>(k) : kNil) << k;
    ASSERT_EQ(copy.Find(-k), k <= 1000 ? kNil : static_cast<uint32_t>(k)) << k;
  }
  // Both hold 8,000 of 16,384 slots: m has zeroed its next table; copy grows at 8,193 with
  // its own still mostly unzeroed, so Grow zeroes the rest.
  copy = m;
  for (int64_t k = 8001; k <= 12000; ++k) copy.Insert(k, static_cast<uint32_t>(k));
  for (int64_t k = 1; k <= 12000; ++k) ASSERT_EQ(copy.Find(k), static_cast<uint32_t>(k)) << k;
  EXPECT_EQ(m.size(), 8000u);
  EXPECT_EQ(copy.size(), 12000u);
}

// Negative ids and 0 (the treasury account) are ids like any other.
TEST(FlatIdMap, ZeroAndNegativeIdsAreKeys) {
  FlatIdMap m(2);
  for (int64_t k = -100; k <= 100; ++k) m.Insert(k, static_cast<uint32_t>(k + 1000));
  for (int64_t k = -100; k <= 100; ++k) ASSERT_EQ(m.Find(k), static_cast<uint32_t>(k + 1000));
  EXPECT_TRUE(m.Erase(0));
  EXPECT_EQ(m.Find(0), kNil);
  EXPECT_EQ(m.size(), 200u);
}

}  // namespace
}  // namespace proofbook::matching
