// Internal records of the engine, kept in ObjectPools and linked by uint32 handles.
// Not part of the public API (the read API returns the *State structs of state.h).
// Owned and mutated only by the engine thread.
#pragma once

#include <cstdint>

#include "matching/command.h"
#include "matching/object_pool.h"
#include "matching/state.h"
#include "matching/types.h"

namespace proofbook::matching {

struct AccountRecord {
  AccountId id = 0;
  Role role = Role::kSequencer;
  Amount available = 0;
  Amount escrowed = 0;
  Amount staked = 0;
  int32_t reputation = kInitialReputation;
  Timestamp last_slashed_at = 0;
  ListHead offers;            // OfferRecord::account_link, in id order
  ListHead live_assignments;  // AssignmentRecord::account_link: kAssigned | kDelivered
};

struct MarketRecord {
  bool exists = false;
  MarketParams params;
};

struct OfferRecord {
  OfferId id = 0;
  uint32_t account = kNil;  // handle of the prover
  AccountId prover = 0;
  MarketId market = 0;
  Amount price = 0;
  int64_t est_ms = 0;
  int64_t effective_ms = 0;
  int32_t capacity = 0;
  int32_t capacity_left = 0;
  Timestamp expires_at = 0;  // 0: never
  uint32_t level = kNil;     // OrderBook level handle
  Link level_link;
  Link account_link;
};

struct OrderRecord {
  OrderId id = 0;
  uint32_t account = kNil;  // handle of the sequencer
  AccountId sequencer = 0;
  MarketId market = 0;
  Amount max_price = 0;
  Timestamp deadline = 0;
  Timestamp placed_at = 0;
  Priority priority = Priority::kPrice;
  int32_t min_reputation = 0;
  int32_t redundancy = 1;
  Selection selection = Selection::kBest;
  AccountId direct_prover = 0;
  Timestamp exclusive_until = 0;
  bool exclusive_ended = false;
  uint32_t vrf_draws = 0;
  OrderStatus status = OrderStatus::kOpen;
  Reason failure = Reason::kNone;
  int32_t verified = 0;
  Amount escrow_left = 0;
  // Derived.
  int32_t unprovable_votes = 0;  // assignments kDeclinedUnprovable
  int32_t needed = 0;            // open: redundancy - verified - live; else 0
  int32_t live = 0;              // assignments kAssigned | kDelivered
  int32_t pending_late = 0;      // assignments kLate | kLateDelivered
  bool resting = false;          // in the market's resting-order index
  TreeId tree = 0;               // a proof tree's node (state.h OrderState)
  int32_t tree_node = 0;
  AccountId takeover = 0;
  ListHead assignments;  // AssignmentRecord::order_link, all states, id order
};

struct TreeRecord {
  TreeState state;  // nodes included; allocated once per tree
};

struct AssignmentRecord {
  AssignmentId id = 0;
  uint32_t order = kNil;
  OrderId order_id = 0;
  OfferId offer = 0;
  uint32_t account = kNil;  // handle of the prover
  AccountId prover = 0;
  MarketId market = 0;
  Amount price = 0;
  Timestamp assigned_at = 0;
  Timestamp due_at = 0;
  AssignmentStatus status = AssignmentStatus::kAssigned;
  Link order_link;
  Link account_link;
};

}  // namespace proofbook::matching
