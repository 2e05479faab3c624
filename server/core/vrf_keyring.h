// VrfKeyring: the markets' ECVRF keys and the epoch beacons, and the engine's DrawSource for vrf
// orders (README "VRF selection", vrf/draw_protocol.h).
//
// Keys at rest: each market's secret (an RFC 8032 seed) is sealed with XChaCha20-Poly1305 under
// the master key given to `serve` (--vrf-master-key-file / PROOFBOOK_VRF_MASTER_KEY, 32 bytes
// as 64 hex digits), with the market index and public key as associated data, so a sealed
// secret opens only as the key of the row it was made for. The database never holds a secret in
// the clear; this object holds the open ones in memory (wiped when it goes). Without a master
// key the keyring is disabled: no market has a key it can use, vrf orders are refused.
//
// Draws: Draw() computes alpha from (market, epoch seed, order, attempt), proves it with the
// market's active key, records (alpha, pi, beta, key, epoch) for the journal (MoveDraws) and
// returns beta's word. A beacon must be set at least two epochs ahead (SetBeacon), so every draw
// of an epoch sees the same seed, whichever server makes it.
//
// Thread rules: Serves, Draw and MoveDraws run on the engine thread; Load, CreateKey, SetBeacon
// and the readers may run on any thread (a mutex guards the key and beacon maps; it is held for
// lookups, never while proving).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "matching/status.h"
#include "server/core/engine_runner.h"
#include "server/db/session.h"
#include "vrf/ecvrf.h"

namespace proofbook::server {

class VrfKeyring final : public DrawRecorder {
 public:
  using MasterKey = std::array<uint8_t, 32>;

  // The master key from 64 hex digits (surrounding white space allowed, as in a key file).
  static Result<MasterKey> ParseMasterKey(std::string_view text);

  // nullopt: disabled.
  explicit VrfKeyring(std::optional<MasterKey> master);
  ~VrfKeyring() override;
  VrfKeyring(const VrfKeyring&) = delete;
  VrfKeyring& operator=(const VrfKeyring&) = delete;

  bool enabled() const { return master_.has_value(); }

  // Reads every key and beacon; opens the active keys. Fails if a sealed secret does not open
  // under the master key (a wrong master key: the server must not start) or if keys exist and
  // the keyring is disabled (only warned: those markets refuse vrf orders).
  Status Load(DbSession& session);

  struct KeyInfo {
    int64_t id = 0;
    matching::MarketId market = 0;
    vrf::PublicKey public_key{};
  };
  // A new key for the market, which becomes its active one (the old one is retired, kept for
  // re-checking old draws). 422 vrf_unavailable when disabled.
  Result<KeyInfo> CreateKey(DbSession& session, matching::MarketId market);

  // Fixes `value` as the beacon of `epoch`, which must start at least two epochs after `now_ms`
  // (422 beacon_too_late); 409 if the epoch has one.
  Status SetBeacon(DbSession& session, int64_t epoch, std::vector<uint8_t> value, int64_t now_ms);

  std::optional<KeyInfo> ActiveKey(matching::MarketId market) const;

  // DrawRecorder.
  bool Serves(matching::MarketId market) const override;
  uint64_t Draw(const matching::DrawRequest& request) override;
  void MoveDraws(std::vector<VrfDrawRecord>& into) override;

 private:
  struct OpenKey {
    OpenKey(int64_t id_, vrf::SecretKey secret_, const vrf::PublicKey& public_key_)
        : id(id_), secret(std::move(secret_)), public_key(public_key_) {}
    int64_t id;
    vrf::SecretKey secret;
    vrf::PublicKey public_key;
  };
  std::vector<uint8_t> AssociatedData(matching::MarketId market,
                                      const vrf::PublicKey& public_key) const;

  // Constant after construction (not `const`: the destructor wipes it).
  std::optional<MasterKey> master_;

  mutable std::mutex mu_;
  std::map<matching::MarketId, std::shared_ptr<const OpenKey>> active_;  // guarded by mu_
  std::map<int64_t, std::vector<uint8_t>> beacons_;                      // guarded by mu_

  // Engine thread only.
  std::vector<VrfDrawRecord> pending_;
};

}  // namespace proofbook::server
