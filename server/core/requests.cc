#include "server/core/requests.h"

#include <charconv>
#include <limits>
#include <string_view>

#include "matching/rules.h"
#include "server/base/crypto.h"
#include "server/base/json_body.h"
#include "server/base/json_limits.h"
#include "server/base/limits.h"
#include "server/base/resources.h"
#include "server/core/auth.h"
#include "server/core/input_check.h"

namespace proofbook::server {

// Takes the value of a Result<T> expression into `var`, or returns its error.
#define PB_TAKE(var, expr) \
  auto var = (expr);       \
  if (!var) return std::move(var).error();

namespace {

Status UnknownMarket(const std::string& slug, const char* field = "market") {
  return Status(StatusCode::kUnprocessable, "no market " + slug, field)
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
  auto market = markets.Lookup(*slug);
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
  // Inputs no proof could satisfy are refused here rather than proved, verified and slashed.
  if (Status s = CheckInputs(market->inputs, *inputs); !s.ok()) return s;

  PlaceOrderRequest r;
  matching::PlaceOrder& order = r.order;
  order.market = market->id;
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
  // vrf: the engine draws through the server's keyring (core/vrf_keyring.h); in a market
  // without a key it answers vrf_unavailable.
  r.market = *slug;
  r.inputs = *inputs;
  r.client_order_id = *client_order_id;
  // What a replay of the client_order_id must repeat: the parameters as parsed (defaults
  // filled in; the body's whitespace and field order do not count; inputs compared minified).
  if (!r.client_order_id.empty()) {
    // One buffer, the fields a line each (the form stored hashes were made of: it must not
    // change, or a replay after an upgrade would be refused as a reuse).
    std::string text;
    text.reserve(slug->size() + priority->size() + selection->size() + inputs->size() + 128);
    auto line = [&text](std::string_view field) {
      text += field;
      text += '\n';
    };
    auto number = [&line](int64_t v) {
      char digits[24];
      line(std::string_view(digits, std::to_chars(digits, digits + sizeof digits, v).ptr - digits));
    };
    line(*slug);
    number(order.max_price);
    number(*deadline_ms);
    line(*priority);
    number(order.min_reputation);
    number(order.redundancy);
    line(*selection);
    number(order.direct_prover);
    number(order.exclusive_ms);
    text += *inputs;
    r.request_sha256 = Sha256(text);
  }
  return r;
}

Result<PlaceTreeRequest> ParsePlaceTree(std::string_view text, const MarketDirectory& markets,
                                        std::size_t max_inputs_bytes) {
  PB_TAKE(body, JsonBody::Parse(text, {"leaf_market", "merge_market", "leaves", "leaf_price",
                                       "merge_price", "deadline_ms", "priority", "min_reputation",
                                       "leaf_selection", "leaf_share_bps"}));
  PB_TAKE(leaf_slug, body->String("leaf_market", kMaxSlugBytes));
  PB_TAKE(merge_slug, body->String("merge_market", kMaxSlugBytes));
  PB_TAKE(leaves,
          body->RawArray("leaves", matching::kMaxTreeLeaves, max_inputs_bytes, kMaxInputsDepth));
  PB_TAKE(leaf_price, body->Int("leaf_price", 1, kMaxAmount));
  PB_TAKE(merge_price, body->Int("merge_price", leaves->size() > 1 ? 1 : 0, kMaxAmount,
                                 leaves->size() > 1 ? std::nullopt : std::optional<int64_t>(0)));
  PB_TAKE(deadline_ms, body->Int("deadline_ms", 1, matching::kMaxDurationMs));
  PB_TAKE(priority, body->Enum("priority", {"price", "time"}, "price"));
  PB_TAKE(min_reputation, body->Int("min_reputation", 0, matching::kMaxReputation, 0));
  PB_TAKE(leaf_selection, body->Enum("leaf_selection", {"best", "vrf"}, "best"));
  PB_TAKE(leaf_share_bps, body->Int("leaf_share_bps", 1, matching::kBps - 1, 5000));
  auto leaf = markets.Lookup(*leaf_slug);
  if (!leaf) return UnknownMarket(*leaf_slug, "leaf_market");
  auto merge = markets.Lookup(*merge_slug);
  if (!merge) return UnknownMarket(*merge_slug, "merge_market");
  // A merge's inputs are its children's outputs (migrations/0017_tree_outputs.sql): the merge
  // market must take two SHA-256 digests, and the leaves must output one.
  using Kind = InputCheck::Kind;
  if (merge->inputs.kind != Kind::kSha256Merge) {
    return Status(StatusCode::kUnprocessable,
                  "merge_market must be a sha256-merge market (a merge proves SHA-256 of its "
                  "two children's digests)",
                  "merge_market")
        .WithReason("incompatible_markets");
  }
  if (leaf->inputs.kind != Kind::kSha256Preimage && leaf->inputs.kind != Kind::kSha256Merge) {
    return Status(StatusCode::kUnprocessable,
                  "leaf_market must output a SHA-256 digest for the merges (sha256-preimage or "
                  "sha256-merge)",
                  "leaf_market")
        .WithReason("incompatible_markets");
  }
  // Leaves no proof could satisfy are refused here, each by its index.
  for (std::size_t i = 0; i < leaves->size(); ++i) {
    if (Status s = CheckInputs(leaf->inputs, (*leaves)[i]); !s.ok()) {
      return Status(s.code(), "leaves[" + std::to_string(i) + "]: " + s.message(), "leaves")
          .WithReason(std::string(s.wire_code()));
    }
  }
  PlaceTreeRequest r;
  matching::PlaceTree& t = r.tree;
  t.leaf_market = leaf->id;
  t.merge_market = merge->id;
  t.leaves = static_cast<int32_t>(leaves->size());
  t.leaf_price = *leaf_price;
  t.merge_price = *merge_price;
  t.deadline = *deadline_ms;  // relative: the engine thread anchors it to its clock
  t.priority = PriorityFromName(*priority).value_or(matching::Priority::kPrice);
  t.min_reputation = static_cast<int32_t>(*min_reputation);
  t.leaf_selection = SelectionFromName(*leaf_selection).value_or(matching::Selection::kBest);
  t.leaf_share_bps = static_cast<int32_t>(*leaf_share_bps);
  r.leaf_market = *leaf_slug;
  r.merge_market = *merge_slug;
  r.leaf_inputs = std::move(*leaves);
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
                                {"id",
                                 "proof_system",
                                 "verifier",
                                 "min_stake",
                                 "min_slash",
                                 "slash_multiplier_bps",
                                 "repeat_window_ms",
                                 "compensation_bps",
                                 "fee_bps",
                                 "min_prover_time_ms",
                                 "grace_bps",
                                 "uncle_reward_bps",
                                 "max_proof_bytes",
                                 "decline_window_ms",
                                 "unprovable_quorum",
                                 "unprovable_fee_bps",
                                 "griefing_bps",
                                 "reputation_weight_bps",
                                 "vrf_turns",
                                 "verification_key"},
                                envelope));
  PB_TAKE(slug, body->String("id", kMaxSlugBytes));
  for (char c : *slug) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') || slug->front() == '-') {
      return Status(StatusCode::kInvalidArgument, "id must be lower-case letters, digits and '-'",
                    "id");
    }
  }
  PB_TAKE(proof_system, body->String("proof_system", kMaxProofSystemBytes));
  PB_TAKE(verifier, body->Enum("verifier",
                               {kVerifierGroth16, kVerifierSha256Preimage, kVerifierSha256Merge}));
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
  // Every engine parameter: its range, and its value when the request leaves it out (the same
  // defaults as migrations/0010_fair_market.sql gives existing markets).
  using matching::MarketParams;
  struct Field {
    const char* name;
    int64_t min, max, fallback;
    int64_t MarketParams::*wide;  // or
    int32_t MarketParams::*narrow;
  };
  constexpr int64_t kBps = matching::kBps;
  const Field fields[] = {
      {"min_stake", 0, kMaxAmount, 0, &MarketParams::min_stake, nullptr},
      {"min_slash", 0, kMaxAmount, 0, &MarketParams::min_slash, nullptr},
      {"slash_multiplier_bps", 0, matching::kMaxSlashMultiplierBps, 2 * kBps, nullptr,
       &MarketParams::slash_multiplier_bps},
      {"repeat_window_ms", 0, matching::kMaxDurationMs, 3'600'000, &MarketParams::repeat_window_ms,
       nullptr},
      {"compensation_bps", 0, kBps, 5000, nullptr, &MarketParams::compensation_bps},
      {"fee_bps", 0, kBps, 0, nullptr, &MarketParams::fee_bps},
      {"min_prover_time_ms", 0, matching::kMaxDurationMs, 0, &MarketParams::min_prover_time_ms,
       nullptr},
      {"grace_bps", 0, matching::kMaxGraceBps, 2000, nullptr, &MarketParams::grace_bps},
      {"uncle_reward_bps", 0, kBps, 0, nullptr, &MarketParams::uncle_reward_bps},
      {"max_proof_bytes", 1, kMaxProofBytes, kDefaultMaxProofBytes, &MarketParams::max_proof_bytes,
       nullptr},
      {"decline_window_ms", 0, matching::kMaxDurationMs, 5000, &MarketParams::decline_window_ms,
       nullptr},
      {"unprovable_quorum", 1, matching::kMaxRedundancy, 2, nullptr,
       &MarketParams::unprovable_quorum},
      {"unprovable_fee_bps", 0, kBps, 1000, nullptr, &MarketParams::unprovable_fee_bps},
      {"griefing_bps", 0, kBps, 5000, nullptr, &MarketParams::griefing_bps},
      {"reputation_weight_bps", 0, kBps, 0, nullptr, &MarketParams::reputation_weight_bps},
  };
  CreateMarketRequest r;
  matching::MarketParams& p = r.params;
  for (const Field& f : fields) {
    PB_TAKE(v, body->Int(f.name, f.min, f.max, f.fallback));
    if (f.wide != nullptr) {
      p.*f.wide = *v;
    } else {
      p.*f.narrow = static_cast<int32_t>(*v);
    }
  }
  PB_TAKE(vrf_turns, body->Bool("vrf_turns", false));
  p.vrf_turns = *vrf_turns;
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

Result<DeclineRequest> ParseDecline(std::string_view text, bool with_assignment,
                                    Envelope envelope) {
  PB_TAKE(body, with_assignment ? JsonBody::Parse(text, {"assignment", "reason"}, envelope)
                                : JsonBody::Parse(text, {"reason"}, envelope));
  DeclineRequest r;
  if (with_assignment) {
    PB_TAKE(assignment, body->Int("assignment", 1, std::numeric_limits<int64_t>::max()));
    r.assignment = *assignment;
  }
  PB_TAKE(reason, body->Enum("reason", {"busy", "unprovable"}));
  r.reason = *reason == "busy" ? matching::Reason::kBusy : matching::Reason::kUnprovable;
  return r;
}

#undef PB_TAKE

}  // namespace proofbook::server
