#include "server/core/views.h"

#include "server/base/resources.h"

namespace proofbook::server {

namespace json = boost::json;

json::object PlacedOfferJson(const PlacedOffer& placed) {
  json::object out = placed.offer ? OfferJson(*placed.offer, placed.market)
                                  : json::object{{"id", placed.id}, {"market", placed.market}};
  json::array assigned;
  for (const NewAssignment& a : placed.assigned) {
    assigned.push_back(json::object{{"assignment", a.assignment},
                                    {"order", a.order},
                                    {"price", a.price},
                                    {"due_at_ms", a.due_at}});
  }
  out["assigned"] = std::move(assigned);
  return json::object{{"offer", std::move(out)}};
}

json::object CancelledOfferJson(matching::OfferId offer) {
  return json::object{{"offer", json::object{{"id", offer}, {"status", "cancelled"}}}};
}

json::object DeclinedJson(const Declined& d) {
  return json::object{{"assignment", d.assignment},
                      {"order", d.order},
                      {"reason", matching::ReasonName(d.reason)},
                      {"status", matching::AssignmentStatusName(d.status)}};
}

}  // namespace proofbook::server
