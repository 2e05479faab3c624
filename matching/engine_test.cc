// Rule tests: one test per market rule of issue #4 / DESIGN.md, named after the rule.
// Every step also checks the engine's invariants (ledger, capacity, distinct provers).
#include "matching/engine.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <vector>

#include "matching/rules.h"

namespace proofbook::matching {
namespace {

constexpr AccountId kSeq = 10;
constexpr AccountId kSeq2 = 11;
constexpr AccountId kP1 = 20;
constexpr AccountId kP2 = 21;
constexpr AccountId kP3 = 22;
constexpr MarketId kM = 1;

MarketParams DefaultParams() {
  MarketParams p;
  p.min_stake = 1000;
  p.min_slash = 1000;              // at least 1000 per miss or invalid proof
  p.slash_multiplier_bps = 20000;  // else twice the job's price
  p.compensation_bps = 5000;       // half of it to the sequencer
  p.fee_bps = 100;                 // 1%
  p.min_prover_time_ms = 100;
  p.grace_bps = 5000;  // due at 1.5x the effective time
  p.uncle_reward_bps = 2000;
  p.max_proof_bytes = 1 << 20;
  return p;
}

class EngineTest : public ::testing::Test {
 protected:
  std::vector<Event> Do(CommandBody body) {
    Command c{++ref_, now_, body};
    auto span = engine_.Apply(c);
    last_.assign(span.begin(), span.end());
    Status st = engine_.CheckConsistency();
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (c.kind() != CommandKind::kTick) {
      EXPECT_FALSE(last_.empty());
      if (!last_.empty()) {
        EXPECT_TRUE(last_[0].kind == EventKind::kAccepted || last_[0].kind == EventKind::kRejected);
      }
    }
    for (const Event& e : last_) EXPECT_EQ(e.ref, ref_);
    return last_;
  }

