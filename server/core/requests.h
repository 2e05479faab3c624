// Typed requests: each operation's input, parsed and validated once from its JSON body,
// whichever front end it came by (REST body, WebSocket message). One parser per request, so
// field names, ranges and error codes are the same over both. Failures are Statuses naming
// the field (400 invalid_argument; 422 unknown_market).
//
// `envelope`: fields of the message around the request that the caller reads itself (the
// WebSocket's "type" and "id"); REST has none. Stateless functions; they parse with simdjson
// on the calling thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "matching/command.h"
#include "matching/status.h"
#include "matching/types.h"
#include "server/base/crypto.h"
#include "server/core/market_directory.h"

namespace proofbook::server {

using Envelope = std::initializer_list<std::string_view>;

struct PlaceOrderRequest {
  matching::PlaceOrder order;  // account unset; deadline relative (ms from now)
  std::string market;          // the slug as given
  std::string inputs;          // minified JSON, "null" when absent
  std::string client_order_id;
  // SHA-256 of the parameters as parsed, when client_order_id is set: what a replay of that id
  // must repeat.
  std::optional<Sha256Digest> request_sha256;
};
Result<PlaceOrderRequest> ParsePlaceOrder(std::string_view body, const MarketDirectory& markets,
                                          std::size_t max_inputs_bytes, Envelope envelope = {});

// POST /v1/trees: a block's whole proof (matching/README.md "Proof trees").
struct PlaceTreeRequest {
  matching::PlaceTree tree;               // account unset; deadline relative (ms from now)
  std::string leaf_market, merge_market;  // the slugs as given
  std::vector<std::string> leaf_inputs;   // one minified JSON value per leaf
};
Result<PlaceTreeRequest> ParsePlaceTree(std::string_view body, const MarketDirectory& markets,
                                        std::size_t max_inputs_bytes);

struct PlaceOfferRequest {
  matching::PlaceOffer offer;  // account (the prover) unset; expires_at relative (ms), 0: never
  std::string market;
};
Result<PlaceOfferRequest> ParsePlaceOffer(std::string_view body, const MarketDirectory& markets,
                                          Envelope envelope = {});

// {"amount": N}: withdrawals, stake, unstake.
Result<matching::Amount> ParseAmount(std::string_view body, Envelope envelope = {});

struct DepositRequest {
  matching::Amount amount = 0;
  std::string reference;  // idempotency key; empty: none
};
Result<DepositRequest> ParseDeposit(std::string_view body, Envelope envelope = {});

struct CreateAccountRequest {
  matching::Role role = matching::Role::kSequencer;
  std::string name;
};
Result<CreateAccountRequest> ParseCreateAccount(std::string_view body, Envelope envelope = {});

struct CreateMarketRequest {
  std::string slug;
  std::string proof_system;
  std::string verifier;
  matching::MarketParams params;
  std::string verification_key;  // minified JSON; empty for a market without one
};
Result<CreateMarketRequest> ParseCreateMarket(std::string_view body, Envelope envelope = {});

// A prover handing an assignment back: {"reason": "busy" | "unprovable"}, plus "assignment"
// when `with_assignment` (the WebSocket message; REST has it in the path).
struct DeclineRequest {
  matching::AssignmentId assignment = 0;
  matching::Reason reason = matching::Reason::kBusy;
};
Result<DeclineRequest> ParseDecline(std::string_view body, bool with_assignment,
                                    Envelope envelope = {});

}  // namespace proofbook::server
