// Pure arithmetic of the market rules, shared by the engine and the reference model in tests.
//
// Only formulas live here (no state), so both implementations agree on rounding by
// construction while each keeps its own bookkeeping. Stateless; callable from any thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

#include "matching/types.h"

namespace proofbook::matching {

// floor(amount * bps / 10000) without overflowing int64, for 0 <= amount, 0 <= bps <= 10000.
constexpr Amount BpsOf(Amount amount, int64_t bps) {
  return (amount / kBps) * bps + (amount % kBps) * bps / kBps;
}

// Finishing faster than the market's MIN_PROVER_TIME earns no ranking advantage.
constexpr int64_t EffectiveMs(int64_t est_ms, int64_t min_prover_time_ms) {
  return std::max(est_ms, min_prover_time_ms);
}

// min(deadline, now + effective_ms * (10000 + grace_bps) / 10000). Limits keep it in range:
// effective_ms <= kMaxDurationMs, grace_bps <= kMaxGraceBps.
constexpr Timestamp DueAt(Timestamp now, int64_t effective_ms, int32_t grace_bps,
                          Timestamp deadline) {
  return std::min(deadline, now + effective_ms * (kBps + grace_bps) / kBps);
}

// The graded slash for a miss or an invalid proof of a job worth `price`:
//   base = max(min_slash, price * multiplier_bps / 10000), doubled for a repeat offence,
//   never more than the stake. Saturates instead of overflowing.
constexpr Amount SlashAmount(Amount stake, Amount price, Amount min_slash, int32_t multiplier_bps,
                             bool repeat) {
  __extension__ using Wide = __int128;
  Wide base = static_cast<Wide>(price) * multiplier_bps / kBps;
  if (base < min_slash) base = min_slash;
  if (repeat) base *= 2;
  return base < stake ? static_cast<Amount>(base) : stake;
}

// Ranking score of an offer (lower ranks first), README "Ranking":
//   score = price * (10000 + weight_bps * (10000 - reputation) / 10000)
// i.e. the price marked up by the prover's distance from a perfect reputation, scaled by the
// market's reputation_weight_bps. With weight 0 the score is price * 10000: today's order.
__extension__ using RankScoreValue = unsigned __int128;
constexpr RankScoreValue RankScore(Amount price, int32_t reputation, int32_t weight_bps) {
  const int64_t markup = static_cast<int64_t>(weight_bps) * (kBps - reputation) / kBps;
  return static_cast<RankScoreValue>(price) * static_cast<RankScoreValue>(kBps + markup);
}

constexpr int32_t ClampReputation(int64_t reputation) {
  return static_cast<int32_t>(std::clamp<int64_t>(reputation, kMinReputation, kMaxReputation));
}

// SplitMix64 finaliser: a fixed, public bijection (HashDrawSource, for tests).
constexpr uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Stake-weighted pick: index i with probability weights[i] / sum (word mod sum; the modulo
// bias is below 2^-30 for any realistic total). Weights must be > 0 and sum in int64.
inline size_t WeightedPick(uint64_t word, std::span<const int64_t> weights) {
  uint64_t total = 0;
  for (int64_t w : weights) total += static_cast<uint64_t>(w);
  uint64_t r = word % total;
  for (size_t i = 0; i < weights.size(); ++i) {
    uint64_t w = static_cast<uint64_t>(weights[i]);
    if (r < w) return i;
    r -= w;
  }
  return weights.size() - 1;  // unreachable
}

// A candidate's VRF weight: its prover's stake, scaled (when the market weighs reputation,
// reputation_weight_bps > 0) by 1 - weight_bps * (10000 - reputation) / 10000^2, the same
// distance from a perfect reputation the ranking uses; at least 1, so a market with
// min_stake 0 still has a well-defined draw. A stake-based-turns market (vrf_turns) passes
// weight_bps 0: stake alone.
constexpr int64_t VrfWeight(Amount stake, int32_t reputation, int32_t weight_bps) {
  __extension__ using Wide = __int128;
  const int64_t cut = static_cast<int64_t>(weight_bps) * (kBps - reputation) / kBps;
  const Wide w = static_cast<Wide>(stake) * (kBps - cut) / kBps;
  return w < 1 ? 1 : static_cast<int64_t>(w);
}

}  // namespace proofbook::matching

namespace proofbook::matching {

// The first MarketParams field out of range, or "" when all are valid.
constexpr std::string_view InvalidMarketParamField(const MarketParams& p) {
  if (p.min_stake < 0) return "min_stake";
  if (p.min_slash < 0) return "min_slash";
  if (p.slash_multiplier_bps < 0 || p.slash_multiplier_bps > kMaxSlashMultiplierBps) {
    return "slash_multiplier_bps";
  }
  if (p.repeat_window_ms < 0 || p.repeat_window_ms > kMaxDurationMs) return "repeat_window_ms";
  if (p.compensation_bps < 0 || p.compensation_bps > kBps) return "compensation_bps";
  if (p.fee_bps < 0 || p.fee_bps > kBps) return "fee_bps";
  if (p.min_prover_time_ms < 0 || p.min_prover_time_ms > kMaxDurationMs) {
    return "min_prover_time_ms";
  }
  if (p.grace_bps < 0 || p.grace_bps > kMaxGraceBps) return "grace_bps";
  if (p.uncle_reward_bps < 0 || p.uncle_reward_bps > kBps) return "uncle_reward_bps";
  if (p.max_proof_bytes <= 0) return "max_proof_bytes";
  if (p.decline_window_ms < 0 || p.decline_window_ms > kMaxDurationMs) {
    return "decline_window_ms";
  }
  if (p.unprovable_quorum < 1 || p.unprovable_quorum > kMaxRedundancy) {
    return "unprovable_quorum";
  }
  if (p.unprovable_fee_bps < 0 || p.unprovable_fee_bps > kBps) return "unprovable_fee_bps";
  if (p.griefing_bps < 0 || p.griefing_bps > kBps) return "griefing_bps";
  if (p.reputation_weight_bps < 0 || p.reputation_weight_bps > kBps) {
    return "reputation_weight_bps";
  }
  return "";
}

}  // namespace proofbook::matching
