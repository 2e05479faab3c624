// Rule tests for vrf selection (README "VRF selection"): the engine draws through a
// DrawSource, picks by the published rule, publishes every round's candidates, draws again
// after a miss, and a prover's share of wins follows its share of the stake however it splits
// its stake or offers. Every step checks the engine's invariants.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "matching/draw_source.h"
#include "matching/engine.h"
#include "matching/rules.h"

namespace proofbook::matching {
namespace {

constexpr AccountId kSeq = 10;
constexpr MarketId kM = 1;

// A hash source that records what the engine asked, can refuse markets and can be told the
// word to answer.
class RecordingDraws final : public DrawSource {
 public:
  bool Serves(MarketId market) const override { return !unserved.count(market); }
  uint64_t Draw(const DrawRequest& r) override {
    requests.push_back(r);
    return fixed_word ? *fixed_word : hash.Draw(r);
  }
  std::set<MarketId> unserved;
  std::optional<uint64_t> fixed_word;
  std::vector<DrawRequest> requests;
  HashDrawSource hash{7};
};

MarketParams Params() {
  MarketParams p;
  p.min_stake = 1000;
  p.min_slash = 1000;
  p.slash_multiplier_bps = 20000;
  p.min_prover_time_ms = 100;
  p.grace_bps = 5000;
  p.max_proof_bytes = 1 << 20;
  return p;
}

class EngineVrfTest : public ::testing::Test {
 protected:
  std::vector<Event> Do(CommandBody body) {
    auto span = engine_.Apply(Command{++ref_, now_, body});
    std::vector<Event> ev(span.begin(), span.end());
    Status st = engine_.CheckConsistency();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return ev;
  }
  void Accepted(CommandBody body) {
    auto ev = Do(body);
    ASSERT_FALSE(ev.empty());
    ASSERT_EQ(ev[0].kind, EventKind::kAccepted) << EventToString(ev[0]);
  }
  void SetUpMarket(MarketParams p = Params()) {
    Accepted(CreateMarket{kM, p});
    Accepted(CreateAccount{kSeq, Role::kSequencer});
    Accepted(Deposit{kSeq, 1'000'000'000});
  }
  // A prover with `stake` and one offer (price 50, est 100 ms, `capacity`) per `offers`.
  void Prover(AccountId id, Amount stake, int offers = 1, int32_t capacity = 1) {
    Accepted(CreateAccount{id, Role::kProver});
    Accepted(Deposit{id, stake});
    Accepted(Stake{id, stake});
    for (int i = 0; i < offers; ++i) Accepted(PlaceOffer{id, kM, 50, 100, capacity, 0});
  }
  PlaceOrder VrfOrder(int32_t redundancy = 1) {
    PlaceOrder o;
    o.account = kSeq;
    o.market = kM;
    o.max_price = 100;
    o.deadline = now_ + 10'000;
    o.redundancy = redundancy;
    o.selection = Selection::kVrf;
    return o;
  }
  static std::vector<Event> Of(const std::vector<Event>& ev, EventKind kind) {
    std::vector<Event> out;
    for (const Event& e : ev) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

  RecordingDraws draws_;
  Engine engine_{EngineOptions{.draws = &draws_}};
  Timestamp now_ = 1'000;
  uint64_t ref_ = 0;
};

TEST_F(EngineVrfTest, OrderInAMarketTheSourceDoesNotServeIsRejected) {
  SetUpMarket();
  draws_.unserved.insert(kM);
  auto ev = Do(VrfOrder());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, EventKind::kRejected);
  EXPECT_EQ(ev[0].reason, Reason::kVrfUnavailable);
  EXPECT_EQ(ev[0].field, "selection");
}

TEST(EngineVrfWithoutSource, OrderIsRejected) {
  Engine engine;
  engine.Apply(Command{1, 1, CreateMarket{kM, Params()}});
  engine.Apply(Command{2, 1, CreateAccount{kSeq, Role::kSequencer}});
  PlaceOrder o;
  o.account = kSeq;
  o.market = kM;
  o.max_price = 1;
  o.deadline = 10'000;
  o.selection = Selection::kVrf;
  auto ev = engine.Apply(Command{3, 1, o});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].reason, Reason::kVrfUnavailable);
}

TEST_F(EngineVrfTest, PickFollowsThePublishedRuleFromTheWord) {
  SetUpMarket();
  Prover(20, 1000);
  Prover(21, 2000);
  Prover(22, 3000);
  // Weights 1000, 2000, 3000 in rank order (equal prices: offer id order): the word 2500
  // falls in the second prover's range [1000, 3000).
  draws_.fixed_word = 2500;
  auto ev = Do(VrfOrder());
  auto cand = Of(ev, EventKind::kVrfCandidate);
  ASSERT_EQ(cand.size(), 3u);
  EXPECT_EQ(cand[0].account, 20u);
  EXPECT_EQ(cand[0].value, 1000);
  EXPECT_EQ(cand[2].value, 3000);
  EXPECT_EQ(cand[0].amount, 0);  // the round's first attempt
  auto a = Of(ev, EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].account, 21u);
  ASSERT_EQ(draws_.requests.size(), 1u);
  EXPECT_EQ(draws_.requests[0].order, a[0].order);
  EXPECT_EQ(draws_.requests[0].attempt, 0u);
  EXPECT_EQ(draws_.requests[0].placed_at, now_);
  EXPECT_EQ(draws_.requests[0].market, kM);
}

TEST_F(EngineVrfTest, SameWordsSameEvents) {
  // Two engines fed the same commands and the same source answer identically: the engine
  // adds no randomness of its own.
  RecordingDraws other_draws;
  Engine other{EngineOptions{.draws = &other_draws}};
  std::vector<CommandBody> script = {
      CreateMarket{kM, Params()}, CreateAccount{kSeq, Role::kSequencer}, Deposit{kSeq, 1'000'000}};
  for (AccountId p = 20; p < 26; ++p) {
    script.push_back(CreateAccount{p, Role::kProver});
    script.push_back(Deposit{p, 1000 * p});
    script.push_back(Stake{p, 1000 * p});
    script.push_back(PlaceOffer{p, kM, 50, 100, 5, 0});
  }
  for (int i = 0; i < 10; ++i) script.push_back(VrfOrder(2));
  for (const CommandBody& body : script) {
    auto mine = engine_.Apply(Command{++ref_, now_, body});
    std::vector<Event> want(mine.begin(), mine.end());
    auto theirs = other.Apply(Command{ref_, now_, body});
    ASSERT_TRUE(std::equal(want.begin(), want.end(), theirs.begin(), theirs.end()));
  }
  EXPECT_EQ(draws_.requests.size(), 20u);  // k = 2: two draws per order
}

TEST_F(EngineVrfTest, RedundantOrderDrawsOncePerPickWithoutReplacement) {
  SetUpMarket();
  for (AccountId p = 20; p < 24; ++p) Prover(p, 1000);
  auto ev = Do(VrfOrder(3));
  EXPECT_EQ(Of(ev, EventKind::kVrfCandidate).size(), 4u);
  auto a = Of(ev, EventKind::kAssigned);
  ASSERT_EQ(a.size(), 3u);
  std::set<AccountId> provers{a[0].account, a[1].account, a[2].account};
  EXPECT_EQ(provers.size(), 3u);
  ASSERT_EQ(draws_.requests.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(draws_.requests[i].attempt, i);
}

TEST_F(EngineVrfTest, MissIsReassignedByANewDrawAmongTheOthers) {
  SetUpMarket();
  Prover(20, 1000);
  Prover(21, 1000);
  Prover(22, 1000);
  draws_.fixed_word = 1500;  // second of three equal weights
  auto first = Of(Do(VrfOrder()), EventKind::kAssigned);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].account, 21u);
  now_ = first[0].value + 1;  // past its due time
  draws_.fixed_word = 0;      // the first of those left
  auto ev = Do(Tick{});
  ASSERT_EQ(Of(ev, EventKind::kSlashed).size(), 1u);
  auto cand = Of(ev, EventKind::kVrfCandidate);
  ASSERT_EQ(cand.size(), 2u);  // 21 missed: it is not a candidate again
  for (const Event& c : cand) {
    EXPECT_NE(c.account, 21u);
    EXPECT_EQ(c.amount, 1);  // attempt 1
  }
  auto again = Of(ev, EventKind::kReassigned);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].account, 20u);
  ASSERT_EQ(draws_.requests.size(), 2u);
  EXPECT_EQ(draws_.requests[1].attempt, 1u);
  EXPECT_EQ(engine_.GetOrder(first[0].order)->vrf_draws, 2u);
}

