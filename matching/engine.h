// Engine: the proof market's matching engine. Holds every account balance, market, order book,
// open order, offer and assignment, and the deadline timers; applies one Command at a time and
// reports what happened as Events.
//
// Thread rules: not thread-safe. One thread (the engine thread) owns an Engine and calls
// everything on it; the rings (spsc_ring.h, mpsc_ring.h) carry commands in and events out.
// Determinism: no clocks, no randomness, no I/O. The same sequence of commands (with their
// `now`) gives the same events, byte for byte; a restored engine continues identically.
//
// Invariants, true after every Apply (CheckConsistency() verifies them, O(size)):
//  - sum of available + escrowed + staked over all accounts (treasury included)
//    == deposits - withdrawals (EngineIds::external_net); no balance is negative;
//  - a sequencer's escrowed == sum of escrow_left over its orders;
//  - an offer's capacity_left == capacity - its live assignments >= 0;
//  - no prover appears twice among one order's assignments;
//  - an open order: needed + live + verified == redundancy; a closed one keeps exactly
//    max_price per live assignment in escrow.
//
// Steady state does not allocate: records live in pools, ids map through FlatIdMap, events go
// to a reused buffer. Capacity grows (and allocates) only past the previous high-water mark.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "matching/command.h"
#include "matching/draw_source.h"
#include "matching/event.h"
#include "matching/flat_id_map.h"
#include "matching/object_pool.h"
#include "matching/order_book.h"
#include "matching/receipt_source.h"
#include "matching/records.h"
#include "matching/state.h"
#include "matching/status.h"
#include "matching/timer_queue.h"
#include "matching/types.h"

namespace proofbook::matching {

struct EngineOptions {
  // Initial sizes: the id maps are made this big, and the pools and the timer heap get room in
  // their chunk indexes; they grow on demand, a chunk of 4096 records at a time (one
  // allocation each, never a copy), so only what is used is touched.
  size_t accounts = 1024;
  size_t orders = 4096;
  size_t offers = 16384;
  size_t assignments = 16384;
  size_t events = 256;
  // The randomness of vrf orders (draw_source.h); not owned, must outlive the engine. Null:
  // vrf orders are rejected vrf_unavailable.
  DrawSource* draws = nullptr;
  // Proofs received and not yet delivered (receipt_source.h); not owned. Null: none.
  const ReceiptSource* receipts = nullptr;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Applies one command. The returned span points into an internal buffer, valid until the
  // next call to Apply (or any restore call).
  std::span<const Event> Apply(const Command& command);

  // ---- Recovery -------------------------------------------------------------------------
  // Rebuild from persisted state into a freshly constructed Engine, producing no events:
  // RestoreAccount / RestoreMarket (any order), then RestoreOrder, RestoreOffer,
  // RestoreAssignment (each in increasing id order; an assignment after its order), then
  // SetIds, then FinishRestore(), which rebuilds the books, derived counters and timers and
  // returns CheckConsistency(). Until FinishRestore() returns ok, do not Apply.
  // RestoreAccount with id 0 replaces the treasury's balances.
  Status RestoreAccount(const AccountState& account);
  Status RestoreMarket(const MarketState& market);
  Status RestoreOrder(const OrderState& order);
  Status RestoreOffer(const OfferState& offer);
  Status RestoreAssignment(const AssignmentState& assignment);
  Status RestoreTree(const TreeState& tree);  // before its nodes' orders
  Status SetIds(const EngineIds& ids);
  Status FinishRestore();
  // All of the above from one snapshot.
  Status Restore(const Snapshot& snapshot);

  // Verifies the invariants listed above. O(size of the engine).
  Status CheckConsistency() const;

  // ---- Read API -------------------------------------------------------------------------
  std::optional<AccountState> GetAccount(AccountId id) const;
  std::optional<MarketState> GetMarket(MarketId id) const;
  std::optional<OrderState> GetOrder(OrderId id) const;
  std::vector<AssignmentState> GetOrderAssignments(OrderId id) const;  // id order
  std::optional<OfferState> GetOffer(OfferId id) const;
  std::optional<AssignmentState> GetAssignment(AssignmentId id) const;
  // Open assignments (kAssigned | kDelivered) of a prover, e.g. to resend on reconnect.
  std::vector<AssignmentState> GetLiveAssignments(AccountId prover) const;
  std::optional<MarketBook> GetBook(MarketId id) const;
  std::optional<TreeState> GetTree(TreeId id) const;  // open trees only
  EngineIds GetIds() const;
  Snapshot GetSnapshot() const;  // everything, sorted by id; allocates

