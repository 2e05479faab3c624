// API keys and accounts: a key is "pbk_" followed by 64 hex digits (32 random bytes). Only
// its SHA-256 is stored (api_keys.key_hash), so a database leak does not leak keys; the key
// itself is shown once, when it is made. Stateless functions; those taking a DbSession block.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "matching/status.h"
#include "matching/types.h"
#include "server/base/crypto.h"
#include "server/db/accounts.h"
#include "server/db/session.h"

namespace proofbook::server {

inline constexpr std::string_view kApiKeyPrefix = "pbk_";

std::string GenerateApiKey();

// The hash under which a key is stored; kUnauthenticated if it is not shaped like a key
// (so junk never reaches the database).
Result<Sha256Digest> HashApiKey(std::string_view key);

// The key from an "Authorization: Bearer <key>" header value.
Result<std::string_view> BearerToken(std::string_view authorization);

struct NewAccount {
  int64_t id = 0;
  std::string api_key;
};

// A fresh key for an existing account (committed): its row and the key, shown once. kNotFound
// for no such account. Blocks; throws on database errors.
struct NewApiKey {
  ApiKeyRow row;
  std::string api_key;
};
Result<NewApiKey> CreateApiKey(DbSession& session, matching::AccountId account);

// Creates an admin named "admin" if no admin account exists, atomically (safe against two
// concurrent callers). Returns its key, or nullopt when an admin already existed.
Result<std::optional<NewAccount>> BootstrapAdmin(DbSession& session);

}  // namespace proofbook::server
