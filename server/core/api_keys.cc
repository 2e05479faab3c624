#include "server/core/api_keys.h"

#include "server/db/accounts.h"

namespace proofbook::server {
namespace {

constexpr std::size_t kKeyBytes = 32;

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

Result<NewApiKey> CreateApiKey(DbSession& session, matching::AccountId account) {
  NewApiKey out;
  out.api_key = GenerateApiKey();
  auto row = InsertApiKey(session, account, Sha256(out.api_key));
  if (!row) return row.error();
  out.row = std::move(row).value();
  return out;
}

Result<std::optional<NewAccount>> BootstrapAdmin(DbSession& session) {
  try {
    NewAccount admin;
    admin.api_key = GenerateApiKey();
    auto id = InsertFirstAdmin(session, Sha256(admin.api_key));
    if (!id) return std::optional<NewAccount>();
    admin.id = *id;
    return std::optional<NewAccount>(std::move(admin));
  } catch (const std::exception& e) {
    return Status(StatusCode::kUnavailable, std::string("bootstrap-admin failed: ") + e.what());
  }
}

}  // namespace proofbook::server
