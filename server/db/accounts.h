// Read model and rows of accounts, their API keys and offers. Functions block on PostgreSQL
// and throw on database errors (callers on the pool map them with DatabaseError).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "matching/status.h"
#include "matching/types.h"
#include "server/base/crypto.h"
#include "server/db/session.h"

namespace proofbook::server {

// GET /v1/accounts/me: the account row (with its name); kNotFound if there is none.
Result<boost::json::object> ReadAccount(DbSession& session, matching::AccountId id);

// GET /v1/provers/{id}: a prover's public standing (stake, reputation, markets whose min_stake
// it no longer meets, jobs by outcome, delivery times over its last 1,000 deliveries);
// kNotFound if `id` is not a prover.
Result<boost::json::object> ReadProverStanding(DbSession& session, matching::AccountId id);

// The prover's open offers, as GET /v1/offers lists them.
boost::json::array ReadOpenOffers(DbSession& session, matching::AccountId prover);
// The ids of the prover's open offers.
std::vector<int64_t> OpenOfferIds(DbSession& session, matching::AccountId prover);

// A fresh account id, taken from the accounts' id sequence; no row is written (the journal
// inserts it with the engine's acceptance of the account, server/journal/journal.h). An id
// whose account is never committed stays unused.
int64_t NextAccountId(DbSession& session);

// Inserts an admin named "admin" with `key_hash` unless an admin exists, atomically (safe
// against concurrent callers): its id, or nullopt when an admin already existed.
std::optional<int64_t> InsertFirstAdmin(DbSession& session, const Sha256Digest& key_hash);

// One API key as an admin sees it: never the key, never its hash.
struct ApiKeyRow {
  int64_t id = 0;
  matching::AccountId account = 0;
  std::string role;  // the account's
  int64_t created_at_ms = 0;
  std::optional<int64_t> revoked_at_ms;
};

// Adds a key (its hash) to `account`: the new row, or kNotFound when there is no such account
// (the treasury has none and takes no keys).
Result<ApiKeyRow> InsertApiKey(DbSession& session, matching::AccountId account,
                               const Sha256Digest& key_hash);

struct RevokedKey {
  ApiKeyRow row;
  std::string digest;  // raw 32 bytes, for the in-memory authenticator
};
// Revokes key `key_id` (a key already revoked keeps its first revocation time: idempotent).
// kNotFound for no such key; kConflict for the last key of the last admin (nobody could
// administer the market after it).
Result<RevokedKey> RevokeApiKey(DbSession& session, int64_t key_id);

// Every key that is not revoked: (raw 32-byte digest, account, role name).
void ForEachApiKey(DbSession& session,
                   const std::function<void(std::string digest, matching::AccountId account,
                                            std::string_view role)>& fn);

}  // namespace proofbook::server
