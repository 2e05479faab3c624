#include "server/core/auth.h"

#include <mutex>
#include <pqxx/pqxx>

#include "server/core/api_keys.h"

namespace proofbook::server {
namespace {

std::string DigestKey(const Sha256Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

Result<matching::Role> ParseRole(std::string_view name) {
  for (auto role : {matching::Role::kSequencer, matching::Role::kProver, matching::Role::kAdmin,
                    matching::Role::kTreasury}) {
    if (matching::RoleName(role) == name) return role;
  }
  return Status(StatusCode::kInvalidArgument, "unknown role '" + std::string(name) + "'", "role");
}

Result<std::unique_ptr<Authenticator>> Authenticator::Load(pqxx::connection& conn) {
  auto auth = std::make_unique<Authenticator>();
  try {
    pqxx::read_transaction tx(conn);
    for (const auto& row : tx.exec(
             "SELECT k.key_hash, a.id, a.role FROM api_keys k JOIN accounts a ON a.id = k.account_id "
             "WHERE k.revoked_at IS NULL")) {
      pqxx::binarystring hash(row[0]);
      auto role = ParseRole(row[2].as<std::string>());
      if (hash.size() != 32 || !role) continue;
      auth->keys_[std::string(hash.str())] = Principal{row[1].as<int64_t>(), *role};
    }
  } catch (const std::exception& e) {
    return Status(StatusCode::kUnavailable, std::string("loading API keys: ") + e.what());
  }
  return auth;
}

void Authenticator::Add(const Sha256Digest& key_hash, Principal principal) {
  std::unique_lock lock(mu_);
  keys_[DigestKey(key_hash)] = principal;
}

Result<Principal> Authenticator::Authenticate(std::string_view authorization) const {
  auto token = BearerToken(authorization);
  if (!token) return token.error();
  auto hash = HashApiKey(*token);
  if (!hash) return hash.error();
  std::shared_lock lock(mu_);
  auto it = keys_.find(DigestKey(*hash));
  if (it == keys_.end()) return Status(StatusCode::kUnauthenticated, "unknown API key");
  return it->second;
}

}  // namespace proofbook::server
