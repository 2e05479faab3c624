#include "matching/engine.h"

#include <algorithm>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>

#include "matching/rules.h"
#include "matching/tree_shape.h"

namespace proofbook::matching {
namespace {

constexpr Amount kMaxAmount = std::numeric_limits<Amount>::max();

bool IsLive(AssignmentStatus s) {
  return s == AssignmentStatus::kAssigned || s == AssignmentStatus::kDelivered;
}
bool IsPendingLate(AssignmentStatus s) {
  return s == AssignmentStatus::kLate || s == AssignmentStatus::kLateDelivered;
}

Status Inconsistent(std::string message) {
  return Status(StatusCode::kInternal, std::move(message)).WithReason("inconsistent_state");
}
Status BadRestore(std::string message, std::string field = {}) {
  return Status(StatusCode::kInvalidArgument, std::move(message), std::move(field));
}

}  // namespace

Engine::Engine(EngineOptions options)
    : account_ids_(options.accounts),
      order_ids_(options.orders),
      offer_ids_(options.offers),
      assignment_ids_(options.assignments),
      draws_(options.draws),
      receipts_(options.receipts) {
  accounts_.Reserve(options.accounts);
  orders_.Reserve(options.orders);
  offers_.Reserve(options.offers);
  assignments_.Reserve(options.assignments);
  timers_.Reserve(options.orders * 2 + options.assignments);
  events_.reserve(options.events);
  candidates_.reserve(kMaxVrfTurnsCandidates);
  freed_offers_.reserve(kMaxRedundancy);
  weights_.reserve(kMaxVrfTurnsCandidates);
  treasury_ = accounts_.Allocate();
  accounts_[treasury_].id = kTreasuryAccountId;
  accounts_[treasury_].role = Role::kTreasury;
  account_ids_.Insert(kTreasuryAccountId, treasury_);
}

// ---- Dispatch and events -----------------------------------------------------------------

std::span<const Event> Engine::Apply(const Command& command) {
  events_.clear();
  ref_ = command.ref;
  now_ = command.now;
  command_ = command.kind();
  subject_ = Event{};
  std::visit(
      [this](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, CreateAccount>)
          DoCreateAccount(body);
        else if constexpr (std::is_same_v<T, Deposit>)
          DoDeposit(body);
        else if constexpr (std::is_same_v<T, Withdraw>)
          DoWithdraw(body);
        else if constexpr (std::is_same_v<T, Stake>)
          DoStake(body);
        else if constexpr (std::is_same_v<T, Unstake>)
          DoUnstake(body);
        else if constexpr (std::is_same_v<T, CreateMarket>)
          DoCreateMarket(body);
        else if constexpr (std::is_same_v<T, PlaceOrder>)
          DoPlaceOrder(body);
        else if constexpr (std::is_same_v<T, CancelOrder>)
          DoCancelOrder(body);
        else if constexpr (std::is_same_v<T, PlaceOffer>)
          DoPlaceOffer(body);
        else if constexpr (std::is_same_v<T, CancelOffer>)
          DoCancelOffer(body);
        else if constexpr (std::is_same_v<T, ProofDelivered>)
          DoProofDelivered(body);
        else if constexpr (std::is_same_v<T, ProofVerified>)
          DoProofVerified(body);
        else if constexpr (std::is_same_v<T, ProofRejected>)
          DoProofRejected(body);
        else if constexpr (std::is_same_v<T, Tick>)
          DoTick(body);
        else if constexpr (std::is_same_v<T, InputsRejected>)
          DoInputsRejected(body);
        else if constexpr (std::is_same_v<T, VerificationFailed>)
          DoVerificationFailed(body);
        else if constexpr (std::is_same_v<T, DeclineAssignment>)
          DoDeclineAssignment(body);
        else
          DoPlaceTree(body);
      },
      command.body);
  return events_;
}

Event& Engine::Emit(EventKind kind) {
  Event& e = events_.emplace_back();
  e.kind = kind;
  e.command = command_;
  e.ref = ref_;
  e.now = now_;
  return e;
}

Event& Engine::EmitFor(EventKind kind, const AssignmentRecord& a) {
  Event& e = Emit(kind);
  e.assignment = a.id;
  e.order = a.order_id;
  e.account = a.prover;
  e.market = a.market;
  return e;
}

void Engine::Accept() {
  Event& e = Emit(EventKind::kAccepted);
  e.account = subject_.account;
  e.market = subject_.market;
  e.order = subject_.order;
  e.offer = subject_.offer;
  e.assignment = subject_.assignment;
  e.tree = subject_.tree;
}

void Engine::Reject(Reason reason, std::string_view field) {
  Accept();
  Event& e = events_.back();
  e.kind = EventKind::kRejected;
  e.reason = reason;
  e.field = field;
}

Amount& Engine::Balance(uint32_t account, Bucket bucket) {
  AccountRecord& a = accounts_[account];
  switch (bucket) {
    case Bucket::kAvailable:
      return a.available;
    case Bucket::kEscrowed:
      return a.escrowed;
    case Bucket::kStaked:
      return a.staked;
    case Bucket::kExternal:
      break;
  }
  return external_net_;  // unreachable: callers handle kExternal
}

void Engine::Transfer(uint32_t from, Bucket from_bucket, uint32_t to, Bucket to_bucket,
                      Amount amount, TransferReason reason, OrderId order,
                      AssignmentId assignment) {
  if (amount <= 0) return;  // zero transfers are never emitted
  if (from_bucket == Bucket::kExternal) {
    external_net_ += amount;
  } else {
    Balance(from, from_bucket) -= amount;
  }
  if (to_bucket == Bucket::kExternal) {
    external_net_ -= amount;
  } else {
    Balance(to, to_bucket) += amount;
  }
  Event& e = Emit(EventKind::kTransfer);
  e.account = accounts_[from].id;
  e.from_bucket = from_bucket;
  e.to_account = accounts_[to].id;
  e.to_bucket = to_bucket;
  e.amount = amount;
  e.transfer_reason = reason;
  e.order = order;
  e.assignment = assignment;
}

const MarketRecord* Engine::Market(MarketId id) const {
  if (id >= markets_.size() || !markets_[id].exists) return nullptr;
  return &markets_[id];
}

// ---- Accounts and money -------------------------------------------------------------------

void Engine::DoCreateAccount(const CreateAccount& c) {
  subject_.account = c.account;
  if (c.account <= 0) return Reject(Reason::kInvalidArgument, "account");
  if (c.role == Role::kTreasury) return Reject(Reason::kInvalidArgument, "role");
  if (AccountHandle(c.account) != kNil) return Reject(Reason::kAlreadyExists, "account");
  uint32_t h = accounts_.Allocate();
  accounts_[h].id = c.account;
  accounts_[h].role = c.role;
  account_ids_.Insert(c.account, h);
  Accept();
}

void Engine::DoDeposit(const Deposit& c) {
  subject_.account = c.account;
  if (c.amount <= 0) return Reject(Reason::kInvalidArgument, "amount");
  uint32_t h = AccountHandle(c.account);
  if (h == kNil) return Reject(Reason::kUnknownAccount, "account");
  // Every balance is bounded by the total deposited, so checking the total suffices.
  if (external_net_ > kMaxAmount - c.amount) return Reject(Reason::kOverflow, "amount");
  Accept();
  Transfer(h, Bucket::kExternal, h, Bucket::kAvailable, c.amount, TransferReason::kDeposit);
}

void Engine::DoWithdraw(const Withdraw& c) {
  subject_.account = c.account;
  if (c.amount <= 0) return Reject(Reason::kInvalidArgument, "amount");
  uint32_t h = AccountHandle(c.account);
  if (h == kNil) return Reject(Reason::kUnknownAccount, "account");
  if (accounts_[h].available < c.amount) return Reject(Reason::kInsufficientBalance, "amount");
  Accept();
  Transfer(h, Bucket::kAvailable, h, Bucket::kExternal, c.amount, TransferReason::kWithdrawal);
}

void Engine::DoStake(const Stake& c) {
  subject_.account = c.account;
  if (c.amount <= 0) return Reject(Reason::kInvalidArgument, "amount");
  uint32_t h = AccountHandle(c.account);
  if (h == kNil) return Reject(Reason::kUnknownAccount, "account");
  if (accounts_[h].role != Role::kProver) return Reject(Reason::kWrongRole, "account");
  if (accounts_[h].available < c.amount) return Reject(Reason::kInsufficientBalance, "amount");
  Accept();
  Transfer(h, Bucket::kAvailable, h, Bucket::kStaked, c.amount, TransferReason::kStake);
}

Amount Engine::LockedStake(uint32_t account) const {
  // Stake backs every market the prover has live work in; one stake serves them all, so the
  // lock is the largest min_stake among them, not the sum.
  Amount locked = 0;
  for (uint32_t h = accounts_[account].live_assignments.head; h != kNil;
       h = assignments_[h].account_link.next) {
    locked = std::max(locked, markets_[assignments_[h].market].params.min_stake);
  }
  return locked;
}

