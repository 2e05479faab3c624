#include "server/core/requests.h"

#include "matching/rules.h"
#include "server/base/crypto.h"
#include "server/base/json_body.h"
#include "server/base/json_limits.h"
#include "server/base/limits.h"
#include "server/base/resources.h"
#include "server/core/auth.h"

namespace proofbook::server {

// Takes the value of a Result<T> expression into `var`, or returns its error.
#define PB_TAKE(var, expr) \
  auto var = (expr);       \
  if (!var) return std::move(var).error();

namespace {

Status UnknownMarket(const std::string& slug) {
  return Status(StatusCode::kUnprocessable, "no market " + slug, "market")
      .WithReason("unknown_market");
}

}  // namespace

Result<PlaceOrderRequest> ParsePlaceOrder(std::string_view text, const MarketDirectory& markets,
                                          std::size_t max_inputs_bytes, Envelope envelope) {
  PB_TAKE(body, JsonBody::Parse(text,
                                {"market", "max_price", "deadline_ms", "priority", "min_reputation",
                                 "redundancy", "selection", "prover", "exclusive_ms", "inputs",
                                 "client_order_id"},
                                envelope));
  PB_TAKE(slug, body->String("market", kMaxSlugBytes));
  PB_TAKE(max_price, body->Int("max_price", 1, kMaxAmount));
  PB_TAKE(deadline_ms, body->Int("deadline_ms", 1, matching::kMaxDurationMs));
  PB_TAKE(priority, body->Enum("priority", {"price", "time"}, "price"));
  PB_TAKE(min_reputation, body->Int("min_reputation", 0, matching::kMaxReputation, 0));
  PB_TAKE(redundancy, body->Int("redundancy", 1, matching::kMaxRedundancy, 1));
  PB_TAKE(selection, body->Enum("selection", {"best", "direct", "vrf"}, "best"));
  PB_TAKE(prover, body->Int("prover", 1, INT64_MAX, 0));
  PB_TAKE(exclusive_ms, body->Int("exclusive_ms", 1, matching::kMaxDurationMs, *deadline_ms));
  PB_TAKE(inputs, body->Raw("inputs", max_inputs_bytes, kMaxInputsDepth));
  PB_TAKE(client_order_id, body->String("client_order_id", kMaxNameBytes, std::string()));
  auto market = markets.Find(*slug);
  if (!market) return UnknownMarket(*slug);
  if (*selection == "direct" && *prover == 0) {
    return Status(StatusCode::kInvalidArgument, "selection 'direct' needs a prover", "prover");
  }
  for (const char* direct_only : {"prover", "exclusive_ms"}) {
    if (*selection != "direct" && body->Has(direct_only)) {
      return Status(StatusCode::kInvalidArgument,
                    std::string(direct_only) + " needs selection 'direct'", direct_only);
    }
  }

  PlaceOrderRequest r;
  matching::PlaceOrder& order = r.order;
  order.market = *market;
  order.max_price = *max_price;
  order.deadline = *deadline_ms;  // relative: the engine thread anchors it to its clock
  order.priority = PriorityFromName(*priority).value_or(matching::Priority::kPrice);
  order.min_reputation = static_cast<int32_t>(*min_reputation);
  order.redundancy = static_cast<int32_t>(*redundancy);
  order.selection = SelectionFromName(*selection).value_or(matching::Selection::kBest);
  if (order.selection == matching::Selection::kDirect) {
    order.direct_prover = *prover;
    order.exclusive_ms = *exclusive_ms;
  }
  // VRF selection needs the server's ECVRF (a later issue): without an output the engine
  // answers vrf_unavailable, which is the truth.
  r.market = *slug;
  r.inputs = *inputs;
  r.client_order_id = *client_order_id;
  // What a replay of the client_order_id must repeat: the parameters as parsed (defaults
  // filled in; the body's whitespace and field order do not count; inputs compared minified).
  if (!r.client_order_id.empty()) {
    r.request_sha256 =
        Sha256Hex(*slug + '\n' + std::to_string(order.max_price) + '\n' +
                  std::to_string(*deadline_ms) + '\n' + *priority + '\n' +
                  std::to_string(order.min_reputation) + '\n' + std::to_string(order.redundancy) +
                  '\n' + *selection + '\n' + std::to_string(order.direct_prover) + '\n' +
                  std::to_string(order.exclusive_ms) + '\n' + *inputs);
  }
  return r;
}

Result<PlaceOfferRequest> ParsePlaceOffer(std::string_view text, const MarketDirectory& markets,
                                          Envelope envelope) {
  PB_TAKE(body,
          JsonBody::Parse(text, {"market", "price", "est_ms", "capacity", "expires_ms"}, envelope));
  PB_TAKE(slug, body->String("market", kMaxSlugBytes));
  auto market = markets.Find(*slug);
  if (!market) return UnknownMarket(*slug);
  PB_TAKE(price, body->Int("price", 1, kMaxAmount));
  PB_TAKE(est_ms, body->Int("est_ms", 0, matching::kMaxDurationMs));
  PB_TAKE(capacity, body->Int("capacity", 1, kMaxOfferCapacity, 1));
  // expires_ms is relative ("valid for N ms"); the engine thread turns it into a time.
  PB_TAKE(expires_ms, body->Int("expires_ms", 1, kMaxOfferLifeMs, 0));
  PlaceOfferRequest r;
  r.offer = matching::PlaceOffer{
      0, *market, *price, *est_ms, static_cast<int32_t>(*capacity), *expires_ms};
  r.market = *slug;
  return r;
}

Result<matching::Amount> ParseAmount(std::string_view text, Envelope envelope) {
  PB_TAKE(body, JsonBody::Parse(text, {"amount"}, envelope));
  return body->Int("amount", 1, kMaxAmount);
}

Result<DepositRequest> ParseDeposit(std::string_view text, Envelope envelope) {
  PB_TAKE(body, JsonBody::Parse(text, {"amount", "reference"}, envelope));
  PB_TAKE(amount, body->Int("amount", 1, kMaxAmount));
  // With a reference the deposit is idempotent: a replay moves no money.
  PB_TAKE(reference, body->String("reference", kMaxNameBytes, std::string()));
  return DepositRequest{*amount, *reference};
}

Result<CreateAccountRequest> ParseCreateAccount(std::string_view text, Envelope envelope) {
  PB_TAKE(body, JsonBody::Parse(text, {"role", "name"}, envelope));
  PB_TAKE(role, body->Enum("role", {"sequencer", "prover", "admin"}));
  PB_TAKE(name, body->String("name", kMaxNameBytes));
  PB_TAKE(parsed_role, ParseRole(*role));
  return CreateAccountRequest{*parsed_role, *name};
}

Result<CreateMarketRequest> ParseCreateMarket(std::string_view text, Envelope envelope) {
  PB_TAKE(body, JsonBody::Parse(text,
                                {"id", "proof_system", "verifier", "min_stake", "slash_bps",
                                 "compensation_bps", "fee_bps", "min_prover_time_ms", "grace_bps",
                                 "uncle_reward_bps", "max_proof_bytes", "verification_key"},
                                envelope));
  PB_TAKE(slug, body->String("id", kMaxSlugBytes));
  for (char c : *slug) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') || slug->front() == '-') {
      return Status(StatusCode::kInvalidArgument, "id must be lower-case letters, digits and '-'",
                    "id");
    }
  }
  PB_TAKE(proof_system, body->String("proof_system", kMaxProofSystemBytes));
  PB_TAKE(verifier, body->Enum("verifier", {kVerifierGroth16, kVerifierSha256Preimage}));
  // snarkjs-groth16 checks proofs against the circuit's verification key (snarkjs's
  // verification_key.json); sha256-preimage has none.
  PB_TAKE(vk, body->Raw("verification_key", kMaxVerificationKeyBytes, kMaxInputsDepth));
  const bool needs_vk = *verifier == kVerifierGroth16;
  if (needs_vk != (*vk != "null") || (needs_vk && vk->front() != '{')) {
    return Status(StatusCode::kInvalidArgument,
                  needs_vk
                      ? "verification_key (an object: snarkjs's verification_key.json) is required"
                      : "verification_key is only for snarkjs-groth16 markets",
                  "verification_key");
  }
  struct Field {
    const char* name;
    int64_t min, max, fallback;
  };
  const Field fields[] = {{"min_stake", 0, kMaxAmount, 0},
                          {"slash_bps", 0, matching::kBps, 1000},
                          {"compensation_bps", 0, matching::kBps, 5000},
                          {"fee_bps", 0, matching::kBps, 0},
                          {"min_prover_time_ms", 0, matching::kMaxDurationMs, 0},
                          {"grace_bps", 0, matching::kMaxGraceBps, 2000},
                          {"uncle_reward_bps", 0, matching::kBps, 0},
                          {"max_proof_bytes", 1, kMaxProofBytes, kDefaultMaxProofBytes}};
  int64_t values[std::size(fields)];
  for (std::size_t i = 0; i < std::size(fields); ++i) {
    PB_TAKE(v, body->Int(fields[i].name, fields[i].min, fields[i].max, fields[i].fallback));
    values[i] = *v;
  }
  CreateMarketRequest r;
  matching::MarketParams& p = r.params;
  p.min_stake = values[0];
  p.slash_bps = static_cast<int32_t>(values[1]);
  p.compensation_bps = static_cast<int32_t>(values[2]);
  p.fee_bps = static_cast<int32_t>(values[3]);
  p.min_prover_time_ms = values[4];
  p.grace_bps = static_cast<int32_t>(values[5]);
  p.uncle_reward_bps = static_cast<int32_t>(values[6]);
  p.max_proof_bytes = values[7];
  // The engine's own rule, checked before the row is written: recovery rebuilds every market
  // row, so a row the engine would refuse must never exist.
  if (std::string_view bad = matching::InvalidMarketParamField(p); !bad.empty()) {
    return Status(StatusCode::kInvalidArgument, std::string(bad) + " is out of range for a market",
                  std::string(bad));
  }
  r.slug = *slug;
  r.proof_system = *proof_system;
  r.verifier = *verifier;
  if (needs_vk) r.verification_key = *vk;
  return r;
}

#undef PB_TAKE

}  // namespace proofbook::server
