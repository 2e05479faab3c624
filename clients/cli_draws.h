// `proofbook draw verify ORDER...`: re-derives every draw of vrf orders offline from what the
// server published (GET /v1/orders/{id}/draws, GET /v1/markets), with its own checks: the key is
// the market's published key, alpha is the protocol's alpha for (market, epoch seed, order,
// attempt), the ECVRF proof verifies (vrf/ecvrf.h, the one project library a client links) and
// gives the published beta, and the pick the published rule makes from beta's word among the
// round's remaining candidates is the assignment the server made. The pick rule is written here
// a second time on purpose: a bug in the engine's copy shows as a difference.
#pragma once

#include <cstdint>
#include <vector>

#include "clients/cli_api.h"
#include "clients/cli_commands.h"

namespace proofbook::cli {

// Prints "order N: valid (k draws)" per order, or what differs; fails (exit 1) if any does not
// verify. --json: {"orders": [{"order", "valid", "draws", "problems": [...]}]}.
Outcome DrawVerify(ApiClient& api, const OutputMode& mode, const std::vector<int64_t>& orders);

}  // namespace proofbook::cli
