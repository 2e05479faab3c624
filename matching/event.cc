#include "matching/event.h"

#include <string>

namespace proofbook::matching {

std::string_view CommandKindName(CommandKind kind) {
  switch (kind) {
    case CommandKind::kCreateAccount:
      return "create_account";
    case CommandKind::kDeposit:
      return "deposit";
    case CommandKind::kWithdraw:
      return "withdraw";
    case CommandKind::kStake:
      return "stake";
    case CommandKind::kUnstake:
      return "unstake";
    case CommandKind::kCreateMarket:
      return "create_market";
    case CommandKind::kPlaceOrder:
      return "place_order";
    case CommandKind::kCancelOrder:
      return "cancel_order";
    case CommandKind::kPlaceOffer:
      return "place_offer";
    case CommandKind::kCancelOffer:
      return "cancel_offer";
    case CommandKind::kProofDelivered:
      return "proof_delivered";
    case CommandKind::kProofVerified:
      return "proof_verified";
    case CommandKind::kProofRejected:
      return "proof_rejected";
    case CommandKind::kTick:
      return "tick";
    case CommandKind::kInputsRejected:
      return "inputs_rejected";
    case CommandKind::kVerificationFailed:
      return "verification_failed";
    case CommandKind::kDeclineAssignment:
      return "decline_assignment";
    case CommandKind::kPlaceTree:
      return "place_tree";
  }
  return "unknown";
}

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kAccepted:
      return "accepted";
    case EventKind::kRejected:
      return "rejected";
    case EventKind::kTransfer:
      return "transfer";
    case EventKind::kVrfCandidate:
      return "vrf_candidate";
    case EventKind::kAssigned:
      return "assigned";
    case EventKind::kReassigned:
      return "reassigned";
    case EventKind::kOrderRested:
      return "order_rested";
    case EventKind::kOfferRested:
      return "offer_rested";
    case EventKind::kProofDelivered:
      return "proof_delivered";
    case EventKind::kSettled:
      return "settled";
    case EventKind::kUncleRewarded:
      return "uncle_rewarded";
    case EventKind::kProofRejected:
      return "proof_rejected";
    case EventKind::kSlashed:
      return "slashed";
    case EventKind::kReputationChanged:
      return "reputation_changed";
    case EventKind::kJailed:
      return "jailed";
    case EventKind::kOfferCancelled:
      return "offer_cancelled";
    case EventKind::kOfferExpired:
      return "offer_expired";
    case EventKind::kOrderCompleted:
      return "order_completed";
    case EventKind::kOrderExpired:
      return "order_expired";
    case EventKind::kOrderCancelled:
      return "order_cancelled";
    case EventKind::kExclusiveEnded:
      return "exclusive_ended";
    case EventKind::kAssignmentLapsed:
      return "assignment_lapsed";
    case EventKind::kDueExtended:
      return "due_extended";
    case EventKind::kDeclined:
      return "declined";
    case EventKind::kReleased:
      return "released";
    case EventKind::kOrderFailed:
      return "order_failed";
    case EventKind::kTreeNodePlaced:
      return "tree_node_placed";
    case EventKind::kTreeNodeProven:
      return "tree_node_proven";
    case EventKind::kMergeTakeover:
      return "merge_takeover";
    case EventKind::kTreeCompleted:
      return "tree_completed";
    case EventKind::kTreeFailed:
      return "tree_failed";
  }
  return "unknown";
}

Status RejectionStatus(const Event& event) {
  if (event.kind != EventKind::kRejected) return Status::Ok();
  std::string message(CommandKindName(event.command));
  message += " rejected: ";
  message += ReasonName(event.reason);
  Status status(ReasonStatusCode(event.reason), std::move(message), std::string(event.field));
  return std::move(status).WithReason(std::string(ReasonName(event.reason)));
}

std::string EventToString(const Event& e) {
  std::string s(EventKindName(e.kind));
  auto add = [&s](const char* name, int64_t v) {
    if (v == 0) return;
    s += ' ';
    s += name;
    s += '=';
    s += std::to_string(v);
  };
  s += " cmd=";
  s += CommandKindName(e.command);
  add("ref", static_cast<int64_t>(e.ref));
  add("now", e.now);
  if (e.reason != Reason::kNone) {
    s += " reason=";
    s += ReasonName(e.reason);
  }
  if (!e.field.empty()) {
    s += " field=";
    s += e.field;
  }
  if (e.kind == EventKind::kTransfer) {
    s += " ";
    s += std::to_string(e.account) + "." + std::string(BucketName(e.from_bucket)) + "->" +
         std::to_string(e.to_account) + "." + std::string(BucketName(e.to_bucket)) + " " +
         std::string(TransferReasonName(e.transfer_reason));
  } else {
    add("account", e.account);
  }
  add("market", e.market);
  add("order", e.order);
  add("offer", e.offer);
  add("assignment", e.assignment);
  add("tree", e.tree);
  add("amount", e.amount);
  add("value", e.value);
  return s;
}

}  // namespace proofbook::matching
