#include "server/core/api_keys.h"

#include <pqxx/pqxx>

namespace proofbook::server {
namespace {

constexpr std::size_t kKeyBytes = 32;
// pg_advisory_xact_lock key for bootstrap-admin ("pbadmin!").
constexpr long long kBootstrapLockKey = 0x706261646d696e21LL;

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string GenerateApiKey() {
  uint8_t bytes[kKeyBytes];
  SecureRandom(bytes, sizeof bytes);
  return std::string(kApiKeyPrefix) + HexEncode(bytes, sizeof bytes);
}

Result<Sha256Digest> HashApiKey(std::string_view key) {
  if (key.size() != kApiKeyPrefix.size() + 2 * kKeyBytes || !key.starts_with(kApiKeyPrefix) ||
      !IsLowerHex(key.substr(kApiKeyPrefix.size()))) {
    return Status(StatusCode::kUnauthenticated, "malformed API key");
  }
  return Sha256(key);
}

Result<std::string_view> BearerToken(std::string_view authorization) {
  if (authorization.empty()) {
    return Status(StatusCode::kUnauthenticated, "missing Authorization: Bearer <api key>");
  }
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), authorization.begin(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    return Status(StatusCode::kUnauthenticated, "Authorization must be 'Bearer <api key>'");
  }
  return authorization.substr(kScheme.size());
}

NewAccount CreateAccount(pqxx::transaction_base& tx, std::string_view role,
                         std::string_view name) {
  NewAccount out;
  out.id = tx.exec_params("INSERT INTO accounts (role, name) VALUES ($1, $2) RETURNING id",
                          std::string(role), std::string(name))[0][0]
               .as<int64_t>();
  out.api_key = GenerateApiKey();
  Sha256Digest hash = Sha256(out.api_key);
  pqxx::binarystring blob(hash.data(), hash.size());
  tx.exec_params("INSERT INTO api_keys (key_hash, account_id) VALUES ($1, $2)", blob, out.id);
  return out;
}

Result<std::optional<NewAccount>> BootstrapAdmin(pqxx::connection& conn) {
  try {
    pqxx::work tx(conn);
    tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kBootstrapLockKey) + ")");
    if (tx.exec("SELECT 1 FROM accounts WHERE role = 'admin' LIMIT 1").size() > 0) {
      return std::optional<NewAccount>();
    }
    NewAccount admin = CreateAccount(tx, "admin", "admin");
    tx.commit();
    return std::optional<NewAccount>(std::move(admin));
  } catch (const std::exception& e) {
    return Status(StatusCode::kUnavailable, std::string("bootstrap-admin failed: ") + e.what());
  }
}

}  // namespace proofbook::server
