#include "server/core/market_directory.h"

#include <mutex>
#include <pqxx/pqxx>

namespace proofbook::server {

Status MarketDirectory::Load(pqxx::connection& conn) {
  try {
    pqxx::read_transaction tx(conn);
    for (const auto& row : tx.exec("SELECT id, idx FROM markets")) {
      Add(row[0].as<std::string>(), static_cast<matching::MarketId>(row[1].as<int>()));
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status(StatusCode::kUnavailable, std::string("loading markets: ") + e.what());
  }
}

void MarketDirectory::Add(const std::string& slug, matching::MarketId id) {
  std::unique_lock lock(mu_);
  by_slug_[slug] = id;
  by_id_[id] = slug;
}

std::optional<matching::MarketId> MarketDirectory::Find(const std::string& slug) const {
  std::shared_lock lock(mu_);
  auto it = by_slug_.find(slug);
  if (it == by_slug_.end()) return std::nullopt;
  return it->second;
}

std::string MarketDirectory::Slug(matching::MarketId id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? std::string() : it->second;
}

}  // namespace proofbook::server
