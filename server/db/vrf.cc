#include "server/db/vrf.h"

#include <map>
#include <stdexcept>

#include "server/base/crypto.h"
#include "server/db/pq.h"

namespace proofbook::server {

namespace json = boost::json;

namespace {

std::vector<uint8_t> Bytes(const pqxx::field& hex) {
  auto bytes = HexDecode(hex.as<std::string>());
  if (!bytes) throw std::runtime_error("vrf: a bytea column did not come back as hex");
  return *bytes;
}

template <std::size_t N>
std::array<uint8_t, N> Fixed(const pqxx::field& hex) {
  std::vector<uint8_t> v = Bytes(hex);
  if (v.size() != N) throw std::runtime_error("vrf: a bytea column has the wrong length");
  std::array<uint8_t, N> out;
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

std::string Hex(const std::vector<uint8_t>& v) { return HexEncode(v.data(), v.size()); }

}  // namespace

std::vector<VrfKeyRow> ReadVrfKeys(DbSession& session) {
  ReadSnapshot tx(Pq(session));
  std::vector<VrfKeyRow> keys;
  for (const auto& r : tx.exec("SELECT id, market_idx, encode(public_key, 'hex'), "
                               "encode(sealed_secret, 'hex'), encode(nonce, 'hex'), "
                               "retired_at IS NULL FROM vrf_keys ORDER BY id")) {
    VrfKeyRow k;
    k.id = r[0].as<int64_t>();
    k.market = r[1].as<uint32_t>();
    k.public_key = Fixed<32>(r[2]);
    k.sealed_secret = Bytes(r[3]);
    k.nonce = Fixed<24>(r[4]);
    k.active = r[5].as<bool>();
    keys.push_back(std::move(k));
  }
  return keys;
}

int64_t InsertVrfKey(DbSession& session, const VrfKeyRow& key) {
  pqxx::work tx(Pq(session));
  tx.exec_params(
      "UPDATE vrf_keys SET retired_at = now() WHERE market_idx = $1 AND "
      "retired_at IS NULL",
      static_cast<int>(key.market));
  auto r = tx.exec_params(
      "INSERT INTO vrf_keys (market_idx, public_key, sealed_secret, nonce) VALUES "
      "($1, decode($2, 'hex'), decode($3, 'hex'), decode($4, 'hex')) RETURNING id",
      static_cast<int>(key.market), HexEncode(key.public_key.data(), key.public_key.size()),
      Hex(key.sealed_secret), HexEncode(key.nonce.data(), key.nonce.size()));
  const int64_t id = r[0][0].as<int64_t>();
  tx.commit();
  return id;
}

std::vector<VrfBeaconRow> ReadVrfBeacons(DbSession& session) {
  ReadSnapshot tx(Pq(session));
  std::vector<VrfBeaconRow> beacons;
  for (const auto& r :
       tx.exec("SELECT epoch, encode(value, 'hex') FROM vrf_beacons ORDER BY epoch")) {
    beacons.push_back({r[0].as<int64_t>(), Bytes(r[1])});
  }
  return beacons;
}

bool InsertVrfBeacon(DbSession& session, const VrfBeaconRow& beacon) {
  pqxx::work tx(Pq(session));
  auto r = tx.exec_params(
      "INSERT INTO vrf_beacons (epoch, value) VALUES ($1, decode($2, 'hex')) "
      "ON CONFLICT (epoch) DO NOTHING RETURNING 1",
      beacon.epoch, Hex(beacon.value));
  tx.commit();
  return !r.empty();
}

std::optional<OrderDraws> ReadOrderDraws(DbSession& session, matching::OrderId order) {
  ReadSnapshot tx(Pq(session));
  auto o = tx.exec_params(
      "SELECT o.account_id, o.market_idx, m.id, o.selection, o.placed_at_ms, o.vrf_draws "
      "FROM orders o JOIN markets m ON m.idx = o.market_idx WHERE o.id = $1",
      order);
  if (o.empty()) return std::nullopt;
  OrderDraws out;
  out.account = o[0][0].as<int64_t>();
  // Each round: the candidates published together (kVrfCandidate, amount = the round's first
  // attempt), in rank order.
  std::map<int64_t, json::array> rounds;  // first attempt -> candidates
  for (const auto& r : tx.exec_params("SELECT first_attempt, offer_id, prover_id, weight FROM "
                                      "vrf_candidates WHERE order_id = $1 ORDER BY seq",
                                      order)) {
    rounds[r[0].as<int64_t>()].push_back(json::object{{"offer", r[1].as<int64_t>()},
                                                      {"prover", r[2].as<int64_t>()},
                                                      {"weight", r[3].as<int64_t>()}});
  }
  // Draw j made the order's j-th assignment: each draw assigns once, in id order.
  auto assignments = tx.exec_params(
      "SELECT id, offer_id, prover_id FROM assignments WHERE order_id = $1 ORDER BY id", order);
  std::map<int64_t, json::object> draws;  // attempt -> draw
  for (const auto& r :
       tx.exec_params("SELECT d.attempt, d.key_id, encode(k.public_key, 'hex'), d.epoch, "
                      "encode(b.value, 'hex'), encode(d.alpha, 'hex'), encode(d.pi, 'hex'), "
                      "encode(d.beta, 'hex') FROM vrf_draws d JOIN vrf_keys k ON k.id = d.key_id "
                      "LEFT JOIN vrf_beacons b ON b.epoch = d.epoch WHERE d.order_id = $1 "
                      "ORDER BY d.attempt",
                      order)) {
    const int64_t attempt = r[0].as<int64_t>();
    json::object d{
        {"attempt", attempt},
        {"key_id", r[1].as<int64_t>()},
        {"public_key", r[2].as<std::string>()},
        {"epoch", r[3].as<int64_t>()},
        {"beacon", r[4].is_null() ? json::value(nullptr) : json::value(r[4].as<std::string>())},
        {"alpha", r[5].as<std::string>()},
        {"pi", r[6].as<std::string>()},
        {"beta", r[7].as<std::string>()}};
    if (attempt >= 0 && static_cast<std::size_t>(attempt) < assignments.size()) {
      const auto& a = assignments[static_cast<pqxx::result::size_type>(attempt)];
      d["assignment"] = a[0].as<int64_t>();
      d["offer"] = a[1].as<int64_t>();
      d["prover"] = a[2].as<int64_t>();
    }
    draws[attempt] = std::move(d);
  }
  json::array out_rounds;
  for (auto it = rounds.begin(); it != rounds.end(); ++it) {
    auto next = std::next(it);
    const int64_t end = next == rounds.end() ? INT64_MAX : next->first;
    json::array round_draws;
    for (auto d = draws.lower_bound(it->first); d != draws.end() && d->first < end; ++d) {
      round_draws.push_back(d->second);
    }
    out_rounds.push_back(json::object{{"first_attempt", it->first},
                                      {"candidates", std::move(it->second)},
                                      {"draws", std::move(round_draws)}});
  }
  out.body = json::object{{"order", order},
                          {"market", o[0][2].as<std::string>()},
                          {"market_idx", o[0][1].as<int64_t>()},
                          {"selection", o[0][3].as<std::string>()},
                          {"placed_at_ms", o[0][4].as<int64_t>()},
                          {"draws_made", o[0][5].as<int64_t>()},
                          {"suite", "ECVRF-EDWARDS25519-SHA512-TAI"},
                          {"rounds", std::move(out_rounds)}};
  return out;
}

}  // namespace proofbook::server
