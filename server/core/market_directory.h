// MarketDirectory: market slug ("groth16-poseidon") <-> the engine's dense MarketId, plus each
// market's max_proof_bytes for request checks. Loaded at start-up, extended when an admin
// creates a market. Thread-safe.
#pragma once

#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "matching/status.h"
#include "matching/types.h"
#include "server/db/session.h"

namespace proofbook::server {

class MarketDirectory {
 public:
  Status Load(DbSession& session);
  void Add(const std::string& slug, matching::MarketId id);
  std::optional<matching::MarketId> Find(const std::string& slug) const;
  std::string Slug(matching::MarketId id) const;  // empty if unknown

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, matching::MarketId> by_slug_;
  std::unordered_map<matching::MarketId, std::string> by_id_;
};

}  // namespace proofbook::server