TEST_F(EngineVrfTest, ArrivingOfferTakesARestingOrderThroughAForcedDraw) {
  SetUpMarket();
  auto ev = Do(VrfOrder());
  EXPECT_EQ(Of(ev, EventKind::kOrderRested).size(), 1u);
  EXPECT_TRUE(draws_.requests.empty());
  Accepted(CreateAccount{20, Role::kProver});
  Accepted(Deposit{20, 5000});
  Accepted(Stake{20, 5000});
  ev = Do(PlaceOffer{20, kM, 50, 100, 1, 0});
  auto cand = Of(ev, EventKind::kVrfCandidate);
  ASSERT_EQ(cand.size(), 1u);
  EXPECT_EQ(cand[0].value, 5000);
  ASSERT_EQ(Of(ev, EventKind::kAssigned).size(), 1u);
  ASSERT_EQ(draws_.requests.size(), 1u);  // published and drawn like any other
}

TEST_F(EngineVrfTest, WeightCountsReputationWhenTheMarketWeighsIt) {
  MarketParams p = Params();
  p.reputation_weight_bps = 10000;  // weight = stake * reputation / 10000
  SetUpMarket(p);
  Prover(20, 8000);
  auto cand = Of(Do(VrfOrder()), EventKind::kVrfCandidate);
  ASSERT_EQ(cand.size(), 1u);
  EXPECT_EQ(cand[0].value, 8000 * kInitialReputation / kBps);
  EXPECT_EQ(VrfWeight(8000, kInitialReputation, 0), 8000);
  EXPECT_EQ(VrfWeight(0, 0, 10000), 1);  // never zero
}

