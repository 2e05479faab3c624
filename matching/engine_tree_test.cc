// Rule tests for proof trees (command.h PlaceTree, tree_shape.h): the layout, cascading
// deadlines checked at placement, escrow for the whole tree, merges placed when both children
// are proven and drawn among the children's provers, sibling takeover then the open market,
// payment by contribution, the tree's failure, restore; and a property test with random
// failures. Every step checks the engine's invariants.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "matching/draw_source.h"
#include "matching/engine.h"
#include "matching/rules.h"
#include "matching/tree_shape.h"

namespace proofbook::matching {
namespace {

constexpr AccountId kSeq = 10;
constexpr MarketId kLeaf = 1;
constexpr MarketId kMerge = 2;
constexpr Amount kDeposit = 1'000'000'000;

MarketParams Params() {
  MarketParams p;
  p.min_stake = 1000;
  p.min_slash = 100;
  p.slash_multiplier_bps = 20000;
  p.compensation_bps = 5000;
  p.fee_bps = 100;
  p.min_prover_time_ms = 100;
  p.grace_bps = 5000;
  p.uncle_reward_bps = 5000;
  p.max_proof_bytes = 1 << 20;
  return p;
}

std::vector<Event> Of(const std::vector<Event>& ev, EventKind kind) {
  std::vector<Event> out;
  for (const Event& e : ev) {
    if (e.kind == kind) out.push_back(e);
  }
  return out;
}

TEST(TreeShape, LaysOutLevelsPromotionsAndMerges) {
  for (int32_t n : {1, 2, 3, 5, 8, 13, 4096}) {
    SCOPED_TRACE(n);
    const TreeShape s(n);
    int32_t merges = 0;
    for (int32_t node = 0; node < s.nodes(); ++node) merges += s.IsMerge(node) ? 1 : 0;
    EXPECT_EQ(merges, n - 1);
    EXPECT_EQ(s.LevelSize(s.levels() - 1), 1);
    EXPECT_EQ(s.Parent(s.root()), -1);
  }
  const TreeShape five(5);  // 5 leaves -> 3 -> 2 -> 1
  EXPECT_EQ(five.levels(), 4);
  EXPECT_EQ(five.nodes(), 11);
  EXPECT_EQ(five.Parent(0), 5);
  EXPECT_EQ(five.Parent(1), 5);
  EXPECT_EQ(five.Parent(4), 7);
  EXPECT_EQ(five.Sibling(4), -1);  // promoted
  EXPECT_FALSE(five.IsMerge(7));
  EXPECT_TRUE(five.IsMerge(5));
  EXPECT_EQ(five.Parent(7), 9);
  EXPECT_EQ(five.Sibling(7), -1);
  EXPECT_EQ(five.root(), 10);
  EXPECT_EQ(TreeShape(4096).levels(), 13);
  // The leaves get their share, the merge levels split the rest equally.
  EXPECT_EQ(TreeShape::LevelDeadline(0, 4, 1000, 7000, 5000), 4000);
  EXPECT_EQ(TreeShape::LevelDeadline(1, 4, 1000, 7000, 5000), 5000);
  EXPECT_EQ(TreeShape::LevelDeadline(3, 4, 1000, 7000, 5000), 7000);
  EXPECT_EQ(TreeShape::LevelDeadline(0, 1, 1000, 7000, 5000), 7000);  // a lone leaf is the root
}

class EngineTreeTest : public ::testing::Test {
 protected:
  EngineTreeTest() {
    Accepted(CreateMarket{kLeaf, Params()});
    Accepted(CreateMarket{kMerge, Params()});
    Accepted(CreateAccount{kSeq, Role::kSequencer});
    Accepted(Deposit{kSeq, kDeposit});
  }
  std::vector<Event> Do(CommandBody body) {
    auto span = engine_.Apply(Command{++ref_, now_, body});
    std::vector<Event> ev(span.begin(), span.end());
    log_.insert(log_.end(), ev.begin(), ev.end());
    Status st = engine_.CheckConsistency();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return ev;
  }
  std::vector<Event> Accepted(CommandBody body) {
    auto ev = Do(body);
    EXPECT_FALSE(ev.empty());
    if (!ev.empty()) {
      EXPECT_EQ(ev[0].kind, EventKind::kAccepted) << EventToString(ev[0]);
    }
    return ev;
  }
  // A prover with a leaf offer (`leaf_price`, capacity `leaf_capacity`; none if 0) and a merge
  // offer (`merge_price`; none if 0).
  void Prover(AccountId id, Amount leaf_price, int32_t leaf_capacity, Amount merge_price) {
    Accepted(CreateAccount{id, Role::kProver});
    Accepted(Deposit{id, 100'000});
    Accepted(Stake{id, 100'000});
    if (leaf_capacity > 0) Accepted(PlaceOffer{id, kLeaf, leaf_price, 100, leaf_capacity, 0});
    if (merge_price > 0) Accepted(PlaceOffer{id, kMerge, merge_price, 100, 4, 0});
  }
  PlaceTree Tree(int32_t leaves, Timestamp in_ms = 10'000) {
    PlaceTree t;
    t.account = kSeq;
    t.leaf_market = kLeaf;
    t.merge_market = kMerge;
    t.leaves = leaves;
    t.leaf_price = 100;
    t.merge_price = 60;
    t.deadline = now_ + in_ms;
    return t;
  }
  // Delivers and verifies the proof of `assignment` (valid) and returns the verdict's events.
  std::vector<Event> Prove(const AssignmentState& a) {
    Accepted(ProofDelivered{a.prover, a.id, 64, 0});
    return Accepted(ProofVerified{a.id});
  }
  AssignmentState LiveOf(OrderId order) {
    for (const AssignmentState& a : engine_.GetOrderAssignments(order)) {
      if (a.status == AssignmentStatus::kAssigned) return a;
    }
    ADD_FAILURE() << "order " << order << " has no live assignment";
    return {};
  }
  TreeState TreeOf(TreeId id) {
    auto t = engine_.GetTree(id);
    EXPECT_TRUE(t.has_value());
    return t.value_or(TreeState{});
  }
  void Advance(Timestamp ms) {
    now_ += ms;
    Do(Tick{});
  }
  Amount Escrowed() { return engine_.GetAccount(kSeq)->escrowed; }
  Amount Available(AccountId id) { return engine_.GetAccount(id)->available; }

  HashDrawSource draws_{11};
  Engine engine_{EngineOptions{.draws = &draws_}};
  Timestamp now_ = 1'000;
  uint64_t ref_ = 0;
  std::vector<Event> log_;
};

TEST_F(EngineTreeTest, PlacementEscrowsTheWholeTreeAndPlacesEveryLeaf) {
  Prover(101, 80, 2, 0);
  Prover(102, 90, 2, 0);
  auto ev = Accepted(Tree(4));
  const TreeId id = ev[0].tree;
  ASSERT_GT(id, 0);
  auto escrow = Of(ev, EventKind::kTransfer);
  ASSERT_FALSE(escrow.empty());
  EXPECT_EQ(escrow[0].amount, 4 * 100 + 3 * 60);
  EXPECT_EQ(escrow[0].tree, id);
  EXPECT_EQ(Escrowed(), 580);
  auto placed = Of(ev, EventKind::kTreeNodePlaced);
  ASSERT_EQ(placed.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(placed[static_cast<size_t>(i)].value, i);
    EXPECT_EQ(placed[static_cast<size_t>(i)].tree, id);
  }
  EXPECT_EQ(Of(ev, EventKind::kAssigned).size(), 4u);  // the cheaper prover's two first
  const TreeState t = TreeOf(id);
  EXPECT_EQ(t.reserve, 180);
  EXPECT_EQ(t.nodes.size(), 7u);
  // The leaves' deadline is the leaf level's (half the time by default).
  EXPECT_EQ(engine_.GetOrder(placed[0].order)->deadline, now_ + 5'000);
}

TEST_F(EngineTreeTest, PlacementChecksEveryLevelFitsItsMarketsMinProverTime) {
  // 8 leaves: 3 merge levels. With 1,000 ms and half for the leaves, each merge level has
  // 166 ms: enough for 100 ms; with 500 ms it has 83: too soon.
  auto ev = Do(Tree(8, 500));
  ASSERT_EQ(ev[0].kind, EventKind::kRejected);
  EXPECT_EQ(ev[0].reason, Reason::kDeadlineTooSoon);
  EXPECT_EQ(ev[0].field, "deadline");
  PlaceTree leafy = Tree(8, 1'000);
  leafy.leaf_share_bps = 9500;  // 50 ms of merges left for three levels
  EXPECT_EQ(Do(leafy)[0].reason, Reason::kDeadlineTooSoon);
  Accepted(Tree(8, 1'000));
  PlaceTree bad = Tree(8);
  bad.leaf_share_bps = 10000;
  EXPECT_EQ(Do(bad)[0].field, "leaf_share_bps");
  bad = Tree(kMaxTreeLeaves + 1);
  EXPECT_EQ(Do(bad)[0].field, "leaves");
  bad = Tree(4);
  bad.leaf_price = kDeposit;
  EXPECT_EQ(Do(bad)[0].reason, Reason::kInsufficientBalance);
  // Merges are drawn: without a DrawSource a tree of more than one leaf is refused.
  Engine plain;
  plain.Apply(Command{1, now_, CreateMarket{kLeaf, Params()}});
  plain.Apply(Command{2, now_, CreateAccount{kSeq, Role::kSequencer}});
  plain.Apply(Command{3, now_, Deposit{kSeq, 10'000}});
  PlaceTree two = Tree(2);
  two.merge_market = kLeaf;
  auto refused = plain.Apply(Command{4, now_, two});
  EXPECT_EQ(refused[0].reason, Reason::kVrfUnavailable);
  two.leaves = 1;
  EXPECT_EQ(plain.Apply(Command{5, now_, two})[0].kind, EventKind::kAccepted);
}

TEST_F(EngineTreeTest, AMergeGoesToOneOfItsChildrensProversByDraw) {
  Prover(101, 80, 1, 50);
  Prover(102, 80, 1, 55);
  Prover(103, 90, 1, 10);  // the cheapest merge offer, but not a child's prover
  auto ev = Accepted(Tree(2));
  const TreeId id = ev[0].tree;
  auto leaves = Of(ev, EventKind::kTreeNodePlaced);
  Prove(LiveOf(leaves[0].order));
  auto merged = Prove(LiveOf(leaves[1].order));
  auto placed = Of(merged, EventKind::kTreeNodePlaced);
  ASSERT_EQ(placed.size(), 1u);
  EXPECT_EQ(placed[0].value, 2);  // the root
  EXPECT_EQ(placed[0].market, kMerge);
  auto candidates = Of(merged, EventKind::kVrfCandidate);
  ASSERT_EQ(candidates.size(), 2u);
  std::set<AccountId> children{candidates[0].account, candidates[1].account};
  std::set<AccountId> leaf_provers{TreeOf(id).nodes[0].prover, TreeOf(id).nodes[1].prover};
  EXPECT_EQ(children, leaf_provers);
  auto assigned = Of(merged, EventKind::kAssigned);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_TRUE(leaf_provers.count(assigned[0].account));
  auto order = engine_.GetOrder(placed[0].order);
  EXPECT_EQ(order->direct_prover, assigned[0].account);
  EXPECT_TRUE(leaf_provers.count(order->takeover));
  EXPECT_NE(order->takeover, order->direct_prover);
  EXPECT_EQ(order->deadline, TreeOf(id).deadline);  // the root's is the tree's
  // The draw is re-derivable: the merge market, the merge's order id and placement, attempt 0.
  const uint64_t word = draws_.Draw({kMerge, placed[0].order, order->placed_at, 0});
  const std::vector<int64_t> weights{candidates[0].value, candidates[1].value};
  EXPECT_EQ(candidates[WeightedPick(word, weights)].account, assigned[0].account);
}

TEST_F(EngineTreeTest, ASiblingTakesOverAMissThenTheOpenMarketAndTheRootCompletes) {
  Prover(101, 80, 1, 50);
  Prover(102, 80, 1, 55);
  Prover(103, 90, 0, 40);  // merges only
  auto ev = Accepted(Tree(2));
  const TreeId id = ev[0].tree;
  auto leaves = Of(ev, EventKind::kTreeNodePlaced);
  Prove(LiveOf(leaves[0].order));
  auto merged = Prove(LiveOf(leaves[1].order));
  const OrderId root = Of(merged, EventKind::kTreeNodePlaced).at(0).order;
  const AccountId drawn = LiveOf(root).prover;
  const AccountId sibling = engine_.GetOrder(root)->takeover;

  Advance(LiveOf(root).due_at - now_ + 1);  // the drawn prover misses
  auto slashed = Of(log_, EventKind::kSlashed);
  ASSERT_EQ(slashed.size(), 1u);
  EXPECT_EQ(slashed[0].account, drawn);
  auto takeover = Of(log_, EventKind::kMergeTakeover);
  ASSERT_EQ(takeover.size(), 1u);
  EXPECT_EQ(takeover[0].account, sibling);
  EXPECT_EQ(takeover[0].tree, id);
  EXPECT_EQ(LiveOf(root).prover, sibling);

  Advance(LiveOf(root).due_at - now_ + 1);  // and so does the sibling
  takeover = Of(log_, EventKind::kMergeTakeover);
  ASSERT_EQ(takeover.size(), 2u);
  EXPECT_EQ(takeover[1].account, 0);  // the open merge market
  EXPECT_EQ(Of(log_, EventKind::kSlashed).size(), 2u);
  const AssignmentState open = LiveOf(root);
  EXPECT_EQ(open.prover, 103);

  auto done = Prove(open);
  auto completed = Of(done, EventKind::kTreeCompleted);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0].tree, id);
  EXPECT_FALSE(engine_.GetTree(id).has_value());
}

TEST_F(EngineTreeTest, ACompletedTreePaysEachNodeItsPriceAndReleasesTheRest) {
  Prover(101, 80, 3, 50);
  auto ev = Accepted(Tree(3));  // leaves 0, 1, 2; merge 3 = (0, 1); 4 promotes 2; root 5
  const TreeId id = ev[0].tree;
  for (const Event& leaf : Of(ev, EventKind::kTreeNodePlaced)) Prove(LiveOf(leaf.order));
  auto placed = Of(log_, EventKind::kTreeNodePlaced);
  ASSERT_EQ(placed.size(), 4u);  // three leaves and merge 3
  EXPECT_EQ(placed[3].value, 3);
  EXPECT_TRUE(TreeOf(id).nodes[4].done);  // the promotion, proven by leaf 2's prover
  EXPECT_EQ(TreeOf(id).nodes[4].order, 0);
  Prove(LiveOf(placed[3].order));
  placed = Of(log_, EventKind::kTreeNodePlaced);
  ASSERT_EQ(placed.size(), 5u);
  EXPECT_EQ(placed[4].value, 5);
  Prove(LiveOf(placed[4].order));
  EXPECT_EQ(Of(log_, EventKind::kTreeCompleted).size(), 1u);
  // Paid at the offers' prices: 3 x 80 + 2 x 50; everything else back.
  EXPECT_EQ(Escrowed(), 0);
  EXPECT_EQ(Available(kSeq), kDeposit - 3 * 80 - 2 * 50);
  EXPECT_EQ(Of(log_, EventKind::kSettled).size(), 5u);
}

TEST_F(EngineTreeTest, AnExpiredLeafFailsTheTreeAndRefundsWhatWasNotStarted) {
  Prover(101, 80, 1, 50);  // one leaf at a time
  auto ev = Accepted(Tree(4));
  const TreeId id = ev[0].tree;
  auto leaves = Of(ev, EventKind::kTreeNodePlaced);
  Prove(LiveOf(leaves[0].order));  // leaf 1 takes its place, 2 and 3 wait
  Prove(LiveOf(leaves[1].order));  // merge 4 placed, and leaf 2 assigned: capacity 1 each
  Advance(5'001);                  // the leaf level's deadline: leaves 2 and 3 unproven
  auto failed = Of(log_, EventKind::kTreeFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].tree, id);
  EXPECT_FALSE(engine_.GetTree(id).has_value());
  // The merge 4 has its prover at work: it runs on and is paid if proven. Nothing else is.
  auto placed = Of(log_, EventKind::kTreeNodePlaced);
  ASSERT_EQ(placed.size(), 5u);
  if (auto merge = engine_.GetOrder(placed[4].order);
      merge && merge->status != OrderStatus::kOpen) {
    for (const AssignmentState& a : engine_.GetOrderAssignments(placed[4].order)) {
      if (a.status == AssignmentStatus::kAssigned) Prove(a);
    }
  }
  EXPECT_EQ(Escrowed(), 0);
  Amount paid = 0;
  for (const Event& e : Of(log_, EventKind::kSettled)) paid += e.amount;
  Amount lost = 0;  // the leaf prover's miss compensates the sequencer
  for (const Event& e : Of(log_, EventKind::kTransfer)) {
    if (e.transfer_reason == TransferReason::kSlashCompensation) lost -= e.amount;
  }
  EXPECT_EQ(Available(kSeq), kDeposit - paid - lost);
}

TEST_F(EngineTreeTest, BadInputsOnALeafFailTheTreeButWorkInFlightIsStillPaid) {
  Prover(101, 80, 2, 50);
  auto ev = Accepted(Tree(4));
  auto leaves = Of(ev, EventKind::kTreeNodePlaced);
  const AssignmentState a0 = LiveOf(leaves[0].order);
  const AssignmentState a1 = LiveOf(leaves[1].order);
  Accepted(ProofDelivered{a1.prover, a1.id, 64, 0});
  auto bad = Accepted(InputsRejected{a1.id});
  auto failed = Of(bad, EventKind::kTreeFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].reason, Reason::kBadInputs);
  EXPECT_EQ(failed[0].order, leaves[1].order);
  EXPECT_EQ(engine_.GetOrder(leaves[2].order), std::nullopt);  // unstarted: refunded, forgotten
  auto settled = Prove(a0);
  EXPECT_EQ(Of(settled, EventKind::kSettled).size(), 1u);
  EXPECT_TRUE(Of(settled, EventKind::kTreeNodePlaced).empty());  // nothing built on it
  EXPECT_EQ(Escrowed(), 0);
}

// A leaf delivered in time whose verdict comes after the leaf level's deadline still proves
// its node: the tree goes on (its verifier's latency must not fail it). Rejected, it fails it.
TEST_F(EngineTreeTest, AProofDeliveredInTimeProvesItsNodeEvenIfTheVerdictComesAfterTheDeadline) {
  Prover(101, 80, 2, 50);
  for (bool valid : {true, false}) {
    SCOPED_TRACE(valid ? "verified" : "rejected");
    log_.clear();
    auto ev = Accepted(Tree(2));
    const TreeId id = ev[0].tree;
    auto leaves = Of(ev, EventKind::kTreeNodePlaced);
    Prove(LiveOf(leaves[0].order));
    const AssignmentState late = LiveOf(leaves[1].order);
    Accepted(ProofDelivered{late.prover, late.id, 64, 0});
    Advance(engine_.GetOrder(leaves[1].order)->deadline - now_ + 1);  // the leaf order expires
    EXPECT_EQ(Of(log_, EventKind::kOrderExpired).size(), 1u);
    EXPECT_TRUE(Of(log_, EventKind::kTreeFailed).empty());
    ASSERT_TRUE(engine_.GetTree(id).has_value());
    if (valid) {
      auto verdict = Accepted(ProofVerified{late.id});
      EXPECT_EQ(Of(verdict, EventKind::kTreeNodeProven).size(), 1u);
      auto merge = Of(verdict, EventKind::kTreeNodePlaced);
      ASSERT_EQ(merge.size(), 1u);
      auto done = Prove(LiveOf(merge[0].order));
      EXPECT_EQ(Of(done, EventKind::kTreeCompleted).size(), 1u);
    } else {
      auto verdict = Accepted(ProofRejected{late.id});
      auto failed = Of(verdict, EventKind::kTreeFailed);
      ASSERT_EQ(failed.size(), 1u);
      EXPECT_EQ(failed[0].reason, Reason::kInvalidProof);
      EXPECT_FALSE(engine_.GetTree(id).has_value());
    }
    EXPECT_EQ(Escrowed(), 0);
  }
}

// A miss nobody can take over right away does not fail the tree: the node rests until a prover
// frees up (here, when the only other prover finishes its leaf), within its deadline.
TEST_F(EngineTreeTest, AMissNobodyCanTakeAtOnceWaitsForAProverInsteadOfFailingTheTree) {
  Prover(101, 80, 1, 50);
  Prover(102, 80, 1, 50);
  auto ev = Accepted(Tree(2));
  const TreeId id = ev[0].tree;
  auto leaves = Of(ev, EventKind::kTreeNodePlaced);
  const AssignmentState a0 = LiveOf(leaves[0].order);
  const AssignmentState a1 = LiveOf(leaves[1].order);
  Advance(a0.due_at - now_ + 1);  // both miss
  EXPECT_EQ(Of(log_, EventKind::kSlashed).size(), 2u);
  EXPECT_TRUE(Of(log_, EventKind::kTreeFailed).empty());
  // Each leaf goes to the other prover, now free (k distinct provers per order).
  EXPECT_EQ(LiveOf(leaves[0].order).prover, a1.prover);
  EXPECT_EQ(LiveOf(leaves[1].order).prover, a0.prover);
  Prove(LiveOf(leaves[0].order));
  auto merged = Prove(LiveOf(leaves[1].order));
  auto merge = Of(merged, EventKind::kTreeNodePlaced);
  ASSERT_EQ(merge.size(), 1u);
  Prove(LiveOf(merge[0].order));
  EXPECT_EQ(Of(log_, EventKind::kTreeCompleted).size(), 1u);
  EXPECT_FALSE(engine_.GetTree(id).has_value());
}

TEST_F(EngineTreeTest, ARestoredEngineContinuesATreeIdentically) {
  Prover(101, 80, 2, 50);
  Prover(102, 85, 2, 55);
  auto ev = Accepted(Tree(5));
  auto leaves = Of(ev, EventKind::kTreeNodePlaced);
  Prove(LiveOf(leaves[0].order));
  Prove(LiveOf(leaves[1].order));  // merge 5 placed
  Engine restored{EngineOptions{.draws = &draws_}};
  ASSERT_TRUE(restored.Restore(engine_.GetSnapshot()).ok());
  EXPECT_EQ(restored.GetSnapshot(), engine_.GetSnapshot());
  // The same commands from here give the same events in both.
  for (int step = 0; step < 40 && engine_.GetTree(ev[0].tree); ++step) {
    std::vector<CommandBody> next;
    for (AccountId p : {101, 102}) {
      for (const AssignmentState& a : engine_.GetLiveAssignments(p)) {
        if (step % 3 == 2) continue;  // now and then a miss
        next.push_back(ProofDelivered{a.prover, a.id, 64, 0});
        next.push_back(ProofVerified{a.id});
      }
    }
    now_ += 120;
    next.push_back(Tick{});
    for (const CommandBody& body : next) {
      auto a = Do(body);
      auto span = restored.Apply(Command{ref_, now_, body});
      std::vector<Event> b(span.begin(), span.end());
      ASSERT_EQ(a, b) << "diverged at step " << step;
    }
  }
  EXPECT_EQ(restored.GetSnapshot(), engine_.GetSnapshot());
}

// ---- Property: random failures -----------------------------------------------------------

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

// Random trees under random provers: each live job is proven, proven wrong, declined busy or
// left to miss, and some verdicts come a step late (past a deadline, maybe). After every command
// the engine's invariants hold (the ledger among them); every tree ends (completed or failed) by
// its root deadline, so none is stuck while time remains; no node's order is paid twice, and every
// verified proof is paid (the price, or the uncle reward for a late one); when all work is over the
// sequencer's escrow is empty.
TEST(EngineTreeProperty, RandomFailuresNeverStickATreeNorLoseMoney) {
  const int seeds = EnvInt("PROOFBOOK_TREE_SEEDS", 300);
  std::map<std::string, int> seen;
  for (int seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(static_cast<uint64_t>(seed));
    auto chance = [&rng](int percent) {
      return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
    };
    HashDrawSource draws(static_cast<uint64_t>(seed));
    Engine engine{EngineOptions{.draws = &draws}};
    Timestamp now = 1'000;
    uint64_t ref = 0;
    std::vector<Event> log;
    auto apply = [&](CommandBody body) {
      auto span = engine.Apply(Command{++ref, now, body});
      log.insert(log.end(), span.begin(), span.end());
      Status st = engine.CheckConsistency();
      ASSERT_TRUE(st.ok()) << st.ToString() << " after " << EventToString(span[0]);
    };
    ASSERT_NO_FATAL_FAILURE(apply(CreateMarket{kLeaf, Params()}));
    ASSERT_NO_FATAL_FAILURE(apply(CreateMarket{kMerge, Params()}));
    ASSERT_NO_FATAL_FAILURE(apply(CreateAccount{kSeq, Role::kSequencer}));
    ASSERT_NO_FATAL_FAILURE(apply(Deposit{kSeq, kDeposit}));
    const int provers = std::uniform_int_distribution<int>(1, 6)(rng);
    for (AccountId p = 101; p < 101 + provers; ++p) {
      ASSERT_NO_FATAL_FAILURE(apply(CreateAccount{p, Role::kProver}));
      ASSERT_NO_FATAL_FAILURE(apply(Deposit{p, 1'000'000}));
      ASSERT_NO_FATAL_FAILURE(apply(Stake{p, 1'000'000}));
      const int32_t cap = std::uniform_int_distribution<int32_t>(1, 3)(rng);
      const Amount price = std::uniform_int_distribution<Amount>(50, 100)(rng);
      ASSERT_NO_FATAL_FAILURE(apply(PlaceOffer{p, kLeaf, price, 100, cap, 0}));
      if (chance(80)) {
        ASSERT_NO_FATAL_FAILURE(apply(PlaceOffer{p, kMerge, price - 20, 100, cap, 0}));
      }
    }
    PlaceTree tree;
    tree.account = kSeq;
    tree.leaf_market = kLeaf;
    tree.merge_market = kMerge;
    tree.leaves = std::uniform_int_distribution<int32_t>(1, 33)(rng);
    tree.leaf_price = 100;
    tree.merge_price = 80;
    tree.deadline = now + std::uniform_int_distribution<Timestamp>(6'000, 20'000)(rng);
    tree.leaf_share_bps = std::uniform_int_distribution<int32_t>(3000, 7000)(rng);
    tree.leaf_selection = chance(30) ? Selection::kVrf : Selection::kBest;
    ASSERT_NO_FATAL_FAILURE(apply(tree));
    if (log.back().kind == EventKind::kRejected) {
      ++seen["rejected:" + std::string(ReasonName(log.back().reason))];
      continue;
    }
    TreeId id = 0;
    for (const Event& e : log) {
      if (e.kind == EventKind::kAccepted && e.command == CommandKind::kPlaceTree) id = e.tree;
    }
    ASSERT_GT(id, 0);
    // Run until the tree ended and no work is in flight.
    for (int step = 0; step < 10'000; ++step) {
      std::vector<AssignmentState> live;
      for (AccountId p = 101; p < 101 + provers; ++p) {
        for (const AssignmentState& a : engine.GetLiveAssignments(p)) live.push_back(a);
      }
      if (!engine.GetTree(id) && live.empty()) break;
      // Past the root deadline only a verdict still due (a step at most) can keep it open.
      ASSERT_FALSE(engine.GetTree(id) && now > tree.deadline + 250)
          << "tree stuck past its deadline";
      for (const AssignmentState& a : live) {
        const int roll = std::uniform_int_distribution<int>(0, 99)(rng);
        if (a.status == AssignmentStatus::kAssigned) {
          if (roll >= 85) continue;  // 15%: a miss
          if (roll < 5 && now - a.assigned_at <= Params().decline_window_ms) {
            ASSERT_NO_FATAL_FAILURE(apply(DeclineAssignment{a.prover, a.id, Reason::kBusy}));
            continue;
          }
          ASSERT_NO_FATAL_FAILURE(apply(ProofDelivered{a.prover, a.id, 64, 0}));
          if (chance(30)) continue;  // the verdict comes a step later, maybe past a deadline
        }
        if (roll < 12) {
          ASSERT_NO_FATAL_FAILURE(apply(ProofRejected{a.id}));
        } else {
          ASSERT_NO_FATAL_FAILURE(apply(ProofVerified{a.id}));
        }
      }
      now += std::uniform_int_distribution<Timestamp>(10, 120)(rng);
      ASSERT_NO_FATAL_FAILURE(apply(Tick{}));
    }
    EXPECT_FALSE(engine.GetTree(id).has_value());
    EXPECT_EQ(engine.GetAccount(kSeq)->escrowed, 0);
    // Per order: at most one settlement; every accepted verdict of a valid proof was paid.
    std::map<OrderId, int> settled;
    std::set<AssignmentId> paid;
    for (const Event& e : log) {
      if (e.kind == EventKind::kSettled) {
        ++settled[e.order];
        paid.insert(e.assignment);
      }
      if (e.kind == EventKind::kUncleRewarded) paid.insert(e.assignment);
      if (e.kind == EventKind::kTreeCompleted) ++seen["tree_completed"];
      if (e.kind == EventKind::kTreeFailed) ++seen["tree_failed"];
      if (e.kind == EventKind::kMergeTakeover) ++seen[e.account ? "takeover" : "open_market"];
      if (e.kind == EventKind::kTreeNodePlaced && e.market == kMerge) ++seen["merge_placed"];
    }
    for (const auto& [order, n] : settled) EXPECT_LE(n, 1) << "order " << order;
    for (const Event& e : log) {
      if (e.kind == EventKind::kAccepted && e.command == CommandKind::kProofVerified) {
        EXPECT_TRUE(paid.count(e.assignment)) << "verified, unpaid: " << e.assignment;
      }
    }
    if (::testing::Test::HasFailure()) return;
  }
  for (const auto& [what, n] : seen) std::cout << "[ tree     ] " << what << ": " << n << "\n";
  // Every path was exercised (a property never exercised proves nothing).
  for (const char* what :
       {"tree_completed", "tree_failed", "takeover", "open_market", "merge_placed"}) {
    EXPECT_GT(seen[what], 0) << what;
  }
}

}  // namespace
}  // namespace proofbook::matching
