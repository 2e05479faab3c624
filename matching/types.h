// Value types shared by the engine's commands, events and state: ids, money, enums, limits.
//
// Money is int64 base units (`Amount`), reputation and fractions are integer basis points,
// time is int64 milliseconds supplied by the caller (`Timestamp`). Nothing here has thread
// rules: these are plain values.
//
// Id rules (see README.md):
//  - AccountId: chosen by the caller (the server's primary key), >= 0. Id 0 is the treasury,
//    which every Engine creates itself.
//  - MarketId: a small index chosen by the caller (< kMaxMarkets); the server keeps the slug.
//  - OrderId, OfferId, AssignmentId: assigned by the engine, per kind, starting at 1 and
//    strictly increasing; never reused.
#pragma once

#include <cstdint>
#include <string_view>

#include "matching/status.h"

namespace proofbook::matching {

using Amount = int64_t;     // base units
using Timestamp = int64_t;  // milliseconds, caller's clock
using AccountId = int64_t;
using OrderId = int64_t;
using OfferId = int64_t;
using AssignmentId = int64_t;
using MarketId = uint32_t;

inline constexpr AccountId kTreasuryAccountId = 0;
inline constexpr int32_t kBps = 10000;  // 100% in basis points

// Limits, named where set. They keep every product below in int64 range.
inline constexpr MarketId kMaxMarkets = 1 << 16;                    // markets are a dense vector
inline constexpr int32_t kMaxRedundancy = 16;                       // k distinct provers per order
inline constexpr int32_t kMaxCapacity = 1 << 16;                    // jobs at once per offer
inline constexpr int64_t kMaxDurationMs = 30LL * 24 * 3600 * 1000;  // 30 days
inline constexpr int32_t kMaxGraceBps = 10 * kBps;  // due time at most 11x the estimate
inline constexpr int32_t kMaxVrfCandidates = 32;    // published with each vrf assignment

// Reputation (basis points). Simple integer rules: start in the middle, a settled proof
// earns a little, a slash costs a lot, so one miss undoes twenty good jobs.
inline constexpr int32_t kMinReputation = 0;
inline constexpr int32_t kMaxReputation = kBps;
inline constexpr int32_t kInitialReputation = 5000;
inline constexpr int32_t kReputationGainOnSettled = 25;
inline constexpr int32_t kReputationLossOnSlash = 500;

enum class Role : uint8_t { kSequencer, kProver, kAdmin, kTreasury };
enum class Priority : uint8_t { kPrice, kTime };
enum class Selection : uint8_t { kBest, kDirect, kVrf };

enum class OrderStatus : uint8_t {
  kOpen,       // still wants proofs (resting and/or assigned)
  kCompleted,  // k proofs verified
  kExpired,    // deadline passed, or no eligible prover left after a miss
  kCancelled,  // by its sequencer, before any live assignment
};

enum class AssignmentStatus : uint8_t {
  kAssigned,       // prover working; due at due_at
  kDelivered,      // proof delivered on time, awaiting the verifier
  kSettled,        // verified and paid (terminal)
  kLate,           // missed its due time and was slashed; may still deliver until the
                   // order's deadline for the uncle reward
  kLateDelivered,  // late proof delivered, awaiting the verifier
  kUncled,         // late proof verified, uncle reward paid (terminal)
  kInvalid,        // proof rejected (terminal)
  kLapsed,         // late and the order's deadline passed (terminal)
};

// Where money sits. kExternal is the outside world: deposits come from it, withdrawals go to
// it, so sum(all balances) == sum(deposits) - sum(withdrawals) is checkable from transfers.
enum class Bucket : uint8_t { kExternal, kAvailable, kEscrowed, kStaked };

enum class TransferReason : uint8_t {
  kDeposit,
  kWithdrawal,
  kEscrow,   // sequencer available -> escrowed at order placement
  kRelease,  // unused escrow back to the sequencer when its order completes
  kRefund,   // unspent escrow back on expiry or cancel
  kStake,
  kUnstake,
  kPayment,            // escrow -> prover, price less fee
  kFee,                // escrow -> treasury
  kSlashCompensation,  // prover stake -> wronged sequencer
  kSlashTreasury,      // prover stake -> treasury
  kUncleReward,        // treasury -> prover, for a valid late proof
};

// Why something was refused or happened. Stable snake_case names via ReasonName().
enum class Reason : uint8_t {
  kNone,
  // Rejections.
  kInvalidArgument,
  kUnknownAccount,
  kUnknownMarket,
  kAlreadyExists,
  kNotFound,
  kNotOwner,
  kConflict,
  kWrongRole,
  kInsufficientBalance,
  kInsufficientStake,
  kStakeLocked,
  kDeadlineTooSoon,
  kDeadlinePassed,
  kProofTooLarge,
  kVrfUnavailable,
  kOverflow,
  // Causes carried by non-rejection events.
  kCancelledByOwner,
  kJailed,
  kMissedDeadline,
  kInvalidProof,
};

struct MarketParams {
  Amount min_stake = 0;
  int32_t slash_bps = 0;
  int32_t compensation_bps = 0;  // share of a slash paid to the wronged sequencer
  int32_t fee_bps = 0;
  int64_t min_prover_time_ms = 0;
  int32_t grace_bps = 0;
  int32_t uncle_reward_bps = 0;  // of the assignment's price, paid by the treasury
  int64_t max_proof_bytes = 0;
  bool operator==(const MarketParams&) const = default;
};

std::string_view RoleName(Role role);
std::string_view ReasonName(Reason reason);
std::string_view BucketName(Bucket bucket);
std::string_view TransferReasonName(TransferReason reason);
std::string_view OrderStatusName(OrderStatus status);
std::string_view AssignmentStatusName(AssignmentStatus status);

// The HTTP-facing code for a rejection reason (kUnprocessable for business rules).
StatusCode ReasonStatusCode(Reason reason);

}  // namespace proofbook::matching
