#include "server/core/vrf_keyring.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdlib>
#include <stdexcept>

#include "server/base/crypto.h"
#include "server/base/log.h"
#include "server/db/vrf.h"
#include "vrf/draw_protocol.h"

namespace proofbook::server {

namespace {
constexpr std::string_view kSealTag = "proofbook/vrf/key/v1";
}  // namespace

Result<VrfKeyring::MasterKey> VrfKeyring::ParseMasterKey(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  auto bytes = HexDecode(text);
  if (!bytes || bytes->size() != 32) {
    return Status(StatusCode::kInvalidArgument,
                  "the VRF master key must be 32 bytes as 64 hex digits");
  }
  MasterKey key;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  sodium_memzero(bytes->data(), bytes->size());
  return key;
}

VrfKeyring::VrfKeyring(std::optional<MasterKey> master) : master_(master) {
  if (!vrf::Init()) throw std::runtime_error("libsodium failed to initialise");
}

VrfKeyring::~VrfKeyring() {
  if (master_) sodium_memzero(master_->data(), master_->size());
}

std::vector<uint8_t> VrfKeyring::AssociatedData(matching::MarketId market,
                                                const vrf::PublicKey& public_key) const {
  std::vector<uint8_t> ad(kSealTag.begin(), kSealTag.end());
  for (int shift = 24; shift >= 0; shift -= 8) ad.push_back(static_cast<uint8_t>(market >> shift));
  ad.insert(ad.end(), public_key.begin(), public_key.end());
  return ad;
}

Status VrfKeyring::Load(DbSession& session) {
  std::vector<VrfKeyRow> rows = ReadVrfKeys(session);
  std::vector<VrfBeaconRow> beacons = ReadVrfBeacons(session);
  std::map<matching::MarketId, std::shared_ptr<const OpenKey>> active;
  for (const VrfKeyRow& row : rows) {
    if (!row.active) continue;
    if (!master_) {
      spdlog::warn(
          "msg=vrf_disabled market_idx={} hint=\"serve without a VRF master key: vrf "
          "orders are refused (--vrf-master-key-file)\"",
          row.market);
      continue;
    }
    std::array<uint8_t, vrf::kSecretKeyBytes> seed;
    unsigned long long seed_len = 0;
    std::vector<uint8_t> ad = AssociatedData(row.market, row.public_key);
    if (row.sealed_secret.size() != seed.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(
            seed.data(), &seed_len, nullptr, row.sealed_secret.data(), row.sealed_secret.size(),
            ad.data(), ad.size(), row.nonce.data(), master_->data()) != 0) {
      return Status(StatusCode::kInternal, "the VRF master key does not open VRF key " +
                                               std::to_string(row.id) + " (market index " +
                                               std::to_string(row.market) +
                                               "): wrong --vrf-master-key-file?");
    }
    auto key = std::make_shared<const OpenKey>(row.id, vrf::SecretKey(seed), row.public_key);
    sodium_memzero(seed.data(), seed.size());
    if (vrf::DerivePublicKey(key->secret) != row.public_key) {
      return Status(StatusCode::kInternal,
                    "VRF key " + std::to_string(row.id) + " does not match its public key");
    }
    active.insert_or_assign(row.market, std::move(key));
  }
  std::lock_guard lock(mu_);
  active_ = std::move(active);
  beacons_.clear();
  for (VrfBeaconRow& b : beacons) beacons_[b.epoch] = std::move(b.value);
  return Status::Ok();
}

Result<VrfKeyring::KeyInfo> VrfKeyring::CreateKey(DbSession& session, matching::MarketId market) {
  if (!master_) {
    return Status(StatusCode::kUnprocessable,
                  "the server has no VRF master key (--vrf-master-key-file)")
        .WithReason("vrf_unavailable");
  }
  vrf::SecretKey secret = vrf::SecretKey::Generate();
  VrfKeyRow row;
  row.market = market;
  row.public_key = vrf::DerivePublicKey(secret);
  randombytes_buf(row.nonce.data(), row.nonce.size());
  row.sealed_secret.resize(vrf::kSecretKeyBytes + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  std::vector<uint8_t> ad = AssociatedData(market, row.public_key);
  unsigned long long sealed_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(row.sealed_secret.data(), &sealed_len,
                                             secret.seed().data(), secret.seed().size(), ad.data(),
                                             ad.size(), nullptr, row.nonce.data(), master_->data());
  const int64_t id = InsertVrfKey(session, row);
  {
    std::lock_guard lock(mu_);
    active_.insert_or_assign(market, std::make_shared<const OpenKey>(id, secret, row.public_key));
  }
  spdlog::info("msg=vrf_key_created market_idx={} key_id={} public_key={}", market, id,
               HexEncode(row.public_key.data(), row.public_key.size()));
  return KeyInfo{id, market, row.public_key};
}

Status VrfKeyring::SetBeacon(DbSession& session, int64_t epoch, std::vector<uint8_t> value,
                             int64_t now_ms) {
  const int64_t earliest = vrf::EpochOf(now_ms) + 2;
  if (epoch < earliest) {
    return Status(StatusCode::kUnprocessable,
                  "a beacon must be set at least two epochs ahead: the earliest is epoch " +
                      std::to_string(earliest),
                  "epoch")
        .WithReason("beacon_too_late");
  }
  if (!InsertVrfBeacon(session, VrfBeaconRow{epoch, value})) {
    return Status(StatusCode::kConflict, "epoch " + std::to_string(epoch) + " has a beacon",
                  "epoch");
  }
  std::lock_guard lock(mu_);
  beacons_[epoch] = std::move(value);
  return Status::Ok();
}

std::optional<VrfKeyring::KeyInfo> VrfKeyring::ActiveKey(matching::MarketId market) const {
  std::lock_guard lock(mu_);
  auto it = active_.find(market);
  if (it == active_.end()) return std::nullopt;
  return KeyInfo{it->second->id, market, it->second->public_key};
}

bool VrfKeyring::Serves(matching::MarketId market) const {
  std::lock_guard lock(mu_);
  return active_.count(market) != 0;
}

uint64_t VrfKeyring::Draw(const matching::DrawRequest& r) {
  const int64_t epoch = vrf::EpochOf(r.placed_at);
  std::shared_ptr<const OpenKey> key;  // shared, not copied: the secret stays in one place
  std::vector<uint8_t> beacon;
  {
    std::lock_guard lock(mu_);
    auto it = active_.find(r.market);
    if (it != active_.end()) key = it->second;
    auto b = beacons_.find(epoch);
    if (b != beacons_.end()) beacon = b->second;
  }
  if (!key) {
    // Keys are never removed and the engine draws only in markets it was told we serve.
    spdlog::critical("msg=vrf_draw_without_key market_idx={} order={}", r.market, r.order);
    std::abort();
  }
  VrfDrawRecord d;
  d.order = r.order;
  d.attempt = r.attempt;
  d.market = r.market;
  d.key_id = key->id;
  d.epoch = epoch;
  d.alpha = vrf::DrawAlpha(r.market, vrf::SeedForEpoch(epoch, beacon), r.order, r.attempt);
  std::optional<vrf::Proof> pi = vrf::Prove(key->secret, d.alpha);
  std::optional<vrf::Output> beta = pi ? vrf::ProofToHash(*pi) : std::nullopt;
  if (!beta) {
    // Below 2^-250 (header of vrf/ecvrf.h): not a case to serve, a case to look at.
    spdlog::critical("msg=vrf_prove_failed market_idx={} order={} attempt={}", r.market, r.order,
                     r.attempt);
    std::abort();
  }
  d.pi = *pi;
  d.beta = *beta;
  const uint64_t word = vrf::DrawWord(d.beta);
  pending_.push_back(std::move(d));
  return word;
}

void VrfKeyring::MoveDraws(std::vector<VrfDrawRecord>& into) {
  if (pending_.empty()) return;
  for (VrfDrawRecord& d : pending_) into.push_back(std::move(d));
  pending_.clear();
}

}  // namespace proofbook::server
