#include "matching/types.h"

namespace proofbook::matching {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kSequencer:
      return "sequencer";
    case Role::kProver:
      return "prover";
    case Role::kAdmin:
      return "admin";
    case Role::kTreasury:
      return "treasury";
  }
  return "unknown";
}

std::string_view ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kNone:
      return "none";
    case Reason::kInvalidArgument:
      return "invalid_argument";
    case Reason::kUnknownAccount:
      return "unknown_account";
    case Reason::kUnknownMarket:
      return "unknown_market";
    case Reason::kAlreadyExists:
      return "already_exists";
    case Reason::kNotFound:
      return "not_found";
    case Reason::kNotOwner:
      return "not_owner";
    case Reason::kConflict:
      return "conflict";
    case Reason::kWrongRole:
      return "wrong_role";
    case Reason::kInsufficientBalance:
      return "insufficient_balance";
    case Reason::kInsufficientStake:
      return "insufficient_stake";
    case Reason::kStakeLocked:
      return "stake_locked";
    case Reason::kDeadlineTooSoon:
      return "deadline_too_soon";
    case Reason::kDeadlinePassed:
      return "deadline_passed";
    case Reason::kProofTooLarge:
      return "proof_too_large";
    case Reason::kVrfUnavailable:
      return "vrf_unavailable";
    case Reason::kOverflow:
      return "overflow";
    case Reason::kCancelledByOwner:
      return "cancelled_by_owner";
    case Reason::kJailed:
      return "jailed";
    case Reason::kMissedDeadline:
      return "missed_deadline";
    case Reason::kInvalidProof:
      return "invalid_proof";
    case Reason::kDeclineWindowPassed:
      return "decline_window_passed";
    case Reason::kBusy:
      return "busy";
    case Reason::kUnprovable:
      return "unprovable";
    case Reason::kBadInputs:
      return "bad_inputs";
    case Reason::kVerifierFailed:
      return "verifier_failed";
  }
  return "unknown";
}

StatusCode ReasonStatusCode(Reason reason) {
  switch (reason) {
    case Reason::kNone:
      return StatusCode::kOk;
    case Reason::kInvalidArgument:
      return StatusCode::kInvalidArgument;
    case Reason::kNotFound:
      return StatusCode::kNotFound;
    case Reason::kNotOwner:
      return StatusCode::kForbidden;
    case Reason::kWrongRole:
      return StatusCode::kForbidden;
    case Reason::kAlreadyExists:
      return StatusCode::kConflict;
    case Reason::kConflict:
      return StatusCode::kConflict;
    case Reason::kStakeLocked:
      return StatusCode::kConflict;
    case Reason::kDeadlinePassed:
      return StatusCode::kConflict;
    case Reason::kDeclineWindowPassed:
      return StatusCode::kConflict;
    case Reason::kProofTooLarge:
      return StatusCode::kPayloadTooLarge;
    default:  // vrf_unavailable too: no VRF here is a standing refusal, not "retry later"

      return StatusCode::kUnprocessable;
  }
}

std::string_view BucketName(Bucket bucket) {
  switch (bucket) {
    case Bucket::kExternal:
      return "external";
    case Bucket::kAvailable:
      return "available";
    case Bucket::kEscrowed:
      return "escrowed";
    case Bucket::kStaked:
      return "staked";
  }
  return "unknown";
}

std::string_view TransferReasonName(TransferReason reason) {
  switch (reason) {
    case TransferReason::kDeposit:
      return "deposit";
    case TransferReason::kWithdrawal:
      return "withdrawal";
    case TransferReason::kEscrow:
      return "escrow";
    case TransferReason::kRelease:
      return "release";
    case TransferReason::kRefund:
      return "refund";
    case TransferReason::kStake:
      return "stake";
    case TransferReason::kUnstake:
      return "unstake";
    case TransferReason::kPayment:
      return "payment";
    case TransferReason::kFee:
      return "fee";
    case TransferReason::kSlashCompensation:
      return "slash_compensation";
    case TransferReason::kSlashTreasury:
      return "slash_treasury";
    case TransferReason::kUncleReward:
      return "uncle_reward";
    case TransferReason::kGriefingCompensation:
      return "griefing_compensation";
    case TransferReason::kUnprovableFee:
      return "unprovable_fee";
  }
  return "unknown";
}

std::string_view OrderStatusName(OrderStatus status) {
  switch (status) {
    case OrderStatus::kOpen:
      return "open";
    case OrderStatus::kCompleted:
      return "completed";
    case OrderStatus::kExpired:
      return "expired";
    case OrderStatus::kCancelled:
      return "cancelled";
    case OrderStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string_view AssignmentStatusName(AssignmentStatus status) {
  switch (status) {
    case AssignmentStatus::kAssigned:
      return "assigned";
    case AssignmentStatus::kDelivered:
      return "delivered";
    case AssignmentStatus::kSettled:
      return "settled";
    case AssignmentStatus::kLate:
      return "late";
    case AssignmentStatus::kLateDelivered:
      return "late_delivered";
    case AssignmentStatus::kUncled:
      return "uncled";
    case AssignmentStatus::kInvalid:
      return "invalid";
    case AssignmentStatus::kLapsed:
      return "lapsed";
    case AssignmentStatus::kDeclinedBusy:
      return "declined_busy";
    case AssignmentStatus::kDeclinedUnprovable:
      return "declined_unprovable";
    case AssignmentStatus::kReleased:
      return "released";
  }
  return "unknown";
}

}  // namespace proofbook::matching
