// MarketDirectory: market slug ("groth16-poseidon") <-> the engine's dense MarketId, plus each
// market's input check (its verifier kind and nPublic, server/core/input_check.h) for orders
// placed on it. Loaded at start-up, extended when an admin creates a market. Thread-safe.
#pragma once

#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "matching/status.h"
#include "matching/types.h"
#include "server/core/input_check.h"
#include "server/db/session.h"

namespace proofbook::server {

class MarketDirectory {
 public:
  struct Entry {
    matching::MarketId id = 0;
    InputCheck inputs;  // what its orders' inputs are checked against
  };

  Status Load(DbSession& session);
  // Adds a committed market (ending its reservation, if any).
  void Add(const std::string& slug, matching::MarketId id, InputCheck inputs = {});
  // Holds `slug` while a market of that name is being created, until Add or Release: false if
  // a market has it or another creation holds it. Two creations of one slug then never both
  // reach the journal (where the second would fail its whole batch).
  bool Reserve(const std::string& slug);
  void Release(const std::string& slug);
  std::optional<matching::MarketId> Find(const std::string& slug) const;
  std::optional<Entry> Lookup(const std::string& slug) const;
  std::string Slug(matching::MarketId id) const;  // empty if unknown

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> by_slug_;
  std::unordered_map<matching::MarketId, std::string> by_id_;
  std::unordered_set<std::string> reserved_;
};

}  // namespace proofbook::server
