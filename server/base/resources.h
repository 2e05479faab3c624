// The market's resources as JSON (Boost.JSON): the one shape of an account, an offer, an
// assignment and an order, whoever shows it (REST replies, WebSocket messages, read models),
// and the names orders carry for their enums in the database and on the wire.
// Stateless functions; no thread rules.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "matching/state.h"

namespace proofbook::server {

std::string_view PriorityName(matching::Priority p);
std::string_view SelectionName(matching::Selection s);
// The reverse of the names above; nullopt for a name that is not one.
std::optional<matching::Priority> PriorityFromName(std::string_view name);
std::optional<matching::Selection> SelectionFromName(std::string_view name);

boost::json::object AccountJson(const matching::AccountState& account);
boost::json::object OfferJson(const matching::OfferState& offer, const std::string& market);
boost::json::object AssignmentJson(const matching::AssignmentState& a);
boost::json::object OrderJson(const matching::OrderState& order, const std::string& market,
                              std::span<const matching::AssignmentState> assignments,
                              const std::string& client_order_id);
// OrderJson's object written as JSON text onto `out`, without building it: the order
// placement's reply, once an order (resources_test checks that both give the same object).
void AppendOrderJson(std::string& out, const matching::OrderState& order, const std::string& market,
                     std::span<const matching::AssignmentState> assignments,
                     const std::string& client_order_id);
boost::json::object MarketJson(const std::string& id, const std::string& proof_system,
                               const std::string& verifier, const matching::MarketParams& p);

}  // namespace proofbook::server
