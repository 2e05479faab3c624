// Operations: the market's commands as typed calls, the one way in for every front end. REST
// (api/) and the prover WebSocket (prover/) parse a request (core/requests.h), check who asks,
// and call an operation here; each answers once, with a typed result or a Status, only after
// what it changed is committed (EngineRunner). The front ends render the results (with
// core/views.h for the shapes they share).
//
// Engine commands go through the EngineRunner; the two that also write rows the engine does
// not own (a new account with its key, a new market) write them on the database pool first.
//
// Thread rules: call from any thread. `done` runs exactly once, on the journal thread, a
// database thread, or the caller's (for an immediate refusal); it must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "matching/engine.h"
#include "matching/status.h"
#include "server/base/rate_limiter.h"
#include "server/core/api_keys.h"
#include "server/core/auth.h"
#include "server/core/engine_runner.h"
#include "server/core/market_directory.h"
#include "server/core/requests.h"
#include "server/core/vrf_keyring.h"
#include "server/db/database.h"

namespace proofbook::server {

template <typename T>
using Done = std::function<void(Result<T>)>;

// An operation that answers nothing but "done".
struct Ack {};

struct PlacedOrder {
  matching::OrderId id = 0;
  bool replayed = false;  // a replay of the client_order_id: nothing new was placed
  // The order as the engine holds it after the command; nullopt when it is already final
  // (then only the id is known here and GET /v1/orders/{id} has the rest).
  std::optional<matching::OrderState> order;
  std::vector<matching::AssignmentState> assignments;
  std::string market;  // its slug, as the original order named it
  std::string client_order_id;
};

struct NewAssignment {
  matching::AssignmentId assignment = 0;
  matching::OrderId order = 0;
  matching::Amount price = 0;
  matching::Timestamp due_at = 0;
};

struct PlacedOffer {
  matching::OfferId id = 0;
  std::string market;
  std::optional<matching::OfferState> offer;  // nullopt when it left the book at once
  std::vector<NewAssignment> assigned;        // work it took when placed
};

struct Deposited {
  matching::AccountState account;
  bool replayed = false;  // the reference was used before: no money moved
};

struct CreatedAccount {
  matching::AccountState account;
  std::string name;
  std::string api_key;  // shown once
};

// A tree as the engine placed it: its state right after placement (nodes as placed: every leaf
// an order) and the leaves' orders' first assignments.
struct PlacedTree {
  matching::TreeState tree;
  std::string leaf_market, merge_market;  // slugs
  std::vector<matching::AssignmentState> assignments;
  matching::Amount escrow = 0;  // taken at placement for the whole tree
};

enum class MoneyMove { kWithdraw, kStake, kUnstake };

// What the verifier made of a delivered proof, and so whose fault a failure is
// (matching/command.h): kInvalidProof the prover's (slash), kBadInputs the sequencer's (the
// order fails, the prover is compensated), kNoVerdict nobody's (released, handed on).
enum class VerdictKind { kValid, kInvalidProof, kBadInputs, kNoVerdict };

struct Declined {
  matching::AssignmentId assignment = 0;
  matching::OrderId order = 0;
  matching::Reason reason = matching::Reason::kBusy;
  matching::AssignmentStatus status = matching::AssignmentStatus::kDeclinedBusy;
};

// Busy declines a prover may make: kBusyDeclineBurst at once, then kBusyDeclinesPerMinute.
inline constexpr int64_t kBusyDeclineBurst = 5;
inline constexpr int64_t kBusyDeclinesPerMinute = 5;

class Operations {
 public:
  struct Options {
    std::size_t max_inputs_bytes = 64 << 10;  // an order's public inputs, minified
    // After a key is revoked (committed, and gone from the authenticator): whatever holds
    // connections opened with it closes them. `digest`: the key's raw SHA-256.
    std::function<void(const std::string& digest)> on_key_revoked;
  };
  // All must outlive the Operations.
  Operations(Options options, EngineRunner& runner, Database& db, Authenticator& auth,
             MarketDirectory& markets, VrfKeyring& vrf);

  const Options& options() const { return options_; }
  const MarketDirectory& markets() const { return markets_; }
  const VrfKeyring& vrf() const { return vrf_; }
  // False while the engine recovers or another server holds the write lease.
  bool healthy() const { return runner_.healthy(); }