void Engine::DoUnstake(const Unstake& c) {
  subject_.account = c.account;
  if (c.amount <= 0) return Reject(Reason::kInvalidArgument, "amount");
  uint32_t h = AccountHandle(c.account);
  if (h == kNil) return Reject(Reason::kUnknownAccount, "account");
  if (accounts_[h].role != Role::kProver) return Reject(Reason::kWrongRole, "account");
  if (accounts_[h].staked < c.amount) return Reject(Reason::kInsufficientStake, "amount");
  if (accounts_[h].staked - c.amount < LockedStake(h)) {
    return Reject(Reason::kStakeLocked, "amount");
  }
  Accept();
  Transfer(h, Bucket::kStaked, h, Bucket::kAvailable, c.amount, TransferReason::kUnstake);
  PullOffersBelowStake(h, Reason::kInsufficientStake);
}

void Engine::DoCreateMarket(const CreateMarket& c) {
  subject_.market = c.market;
  if (c.market >= kMaxMarkets) return Reject(Reason::kInvalidArgument, "market");
  std::string_view bad = InvalidMarketParamField(c.params);
  if (!bad.empty()) return Reject(Reason::kInvalidArgument, bad);
  if (Market(c.market) != nullptr) return Reject(Reason::kAlreadyExists, "market");
  if (markets_.size() <= c.market) {
    markets_.resize(c.market + 1);
    books_.resize(c.market + 1);
  }
  markets_[c.market].exists = true;
  markets_[c.market].params = c.params;
  books_[c.market] = std::make_unique<OrderBook>(&offers_, &orders_);
  Accept();
}

// ---- Orders -------------------------------------------------------------------------------

void Engine::DoPlaceOrder(const PlaceOrder& c) {
  subject_.account = c.account;
  subject_.market = c.market;
  if (c.max_price <= 0) return Reject(Reason::kInvalidArgument, "max_price");
  if (c.redundancy < 1 || c.redundancy > kMaxRedundancy) {
    return Reject(Reason::kInvalidArgument, "redundancy");
  }
  if (c.min_reputation < kMinReputation || c.min_reputation > kMaxReputation) {
    return Reject(Reason::kInvalidArgument, "min_reputation");
  }
  if (c.deadline > now_ + kMaxDurationMs) return Reject(Reason::kInvalidArgument, "deadline");
  if (c.selection == Selection::kDirect &&
      (c.exclusive_ms <= 0 || c.exclusive_ms > kMaxDurationMs)) {
    return Reject(Reason::kInvalidArgument, "exclusive_ms");
  }
  uint32_t ah = AccountHandle(c.account);
  if (ah == kNil) return Reject(Reason::kUnknownAccount, "account");
  if (accounts_[ah].role != Role::kSequencer) return Reject(Reason::kWrongRole, "account");
  const MarketRecord* market = Market(c.market);
  if (market == nullptr) return Reject(Reason::kUnknownMarket, "market");
  if (c.selection == Selection::kDirect) {
    uint32_t ph = AccountHandle(c.direct_prover);
    if (ph == kNil) return Reject(Reason::kUnknownAccount, "direct_prover");
    if (accounts_[ph].role != Role::kProver) return Reject(Reason::kWrongRole, "direct_prover");
  }
  if (c.selection == Selection::kVrf && (draws_ == nullptr || !draws_->Serves(c.market))) {
    return Reject(Reason::kVrfUnavailable, "selection");
  }
  if (c.deadline < now_ + market->params.min_prover_time_ms) {
    return Reject(Reason::kDeadlineTooSoon, "deadline");
  }
  if (c.max_price > kMaxAmount / c.redundancy) return Reject(Reason::kOverflow, "max_price");
  Amount escrow = c.max_price * c.redundancy;
  if (accounts_[ah].available < escrow) return Reject(Reason::kInsufficientBalance, "max_price");

  const uint32_t oh = NewOrder(c);
  const OrderId id = orders_[oh].id;
  subject_.order = id;
  Accept();
  Transfer(ah, Bucket::kAvailable, ah, Bucket::kEscrowed, escrow, TransferReason::kEscrow, id);
  MatchNewOrder(oh);
}

uint32_t Engine::NewOrder(const PlaceOrder& c) {
  uint32_t oh = orders_.Allocate();
  OrderRecord& o = orders_[oh];
  o.id = next_order_++;
  o.account = AccountHandle(c.account);
  o.sequencer = c.account;
  o.market = c.market;
  o.max_price = c.max_price;
  o.deadline = c.deadline;
  o.placed_at = now_;
  o.priority = c.priority;
  o.min_reputation = c.min_reputation;
  o.redundancy = c.redundancy;
  o.selection = c.selection;
  if (c.selection == Selection::kDirect) {
    o.direct_prover = c.direct_prover;
    o.exclusive_until = now_ + c.exclusive_ms;
  }
  o.escrow_left = c.max_price * c.redundancy;
  o.needed = c.redundancy;
  order_ids_.Insert(o.id, oh);
  timers_.Push({o.deadline, TimerKind::kOrderDeadline, o.id});
  if (o.selection == Selection::kDirect) {
    timers_.Push({o.exclusive_until, TimerKind::kExclusiveEnd, o.id});
  }
  return oh;
}

void Engine::MatchNewOrder(uint32_t oh) {
  MatchOrder(oh, EventKind::kAssigned);
  if (orders_[oh].needed > 0) RestOrder(oh);
}

void Engine::RestOrder(uint32_t oh) {
  AddResting(oh);
  const OrderRecord& r = orders_[oh];
  Event& e = Emit(EventKind::kOrderRested);
  e.order = r.id;
  e.account = r.sequencer;
  e.market = r.market;
  e.value = r.needed;
}

void Engine::DoCancelOrder(const CancelOrder& c) {
  subject_.account = c.account;
  subject_.order = c.order;
  uint32_t oh = order_ids_.Find(c.order);
  if (oh == kNil || orders_[oh].status != OrderStatus::kOpen) {
    return Reject(Reason::kNotFound, "order");
  }
  OrderRecord& o = orders_[oh];
  subject_.market = o.market;
  if (o.sequencer != c.account) return Reject(Reason::kNotOwner, "account");
  if (o.live > 0 || o.tree != 0) return Reject(Reason::kConflict, "order");  // a tree's node
  Accept();
  if (o.resting) RemoveResting(oh);
  o.status = OrderStatus::kCancelled;
  o.needed = 0;
  Event& e = Emit(EventKind::kOrderCancelled);
  e.order = o.id;
  e.account = o.sequencer;
  e.market = o.market;
  SettleEscrow(oh);
  MaybeForgetOrder(oh);
}

void Engine::AddResting(uint32_t order) {
  orders_[order].resting = true;
  Book(orders_[order].market).InsertOrder(order);
}

void Engine::RemoveResting(uint32_t order) {
  Book(orders_[order].market).RemoveOrder(order);
  orders_[order].resting = false;
}

// ---- Offers -------------------------------------------------------------------------------

void Engine::DoPlaceOffer(const PlaceOffer& c) {
  subject_.account = c.account;
  subject_.market = c.market;
  if (c.price <= 0) return Reject(Reason::kInvalidArgument, "price");
  if (c.est_ms < 0 || c.est_ms > kMaxDurationMs) return Reject(Reason::kInvalidArgument, "est_ms");
  if (c.capacity < 1 || c.capacity > kMaxCapacity) {
    return Reject(Reason::kInvalidArgument, "capacity");
  }
  if (c.expires_at != 0 && c.expires_at <= now_) {
    return Reject(Reason::kInvalidArgument, "expires_at");
  }
  uint32_t ah = AccountHandle(c.account);
  if (ah == kNil) return Reject(Reason::kUnknownAccount, "account");
  if (accounts_[ah].role != Role::kProver) return Reject(Reason::kWrongRole, "account");
  const MarketRecord* market = Market(c.market);
  if (market == nullptr) return Reject(Reason::kUnknownMarket, "market");
  if (accounts_[ah].staked < market->params.min_stake) {
    return Reject(Reason::kInsufficientStake, "account");
  }
  uint32_t fh = offers_.Allocate();
  OfferRecord& f = offers_[fh];
  f.id = next_offer_++;
  f.account = ah;
  f.prover = c.account;
  f.market = c.market;
  f.price = c.price;
  f.est_ms = c.est_ms;
  f.effective_ms = EffectiveMs(c.est_ms, market->params.min_prover_time_ms);
  f.capacity = c.capacity;
  f.capacity_left = c.capacity;
  f.expires_at = c.expires_at;
  offer_ids_.Insert(f.id, fh);
  ListPushBack<OfferRecord, &OfferRecord::account_link>(offers_, accounts_[ah].offers, fh);
  Book(c.market).InsertOffer(fh, accounts_[ah].reputation);
  subject_.offer = f.id;
  Accept();
  if (c.expires_at != 0) timers_.Push({c.expires_at, TimerKind::kOfferExpiry, offers_[fh].id});
  OfferTakesOrders(fh);
  const OfferRecord& r = offers_[fh];
  Event& e = Emit(EventKind::kOfferRested);
  e.offer = r.id;
  e.account = r.prover;
  e.market = r.market;
  e.amount = r.price;
  e.value = r.capacity_left;
}

void Engine::DoCancelOffer(const CancelOffer& c) {
  subject_.account = c.account;
  subject_.offer = c.offer;
  uint32_t fh = offer_ids_.Find(c.offer);
  if (fh == kNil) return Reject(Reason::kNotFound, "offer");
  subject_.market = offers_[fh].market;
  if (offers_[fh].prover != c.account) return Reject(Reason::kNotOwner, "account");
  Accept();
  Event& e = Emit(EventKind::kOfferCancelled);
  e.offer = c.offer;
  e.account = c.account;
  e.market = offers_[fh].market;
  e.reason = Reason::kCancelledByOwner;
  RemoveOffer(fh);
}

