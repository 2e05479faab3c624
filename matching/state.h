// Engine state records as seen from outside: what the read API returns and what the restore
// API accepts (the same structs, so snapshot -> restore is a straight copy).
//
// Derived values (an order's live-assignment count, which orders rest, timers) are not part of
// the state: Engine::FinishRestore() recomputes them. Plain values; no thread rules.
#pragma once

#include <cstdint>
#include <vector>

#include "matching/command.h"
#include "matching/types.h"

namespace proofbook::matching {

struct AccountState {
  AccountId id = 0;
  Role role = Role::kSequencer;
  Amount available = 0;
  Amount escrowed = 0;
  Amount staked = 0;
  int32_t reputation = kInitialReputation;
  Timestamp last_slashed_at = 0;  // 0: never; for the repeat-offence rule
  bool operator==(const AccountState&) const = default;
};

struct MarketState {
  MarketId id = 0;
  MarketParams params;
  bool operator==(const MarketState&) const = default;
};

struct OrderState {
  OrderId id = 0;
  AccountId account = 0;
  MarketId market = 0;
  Amount max_price = 0;
  Timestamp deadline = 0;
  Timestamp placed_at = 0;
  Priority priority = Priority::kPrice;
  int32_t min_reputation = 0;
  int32_t redundancy = 1;
  Selection selection = Selection::kBest;
  AccountId direct_prover = 0;
  Timestamp exclusive_until = 0;  // kDirect: exclusive while now <= exclusive_until
  bool exclusive_ended = false;   // kExclusiveEnded was emitted
  uint32_t vrf_draws = 0;         // draws made so far: the next draw's attempt number
  OrderStatus status = OrderStatus::kOpen;
  Reason failure = Reason::kNone;  // kFailed: kBadInputs | kUnprovable
  int32_t verified = 0;            // proofs verified and paid in full
  Amount escrow_left = 0;          // still escrowed for this order
  // A node of a proof tree (PlaceTree): its tree, node index, and for a merge in its takeover
  // phase (kDirect to a child's prover) the other child's prover, next in line (0: none).
  TreeId tree = 0;
  int32_t tree_node = 0;
  AccountId takeover = 0;
  // Read-only (ignored by RestoreOrder): slots still wanted = redundancy - verified - live
  // assignments while open, else 0.
  int32_t needed = 0;
  bool operator==(const OrderState&) const = default;
};

struct OfferState {
  OfferId id = 0;
  AccountId prover = 0;
  MarketId market = 0;
  Amount price = 0;
  int64_t est_ms = 0;
  int32_t capacity = 1;
  int32_t capacity_left = 1;  // capacity - live assignments made from this offer
  Timestamp expires_at = 0;
  bool operator==(const OfferState&) const = default;
};

struct AssignmentState {
  AssignmentId id = 0;
  OrderId order = 0;
  OfferId offer = 0;  // may no longer exist (cancelled / expired offer)
  AccountId prover = 0;
  MarketId market = 0;
  Amount price = 0;
  Timestamp assigned_at = 0;
  Timestamp due_at = 0;
  AssignmentStatus status = AssignmentStatus::kAssigned;
  bool operator==(const AssignmentState&) const = default;
};

// One node of an open proof tree: its order (0: not placed yet, or a promotion) and, once
// proven, the prover whose proof it is (a promotion's is its child's).
struct TreeNodeState {
  OrderId order = 0;
  AccountId prover = 0;
  bool done = false;
  bool operator==(const TreeNodeState&) const = default;
};

// An open proof tree (PlaceTree's fields); the engine forgets a tree when it completes or fails.
struct TreeState {
  TreeId id = 0;
  AccountId account = 0;
  MarketId leaf_market = 0;
  MarketId merge_market = 0;
  int32_t leaves = 1;
  Amount leaf_price = 0;
  Amount merge_price = 0;
  Timestamp placed_at = 0;
  Timestamp deadline = 0;
  Priority priority = Priority::kPrice;
  int32_t min_reputation = 0;
  Selection leaf_selection = Selection::kBest;
  int32_t leaf_share_bps = 5000;
  Amount reserve = 0;                // escrowed for the merges not placed yet
  std::vector<TreeNodeState> nodes;  // TreeShape(leaves).nodes() of them
  bool operator==(const TreeState&) const = default;
};

// Counters that are not attached to any record.
struct EngineIds {
  OrderId next_order = 1;
  OfferId next_offer = 1;
  AssignmentId next_assignment = 1;
  Amount external_net = 0;  // deposits - withdrawals, == sum of all balances
  TreeId next_tree = 1;
  bool operator==(const EngineIds&) const = default;
};

// Everything the engine holds, each list sorted by id. Orders: every order still in memory
// (open, or closed with an assignment not yet terminal); assignments: every assignment of
// those orders, terminal ones included ("no prover twice on one order" needs them).
struct Snapshot {
  std::vector<AccountState> accounts;
  std::vector<MarketState> markets;
  std::vector<OrderState> orders;
  std::vector<OfferState> offers;
  std::vector<AssignmentState> assignments;
  std::vector<TreeState> trees;
  EngineIds ids;
  bool operator==(const Snapshot&) const = default;
};

// A market's book aggregated by price level, for GET /v1/markets/{id}/book.
struct OfferLevelView {
  Amount price = 0;
  int32_t offers = 0;
  int64_t capacity_left = 0;
};
struct OrderLevelView {
  Amount max_price = 0;
  int32_t orders = 0;
  int64_t slots = 0;  // proofs still wanted
};
struct MarketBook {
  std::vector<OfferLevelView> asks;  // price ascending
  std::vector<OrderLevelView> bids;  // max_price descending
};

}  // namespace proofbook::matching
