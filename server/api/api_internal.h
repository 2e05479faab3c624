// Shared pieces of the HTTP handlers (api_*.cc): the context they run in, authentication with
// role checks, database and engine round trips, and the JSON shapes of the resources.
// Internal to server/; handlers never block an io thread.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>

#include "matching/engine.h"
#include "server/core/auth.h"
#include "server/db/database.h"
#include "server/core/engine_runner.h"
#include "server/core/market_directory.h"
#include "server/core/order_watch.h"
#include "server/api/rate_limiter.h"
#include "server/http/router.h"

namespace proofbook::server {

struct ApiContext {
  Database& db;
  EngineRunner& runner;
  Authenticator& auth;
  MarketDirectory& markets;
  RateLimiter& limiter;
  OrderWatch& watch;
  std::size_t max_inputs_bytes = 64 << 10;  // an order's public inputs, minified
};

// Authenticates the request, applies the account's rate limit and checks its role is one of
// `roles` (empty: any). On failure it answers (401/429/403) and returns nullopt.
std::optional<Principal> Require(ApiContext& ctx, const HttpRequest& req, Responder& respond,
                                 std::initializer_list<matching::Role> roles);

// Runs `query` on a database worker; answers its result, or 503 when the database is
// unreachable or too busy, or 500 on any other database error.
void RunDb(Database& db, Responder respond, std::function<HttpResponse(pqxx::connection&)> query);

// Sends one command through the engine; the reply is built on the engine thread and sent
// after COMMIT. A full inbox or a recovering engine is 503 at once.
void SubmitCommand(ApiContext& ctx, matching::CommandBody body, OrderExtra extra,
                   ReplyBuilder reply, Responder respond);

// An engine rejection as the wire sees it: the engine's field names ("deadline") become the
// request's ("deadline_ms").
Status WireRejection(const matching::Event& rejected);

// SubmitCommand for a Deposit carrying an idempotency reference (may be empty).
void SubmitDeposit(ApiContext& ctx, matching::Deposit deposit, std::string reference,
                   ReplyBuilder reply, Responder respond);

// A ReplyBuilder answering a rejection with its Status and otherwise calling `ok`.
ReplyBuilder OnAccepted(
    std::function<HttpResponse(const matching::Engine&, std::span<const matching::Event>)> ok);

// An id from a path segment, or an error naming it.
Result<int64_t> PathId(const PathParams& params, std::string_view name);

boost::json::object AccountJson(const matching::AccountState& account);
boost::json::object OfferJson(const matching::OfferState& offer, const std::string& market);
boost::json::object AssignmentJson(const matching::AssignmentState& a);
// A PostgreSQL failure as a Status: constraint violations are the client's (409 for unique,
// 400 for others), a lost connection is 503, anything else 500.
Status DatabaseError(const std::exception& e, std::string_view what);

boost::json::object OrderJson(const matching::OrderState& order, const std::string& market,
                              std::span<const matching::AssignmentState> assignments,
                              const std::string& client_order_id);

// Route registration, one function per file.
void RegisterAdminApi(Router& router, ApiContext& ctx);
void RegisterAccountApi(Router& router, ApiContext& ctx);
void RegisterOrderApi(Router& router, ApiContext& ctx);

}  // namespace proofbook::server