void Engine::RemoveOffer(uint32_t offer) {
  OfferRecord& f = offers_[offer];
  Book(f.market).RemoveOffer(offer);
  ListRemove<OfferRecord, &OfferRecord::account_link>(offers_, accounts_[f.account].offers, offer);
  offer_ids_.Erase(f.id);
  offers_.Free(offer);
}

void Engine::PullOffersBelowStake(uint32_t account, Reason reason) {
  for (uint32_t h = accounts_[account].offers.head; h != kNil;) {
    uint32_t next = offers_[h].account_link.next;
    const OfferRecord& f = offers_[h];
    if (markets_[f.market].params.min_stake > accounts_[account].staked) {
      Event& e = Emit(EventKind::kOfferCancelled);
      e.offer = f.id;
      e.account = f.prover;
      e.market = f.market;
      e.reason = reason;
      RemoveOffer(h);
    }
    h = next;
  }
}

void Engine::FreeCapacity(OfferId offer_id) {
  uint32_t fh = offer_ids_.Find(offer_id);
  if (fh == kNil) return;  // the offer was cancelled or expired meanwhile
  OfferRecord& f = offers_[fh];
  int32_t before = f.capacity_left++;
  Book(f.market).OnCapacityChanged(fh, before, Reputation(f.account));
}

// ---- Matching -----------------------------------------------------------------------------

bool Engine::OfferEligibleForOrder(const OrderRecord& o, const OfferRecord& f) const {
  if (f.market != o.market || f.price > o.max_price || f.capacity_left <= 0) return false;
  if (now_ + f.effective_ms > o.deadline) return false;
  if (f.expires_at != 0 && now_ > f.expires_at) return false;
  const AccountRecord& p = accounts_[f.account];
  if (p.staked < markets_[o.market].params.min_stake) return false;
  if (p.reputation < o.min_reputation) return false;
  if (o.selection == Selection::kDirect && now_ <= o.exclusive_until &&
      f.prover != o.direct_prover) {
    return false;
  }
  for (uint32_t h = o.assignments.head; h != kNil; h = assignments_[h].order_link.next) {
    if (assignments_[h].prover == f.prover) return false;  // k distinct provers
  }
  return true;
}

uint32_t Engine::FindBestOffer(uint32_t order) {
  const OrderRecord& o = orders_[order];
  if (o.selection == Selection::kDirect && now_ <= o.exclusive_until) {
    // Exclusive window: only the named prover's own offers, ranked the same way.
    uint32_t ph = AccountHandle(o.direct_prover);
    uint32_t best = kNil;
    for (uint32_t h = accounts_[ph].offers.head; h != kNil; h = offers_[h].account_link.next) {
      const OfferRecord& f = offers_[h];
      if (!OfferEligibleForOrder(o, f)) continue;
      if (best == kNil) {
        best = h;
        continue;
      }
      const OfferRecord& b = offers_[best];
      bool better =
          o.priority == Priority::kPrice
              ? std::tie(f.price, f.effective_ms, f.id) < std::tie(b.price, b.effective_ms, b.id)
              : std::tie(f.effective_ms, f.price, f.id) < std::tie(b.effective_ms, b.price, b.id);
      if (better) best = h;
    }
    return best;
  }
  if (int32_t w = markets_[o.market].params.reputation_weight_bps; w > 0) {
    return FindBestOfferWeighted(order, w);
  }
  return Book(o.market).BestOffer(
      o.priority, o.max_price, o.deadline - now_, o.min_reputation,
      [this](const OfferRecord& f) { return accounts_[f.account].reputation; },
      [this, &o](uint32_t h) { return OfferEligibleForOrder(o, offers_[h]); });
}

uint32_t Engine::FindBestOfferWeighted(uint32_t order, int32_t weight_bps) {
  // Offers come in (price, effective ms) or (effective ms, price) level order; a score is never
  // below price * 10000, so the walk stops once no later offer can beat the best so far.
  const OrderRecord& o = orders_[order];
  uint32_t best = kNil;
  RankScoreValue best_score = 0;
  int64_t best_eff = 0;
  int32_t best_rep = 0;
  OfferId best_id = 0;
  Book(o.market).ForEachRanked(
      o.priority, o.max_price, o.deadline - now_, o.min_reputation,
      [this](const OfferRecord& f) { return accounts_[f.account].reputation; },
      [this, &o](uint32_t h) { return OfferEligibleForOrder(o, offers_[h]); },
      [&](uint32_t h) {
        const OfferRecord& f = offers_[h];
        const RankScoreValue floor = static_cast<RankScoreValue>(f.price) * kBps;
        if (best != kNil) {
          if (o.priority == Priority::kPrice && floor > best_score) return false;
          if (o.priority == Priority::kTime &&
              (f.effective_ms > best_eff || (f.effective_ms == best_eff && floor > best_score))) {
            return false;
          }
        }
        const int32_t rep = accounts_[f.account].reputation;
        const RankScoreValue score = RankScore(f.price, rep, weight_bps);
        const bool better =
            best == kNil ||
            (o.priority == Priority::kPrice
                 ? std::tie(score, f.effective_ms) < std::tie(best_score, best_eff)
                 : std::tie(f.effective_ms, score) < std::tie(best_eff, best_score)) ||
            (score == best_score && f.effective_ms == best_eff &&
             std::tie(rep, best_id) > std::tie(best_rep, f.id));
        if (better) {
          best = h;
          best_score = score;
          best_eff = f.effective_ms;
          best_rep = rep;
          best_id = f.id;
        }
        return true;
      });
  return best;
}

int32_t Engine::MatchOrder(uint32_t order, EventKind kind) {
  if (orders_[order].selection == Selection::kVrf) return MatchOrderVrf(order, kind);
  int32_t assigned = 0;
  for (;;) {
    while (orders_[order].needed > 0) {
      uint32_t fh = FindBestOffer(order);
      if (fh == kNil) break;
      Assign(order, fh, offers_[fh].price, kind);  // the offer rested: its price
      ++assigned;
    }
    // A merge whose prover in line cannot take it (it missed or declined it, or has no offer
    // that fits) goes to the next child's prover, then to the open market.
    if (assigned > 0 || orders_[order].needed == 0 || !InTakeover(orders_[order])) {
      return assigned;
    }
    AdvanceTakeover(order);
  }
}

int32_t Engine::MatchOrderVrf(uint32_t order, EventKind kind) {
  candidates_.clear();
  weights_.clear();
  const OrderRecord& o = orders_[order];
  const MarketParams& params = markets_[o.market].params;
  const size_t limit =
      static_cast<size_t>(params.vrf_turns ? kMaxVrfTurnsCandidates : kMaxVrfCandidates);
  Book(o.market).ForEachRanked(
      o.priority, o.max_price, o.deadline - now_, o.min_reputation,
      [this](const OfferRecord& f) { return accounts_[f.account].reputation; },
      [this, &o](uint32_t h) { return OfferEligibleForOrder(o, offers_[h]); },
      [this, limit](uint32_t h) {
        for (uint32_t c : candidates_) {
          if (offers_[c].prover == offers_[h].prover) return true;  // one per prover
        }
        candidates_.push_back(h);
        return candidates_.size() < limit;
      });
  if (candidates_.empty()) return 0;
  for (uint32_t h : candidates_) {
    weights_.push_back(CandidateWeight(offers_[h]));
    EmitCandidate(o, offers_[h], weights_.back());
  }
  int32_t assigned = 0;
  while (orders_[order].needed > 0 && !candidates_.empty()) {
    size_t i = WeightedPick(NextDraw(orders_[order]), weights_);
    uint32_t fh = candidates_[i];
    candidates_.erase(candidates_.begin() + static_cast<ptrdiff_t>(i));
    weights_.erase(weights_.begin() + static_cast<ptrdiff_t>(i));
    Assign(order, fh, offers_[fh].price, kind);
    ++assigned;
  }
  return assigned;
}

int64_t Engine::CandidateWeight(const OfferRecord& f) const {
  const MarketParams& params = markets_[f.market].params;
  const AccountRecord& a = accounts_[f.account];
  return VrfWeight(a.staked, a.reputation, params.vrf_turns ? 0 : params.reputation_weight_bps);
}

void Engine::EmitCandidate(const OrderRecord& o, const OfferRecord& f, int64_t weight) {
  Event& e = Emit(EventKind::kVrfCandidate);
  e.order = o.id;
  e.offer = f.id;
  e.account = f.prover;
  e.market = f.market;
  e.value = weight;
  e.amount = o.vrf_draws;  // the attempt number of the round's first draw
}

uint64_t Engine::NextDraw(OrderRecord& o) {
  return draws_->Draw(
      {.market = o.market, .order = o.id, .placed_at = o.placed_at, .attempt = o.vrf_draws++});
}

