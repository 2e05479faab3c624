#include "vrf/draw_protocol.h"

#include <sodium.h>

#include <string_view>

namespace proofbook::vrf {
namespace {

constexpr std::string_view kEpochTag = "proofbook/vrf/epoch/v1";
constexpr std::string_view kDrawTag = "proofbook/vrf/draw/v1";

template <typename T>
void AppendBigEndian(std::vector<uint8_t>& out, T v) {
  for (int shift = 8 * (static_cast<int>(sizeof(T)) - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> shift));
  }
}

void AppendText(std::vector<uint8_t>& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace

EpochSeed SeedForEpoch(int64_t epoch, std::span<const uint8_t> beacon) {
  std::vector<uint8_t> message;
  AppendText(message, kEpochTag);
  AppendBigEndian(message, static_cast<uint64_t>(epoch));
  message.insert(message.end(), beacon.begin(), beacon.end());
  EpochSeed seed;
  crypto_hash_sha256(seed.data(), message.data(), message.size());
  return seed;
}

std::vector<uint8_t> DrawAlpha(uint32_t market_idx, const EpochSeed& seed, uint64_t order,
                               uint32_t attempt) {
  std::vector<uint8_t> alpha;
  alpha.reserve(kDrawTag.size() + 4 + seed.size() + 8 + 4);
  AppendText(alpha, kDrawTag);
  AppendBigEndian(alpha, market_idx);
  alpha.insert(alpha.end(), seed.begin(), seed.end());
  AppendBigEndian(alpha, order);
  AppendBigEndian(alpha, attempt);
  return alpha;
}

uint64_t DrawWord(std::span<const uint8_t> beta) {
  uint64_t word = 0;
  for (std::size_t i = 0; i < 8 && i < beta.size(); ++i) word = (word << 8) | beta[i];
  return word;
}

}  // namespace proofbook::vrf