 private:
  // Command handlers.
  void DoCreateAccount(const CreateAccount& c);
  void DoDeposit(const Deposit& c);
  void DoWithdraw(const Withdraw& c);
  void DoStake(const Stake& c);
  void DoUnstake(const Unstake& c);
  void DoCreateMarket(const CreateMarket& c);
  void DoPlaceOrder(const PlaceOrder& c);
  void DoCancelOrder(const CancelOrder& c);
  void DoPlaceOffer(const PlaceOffer& c);
  void DoCancelOffer(const CancelOffer& c);
  void DoProofDelivered(const ProofDelivered& c);
  void DoProofVerified(const ProofVerified& c);
  void DoProofRejected(const ProofRejected& c);
  void DoTick(const Tick& c);
  void DoInputsRejected(const InputsRejected& c);
  void DoVerificationFailed(const VerificationFailed& c);
  void DoDeclineAssignment(const DeclineAssignment& c);
  void DoPlaceTree(const PlaceTree& c);
  // A delivered proof that got no verdict on itself: the order's inputs are bad (kBadInputs,
  // the sequencer's fault) or no verdict could be had (kVerifierFailed, nobody's).
  void CloseUnjudged(AssignmentId id, Reason why);
  void ExtendDueTimesAfterOutage(Timestamp since);
  // The delivered (on time or late) assignment a verdict is about, with the subject ids set;
  // kNil once the verdict is rejected (not_found, or conflict when nothing awaits a verdict).
  uint32_t DeliveredForVerdict(AssignmentId id);

  // Event emission.
  Event& Emit(EventKind kind);
  // An event about an assignment: its id, order, prover and market filled in.
  Event& EmitFor(EventKind kind, const AssignmentRecord& a);
  // Accepted / Rejected carry the ids in subject_ (set by the handler as it learns them).
  void Accept();
  void Reject(Reason reason, std::string_view field);
  Amount& Balance(uint32_t account, Bucket bucket);
  void Transfer(uint32_t from, Bucket from_bucket, uint32_t to, Bucket to_bucket, Amount amount,
                TransferReason reason, OrderId order = 0, AssignmentId assignment = 0);

  // Matching.
  bool OfferEligibleForOrder(const OrderRecord& order, const OfferRecord& offer) const;
  uint32_t FindBestOffer(uint32_t order);
  uint32_t FindBestOfferWeighted(uint32_t order, int32_t weight_bps);
  // Fills as many of the order's wanted slots as it can; returns how many.
  int32_t MatchOrder(uint32_t order, EventKind kind);
  int32_t MatchOrderVrf(uint32_t order, EventKind kind);
  int64_t CandidateWeight(const OfferRecord& offer) const;
  void EmitCandidate(const OrderRecord& order, const OfferRecord& offer, int64_t weight);
  uint64_t NextDraw(OrderRecord& order);  // asks draws_ for the order's next attempt
  // A resting (or freed) offer takes the best resting orders it is eligible for.
  void OfferTakesOrders(uint32_t offer);
  uint32_t Assign(uint32_t order, uint32_t offer, Amount price, EventKind kind);
  void AddResting(uint32_t order);
  void RemoveResting(uint32_t order);

  // A new open order from validated fields (escrow_left = max_price * redundancy, no transfer),
  // its timers set; MatchNewOrder then matches it and rests what is left.
  uint32_t NewOrder(const PlaceOrder& c);
  void MatchNewOrder(uint32_t order);
  void RestOrder(uint32_t order);  // into the book, kOrderRested

  // Proof trees (tree_shape.h).
  uint32_t PlaceTreeNode(uint32_t tree, int32_t node, MarketId market, Amount max_price,
                         Timestamp deadline, Selection selection);
  // A node's order completed: record its prover, promote and place merges upwards.
  void TreeNodeProven(TreeId tree, int32_t node, AccountId prover);
  void PlaceMerge(uint32_t tree, int32_t node, AccountId left, AccountId right);
  // A merge in its takeover phase found nobody to assign: the next child's prover, or the
  // open market.
  void AdvanceTakeover(uint32_t order);
  bool InTakeover(const OrderRecord& o) const {
    return o.tree != 0 && o.selection == Selection::kDirect && !o.exclusive_ended;
  }
  // A node's order closed (`reason`: why): unless it completed or holds a proof delivered in
  // time still awaiting its verdict (which may yet prove the node), the tree fails.
  void TreeNodeClosed(uint32_t order, Reason reason);
  // The tree of `node` fails (once).
  void TreeNodeFailed(const OrderRecord& node, Reason reason);
  void EndTree(uint32_t tree);  // refunds its reserve, forgets it