void Engine::OfferTakesOrders(uint32_t offer) {
  for (;;) {
    const OfferRecord& f = offers_[offer];
    if (f.capacity_left <= 0) return;
    if (f.expires_at != 0 && now_ > f.expires_at) return;
    uint32_t oh = Book(f.market).BestOrder(
        f.price, [this, &f](uint32_t h) { return OfferEligibleForOrder(orders_[h], f); });
    if (oh == kNil) return;
    OrderRecord& o = orders_[oh];
    if (o.selection == Selection::kVrf) {
      // The arriving offer is the only eligible candidate (the order rested with none), so
      // the pick is forced, but the draw is made and published like any other: every
      // assignment of a vrf order has its draw.
      int64_t weight = CandidateWeight(f);
      EmitCandidate(o, f, weight);
      NextDraw(o);
    }
    Assign(oh, offer, o.max_price, EventKind::kAssigned);  // the order rested: its price
  }
}

uint32_t Engine::Assign(uint32_t order, uint32_t offer, Amount price, EventKind kind) {
  uint32_t ah = assignments_.Allocate();
  OrderRecord& o = orders_[order];
  OfferRecord& f = offers_[offer];
  AssignmentRecord& a = assignments_[ah];
  a.id = next_assignment_++;
  a.order = order;
  a.order_id = o.id;
  a.offer = f.id;
  a.account = f.account;
  a.prover = f.prover;
  a.market = o.market;
  a.price = price;
  a.assigned_at = now_;
  a.due_at = DueAt(now_, f.effective_ms, markets_[o.market].params.grace_bps, o.deadline);
  assignment_ids_.Insert(a.id, ah);
  ListPushBack<AssignmentRecord, &AssignmentRecord::order_link>(assignments_, o.assignments, ah);
  ListPushBack<AssignmentRecord, &AssignmentRecord::account_link>(
      assignments_, accounts_[f.account].live_assignments, ah);
  int32_t before = f.capacity_left--;
  Book(f.market).OnCapacityChanged(offer, before, Reputation(f.account));
  --o.needed;
  ++o.live;
  if (o.needed == 0 && o.resting) RemoveResting(order);
  timers_.Push({a.due_at, TimerKind::kAssignmentDue, a.id});
  Event& e = Emit(kind);
  e.order = o.id;
  e.offer = f.id;
  e.assignment = a.id;
  e.account = f.prover;
  e.market = o.market;
  e.amount = price;
  e.value = a.due_at;
  return ah;
}

// ---- Proofs and failures ------------------------------------------------------------------

void Engine::DoProofDelivered(const ProofDelivered& c) {
  subject_.account = c.account;
  subject_.assignment = c.assignment;
  if (c.proof_bytes <= 0) return Reject(Reason::kInvalidArgument, "proof_bytes");
  uint32_t ah = assignment_ids_.Find(c.assignment);
  if (ah == kNil) return Reject(Reason::kNotFound, "assignment");
  const AssignmentRecord& a = assignments_[ah];
  subject_.order = a.order_id;
  subject_.market = a.market;
  if (a.prover != c.account) return Reject(Reason::kNotOwner, "account");
  if (c.proof_bytes > markets_[a.market].params.max_proof_bytes) {
    return Reject(Reason::kProofTooLarge, "proof_bytes");
  }
  if (a.status != AssignmentStatus::kAssigned && a.status != AssignmentStatus::kLate) {
    return Reject(Reason::kConflict, "assignment");
  }
  uint32_t oh = a.order;
  const Timestamp at = c.received_at > 0 ? std::min(c.received_at, now_) : now_;
  if (at > orders_[oh].deadline) return Reject(Reason::kDeadlinePassed, "assignment");
  Accept();
  if (a.status == AssignmentStatus::kAssigned && at > a.due_at) {
    // Past due but not yet ticked: settle the miss first, as the Tick would have.
    FailAssignment(ah, Reason::kMissedDeadline);
  }
  AssignmentRecord& d = assignments_[ah];  // re-fetch: the miss may have grown the pool
  bool late = d.status == AssignmentStatus::kLate;
  d.status = late ? AssignmentStatus::kLateDelivered : AssignmentStatus::kDelivered;
  Event& e = EmitFor(EventKind::kProofDelivered, d);
  e.value = late ? 1 : 0;
  MaybeForgetOrder(oh);
}

void Engine::DoProofVerified(const ProofVerified& c) {
  const uint32_t ah = DeliveredForVerdict(c.assignment);
  if (ah == kNil) return;
  const AssignmentRecord& a = assignments_[ah];
  uint32_t oh = a.order;
  Accept();
  if (a.status == AssignmentStatus::kDelivered) {
    SettleAssignment(ah);
  } else {
    RewardUncle(ah);
  }
  MaybeForgetOrder(oh);
}

void Engine::DoProofRejected(const ProofRejected& c) {
  const uint32_t ah = DeliveredForVerdict(c.assignment);
  if (ah == kNil) return;
  AssignmentRecord& a = assignments_[ah];
  uint32_t oh = a.order;
  Accept();
  EmitFor(EventKind::kProofRejected, a);
  if (a.status == AssignmentStatus::kDelivered) {
    FailAssignment(ah, Reason::kInvalidProof);
  } else {
    // A late proof was already slashed for the miss; a bad one just closes the window.
    a.status = AssignmentStatus::kInvalid;
    --orders_[oh].pending_late;
  }
  MaybeForgetOrder(oh);
}

void Engine::Slash(uint32_t assignment, Reason reason) {
  const AssignmentRecord& a = assignments_[assignment];
  const MarketParams& p = markets_[a.market].params;
  uint32_t prover = a.account;
  uint32_t sequencer = orders_[a.order].account;
  AccountRecord& pr = accounts_[prover];
  const bool repeat = p.repeat_window_ms > 0 && pr.last_slashed_at > 0 &&
                      now_ - pr.last_slashed_at <= p.repeat_window_ms;
  Amount amount = SlashAmount(pr.staked, a.price, p.min_slash, p.slash_multiplier_bps, repeat);
  pr.last_slashed_at = now_;
  Amount compensation = BpsOf(amount, p.compensation_bps);
  Event& e = EmitFor(EventKind::kSlashed, a);
  e.amount = amount;
  e.reason = reason;
  e.value = repeat ? 1 : 0;
  Transfer(prover, Bucket::kStaked, sequencer, Bucket::kAvailable, compensation,
           TransferReason::kSlashCompensation, a.order_id, a.id);
  Transfer(prover, Bucket::kStaked, treasury_, Bucket::kAvailable, amount - compensation,
           TransferReason::kSlashTreasury, a.order_id, a.id);
}

void Engine::ChangeReputation(uint32_t account, int32_t delta) {
  AccountRecord& acct = accounts_[account];
  int32_t updated = ClampReputation(static_cast<int64_t>(acct.reputation) + delta);
  if (updated == acct.reputation) return;
  bool raised = updated > acct.reputation;
  acct.reputation = updated;
  Event& e = Emit(EventKind::kReputationChanged);
  e.account = acct.id;
  e.value = updated;
  if (!raised) return;  // level bounds are upper bounds: a drop leaves them valid
  for (uint32_t h = acct.offers.head; h != kNil; h = offers_[h].account_link.next) {
    Book(offers_[h].market).RaiseReputationBound(h, updated);
  }
}

void Engine::FailAssignment(uint32_t assignment, Reason reason) {
  AssignmentRecord& a = assignments_[assignment];
  uint32_t oh = a.order;
  uint32_t prover = a.account;
  MarketId market = a.market;
  OfferId offer_id = a.offer;
  bool missed = reason == Reason::kMissedDeadline;
  a.status = missed ? AssignmentStatus::kLate : AssignmentStatus::kInvalid;
  ListRemove<AssignmentRecord, &AssignmentRecord::account_link>(
      assignments_, accounts_[prover].live_assignments, assignment);
  OrderRecord& o = orders_[oh];
  --o.live;
  if (missed) ++o.pending_late;

  Slash(assignment, reason);
  ChangeReputation(prover, -kReputationLossOnSlash);
  if (accounts_[prover].staked < markets_[market].params.min_stake) {
    Event& e = Emit(EventKind::kJailed);
    e.account = accounts_[prover].id;
    e.market = market;
    e.value = accounts_[prover].staked;
    PullOffersBelowStake(prover, Reason::kJailed);
  }
  FreeCapacity(offer_id);

  if (orders_[oh].status == OrderStatus::kOpen) {
    ++orders_[oh].needed;
    if (MatchOrder(oh, EventKind::kReassigned) == 0) {
      // An order expires when nobody can take over its miss; a tree's node waits for a prover
      // until its deadline instead (a tree's leaves keep its provers busy by design).
      if (orders_[oh].tree != 0) {
        RestOrder(oh);
      } else {
        ExpireOrder(oh);
      }
    }
  } else {
    SettleEscrow(oh);
    TreeNodeClosed(oh, reason);
  }
  uint32_t fh = offer_ids_.Find(offer_id);
  if (fh != kNil) OfferTakesOrders(fh);
}

