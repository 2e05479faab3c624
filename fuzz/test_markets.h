// The markets the request and WebSocket fuzz targets parse against (fuzz/README.md).
#pragma once

#include <optional>

#include "server/base/limits.h"
#include "server/core/input_check.h"
#include "server/core/market_directory.h"

namespace proofbook::fuzz {

// The markets the request and WebSocket targets parse against: one of each input check.
//   m        unchecked (any inputs)
//   sha      sha256-preimage
//   poseidon snarkjs-groth16, a key with nPublic 2
//   g        snarkjs-groth16, a key without a usable nPublic
//   merge    sha256-merge (a proof tree's merges)
inline const server::MarketDirectory& TestMarkets() {
  static const server::MarketDirectory* const markets = [] {
    auto* d = new server::MarketDirectory;
    d->Add("m", 0, server::InputCheckFor("none", std::nullopt));
    d->Add("sha", 1, server::InputCheckFor(server::kVerifierSha256Preimage, std::nullopt));
    d->Add("poseidon", 2, server::InputCheckFor(server::kVerifierGroth16, 2));
    d->Add("g", 3, server::InputCheckFor(server::kVerifierGroth16, std::nullopt));
    d->Add("merge", 4, server::InputCheckFor(server::kVerifierSha256Merge, std::nullopt));
    return d;
  }();
  return *markets;
}

}  // namespace proofbook::fuzz