  // Lifecycle.
  void FailAssignment(uint32_t assignment, Reason reason);
  void SettleAssignment(uint32_t assignment);
  void RewardUncle(uint32_t assignment);
  void FreeCapacity(OfferId offer_id);
  void Slash(uint32_t assignment, Reason reason);
  void ChangeReputation(uint32_t account, int32_t delta);
  void PullOffersBelowStake(uint32_t account, Reason reason);
  void RemoveOffer(uint32_t offer);
  void ExpireOrder(uint32_t order);
  // Closes a live assignment through no fault of its prover's (no slash): kReleased, capacity
  // freed (the offer is queued in freed_offers_ to take other orders once the caller is done),
  // and for kBadInputs the market's griefing compensation paid from the order's escrow.
  void Release(uint32_t assignment, Reason reason);
  // Closes a late assignment's window early (its order is done): kReleased.
  void ReleaseLate(uint32_t assignment, Reason reason);
  // The order fails through its sequencer's fault (kBadInputs | kUnprovable): every live
  // assignment released, late ones lapsed, decliners paid (kUnprovable), the rest refunded.
  void FailOrder(uint32_t order, Reason reason);
  // An open order lost a slot without a miss (decline, release): hand it on or rest.
  void RematchOrRest(uint32_t order);
  // Freed offers take resting orders, in the order they were freed.
  void DrainFreedOffers();
  bool HasDeliveredProof(uint32_t order) const;
  // A busy decline: the offer backs one job fewer (removed at zero).
  void ShrinkOffer(OfferId offer_id);
  void SettleEscrow(uint32_t order);
  void MaybeForgetOrder(uint32_t order);
  void ProcessTimer(const Timer& timer);
  // The order's deadline passed: its late assignments lapse (kAssignmentLapsed).
  void LapseLateAssignments(uint32_t order);

  // Lookups; kNil when absent.
  uint32_t AccountHandle(AccountId id) const { return account_ids_.Find(id); }
  const MarketRecord* Market(MarketId id) const;
  OrderBook& Book(MarketId id) { return *books_[id]; }
  Amount LockedStake(uint32_t account) const;
  int32_t Reputation(uint32_t account) const { return accounts_[account].reputation; }

  OrderState ToState(const OrderRecord& o) const;
  OfferState ToState(const OfferRecord& o) const;
  AssignmentState ToState(const AssignmentRecord& a) const;
  AccountState ToState(const AccountRecord& a) const;

  // Owned by the engine thread.
  ObjectPool<AccountRecord> accounts_;
  ObjectPool<OrderRecord> orders_;
  ObjectPool<OfferRecord> offers_;
  ObjectPool<AssignmentRecord> assignments_;
  ObjectPool<TreeRecord> trees_;
  FlatIdMap tree_ids_{64};
  FlatIdMap account_ids_;
  FlatIdMap order_ids_;
  FlatIdMap offer_ids_;
  FlatIdMap assignment_ids_;
  std::vector<MarketRecord> markets_;              // by MarketId
  std::vector<std::unique_ptr<OrderBook>> books_;  // by MarketId
  TimerQueue timers_;
  uint32_t treasury_ = kNil;
  OrderId next_order_ = 1;
  OfferId next_offer_ = 1;
  AssignmentId next_assignment_ = 1;
  TreeId next_tree_ = 1;
  Amount external_net_ = 0;  // deposits - withdrawals

  // Per-command context.
  std::vector<Event> events_;  // reused; Apply's result
  uint64_t ref_ = 0;
  Timestamp now_ = 0;
  CommandKind command_ = CommandKind::kTick;
  Event subject_;  // ids the current command is about

  // Restore: last id restored per kind, so out-of-order input is refused.
  OrderId restored_order_ = 0;
  OfferId restored_offer_ = 0;
  AssignmentId restored_assignment_ = 0;
  TreeId restored_tree_ = 0;

  // Scratch for vrf selection, reused.
  std::vector<uint32_t> candidates_;
  std::vector<int64_t> weights_;
  DrawSource* draws_;              // may be null (EngineOptions::draws)
  const ReceiptSource* receipts_;  // may be null (EngineOptions::receipts)
  // Offers whose capacity a release freed during the current command (DrainFreedOffers).
  std::vector<OfferId> freed_offers_;
};

}  // namespace proofbook::matching