void Engine::SettleAssignment(uint32_t assignment) {
  AssignmentRecord& a = assignments_[assignment];
  uint32_t oh = a.order;
  uint32_t prover = a.account;
  OfferId offer_id = a.offer;
  AssignmentId id = a.id;
  Amount price = a.price;
  a.status = AssignmentStatus::kSettled;
  ListRemove<AssignmentRecord, &AssignmentRecord::account_link>(
      assignments_, accounts_[prover].live_assignments, assignment);
  OrderRecord& o = orders_[oh];
  --o.live;
  ++o.verified;
  o.escrow_left -= price;
  Amount fee = BpsOf(price, markets_[o.market].params.fee_bps);
  Event& e = Emit(EventKind::kSettled);
  e.assignment = id;
  e.order = o.id;
  e.account = accounts_[prover].id;
  e.market = o.market;
  e.amount = price;
  Transfer(o.account, Bucket::kEscrowed, prover, Bucket::kAvailable, price - fee,
           TransferReason::kPayment, o.id, id);
  Transfer(o.account, Bucket::kEscrowed, treasury_, Bucket::kAvailable, fee, TransferReason::kFee,
           o.id, id);
  ChangeReputation(prover, kReputationGainOnSettled);
  FreeCapacity(offer_id);
  // A tree's node is proven by its first verified proof, even if its order closed at its
  // deadline while that proof, delivered in time, waited for its verdict.
  const bool node_proven = o.tree != 0 && o.verified == o.redundancy;
  if (o.status == OrderStatus::kOpen && o.verified == o.redundancy) {
    o.status = OrderStatus::kCompleted;
    o.needed = 0;
    if (o.resting) RemoveResting(oh);
    Event& done = Emit(EventKind::kOrderCompleted);
    done.order = o.id;
    done.account = o.sequencer;
    done.market = o.market;
  }
  SettleEscrow(oh);
  if (node_proven) {
    // Before the freed offer takes other work: the merge above may want this prover.
    TreeNodeProven(orders_[oh].tree, orders_[oh].tree_node, accounts_[prover].id);
  }
  uint32_t fh = offer_ids_.Find(offer_id);
  if (fh != kNil) OfferTakesOrders(fh);
}

void Engine::RewardUncle(uint32_t assignment) {
  AssignmentRecord& a = assignments_[assignment];
  a.status = AssignmentStatus::kUncled;
  --orders_[a.order].pending_late;
  // Paid by the treasury (which took the late prover's slash), never beyond what it holds.
  Amount reward = std::min(BpsOf(a.price, markets_[a.market].params.uncle_reward_bps),
                           accounts_[treasury_].available);
  Event& e = EmitFor(EventKind::kUncleRewarded, a);
  e.amount = reward;
  Transfer(treasury_, Bucket::kAvailable, a.account, Bucket::kAvailable, reward,
           TransferReason::kUncleReward, a.order_id, a.id);
}

// ---- Fault attribution and declines ------------------------------------------------------

uint32_t Engine::DeliveredForVerdict(AssignmentId id) {
  subject_.assignment = id;
  uint32_t ah = assignment_ids_.Find(id);
  if (ah == kNil) {
    Reject(Reason::kNotFound, "assignment");
    return kNil;
  }
  const AssignmentRecord& a = assignments_[ah];
  subject_.account = a.prover;
  subject_.order = a.order_id;
  subject_.market = a.market;
  if (a.status != AssignmentStatus::kDelivered && a.status != AssignmentStatus::kLateDelivered) {
    Reject(Reason::kConflict, "assignment");
    return kNil;
  }
  return ah;
}

void Engine::DoInputsRejected(const InputsRejected& c) {
  CloseUnjudged(c.assignment, Reason::kBadInputs);
}

void Engine::DoVerificationFailed(const VerificationFailed& c) {
  CloseUnjudged(c.assignment, Reason::kVerifierFailed);
}

void Engine::CloseUnjudged(AssignmentId id, Reason why) {
  const uint32_t ah = DeliveredForVerdict(id);
  if (ah == kNil) return;
  const uint32_t oh = assignments_[ah].order;
  Accept();
  if (assignments_[ah].status == AssignmentStatus::kLateDelivered) {
    ReleaseLate(ah, why);
  } else {
    Release(ah, why);
    // Nobody's fault: the slot goes on. Bad inputs fail the whole order below.
    if (why == Reason::kVerifierFailed) RematchOrRest(oh);
  }
  if (why == Reason::kBadInputs) {
    if (orders_[oh].status == OrderStatus::kOpen) {
      FailOrder(oh, why);
    } else {
      SettleEscrow(oh);
    }
  }
  TreeNodeClosed(oh, why);
  DrainFreedOffers();
  MaybeForgetOrder(oh);
}

void Engine::DoDeclineAssignment(const DeclineAssignment& c) {
  subject_.account = c.account;
  subject_.assignment = c.assignment;
  if (c.reason != Reason::kBusy && c.reason != Reason::kUnprovable) {
    return Reject(Reason::kInvalidArgument, "reason");
  }
  uint32_t ah = assignment_ids_.Find(c.assignment);
  if (ah == kNil) return Reject(Reason::kNotFound, "assignment");
  AssignmentRecord& a = assignments_[ah];
  subject_.order = a.order_id;
  subject_.market = a.market;
  if (a.prover != c.account) return Reject(Reason::kNotOwner, "account");
  if (a.status != AssignmentStatus::kAssigned) return Reject(Reason::kConflict, "assignment");
  // Past due the miss stands (the next Tick settles it); a decline cannot undo it.
  if (now_ > a.due_at) return Reject(Reason::kDeadlinePassed, "assignment");
  const MarketParams& p = markets_[a.market].params;
  const bool busy = c.reason == Reason::kBusy;
  if (busy && now_ - a.assigned_at > p.decline_window_ms) {
    return Reject(Reason::kDeclineWindowPassed, "reason");
  }
  Accept();
  uint32_t oh = a.order;
  uint32_t prover = a.account;
  OfferId offer_id = a.offer;
  a.status = busy ? AssignmentStatus::kDeclinedBusy : AssignmentStatus::kDeclinedUnprovable;
  ListRemove<AssignmentRecord, &AssignmentRecord::account_link>(
      assignments_, accounts_[prover].live_assignments, ah);
  OrderRecord& o = orders_[oh];
  --o.live;
  if (!busy) ++o.unprovable_votes;
  Event& e = EmitFor(EventKind::kDeclined, a);
  e.reason = c.reason;
  e.value = o.unprovable_votes;
  if (busy) {
    ShrinkOffer(offer_id);
    ChangeReputation(prover, -kReputationLossOnBusyDecline);
  } else {
    FreeCapacity(offer_id);
    freed_offers_.push_back(offer_id);
  }
  if (o.status != OrderStatus::kOpen) {
    SettleEscrow(oh);
  } else if (!busy && o.unprovable_votes >= p.unprovable_quorum && o.verified == 0 &&
             !HasDeliveredProof(oh)) {
    FailOrder(oh, Reason::kUnprovable);
  } else {
    RematchOrRest(oh);
  }
  DrainFreedOffers();
  MaybeForgetOrder(oh);
}

bool Engine::HasDeliveredProof(uint32_t order) const {
  for (uint32_t h = orders_[order].assignments.head; h != kNil;
       h = assignments_[h].order_link.next) {
    AssignmentStatus s = assignments_[h].status;
    if (s == AssignmentStatus::kDelivered || s == AssignmentStatus::kLateDelivered) return true;
  }
  return false;
}

void Engine::Release(uint32_t assignment, Reason reason) {
  AssignmentRecord& a = assignments_[assignment];
  OrderRecord& o = orders_[a.order];
  a.status = AssignmentStatus::kReleased;
  ListRemove<AssignmentRecord, &AssignmentRecord::account_link>(
      assignments_, accounts_[a.account].live_assignments, assignment);
  --o.live;
  Event& e = EmitFor(EventKind::kReleased, a);
  e.reason = reason;
  if (reason == Reason::kBadInputs) {
    // Paid from the max_price the order holds for this live assignment.
    Amount compensation = BpsOf(a.price, markets_[a.market].params.griefing_bps);
    o.escrow_left -= compensation;
    Transfer(o.account, Bucket::kEscrowed, a.account, Bucket::kAvailable, compensation,
             TransferReason::kGriefingCompensation, o.id, a.id);
  }
  FreeCapacity(a.offer);
  freed_offers_.push_back(a.offer);
}

void Engine::ReleaseLate(uint32_t assignment, Reason reason) {
  AssignmentRecord& a = assignments_[assignment];
  a.status = AssignmentStatus::kReleased;
  --orders_[a.order].pending_late;
  Event& e = EmitFor(EventKind::kReleased, a);
  e.reason = reason;
}

void Engine::FailOrder(uint32_t order, Reason reason) {
  OrderRecord& o = orders_[order];
  if (o.resting) RemoveResting(order);
  o.status = OrderStatus::kFailed;
  o.failure = reason;
  o.needed = 0;
  Event& e = Emit(EventKind::kOrderFailed);
  e.order = o.id;
  e.account = o.sequencer;
  e.market = o.market;
  e.reason = reason;
  for (uint32_t h = o.assignments.head; h != kNil; h = assignments_[h].order_link.next) {
    AssignmentRecord& a = assignments_[h];
    if (IsLive(a.status)) {
      Release(h, reason);
    } else if (a.status == AssignmentStatus::kLateDelivered) {
      ReleaseLate(h, reason);
    } else if (a.status == AssignmentStatus::kLate) {
      a.status = AssignmentStatus::kLapsed;
      --o.pending_late;
      EmitFor(EventKind::kAssignmentLapsed, a);
    }
  }
  if (reason == Reason::kUnprovable && o.unprovable_votes > 0) {
    // The decliners share the fee equally; what does not divide evenly is refunded.
    Amount fee =
        std::min(o.escrow_left, BpsOf(o.max_price, markets_[o.market].params.unprovable_fee_bps));
    Amount share = fee / o.unprovable_votes;
    for (uint32_t h = o.assignments.head; h != kNil && share > 0;
         h = assignments_[h].order_link.next) {
      const AssignmentRecord& a = assignments_[h];
      if (a.status != AssignmentStatus::kDeclinedUnprovable) continue;
      o.escrow_left -= share;
      Transfer(o.account, Bucket::kEscrowed, a.account, Bucket::kAvailable, share,
               TransferReason::kUnprovableFee, o.id, a.id);
    }
  }
  SettleEscrow(order);
  TreeNodeClosed(order, reason);
}

