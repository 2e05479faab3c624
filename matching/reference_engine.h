// ReferenceEngine: a slow, obviously-correct model of the market rules, for tests only.
//
// Same commands and events as Engine, but every decision is a linear scan over std::maps:
// eligible offers are collected and sorted by the full rank key, derived counts (live
// assignments, slots wanted) are recounted from the assignments each time, timers are found
// by scanning for the earliest passed deadline. The property test feeds both the same random
// streams and requires identical events. Only rules.h (pure formulas) is shared.
// Not thread-safe.
#pragma once

#include <map>
#include <vector>

#include "matching/command.h"
#include "matching/draw_source.h"
#include "matching/event.h"
#include "matching/types.h"

namespace proofbook::matching {

class ReferenceEngine {
 public:
  // `draws` as EngineOptions::draws (not owned; null: vrf orders are refused).
  explicit ReferenceEngine(DrawSource* draws = nullptr);
  std::vector<Event> Apply(const Command& command);

  // Sum of all balances; must equal external_net().
  Amount TotalBalances() const;
  Amount external_net() const { return external_net_; }

 private:
  struct Acct {
    Role role = Role::kSequencer;
    Amount available = 0, escrowed = 0, staked = 0;
    int32_t reputation = kInitialReputation;
    Timestamp last_slashed_at = 0;
  };
  struct Off {
    AccountId prover = 0;
    MarketId market = 0;
    Amount price = 0;
    int64_t eff = 0;
    int32_t capacity = 0, capacity_left = 0;
    Timestamp expires_at = 0;
  };
  struct Ord {
    AccountId sequencer = 0;
    MarketId market = 0;
    Amount max_price = 0;
    Timestamp deadline = 0;
    Priority priority = Priority::kPrice;
    int32_t min_reputation = 0, redundancy = 1;
    Selection selection = Selection::kBest;
    AccountId direct_prover = 0;
    Timestamp exclusive_until = 0;
    bool exclusive_ended = false;
    bool deadline_done = false;
    Timestamp placed_at = 0;
    uint32_t vrf_draws = 0;
    OrderStatus status = OrderStatus::kOpen;
    int32_t verified = 0;
    Amount escrow_left = 0;
  };
  struct Asg {
    OrderId order = 0;
    OfferId offer = 0;
    AccountId prover = 0;
    MarketId market = 0;
    Amount price = 0;
    Timestamp due = 0;
    Timestamp assigned_at = 0;
    AssignmentStatus status = AssignmentStatus::kAssigned;
  };

  Event& Emit(EventKind kind);
  Event& EmitFor(EventKind kind, AssignmentId id);  // assignment, order, prover, market set
  void Accept();
  void Reject(Reason reason, std::string_view field);
  void Move(AccountId from, Bucket fb, AccountId to, Bucket tb, Amount amount,
            TransferReason reason, OrderId order = 0, AssignmentId assignment = 0);

  int32_t Live(OrderId order) const;
  int32_t Needed(OrderId order) const;
  bool Eligible(OrderId order, OfferId offer) const;
  // weighted: rank by the market's reputation-weighted score (README "Ranking"); the vrf
  // candidate list is in plain (price/time, reputation, id) order.
  std::vector<OfferId> RankedEligibleOffers(OrderId order, bool weighted) const;
  int32_t MatchOrder(OrderId order, EventKind kind);
  int64_t Weight(OfferId offer) const;
  void Candidate(OrderId order, OfferId offer, int64_t weight);
  uint64_t Draw(OrderId order);
  void OfferTakesOrders(OfferId offer);
  void Assign(OrderId order, OfferId offer, Amount price, EventKind kind);
  void Fail(AssignmentId a, Reason reason);
  void Settle(AssignmentId a);
  void Uncle(AssignmentId a);
  void Slash(AssignmentId a, Reason reason);
  void Reputation(AccountId account, int32_t delta);
  void PullOffers(AccountId account, Reason reason);
  void FreeCapacity(OfferId offer);
  void Expire(OrderId order);
  void SettleEscrow(OrderId order);
  void ForgetDone();
  void Tick(Timestamp outage_since);
  void Release(AssignmentId a, Reason reason, std::vector<OfferId>& freed);
  void ReleaseLate(AssignmentId a, Reason reason);
  void FailOrder(OrderId order, Reason reason, std::vector<OfferId>& freed);
  void RematchOrRest(OrderId order, int32_t needed_before);
  void DrainFreed(const std::vector<OfferId>& freed);
  bool HasDeliveredProof(OrderId order) const;
  int32_t UnprovableVotes(OrderId order) const;

  std::map<AccountId, Acct> accounts_;
  std::map<MarketId, MarketParams> markets_;
  std::map<OfferId, Off> offers_;
  std::map<OrderId, Ord> orders_;
  std::map<AssignmentId, Asg> assignments_;
  OrderId next_order_ = 1;
  OfferId next_offer_ = 1;
  AssignmentId next_assignment_ = 1;
  Amount external_net_ = 0;

  std::vector<Event> out_;
  Event subject_;
  uint64_t ref_ = 0;
  Timestamp now_ = 0;
  DrawSource* draws_;
  CommandKind command_ = CommandKind::kTick;
};

}  // namespace proofbook::matching
