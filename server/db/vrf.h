// Rows of the VRF tables (migrations/0011_vrf.sql): markets' ECVRF keys (public key and the
// sealed secret; core/vrf_keyring.h seals and opens), epoch beacons, and the read model of an
// order's draws. Functions block on PostgreSQL and throw on database errors.
#pragma once

#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "matching/status.h"
#include "matching/types.h"
#include "server/db/session.h"

namespace proofbook::server {

struct VrfKeyRow {
  int64_t id = 0;
  matching::MarketId market = 0;
  std::array<uint8_t, 32> public_key{};
  std::vector<uint8_t> sealed_secret;  // 48 bytes: ciphertext and tag
  std::array<uint8_t, 24> nonce{};
  bool active = false;  // not retired
};

// Every key, oldest first.
std::vector<VrfKeyRow> ReadVrfKeys(DbSession& session);

// Retires the market's active key (if any) and inserts `key` as the active one, in one
// transaction; returns the new key's id. `key.id` and `key.active` are ignored.
int64_t InsertVrfKey(DbSession& session, const VrfKeyRow& key);

struct VrfBeaconRow {
  int64_t epoch = 0;
  std::vector<uint8_t> value;
};
std::vector<VrfBeaconRow> ReadVrfBeacons(DbSession& session);
// false if the epoch already has a beacon (beacons are never replaced).
bool InsertVrfBeacon(DbSession& session, const VrfBeaconRow& beacon);

// GET /v1/orders/{id}/draws: the order's market and each round of draws (candidates, then
// each draw's key, epoch, beacon, alpha, pi, beta and the assignment it made); nullopt if the
// order does not exist. Hex for bytes; `account` is the order's sequencer (for the caller's
// access rule, not part of the answer).
struct OrderDraws {
  matching::AccountId account = 0;
  boost::json::object body;
};
std::optional<OrderDraws> ReadOrderDraws(DbSession& session, matching::OrderId order);

}  // namespace proofbook::server