void Engine::RematchOrRest(uint32_t order) {
  OrderRecord& o = orders_[order];
  if (o.status != OrderStatus::kOpen) return SettleEscrow(order);
  ++o.needed;
  MatchOrder(order, EventKind::kReassigned);
  if (orders_[order].needed == 0 || orders_[order].resting) return;
  RestOrder(order);
}

void Engine::DrainFreedOffers() {
  for (size_t i = 0; i < freed_offers_.size(); ++i) {
    uint32_t fh = offer_ids_.Find(freed_offers_[i]);
    if (fh != kNil) OfferTakesOrders(fh);
  }
  freed_offers_.clear();
}

void Engine::ShrinkOffer(OfferId offer_id) {
  uint32_t fh = offer_ids_.Find(offer_id);
  if (fh == kNil) return;  // cancelled or expired meanwhile
  OfferRecord& f = offers_[fh];
  if (--f.capacity > 0) return;  // capacity_left unchanged: the live job it backed is gone
  Event& e = Emit(EventKind::kOfferCancelled);
  e.offer = f.id;
  e.account = f.prover;
  e.market = f.market;
  e.reason = Reason::kBusy;
  RemoveOffer(fh);
}

// ---- Order closing ------------------------------------------------------------------------

void Engine::ExpireOrder(uint32_t order) {
  OrderRecord& o = orders_[order];
  if (o.resting) RemoveResting(order);
  o.status = OrderStatus::kExpired;
  o.needed = 0;
  Event& e = Emit(EventKind::kOrderExpired);
  e.order = o.id;
  e.account = o.sequencer;
  e.market = o.market;
  SettleEscrow(order);
  TreeNodeClosed(order, Reason::kDeadlinePassed);
}

void Engine::SettleEscrow(uint32_t order) {
  OrderRecord& o = orders_[order];
  if (o.status == OrderStatus::kOpen) return;
  // A closed order keeps max_price for each live assignment (it may still be paid).
  Amount excess = o.escrow_left - o.max_price * o.live;
  if (excess <= 0) return;
  o.escrow_left -= excess;
  Transfer(o.account, Bucket::kEscrowed, o.account, Bucket::kAvailable, excess,
           o.status == OrderStatus::kCompleted ? TransferReason::kRelease : TransferReason::kRefund,
           o.id);
}

void Engine::MaybeForgetOrder(uint32_t order) {
  if (!orders_.live(order)) return;
  const OrderRecord& o = orders_[order];
  if (o.status == OrderStatus::kOpen || o.live > 0 || o.pending_late > 0) return;
  for (uint32_t h = o.assignments.head; h != kNil;) {
    uint32_t next = assignments_[h].order_link.next;
    assignment_ids_.Erase(assignments_[h].id);
    assignments_.Free(h);
    h = next;
  }
  order_ids_.Erase(o.id);
  orders_.Free(order);
}

// ---- Time ---------------------------------------------------------------------------------

void Engine::DoTick(const Tick& c) {
  if (c.outage_since > 0) ExtendDueTimesAfterOutage(c.outage_since);
  while (!timers_.empty() && timers_.top().time < now_) {
    Timer t = timers_.top();
    timers_.Pop();
    ProcessTimer(t);
  }
}

void Engine::ExtendDueTimesAfterOutage(Timestamp since) {
  // The timers that have passed are the heap's earliest; take them out, in firing order, and
  // put back all but the due times an extension moves.
  std::vector<Timer> passed;
  while (!timers_.empty() && timers_.top().time < now_) {
    passed.push_back(timers_.top());
    timers_.Pop();
  }
  for (const Timer& t : passed) {
    uint32_t ah =
        t.kind == TimerKind::kAssignmentDue && t.time > since ? assignment_ids_.Find(t.id) : kNil;
    if (ah != kNil && assignments_[ah].status == AssignmentStatus::kAssigned &&
        assignments_[ah].due_at == t.time) {
      AssignmentRecord& a = assignments_[ah];
      const Timestamp lost = now_ - std::max(since, a.assigned_at);
      const Timestamp due = std::min(orders_[a.order].deadline, a.due_at + lost);
      if (due >= now_) {
        a.due_at = due;
        timers_.Push({due, TimerKind::kAssignmentDue, a.id});
        Event& e = EmitFor(EventKind::kDueExtended, a);
        e.value = due;
        continue;
      }
    }
    timers_.Push(t);
  }
}

void Engine::ProcessTimer(const Timer& t) {
  switch (t.kind) {
    case TimerKind::kAssignmentDue: {
      uint32_t ah = assignment_ids_.Find(t.id);
      if (ah == kNil || assignments_[ah].status != AssignmentStatus::kAssigned) return;
      if (receipts_ != nullptr &&
          receipts_->Receiving(t.id, assignments_[ah].prover, assignments_[ah].due_at)) {
        // Its proof came in time and is on its way in (receipt_source.h): the delivery
        // decides; look again at the next Tick.
        timers_.Push({now_, TimerKind::kAssignmentDue, t.id});
        return;
      }
      uint32_t oh = assignments_[ah].order;
      // A timer put back for a receipt (at the Tick's time, not the due time) past the order's
      // deadline: that deadline's timer fired then, so the late assignment lapses now.
      const bool after_deadline =
          t.time != assignments_[ah].due_at && orders_[oh].deadline < t.time;
      FailAssignment(ah, Reason::kMissedDeadline);
      if (after_deadline) LapseLateAssignments(oh);
      MaybeForgetOrder(oh);
      return;
    }
    case TimerKind::kOfferExpiry: {
      uint32_t fh = offer_ids_.Find(t.id);
      if (fh == kNil) return;
      Event& e = Emit(EventKind::kOfferExpired);
      e.offer = offers_[fh].id;
      e.account = offers_[fh].prover;
      e.market = offers_[fh].market;
      RemoveOffer(fh);
      return;
    }
    case TimerKind::kExclusiveEnd: {
      uint32_t oh = order_ids_.Find(t.id);
      if (oh == kNil || orders_[oh].exclusive_ended) return;
      OrderRecord& o = orders_[oh];
      o.exclusive_ended = true;
      Event& e = Emit(EventKind::kExclusiveEnded);
      e.order = o.id;
      e.account = o.sequencer;
      e.market = o.market;
      if (o.status == OrderStatus::kOpen && o.needed > 0) MatchOrder(oh, EventKind::kAssigned);
      return;
    }
    case TimerKind::kOrderDeadline: {
      uint32_t oh = order_ids_.Find(t.id);
      if (oh == kNil) return;
      if (orders_[oh].status == OrderStatus::kOpen) ExpireOrder(oh);
      LapseLateAssignments(oh);
      MaybeForgetOrder(oh);
      return;
    }
  }
}

void Engine::LapseLateAssignments(uint32_t order) {
  OrderRecord& o = orders_[order];
  for (uint32_t h = o.assignments.head; h != kNil; h = assignments_[h].order_link.next) {
    AssignmentRecord& a = assignments_[h];
    if (a.status != AssignmentStatus::kLate) continue;
    a.status = AssignmentStatus::kLapsed;
    --o.pending_late;
    EmitFor(EventKind::kAssignmentLapsed, a);
  }
}

// ---- Read API -----------------------------------------------------------------------------

AccountState Engine::ToState(const AccountRecord& a) const {
  return {a.id, a.role, a.available, a.escrowed, a.staked, a.reputation, a.last_slashed_at};
}

OrderState Engine::ToState(const OrderRecord& o) const {
  OrderState s;
  s.id = o.id;
  s.account = o.sequencer;
  s.market = o.market;
  s.max_price = o.max_price;
  s.deadline = o.deadline;
  s.placed_at = o.placed_at;
  s.priority = o.priority;
  s.min_reputation = o.min_reputation;
  s.redundancy = o.redundancy;
  s.selection = o.selection;
  s.direct_prover = o.direct_prover;
  s.exclusive_until = o.exclusive_until;
  s.exclusive_ended = o.exclusive_ended;
  s.vrf_draws = o.vrf_draws;
  s.status = o.status;
  s.failure = o.failure;
  s.verified = o.verified;
  s.escrow_left = o.escrow_left;
  s.needed = o.needed;
  s.tree = o.tree;
  s.tree_node = o.tree_node;
  s.takeover = o.takeover;
  return s;
}

OfferState Engine::ToState(const OfferRecord& f) const {
  return {f.id, f.prover, f.market, f.price, f.est_ms, f.capacity, f.capacity_left, f.expires_at};
}

AssignmentState Engine::ToState(const AssignmentRecord& a) const {
  return {a.id,    a.order_id,    a.offer,  a.prover, a.market,
          a.price, a.assigned_at, a.due_at, a.status};
}