  void PlaceOrder(matching::AccountId sequencer, PlaceOrderRequest request, Done<PlacedOrder> done);
  void CancelOrder(matching::AccountId sequencer, matching::OrderId order,
                   Done<matching::OrderId> done);
  // A proof tree: every leaf placed as an order carrying its inputs (matching/README.md "Proof
  // trees").
  void PlaceTree(matching::AccountId sequencer, PlaceTreeRequest request, Done<PlacedTree> done);
  void PlaceOffer(matching::AccountId prover, PlaceOfferRequest request, Done<PlacedOffer> done);
  void CancelOffer(matching::AccountId prover, matching::OfferId offer,
                   Done<matching::OfferId> done);
  // Cancels every open offer of the prover (it went offline); logged, answers no one.
  void CancelOffersOf(matching::AccountId prover);
  void MoveMoney(MoneyMove move, matching::AccountId account, matching::Amount amount,
                 Done<matching::AccountState> done);
  void Deposit(matching::AccountId account, DepositRequest request, Done<Deposited> done);
  // The account, its first key (which opens nothing until the account is committed).
  void CreateAccount(CreateAccountRequest request, Done<CreatedAccount> done);
  // A new API key for an existing account (shown once, in the answer).
  void CreateApiKey(matching::AccountId account, Done<NewApiKey> done);
  // Revokes a key: committed, then refused on every connection (REST at once, WebSockets
  // opened with it closed by on_key_revoked). Revoking a revoked key answers it again.
  void RevokeApiKey(int64_t key_id, Done<ApiKeyRow> done);
  // Also makes the market's VRF key, once the market is committed, when the keyring is enabled
  // (a failure there is logged: the market then refuses vrf orders until an admin rotates its
  // key). kConflict (field `id`) for a slug a market has or another creation holds.
  void CreateMarket(CreateMarketRequest request, Done<CreateMarketRequest> done);
  // A new VRF key for the market (the old one retired, kept for re-checking old draws).
  void RotateVrfKey(const std::string& market, Done<VrfKeyring::KeyInfo> done);
  // Fixes an epoch's beacon (VrfKeyring::SetBeacon).
  void SetVrfBeacon(int64_t epoch, std::vector<uint8_t> value, Done<Ack> done);
  // A stored proof's delivery; the result says whether it was late.
  void DeliverProof(matching::ProofDelivered delivery, Done<bool> done);
  // The verifier's verdict on a delivered proof.
  void ApplyVerdict(int64_t assignment, VerdictKind verdict, Done<Ack> done);
  // The prover hands an assignment back (reason kBusy | kUnprovable). Busy declines are
  // rate-limited per prover (429 rate_limited, field `reason`).
  void Decline(matching::AccountId prover, matching::AssignmentId assignment,
               matching::Reason reason, Done<Declined> done);

 private:
  // Submits `body` and answers `done` with what `build` reads off the engine right after it is
  // applied, once that is committed.
  template <typename T>
  using Build = std::function<Result<T>(const matching::Engine& engine,
                                        std::span<const matching::Event> events,
                                        matching::OrderId duplicate_of)>;
  template <typename T>
  void Submit(std::unique_ptr<Submission> submission, Build<T> build, Done<T> done);
  // Submit for a command whose rejection (kRejected first) is the answer, else `ok`.
  // `created`: the fields of the row a CreateAccount / CreateMarket makes.
  template <typename T>
  void SubmitCommand(matching::CommandBody body,
                     std::function<T(const matching::Engine&, std::span<const matching::Event>)> ok,
                     Done<T> done, CreatedRow created = {});

  // After market `idx` is committed: its VRF key, then `done` (with `market`) either way.
  void MakeVrfKey(matching::MarketId idx, CreateMarketRequest market,
                  Done<CreateMarketRequest> done);

  const Options options_;
  EngineRunner& runner_;
  Database& db_;
  Authenticator& auth_;
  MarketDirectory& markets_;
  VrfKeyring& vrf_;
  RateLimiter busy_declines_{kBusyDeclinesPerMinute, kBusyDeclineBurst, std::chrono::minutes(1)};
};

// An engine rejection as the wire sees it: the engine's field names ("deadline") become the
// request's ("deadline_ms").
Status WireRejection(const matching::Event& rejected);

}  // namespace proofbook::server
