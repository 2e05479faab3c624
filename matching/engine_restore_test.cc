// Recovery: snapshot an engine through the public read API, restore it into a fresh engine,
// and both must continue with identical events. Also: restore refuses inconsistent state.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "matching/engine.h"
#include "matching/random_commands.h"

namespace proofbook::matching {
namespace {

std::string Dump(std::span<const Event> events) {
  std::string s;
  for (const Event& e : events) s += "    " + EventToString(e) + "\n";
  return s;
}

TEST(EngineRestoreTest, RestoredEngineContinuesWithIdenticalEvents) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    RandomCommands::Shape shape;
    shape.markets = 1 + static_cast<int>(seed % 3);
    RandomCommands gen(seed, shape);
    Engine original;
    int cut = 60 + static_cast<int>(seed % 120);
    for (int i = 0; i < cut; ++i) {
      Command c = gen.Next();
      gen.Observe(original.Apply(c));
    }
    Snapshot snap = original.GetSnapshot();
    Engine restored;
    Status st = restored.Restore(snap);
    ASSERT_TRUE(st.ok()) << "seed " << seed << ": " << st.ToString();
    ASSERT_EQ(restored.GetSnapshot(), snap) << "seed " << seed;
    for (int i = 0; i < 200; ++i) {
      Command c = gen.Next();
      auto a = original.Apply(c);
      std::vector<Event> want(a.begin(), a.end());
      auto b = restored.Apply(c);
      ASSERT_TRUE(std::equal(want.begin(), want.end(), b.begin(), b.end()))
          << "seed " << seed << " step " << i << "\n  original:\n"
          << Dump(want) << "  restored:\n"
          << Dump(b);
      gen.Observe(want);
    }
    ASSERT_EQ(restored.GetSnapshot(), original.GetSnapshot()) << "seed " << seed;
  }
}

Snapshot SmallSnapshot() {
  Engine e;
  MarketParams p;
  p.max_proof_bytes = 100;
  p.min_stake = 10;
  e.Apply({1, 0, CreateMarket{0, p}});
  e.Apply({2, 0, CreateAccount{1, Role::kSequencer}});
  e.Apply({3, 0, Deposit{1, 1000}});
  e.Apply({4, 0, CreateAccount{2, Role::kProver}});
  e.Apply({5, 0, Deposit{2, 1000}});
  e.Apply({6, 0, Stake{2, 100}});
  e.Apply({7, 0, PlaceOffer{2, 0, 50, 10, 2, 0}});
  PlaceOrder o;
  o.account = 1;
  o.max_price = 100;
  o.deadline = 10'000;
  o.redundancy = 2;
  e.Apply({8, 0, o});
  return e.GetSnapshot();
}

TEST(EngineRestoreTest, RestoreOfConsistentSnapshotSucceedsWithoutEvents) {
  Snapshot s = SmallSnapshot();
  ASSERT_EQ(s.orders.size(), 1u);
  ASSERT_EQ(s.assignments.size(), 1u);
  Engine e;
  ASSERT_TRUE(e.Restore(s).ok());
  EXPECT_EQ(e.GetSnapshot(), s);
  EXPECT_EQ(e.GetOrder(1)->needed, 1);  // derived again: 2 wanted, 1 live
  EXPECT_EQ(e.GetBook(0)->bids.size(), 1u);
}

TEST(EngineRestoreTest, RestoreRejectsLedgerThatDoesNotBalance) {
  Snapshot s = SmallSnapshot();
  s.ids.external_net += 1;
  Engine e;
  EXPECT_FALSE(e.Restore(s).ok());
}

TEST(EngineRestoreTest, RestoreRejectsEscrowNotMatchingOrders) {
  Snapshot s = SmallSnapshot();
  s.orders[0].escrow_left -= 10;
  Engine e;
  EXPECT_FALSE(e.Restore(s).ok());
}

TEST(EngineRestoreTest, RestoreRejectsCapacityNotMatchingAssignments) {
  Snapshot s = SmallSnapshot();
  s.offers[0].capacity_left = 2;  // one job is live
  Engine e;
  EXPECT_FALSE(e.Restore(s).ok());
}

TEST(EngineRestoreTest, RestoreRejectsSameProverTwiceOnOneOrder) {
  Snapshot s = SmallSnapshot();
  AssignmentState dup = s.assignments[0];
  dup.id += 1;
  s.assignments.push_back(dup);
  s.ids.next_assignment += 1;
  Engine e;
  EXPECT_FALSE(e.Restore(s).ok());
}

TEST(EngineRestoreTest, RestoreRejectsIdsNotAboveRestoredOnes) {
  Snapshot s = SmallSnapshot();
  s.ids.next_order = 1;
  Engine e;
  EXPECT_FALSE(e.Restore(s).ok());
}

}  // namespace
}  // namespace proofbook::matching
