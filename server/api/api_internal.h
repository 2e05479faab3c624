// Shared pieces of the REST handlers (api_*.cc): the context they run in, authentication with
// role checks, database reads and operations answered as HTTP. Handlers parse with
// core/requests.h, act through core/operations.h or a db/ read model, and render here; they
// never block an io thread and know no SQL.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <initializer_list>
#include <optional>

#include "server/base/rate_limiter.h"
#include "server/core/auth.h"
#include "server/core/live_feed.h"
#include "server/core/market_directory.h"
#include "server/core/operations.h"
#include "server/core/order_watch.h"
#include "server/db/database.h"
#include "server/http/router.h"

namespace proofbook::server {

struct ApiContext {
  Database& db;
  Operations& ops;
  Authenticator& auth;
  MarketDirectory& markets;
  RateLimiter& limiter;
  OrderWatch& watch;
  LiveFeed& live;
};

// Authenticates the request, applies the account's rate limit and checks its role is one of
// `roles` (empty: any). On failure it answers (401/429/403) and returns nullopt.
std::optional<Principal> Require(ApiContext& ctx, const HttpRequest& req, Responder& respond,
                                 std::initializer_list<matching::Role> roles);

// Runs `query` on a database worker and answers what it returns; 503 when the database is
// unreachable or too busy, 500 on any other database error.
void RunDb(Database& db, Responder respond, std::function<HttpResponse(DbSession&)> query);

// `value` serialised as a JSON reply with `status`.
HttpResponse Json(const boost::json::value& value, int status = 200);

// An operation's answer as HTTP: its error as an error reply, or `render(result)`.
template <typename T>
Done<T> Answer(Responder respond, std::function<HttpResponse(T&)> render) {
  return [respond = std::move(respond), render = std::move(render)](Result<T> r) {
    respond(r ? render(*r) : ErrorResponse(r.error()));
  };
}

// A read model's Result as a 200 reply, or its error.
HttpResponse JsonOrError(const Result<boost::json::object>& r);

// A query parameter's value as an integer >= 0, or an error naming it.
Result<int64_t> QueryInt(std::string_view name, std::string_view text);

// An id from a path segment, or an error naming it.
Result<int64_t> PathId(const PathParams& params, std::string_view name);

// The `wait_ms` query parameter of a long poll: 0 when absent, else 1..kMaxWaitMs; other
// parameters are refused.
Result<int64_t> ParseWaitMs(const HttpRequest& req);

// A read that may wait (GET /v1/orders/{id}, /v1/trees/{id} with ?wait_ms): answers `fetch`
// once `key` is notified on ctx.watch (the commit that made it final) or after `wait_ms`, or at
// once when `worth_waiting` (run on a database worker) says there is nothing to wait for or the
// database is away. Without wait_ms, fetch at once. The answer is always read from PostgreSQL,
// so it is committed state.
void LongPoll(ApiContext& ctx, int64_t key, int64_t wait_ms, std::function<void(Responder)> fetch,
              std::function<bool(DbSession&)> worth_waiting, Responder respond);

// Route registration, one function per file.
void RegisterAdminApi(Router& router, ApiContext& ctx);
void RegisterAccountApi(Router& router, ApiContext& ctx);
void RegisterOrderApi(Router& router, ApiContext& ctx);
void RegisterTreeApi(Router& router, ApiContext& ctx);
void RegisterAdminViewsApi(Router& router, ApiContext& ctx);
void RegisterAdminUi(Router& router);

}  // namespace proofbook::server
