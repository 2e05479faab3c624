// requests_fuzzer: the REST body parsers (server/core/requests.h) over JsonBody
// (server/base/json_body.h), as the REST handlers call them (no envelope).
//
// Input: one selector byte, then the body. The selector's low 3 bits pick the parser:
//   0 ParsePlaceOrder   1 ParsePlaceOffer    2 ParseAmount        3 ParseDeposit
//   4 ParseCreateAccount 5 ParseCreateMarket 6 ParseDecline (REST) 7 ParseDecline(with_assignment)
// Bit 3 of the selector gives ParsePlaceOrder (and ParsePlaceTree) a 256-byte inputs limit
// instead of the server's default 64 KiB, so the 413 path is reached with small inputs. Bit 4
// with low bits 0 picks ParsePlaceTree instead of ParsePlaceOrder.
// Markets: test_markets.h TestMarkets() ("m", "sha", "poseidon", "g").
//
// Checked: no crash, no sanitizer report; a refusal keeps fuzz_support.h's contract; an
// accepted request holds only values in the ranges the parser promises; parsing the same body
// twice gives the same answer (the parsers reuse a thread-local simdjson parser); an order's
// accepted inputs pass CheckInputs again in their minified form and parse back with the
// readers' Boost.JSON options (server/base/json_limits.h: what is accepted must be readable).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "fuzz/test_markets.h"
#include "matching/rules.h"
#include "matching/types.h"
#include "server/base/crypto.h"
#include "server/base/json_limits.h"
#include "server/base/limits.h"
#include "server/core/input_check.h"
#include "server/core/requests.h"