TEST_F(EngineVrfTest, TurnsMarketDrawsAmongEveryEligibleProverByStakeAlone) {
  MarketParams p = Params();
  p.vrf_turns = true;
  p.reputation_weight_bps = 10000;  // ignored by turns
  SetUpMarket(p);
  for (AccountId id = 100; id < 100 + 40; ++id) Prover(id, 1000 + id);
  auto cand = Of(Do(VrfOrder()), EventKind::kVrfCandidate);
  ASSERT_EQ(cand.size(), 40u);  // beyond the 32 of a ranked vrf market
  EXPECT_EQ(cand[0].value, 1100);
}

// ---- Shares of wins ---------------------------------------------------------------------------

// Wins per prover over `orders` single-prover vrf orders in a fresh engine (offers with room
// for all of them), drawn by HashDrawSource(seed).
std::map<AccountId, int> Wins(const std::vector<std::pair<AccountId, Amount>>& stakes,
                              int offers_each, int orders, uint64_t seed) {
  HashDrawSource draws(seed);
  Engine engine(EngineOptions{.orders = 16384, .assignments = 16384, .draws = &draws});
  uint64_t ref = 0;
  Timestamp now = 1000;
  auto apply = [&](CommandBody b) { return engine.Apply(Command{++ref, now, b}); };
  MarketParams p = Params();
  p.vrf_turns = true;
  apply(CreateMarket{kM, p});
  apply(CreateAccount{kSeq, Role::kSequencer});
  apply(Deposit{kSeq, 1'000'000'000});
  for (auto [id, stake] : stakes) {
    apply(CreateAccount{id, Role::kProver});
    apply(Deposit{id, stake});
    apply(Stake{id, stake});
    for (int i = 0; i < offers_each; ++i) apply(PlaceOffer{id, kM, 50, 100, orders, 0});
  }
  std::map<AccountId, int> wins;
  PlaceOrder o;
  o.account = kSeq;
  o.market = kM;
  o.max_price = 100;
  o.deadline = now + 1'000'000;
  o.selection = Selection::kVrf;
  for (int i = 0; i < orders; ++i) {
    for (const Event& e : apply(o)) {
      if (e.kind == EventKind::kAssigned) ++wins[e.account];
    }
  }
  EXPECT_TRUE(engine.CheckConsistency().ok());
  return wins;
}

// Pearson's chi-square of observed wins against stake shares.
double ChiSquare(const std::map<AccountId, int>& wins, const std::map<AccountId, double>& share,
                 int n) {
  double chi = 0;
  for (auto [id, s] : share) {
    double expected = s * n;
    double observed = wins.count(id) ? wins.at(id) : 0;
    chi += (observed - expected) * (observed - expected) / expected;
  }
  return chi;
}

constexpr int kDraws = 10'000;
// The chi-square distribution's 0.999 quantiles: a fair draw exceeds them 1 time in 1000 (and
// these seeds are fixed, so the test cannot flake).
constexpr double kChi2Df1 = 10.83;
constexpr double kChi2Df4 = 18.47;

TEST(EngineVrfShares, WinsFollowStakeShares) {
  std::vector<std::pair<AccountId, Amount>> stakes = {
      {20, 1000}, {21, 2000}, {22, 3000}, {23, 4000}, {24, 10000}};
  auto wins = Wins(stakes, 1, kDraws, 1);
  std::map<AccountId, double> share;
  for (auto [id, s] : stakes) share[id] = s / 20000.0;
  EXPECT_LT(ChiSquare(wins, share, kDraws), kChi2Df4);
}

TEST(EngineVrfShares, SplittingStakeAcrossAccountsGainsNothing) {
  // X holds 40% of the stake as one account, then as two accounts of 20% each: its share of
  // wins is 40% either way (chi-square of X against the rest, one degree of freedom).
  auto whole = Wins({{20, 4000}, {30, 6000}}, 1, kDraws, 2);
  auto split = Wins({{20, 2000}, {21, 2000}, {30, 6000}}, 1, kDraws, 3);
  std::map<AccountId, double> share{{1, 0.4}, {2, 0.6}};
  std::map<AccountId, int> x_whole{{1, whole[20]}, {2, whole[30]}};
  std::map<AccountId, int> x_split{{1, split[20] + split[21]}, {2, split[30]}};
  EXPECT_LT(ChiSquare(x_whole, share, kDraws), kChi2Df1);
  EXPECT_LT(ChiSquare(x_split, share, kDraws), kChi2Df1);
}

TEST(EngineVrfShares, PostingManyOffersGainsNothing) {
  // One candidate per prover: ten offers weigh what one does.
  auto wins = Wins({{20, 5000}, {30, 5000}}, 10, kDraws, 4);
  auto one_each = Wins({{20, 5000}, {30, 5000}}, 1, kDraws, 4);
  std::map<AccountId, double> share{{20, 0.5}, {30, 0.5}};
  EXPECT_LT(ChiSquare(wins, share, kDraws), kChi2Df1);
  EXPECT_LT(ChiSquare(one_each, share, kDraws), kChi2Df1);
}

}  // namespace
}  // namespace proofbook::matching
