#include "server/db/proofs.h"

#include "server/base/crypto.h"
#include "server/db/pq.h"

namespace proofbook::server {

std::vector<OpenAssignment> OpenAssignments(DbSession& session, matching::AccountId prover) {
  ReadSnapshot tx(Pq(session));
  std::vector<OpenAssignment> out;
  for (const auto& r :
       tx.exec_params("SELECT a.id, a.order_id, a.market_idx, a.price, a.due_at_ms, "
                      "o.inputs::text FROM assignments a JOIN orders o ON o.id = a.order_id "
                      "WHERE a.prover_id = $1 AND a.status = 'assigned' ORDER BY a.id",
                      prover)) {
    OpenAssignment a;
    a.assignment = r[0].as<int64_t>();
    a.order = r[1].as<int64_t>();
    a.market = static_cast<matching::MarketId>(r[2].as<int>());
    a.price = r[3].as<int64_t>();
    a.due_at_ms = r[4].as<int64_t>();
    if (!r[5].is_null()) a.inputs = r[5].as<std::string>();
    out.push_back(std::move(a));
  }
  return out;
}

std::unordered_map<int64_t, std::string> OrderInputs(DbSession& session,
                                                     const std::vector<int64_t>& orders) {
  std::unordered_map<int64_t, std::string> inputs;
  if (orders.empty()) return inputs;
  std::string ids;
  for (int64_t id : orders) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  ReadSnapshot tx(Pq(session));
  for (const auto& r : tx.exec("SELECT id, inputs::text FROM orders WHERE id IN (" + ids + ")")) {
    if (!r[1].is_null()) inputs[r[0].as<int64_t>()] = r[1].as<std::string>();
  }
  return inputs;
}

std::optional<UncleTerms> ReadUncleTerms(DbSession& session, int64_t order) {
  ReadSnapshot tx(Pq(session));
  auto r = tx.exec_params(
      "SELECT o.deadline_ms, m.uncle_reward_bps FROM orders o "
      "JOIN markets m ON m.idx = o.market_idx WHERE o.id = $1",
      order);
  if (r.empty()) return std::nullopt;
  return UncleTerms{r[0][0].as<int64_t>(), r[0][1].as<int32_t>()};
}

std::optional<ProofSlot> ReadProofSlot(DbSession& session, int64_t assignment) {
  ReadSnapshot tx(Pq(session));
  auto rows = tx.exec_params(
      "SELECT a.prover_id, a.status, m.max_proof_bytes, encode(p.sha256, 'hex') "
      "FROM assignments a JOIN markets m ON m.idx = a.market_idx "
      "LEFT JOIN proofs p ON p.assignment_id = a.id WHERE a.id = $1",
      assignment);
  if (rows.empty()) return std::nullopt;
  ProofSlot slot;
  slot.prover = rows[0][0].as<int64_t>();
  slot.status = rows[0][1].as<std::string>();
  slot.max_proof_bytes = rows[0][2].as<int64_t>();
  if (!rows[0][3].is_null()) slot.stored_sha256 = rows[0][3].as<std::string>();
  return slot;
}

namespace {

ProofTarget TargetFromRow(const pqxx::row& r) {
  ProofTarget t;
  t.prover = r["prover_id"].as<int64_t>();
  t.order = r["order_id"].as<int64_t>();
  t.max_proof_bytes = r["max_proof_bytes"].as<int64_t>();
  t.verifier = r["verifier"].as<std::string>();
  t.verification_key = r["vk"].is_null() ? "" : r["vk"].as<std::string>();
  t.inputs = r["inputs"].is_null() ? "null" : r["inputs"].as<std::string>();
  return t;
}

// What a proof is verified with (TargetFromRow's columns), from the assignment `a` on.
#define PB_TARGET_COLUMNS                                                                    \
  "a.prover_id, a.order_id, m.verifier, m.verification_key::text AS vk, m.max_proof_bytes, " \
  "o.inputs::text AS inputs FROM assignments a JOIN markets m ON m.idx = a.market_idx "      \
  "JOIN orders o ON o.id = a.order_id "
constexpr const char* kTargetOfAssignment = "SELECT " PB_TARGET_COLUMNS "WHERE a.id = $1";
constexpr const char* kUnverifiedProofs =
    "SELECT a.id, p.data, " PB_TARGET_COLUMNS
    "JOIN proofs p ON p.assignment_id = a.id "
    "WHERE a.status IN ('delivered', 'late_delivered') ORDER BY a.id";
#undef PB_TARGET_COLUMNS

}  // namespace

Status OtherBytesDelivered() {
  return Status(StatusCode::kConflict, "other bytes were already delivered for this assignment",
                "sha256")
      .WithReason("proof_already_delivered");
}

Result<StoredProof> StoreProof(
    DbSession& session, int64_t assignment, matching::AccountId prover, const std::string& proof,
    int64_t received_at,
    const std::function<Status(const std::optional<ProofTarget>& target)>& check) {
  pqxx::work tx(Pq(session));
  auto rows = tx.exec_params(kTargetOfAssignment, assignment);
  std::optional<ProofTarget> target;
  if (!rows.empty()) target = TargetFromRow(rows[0]);
  if (Status s = check(target); !s.ok()) return s;
  StoredProof out{*target, false, received_at};
  pqxx::binarystring bytes(proof.data(), proof.size());
  const Sha256Digest digest = Sha256(proof);
  pqxx::binarystring sha(digest.data(), digest.size());
  auto stored = tx.exec_params(
      "INSERT INTO proofs (assignment_id, prover_id, order_id, sha256, data, received_at) "
      "VALUES ($1, $2, $3, $4, $5, to_timestamp($6::double precision / 1000)) "
      "ON CONFLICT (assignment_id) DO NOTHING RETURNING 1",
      assignment, prover, out.target.order, sha, bytes, received_at);
  if (stored.empty()) {
    auto before = tx.exec_params(
        "SELECT sha256 = $2, (extract(epoch FROM received_at) * 1000)::bigint FROM proofs "
        "WHERE assignment_id = $1",
        assignment, sha);
    if (before.empty() || !before[0][0].as<bool>()) {
      return OtherBytesDelivered();
    }
    out.again = true;
    out.received_at = before[0][1].as<int64_t>();  // judged when we first had them
  }
  try {
    tx.commit();
  } catch (const pqxx::in_doubt_error&) {
    // The connection went during the COMMIT (PostgreSQL shutting down): the bytes may or may
    // not be stored. Storing the same bytes again is harmless (a duplicate), so the prover is
    // told to send them again, not that they failed for good (an `internal` error here made
    // proofbook-prover drop a valid proof and be slashed: loadtest/chaos.sh).
    return Status(StatusCode::kUnavailable,
                  "storing the proof: the database went away during the commit; send it again");
  }
  return out;
}

void DeleteUndeliveredProof(DbSession& session, int64_t assignment) {
  pqxx::work tx(Pq(session));
  // Only while its delivery is not journaled: a concurrent redelivery of the same bytes may
  // have been accepted in between.
  tx.exec_params(
      "DELETE FROM proofs p USING assignments a WHERE p.assignment_id = $1 "
      "AND a.id = p.assignment_id AND a.status IN ('assigned', 'late')",
      assignment);
  tx.commit();
}

std::vector<UnverifiedProof> UnverifiedProofs(DbSession& session) {
  ReadSnapshot tx(Pq(session));
  std::vector<UnverifiedProof> out;
  for (const auto& r : tx.exec(kUnverifiedProofs)) {
    pqxx::binarystring data(r["data"]);
    out.push_back(UnverifiedProof{r[0].as<int64_t>(), TargetFromRow(r), data.str()});
  }
  return out;
}

}  // namespace proofbook::server