namespace proofbook::fuzz {
namespace {

using server::kMaxAmount;

constexpr std::size_t kDefaultMaxInputsBytes = 64 << 10;  // Operations::Options' default
constexpr std::size_t kSmallMaxInputsBytes = 256;

// Printable text of 1..max bytes, as JsonBody::String promises.
void CheckText(const std::string& s, std::size_t max) {
  FUZZ_CHECK(!s.empty() && s.size() <= max, s);
  for (unsigned char c : s) FUZZ_CHECK(c >= 0x20 && c != 0x7f, s);
}

// The same answer twice: both ok, or both refused with the same code, field and message.
template <typename T>
void CheckSameRefusal(const Result<T>& a, const Result<T>& b) {
  FUZZ_CHECK(a.has_value() == b.has_value());
  if (a) return;
  FUZZ_CHECK(a.error().wire_code() == b.error().wire_code(), a.error().ToString());
  FUZZ_CHECK(a.error().field() == b.error().field(), a.error().ToString());
  FUZZ_CHECK(a.error().message() == b.error().message(), a.error().ToString());
}

void PlaceOrder(std::string_view body, std::size_t max_inputs_bytes) {
  const auto& markets = TestMarkets();
  auto r = server::ParsePlaceOrder(body, markets, max_inputs_bytes);
  CheckResult(r);
  CheckSameRefusal(r, server::ParsePlaceOrder(body, markets, max_inputs_bytes));
  if (!r) return;
  const matching::PlaceOrder& o = r->order;
  auto market = markets.Lookup(r->market);
  FUZZ_CHECK(market.has_value() && market->id == o.market, r->market);
  FUZZ_CHECK(o.max_price >= 1 && o.max_price <= kMaxAmount);
  FUZZ_CHECK(o.deadline >= 1 && o.deadline <= matching::kMaxDurationMs);
  FUZZ_CHECK(o.min_reputation >= 0 && o.min_reputation <= matching::kMaxReputation);
  FUZZ_CHECK(o.redundancy >= 1 && o.redundancy <= matching::kMaxRedundancy);
  if (o.selection == matching::Selection::kDirect) {
    FUZZ_CHECK(o.direct_prover >= 1);
    FUZZ_CHECK(o.exclusive_ms >= 1 && o.exclusive_ms <= matching::kMaxDurationMs);
  } else {
    FUZZ_CHECK(o.direct_prover == 0 && o.exclusive_ms == 0);
  }
  FUZZ_CHECK(!r->inputs.empty() && r->inputs.size() <= max_inputs_bytes, r->inputs);
  // The minified inputs are what is stored and checked again by nobody: they must still pass.
  Status again = server::CheckInputs(market->inputs, r->inputs);
  FUZZ_CHECK(again.ok(), again.ToString() + " for stored inputs " + r->inputs);
  // Every reader of stored inputs parses them with StoredInputsOptions() (issue #11).
  boost::system::error_code ec;
  boost::json::parse(r->inputs, ec, {}, server::StoredInputsOptions());
  FUZZ_CHECK(!ec, ec.message() + " reading back inputs " + r->inputs);
  if (r->client_order_id.empty()) {
    FUZZ_CHECK(!r->request_sha256.has_value());
  } else {
    CheckText(r->client_order_id, server::kMaxNameBytes);
    FUZZ_CHECK(r->request_sha256.has_value());
  }
}

void PlaceOffer(std::string_view body) {
  const auto& markets = TestMarkets();
  auto r = server::ParsePlaceOffer(body, markets);
  CheckResult(r);
  CheckSameRefusal(r, server::ParsePlaceOffer(body, markets));
  if (!r) return;
  const matching::PlaceOffer& o = r->offer;
  FUZZ_CHECK(markets.Find(r->market) == o.market, r->market);
  FUZZ_CHECK(o.account == 0);
  FUZZ_CHECK(o.price >= 1 && o.price <= kMaxAmount);
  FUZZ_CHECK(o.est_ms >= 0 && o.est_ms <= matching::kMaxDurationMs);
  FUZZ_CHECK(o.capacity >= 1 && o.capacity <= server::kMaxOfferCapacity);
  FUZZ_CHECK(o.expires_at >= 0 && o.expires_at <= server::kMaxOfferLifeMs);
}

void Amount(std::string_view body) {
  auto r = server::ParseAmount(body);
  CheckResult(r);
  CheckSameRefusal(r, server::ParseAmount(body));
  if (r) FUZZ_CHECK(*r >= 1 && *r <= kMaxAmount);
}

void Deposit(std::string_view body) {
  auto r = server::ParseDeposit(body);
  CheckResult(r);
  CheckSameRefusal(r, server::ParseDeposit(body));
  if (!r) return;
  FUZZ_CHECK(r->amount >= 1 && r->amount <= kMaxAmount);
  if (!r->reference.empty()) CheckText(r->reference, server::kMaxNameBytes);
}

void CreateAccount(std::string_view body) {
  auto r = server::ParseCreateAccount(body);
  CheckResult(r);
  CheckSameRefusal(r, server::ParseCreateAccount(body));
  if (!r) return;
  // The treasury is the system's account: no request makes one.
  FUZZ_CHECK(r->role != matching::Role::kTreasury);
  CheckText(r->name, server::kMaxNameBytes);
}

void CreateMarket(std::string_view body) {
  auto r = server::ParseCreateMarket(body);
  CheckResult(r);
  CheckSameRefusal(r, server::ParseCreateMarket(body));
  if (!r) return;
  CheckText(r->slug, server::kMaxSlugBytes);
  FUZZ_CHECK(r->slug.front() != '-', r->slug);
  for (char c : r->slug) {
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-', r->slug);
  }
  CheckText(r->proof_system, server::kMaxProofSystemBytes);
  // Recovery rebuilds every market row: a row the engine would refuse must never be written.
  FUZZ_CHECK(matching::InvalidMarketParamField(r->params).empty());
  FUZZ_CHECK(r->params.max_proof_bytes >= 1 && r->params.max_proof_bytes <= server::kMaxProofBytes);
  if (r->verifier == server::kVerifierGroth16) {
    FUZZ_CHECK(!r->verification_key.empty() && r->verification_key.front() == '{');
    // The key's nPublic, if any, is what the market's orders are checked against.
    const auto n_public = server::VerificationKeyNPublic(r->verification_key);
    const server::InputCheck check = server::InputCheckFor(r->verifier, n_public);
    FUZZ_CHECK(check.kind == server::InputCheck::Kind::kGroth16);
  } else {
    FUZZ_CHECK(r->verifier == server::kVerifierSha256Preimage, r->verifier);
    FUZZ_CHECK(r->verification_key.empty());
  }
}

void Decline(std::string_view body, bool with_assignment) {
  auto r = server::ParseDecline(body, with_assignment);
  CheckResult(r);
  CheckSameRefusal(r, server::ParseDecline(body, with_assignment));
  if (!r) return;
  FUZZ_CHECK(with_assignment ? r->assignment >= 1 : r->assignment == 0);
  FUZZ_CHECK(r->reason == matching::Reason::kBusy || r->reason == matching::Reason::kUnprovable);
}

void PlaceTree(std::string_view body, std::size_t max_inputs_bytes) {
  const auto& markets = TestMarkets();
  auto r = server::ParsePlaceTree(body, markets, max_inputs_bytes);
  CheckResult(r);
  CheckSameRefusal(r, server::ParsePlaceTree(body, markets, max_inputs_bytes));
  if (!r) return;
  const matching::PlaceTree& t = r->tree;
  auto leaf = markets.Lookup(r->leaf_market);
  FUZZ_CHECK(leaf.has_value() && leaf->id == t.leaf_market, r->leaf_market);
  FUZZ_CHECK(markets.Find(r->merge_market) == t.merge_market, r->merge_market);
  auto merge = markets.Lookup(r->merge_market);
  FUZZ_CHECK(merge.has_value() && merge->inputs.kind == server::InputCheck::Kind::kSha256Merge,
             r->merge_market);
  FUZZ_CHECK(t.leaves >= 1 && t.leaves <= matching::kMaxTreeLeaves);
  FUZZ_CHECK(static_cast<std::size_t>(t.leaves) == r->leaf_inputs.size());
  FUZZ_CHECK(t.leaf_price >= 1 && t.leaf_price <= kMaxAmount);
  FUZZ_CHECK(t.merge_price >= (t.leaves > 1 ? 1 : 0) && t.merge_price <= kMaxAmount);
  FUZZ_CHECK(t.deadline >= 1 && t.deadline <= matching::kMaxDurationMs);
  FUZZ_CHECK(t.leaf_share_bps >= 1 && t.leaf_share_bps < matching::kBps);
  FUZZ_CHECK(t.min_reputation >= 0 && t.min_reputation <= matching::kMaxReputation);
  for (const std::string& inputs : r->leaf_inputs) {
    FUZZ_CHECK(!inputs.empty() && inputs.size() <= max_inputs_bytes, inputs);
    Status again = server::CheckInputs(leaf->inputs, inputs);
    FUZZ_CHECK(again.ok(), again.ToString() + " for stored inputs " + inputs);
  }
}

}  // namespace
}  // namespace proofbook::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proofbook::fuzz;
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (selector & 7) {
    case 0:
      if ((selector & 16) != 0) {
        PlaceTree(body, (selector & 8) != 0 ? kSmallMaxInputsBytes : kDefaultMaxInputsBytes);
      } else {
        PlaceOrder(body, (selector & 8) != 0 ? kSmallMaxInputsBytes : kDefaultMaxInputsBytes);
      }
      break;
    case 1:
      PlaceOffer(body);
      break;
    case 2:
      Amount(body);
      break;
    case 3:
      Deposit(body);
      break;
    case 4:
      CreateAccount(body);
      break;
    case 5:
      CreateMarket(body);
      break;
    case 6:
      Decline(body, /*with_assignment=*/false);
      break;
    case 7:
      Decline(body, /*with_assignment=*/true);
      break;
  }
  return 0;
}
