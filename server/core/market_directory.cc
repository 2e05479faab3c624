#include "server/core/market_directory.h"

#include <mutex>

#include "server/db/markets.h"

namespace proofbook::server {

Status MarketDirectory::Load(DbSession& session) {
  try {
    ForEachMarket(session, [this](const MarketDirectoryRow& row) {
      Add(row.slug, row.idx, InputCheckFor(row.verifier, row.n_public));
    });
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status(StatusCode::kUnavailable, std::string("loading markets: ") + e.what());
  }
}

void MarketDirectory::Add(const std::string& slug, matching::MarketId id, InputCheck inputs) {
  std::unique_lock lock(mu_);
  by_slug_[slug] = Entry{id, inputs};
  by_id_[id] = slug;
  reserved_.erase(slug);
}

bool MarketDirectory::Reserve(const std::string& slug) {
  std::unique_lock lock(mu_);
  if (by_slug_.contains(slug)) return false;
  return reserved_.insert(slug).second;
}

void MarketDirectory::Release(const std::string& slug) {
  std::unique_lock lock(mu_);
  reserved_.erase(slug);
}

std::optional<matching::MarketId> MarketDirectory::Find(const std::string& slug) const {
  std::shared_lock lock(mu_);
  auto it = by_slug_.find(slug);
  if (it == by_slug_.end()) return std::nullopt;
  return it->second.id;
}

std::optional<MarketDirectory::Entry> MarketDirectory::Lookup(const std::string& slug) const {
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
