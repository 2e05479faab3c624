// Command: one request to the engine. A trivially copyable value, so it can travel through
// the MPSC ring by copy.
//
// Every command carries `ref` (the caller's correlation id, echoed in every event the command
// causes) and `now` (milliseconds; the engine has no clock). Callers should feed commands with
// non-decreasing `now`. The body is a std::variant of one struct per command kind.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>
#include <variant>

#include "matching/types.h"

namespace proofbook::matching {

struct CreateAccount {
  AccountId account = 0;  // caller-chosen, >= 1 (0 is the treasury)
  Role role = Role::kSequencer;
};

struct Deposit {
  AccountId account = 0;
  Amount amount = 0;
};

struct Withdraw {
  AccountId account = 0;
  Amount amount = 0;
};

struct Stake {
  AccountId account = 0;  // a prover
  Amount amount = 0;
};

struct Unstake {
  AccountId account = 0;
  Amount amount = 0;
};

struct CreateMarket {
  MarketId market = 0;  // caller-chosen index < kMaxMarkets
  MarketParams params;
};

struct PlaceOrder {
  AccountId account = 0;  // the sequencer
  MarketId market = 0;
  Amount max_price = 0;  // per proof; escrow = max_price * redundancy
  Timestamp deadline = 0;
  Priority priority = Priority::kPrice;
  int32_t min_reputation = 0;
  int32_t redundancy = 1;  // k distinct provers
  Selection selection = Selection::kBest;
  AccountId direct_prover = 0;  // kDirect only
  int64_t exclusive_ms = 0;     // kDirect only, > 0: window [now, now + exclusive_ms]
  // kVrf: the engine's DrawSource (draw_source.h) gives each draw's randomness; without one
  // that serves the market the order is rejected vrf_unavailable.
};

struct CancelOrder {
  AccountId account = 0;  // must own the order
  OrderId order = 0;
};

struct PlaceOffer {
  AccountId account = 0;  // the prover
  MarketId market = 0;
  Amount price = 0;
  int64_t est_ms = 0;
  int32_t capacity = 1;      // jobs at once
  Timestamp expires_at = 0;  // 0: never; else valid while now <= expires_at
};

struct CancelOffer {
  AccountId account = 0;
  OfferId offer = 0;
};

struct ProofDelivered {
  AccountId account = 0;  // must be the assignment's prover
  AssignmentId assignment = 0;
  int64_t proof_bytes = 0;
  // When the server had the proof's bytes (stored them). 0: the command's now. A delivery is
  // judged on time or late at this instant, not when the engine hears of it: a proof stored
  // before a crash and adopted at recovery (server/journal/recovery.h) was on time if it arrived on
  // time. Later than now counts as now.
  Timestamp received_at = 0;
};

// From the verifier pool (trusted): the delivered proof of `assignment` checked out or not.
struct ProofVerified {
  AssignmentId assignment = 0;
};

struct ProofRejected {
  AssignmentId assignment = 0;
};

// From the verifier pool: the proof could not be judged because the order's own inputs are
// bad (the sequencer's fault). The order fails (kBadInputs); no prover is slashed; each live
// assignment is released and paid griefing_bps of its price from the escrow.
struct InputsRejected {
  AssignmentId assignment = 0;
};

// From the verifier pool: no verdict could be had after its retries (nobody's fault). The
// assignment is released without a slash and its slot handed on.
struct VerificationFailed {
  AssignmentId assignment = 0;
};

// A prover hands an assignment back (still kAssigned). reason kBusy: only within the market's
// decline_window_ms of assigned_at; costs kReputationLossOnBusyDecline and one job of the
// offer's capacity. reason kUnprovable: any time up to due_at; costs nothing, is recorded, and
// counts towards the market's unprovable_quorum.
struct DeclineAssignment {
  AccountId account = 0;  // must be the assignment's prover
  AssignmentId assignment = 0;
  Reason reason = Reason::kBusy;  // kBusy | kUnprovable
};

// Advances time: processes every due time, offer expiry, exclusivity end and order deadline
// that `now` has passed.
//
// outage_since > 0 (the server's first Tick after a restart or a rebuild, with the time of the
// last committed event): nothing ran from then until now, so a prover could not deliver. Every
// assignment still assigned whose due time fell in (outage_since, now) first gets back the part
// of its window the outage took, due_at += now - max(outage_since, assigned_at), capped at its
// order's deadline (kDueExtended); one that cannot end after now (its order's deadline passed)
// is processed as usual.
struct Tick {
  Timestamp outage_since = 0;
};

// A block's whole proof as one order (README "Proof trees"; layout and deadlines in
// tree_shape.h): `leaves` leaf proofs in leaf_market, merged pairwise in merge_market up to one
// root. Escrow for every leaf and merge is taken at once. Each leaf is an order (redundancy 1)
// placed at once; each merge an order placed when both its children are proven, assigned to
// one of its children's provers drawn by VRF (the merge market must be served by the engine's
// DrawSource), the other taking over if it misses, then the open merge market. Every node is
// paid its assignment's price when its proof verifies; a node that expires or fails fails the
// tree: its unstarted nodes are refunded, started ones run to their end.
struct PlaceTree {
  AccountId account = 0;  // the sequencer
  MarketId leaf_market = 0;
  MarketId merge_market = 0;
  int32_t leaves = 1;      // 1..kMaxTreeLeaves
  Amount leaf_price = 0;   // max price per leaf proof
  Amount merge_price = 0;  // max price per merge proof
  Timestamp deadline = 0;  // the root's
  Priority priority = Priority::kPrice;
  int32_t min_reputation = 0;
  Selection leaf_selection = Selection::kBest;  // kBest | kVrf
  int32_t leaf_share_bps = 5000;                // the leaves' share of the time (1..9999)
};

using CommandBody =
    std::variant<CreateAccount, Deposit, Withdraw, Stake, Unstake, CreateMarket, PlaceOrder,
                 CancelOrder, PlaceOffer, CancelOffer, ProofDelivered, ProofVerified, ProofRejected,
                 Tick, InputsRejected, VerificationFailed, DeclineAssignment, PlaceTree>;

// Stable numbering of command kinds (the variant index), echoed in events.
enum class CommandKind : uint8_t {
  kCreateAccount,
  kDeposit,
  kWithdraw,
  kStake,
  kUnstake,
  kCreateMarket,
  kPlaceOrder,
  kCancelOrder,
  kPlaceOffer,
  kCancelOffer,
  kProofDelivered,
  kProofVerified,
  kProofRejected,
  kTick,
  kInputsRejected,
  kVerificationFailed,
  kDeclineAssignment,
  kPlaceTree,
};

struct Command {
  uint64_t ref = 0;   // caller's correlation id
  Timestamp now = 0;  // ms
  CommandBody body;

  CommandKind kind() const { return static_cast<CommandKind>(body.index()); }
};

static_assert(std::is_trivially_copyable_v<Command>, "Command travels through rings by copy");

std::string_view CommandKindName(CommandKind kind);

}  // namespace proofbook::matching
