// Event: one outcome of a command, a flat trivially copyable value (so the journal can copy it
// through the SPSC ring and write it as a row).
//
// Rules:
//  - Every command except Tick produces exactly one kAccepted or kRejected event, first.
//  - Every money movement is one kTransfer event (double entry: `account`/`from_bucket` ->
//    `to_account`/`to_bucket`, `amount` > 0, `transfer_reason`, and the order/assignment it
//    belongs to). Zero amounts are never emitted.
//  - `ref` and `now` are copied from the command that caused the event, Tick included.
//  - Unused fields are zero / kNone.
//
// Field use per kind (besides ref, now, command):
//  kAccepted          subject ids: account (CreateAccount, money commands), market
//                     (CreateMarket), order (PlaceOrder/CancelOrder, new id for PlaceOrder),
//                     offer (PlaceOffer/CancelOffer, new id), assignment (proof commands)
//  kRejected          reason, field (input at fault or empty), plus the subject ids known
//  kTransfer          account -> to_account, from_bucket -> to_bucket, amount, transfer_reason,
//                     order, assignment (when the money belongs to one)
//  kVrfCandidate      order, offer, account (prover), market, value (weight), amount (the
//                     attempt number of the round's first draw); a vrf order's candidate
//                     list, in rank order, right before the round's kAssigned/kReassigned
//                     (one per draw: draw attempt, attempt + 1, ... pick among those left)
//  kAssigned          order, offer, assignment, account (prover), market, amount (price),
//                     value (due_at)
//  kReassigned        as kAssigned, when an order is re-matched after a miss / invalid proof
//  kOrderRested       order, account (sequencer), market, value (slots still wanted)
//  kOfferRested       offer, account (prover), market, amount (price), value (capacity left)
//  kProofDelivered    assignment, order, account (prover), value (1 if late)
//  kSettled           assignment, order, account (prover), amount (price)
//  kUncleRewarded     assignment, order, account (prover), amount (reward actually paid)
//  kProofRejected     assignment, order, account (prover)
//  kSlashed           assignment, order, account (prover), market, amount (slashed),
//                     reason (kMissedDeadline | kInvalidProof), value (1 if a repeat offence)
//  kReputationChanged account, value (new reputation, bps)
//  kJailed            account, market, value (stake left, below the market's min_stake)
//  kOfferCancelled    offer, account, market, reason (kCancelledByOwner | kJailed |
//                     kInsufficientStake)
//  kOfferExpired      offer, account, market
//  kOrderCompleted    order, account (sequencer)
//  kOrderExpired      order, account
//  kOrderCancelled    order, account
//  kExclusiveEnded    order, account; a direct order's window is over, now open to best
//  kAssignmentLapsed  assignment, order, account (prover); a late assignment's window closed
//  kDueExtended       assignment, order, account (prover), market, value (new due_at); an
//                     outage took part of its window (Tick::outage_since)
//  kDeclined          assignment, order, account (prover), market, reason (kBusy |
//                     kUnprovable), value (distinct provers that called the order unprovable)
//  kReleased          assignment, order, account (prover), market, reason (kVerifierFailed |
//                     kBadInputs | kUnprovable); closed without a slash
//  kOrderFailed       order, account (sequencer), market, reason (kBadInputs | kUnprovable)
//  kTreeNodePlaced    tree, order (the node's new order), account (sequencer), market,
//                     amount (max price), value (node index, tree_shape.h)
//  kTreeNodeProven    tree, order (the node's; 0 for a promotion), account (the prover whose
//                     proof it is), value (node index); a promotion follows its child's
//  kMergeTakeover     tree, order, account (the prover a merge now goes to; 0: the open
//                     market), market, value (node index); its drawn prover could not or did
//                     not prove it
//  kTreeCompleted     tree, account (sequencer); the root is proven
//  kTreeFailed        tree, account (sequencer), order (the node that failed it), reason
//                     (kDeadlinePassed: it expired | kBadInputs | kUnprovable)
// kAccepted of PlaceTree, the tree events above and the tree's own transfers (its escrow, the
// refund of its unplaced merges) carry `tree`; a node's order events do not (kTreeNodePlaced
// ties the order to its tree).
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "matching/command.h"
#include "matching/types.h"

namespace proofbook::matching {

enum class EventKind : uint8_t {
  kAccepted,
  kRejected,
  kTransfer,
  kVrfCandidate,
  kAssigned,
  kReassigned,
  kOrderRested,
  kOfferRested,
  kProofDelivered,
  kSettled,
  kUncleRewarded,
  kProofRejected,
  kSlashed,
  kReputationChanged,
  kJailed,
  kOfferCancelled,
  kOfferExpired,
  kOrderCompleted,
  kOrderExpired,
  kOrderCancelled,
  kExclusiveEnded,
  kAssignmentLapsed,
  kDueExtended,
  kDeclined,
  kReleased,
  kOrderFailed,
  kTreeNodePlaced,
  kTreeNodeProven,
  kMergeTakeover,
  kTreeCompleted,
  kTreeFailed,
};

struct Event {
  EventKind kind = EventKind::kAccepted;
  CommandKind command = CommandKind::kTick;  // the command that caused it
  Reason reason = Reason::kNone;
  Bucket from_bucket = Bucket::kExternal;                     // kTransfer
  Bucket to_bucket = Bucket::kExternal;                       // kTransfer
  TransferReason transfer_reason = TransferReason::kDeposit;  // kTransfer
  MarketId market = 0;
  uint64_t ref = 0;
  Timestamp now = 0;
  AccountId account = 0;
  AccountId to_account = 0;  // kTransfer
  OrderId order = 0;
  OfferId offer = 0;
  AssignmentId assignment = 0;
  TreeId tree = 0;
  Amount amount = 0;
  int64_t value = 0;
  std::string_view field;  // kRejected: points at a string literal, never freed

  bool operator==(const Event&) const = default;
};

static_assert(std::is_trivially_copyable_v<Event>, "Event travels through rings by copy");

std::string_view EventKindName(EventKind kind);

// A rejection as a Status for the wire: code from ReasonStatusCode, wire_code() the reason.
Status RejectionStatus(const Event& event);

// One line, for logs and test failure messages.
std::string EventToString(const Event& event);

}  // namespace proofbook::matching
