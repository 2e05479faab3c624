#include "server/db/markets.h"

#include <charconv>

#include "server/base/resources.h"
#include "server/db/pq.h"
#include "server/db/rows.h"

namespace proofbook::server {

namespace json = boost::json;

json::array ReadMarkets(DbSession& session) {
  ReadSnapshot tx(Pq(session));
  json::array markets;
  // With its ECVRF keys (migrations/0011_vrf.sql), oldest first: the active one draws; retired
  // ones are kept so old draws stay checkable.
  for (const auto& row :
       tx.exec("SELECT m.*, (SELECT coalesce(json_agg(json_build_object('key_id', k.id, "
               "'public_key', encode(k.public_key, 'hex'), 'created_at', k.created_at, "
               "'retired_at', k.retired_at) ORDER BY k.id), '[]') FROM vrf_keys k "
               "WHERE k.market_idx = m.idx)::text AS vrf_keys_json FROM markets m ORDER BY m.id")) {
    matching::MarketParams p = MarketParamsFromRow(row);
    json::object m = MarketJson(row["id"].as<std::string>(), row["proof_system"].as<std::string>(),
                                row["verifier"].as<std::string>(), p);
    json::value keys = json::parse(row["vrf_keys_json"].as<std::string>());
    json::value active = nullptr;
    for (const json::value& k : keys.as_array()) {
      if (k.as_object().at("retired_at").is_null()) active = k.as_object().at("public_key");
    }
    m["vrf_public_key"] = active;
    m["vrf_keys"] = std::move(keys);
    markets.push_back(std::move(m));
  }
  return markets;
}

json::object ReadBook(DbSession& session, matching::MarketId market, const std::string& slug,
                      int max_offers) {
  ReadSnapshot tx(Pq(session));
  json::array asks, bids;
  for (const auto& r :
       tx.exec_params("SELECT price, count(*), sum(capacity_left) FROM offers "
                      "WHERE market_idx = $1 AND status = 'open' AND capacity_left > 0 "
                      "GROUP BY price ORDER BY price",
                      static_cast<int>(market))) {
    asks.push_back(json::object{{"price", r[0].as<int64_t>()},
                                {"offers", r[1].as<int64_t>()},
                                {"capacity", r[2].as<int64_t>()}});
  }
  for (const auto& r : tx.exec_params("SELECT max_price, count(*), sum(needed) FROM orders "
                                      "WHERE market_idx = $1 AND status = 'open' AND needed > 0 "
                                      "GROUP BY max_price ORDER BY max_price DESC",
                                      static_cast<int>(market))) {
    bids.push_back(json::object{{"max_price", r[0].as<int64_t>()},
                                {"orders", r[1].as<int64_t>()},
                                {"proofs_wanted", r[2].as<int64_t>()}});
  }
  // Each resting offer with capacity, ranked as a `price` order ranks it (matching/README.md
  // "Ranking": the price marked up by the prover's distance from a perfect reputation, times
  // the market's reputation_weight_bps), with its prover and reputation.
  json::array offers;
  for (const auto& r : tx.exec_params(
           "SELECT f.id, f.prover_id, f.price, f.est_ms, f.capacity_left, a.reputation_bps "
           "FROM offers f JOIN accounts a ON a.id = f.prover_id "
           "JOIN markets m ON m.idx = f.market_idx "
           "WHERE f.market_idx = $1 AND f.status = 'open' AND f.capacity_left > 0 "
           "ORDER BY f.price::numeric * (10000 + m.reputation_weight_bps::bigint * "
           "(10000 - a.reputation_bps) / 10000), greatest(f.est_ms, m.min_prover_time_ms), "
           "a.reputation_bps DESC, f.id LIMIT $2",
           static_cast<int>(market), max_offers)) {
    offers.push_back(json::object{{"offer", r[0].as<int64_t>()},
                                  {"prover", r[1].as<int64_t>()},
                                  {"price", r[2].as<int64_t>()},
                                  {"est_ms", r[3].as<int64_t>()},
                                  {"capacity_left", r[4].as<int64_t>()},
                                  {"reputation_bps", r[5].as<int64_t>()}});
  }
  return json::object{{"market", slug}, {"asks", asks}, {"bids", bids}, {"offers", offers}};
}

Result<matching::MarketId> NextMarketIdx(DbSession& session, const std::string& slug) {
  pqxx::nontransaction tx(Pq(session));
  if (!tx.exec_params("SELECT 1 FROM markets WHERE id = $1", slug).empty()) {
    return Status(StatusCode::kConflict, "market " + slug + " already exists", "id");
  }
  return static_cast<matching::MarketId>(
      tx.exec("SELECT nextval('markets_idx_seq')")[0][0].as<int64_t>());
}

void ForEachMarket(DbSession& session, const std::function<void(const MarketDirectoryRow&)>& fn) {
  ReadSnapshot tx(Pq(session));
  // nPublic as its JSON number's text, when it is a number; only an integer is taken.
  for (const auto& row :
       tx.exec("SELECT id, idx, verifier, CASE WHEN jsonb_typeof(verification_key->'nPublic') "
               "= 'number' THEN verification_key->>'nPublic' END FROM markets")) {
    MarketDirectoryRow r;
    r.slug = row[0].as<std::string>();
    r.idx = static_cast<matching::MarketId>(row[1].as<int>());
    r.verifier = row[2].as<std::string>();
    if (!row[3].is_null()) {
      const std::string text = row[3].as<std::string>();
      int64_t n = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec == std::errc() && end == text.data() + text.size()) r.n_public = n;
    }
    fn(r);
  }
}

}  // namespace proofbook::server
