#include "clients/cli_draws.h"

#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "clients/common/hex.h"
#include "vrf/draw_protocol.h"
#include "vrf/ecvrf.h"

namespace proofbook::cli {

namespace json = boost::json;

namespace {

// The published rule (README "VRF selection"): index i with word mod W in the i-th weight's
// range, W the sum of the weights left, in published order.
std::optional<std::size_t> Pick(uint64_t word, const std::vector<int64_t>& weights) {
  uint64_t total = 0;
  for (int64_t w : weights) {
    if (w <= 0) return std::nullopt;
    total += static_cast<uint64_t>(w);
  }
  if (total == 0) return std::nullopt;
  uint64_t r = word % total;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (r < static_cast<uint64_t>(weights[i])) return i;
    r -= static_cast<uint64_t>(weights[i]);
  }
  return std::nullopt;
}

int64_t IntOr(const json::object& o, const char* name, int64_t fallback = -1) {
  const json::value* v = o.if_contains(name);
  return v && v->is_int64() ? v->as_int64() : fallback;
}

std::string StrOr(const json::object& o, const char* name) {
  const json::value* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

template <std::size_t N>
std::optional<std::array<uint8_t, N>> FixedHex(const std::string& hex) {
  auto bytes = clients::HexDecode(hex);
  if (!bytes || bytes->size() != N) return std::nullopt;
  std::array<uint8_t, N> out;
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

// market slug -> (key id -> public key hex), from GET /v1/markets.
using PublishedKeys = std::map<std::string, std::map<int64_t, std::string>>;

Expected<PublishedKeys> ReadPublishedKeys(ApiClient& api) {
  auto r = api.Get("/v1/markets");
  if (!r) return r.error();
  PublishedKeys keys;
  const json::value* markets =
      r->json.is_object() ? r->json.as_object().if_contains("markets") : nullptr;
  if (markets == nullptr || !markets->is_array()) {
    return CliError{kExitFailure, "GET /v1/markets: no markets array"};
  }
  for (const json::value& m : markets->as_array()) {
    if (!m.is_object()) continue;
    const json::value* list = m.as_object().if_contains("vrf_keys");
    auto& mine = keys[StrOr(m.as_object(), "id")];
    if (list == nullptr || !list->is_array()) continue;
    for (const json::value& k : list->as_array()) {
      if (k.is_object()) mine[IntOr(k.as_object(), "key_id")] = StrOr(k.as_object(), "public_key");
    }
  }
  return keys;
}

// Every difference found in one order's draws; empty: valid. `draws` counts the draws checked.
std::vector<std::string> CheckOrder(const json::object& body, const PublishedKeys& keys,
                                    int64_t& draws) {
  std::vector<std::string> problems;
  auto problem = [&problems](std::string what) { problems.push_back(std::move(what)); };
  const int64_t order = IntOr(body, "order");
  const int64_t market_idx = IntOr(body, "market_idx");
  const std::string market = StrOr(body, "market");
  const int64_t placed_at = IntOr(body, "placed_at_ms");
  if (StrOr(body, "selection") != "vrf") problem("not a vrf order");
  if (StrOr(body, "suite") != "ECVRF-EDWARDS25519-SHA512-TAI") problem("unknown suite");
  auto market_keys = keys.find(market);
  const json::value* rounds = body.if_contains("rounds");
  if (rounds == nullptr || !rounds->is_array()) {
    problem("no rounds");
    return problems;
  }
  int64_t next_attempt = 0;
  for (const json::value& rv : rounds->as_array()) {
    const json::object& round = rv.as_object();
    std::vector<int64_t> weights, offers, provers;
    const json::value* cands = round.if_contains("candidates");
    if (cands != nullptr && cands->is_array()) {
      for (const json::value& c : cands->as_array()) {
        weights.push_back(IntOr(c.as_object(), "weight"));
        offers.push_back(IntOr(c.as_object(), "offer"));
        provers.push_back(IntOr(c.as_object(), "prover"));
      }
    }
    if (IntOr(round, "first_attempt") != next_attempt) {
      problem("round starts at attempt " + std::to_string(IntOr(round, "first_attempt")) +
              ", expected " + std::to_string(next_attempt));
    }
    const json::value* list = round.if_contains("draws");
    if (list == nullptr || !list->is_array() || list->as_array().empty()) {
      problem("a round without draws");
      continue;
    }
    for (const json::value& dv : list->as_array()) {
      const json::object& d = dv.as_object();
      const int64_t attempt = IntOr(d, "attempt");
      const std::string at = "draw " + std::to_string(attempt) + ": ";
      ++draws;
      if (attempt != next_attempt) problem(at + "expected attempt " + std::to_string(next_attempt));
      next_attempt = attempt + 1;
      // The key: one the market published.
      const std::string pk_hex = StrOr(d, "public_key");
      if (market_keys == keys.end() || !market_keys->second.count(IntOr(d, "key_id")) ||
          market_keys->second.at(IntOr(d, "key_id")) != pk_hex) {
        problem(at + "key " + std::to_string(IntOr(d, "key_id")) + " is not one " + market +
                " publishes");
      }
      // alpha from public data.
      const int64_t epoch = IntOr(d, "epoch");
      if (epoch != vrf::EpochOf(placed_at)) {
        problem(at + "epoch " + std::to_string(epoch) + " is not the order's (" +
                std::to_string(vrf::EpochOf(placed_at)) + ")");
      }
      std::vector<uint8_t> beacon;
      if (const json::value* b = d.if_contains("beacon"); b && b->is_string()) {
        auto bytes = clients::HexDecode(std::string(b->as_string()));
        if (!bytes) problem(at + "beacon is not hex");
        if (bytes) beacon = *bytes;
      }
      std::vector<uint8_t> alpha =
          vrf::DrawAlpha(static_cast<uint32_t>(market_idx), vrf::SeedForEpoch(epoch, beacon),
                         static_cast<uint64_t>(order), static_cast<uint32_t>(attempt));
      const std::string_view alpha_bytes(reinterpret_cast<const char*>(alpha.data()), alpha.size());
      if (clients::HexEncode(alpha_bytes) != StrOr(d, "alpha")) {
        problem(at + "alpha differs from the protocol's for (market, epoch seed, order, attempt)");
      }
      // The proof.
      auto pk = FixedHex<vrf::kPublicKeyBytes>(pk_hex);
      auto pi = FixedHex<vrf::kProofBytes>(StrOr(d, "pi"));
      auto beta = FixedHex<vrf::kOutputBytes>(StrOr(d, "beta"));
      if (!pk || !pi || !beta) {
        problem(at + "public_key, pi or beta is not hex of the right length");
        continue;
      }
      vrf::Verified v = vrf::Verify(*pk, alpha, *pi);
      if (!v.ok()) {
        problem(at + "the ECVRF proof does not verify (" + vrf::VerifyErrorName(v.error) + ")");
        continue;
      }
      if (v.beta != *beta) problem(at + "beta is not the proof's output");
      // The pick.
      std::optional<std::size_t> i = Pick(vrf::DrawWord(v.beta), weights);
      if (!i) {
        problem(at + "no candidate left to pick, or a weight is not positive");
        continue;
      }
      if (offers[*i] != IntOr(d, "offer") || provers[*i] != IntOr(d, "prover")) {
        problem(at + "the rule picks offer " + std::to_string(offers[*i]) + " (prover " +
                std::to_string(provers[*i]) + "), the server assigned offer " +
                std::to_string(IntOr(d, "offer")) + " (prover " +
                std::to_string(IntOr(d, "prover")) + ")");
      }
      weights.erase(weights.begin() + static_cast<std::ptrdiff_t>(*i));
      offers.erase(offers.begin() + static_cast<std::ptrdiff_t>(*i));
      provers.erase(provers.begin() + static_cast<std::ptrdiff_t>(*i));
    }
  }
  if (next_attempt != IntOr(body, "draws_made")) {
    problem(std::to_string(next_attempt) + " draws published, the order made " +
            std::to_string(IntOr(body, "draws_made")));
  }
  return problems;
}

}  // namespace

Outcome DrawVerify(ApiClient& api, const OutputMode& mode, const std::vector<int64_t>& orders) {
  if (!vrf::Init()) return CliError{kExitFailure, "libsodium failed to initialise"};
  auto keys = ReadPublishedKeys(api);
  if (!keys) return keys.error();
  json::array results;
  int invalid = 0;
  for (int64_t order : orders) {
    auto r = api.Get("/v1/orders/" + std::to_string(order) + "/draws");
    if (!r) return r.error();
    int64_t draws = 0;
    std::vector<std::string> problems =
        r->json.is_object() ? CheckOrder(r->json.as_object(), *keys, draws)
                            : std::vector<std::string>{"the answer is not a JSON object"};
    invalid += problems.empty() ? 0 : 1;
    if (mode.json) {
      json::array p;
      for (const std::string& s : problems) p.push_back(json::string(s));
      results.push_back(json::object{
          {"order", order}, {"valid", problems.empty()}, {"draws", draws}, {"problems", p}});
      continue;
    }
    if (problems.empty()) {
      std::cout << "order " << order << ": valid (" << draws << " draws)\n";
    } else {
      std::cout << "order " << order << ": INVALID\n";
      for (const std::string& s : problems) std::cout << "  " << s << "\n";
    }
  }
  if (mode.json) std::cout << json::serialize(json::object{{"orders", results}}) << "\n";
  if (invalid > 0) {
    return CliError{kExitFailure, std::to_string(invalid) + " of " + std::to_string(orders.size()) +
                                      " orders do not verify"};
  }
  return Done{};
}

}  // namespace proofbook::cli
