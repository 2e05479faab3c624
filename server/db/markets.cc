#include "server/db/markets.h"

#include "server/base/resources.h"
#include "server/db/pq.h"

namespace proofbook::server {

namespace json = boost::json;

json::array ReadMarkets(DbSession& session) {
  pqxx::read_transaction tx(Pq(session));
  json::array markets;
  for (const auto& row : tx.exec("SELECT * FROM markets ORDER BY id")) {
    matching::MarketParams p;
    p.min_stake = row["min_stake"].as<int64_t>();
    p.slash_bps = row["slash_bps"].as<int32_t>();
    p.compensation_bps = row["compensation_bps"].as<int32_t>();
    p.fee_bps = row["fee_bps"].as<int32_t>();
    p.min_prover_time_ms = row["min_prover_time_ms"].as<int64_t>();
    p.grace_bps = row["grace_bps"].as<int32_t>();
    p.uncle_reward_bps = row["uncle_reward_bps"].as<int32_t>();
    p.max_proof_bytes = row["max_proof_bytes"].as<int64_t>();
    markets.push_back(MarketJson(row["id"].as<std::string>(), row["proof_system"].as<std::string>(),
                                 row["verifier"].as<std::string>(), p));
  }
  return markets;
}

json::object ReadBook(DbSession& session, matching::MarketId market, const std::string& slug) {
  pqxx::read_transaction tx(Pq(session));
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
  return json::object{{"market", slug}, {"asks", asks}, {"bids", bids}};
}

Result<matching::MarketId> InsertMarket(DbSession& session, const std::string& slug,
                                        const std::string& proof_system,
                                        const std::string& verifier,
                                        const matching::MarketParams& p,
                                        const std::string& verification_key) {
  pqxx::work tx(Pq(session));
  auto rows = tx.exec_params(
      "INSERT INTO markets (id, proof_system, verifier, min_stake, slash_bps, "
      "compensation_bps, fee_bps, min_prover_time_ms, grace_bps, uncle_reward_bps, "
      "max_proof_bytes, verification_key) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,"
      "NULLIF($12, '')::jsonb) ON CONFLICT (id) DO NOTHING RETURNING idx",
      slug, proof_system, verifier, p.min_stake, p.slash_bps, p.compensation_bps, p.fee_bps,
      p.min_prover_time_ms, p.grace_bps, p.uncle_reward_bps, p.max_proof_bytes, verification_key);
  if (rows.empty()) {
    return Status(StatusCode::kConflict, "market " + slug + " already exists", "id");
  }
  const auto idx = static_cast<matching::MarketId>(rows[0][0].as<int>());
  tx.commit();
  return idx;
}

void ForEachMarket(DbSession& session,
                   const std::function<void(const std::string& slug, matching::MarketId idx)>& fn) {
  pqxx::read_transaction tx(Pq(session));
  for (const auto& row : tx.exec("SELECT id, idx FROM markets")) {
    fn(row[0].as<std::string>(), static_cast<matching::MarketId>(row[1].as<int>()));
  }
}

}  // namespace proofbook::server