  void SetUpMarket(MarketParams p = DefaultParams()) {
    ExpectAccepted(Do(CreateMarket{kM, p}));
    for (AccountId s : {kSeq, kSeq2}) {
      ExpectAccepted(Do(CreateAccount{s, Role::kSequencer}));
      ExpectAccepted(Do(Deposit{s, 1'000'000}));
    }
    for (AccountId p : {kP1, kP2, kP3}) {
      ExpectAccepted(Do(CreateAccount{p, Role::kProver}));
      ExpectAccepted(Do(Deposit{p, 100'000}));
      ExpectAccepted(Do(Stake{p, 10'000}));
    }
  }

  static void ExpectAccepted(const std::vector<Event>& ev) {
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev[0].kind, EventKind::kAccepted) << EventToString(ev[0]);
  }
  static void ExpectRejected(const std::vector<Event>& ev, Reason reason, std::string_view field) {
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::kRejected);
    EXPECT_EQ(ReasonName(ev[0].reason), ReasonName(reason));
    EXPECT_EQ(ev[0].field, field);
  }

  OfferId Offer(AccountId prover, Amount price, int64_t est_ms = 100, int32_t capacity = 1,
                Timestamp expires_at = 0) {
    auto ev = Do(PlaceOffer{prover, kM, price, est_ms, capacity, expires_at});
    EXPECT_EQ(ev[0].kind, EventKind::kAccepted) << EventToString(ev[0]);
    return ev[0].offer;
  }

  PlaceOrder OrderSpec(Amount max_price, Timestamp deadline_in = 10'000) {
    PlaceOrder o;
    o.account = kSeq;
    o.market = kM;
    o.max_price = max_price;
    o.deadline = now_ + deadline_in;
    return o;
  }

  OrderId Order(PlaceOrder spec) {
    auto ev = Do(spec);
    EXPECT_EQ(ev[0].kind, EventKind::kAccepted) << EventToString(ev[0]);
    return ev[0].order;
  }

  static std::vector<Event> Of(const std::vector<Event>& ev, EventKind kind) {
    std::vector<Event> out;
    for (const Event& e : ev) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }
  static std::vector<Event> Transfers(const std::vector<Event>& ev, TransferReason reason) {
    std::vector<Event> out;
    for (const Event& e : ev) {
      if (e.kind == EventKind::kTransfer && e.transfer_reason == reason) out.push_back(e);
    }
    return out;
  }

  AccountState Account(AccountId id) { return *engine_.GetAccount(id); }

  // `prover` settles `jobs` cheap jobs (+kReputationGainOnSettled each) through an offer that
  // is cancelled afterwards.
  void EarnReputation(AccountId prover, int jobs) {
    OfferId offer = Offer(prover, 1, 100);
    for (int i = 0; i < jobs; ++i) {
      auto a = Of(Do(OrderSpec(1, 10'000)), EventKind::kAssigned);
      ASSERT_EQ(a.size(), 1u);
      Prove(prover, a[0].assignment);
    }
    ExpectAccepted(Do(CancelOffer{prover, offer}));
  }

  // Deliver and verify the proof of `assignment`.
  std::vector<Event> Prove(AccountId prover, AssignmentId assignment) {
    ExpectAccepted(Do(ProofDelivered{prover, assignment, 100}));
    return Do(ProofVerified{assignment});
  }

  // Proofs "received and not yet delivered" (receipt_source.h): none unless a test says so.
  struct Receipts final : ReceiptSource {
    std::set<AssignmentId> receiving;
    bool Receiving(AssignmentId a, AccountId, Timestamp) const override {
      return receiving.count(a) != 0;
    }
  } receipts_;
  Engine engine_{EngineOptions{.receipts = &receipts_}};
  Timestamp now_ = 1'000;
  uint64_t ref_ = 0;
  std::vector<Event> last_;
};

// ---- Accounts and money -------------------------------------------------------------------

TEST_F(EngineTest, DepositComesFromExternalAndWithdrawalGoesToIt) {
  ExpectAccepted(Do(CreateAccount{kSeq, Role::kSequencer}));
  auto ev = Do(Deposit{kSeq, 500});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].kind, EventKind::kTransfer);
  EXPECT_EQ(ev[1].from_bucket, Bucket::kExternal);
  EXPECT_EQ(ev[1].to_bucket, Bucket::kAvailable);
  EXPECT_EQ(ev[1].amount, 500);
  ev = Do(Withdraw{kSeq, 200});
  EXPECT_EQ(ev[1].from_bucket, Bucket::kAvailable);
  EXPECT_EQ(ev[1].to_bucket, Bucket::kExternal);
  EXPECT_EQ(ev[1].transfer_reason, TransferReason::kWithdrawal);
  EXPECT_EQ(Account(kSeq).available, 300);
  EXPECT_EQ(engine_.GetIds().external_net, 300);
  ExpectRejected(Do(Withdraw{kSeq, 301}), Reason::kInsufficientBalance, "amount");
}

TEST_F(EngineTest, RejectionsCarryStableReasonAndField) {
  ExpectRejected(Do(Deposit{99, 5}), Reason::kUnknownAccount, "account");
  ExpectRejected(Do(Deposit{kTreasuryAccountId, 0}), Reason::kInvalidArgument, "amount");
  ExpectAccepted(Do(CreateAccount{kSeq, Role::kSequencer}));
  ExpectRejected(Do(CreateAccount{kSeq, Role::kProver}), Reason::kAlreadyExists, "account");
  ExpectRejected(Do(Stake{kSeq, 5}), Reason::kWrongRole, "account");
  ExpectRejected(Do(CreateMarket{kM, MarketParams{}}), Reason::kInvalidArgument, "max_proof_bytes");
  Event e = last_[0];
  Status st = RejectionStatus(e);
  EXPECT_EQ(st.wire_code(), "invalid_argument");
  EXPECT_EQ(st.field(), "max_proof_bytes");
}

TEST_F(EngineTest, DepositThatWouldOverflowIsRejected) {
  ExpectAccepted(Do(CreateAccount{kSeq, Role::kSequencer}));
  ExpectAccepted(Do(Deposit{kSeq, std::numeric_limits<Amount>::max() - 5}));
  ExpectRejected(Do(Deposit{kSeq, 6}), Reason::kOverflow, "amount");
}

TEST_F(EngineTest, EveryEventEchoesTheCommandRef) {
  SetUpMarket();
  Offer(kP1, 100);
  auto ev = Do(OrderSpec(150));
  for (const Event& e : ev) EXPECT_EQ(e.ref, ref_);
}

// ---- Orders: escrow and validation --------------------------------------------------------

TEST_F(EngineTest, PlaceOrderEscrowsMaxPriceTimesK) {
  SetUpMarket();
  PlaceOrder spec = OrderSpec(300);
  spec.redundancy = 3;
  auto ev = Do(spec);
  ExpectAccepted(ev);
  auto escrow = Transfers(ev, TransferReason::kEscrow);
  ASSERT_EQ(escrow.size(), 1u);
  EXPECT_EQ(escrow[0].amount, 900);
  EXPECT_EQ(escrow[0].from_bucket, Bucket::kAvailable);
  EXPECT_EQ(escrow[0].to_bucket, Bucket::kEscrowed);
  EXPECT_EQ(Account(kSeq).escrowed, 900);
  ASSERT_EQ(Of(ev, EventKind::kOrderRested).size(), 1u);
  EXPECT_EQ(Of(ev, EventKind::kOrderRested)[0].value, 3);
}

TEST_F(EngineTest, PlaceOrderRejectsInsufficientBalance) {
  SetUpMarket();
  ExpectRejected(Do(OrderSpec(2'000'000)), Reason::kInsufficientBalance, "max_price");
  PlaceOrder huge = OrderSpec(std::numeric_limits<Amount>::max() / 2);
  huge.redundancy = 3;
  ExpectRejected(Do(huge), Reason::kOverflow, "max_price");
}

TEST_F(EngineTest, PlaceOrderValidatesInput) {
  SetUpMarket();
  PlaceOrder o = OrderSpec(100);
  o.market = 7;
  ExpectRejected(Do(o), Reason::kUnknownMarket, "market");
  o = OrderSpec(100);
  o.account = kP1;
  ExpectRejected(Do(o), Reason::kWrongRole, "account");
  o = OrderSpec(100);
  o.redundancy = 0;
  ExpectRejected(Do(o), Reason::kInvalidArgument, "redundancy");
  o = OrderSpec(100, 50);  // min_prover_time is 100 ms
  ExpectRejected(Do(o), Reason::kDeadlineTooSoon, "deadline");
  o = OrderSpec(100);
  o.selection = Selection::kDirect;
  o.direct_prover = kSeq2;
  o.exclusive_ms = 10;
  ExpectRejected(Do(o), Reason::kWrongRole, "direct_prover");
}

// ---- Matching: eligibility and ranking ----------------------------------------------------

TEST_F(EngineTest, OrderTakesCheapestEligibleOfferAtOfferPrice) {
  SetUpMarket();
  Offer(kP1, 120);
  OfferId cheap = Offer(kP2, 80);
  Offer(kP3, 100);
  auto ev = Do(OrderSpec(150));
  auto assigned = Of(ev, EventKind::kAssigned);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].offer, cheap);
  EXPECT_EQ(assigned[0].account, kP2);
  EXPECT_EQ(assigned[0].amount, 80);  // the resting side's price
  EXPECT_TRUE(Of(ev, EventKind::kOrderRested).empty());
}

TEST_F(EngineTest, OfferAboveMaxPriceIsIneligible) {
  SetUpMarket();
  Offer(kP1, 200);
  auto ev = Do(OrderSpec(150));
  EXPECT_TRUE(Of(ev, EventKind::kAssigned).empty());
  EXPECT_EQ(Of(ev, EventKind::kOrderRested).size(), 1u);
}

TEST_F(EngineTest, OfferTooSlowForDeadlineIsIneligible) {
  SetUpMarket();
  Offer(kP1, 50, /*est_ms=*/5'000);
  OfferId fast = Offer(kP2, 90, /*est_ms=*/500);
  auto ev = Do(OrderSpec(150, /*deadline_in=*/1'000));
  auto assigned = Of(ev, EventKind::kAssigned);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].offer, fast);
}

TEST_F(EngineTest, TimePriorityRanksByEffectiveTimeThenPrice) {
  SetUpMarket();
  Offer(kP1, 50, 900);
  OfferId fast = Offer(kP2, 120, 300);
  Offer(kP3, 100, 300);  // same time, cheaper, but later... price breaks the tie
  PlaceOrder o = OrderSpec(150);
  o.priority = Priority::kTime;
  auto assigned = Of(Do(o), EventKind::kAssigned);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].account, kP3);
  EXPECT_NE(assigned[0].offer, fast);
}

TEST_F(EngineTest, FasterThanMinProverTimeEarnsNoRankingAdvantage) {
  SetUpMarket();         // min_prover_time_ms = 100
  Offer(kP1, 120, 10);   // effective 100
  Offer(kP2, 110, 100);  // effective 100, cheaper
  PlaceOrder o = OrderSpec(150);
  o.priority = Priority::kTime;
  auto assigned = Of(Do(o), EventKind::kAssigned);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].account, kP2);
}

TEST_F(EngineTest, EqualOffersRankByReputationThenArrival) {
  SetUpMarket();
  // Raise kP2's reputation with one settled job.
  OfferId o2 = Offer(kP2, 100);
  auto first = Of(Do(OrderSpec(100)), EventKind::kAssigned);
  ASSERT_EQ(first.size(), 1u);
  Prove(kP2, first[0].assignment);
  EXPECT_GT(Account(kP2).reputation, Account(kP1).reputation);
  ExpectAccepted(Do(CancelOffer{kP2, o2}));
  Offer(kP1, 100);
  Offer(kP3, 100);
  Offer(kP2, 100);  // last to arrive but best reputation
  auto a = Of(Do(OrderSpec(100)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].account, kP2);
  a = Of(Do(OrderSpec(100)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].account, kP1);  // equal reputation: first to arrive
}

TEST_F(EngineTest, ProverBelowMinReputationIsIneligible) {
  SetUpMarket();
  Offer(kP1, 50);
  PlaceOrder o = OrderSpec(150);
  o.min_reputation = kInitialReputation + 1;
  EXPECT_TRUE(Of(Do(o), EventKind::kAssigned).empty());
}

TEST_F(EngineTest, OfferWithoutCapacityLeftIsIneligible) {
  SetUpMarket();
  Offer(kP1, 50, 100, /*capacity=*/1);
  EXPECT_EQ(Of(Do(OrderSpec(150)), EventKind::kAssigned).size(), 1u);
  EXPECT_TRUE(Of(Do(OrderSpec(150)), EventKind::kAssigned).empty());
}

TEST_F(EngineTest, RedundantOrderGetsKDistinctProvers) {
  SetUpMarket();
  Offer(kP1, 50, 100, 5);
  Offer(kP1, 60, 100, 5);  // same prover again: not eligible twice
  Offer(kP2, 70);
  PlaceOrder o = OrderSpec(150);
  o.redundancy = 3;
  auto ev = Do(o);
  auto assigned = Of(ev, EventKind::kAssigned);
  ASSERT_EQ(assigned.size(), 2u);
  EXPECT_EQ(assigned[0].account, kP1);
  EXPECT_EQ(assigned[1].account, kP2);
  ASSERT_EQ(Of(ev, EventKind::kOrderRested).size(), 1u);
  EXPECT_EQ(Of(ev, EventKind::kOrderRested)[0].value, 1);
  // A third prover arriving fills the last slot.
  auto more = Of(Do(PlaceOffer{kP3, kM, 100, 100, 1, 0}), EventKind::kAssigned);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].account, kP3);
}

