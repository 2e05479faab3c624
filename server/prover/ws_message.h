// Fields of a prover WebSocket message (schema/prover-ws.yaml), read the same way by the
// gateway and by fuzz/prover_ws_fuzzer. Stateless; any thread.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "matching/status.h"

namespace proofbook::server {

// The `id` of a request, echoed in its answer; null when it had none.
boost::json::value ClientId(const boost::json::object& msg);

// The positive integer `name` (an id, a size); nullopt when absent or not one.
std::optional<int64_t> PositiveInt(const boost::json::object& msg, std::string_view name);

// Ok, or the refusal (400, field = the key) of the first key outside `allowed`.
Status OnlyFields(const boost::json::object& msg, std::initializer_list<std::string_view> allowed);

}  // namespace proofbook::server
