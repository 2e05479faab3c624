// Operation results as JSON, where REST replies and WebSocket messages carry the same body
// (the WebSocket adds its "type" and "id"). The resources themselves: server/base/resources.h.
#pragma once

#include <boost/json.hpp>

#include "server/core/operations.h"

namespace proofbook::server {

// {"offer": {...the offer..., "assigned": [...]}}
boost::json::object PlacedOfferJson(const PlacedOffer& placed);
// {"offer": {"id": N, "status": "cancelled"}}
boost::json::object CancelledOfferJson(matching::OfferId offer);
// {"assignment": N, "order": N, "reason": "busy", "status": "declined_busy"}
boost::json::object DeclinedJson(const Declined& declined);

}  // namespace proofbook::server
