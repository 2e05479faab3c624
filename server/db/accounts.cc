#include "server/db/accounts.h"

#include <algorithm>

#include "server/db/pq.h"

namespace proofbook::server {

namespace json = boost::json;

Result<json::object> ReadAccount(DbSession& session, matching::AccountId id) {
  ReadSnapshot tx(Pq(session));
  auto rows = tx.exec_params(
      "SELECT id, role, name, available, escrowed, staked, reputation_bps FROM accounts "
      "WHERE id = $1",
      id);
  if (rows.empty()) return Status(StatusCode::kNotFound, "no such account");
  const auto& r = rows[0];
  return json::object{{"id", r[0].as<int64_t>()},        {"role", r[1].as<std::string>()},
                      {"name", r[2].as<std::string>()},  {"available", r[3].as<int64_t>()},
                      {"escrowed", r[4].as<int64_t>()},  {"staked", r[5].as<int64_t>()},
                      {"reputation_bps", r[6].as<int>()}};
}

Result<json::object> ReadProverStanding(DbSession& session, matching::AccountId id) {
  ReadSnapshot tx(Pq(session));
  auto account = tx.exec_params(
      "SELECT staked, reputation_bps FROM accounts WHERE id = $1 AND role = 'prover'", id);
  if (account.empty())
    return Status(StatusCode::kNotFound, "no prover " + std::to_string(id), "id");
  const int64_t staked = account[0][0].as<int64_t>();
  json::array jailed_in;
  for (const auto& r :
       tx.exec_params("SELECT id FROM markets WHERE min_stake > $1 ORDER BY id", staked)) {
    jailed_in.push_back(json::string(r[0].as<std::string>()));
  }
  // Jobs by what became of them; misses and invalid proofs are counted from the slashings.
  auto jobs = tx.exec_params(
      "SELECT count(*), "
      "count(*) FILTER (WHERE status IN ('delivered', 'settled', 'late_delivered', 'uncled', "
      "'invalid')), "
      "count(*) FILTER (WHERE status = 'settled'), "
      "count(*) FILTER (WHERE status IN ('declined_busy', 'declined_unprovable')), "
      "count(*) FILTER (WHERE status = 'released'), "
      "(SELECT count(*) FROM slashings WHERE prover_id = $1 AND reason = 'missed_deadline'), "
      "(SELECT count(*) FROM slashings WHERE prover_id = $1 AND reason = 'invalid_proof') "
      "FROM assignments WHERE prover_id = $1",
      id)[0];
  // From assignment to the proof's arrival, over the prover's last 1,000 deliveries.
  auto times = tx.exec_params(
      "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY d), "
      "percentile_disc(0.95) WITHIN GROUP (ORDER BY d), count(*) FROM ("
      "SELECT (extract(epoch FROM p.received_at) * 1000)::bigint - a.assigned_at_ms AS d "
      "FROM assignments a JOIN proofs p ON p.assignment_id = a.id WHERE a.prover_id = $1 "
      "ORDER BY a.id DESC LIMIT 1000) t",
      id)[0];
  auto ms = [](const pqxx::field& f) -> json::value {
    if (f.is_null()) return nullptr;
    return std::max<int64_t>(0, f.as<int64_t>());
  };
  return json::object{{"id", id},
                      {"staked", staked},
                      {"reputation_bps", account[0][1].as<int>()},
                      {"jailed_in", std::move(jailed_in)},
                      {"jobs", json::object{{"won", jobs[0].as<int64_t>()},
                                            {"delivered", jobs[1].as<int64_t>()},
                                            {"settled", jobs[2].as<int64_t>()},
                                            {"missed", jobs[5].as<int64_t>()},
                                            {"invalid", jobs[6].as<int64_t>()},
                                            {"declined", jobs[3].as<int64_t>()},
                                            {"released", jobs[4].as<int64_t>()}}},
                      {"delivery_ms", json::object{{"median", ms(times[0])},
                                                   {"p95", ms(times[1])},
                                                   {"sample", times[2].as<int64_t>()}}}};
}

json::array ReadOpenOffers(DbSession& session, matching::AccountId prover) {
  ReadSnapshot tx(Pq(session));
  json::array offers;
  for (const auto& r : tx.exec_params(
           "SELECT o.id, m.id, o.price, o.est_ms, o.capacity, o.capacity_left, o.expires_at_ms, "
           "o.status FROM offers o JOIN markets m ON m.idx = o.market_idx "
           "WHERE o.prover_id = $1 AND o.status = 'open' ORDER BY o.id",
           prover)) {
    offers.push_back(json::object{{"id", r[0].as<int64_t>()},
                                  {"market", r[1].as<std::string>()},
                                  {"price", r[2].as<int64_t>()},
                                  {"est_ms", r[3].as<int64_t>()},
                                  {"capacity", r[4].as<int>()},
                                  {"capacity_left", r[5].as<int>()},
                                  {"expires_at_ms", r[6].as<int64_t>()},
                                  {"status", r[7].as<std::string>()}});
  }
  return offers;
}

std::vector<int64_t> OpenOfferIds(DbSession& session, matching::AccountId prover) {
  ReadSnapshot tx(Pq(session));
  std::vector<int64_t> ids;
  for (const auto& row :
       tx.exec_params("SELECT id FROM offers WHERE prover_id = $1 AND status = 'open'", prover)) {
    ids.push_back(row[0].as<int64_t>());
  }
  return ids;
}

namespace {

// Serialises concurrent first-admin bootstraps (two servers starting on an empty database).
constexpr long long kBootstrapLockKey = 0x706261646d696e21LL;  // "pbadmin!"

int64_t InsertAccountIn(pqxx::transaction_base& tx, std::string_view role, std::string_view name,
                        const Sha256Digest& key_hash) {
  const int64_t id =
      tx.exec_params("INSERT INTO accounts (role, name) VALUES ($1, $2) RETURNING id",
                     std::string(role), std::string(name))[0][0]
          .as<int64_t>();
  pqxx::binarystring blob(key_hash.data(), key_hash.size());
  tx.exec_params("INSERT INTO api_keys (key_hash, account_id) VALUES ($1, $2)", blob, id);
  return id;
}

}  // namespace

int64_t NextAccountId(DbSession& session) {
  pqxx::nontransaction tx(Pq(session));
  return tx.exec("SELECT nextval(pg_get_serial_sequence('accounts', 'id'))")[0][0].as<int64_t>();
}

std::optional<int64_t> InsertFirstAdmin(DbSession& session, const Sha256Digest& key_hash) {
  pqxx::work tx(Pq(session));
  tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kBootstrapLockKey) + ")");
  if (tx.exec("SELECT 1 FROM accounts WHERE role = 'admin' LIMIT 1").size() > 0) {
    return std::nullopt;
  }
  const int64_t id = InsertAccountIn(tx, "admin", "admin", key_hash);
  tx.commit();
  return id;
}

