// Authenticator: API key -> (account, role), from memory. Every key is created through this
// server, so the map loaded at start-up plus the keys added since is complete; no request
// waits for the database to be authenticated. Keys are held only as SHA-256 digests.
// Thread-safe (readers share a lock; adding a key takes it exclusively).
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "matching/status.h"
#include "matching/types.h"
#include "server/base/crypto.h"
#include "server/db/session.h"

namespace proofbook::server {

struct Principal {
  matching::AccountId account = 0;
  matching::Role role = matching::Role::kSequencer;
};

// "sequencer" | "prover" | "admin" | "treasury" -> Role (matching::RoleName is the reverse).
Result<matching::Role> ParseRole(std::string_view name);

class Authenticator {
 public:
  // Every key that is not revoked, with its account's role.
  static Result<std::unique_ptr<Authenticator>> Load(DbSession& session);

  void Add(const Sha256Digest& key_hash, Principal principal);
  // `digest`: the raw 32-byte SHA-256 of a key. After Remove returns, the key authenticates
  // nothing more (on any connection); whether it was there.
  bool Remove(const std::string& digest);
  bool Has(const std::string& digest) const;

  // From an Authorization header: kUnauthenticated when missing, malformed or unknown. With
  // `digest`, also the key's raw 32-byte digest (for Has/Remove later: a WebSocket keeps it).
  Result<Principal> Authenticate(std::string_view authorization,
                                 std::string* digest = nullptr) const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Principal> keys_;  // raw 32-byte digest -> principal
};

}  // namespace proofbook::server
