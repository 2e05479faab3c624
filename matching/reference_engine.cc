#include "matching/reference_engine.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <type_traits>

#include "matching/rules.h"

namespace proofbook::matching {
namespace {

bool IsLive(AssignmentStatus s) {
  return s == AssignmentStatus::kAssigned || s == AssignmentStatus::kDelivered;
}
bool IsPendingLate(AssignmentStatus s) {
  return s == AssignmentStatus::kLate || s == AssignmentStatus::kLateDelivered;
}

}  // namespace

ReferenceEngine::ReferenceEngine(DrawSource* draws) : draws_(draws) {
  accounts_[kTreasuryAccountId].role = Role::kTreasury;
}

Amount ReferenceEngine::TotalBalances() const {
  Amount total = 0;
  for (const auto& [id, a] : accounts_) total += a.available + a.escrowed + a.staked;
  return total;
}

Event& ReferenceEngine::Emit(EventKind kind) {
  Event e;
  e.kind = kind;
  e.command = command_;
  e.ref = ref_;
  e.now = now_;
  out_.push_back(e);
  return out_.back();
}

Event& ReferenceEngine::EmitFor(EventKind kind, AssignmentId id) {
  const Asg& a = assignments_.at(id);
  Event& e = Emit(kind);
  e.assignment = id;
  e.order = a.order;
  e.account = a.prover;
  e.market = a.market;
  return e;
}

void ReferenceEngine::Accept() {
  Event& e = Emit(EventKind::kAccepted);
  e.account = subject_.account;
  e.market = subject_.market;
  e.order = subject_.order;
  e.offer = subject_.offer;
  e.assignment = subject_.assignment;
}

void ReferenceEngine::Reject(Reason reason, std::string_view field) {
  Accept();
  out_.back().kind = EventKind::kRejected;
  out_.back().reason = reason;
  out_.back().field = field;
}

void ReferenceEngine::Move(AccountId from, Bucket fb, AccountId to, Bucket tb, Amount amount,
                           TransferReason reason, OrderId order, AssignmentId assignment) {
  if (amount <= 0) return;
  auto bucket = [this](AccountId id, Bucket b) -> Amount& {
    Acct& a = accounts_.at(id);
    if (b == Bucket::kAvailable) return a.available;
    if (b == Bucket::kEscrowed) return a.escrowed;
    if (b == Bucket::kStaked) return a.staked;
    return external_net_;
  };
  if (fb == Bucket::kExternal) {
    external_net_ += amount;
  } else {
    bucket(from, fb) -= amount;
  }
  if (tb == Bucket::kExternal) {
    external_net_ -= amount;
  } else {
    bucket(to, tb) += amount;
  }
  Event& e = Emit(EventKind::kTransfer);
  e.account = from;
  e.from_bucket = fb;
  e.to_account = to;
  e.to_bucket = tb;
  e.amount = amount;
  e.transfer_reason = reason;
  e.order = order;
  e.assignment = assignment;
}

int32_t ReferenceEngine::Live(OrderId order) const {
  int32_t n = 0;
  for (const auto& [id, a] : assignments_) {
    if (a.order == order && IsLive(a.status)) ++n;
  }
  return n;
}

int32_t ReferenceEngine::Needed(OrderId order) const {
  const Ord& o = orders_.at(order);
  if (o.status != OrderStatus::kOpen) return 0;
  return o.redundancy - o.verified - Live(order);
}

bool ReferenceEngine::Eligible(OrderId order, OfferId offer) const {
  const Ord& o = orders_.at(order);
  const Off& f = offers_.at(offer);
  const Acct& p = accounts_.at(f.prover);
  if (f.market != o.market) return false;
  if (f.price > o.max_price) return false;
  if (now_ + f.eff > o.deadline) return false;
  if (p.staked < markets_.at(o.market).min_stake) return false;
  if (p.reputation < o.min_reputation) return false;
  if (f.capacity_left <= 0) return false;
  if (f.expires_at != 0 && now_ > f.expires_at) return false;
  if (o.selection == Selection::kDirect && now_ <= o.exclusive_until &&
      f.prover != o.direct_prover) {
    return false;
  }
  for (const auto& [id, a] : assignments_) {
    if (a.order == order && a.prover == f.prover) return false;
  }
  return true;
}

std::vector<OfferId> ReferenceEngine::RankedEligibleOffers(OrderId order, bool weighted) const {
  const Ord& o = orders_.at(order);
  const int32_t weight = weighted ? markets_.at(o.market).reputation_weight_bps : 0;
  std::vector<OfferId> out;
  for (const auto& [id, f] : offers_) {
    if (Eligible(order, id)) out.push_back(id);
  }
  auto key = [&](OfferId id) {
    const Off& f = offers_.at(id);
    int32_t rep = accounts_.at(f.prover).reputation;
    RankScoreValue score = RankScore(f.price, rep, weight);
    const auto eff = static_cast<RankScoreValue>(f.eff);
    return o.priority == Priority::kPrice ? std::make_tuple(score, eff, -rep, id)
                                          : std::make_tuple(eff, score, -rep, id);
  };
  std::sort(out.begin(), out.end(), [&](OfferId a, OfferId b) { return key(a) < key(b); });
  return out;
}

void ReferenceEngine::Assign(OrderId order, OfferId offer, Amount price, EventKind kind) {
  Ord& o = orders_.at(order);
  Off& f = offers_.at(offer);
  AssignmentId id = next_assignment_++;
  Asg a;
  a.order = order;
  a.offer = offer;
  a.prover = f.prover;
  a.market = o.market;
  a.price = price;
  a.due = DueAt(now_, f.eff, markets_.at(o.market).grace_bps, o.deadline);
  a.assigned_at = now_;
  assignments_[id] = a;
  --f.capacity_left;
  Event& e = Emit(kind);
  e.order = order;
  e.offer = offer;
  e.assignment = id;
  e.account = f.prover;
  e.market = o.market;
  e.amount = price;
  e.value = a.due;
}

int64_t ReferenceEngine::Weight(OfferId offer) const {
  const Off& f = offers_.at(offer);
  const MarketParams& m = markets_.at(f.market);
  const Acct& a = accounts_.at(f.prover);
  return VrfWeight(a.staked, a.reputation, m.vrf_turns ? 0 : m.reputation_weight_bps);
}

void ReferenceEngine::Candidate(OrderId order, OfferId offer, int64_t weight) {
  const Off& f = offers_.at(offer);
  Event& e = Emit(EventKind::kVrfCandidate);
  e.order = order;
  e.offer = offer;
  e.account = f.prover;
  e.market = f.market;
  e.value = weight;
  e.amount = orders_.at(order).vrf_draws;
}

uint64_t ReferenceEngine::Draw(OrderId order) {
  Ord& o = orders_.at(order);
  return draws_->Draw(
      {.market = o.market, .order = order, .placed_at = o.placed_at, .attempt = o.vrf_draws++});
}

int32_t ReferenceEngine::MatchOrder(OrderId order, EventKind kind) {
  int32_t n = 0;
  if (orders_.at(order).selection == Selection::kVrf) {
    const size_t limit =
        static_cast<size_t>(markets_.at(orders_.at(order).market).vrf_turns ? kMaxVrfTurnsCandidates
                                                                            : kMaxVrfCandidates);
    std::vector<OfferId> ranked = RankedEligibleOffers(order, false);
    std::vector<OfferId> cand;
    for (OfferId id : ranked) {
      bool dup = false;
      for (OfferId c : cand) dup = dup || offers_.at(c).prover == offers_.at(id).prover;
      if (!dup) cand.push_back(id);
      if (cand.size() == limit) break;
    }
    if (cand.empty()) return 0;
    std::vector<int64_t> weights;
    for (OfferId c : cand) {
      weights.push_back(Weight(c));
      Candidate(order, c, weights.back());
    }
    while (Needed(order) > 0 && !cand.empty()) {
      size_t i = WeightedPick(Draw(order), weights);
      OfferId pick = cand[i];
      cand.erase(cand.begin() + static_cast<ptrdiff_t>(i));
      weights.erase(weights.begin() + static_cast<ptrdiff_t>(i));
      Assign(order, pick, offers_.at(pick).price, kind);
      ++n;
    }
    return n;
  }
  while (Needed(order) > 0) {
    std::vector<OfferId> ranked = RankedEligibleOffers(order, true);
    if (ranked.empty()) break;
    Assign(order, ranked[0], offers_.at(ranked[0]).price, kind);
    ++n;
  }
  return n;
}

void ReferenceEngine::OfferTakesOrders(OfferId offer) {
  for (;;) {
    const Off& f = offers_.at(offer);
    if (f.capacity_left <= 0) return;
    if (f.expires_at != 0 && now_ > f.expires_at) return;
    std::vector<OrderId> cands;
    for (const auto& [id, o] : orders_) {
      if (o.status == OrderStatus::kOpen && Needed(id) > 0 && Eligible(id, offer)) {
        cands.push_back(id);
      }
    }
    if (cands.empty()) return;
    auto key = [&](OrderId id) {
      const Ord& o = orders_.at(id);
      return std::make_tuple(-o.max_price, o.deadline, id);
    };
    OrderId best = *std::min_element(cands.begin(), cands.end(),
                                     [&](OrderId a, OrderId b) { return key(a) < key(b); });
    Ord& o = orders_.at(best);
    if (o.selection == Selection::kVrf) {
      Candidate(best, offer, Weight(offer));
      Draw(best);
    }
    Assign(best, offer, o.max_price, EventKind::kAssigned);
  }
}

void ReferenceEngine::FreeCapacity(OfferId offer) {
  auto it = offers_.find(offer);
  if (it != offers_.end()) ++it->second.capacity_left;
}

void ReferenceEngine::Reputation(AccountId account, int32_t delta) {
  Acct& a = accounts_.at(account);
  int32_t updated = ClampReputation(static_cast<int64_t>(a.reputation) + delta);
  if (updated == a.reputation) return;
  a.reputation = updated;
  Event& e = Emit(EventKind::kReputationChanged);
  e.account = account;
  e.value = updated;
}

void ReferenceEngine::PullOffers(AccountId account, Reason reason) {
  std::vector<OfferId> pull;
  for (const auto& [id, f] : offers_) {
    if (f.prover == account && markets_.at(f.market).min_stake > accounts_.at(account).staked) {
      pull.push_back(id);
    }
  }
  for (OfferId id : pull) {
    Event& e = Emit(EventKind::kOfferCancelled);
    e.offer = id;
    e.account = account;
    e.market = offers_.at(id).market;
    e.reason = reason;
    offers_.erase(id);
  }
}

void ReferenceEngine::Slash(AssignmentId id, Reason reason) {
  const Asg& a = assignments_.at(id);
  const MarketParams& p = markets_.at(a.market);
  Acct& pr = accounts_.at(a.prover);
  const bool repeat = p.repeat_window_ms > 0 && pr.last_slashed_at > 0 &&
                      now_ - pr.last_slashed_at <= p.repeat_window_ms;
  Amount amount = SlashAmount(pr.staked, a.price, p.min_slash, p.slash_multiplier_bps, repeat);
  pr.last_slashed_at = now_;
  Amount comp = BpsOf(amount, p.compensation_bps);
  Event& e = EmitFor(EventKind::kSlashed, id);
  e.amount = amount;
  e.reason = reason;
  e.value = repeat ? 1 : 0;
  AccountId seq = orders_.at(a.order).sequencer;
  Move(a.prover, Bucket::kStaked, seq, Bucket::kAvailable, comp, TransferReason::kSlashCompensation,
       a.order, id);
  Move(a.prover, Bucket::kStaked, kTreasuryAccountId, Bucket::kAvailable, amount - comp,
       TransferReason::kSlashTreasury, a.order, id);
}

void ReferenceEngine::Expire(OrderId order) {
  Ord& o = orders_.at(order);
  o.status = OrderStatus::kExpired;
  Event& e = Emit(EventKind::kOrderExpired);
  e.order = order;
  e.account = o.sequencer;
  e.market = o.market;
  SettleEscrow(order);
}

void ReferenceEngine::SettleEscrow(OrderId order) {
  Ord& o = orders_.at(order);
  if (o.status == OrderStatus::kOpen) return;
  Amount excess = o.escrow_left - o.max_price * Live(order);
  if (excess <= 0) return;
  o.escrow_left -= excess;
  Move(o.sequencer, Bucket::kEscrowed, o.sequencer, Bucket::kAvailable, excess,
       o.status == OrderStatus::kCompleted ? TransferReason::kRelease : TransferReason::kRefund,
       order);
}

void ReferenceEngine::Fail(AssignmentId id, Reason reason) {
  Asg& a = assignments_.at(id);
  a.status =
      reason == Reason::kMissedDeadline ? AssignmentStatus::kLate : AssignmentStatus::kInvalid;
  OrderId order = a.order;
  AccountId prover = a.prover;
  MarketId market = a.market;
  OfferId offer = a.offer;
  Slash(id, reason);
  Reputation(prover, -kReputationLossOnSlash);
  if (accounts_.at(prover).staked < markets_.at(market).min_stake) {
    Event& e = Emit(EventKind::kJailed);
    e.account = prover;
    e.market = market;
    e.value = accounts_.at(prover).staked;
    PullOffers(prover, Reason::kJailed);
  }
  FreeCapacity(offer);
  if (orders_.at(order).status == OrderStatus::kOpen) {
    if (MatchOrder(order, EventKind::kReassigned) == 0) Expire(order);
  } else {
    SettleEscrow(order);
  }
  if (offers_.count(offer)) OfferTakesOrders(offer);
}

void ReferenceEngine::Settle(AssignmentId id) {
  Asg& a = assignments_.at(id);
  a.status = AssignmentStatus::kSettled;
  Ord& o = orders_.at(a.order);
  ++o.verified;
  o.escrow_left -= a.price;
  Amount fee = BpsOf(a.price, markets_.at(a.market).fee_bps);
  Event& e = EmitFor(EventKind::kSettled, id);
  e.amount = a.price;
  Move(o.sequencer, Bucket::kEscrowed, a.prover, Bucket::kAvailable, a.price - fee,
       TransferReason::kPayment, a.order, id);
  Move(o.sequencer, Bucket::kEscrowed, kTreasuryAccountId, Bucket::kAvailable, fee,
       TransferReason::kFee, a.order, id);
  Reputation(a.prover, kReputationGainOnSettled);
  FreeCapacity(a.offer);
  if (o.status == OrderStatus::kOpen && o.verified == o.redundancy) {
    o.status = OrderStatus::kCompleted;
    Event& done = Emit(EventKind::kOrderCompleted);
    done.order = a.order;
    done.account = o.sequencer;
    done.market = o.market;
  }
  SettleEscrow(a.order);
  if (offers_.count(a.offer)) OfferTakesOrders(a.offer);
}

void ReferenceEngine::Uncle(AssignmentId id) {
  Asg& a = assignments_.at(id);
  a.status = AssignmentStatus::kUncled;
  Amount reward = std::min(BpsOf(a.price, markets_.at(a.market).uncle_reward_bps),
                           accounts_.at(kTreasuryAccountId).available);
  Event& e = EmitFor(EventKind::kUncleRewarded, id);
  e.amount = reward;
  Move(kTreasuryAccountId, Bucket::kAvailable, a.prover, Bucket::kAvailable, reward,
       TransferReason::kUncleReward, a.order, id);
}

bool ReferenceEngine::HasDeliveredProof(OrderId order) const {
  for (const auto& [id, a] : assignments_) {
    if (a.order == order && (a.status == AssignmentStatus::kDelivered ||
                             a.status == AssignmentStatus::kLateDelivered)) {
      return true;
    }
  }
  return false;
}

int32_t ReferenceEngine::UnprovableVotes(OrderId order) const {
  int32_t n = 0;
  for (const auto& [id, a] : assignments_) {
    if (a.order == order && a.status == AssignmentStatus::kDeclinedUnprovable) ++n;
  }
  return n;
}

void ReferenceEngine::Release(AssignmentId id, Reason reason, std::vector<OfferId>& freed) {
  Asg& a = assignments_.at(id);
  Ord& o = orders_.at(a.order);
  a.status = AssignmentStatus::kReleased;
  Event& e = EmitFor(EventKind::kReleased, id);
  e.reason = reason;
  if (reason == Reason::kBadInputs) {
    Amount comp = BpsOf(a.price, markets_.at(a.market).griefing_bps);
    o.escrow_left -= comp;
    Move(o.sequencer, Bucket::kEscrowed, a.prover, Bucket::kAvailable, comp,
         TransferReason::kGriefingCompensation, a.order, id);
  }
  FreeCapacity(a.offer);
  freed.push_back(a.offer);
}

void ReferenceEngine::ReleaseLate(AssignmentId id, Reason reason) {
  Asg& a = assignments_.at(id);
  a.status = AssignmentStatus::kReleased;
  Event& e = EmitFor(EventKind::kReleased, id);
  e.reason = reason;
}

void ReferenceEngine::FailOrder(OrderId order, Reason reason, std::vector<OfferId>& freed) {
  Ord& o = orders_.at(order);
  o.status = OrderStatus::kFailed;
  Event& e = Emit(EventKind::kOrderFailed);
  e.order = order;
  e.account = o.sequencer;
  e.market = o.market;
  e.reason = reason;
  for (auto& [id, a] : assignments_) {
    if (a.order != order) continue;
    if (IsLive(a.status)) {
      Release(id, reason, freed);
    } else if (a.status == AssignmentStatus::kLateDelivered) {
      ReleaseLate(id, reason);
    } else if (a.status == AssignmentStatus::kLate) {
      a.status = AssignmentStatus::kLapsed;
      Event& l = Emit(EventKind::kAssignmentLapsed);
      l.assignment = id;
      l.order = order;
      l.account = a.prover;
      l.market = a.market;
    }
  }
  int32_t votes = UnprovableVotes(order);
  if (reason == Reason::kUnprovable && votes > 0) {
    Amount fee =
        std::min(o.escrow_left, BpsOf(o.max_price, markets_.at(o.market).unprovable_fee_bps));
    Amount share = fee / votes;
    for (const auto& [id, a] : assignments_) {
      if (share <= 0) break;
      if (a.order != order || a.status != AssignmentStatus::kDeclinedUnprovable) continue;
      o.escrow_left -= share;
      Move(o.sequencer, Bucket::kEscrowed, a.prover, Bucket::kAvailable, share,
           TransferReason::kUnprovableFee, order, id);
    }
  }
  SettleEscrow(order);
}

void ReferenceEngine::RematchOrRest(OrderId order, int32_t needed_before) {
  if (orders_.at(order).status != OrderStatus::kOpen) return SettleEscrow(order);
  MatchOrder(order, EventKind::kReassigned);
  if (Needed(order) == 0 || needed_before > 0) return;
  const Ord& o = orders_.at(order);
  Event& e = Emit(EventKind::kOrderRested);
  e.order = order;
  e.account = o.sequencer;
  e.market = o.market;
  e.value = Needed(order);
}

void ReferenceEngine::DrainFreed(const std::vector<OfferId>& freed) {
  for (OfferId f : freed) {
    if (offers_.count(f)) OfferTakesOrders(f);
  }
}

void ReferenceEngine::ForgetDone() {
  std::vector<OrderId> done;
  for (const auto& [id, o] : orders_) {
    if (o.status == OrderStatus::kOpen) continue;
    bool pending = false;
    for (const auto& [aid, a] : assignments_) {
      if (a.order == id && (IsLive(a.status) || IsPendingLate(a.status))) pending = true;
    }
    if (!pending) done.push_back(id);
  }
  for (OrderId id : done) {
    orders_.erase(id);
    std::erase_if(assignments_, [id](const auto& kv) { return kv.second.order == id; });
  }
}

void ReferenceEngine::Tick(Timestamp outage_since) {
  if (outage_since > 0) {
    // Due times in (outage_since, now), earliest first (ties by id, as the engine's timers).
    std::vector<std::pair<Timestamp, AssignmentId>> hit;
    for (const auto& [id, a] : assignments_) {
      if (a.status == AssignmentStatus::kAssigned && a.due > outage_since && a.due < now_) {
        hit.emplace_back(a.due, id);
      }
    }
    std::sort(hit.begin(), hit.end());
    for (const auto& [old_due, id] : hit) {
      Asg& a = assignments_.at(id);
      const Timestamp due = std::min(orders_.at(a.order).deadline,
                                     old_due + (now_ - std::max(outage_since, a.assigned_at)));
      if (due < now_) continue;
      a.due = due;
      Event& e = EmitFor(EventKind::kDueExtended, id);
      e.value = due;
    }
  }
  for (;;) {
    // The earliest passed (time, kind, id) among everything that can fire.
    std::tuple<Timestamp, int, int64_t> best{std::numeric_limits<Timestamp>::max(), 0, 0};
    bool any = false;
    auto consider = [&](Timestamp t, int kind, int64_t id) {
      if (t >= now_) return;
      auto k = std::make_tuple(t, kind, id);
      if (!any || k < best) best = k;
      any = true;
    };
    for (const auto& [id, a] : assignments_) {
      if (a.status == AssignmentStatus::kAssigned) consider(a.due, 0, id);
    }
    for (const auto& [id, f] : offers_) {
      if (f.expires_at != 0) consider(f.expires_at, 1, id);
    }
    for (const auto& [id, o] : orders_) {
      if (o.selection == Selection::kDirect && !o.exclusive_ended) {
        consider(o.exclusive_until, 2, id);
      }
      if (!o.deadline_done) consider(o.deadline, 3, id);
    }
    if (!any) return;
    auto [t, kind, id] = best;
    if (kind == 0) {
      Fail(id, Reason::kMissedDeadline);
    } else if (kind == 1) {
      const Off& f = offers_.at(id);
      Event& e = Emit(EventKind::kOfferExpired);
      e.offer = id;
      e.account = f.prover;
      e.market = f.market;
      offers_.erase(id);
    } else if (kind == 2) {
      Ord& o = orders_.at(id);
      o.exclusive_ended = true;
      Event& e = Emit(EventKind::kExclusiveEnded);
      e.order = id;
      e.account = o.sequencer;
      e.market = o.market;
      if (o.status == OrderStatus::kOpen && Needed(id) > 0) MatchOrder(id, EventKind::kAssigned);
    } else {
      orders_.at(id).deadline_done = true;
      if (orders_.at(id).status == OrderStatus::kOpen) Expire(id);
      for (auto& [aid, a] : assignments_) {
        if (a.order != id || a.status != AssignmentStatus::kLate) continue;
        a.status = AssignmentStatus::kLapsed;
        Event& e = Emit(EventKind::kAssignmentLapsed);
        e.assignment = aid;
        e.order = id;
        e.account = a.prover;
        e.market = a.market;
      }
    }
    ForgetDone();
  }
}

std::vector<Event> ReferenceEngine::Apply(const Command& command) {
  out_.clear();
  ref_ = command.ref;
  now_ = command.now;
  command_ = command.kind();
  subject_ = Event{};
  constexpr Amount kMax = std::numeric_limits<Amount>::max();
  auto account_role = [this](AccountId id) -> const Acct* {
    auto it = accounts_.find(id);
    return it == accounts_.end() ? nullptr : &it->second;
  };

  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, CreateAccount>) {
          subject_.account = c.account;
          if (c.account <= 0) return Reject(Reason::kInvalidArgument, "account");
          if (c.role == Role::kTreasury) return Reject(Reason::kInvalidArgument, "role");
          if (accounts_.count(c.account)) return Reject(Reason::kAlreadyExists, "account");
          accounts_[c.account].role = c.role;
          Accept();
        } else if constexpr (std::is_same_v<T, Deposit>) {
          subject_.account = c.account;
          if (c.amount <= 0) return Reject(Reason::kInvalidArgument, "amount");
          if (!account_role(c.account)) return Reject(Reason::kUnknownAccount, "account");
          if (external_net_ > kMax - c.amount) return Reject(Reason::kOverflow, "amount");
          Accept();
          Move(c.account, Bucket::kExternal, c.account, Bucket::kAvailable, c.amount,
               TransferReason::kDeposit);
        } else if constexpr (std::is_same_v<T, Withdraw>) {
          subject_.account = c.account;
          if (c.amount <= 0) return Reject(Reason::kInvalidArgument, "amount");
          const Acct* a = account_role(c.account);
          if (!a) return Reject(Reason::kUnknownAccount, "account");
          if (a->available < c.amount) return Reject(Reason::kInsufficientBalance, "amount");
          Accept();
          Move(c.account, Bucket::kAvailable, c.account, Bucket::kExternal, c.amount,
               TransferReason::kWithdrawal);
        } else if constexpr (std::is_same_v<T, Stake>) {
          subject_.account = c.account;
          if (c.amount <= 0) return Reject(Reason::kInvalidArgument, "amount");
          const Acct* a = account_role(c.account);
          if (!a) return Reject(Reason::kUnknownAccount, "account");
          if (a->role != Role::kProver) return Reject(Reason::kWrongRole, "account");
          if (a->available < c.amount) return Reject(Reason::kInsufficientBalance, "amount");
          Accept();
          Move(c.account, Bucket::kAvailable, c.account, Bucket::kStaked, c.amount,
               TransferReason::kStake);
        } else if constexpr (std::is_same_v<T, Unstake>) {
          subject_.account = c.account;
          if (c.amount <= 0) return Reject(Reason::kInvalidArgument, "amount");
          const Acct* a = account_role(c.account);
          if (!a) return Reject(Reason::kUnknownAccount, "account");
          if (a->role != Role::kProver) return Reject(Reason::kWrongRole, "account");
          if (a->staked < c.amount) return Reject(Reason::kInsufficientStake, "amount");
          Amount locked = 0;
          for (const auto& [id, x] : assignments_) {
            if (x.prover == c.account && IsLive(x.status)) {
              locked = std::max(locked, markets_.at(x.market).min_stake);
            }
          }
          if (a->staked - c.amount < locked) return Reject(Reason::kStakeLocked, "amount");
          Accept();
          Move(c.account, Bucket::kStaked, c.account, Bucket::kAvailable, c.amount,
               TransferReason::kUnstake);
          PullOffers(c.account, Reason::kInsufficientStake);
        } else if constexpr (std::is_same_v<T, CreateMarket>) {
          subject_.market = c.market;
          if (c.market >= kMaxMarkets) return Reject(Reason::kInvalidArgument, "market");
          std::string_view bad = InvalidMarketParamField(c.params);
          if (!bad.empty()) return Reject(Reason::kInvalidArgument, bad);
          if (markets_.count(c.market)) return Reject(Reason::kAlreadyExists, "market");
          markets_[c.market] = c.params;
          Accept();
        } else if constexpr (std::is_same_v<T, PlaceOrder>) {
          subject_.account = c.account;
          subject_.market = c.market;
          if (c.max_price <= 0) return Reject(Reason::kInvalidArgument, "max_price");
          if (c.redundancy < 1 || c.redundancy > kMaxRedundancy) {
            return Reject(Reason::kInvalidArgument, "redundancy");
          }
          if (c.min_reputation < 0 || c.min_reputation > kMaxReputation) {
            return Reject(Reason::kInvalidArgument, "min_reputation");
          }
          if (c.deadline > now_ + kMaxDurationMs) {
            return Reject(Reason::kInvalidArgument, "deadline");
          }
          if (c.selection == Selection::kDirect &&
              (c.exclusive_ms <= 0 || c.exclusive_ms > kMaxDurationMs)) {
            return Reject(Reason::kInvalidArgument, "exclusive_ms");
          }
          const Acct* a = account_role(c.account);
          if (!a) return Reject(Reason::kUnknownAccount, "account");
          if (a->role != Role::kSequencer) return Reject(Reason::kWrongRole, "account");
          if (!markets_.count(c.market)) return Reject(Reason::kUnknownMarket, "market");
          if (c.selection == Selection::kDirect) {
            const Acct* p = account_role(c.direct_prover);
            if (!p) return Reject(Reason::kUnknownAccount, "direct_prover");
            if (p->role != Role::kProver) return Reject(Reason::kWrongRole, "direct_prover");
          }
          if (c.selection == Selection::kVrf && (!draws_ || !draws_->Serves(c.market))) {
            return Reject(Reason::kVrfUnavailable, "selection");
          }
          if (c.deadline < now_ + markets_.at(c.market).min_prover_time_ms) {
            return Reject(Reason::kDeadlineTooSoon, "deadline");
          }
          if (c.max_price > kMax / c.redundancy) return Reject(Reason::kOverflow, "max_price");
          Amount escrow = c.max_price * c.redundancy;
          if (a->available < escrow) return Reject(Reason::kInsufficientBalance, "max_price");
          OrderId id = next_order_++;
          Ord o;
          o.sequencer = c.account;
          o.market = c.market;
          o.max_price = c.max_price;
          o.deadline = c.deadline;
          o.priority = c.priority;
          o.min_reputation = c.min_reputation;
          o.redundancy = c.redundancy;
          o.selection = c.selection;
          if (c.selection == Selection::kDirect) {
            o.direct_prover = c.direct_prover;
            o.exclusive_until = now_ + c.exclusive_ms;
          }
          o.placed_at = now_;
          o.escrow_left = escrow;
          orders_[id] = o;
          subject_.order = id;
          Accept();
          Move(c.account, Bucket::kAvailable, c.account, Bucket::kEscrowed, escrow,
               TransferReason::kEscrow, id);
          MatchOrder(id, EventKind::kAssigned);
          if (Needed(id) > 0) {
            Event& e = Emit(EventKind::kOrderRested);
            e.order = id;
            e.account = c.account;
            e.market = c.market;
            e.value = Needed(id);
          }
        } else if constexpr (std::is_same_v<T, CancelOrder>) {
          subject_.account = c.account;
          subject_.order = c.order;
          auto it = orders_.find(c.order);
          if (it == orders_.end() || it->second.status != OrderStatus::kOpen) {
            return Reject(Reason::kNotFound, "order");
          }
          subject_.market = it->second.market;
          if (it->second.sequencer != c.account) return Reject(Reason::kNotOwner, "account");
          if (Live(c.order) > 0) return Reject(Reason::kConflict, "order");
          Accept();
          it->second.status = OrderStatus::kCancelled;
          Event& e = Emit(EventKind::kOrderCancelled);
          e.order = c.order;
          e.account = c.account;
          e.market = it->second.market;
          SettleEscrow(c.order);
          ForgetDone();
        } else if constexpr (std::is_same_v<T, PlaceOffer>) {
          subject_.account = c.account;
          subject_.market = c.market;
          if (c.price <= 0) return Reject(Reason::kInvalidArgument, "price");
          if (c.est_ms < 0 || c.est_ms > kMaxDurationMs) {
            return Reject(Reason::kInvalidArgument, "est_ms");
          }
          if (c.capacity < 1 || c.capacity > kMaxCapacity) {
            return Reject(Reason::kInvalidArgument, "capacity");
          }
          if (c.expires_at != 0 && c.expires_at <= now_) {
            return Reject(Reason::kInvalidArgument, "expires_at");
          }
          const Acct* a = account_role(c.account);
          if (!a) return Reject(Reason::kUnknownAccount, "account");
          if (a->role != Role::kProver) return Reject(Reason::kWrongRole, "account");
          if (!markets_.count(c.market)) return Reject(Reason::kUnknownMarket, "market");
          const MarketParams& p = markets_.at(c.market);
          if (a->staked < p.min_stake) return Reject(Reason::kInsufficientStake, "account");
          OfferId id = next_offer_++;
          Off f;
          f.prover = c.account;
          f.market = c.market;
          f.price = c.price;
          f.eff = EffectiveMs(c.est_ms, p.min_prover_time_ms);
          f.capacity = c.capacity;
          f.capacity_left = c.capacity;
          f.expires_at = c.expires_at;
          offers_[id] = f;
          subject_.offer = id;
          Accept();
          OfferTakesOrders(id);
          Event& e = Emit(EventKind::kOfferRested);
          e.offer = id;
          e.account = c.account;
          e.market = c.market;
          e.amount = c.price;
          e.value = offers_.at(id).capacity_left;
        } else if constexpr (std::is_same_v<T, CancelOffer>) {
          subject_.account = c.account;
          subject_.offer = c.offer;
          auto it = offers_.find(c.offer);
          if (it == offers_.end()) return Reject(Reason::kNotFound, "offer");
          subject_.market = it->second.market;
          if (it->second.prover != c.account) return Reject(Reason::kNotOwner, "account");
          Accept();
          Event& e = Emit(EventKind::kOfferCancelled);
          e.offer = c.offer;
          e.account = c.account;
          e.market = it->second.market;
          e.reason = Reason::kCancelledByOwner;
          offers_.erase(it);
        } else if constexpr (std::is_same_v<T, ProofDelivered>) {
          subject_.account = c.account;
          subject_.assignment = c.assignment;
          if (c.proof_bytes <= 0) return Reject(Reason::kInvalidArgument, "proof_bytes");
          auto it = assignments_.find(c.assignment);
          if (it == assignments_.end()) return Reject(Reason::kNotFound, "assignment");
          Asg& a = it->second;
          subject_.order = a.order;
          subject_.market = a.market;
          if (a.prover != c.account) return Reject(Reason::kNotOwner, "account");
          if (c.proof_bytes > markets_.at(a.market).max_proof_bytes) {
            return Reject(Reason::kProofTooLarge, "proof_bytes");
          }
          if (a.status != AssignmentStatus::kAssigned && a.status != AssignmentStatus::kLate) {
            return Reject(Reason::kConflict, "assignment");
          }
          const Timestamp at = c.received_at > 0 ? std::min(c.received_at, now_) : now_;
          if (at > orders_.at(a.order).deadline) {
            return Reject(Reason::kDeadlinePassed, "assignment");
          }
          Accept();
          if (a.status == AssignmentStatus::kAssigned && at > a.due) {
            Fail(c.assignment, Reason::kMissedDeadline);
          }
          Asg& d = assignments_.at(c.assignment);
          bool late = d.status == AssignmentStatus::kLate;
          d.status = late ? AssignmentStatus::kLateDelivered : AssignmentStatus::kDelivered;
          Event& e = Emit(EventKind::kProofDelivered);
          e.assignment = c.assignment;
          e.order = d.order;
          e.account = d.prover;
          e.market = d.market;
          e.value = late ? 1 : 0;
          ForgetDone();
        } else if constexpr (std::is_same_v<T, ProofVerified> || std::is_same_v<T, ProofRejected> ||
                             std::is_same_v<T, InputsRejected> ||
                             std::is_same_v<T, VerificationFailed>) {
          // Every verdict is about a delivered (on time or late) assignment.
          subject_.assignment = c.assignment;
          auto it = assignments_.find(c.assignment);
          if (it == assignments_.end()) return Reject(Reason::kNotFound, "assignment");
          Asg& a = it->second;
          subject_.account = a.prover;
          subject_.order = a.order;
          subject_.market = a.market;
          if (a.status != AssignmentStatus::kDelivered &&
              a.status != AssignmentStatus::kLateDelivered) {
            return Reject(Reason::kConflict, "assignment");
          }
          Accept();
          const bool on_time = a.status == AssignmentStatus::kDelivered;
          if constexpr (std::is_same_v<T, ProofVerified>) {
            if (on_time) {
              Settle(c.assignment);
            } else {
              Uncle(c.assignment);
            }
          } else if constexpr (std::is_same_v<T, ProofRejected>) {
            Event& e = Emit(EventKind::kProofRejected);
            e.assignment = c.assignment;
            e.order = a.order;
            e.account = a.prover;
            e.market = a.market;
            if (on_time) {
              Fail(c.assignment, Reason::kInvalidProof);
            } else {
              a.status = AssignmentStatus::kInvalid;
            }
          } else {
            constexpr bool kBad = std::is_same_v<T, InputsRejected>;
            const Reason why = kBad ? Reason::kBadInputs : Reason::kVerifierFailed;
            OrderId order = a.order;
            std::vector<OfferId> freed;
            int32_t needed_before = Needed(order);
            if (!on_time) {
              ReleaseLate(c.assignment, why);
            } else {
              Release(c.assignment, why, freed);
              if (!kBad) RematchOrRest(order, needed_before);
            }
            if (kBad) {
              if (orders_.at(order).status == OrderStatus::kOpen) {
                FailOrder(order, why, freed);
              } else {
                SettleEscrow(order);
              }
            }
            DrainFreed(freed);
          }
          ForgetDone();
        } else if constexpr (std::is_same_v<T, DeclineAssignment>) {
          subject_.account = c.account;
          subject_.assignment = c.assignment;
          if (c.reason != Reason::kBusy && c.reason != Reason::kUnprovable) {
            return Reject(Reason::kInvalidArgument, "reason");
          }
          auto it = assignments_.find(c.assignment);
          if (it == assignments_.end()) return Reject(Reason::kNotFound, "assignment");
          Asg& a = it->second;
          subject_.order = a.order;
          subject_.market = a.market;
          if (a.prover != c.account) return Reject(Reason::kNotOwner, "account");
          if (a.status != AssignmentStatus::kAssigned) {
            return Reject(Reason::kConflict, "assignment");
          }
          if (now_ > a.due) return Reject(Reason::kDeadlinePassed, "assignment");
          const MarketParams& p = markets_.at(a.market);
          const bool busy = c.reason == Reason::kBusy;
          if (busy && now_ - a.assigned_at > p.decline_window_ms) {
            return Reject(Reason::kDeclineWindowPassed, "reason");
          }
          Accept();
          OrderId order = a.order;
          int32_t needed_before = Needed(order);
          a.status = busy ? AssignmentStatus::kDeclinedBusy : AssignmentStatus::kDeclinedUnprovable;
          int32_t votes = UnprovableVotes(order);
          Event& e = Emit(EventKind::kDeclined);
          e.assignment = c.assignment;
          e.order = order;
          e.account = a.prover;
          e.market = a.market;
          e.reason = c.reason;
          e.value = votes;
          std::vector<OfferId> freed;
          if (busy) {
            auto f = offers_.find(a.offer);
            if (f != offers_.end() && --f->second.capacity == 0) {
              Event& x = Emit(EventKind::kOfferCancelled);
              x.offer = a.offer;
              x.account = f->second.prover;
              x.market = f->second.market;
              x.reason = Reason::kBusy;
              offers_.erase(f);
            }
            Reputation(a.prover, -kReputationLossOnBusyDecline);
          } else {
            FreeCapacity(a.offer);
            freed.push_back(a.offer);
          }
          if (orders_.at(order).status != OrderStatus::kOpen) {
            SettleEscrow(order);
          } else if (!busy && votes >= p.unprovable_quorum && orders_.at(order).verified == 0 &&
                     !HasDeliveredProof(order)) {
            FailOrder(order, Reason::kUnprovable, freed);
          } else {
            RematchOrRest(order, needed_before);
          }
          DrainFreed(freed);
          ForgetDone();
        } else if constexpr (std::is_same_v<T, matching::Tick>) {
          Tick(c.outage_since);
        } else {
          // Proof trees are not modelled here: the property test checks them by their own
          // invariants (engine_tree_test.cc).
          Reject(Reason::kInvalidArgument, "leaves");
        }
      },
      command.body);
  return out_;
}

}  // namespace proofbook::matching
