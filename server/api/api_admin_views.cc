// The admin's read-only views of the whole market: GET /v1/admin/accounts[/{id}] (balances and
// key ids, never keys), /v1/admin/provers (the leaderboard) and /v1/admin/summary (a time
// window's totals and the treasury). See schema/openapi.yaml.
#include "server/api/api_internal.h"
#include "server/base/limits.h"
#include "server/core/engine_runner.h"
#include "server/core/live_feed.h"
#include "server/db/admin_reports.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

constexpr int64_t kMaxProvers = 1000;
constexpr int64_t kDefaultSummaryWindowMs = 24LL * 3600 * 1000;

void ListAccountsRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto query = ParseQuery(req.query, {"role", "limit", "cursor"});
  if (!query) return respond(ErrorResponse(query.error()));
  AccountListFilter filter;
  filter.limit = kDefaultPageSize;
  for (const auto& [name, value] : *query) {
    if (name == "role") {
      if (!ParseRole(value)) {
        return respond(
            ErrorResponse(Status(StatusCode::kInvalidArgument,
                                 "role must be sequencer, prover, admin or treasury", "role")));
      }
      filter.role = value;
      continue;
    }
    auto n = QueryInt(name, value);
    if (!n) return respond(ErrorResponse(n.error()));
    if (name == "limit") filter.limit = std::clamp<int64_t>(*n, 1, kMaxPageSize);
    if (name == "cursor") filter.after = *n;
  }
  RunDb(ctx.db, std::move(respond),
        [filter](DbSession& session) { return Json(ListAccounts(session, filter)); });
}

void ReadAccountRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                      Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  // The treasury is account 0: an id here may be 0.
  auto id = QueryInt("id", Param(params, "id"));
  if (!id) return respond(ErrorResponse(id.error()));
  RunDb(ctx.db, std::move(respond),
        [id = *id](DbSession& session) { return JsonOrError(ReadAccountForAdmin(session, id)); });
}

void ListProversRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto query = ParseQuery(req.query, {"sort", "limit"});
  if (!query) return respond(ErrorResponse(query.error()));
  std::string sort = "earned";
  int64_t limit = 100;
  for (const auto& [name, value] : *query) {
    if (name == "sort") {
      sort = value;
    } else {
      auto n = QueryInt(name, value);
      if (!n) return respond(ErrorResponse(n.error()));
      limit = std::clamp<int64_t>(*n, 1, kMaxProvers);
    }
  }
  Database& db = ctx.db;
  RunDb(db, std::move(respond), [&db, sort, limit](DbSession& session) {
    auto page = ListProvers(session, sort, limit);
    if (page) RefreshProverBoardIfOld(db, session);
    return JsonOrError(page);
  });
}

// Server-sent events: a `snapshot` event about every second (core/live_feed.h) for as long as
// the client reads. Browsers' EventSource cannot send a key, so the dashboard reads it with
// fetch().
void LiveRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto query = ParseQuery(req.query, {});
  if (!query) return respond(ErrorResponse(query.error()));
  HttpResponse r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-store");
  r.stream = ctx.live.Subscribe();
  respond(std::move(r));
}

void SummaryRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto query = ParseQuery(req.query, {"from", "to"});
  if (!query) return respond(ErrorResponse(query.error()));
  int64_t to = EngineRunner::WallClockMs() + 1, from = -1;
  for (const auto& [name, value] : *query) {
    auto n = QueryInt(name, value);
    if (!n) return respond(ErrorResponse(n.error()));
    (name == "from" ? from : to) = *n;
  }
  if (from < 0) from = std::max<int64_t>(0, to - kDefaultSummaryWindowMs);
  if (from > to) {
    return respond(
        ErrorResponse(Status(StatusCode::kInvalidArgument, "from must not be after to", "from")));
  }
  RunDb(ctx.db, std::move(respond),
        [from, to](DbSession& session) { return Json(ReadSummary(session, from, to)); });
}

}  // namespace

void RegisterAdminViewsApi(Router& router, ApiContext& ctx) {
  router.Add("GET", "/v1/admin/accounts",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListAccountsRoute(ctx, req, std::move(respond));
             });
  router.Add("GET", "/v1/admin/accounts/{id}",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               ReadAccountRoute(ctx, req, params, std::move(respond));
             });
  router.Add("GET", "/v1/admin/provers",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListProversRoute(ctx, req, std::move(respond));
             });
  router.Add("GET", "/v1/admin/live",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               LiveRoute(ctx, req, std::move(respond));
             });
  router.Add("GET", "/v1/admin/summary",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               SummaryRoute(ctx, req, std::move(respond));
             });
}

}  // namespace proofbook::server
