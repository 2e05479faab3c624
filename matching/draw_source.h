// DrawSource: where a vrf order's randomness comes from. The engine asks it for one 64-bit word
// per draw and consumes nothing else, so the engine stays pure and deterministic: the server's
// source (server/core/vrf_draws.h) computes an RFC 9381 ECVRF over (market, epoch seed, order,
// attempt) with the market's key and turns beta into the word (vrf/draw_protocol.h); a test's
// source hashes the same tuple (HashDrawSource below).
//
// Contract:
//  - Draw is a function of its request alone: the same request gives the same word, so anyone
//    can re-derive a draw from what was published.
//  - `attempt` numbers an order's draws from 0, one per pick, in the order they happen; a
//    reassignment after a miss is a new draw (the next attempt) among the remaining candidates.
//  - Serves(market) says whether a vrf order may be placed in the market (the server: the
//    market has a VRF key). An answer may change between commands, never within one.
//  - Called on the engine thread only; the engine does not own it.
#pragma once

#include <cstdint>

#include "matching/rules.h"
#include "matching/types.h"

namespace proofbook::matching {

struct DrawRequest {
  MarketId market = 0;
  OrderId order = 0;
  Timestamp placed_at = 0;  // the order's placement time (its draws' epoch)
  uint32_t attempt = 0;
};

class DrawSource {
 public:
  virtual ~DrawSource() = default;
  virtual bool Serves(MarketId market) const = 0;
  virtual uint64_t Draw(const DrawRequest& request) = 0;
};

// For tests and benchmarks: a public hash of the request (no key, so predictable by anyone and
// useless against a grinding operator; statistically fine). Serves every market.
class HashDrawSource final : public DrawSource {
 public:
  explicit HashDrawSource(uint64_t seed = 0) : seed_(seed) {}
  bool Serves(MarketId) const override { return true; }
  uint64_t Draw(const DrawRequest& r) override {
    uint64_t x = Mix64(seed_ ^ r.market);
    x = Mix64(x ^ r.order);
    x = Mix64(x ^ static_cast<uint64_t>(r.placed_at));
    return Mix64(x ^ r.attempt);
  }

 private:
  uint64_t seed_;
};

}  // namespace proofbook::matching