std::optional<AccountState> Engine::GetAccount(AccountId id) const {
  uint32_t h = account_ids_.Find(id);
  if (h == kNil) return std::nullopt;
  return ToState(accounts_[h]);
}

std::optional<MarketState> Engine::GetMarket(MarketId id) const {
  const MarketRecord* m = Market(id);
  if (m == nullptr) return std::nullopt;
  return MarketState{id, m->params};
}

std::optional<OrderState> Engine::GetOrder(OrderId id) const {
  uint32_t h = order_ids_.Find(id);
  if (h == kNil) return std::nullopt;
  return ToState(orders_[h]);
}

std::vector<AssignmentState> Engine::GetOrderAssignments(OrderId id) const {
  std::vector<AssignmentState> out;
  uint32_t oh = order_ids_.Find(id);
  if (oh == kNil) return out;
  for (uint32_t h = orders_[oh].assignments.head; h != kNil; h = assignments_[h].order_link.next) {
    out.push_back(ToState(assignments_[h]));
  }
  return out;
}

std::optional<OfferState> Engine::GetOffer(OfferId id) const {
  uint32_t h = offer_ids_.Find(id);
  if (h == kNil) return std::nullopt;
  return ToState(offers_[h]);
}

std::optional<AssignmentState> Engine::GetAssignment(AssignmentId id) const {
  uint32_t h = assignment_ids_.Find(id);
  if (h == kNil) return std::nullopt;
  return ToState(assignments_[h]);
}

