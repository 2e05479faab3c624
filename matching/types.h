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
//  - OrderId, OfferId, AssignmentId, TreeId: assigned by the engine, per kind, starting at 1 and
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
using TreeId = int64_t;

inline constexpr AccountId kTreasuryAccountId = 0;
inline constexpr int32_t kBps = 10000;  // 100% in basis points

// Limits, named where set. They keep every product below in int64 range.
inline constexpr MarketId kMaxMarkets = 1 << 16;                    // markets are a dense vector
inline constexpr int32_t kMaxRedundancy = 16;                       // k distinct provers per order
inline constexpr int32_t kMaxCapacity = 1 << 16;                    // jobs at once per offer
inline constexpr int64_t kMaxDurationMs = 30LL * 24 * 3600 * 1000;  // 30 days
inline constexpr int32_t kMaxGraceBps = 10 * kBps;      // due time at most 11x the estimate
inline constexpr int32_t kMaxTreeLeaves = 4096;         // leaves per proof tree
inline constexpr int32_t kMaxVrfCandidates = 32;        // published with each vrf assignment
inline constexpr int32_t kMaxVrfTurnsCandidates = 256;  // the same, in a vrf_turns market
// A slash is at most this multiple of the job's price (before the repeat-offence doubling).
inline constexpr int32_t kMaxSlashMultiplierBps = 100 * kBps;

// Reputation (basis points). Simple integer rules: start in the middle, a settled proof
// earns a little, a slash costs a lot, so one miss undoes twenty good jobs.
inline constexpr int32_t kMinReputation = 0;
inline constexpr int32_t kMaxReputation = kBps;
inline constexpr int32_t kInitialReputation = 5000;
inline constexpr int32_t kReputationGainOnSettled = 25;
inline constexpr int32_t kReputationLossOnSlash = 500;
// A `busy` decline inside the market's decline window: no stake, a small reputation cost
// (four busy declines cost what one settled job earns).
inline constexpr int32_t kReputationLossOnBusyDecline = 5;

enum class Role : uint8_t { kSequencer, kProver, kAdmin, kTreasury };
enum class Priority : uint8_t { kPrice, kTime };
enum class Selection : uint8_t { kBest, kDirect, kVrf };

enum class OrderStatus : uint8_t {
  kOpen,       // still wants proofs (resting and/or assigned)
  kCompleted,  // k proofs verified
  kExpired,    // deadline passed, or no eligible prover left after a miss
  kCancelled,  // by its sequencer, before any live assignment
  kFailed,     // the sequencer's statement was at fault: OrderState::failure says how
               // (kBadInputs: the verifier refused its inputs; kUnprovable: a quorum of
               // provers declined it as unprovable). No prover was slashed for it.
};

enum class AssignmentStatus : uint8_t {
  kAssigned,            // prover working; due at due_at
  kDelivered,           // proof delivered on time, awaiting the verifier
  kSettled,             // verified and paid (terminal)
  kLate,                // missed its due time and was slashed; may still deliver until the
                        // order's deadline for the uncle reward
  kLateDelivered,       // late proof delivered, awaiting the verifier
  kUncled,              // late proof verified, uncle reward paid (terminal)
  kInvalid,             // proof rejected (terminal)
  kLapsed,              // late and the order's deadline passed (terminal)
  kDeclinedBusy,        // handed back as `busy` inside the decline window (terminal, no slash)
  kDeclinedUnprovable,  // handed back as `unprovable` before its due time (terminal)
  kReleased,            // closed through nobody's fault of the prover's (terminal, no slash): the
                        // verifier could not judge the proof, or the order failed under it
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
  kPayment,               // escrow -> prover, price less fee
  kFee,                   // escrow -> treasury
  kSlashCompensation,     // prover stake -> wronged sequencer
  kSlashTreasury,         // prover stake -> treasury
  kUncleReward,           // treasury -> prover, for a valid late proof
  kGriefingCompensation,  // escrow -> prover whose work the sequencer's bad inputs wasted
  kUnprovableFee,         // escrow -> provers who declined an order that failed unprovable
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
  // Added with declines and fault attribution (issue #13). Rejections:
  kDeclineWindowPassed,  // a `busy` decline after the market's decline_window_ms
  // Causes:
  kBusy,            // kDeclined: the prover is busy
  kUnprovable,      // kDeclined / kOrderFailed / kReleased: the statement cannot be proven
  kBadInputs,       // kOrderFailed / kReleased: the verifier refused the order's inputs
  kVerifierFailed,  // kReleased: the verifier could not give a verdict after its retries
};

struct MarketParams {
  Amount min_stake = 0;
  // Graded slash for a miss or an invalid proof (rules.h SlashAmount):
  //   min(stake, max(min_slash, price * slash_multiplier_bps / 10000)), doubled (still capped
  //   at the stake) when the prover was slashed within the last repeat_window_ms.
  Amount min_slash = 0;
  int32_t slash_multiplier_bps = 0;  // <= kMaxSlashMultiplierBps
  int64_t repeat_window_ms = 0;      // 0: no repeat-offence doubling
  int32_t compensation_bps = 0;      // share of a slash paid to the wronged sequencer
  int32_t fee_bps = 0;
  int64_t min_prover_time_ms = 0;
  int32_t grace_bps = 0;
  int32_t uncle_reward_bps = 0;  // of the assignment's price, paid by the treasury
  int64_t max_proof_bytes = 0;
  // Declines: `busy` costs no stake within decline_window_ms of the assignment; an order that
  // unprovable_quorum distinct provers declined as `unprovable` fails, and the decliners share
  // unprovable_fee_bps of its max_price.
  int64_t decline_window_ms = 0;
  int32_t unprovable_quorum = 2;  // 1..kMaxRedundancy
  int32_t unprovable_fee_bps = 0;
  // Bad inputs: each prover whose live assignment the order's bad inputs wasted is paid
  // griefing_bps of its price out of the escrow.
  int32_t griefing_bps = 0;
  // Ranking (README "Ranking"): 0 is price/time then reputation; up to 10000 lets reputation
  // move a reliable prover ahead of a slightly cheaper one.
  int32_t reputation_weight_bps = 0;
  // vrf orders (README "VRF selection"): false draws among the 32 best-ranked eligible
  // provers, weighted by stake and (with reputation_weight_bps) reputation; true is the seed's
  // stake-based turns: every eligible prover (up to 256), weighted by stake alone.
  bool vrf_turns = false;
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