TEST_F(EngineTest, ArrivingOfferTakesBestRestingOrderAtOrderPrice) {
  SetUpMarket();
  OrderId low = Order(OrderSpec(100, 5'000));
  OrderId late_deadline = Order(OrderSpec(200, 9'000));
  OrderId early_deadline = Order(OrderSpec(200, 5'000));
  (void)low;
  (void)late_deadline;
  auto assigned = Of(Do(PlaceOffer{kP1, kM, 90, 100, 1, 0}), EventKind::kAssigned);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].order, early_deadline);
  EXPECT_EQ(assigned[0].amount, 200);  // resting side's price
}

TEST_F(EngineTest, OfferWithCapacityTakesSeveralRestingOrders) {
  SetUpMarket();
  Order(OrderSpec(100));
  Order(OrderSpec(100));
  Order(OrderSpec(100));
  auto ev = Do(PlaceOffer{kP1, kM, 90, 100, 2, 0});
  EXPECT_EQ(Of(ev, EventKind::kAssigned).size(), 2u);
  ASSERT_EQ(Of(ev, EventKind::kOfferRested).size(), 1u);
  EXPECT_EQ(Of(ev, EventKind::kOfferRested)[0].value, 0);
}

TEST_F(EngineTest, DueTimeIsMinOfDeadlineAndGraceOnEffectiveTime) {
  SetUpMarket();  // grace 50%
  Offer(kP1, 50, 1'000);
  auto a = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].value, now_ + 1'500);
  Offer(kP2, 50, 1'000);
  a = Of(Do(OrderSpec(150, 1'200)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].value, now_ + 1'200);  // capped by the deadline
}

// ---- Misses, slashing, reassignment -------------------------------------------------------

TEST_F(EngineTest, MissedDueTimeSlashesStakeAndCompensatesSequencer) {
  SetUpMarket();
  OfferId offer = Offer(kP1, 50, 1'000);
  auto a = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  Amount seq_before = Account(kSeq).available;
  now_ = a[0].value;  // exactly due: not yet missed
  EXPECT_TRUE(Do(Tick{}).empty());
  now_ += 1;
  auto ev = Do(Tick{});
  auto slashed = Of(ev, EventKind::kSlashed);
  ASSERT_EQ(slashed.size(), 1u);
  EXPECT_EQ(slashed[0].amount, 1'000);  // min_slash: twice the price (100) is less
  EXPECT_EQ(slashed[0].reason, Reason::kMissedDeadline);
  auto comp = Transfers(ev, TransferReason::kSlashCompensation);
  auto treas = Transfers(ev, TransferReason::kSlashTreasury);
  ASSERT_EQ(comp.size(), 1u);
  ASSERT_EQ(treas.size(), 1u);
  EXPECT_EQ(comp[0].amount, 500);
  EXPECT_EQ(comp[0].to_account, kSeq);
  EXPECT_EQ(treas[0].amount, 500);
  EXPECT_EQ(treas[0].to_account, kTreasuryAccountId);
  EXPECT_EQ(Account(kP1).staked, 9'000);
  EXPECT_EQ(Account(kP1).reputation, kInitialReputation - kReputationLossOnSlash);
  EXPECT_EQ(Account(kSeq).available, seq_before + 500 + 150);  // compensation + refund
  EXPECT_EQ(engine_.GetOffer(offer)->capacity_left, 1);        // capacity freed
}

TEST_F(EngineTest, MissReassignsOrderToNextEligibleOffer) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  OfferId second = Offer(kP2, 80, 1'000);
  OrderId order = Order(OrderSpec(150, 10'000));
  auto a = engine_.GetOrderAssignments(order);
  ASSERT_EQ(a.size(), 1u);
  now_ = a[0].due_at + 1;
  auto ev = Do(Tick{});
  auto re = Of(ev, EventKind::kReassigned);
  ASSERT_EQ(re.size(), 1u);
  EXPECT_EQ(re[0].offer, second);
  EXPECT_EQ(re[0].amount, 80);
  EXPECT_EQ(engine_.GetOrder(order)->status, OrderStatus::kOpen);
}

TEST_F(EngineTest, MissWithNoOfferAbleToMeetDeadlineExpiresAndRefunds) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  Offer(kP2, 80, 5'000);  // too slow once time has passed
  OrderId order = Order(OrderSpec(150, 6'000));
  now_ += 1'501;
  auto ev = Do(Tick{});
  EXPECT_TRUE(Of(ev, EventKind::kReassigned).empty());
  ASSERT_EQ(Of(ev, EventKind::kOrderExpired).size(), 1u);
  auto refund = Transfers(ev, TransferReason::kRefund);
  ASSERT_EQ(refund.size(), 1u);
  EXPECT_EQ(refund[0].amount, 150);
  EXPECT_EQ(engine_.GetOrder(order)->status, OrderStatus::kExpired);  // kept for late proof
  EXPECT_EQ(Account(kSeq).escrowed, 0);
}

TEST_F(EngineTest, ProofRejectedIsSlashedLikeAMissWithReasonInvalidProof) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  auto a = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  ExpectAccepted(Do(ProofDelivered{kP1, a[0].assignment, 10}));
  auto ev = Do(ProofRejected{a[0].assignment});
  ASSERT_EQ(Of(ev, EventKind::kProofRejected).size(), 1u);
  auto slashed = Of(ev, EventKind::kSlashed);
  ASSERT_EQ(slashed.size(), 1u);
  EXPECT_EQ(slashed[0].reason, Reason::kInvalidProof);
  // No other offer: the order expires, refunds, and (nothing pending) is forgotten.
  EXPECT_EQ(Of(ev, EventKind::kOrderExpired).size(), 1u);
  EXPECT_FALSE(engine_.GetAssignment(a[0].assignment).has_value());
}

TEST_F(EngineTest, DeliveredProofStopsTheDueClock) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  auto a = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  ExpectAccepted(Do(ProofDelivered{kP1, a[0].assignment, 10}));
  now_ = a[0].value + 100;
  EXPECT_TRUE(Of(Do(Tick{}), EventKind::kSlashed).empty());
  auto ev = Do(ProofVerified{a[0].assignment});
  EXPECT_EQ(Of(ev, EventKind::kSettled).size(), 1u);
}

TEST_F(EngineTest, DeliveryPastDueSettlesTheMissFirst) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  auto a = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  now_ = a[0].value + 1;
  auto ev = Do(ProofDelivered{kP1, a[0].assignment, 10});
  ExpectAccepted(ev);
  EXPECT_EQ(Of(ev, EventKind::kSlashed).size(), 1u);
  auto delivered = Of(ev, EventKind::kProofDelivered);
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].value, 1);  // late
}

TEST_F(EngineTest, DeliveryIsJudgedAtItsReceiptTime) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  auto a = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  const Timestamp due = a[0].value;
  // Stored on time, journaled after a crash past the due time: on time, no slash.
  now_ = due + 5'000;
  auto ev = Do(ProofDelivered{kP1, a[0].assignment, 10, /*received_at=*/due});
  ExpectAccepted(ev);
  EXPECT_TRUE(Of(ev, EventKind::kSlashed).empty());
  auto delivered = Of(ev, EventKind::kProofDelivered);
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].value, 0);
  ExpectAccepted(Do(ProofVerified{a[0].assignment}));
}

// A proof received in time but still being stored when its due time passes: the Tick leaves the
// miss to the delivery, which is judged at its receipt time; once the server says the receipt
// is gone (its store failed), the next Tick settles the miss.
TEST_F(EngineTest, ATickLeavesAMissToAProofStillBeingReceived) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  Offer(kP2, 60, 1'000);
  auto a = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  auto b = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  const Timestamp due = a[0].value;
  receipts_.receiving = {a[0].assignment, b[0].assignment};
  now_ = std::max(due, b[0].value) + 500;
  EXPECT_TRUE(Of(Do(Tick{}), EventKind::kSlashed).empty());
  now_ += 100;
  EXPECT_TRUE(Of(Do(Tick{}), EventKind::kSlashed).empty());  // and again: still waiting
  // a's proof arrives, received before its due time: on time.
  auto ev = Do(ProofDelivered{kP1, a[0].assignment, 10, /*received_at=*/due - 1});
  ExpectAccepted(ev);
  EXPECT_TRUE(Of(ev, EventKind::kSlashed).empty());
  EXPECT_EQ(Of(ev, EventKind::kProofDelivered)[0].value, 0);
  // b's store failed: no longer receiving; the next Tick settles its miss.
  receipts_.receiving.clear();
  now_ += 100;
  auto slashed = Of(Do(Tick{}), EventKind::kSlashed);
  ASSERT_EQ(slashed.size(), 1u);
  EXPECT_EQ(slashed[0].assignment, b[0].assignment);
  ExpectAccepted(Do(ProofVerified{a[0].assignment}));
}

// A miss left to a receipt past the order's deadline (its due time is the deadline): once the
// receipt is gone the miss is settled and the late assignment lapses at once, as the deadline's
// timer, already fired, would have done.
TEST_F(EngineTest, AMissLeftToAReceiptPastTheDeadlineLapses) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  auto a = Of(Do(OrderSpec(150, 1'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  receipts_.receiving = {a[0].assignment};
  now_ += 1'500;  // past the due time and the order's deadline
  auto ev = Do(Tick{});
  EXPECT_TRUE(Of(ev, EventKind::kSlashed).empty());
  EXPECT_EQ(Of(ev, EventKind::kOrderExpired).size(), 1u);
  receipts_.receiving.clear();  // its store failed
  now_ += 100;
  ev = Do(Tick{});
  EXPECT_EQ(Of(ev, EventKind::kSlashed).size(), 1u);
  auto lapsed = Of(ev, EventKind::kAssignmentLapsed);
  ASSERT_EQ(lapsed.size(), 1u);
  EXPECT_EQ(lapsed[0].assignment, a[0].assignment);
  EXPECT_FALSE(engine_.GetOrder(a[0].order).has_value());  // nothing left to wait for
}

TEST_F(EngineTest, AnOutageHandsBackTheTimeItTookFromDueTimes) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  Offer(kP2, 60, 1'000);
  const Timestamp assigned_at = now_;
  auto a = Of(Do(OrderSpec(150, 60'000)), EventKind::kAssigned);
  auto b = Of(Do(OrderSpec(150, 60'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  const Timestamp due = a[0].value;
  // The last committed event was 100 ms after the assignments; then nothing ran for 10 s.
  const Timestamp since = assigned_at + 100;
  now_ = due + 10'000;
  auto ev = Do(Tick{.outage_since = since});
  EXPECT_TRUE(Of(ev, EventKind::kSlashed).empty());
  auto extended = Of(ev, EventKind::kDueExtended);
  ASSERT_EQ(extended.size(), 2u);
  // What was left of the window when the outage began, from now.
  EXPECT_EQ(extended[0].assignment, a[0].assignment);
  EXPECT_EQ(extended[0].value, due + (now_ - since));
  EXPECT_EQ(extended[0].account, kP1);
  // The moved timers fire at the new due times, not the old ones.
  now_ = extended[0].value;
  EXPECT_TRUE(Of(Do(Tick{}), EventKind::kSlashed).empty());
  now_ = extended[1].value + 1;
  EXPECT_EQ(Of(Do(Tick{}), EventKind::kSlashed).size(), 2u);
}

TEST_F(EngineTest, AnOutageDoesNotExtendDueTimesBeforeItOrPastTheDeadline) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  Offer(kP2, 60, 100'000);
  auto a = Of(Do(OrderSpec(150, 60'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  // Due before the outage began: a miss like any other.
  now_ = a[0].value + 50;
  auto ev = Do(Tick{.outage_since = a[0].value + 10});
  EXPECT_TRUE(Of(ev, EventKind::kDueExtended).empty());
  EXPECT_EQ(Of(ev, EventKind::kSlashed).size(), 1u);
  // The order's deadline passed in the outage: nothing to extend to.
  auto b = Of(Do(OrderSpec(150, 2'000)), EventKind::kAssigned);
  ASSERT_EQ(b.size(), 1u);
  const Timestamp since = now_;
  now_ += 5'000;
  auto late = Do(Tick{.outage_since = since});
  EXPECT_TRUE(Of(late, EventKind::kDueExtended).empty());
}

TEST_F(EngineTest, ReceiptTimeAfterDueIsLateAndNeverLaterThanNow) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  Offer(kP2, 60, 1'000);
  auto a = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  const Timestamp due = a[0].value;
  now_ = due + 10;
  auto ev = Do(ProofDelivered{kP1, a[0].assignment, 10, /*received_at=*/due + 1});
  ExpectAccepted(ev);
  EXPECT_EQ(Of(ev, EventKind::kSlashed).size(), 1u);
  // The order went to P2. A received_at in the future counts as now: no antedating a
  // late proof by post-dating it.
  auto b = Of(ev, EventKind::kReassigned);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].account, kP2);
  now_ = b[0].value + 1;
  auto late = Do(ProofDelivered{kP2, b[0].assignment, 10, /*received_at=*/now_ + 99});
  ExpectAccepted(late);
  EXPECT_EQ(Of(late, EventKind::kProofDelivered)[0].value, 1);
}

TEST_F(EngineTest, ProofLargerThanMarketLimitIsRejected) {
  SetUpMarket();
  Offer(kP1, 50);
  auto a = Of(Do(OrderSpec(150)), EventKind::kAssigned);
  ExpectRejected(Do(ProofDelivered{kP1, a[0].assignment, (1 << 20) + 1}), Reason::kProofTooLarge,
                 "proof_bytes");
  ExpectRejected(Do(ProofDelivered{kP2, a[0].assignment, 10}), Reason::kNotOwner, "account");
  ExpectRejected(Do(ProofVerified{a[0].assignment}), Reason::kConflict, "assignment");
}

// ---- Settlement ---------------------------------------------------------------------------

TEST_F(EngineTest, ProofVerifiedPaysPriceLessFeeAndReleasesUnusedEscrow) {
  SetUpMarket();
  Offer(kP1, 100);
  OrderId order = Order(OrderSpec(150));
  auto a = engine_.GetOrderAssignments(order);
  Amount prover_before = Account(kP1).available;
  auto ev = Prove(kP1, a[0].id);
  ASSERT_EQ(Of(ev, EventKind::kSettled).size(), 1u);
  auto pay = Transfers(ev, TransferReason::kPayment);
  auto fee = Transfers(ev, TransferReason::kFee);
  auto release = Transfers(ev, TransferReason::kRelease);
  ASSERT_EQ(pay.size(), 1u);
  ASSERT_EQ(fee.size(), 1u);
  ASSERT_EQ(release.size(), 1u);
  EXPECT_EQ(pay[0].amount, 99);
  EXPECT_EQ(pay[0].from_bucket, Bucket::kEscrowed);
  EXPECT_EQ(fee[0].amount, 1);
  EXPECT_EQ(fee[0].to_account, kTreasuryAccountId);
  EXPECT_EQ(release[0].amount, 50);
  EXPECT_EQ(Of(ev, EventKind::kOrderCompleted).size(), 1u);
  EXPECT_EQ(Account(kP1).available, prover_before + 99);
  EXPECT_EQ(Account(kSeq).escrowed, 0);
  EXPECT_FALSE(engine_.GetOrder(order).has_value());  // done and forgotten
}

TEST_F(EngineTest, RedundantOrderPaysEachProverWhenItsProofVerifies) {
  SetUpMarket();
  Offer(kP1, 100);
  Offer(kP2, 110);
  PlaceOrder spec = OrderSpec(150);
  spec.redundancy = 2;
  OrderId order = Order(spec);
  auto a = engine_.GetOrderAssignments(order);
  ASSERT_EQ(a.size(), 2u);
  auto ev = Prove(kP1, a[0].id);
  EXPECT_EQ(Transfers(ev, TransferReason::kPayment)[0].amount, 99);
  EXPECT_TRUE(Of(ev, EventKind::kOrderCompleted).empty());
  ev = Prove(kP2, a[1].id);
  EXPECT_EQ(Transfers(ev, TransferReason::kPayment)[0].amount, 109);
  EXPECT_EQ(Of(ev, EventKind::kOrderCompleted).size(), 1u);
  EXPECT_EQ(Transfers(ev, TransferReason::kRelease)[0].amount, 300 - 210);
}

TEST_F(EngineTest, ValidProofAfterOrderCompleteEarnsUncleRewardNotPrice) {
  SetUpMarket();
  Offer(kP1, 100, 1'000);
  Offer(kP2, 100, 1'000);
  OrderId order = Order(OrderSpec(150, 10'000));
  auto first = engine_.GetOrderAssignments(order);
  now_ = first[0].due_at + 1;
  auto re = Of(Do(Tick{}), EventKind::kReassigned);  // kP1 missed; kP2 takes over
  ASSERT_EQ(re.size(), 1u);
  auto ev = Prove(kP2, re[0].assignment);
  EXPECT_EQ(Of(ev, EventKind::kOrderCompleted).size(), 1u);
  // The order is complete; the late prover still delivers a valid proof before the deadline.
  Amount before = Account(kP1).available;
  ev = Prove(kP1, first[0].id);
  ASSERT_EQ(Of(ev, EventKind::kUncleRewarded).size(), 1u);
  EXPECT_TRUE(Of(ev, EventKind::kSettled).empty());
  auto uncle = Transfers(ev, TransferReason::kUncleReward);
  ASSERT_EQ(uncle.size(), 1u);
  EXPECT_EQ(uncle[0].amount, 20);  // 20% of the price 100
  EXPECT_EQ(uncle[0].account, kTreasuryAccountId);
  EXPECT_EQ(Account(kP1).available, before + 20);
  EXPECT_FALSE(engine_.GetOrder(order).has_value());
}

TEST_F(EngineTest, LateAssignmentLapsesAtOrderDeadline) {
  SetUpMarket();
  Offer(kP1, 100, 1'000);
  OrderId order = Order(OrderSpec(150, 3'000));
  auto a = engine_.GetOrderAssignments(order);
  now_ = a[0].due_at + 1;
  Do(Tick{});
  EXPECT_EQ(engine_.GetAssignment(a[0].id)->status, AssignmentStatus::kLate);
  now_ = engine_.GetOrder(order)->deadline + 1;
  auto ev = Do(Tick{});
  EXPECT_EQ(Of(ev, EventKind::kAssignmentLapsed).size(), 1u);
  EXPECT_FALSE(engine_.GetOrder(order).has_value());
}

// ---- Stake, jail ---------------------------------------------------------------------------

TEST_F(EngineTest, OfferRejectedWhenStakeBelowMinStake) {
  MarketParams p = DefaultParams();
  p.min_stake = 50'000;
  SetUpMarket(p);
  auto ev = Do(PlaceOffer{kP1, kM, 100, 100, 1, 0});
  ExpectRejected(ev, Reason::kInsufficientStake, "account");
}

TEST_F(EngineTest, StakeBelowMinStakeJailsProverAndPullsItsOffers) {
  MarketParams p = DefaultParams();
  p.min_stake = 9'500;  // one 10% slash of 10'000 drops below it
  SetUpMarket(p);
  Offer(kP1, 50, 1'000);
  OfferId other = Offer(kP1, 60, 1'000);
  Offer(kP2, 80, 1'000);
  auto a = Of(Do(OrderSpec(150, 10'000)), EventKind::kAssigned);
  now_ = a[0].value + 1;
  auto ev = Do(Tick{});
  auto jailed = Of(ev, EventKind::kJailed);
  ASSERT_EQ(jailed.size(), 1u);
  EXPECT_EQ(jailed[0].account, kP1);
  auto pulled = Of(ev, EventKind::kOfferCancelled);
  ASSERT_EQ(pulled.size(), 2u);
  EXPECT_EQ(pulled[0].reason, Reason::kJailed);
  EXPECT_FALSE(engine_.GetOffer(other).has_value());
  EXPECT_EQ(Of(ev, EventKind::kReassigned)[0].account, kP2);
}

TEST_F(EngineTest, UnstakeOnlyOfStakeNotBackingOpenAssignments) {
  SetUpMarket();  // min_stake 1000, staked 10'000
  Offer(kP1, 50);
  Order(OrderSpec(150));
  ExpectRejected(Do(Unstake{kP1, 9'001}), Reason::kStakeLocked, "amount");
  ExpectRejected(Do(Unstake{kP1, 10'001}), Reason::kInsufficientStake, "amount");
  auto ev = Do(Unstake{kP1, 9'000});
  ExpectAccepted(ev);
  EXPECT_EQ(Transfers(ev, TransferReason::kUnstake)[0].amount, 9'000);
  EXPECT_EQ(Account(kP1).staked, 1'000);
}

TEST_F(EngineTest, UnstakingBelowMinStakePullsOffers) {
  SetUpMarket();
  OfferId offer = Offer(kP1, 50);
  auto ev = Do(Unstake{kP1, 9'500});
  auto pulled = Of(ev, EventKind::kOfferCancelled);
  ASSERT_EQ(pulled.size(), 1u);
  EXPECT_EQ(pulled[0].reason, Reason::kInsufficientStake);
  EXPECT_FALSE(engine_.GetOffer(offer).has_value());
}

// ---- Cancels and expiry -------------------------------------------------------------------

TEST_F(EngineTest, CancelRestingOrderRefundsEscrow) {
  SetUpMarket();
  OrderId order = Order(OrderSpec(150));
  ExpectRejected(Do(CancelOrder{kSeq2, order}), Reason::kNotOwner, "account");
  auto ev = Do(CancelOrder{kSeq, order});
  ExpectAccepted(ev);
  EXPECT_EQ(Of(ev, EventKind::kOrderCancelled).size(), 1u);
  EXPECT_EQ(Transfers(ev, TransferReason::kRefund)[0].amount, 150);
  EXPECT_EQ(Account(kSeq).escrowed, 0);
  ExpectRejected(Do(CancelOrder{kSeq, order}), Reason::kNotFound, "order");
}

TEST_F(EngineTest, CancelAssignedOrderIsConflict) {
  SetUpMarket();
  Offer(kP1, 50);
  OrderId order = Order(OrderSpec(150));
  ExpectRejected(Do(CancelOrder{kSeq, order}), Reason::kConflict, "order");
}

TEST_F(EngineTest, CancelOfferRemovesItFromTheBook) {
  SetUpMarket();
  OfferId offer = Offer(kP1, 50);
  ExpectRejected(Do(CancelOffer{kP2, offer}), Reason::kNotOwner, "account");
  ExpectAccepted(Do(CancelOffer{kP1, offer}));
  EXPECT_TRUE(engine_.GetBook(kM)->asks.empty());
  EXPECT_TRUE(Of(Do(OrderSpec(150)), EventKind::kAssigned).empty());
  ExpectRejected(Do(CancelOffer{kP1, offer}), Reason::kNotFound, "offer");
}

TEST_F(EngineTest, RestingOrderExpiresAtDeadlineAndRefunds) {
  SetUpMarket();
  OrderId order = Order(OrderSpec(150, 2'000));
  now_ += 2'000;
  EXPECT_TRUE(Do(Tick{}).empty());  // at the deadline: not yet past it
  now_ += 1;
  auto ev = Do(Tick{});
  EXPECT_EQ(Of(ev, EventKind::kOrderExpired).size(), 1u);
  EXPECT_EQ(Transfers(ev, TransferReason::kRefund)[0].amount, 150);
  EXPECT_FALSE(engine_.GetOrder(order).has_value());
}

TEST_F(EngineTest, OfferExpiresAfterItsExpiry) {
  SetUpMarket();
  OfferId offer = Offer(kP1, 50, 100, 1, now_ + 500);
  now_ += 501;
  EXPECT_TRUE(Of(Do(OrderSpec(150)), EventKind::kAssigned).empty());  // expired, not ticked
  auto ev = Do(Tick{});
  EXPECT_EQ(Of(ev, EventKind::kOfferExpired).size(), 1u);
  EXPECT_FALSE(engine_.GetOffer(offer).has_value());
}

// ---- Selection: direct and vrf ------------------------------------------------------------

TEST_F(EngineTest, DirectOrderIsExclusiveToNamedProverDuringWindowThenOpensToBest) {
  SetUpMarket();
  Offer(kP1, 50);  // cheapest, but not the named prover
  PlaceOrder o = OrderSpec(150);
  o.selection = Selection::kDirect;
  o.direct_prover = kP2;
  o.exclusive_ms = 1'000;
  OrderId order = Order(o);
  EXPECT_TRUE(engine_.GetOrderAssignments(order).empty());
  now_ += 1'001;
  auto ev = Do(Tick{});
  EXPECT_EQ(Of(ev, EventKind::kExclusiveEnded).size(), 1u);
  auto a = Of(ev, EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].account, kP1);
}

TEST_F(EngineTest, DirectOrderTakesNamedProverOfferDuringWindow) {
  SetUpMarket();
  Offer(kP1, 50);
  Offer(kP2, 120);
  PlaceOrder o = OrderSpec(150);
  o.selection = Selection::kDirect;
  o.direct_prover = kP2;
  o.exclusive_ms = 1'000;
  auto a = Of(Do(o), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].account, kP2);
}

// VRF selection: engine_vrf_test.cc.

// ---- Read API and determinism -------------------------------------------------------------

TEST_F(EngineTest, BookViewAggregatesByPriceLevel) {
  SetUpMarket();
  Offer(kP1, 50, 100, 2);
  Offer(kP2, 50, 300, 1);
  Offer(kP3, 70, 100, 1);
  PlaceOrder o = OrderSpec(40);
  Order(o);
  o.max_price = 30;
  o.redundancy = 2;
  Order(o);
  MarketBook book = *engine_.GetBook(kM);
  ASSERT_EQ(book.asks.size(), 2u);
  EXPECT_EQ(book.asks[0].price, 50);
  EXPECT_EQ(book.asks[0].offers, 2);
  EXPECT_EQ(book.asks[0].capacity_left, 3);
  ASSERT_EQ(book.bids.size(), 2u);
  EXPECT_EQ(book.bids[0].max_price, 40);
  EXPECT_EQ(book.bids[1].slots, 2);
}

// ---- Graded slashing (issue #13) ------------------------------------------------------------

TEST_F(EngineTest, SlashIsMultipleOfJobPriceWithMarketMinimum) {
  SetUpMarket();  // min_slash 1000, multiplier 2x
  Offer(kP1, 50, 1'000);
  Offer(kP2, 2'000, 1'000);
  auto cheap = Of(Do(OrderSpec(50, 10'000)), EventKind::kAssigned);
  auto dear = Of(Do(OrderSpec(2'000, 10'000)), EventKind::kAssigned);
  ASSERT_EQ(cheap.size(), 1u);
  ASSERT_EQ(dear.size(), 1u);
  now_ = std::max(cheap[0].value, dear[0].value) + 1;
  auto slashed = Of(Do(Tick{}), EventKind::kSlashed);
  ASSERT_EQ(slashed.size(), 2u);
  EXPECT_EQ(slashed[0].account, kP1);
  EXPECT_EQ(slashed[0].amount, 1'000);  // 2 x 50 = 100 < min_slash
  EXPECT_EQ(slashed[1].account, kP2);
  EXPECT_EQ(slashed[1].amount, 4'000);  // 2 x 2000
}

TEST_F(EngineTest, SlashNeverExceedsStake) {
  MarketParams p = DefaultParams();
  p.min_stake = 0;
  p.slash_multiplier_bps = kMaxSlashMultiplierBps;  // 100x the price
  SetUpMarket(p);
  Offer(kP1, 500, 1'000);
  auto a = Of(Do(OrderSpec(500, 10'000)), EventKind::kAssigned);
  now_ = a[0].value + 1;
  auto slashed = Of(Do(Tick{}), EventKind::kSlashed);
  ASSERT_EQ(slashed.size(), 1u);
  EXPECT_EQ(slashed[0].amount, 10'000);  // 50'000 asked, the whole stake taken
  EXPECT_EQ(Account(kP1).staked, 0);
}

TEST_F(EngineTest, RepeatOffenceWithinWindowDoublesSlash) {
  MarketParams p = DefaultParams();
  p.repeat_window_ms = 60'000;
  SetUpMarket(p);
  Offer(kP1, 50, 1'000, 3);
  auto a = Of(Do(OrderSpec(100, 50'000)), EventKind::kAssigned);
  now_ = a[0].value + 1;
  auto first = Of(Do(Tick{}), EventKind::kSlashed);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].amount, 1'000);
  EXPECT_EQ(first[0].value, 0);
  a = Of(Do(OrderSpec(100, 50'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  now_ = a[0].value + 1;  // inside the window
  auto second = Of(Do(Tick{}), EventKind::kSlashed);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].amount, 2'000);
  EXPECT_EQ(second[0].value, 1);
  now_ += 60'001;  // the window passed
  a = Of(Do(OrderSpec(100, 50'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  now_ = a[0].value + 1;
  auto third = Of(Do(Tick{}), EventKind::kSlashed);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].amount, 1'000);
}

// ---- Fault attribution ----------------------------------------------------------------------

TEST_F(EngineTest, BadInputsFailOrderWithoutSlashAndCompensateProver) {
  MarketParams p = DefaultParams();
  p.griefing_bps = 5000;  // half the job's price
  SetUpMarket(p);
  Offer(kP1, 80, 1'000);
  OrderId order = Order(OrderSpec(100, 10'000));
  auto a = engine_.GetOrderAssignments(order);
  ASSERT_EQ(a.size(), 1u);
  Amount seq_before = Account(kSeq).available;
  ExpectAccepted(Do(ProofDelivered{kP1, a[0].id, 100}));
  auto ev = Do(InputsRejected{a[0].id});
  ExpectAccepted(ev);
  EXPECT_TRUE(Of(ev, EventKind::kSlashed).empty());
  auto released = Of(ev, EventKind::kReleased);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].reason, Reason::kBadInputs);
  auto failed = Of(ev, EventKind::kOrderFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].reason, Reason::kBadInputs);
  auto comp = Transfers(ev, TransferReason::kGriefingCompensation);
  ASSERT_EQ(comp.size(), 1u);
  EXPECT_EQ(comp[0].amount, 40);
  EXPECT_EQ(comp[0].to_account, kP1);
  EXPECT_EQ(Account(kP1).staked, 10'000);
  EXPECT_EQ(Account(kP1).reputation, kInitialReputation);
  EXPECT_EQ(Account(kSeq).available, seq_before + 60);  // 100 escrowed, 40 to the prover
  EXPECT_FALSE(engine_.GetOrder(order).has_value());    // closed with nothing pending
}

TEST_F(EngineTest, BadInputsReleaseEveryLiveAssignmentOfTheOrder) {
  MarketParams p = DefaultParams();
  p.griefing_bps = 10000;
  SetUpMarket(p);
  Offer(kP1, 50, 1'000);
  OfferId o2 = Offer(kP2, 60, 1'000);
  PlaceOrder spec = OrderSpec(100, 10'000);
  spec.redundancy = 2;
  OrderId order = Order(spec);
  auto a = engine_.GetOrderAssignments(order);
  ASSERT_EQ(a.size(), 2u);
  ExpectAccepted(Do(ProofDelivered{kP1, a[0].id, 100}));
  auto ev = Do(InputsRejected{a[0].id});
  auto released = Of(ev, EventKind::kReleased);
  ASSERT_EQ(released.size(), 2u);
  EXPECT_EQ(released[1].account, kP2);  // still working: released, paid, not slashed
  auto comp = Transfers(ev, TransferReason::kGriefingCompensation);
  ASSERT_EQ(comp.size(), 2u);
  EXPECT_EQ(comp[0].amount, 50);
  EXPECT_EQ(comp[1].amount, 60);
  EXPECT_EQ(Transfers(ev, TransferReason::kRefund)[0].amount, 90);
  EXPECT_EQ(engine_.GetOffer(o2)->capacity_left, 1);
  // The released prover's late verdict is refused, not applied.
  ExpectRejected(Do(ProofVerified{a[1].id}), Reason::kNotFound, "assignment");
}

TEST_F(EngineTest, VerifierFailureReleasesWithoutSlashAndHandsSlotOn) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  Offer(kP2, 60, 1'000);
  OrderId order = Order(OrderSpec(100, 10'000));
  auto a = engine_.GetOrderAssignments(order);
  ExpectAccepted(Do(ProofDelivered{kP1, a[0].id, 100}));
  auto ev = Do(VerificationFailed{a[0].id});
  ExpectAccepted(ev);
  EXPECT_TRUE(Of(ev, EventKind::kSlashed).empty());
  ASSERT_EQ(Of(ev, EventKind::kReleased).size(), 1u);
  EXPECT_EQ(Of(ev, EventKind::kReleased)[0].reason, Reason::kVerifierFailed);
  auto re = Of(ev, EventKind::kReassigned);
  ASSERT_EQ(re.size(), 1u);
  EXPECT_EQ(re[0].account, kP2);
  EXPECT_EQ(Account(kP1).staked, 10'000);
  EXPECT_EQ(engine_.GetAssignment(a[0].id)->status, AssignmentStatus::kReleased);
}

TEST_F(EngineTest, VerifierFailureWithNobodyLeftRestsTheOrder) {
  SetUpMarket();
  Offer(kP1, 50, 1'000);
  OrderId order = Order(OrderSpec(100, 10'000));
  auto a = engine_.GetOrderAssignments(order);
  ExpectAccepted(Do(ProofDelivered{kP1, a[0].id, 100}));
  auto ev = Do(VerificationFailed{a[0].id});
  ASSERT_EQ(Of(ev, EventKind::kOrderRested).size(), 1u);
  EXPECT_EQ(engine_.GetOrder(order)->status, OrderStatus::kOpen);
  EXPECT_EQ(engine_.GetOrder(order)->needed, 1);
}

// ---- Declines -------------------------------------------------------------------------------

TEST_F(EngineTest, BusyDeclineInsideWindowReassignsWithoutSlash) {
  MarketParams p = DefaultParams();
  p.decline_window_ms = 500;
  SetUpMarket(p);
  OfferId o1 = Offer(kP1, 50, 1'000, 2);
  Offer(kP2, 60, 1'000);
  OrderId order = Order(OrderSpec(100, 10'000));
  auto a = engine_.GetOrderAssignments(order);
  ASSERT_EQ(a[0].prover, kP1);
  now_ += 500;  // the window's last instant
  auto ev = Do(DeclineAssignment{kP1, a[0].id, Reason::kBusy});
  ExpectAccepted(ev);
  EXPECT_TRUE(Of(ev, EventKind::kSlashed).empty());
  ASSERT_EQ(Of(ev, EventKind::kDeclined).size(), 1u);
  EXPECT_EQ(Of(ev, EventKind::kReassigned)[0].account, kP2);
  EXPECT_EQ(Account(kP1).staked, 10'000);
  EXPECT_EQ(Account(kP1).reputation, kInitialReputation - kReputationLossOnBusyDecline);
  // The offer backs one job fewer: a busy prover is not handed the next job at once.
  EXPECT_EQ(engine_.GetOffer(o1)->capacity, 1);
  EXPECT_EQ(engine_.GetOffer(o1)->capacity_left, 1);
  EXPECT_EQ(engine_.GetAssignment(a[0].id)->status, AssignmentStatus::kDeclinedBusy);
}

TEST_F(EngineTest, BusyDeclineOfLastJobRemovesOffer) {
  MarketParams p = DefaultParams();
  p.decline_window_ms = 500;
  SetUpMarket(p);
  OfferId o1 = Offer(kP1, 50, 1'000);
  OrderId order = Order(OrderSpec(100, 10'000));
  auto a = engine_.GetOrderAssignments(order);
  auto ev = Do(DeclineAssignment{kP1, a[0].id, Reason::kBusy});
  auto cancelled = Of(ev, EventKind::kOfferCancelled);
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].reason, Reason::kBusy);
  EXPECT_FALSE(engine_.GetOffer(o1).has_value());
  EXPECT_EQ(Of(ev, EventKind::kOrderRested).size(), 1u);  // nobody else: it rests
}

TEST_F(EngineTest, BusyDeclineAfterWindowIsRefused) {
  MarketParams p = DefaultParams();
  p.decline_window_ms = 500;
  SetUpMarket(p);
  Offer(kP1, 50, 1'000);
  OrderId order = Order(OrderSpec(100, 10'000));
  auto a = engine_.GetOrderAssignments(order);
  now_ += 501;
  ExpectRejected(Do(DeclineAssignment{kP1, a[0].id, Reason::kBusy}), Reason::kDeclineWindowPassed,
                 "reason");
  ExpectRejected(Do(DeclineAssignment{kP2, a[0].id, Reason::kUnprovable}), Reason::kNotOwner,
                 "account");
  ExpectRejected(Do(DeclineAssignment{kP1, a[0].id, Reason::kJailed}), Reason::kInvalidArgument,
                 "reason");
  now_ = a[0].due_at + 1;  // past due: the miss stands
  ExpectRejected(Do(DeclineAssignment{kP1, a[0].id, Reason::kUnprovable}), Reason::kDeadlinePassed,
                 "assignment");
}

TEST_F(EngineTest, UnprovableDeclineIsFreeRecordedAndHandsSlotOn) {
  SetUpMarket();  // quorum 2
  OfferId o1 = Offer(kP1, 50, 1'000);
  Offer(kP2, 60, 1'000);
  OrderId order = Order(OrderSpec(100, 10'000));
  auto a = engine_.GetOrderAssignments(order);
  now_ += 900;  // any time before the due time
  auto ev = Do(DeclineAssignment{kP1, a[0].id, Reason::kUnprovable});
  auto declined = Of(ev, EventKind::kDeclined);
  ASSERT_EQ(declined.size(), 1u);
  EXPECT_EQ(declined[0].value, 1);  // one vote of two
  EXPECT_EQ(Of(ev, EventKind::kReassigned)[0].account, kP2);
  EXPECT_EQ(Account(kP1).reputation, kInitialReputation);
  EXPECT_EQ(engine_.GetOffer(o1)->capacity_left, 1);
}

TEST_F(EngineTest, UnprovableQuorumFailsOrderAndPaysDecliners) {
  MarketParams p = DefaultParams();
  p.unprovable_fee_bps = 2000;  // 20% of max_price, shared
  SetUpMarket(p);
  Offer(kP1, 50, 1'000);
  Offer(kP2, 60, 1'000);
  Offer(kP3, 70, 1'000);
  Amount seq_before = Account(kSeq).available;
  OrderId order = Order(OrderSpec(101, 10'000));
  auto a1 = engine_.GetOrderAssignments(order);
  Do(DeclineAssignment{kP1, a1[0].id, Reason::kUnprovable});
  auto a2 = engine_.GetOrderAssignments(order);
  ASSERT_EQ(a2.size(), 2u);
  auto ev = Do(DeclineAssignment{kP2, a2[1].id, Reason::kUnprovable});
  auto failed = Of(ev, EventKind::kOrderFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].reason, Reason::kUnprovable);
  EXPECT_TRUE(Of(ev, EventKind::kSlashed).empty());
  auto fees = Transfers(ev, TransferReason::kUnprovableFee);
  ASSERT_EQ(fees.size(), 2u);
  EXPECT_EQ(fees[0].amount, 10);  // 20 of 101 shared by two
  EXPECT_EQ(fees[1].amount, 10);
  EXPECT_EQ(Account(kSeq).available, seq_before - 20);
  EXPECT_EQ(Account(kP1).staked, 10'000);
  EXPECT_EQ(Account(kP2).staked, 10'000);
  EXPECT_FALSE(engine_.GetOrder(order).has_value());
}

TEST_F(EngineTest, UnprovableQuorumDoesNotFailOrderThatHasAProof) {
  MarketParams p = DefaultParams();
  p.unprovable_quorum = 1;
  SetUpMarket(p);
  Offer(kP1, 50, 1'000);
  Offer(kP2, 60, 1'000);
  PlaceOrder spec = OrderSpec(100, 10'000);
  spec.redundancy = 2;
  OrderId order = Order(spec);
  auto a = engine_.GetOrderAssignments(order);
  ExpectAccepted(Do(ProofDelivered{kP1, a[0].id, 100}));
  auto ev = Do(DeclineAssignment{kP2, a[1].id, Reason::kUnprovable});
  EXPECT_TRUE(Of(ev, EventKind::kOrderFailed).empty());  // someone proved it
  EXPECT_EQ(engine_.GetOrder(order)->status, OrderStatus::kOpen);
}

// ---- Reputation in the ranking --------------------------------------------------------------

TEST_F(EngineTest, ReputationWeightMovesReliableProverAheadOfSlightlyCheaperOne) {
  MarketParams p = DefaultParams();
  p.reputation_weight_bps = 10000;
  SetUpMarket(p);
  EarnReputation(kP2, 20);  // 5000 -> 5500
  ASSERT_EQ(Account(kP2).reputation, 5'500);
  // score = price x (10000 + 10000 x (10000 - rep) / 10000):
  // kP1 100 x 15000 = 1'500'000, kP2 103 x 14500 = 1'493'500.
  Offer(kP1, 100, 100);
  Offer(kP2, 103, 100);
  auto a = Of(Do(OrderSpec(200, 10'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].account, kP2);
  EXPECT_EQ(a[0].amount, 103);
}

TEST_F(EngineTest, ReputationWeightZeroKeepsPriceOrder) {
  SetUpMarket();
  EarnReputation(kP2, 20);
  Offer(kP1, 100, 100);
  Offer(kP2, 101, 100);
  auto a = Of(Do(OrderSpec(200, 10'000)), EventKind::kAssigned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].account, kP1);
}

TEST_F(EngineTest, ReputationWeightDoesNotBeatAMuchCheaperOffer) {
  MarketParams p = DefaultParams();
  p.reputation_weight_bps = 10000;
  SetUpMarket(p);
  EarnReputation(kP2, 20);
  Offer(kP1, 100, 100);
  Offer(kP2, 120, 100);  // 120 x 14500 > 100 x 15000
  auto a = Of(Do(OrderSpec(200, 10'000)), EventKind::kAssigned);
  EXPECT_EQ(a[0].account, kP1);
}

// ---- Uncles ---------------------------------------------------------------------------------

TEST_F(EngineTest, UncleRewardPaidForLateValidProofEvenWhenSlashWasZero) {
  MarketParams p = DefaultParams();
  p.min_stake = 0;
  p.min_slash = 0;
  p.slash_multiplier_bps = 0;  // a market that does not slash
  SetUpMarket(p);
  Do(Deposit{kSeq2, 1});  // something in the treasury
  Offer(kP1, 50, 1'000);
  Offer(kP2, 60, 1'000);
  OrderId order = Order(OrderSpec(100, 10'000));
  auto a = engine_.GetOrderAssignments(order);
  now_ = a[0].due_at + 1;
  auto ev = Do(Tick{});
  ASSERT_EQ(Of(ev, EventKind::kSlashed).size(), 1u);
  EXPECT_EQ(Of(ev, EventKind::kSlashed)[0].amount, 0);
  auto b = engine_.GetOrderAssignments(order);
  ASSERT_EQ(b.size(), 2u);
  Prove(kP2, b[1].id);  // the slot is filled by the reassigned prover first
  ExpectAccepted(Do(ProofDelivered{kP1, a[0].id, 100}));
  ev = Do(ProofVerified{a[0].id});
  auto uncle = Of(ev, EventKind::kUncleRewarded);
  ASSERT_EQ(uncle.size(), 1u);
  EXPECT_EQ(uncle[0].account, kP1);
}

TEST_F(EngineTest, ApplyIsDeterministic) {
  SetUpMarket();
  std::vector<Command> script;
  uint64_t ref = 1000;
  script.push_back({++ref, now_, PlaceOffer{kP1, kM, 50, 1'000, 2, 0}});
  script.push_back({++ref, now_, PlaceOffer{kP2, kM, 60, 1'000, 1, 0}});
  PlaceOrder o = OrderSpec(150, 5'000);
  o.redundancy = 2;
  script.push_back({++ref, now_, o});
  script.push_back({++ref, now_ + 2'000, Tick{}});
  script.push_back({++ref, now_ + 6'000, Tick{}});
  Engine a, b;
  for (Engine* e : {&a, &b}) {
    uint64_t r = 0;
    e->Apply({++r, 0, CreateMarket{kM, DefaultParams()}});
    e->Apply({++r, 0, CreateAccount{kSeq, Role::kSequencer}});
    e->Apply({++r, 0, Deposit{kSeq, 1'000}});
    for (AccountId p : {kP1, kP2}) {
      e->Apply({++r, 0, CreateAccount{p, Role::kProver}});
      e->Apply({++r, 0, Deposit{p, 10'000}});
      e->Apply({++r, 0, Stake{p, 10'000}});
    }
  }
  for (const Command& c : script) {
    auto ea = a.Apply(c);
    std::vector<Event> copy(ea.begin(), ea.end());
    auto eb = b.Apply(c);
    ASSERT_TRUE(std::equal(copy.begin(), copy.end(), eb.begin(), eb.end()));
  }
}

}  // namespace
}  // namespace proofbook::matching
