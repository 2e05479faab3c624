#include "server/core/auth.h"

#include <mutex>

#include "server/core/api_keys.h"
#include "server/db/accounts.h"

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

Result<std::unique_ptr<Authenticator>> Authenticator::Load(DbSession& session) {
  auto auth = std::make_unique<Authenticator>();
  try {
    ForEachApiKey(session, [&auth](std::string digest, matching::AccountId account,
                                   std::string_view role_name) {
      auto role = ParseRole(role_name);
      if (digest.size() != 32 || !role) return;
      auth->keys_[std::move(digest)] = Principal{account, *role};
    });
  } catch (const std::exception& e) {
    return Status(StatusCode::kUnavailable, std::string("loading API keys: ") + e.what());
  }
  return auth;
}

void Authenticator::Add(const Sha256Digest& key_hash, Principal principal) {
  std::unique_lock lock(mu_);
  keys_[DigestKey(key_hash)] = principal;
}

bool Authenticator::Remove(const std::string& digest) {
  std::unique_lock lock(mu_);
  return keys_.erase(digest) > 0;
}

bool Authenticator::Has(const std::string& digest) const {
  std::shared_lock lock(mu_);
  return keys_.count(digest) > 0;
}

Result<Principal> Authenticator::Authenticate(std::string_view authorization,
                                              std::string* digest) const {
  auto token = BearerToken(authorization);
  if (!token) return token.error();
  auto hash = HashApiKey(*token);
  if (!hash) return hash.error();
  std::string key = DigestKey(*hash);
  std::shared_lock lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return Status(StatusCode::kUnauthenticated, "unknown API key");
  if (digest != nullptr) *digest = std::move(key);
  return it->second;
}

}  // namespace proofbook::server
