// Rows the prover gateway reads and writes: open assignments (with their orders' inputs), the
// state of an assignment a proof header names, stored proofs. Functions block on PostgreSQL
// and throw on database errors (callers map them with DatabaseError).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "matching/status.h"
#include "matching/types.h"
#include "server/db/session.h"

namespace proofbook::server {

struct OpenAssignment {
  int64_t assignment = 0;
  int64_t order = 0;
  matching::MarketId market = 0;
  int64_t price = 0;
  int64_t due_at_ms = 0;
  std::optional<std::string> inputs;  // JSON text
};
// The prover's assignments waiting for a proof, by id.
std::vector<OpenAssignment> OpenAssignments(DbSession& session, matching::AccountId prover);

// order id -> inputs (JSON text), for the orders that have inputs.
std::unordered_map<int64_t, std::string> OrderInputs(DbSession& session,
                                                     const std::vector<int64_t>& orders);

// What a prover reassigned away after a miss needs to decide whether to keep proving for the
// uncle reward: the order's deadline and its market's uncle_reward_bps. nullopt: no order.
struct UncleTerms {
  int64_t deadline_ms = 0;
  int32_t uncle_reward_bps = 0;
};
std::optional<UncleTerms> ReadUncleTerms(DbSession& session, int64_t order);

// What a proof header is checked against: the assignment, its market's limit, a stored proof.
struct ProofSlot {
  matching::AccountId prover = 0;
  std::string status;  // the assignment's
  int64_t max_proof_bytes = 0;
  std::optional<std::string> stored_sha256;  // hex, when a proof is stored
};
std::optional<ProofSlot> ReadProofSlot(DbSession& session, int64_t assignment);

// What a stored proof is verified with.
struct ProofTarget {
  matching::AccountId prover = 0;
  int64_t order = 0;
  int64_t max_proof_bytes = 0;
  std::string verifier;          // the market's verifier kind
  std::string verification_key;  // JSON text, empty for none
  std::string inputs;            // JSON text, "null" for none
};
struct StoredProof {
  ProofTarget target;
  bool again = false;       // the same bytes were stored before: a redelivery
  int64_t received_at = 0;  // when the stored bytes arrived (the first time, for `again`)
};
// A proof is stored for the assignment and other bytes are offered: 409 proof_already_delivered.
Status OtherBytesDelivered();

// Stores `proof` for `assignment` with its arrival time, in one transaction, after `check`
// (called with the assignment's target, nullopt if there is no such assignment) says ok.
// Errors: `check`'s, or OtherBytesDelivered() when other bytes are stored.
Result<StoredProof> StoreProof(
    DbSession& session, int64_t assignment, matching::AccountId prover, const std::string& proof,
    int64_t received_at,
    const std::function<Status(const std::optional<ProofTarget>& target)>& check);

// Deletes the stored proof of `assignment` while its delivery is not journaled (the assignment
// is still assigned or late).
void DeleteUndeliveredProof(DbSession& session, int64_t assignment);

// Proofs delivered (journaled) and not yet verified, by assignment.
struct UnverifiedProof {
  int64_t assignment = 0;
  ProofTarget target;
  std::string proof;
};
std::vector<UnverifiedProof> UnverifiedProofs(DbSession& session);

}  // namespace proofbook::server