std::vector<AssignmentState> Engine::GetLiveAssignments(AccountId prover) const {
  std::vector<AssignmentState> out;
  uint32_t ph = account_ids_.Find(prover);
  if (ph == kNil) return out;
  for (uint32_t h = accounts_[ph].live_assignments.head; h != kNil;
       h = assignments_[h].account_link.next) {
    out.push_back(ToState(assignments_[h]));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::optional<MarketBook> Engine::GetBook(MarketId id) const {
  if (Market(id) == nullptr) return std::nullopt;
  return books_[id]->View();
}

EngineIds Engine::GetIds() const {
  return {next_order_, next_offer_, next_assignment_, external_net_, next_tree_};
}

Snapshot Engine::GetSnapshot() const {
  Snapshot s;
  for (uint32_t h = 0; h < accounts_.slots(); ++h) {
    if (accounts_.live(h)) s.accounts.push_back(ToState(accounts_[h]));
  }
  for (MarketId m = 0; m < markets_.size(); ++m) {
    if (markets_[m].exists) s.markets.push_back({m, markets_[m].params});
  }
  for (uint32_t h = 0; h < orders_.slots(); ++h) {
    if (orders_.live(h)) s.orders.push_back(ToState(orders_[h]));
  }
  for (uint32_t h = 0; h < offers_.slots(); ++h) {
    if (offers_.live(h)) s.offers.push_back(ToState(offers_[h]));
  }
  for (uint32_t h = 0; h < assignments_.slots(); ++h) {
    if (assignments_.live(h)) s.assignments.push_back(ToState(assignments_[h]));
  }
  for (uint32_t h = 0; h < trees_.slots(); ++h) {
    if (trees_.live(h)) s.trees.push_back(trees_[h].state);
  }
  auto by_id = [](const auto& a, const auto& b) { return a.id < b.id; };
  std::sort(s.trees.begin(), s.trees.end(), by_id);
  std::sort(s.accounts.begin(), s.accounts.end(), by_id);
  std::sort(s.orders.begin(), s.orders.end(), by_id);
  std::sort(s.offers.begin(), s.offers.end(), by_id);
  std::sort(s.assignments.begin(), s.assignments.end(), by_id);
  s.ids = GetIds();
  return s;
}

// ---- Restore ------------------------------------------------------------------------------

Status Engine::RestoreAccount(const AccountState& s) {
  if (s.available < 0 || s.escrowed < 0 || s.staked < 0) {
    return BadRestore("negative balance", "account");
  }
  if (s.reputation < kMinReputation || s.reputation > kMaxReputation) {
    return BadRestore("reputation out of range", "reputation");
  }
  uint32_t h;
  if (s.id == kTreasuryAccountId) {
    if (s.role != Role::kTreasury) return BadRestore("account 0 is the treasury", "role");
    h = treasury_;
  } else {
    if (s.id < 0 || s.role == Role::kTreasury) return BadRestore("bad account", "id");
    if (account_ids_.Find(s.id) != kNil) return BadRestore("duplicate account", "id");
    h = accounts_.Allocate();
    account_ids_.Insert(s.id, h);
  }
  AccountRecord& a = accounts_[h];
  a.id = s.id;
  a.role = s.role;
  a.available = s.available;
  a.escrowed = s.escrowed;
  a.staked = s.staked;
  a.reputation = s.reputation;
  a.last_slashed_at = s.last_slashed_at;
  return Status::Ok();
}

Status Engine::RestoreMarket(const MarketState& s) {
  if (s.id >= kMaxMarkets) return BadRestore("market id too large", "id");
  std::string_view bad = InvalidMarketParamField(s.params);
  if (!bad.empty()) return BadRestore("bad market parameter", std::string(bad));
  if (Market(s.id) != nullptr) return BadRestore("duplicate market", "id");
  if (markets_.size() <= s.id) {
    markets_.resize(s.id + 1);
    books_.resize(s.id + 1);
  }
  markets_[s.id].exists = true;
  markets_[s.id].params = s.params;
  books_[s.id] = std::make_unique<OrderBook>(&offers_, &orders_);
  return Status::Ok();
}

Status Engine::RestoreOrder(const OrderState& s) {
  if (s.id <= restored_order_) return BadRestore("orders must come in increasing id order", "id");
  uint32_t ah = account_ids_.Find(s.account);
  if (ah == kNil || accounts_[ah].role != Role::kSequencer) {
    return BadRestore("order account is not a sequencer", "account");
  }
  if (Market(s.market) == nullptr) return BadRestore("unknown market", "market");
  if (s.redundancy < 1 || s.redundancy > kMaxRedundancy || s.verified < 0 ||
      s.verified > s.redundancy || s.max_price <= 0 || s.escrow_left < 0) {
    return BadRestore("order fields out of range", "id");
  }
  if (s.selection == Selection::kDirect && account_ids_.Find(s.direct_prover) == kNil) {
    return BadRestore("unknown direct prover", "direct_prover");
  }
  restored_order_ = s.id;
  uint32_t oh = orders_.Allocate();
  OrderRecord& o = orders_[oh];
  o.id = s.id;
  o.account = ah;
  o.sequencer = s.account;
  o.market = s.market;
  o.max_price = s.max_price;
  o.deadline = s.deadline;
  o.placed_at = s.placed_at;
  o.priority = s.priority;
  o.min_reputation = s.min_reputation;
  o.redundancy = s.redundancy;
  o.selection = s.selection;
  o.direct_prover = s.direct_prover;
  o.exclusive_until = s.exclusive_until;
  o.exclusive_ended = s.exclusive_ended;
  o.vrf_draws = s.vrf_draws;
  o.status = s.status;
  o.failure = s.failure;
  o.verified = s.verified;
  o.escrow_left = s.escrow_left;
  o.tree = s.tree;
  o.tree_node = s.tree_node;
  o.takeover = s.takeover;
  order_ids_.Insert(o.id, oh);
  return Status::Ok();
}

Status Engine::RestoreOffer(const OfferState& s) {
  if (s.id <= restored_offer_) return BadRestore("offers must come in increasing id order", "id");
  uint32_t ah = account_ids_.Find(s.prover);
  if (ah == kNil || accounts_[ah].role != Role::kProver) {
    return BadRestore("offer account is not a prover", "prover");
  }
  const MarketRecord* m = Market(s.market);
  if (m == nullptr) return BadRestore("unknown market", "market");
  if (s.capacity < 1 || s.capacity_left < 0 || s.capacity_left > s.capacity || s.price <= 0 ||
      s.est_ms < 0 || s.est_ms > kMaxDurationMs) {
    return BadRestore("offer fields out of range", "id");
  }
  restored_offer_ = s.id;
  uint32_t fh = offers_.Allocate();
  OfferRecord& f = offers_[fh];
  f.id = s.id;
  f.account = ah;
  f.prover = s.prover;
  f.market = s.market;
  f.price = s.price;
  f.est_ms = s.est_ms;
  f.effective_ms = EffectiveMs(s.est_ms, m->params.min_prover_time_ms);
  f.capacity = s.capacity;
  f.capacity_left = s.capacity_left;
  f.expires_at = s.expires_at;
  offer_ids_.Insert(f.id, fh);
  ListPushBack<OfferRecord, &OfferRecord::account_link>(offers_, accounts_[ah].offers, fh);
  Book(s.market).InsertOffer(fh, accounts_[ah].reputation);
  if (s.expires_at != 0) timers_.Push({s.expires_at, TimerKind::kOfferExpiry, s.id});
  return Status::Ok();
}

Status Engine::RestoreAssignment(const AssignmentState& s) {
  if (s.id <= restored_assignment_) {
    return BadRestore("assignments must come in increasing id order", "id");
  }
  uint32_t oh = order_ids_.Find(s.order);
  if (oh == kNil) return BadRestore("unknown order (restore orders first)", "order");
  uint32_t ph = account_ids_.Find(s.prover);
  if (ph == kNil || accounts_[ph].role != Role::kProver) {
    return BadRestore("assignment prover is not a prover", "prover");
  }
  if (s.market != orders_[oh].market) return BadRestore("market differs from order's", "market");
  restored_assignment_ = s.id;
  uint32_t ah = assignments_.Allocate();
  AssignmentRecord& a = assignments_[ah];
  a.id = s.id;
  a.order = oh;
  a.order_id = s.order;
  a.offer = s.offer;
  a.account = ph;
  a.prover = s.prover;
  a.market = s.market;
  a.price = s.price;
  a.assigned_at = s.assigned_at;
  a.due_at = s.due_at;
  a.status = s.status;
  assignment_ids_.Insert(a.id, ah);
  OrderRecord& o = orders_[oh];
  ListPushBack<AssignmentRecord, &AssignmentRecord::order_link>(assignments_, o.assignments, ah);
  if (IsLive(s.status)) {
    ++o.live;
    ListPushBack<AssignmentRecord, &AssignmentRecord::account_link>(
        assignments_, accounts_[ph].live_assignments, ah);
  }
  if (IsPendingLate(s.status)) ++o.pending_late;
  if (s.status == AssignmentStatus::kDeclinedUnprovable) ++o.unprovable_votes;
  if (s.status == AssignmentStatus::kAssigned) {
    timers_.Push({s.due_at, TimerKind::kAssignmentDue, s.id});
  }
  return Status::Ok();
}

Status Engine::RestoreTree(const TreeState& s) {
  if (s.id <= restored_tree_) return BadRestore("trees must come in increasing id order", "id");
  const uint32_t ah = AccountHandle(s.account);
  if (ah == kNil || accounts_[ah].role != Role::kSequencer) {
    return BadRestore("tree account is not a sequencer", "account");
  }
  if (Market(s.leaf_market) == nullptr || Market(s.merge_market) == nullptr) {
    return BadRestore("unknown market", "market");
  }
  if (s.leaves < 1 || s.leaves > kMaxTreeLeaves || s.reserve < 0 ||
      s.nodes.size() != static_cast<size_t>(TreeShape(s.leaves).nodes())) {
    return BadRestore("tree fields out of range", "id");
  }
  restored_tree_ = s.id;
  const uint32_t th = trees_.Allocate();
  trees_[th].state = s;
  tree_ids_.Insert(s.id, th);
  return Status::Ok();
}

Status Engine::SetIds(const EngineIds& ids) {
  if (ids.next_order <= restored_order_ || ids.next_offer <= restored_offer_ ||
      ids.next_assignment <= restored_assignment_ || ids.next_tree <= restored_tree_) {
    return BadRestore("next id not above every restored id", "ids");
  }
  next_order_ = ids.next_order;
  next_offer_ = ids.next_offer;
  next_assignment_ = ids.next_assignment;
  external_net_ = ids.external_net;
  next_tree_ = ids.next_tree;
  return Status::Ok();
}

Status Engine::FinishRestore() {
  for (uint32_t oh = 0; oh < orders_.slots(); ++oh) {
    if (!orders_.live(oh)) continue;
    OrderRecord& o = orders_[oh];
    if (o.status == OrderStatus::kOpen) {
      o.needed = o.redundancy - o.verified - o.live;
      if (o.needed < 0) return Inconsistent("order " + std::to_string(o.id) + " over-assigned");
      if (o.needed > 0) AddResting(oh);
    } else {
      o.needed = 0;
    }
    timers_.Push({o.deadline, TimerKind::kOrderDeadline, o.id});
    if (o.selection == Selection::kDirect && !o.exclusive_ended && o.tree == 0) {
      timers_.Push({o.exclusive_until, TimerKind::kExclusiveEnd, o.id});
    }
  }
  return CheckConsistency();
}

Status Engine::Restore(const Snapshot& s) {
  for (const AccountState& a : s.accounts) {
    if (Status st = RestoreAccount(a); !st.ok()) return st;
  }
  for (const MarketState& m : s.markets) {
    if (Status st = RestoreMarket(m); !st.ok()) return st;
  }
  for (const TreeState& t : s.trees) {
    if (Status st = RestoreTree(t); !st.ok()) return st;
  }
  for (const OrderState& o : s.orders) {
    if (Status st = RestoreOrder(o); !st.ok()) return st;
  }
  for (const OfferState& f : s.offers) {
    if (Status st = RestoreOffer(f); !st.ok()) return st;
  }
  for (const AssignmentState& a : s.assignments) {
    if (Status st = RestoreAssignment(a); !st.ok()) return st;
  }
  if (Status st = SetIds(s.ids); !st.ok()) return st;
  return FinishRestore();
}

// ---- Consistency --------------------------------------------------------------------------

Status Engine::CheckConsistency() const {
  Amount total = 0;
  std::vector<Amount> escrow_by_account(accounts_.slots(), 0);
  for (uint32_t h = 0; h < accounts_.slots(); ++h) {
    if (!accounts_.live(h)) continue;
    const AccountRecord& a = accounts_[h];
    if (a.available < 0 || a.escrowed < 0 || a.staked < 0) {
      return Inconsistent("negative balance on account " + std::to_string(a.id));
    }
    if (a.reputation < kMinReputation || a.reputation > kMaxReputation) {
      return Inconsistent("reputation out of range on account " + std::to_string(a.id));
    }
    total += a.available + a.escrowed + a.staked;
  }
  if (total != external_net_) {
    return Inconsistent("ledger: balances " + std::to_string(total) +
                        " != deposits - withdrawals " + std::to_string(external_net_));
  }
  std::vector<int32_t> live_by_offer(offers_.slots(), 0);
  for (uint32_t oh = 0; oh < orders_.slots(); ++oh) {
    if (!orders_.live(oh)) continue;
    const OrderRecord& o = orders_[oh];
    std::string which = "order " + std::to_string(o.id);
    escrow_by_account[o.account] += o.escrow_left;
    int32_t live = 0, late = 0, verified = 0, votes = 0;
    for (uint32_t h = o.assignments.head; h != kNil; h = assignments_[h].order_link.next) {
      const AssignmentRecord& a = assignments_[h];
      if (a.order != oh) return Inconsistent(which + ": assignment linked to another order");
      for (uint32_t g = assignments_[h].order_link.next; g != kNil;
           g = assignments_[g].order_link.next) {
        if (assignments_[g].prover == a.prover) return Inconsistent(which + ": prover twice");
      }
      if (IsLive(a.status)) {
        ++live;
        uint32_t fh = offer_ids_.Find(a.offer);
        if (fh != kNil) ++live_by_offer[fh];
      }
      if (IsPendingLate(a.status)) ++late;
      if (a.status == AssignmentStatus::kSettled) ++verified;
      if (a.status == AssignmentStatus::kDeclinedUnprovable) ++votes;
    }
    if (live != o.live || late != o.pending_late || verified != o.verified ||
        votes != o.unprovable_votes) {
      return Inconsistent(which + ": counters disagree with assignments");
    }
    if (o.status == OrderStatus::kOpen) {
      if (o.needed + o.live + o.verified != o.redundancy) {
        return Inconsistent(which + ": needed + live + verified != redundancy");
      }
      if (o.escrow_left < o.max_price * (o.needed + o.live)) {
        return Inconsistent(which + ": escrow below what open slots need");
      }
      if (o.resting != (o.needed > 0)) return Inconsistent(which + ": resting flag wrong");
    } else {
      if (o.needed != 0 || o.resting) return Inconsistent(which + ": closed order still wants");
      if (o.escrow_left != o.max_price * o.live) {
        return Inconsistent(which + ": closed order holds escrow beyond live assignments");
      }
      if (o.live == 0 && o.pending_late == 0) return Inconsistent(which + ": should be forgotten");
    }
  }
  for (uint32_t th = 0; th < trees_.slots(); ++th) {
    if (!trees_.live(th)) continue;
    const TreeState& t = trees_[th].state;
    const uint32_t ah = account_ids_.Find(t.account);
    if (ah == kNil || t.reserve < 0) return Inconsistent("tree " + std::to_string(t.id) + ": bad");
    escrow_by_account[ah] += t.reserve;
    const TreeShape shape(t.leaves);
    int32_t unplaced = 0;
    for (int32_t n = 0; n < shape.nodes(); ++n) {
      if (shape.IsMerge(n) && t.nodes[static_cast<size_t>(n)].order == 0) ++unplaced;
    }
    if (t.reserve != t.merge_price * unplaced) {
      return Inconsistent("tree " + std::to_string(t.id) + ": reserve != its unplaced merges");
    }
  }
  for (uint32_t h = 0; h < accounts_.slots(); ++h) {
    if (accounts_.live(h) && accounts_[h].escrowed != escrow_by_account[h]) {
      return Inconsistent("escrowed of account " + std::to_string(accounts_[h].id) +
                          " != its orders' escrow");
    }
  }
  for (uint32_t fh = 0; fh < offers_.slots(); ++fh) {
    if (!offers_.live(fh)) continue;
    const OfferRecord& f = offers_[fh];
    if (f.capacity_left < 0 || f.capacity_left + live_by_offer[fh] != f.capacity) {
      return Inconsistent("offer " + std::to_string(f.id) + ": capacity exceeded or leaked");
    }
    if (f.level == kNil) return Inconsistent("offer " + std::to_string(f.id) + ": not in book");
  }
  return Status::Ok();
}

}  // namespace proofbook::matching
