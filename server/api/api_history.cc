// GET /v1/settlements and GET /v1/slashings: see api_history.h and schema/openapi.yaml.
#include "server/api/api_history.h"

#include "server/api/api_internal.h"
#include "server/base/limits.h"
#include "server/db/orders.h"

namespace proofbook::server {

using matching::Role;

namespace {

void ListRoute(ApiContext& ctx, const HttpRequest& req, Responder respond, History list) {
  auto who = Require(ctx, req, respond, {});
  if (!who) return;
  auto query = ParseQuery(req.query, {"limit", "cursor", "order"});
  if (!query) return respond(ErrorResponse(query.error()));
  HistoryFilter filter;
  filter.limit = kDefaultPageSize;
  for (const auto& [name, value] : *query) {
    PathParams one{{name, value}};
    auto n = PathId(one, name);
    if (!n) return respond(ErrorResponse(n.error()));
    if (name == "limit") filter.limit = std::min(*n, kMaxPageSize);
    if (name == "cursor") filter.cursor = *n;
    if (name == "order") filter.order = *n;
  }
  // Provers see what they were paid or slashed; sequencers what happened on their orders;
  // admins everything.
  filter.prover = who->role == Role::kProver ? who->account : 0;
  filter.owner = who->role == Role::kSequencer ? who->account : 0;
  RunDb(ctx.db, std::move(respond),
        [list, filter](DbSession& session) { return Json(ListHistory(session, list, filter)); });
}

}  // namespace

void RegisterHistoryApi(Router& router, ApiContext& ctx) {
  router.Add("GET", "/v1/settlements",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListRoute(ctx, req, std::move(respond), History::kSettlements);
             });
  router.Add("GET", "/v1/slashings",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListRoute(ctx, req, std::move(respond), History::kSlashings);
             });
}

}  // namespace proofbook::server