namespace {
// A row of api_key_rows (migrations/0013_api_key_ids.sql), in its column order.
ApiKeyRow KeyRowFrom(const pqxx::row& r) {
  ApiKeyRow k;
  k.id = r[0].as<int64_t>();
  k.account = r[1].as<int64_t>();
  k.role = r[2].as<std::string>();
  k.created_at_ms = r[3].as<int64_t>();
  if (!r[4].is_null()) k.revoked_at_ms = r[4].as<int64_t>();
  return k;
}
}  // namespace

Result<ApiKeyRow> InsertApiKey(DbSession& session, matching::AccountId account,
                               const Sha256Digest& key_hash) {
  pqxx::work tx(Pq(session));
  pqxx::binarystring blob(key_hash.data(), key_hash.size());
  auto inserted = tx.exec_params(
      "INSERT INTO api_keys (key_hash, account_id) SELECT $1::bytea, id FROM accounts "
      "WHERE id = $2 AND role <> 'treasury' RETURNING id",
      blob, account);
  if (inserted.empty()) {
    return Status(StatusCode::kNotFound, "no account " + std::to_string(account), "id");
  }
  auto r = tx.exec_params("SELECT * FROM api_key_rows WHERE id = $1", inserted[0][0].as<int64_t>());
  tx.commit();
  return KeyRowFrom(r[0]);
}

Result<RevokedKey> RevokeApiKey(DbSession& session, int64_t key_id) {
  pqxx::work tx(Pq(session));
  // Serialised with the bootstrap and other revocations: the last-admin check below must see
  // every admin key there is.
  tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kBootstrapLockKey) + ")");
  auto found = tx.exec_params(
      "SELECT v.*, k.key_hash FROM api_key_rows v JOIN api_keys k ON k.id = v.id WHERE v.id = $1",
      key_id);
  if (found.empty()) {
    return Status(StatusCode::kNotFound, "no API key " + std::to_string(key_id), "key_id");
  }
  RevokedKey out;
  out.row = KeyRowFrom(found[0]);
  out.digest = pqxx::binarystring(found[0][5]).str();
  if (out.row.revoked_at_ms) return out;  // revoked before: nothing changes
  if (out.row.role == "admin" &&
      tx.exec("SELECT count(*) FROM api_keys k JOIN accounts a ON a.id = k.account_id "
              "WHERE a.role = 'admin' AND k.revoked_at IS NULL")[0][0]
              .as<int64_t>() <= 1) {
    return Status(StatusCode::kConflict,
                  "this is the last admin key: make another before revoking it", "key_id");
  }
  tx.exec_params("UPDATE api_keys SET revoked_at = now() WHERE id = $1", key_id);
  // Read back through the view, which owns how a time becomes ms.
  out.row = KeyRowFrom(tx.exec_params("SELECT * FROM api_key_rows WHERE id = $1", key_id)[0]);
  tx.commit();
  return out;
}

void ForEachApiKey(DbSession& session,
                   const std::function<void(std::string digest, matching::AccountId account,
                                            std::string_view role)>& fn) {
  ReadSnapshot tx(Pq(session));
  for (const auto& row :
       tx.exec("SELECT k.key_hash, a.id, a.role FROM api_keys k JOIN accounts a ON "
               "a.id = k.account_id WHERE k.revoked_at IS NULL")) {
    pqxx::binarystring hash(row[0]);
    fn(std::string(hash.str()), row[1].as<int64_t>(), row[2].as<std::string>());
  }
}

}  // namespace proofbook::server
