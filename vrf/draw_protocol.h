// The draw protocol: what a vrf order's draw proves, byte for byte, so anyone can re-derive a
// draw from published data (README "VRF selection"; `proofbook draw verify` does it).
//
//   epoch   = floor(order's placed_at_ms / kEpochMs)       (an hour of the engine's clock)
//   seed    = SHA-256("proofbook/vrf/epoch/v1" || be64(epoch) || beacon)
//             beacon: the bytes an admin fixed for that epoch before it began, or empty
//   alpha   = "proofbook/vrf/draw/v1" || be32(market idx) || seed || be64(order id) ||
//   be32(attempt) pi, beta = ECVRF_prove(market key, alpha)             (vrf/ecvrf.h) word    =
//   first 8 bytes of beta, big-endian           (what the engine consumes) pick    = index i with
//   word mod W in [w0 + ... + w(i-1), w0 + ... + wi), W the sum of the
//             round's remaining candidate weights, in published order (matching/rules.h)
//
// Stateless and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace proofbook::vrf {

inline constexpr int64_t kEpochMs = 3'600'000;

using EpochSeed = std::array<uint8_t, 32>;

constexpr int64_t EpochOf(int64_t placed_at_ms) {
  return placed_at_ms >= 0 ? placed_at_ms / kEpochMs : -((-placed_at_ms + kEpochMs - 1) / kEpochMs);
}

EpochSeed SeedForEpoch(int64_t epoch, std::span<const uint8_t> beacon);

std::vector<uint8_t> DrawAlpha(uint32_t market_idx, const EpochSeed& seed, uint64_t order,
                               uint32_t attempt);

uint64_t DrawWord(std::span<const uint8_t> beta);

}  // namespace proofbook::vrf
