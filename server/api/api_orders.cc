// Sequencer routes: place, read and cancel proof orders.
#include "server/api/api_internal.h"
#include "server/base/limits.h"
#include "server/base/resources.h"
#include "server/db/orders.h"
#include "server/db/vrf.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

// The order as the engine held it right after the command. An order already final is out of
// the engine's memory: then only its id is known here, and GET /v1/orders/{id} has the rest.
// Written as text straight away (AppendOrderJson): building Boost.JSON objects to serialize
// them was 13.7k of an order's ~158k instructions (loadtest/REPORT.md, session 23).
HttpResponse PlacedOrderReply(const PlacedOrder& placed) {
  const int status = placed.replayed ? 200 : 201;
  if (!placed.order) return Json(json::object{{"order", json::object{{"id", placed.id}}}}, status);
  std::string body;
  body.reserve(512);
  body += "{\"order\":";
  AppendOrderJson(body, *placed.order, placed.market, placed.assignments, placed.client_order_id);
  body += '}';
  return JsonResponse(std::move(body), status);
}

void PlaceOrderRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kSequencer});
  if (!who) return;
  auto request = ParsePlaceOrder(req.body, ctx.markets, ctx.ops.options().max_inputs_bytes);
  if (!request) return respond(ErrorResponse(request.error()));
  ctx.ops.PlaceOrder(who->account, std::move(*request),
                     Answer<PlacedOrder>(std::move(respond), [](PlacedOrder& placed) {
                       return PlacedOrderReply(placed);
                     }));
}

Reader ReaderOf(const Principal& p) { return Reader{p.account, p.role}; }

void GetProofsRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                    Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kSequencer, Role::kAdmin});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  RunDb(ctx.db, std::move(respond), [reader = ReaderOf(*who), order = *id](DbSession& session) {
    return JsonOrError(ReadOrderProofs(session, reader, order));
  });
}

void GetOrderRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                   Responder respond) {
  auto who = Require(ctx, req, respond, {});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  auto wait_ms = ParseWaitMs(req);
  if (!wait_ms) return respond(ErrorResponse(wait_ms.error()));
  const Reader reader = ReaderOf(*who);
  const int64_t order_id = *id;
  LongPoll(
      ctx, order_id, *wait_ms,
      [&db = ctx.db, reader, order_id](Responder r) {
        RunDb(db, std::move(r), [reader, order_id](DbSession& session) {
          return JsonOrError(ReadOrder(session, reader, order_id));
        });
      },
      [reader, order_id](DbSession& session) {
        return OrderWorthWaitingFor(session, reader, order_id);
      },
      std::move(respond));
}

void ListOrdersRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {});
  if (!who) return;
  auto query = ParseQuery(req.query, {"status", "market", "limit", "cursor"});
  if (!query) return respond(ErrorResponse(query.error()));
  OrderFilter filter;
  filter.limit = kDefaultPageSize;
  for (const auto& [name, value] : *query) {
    if (name == "status") {
      filter.status = value;
      if (value != "open" && value != "completed" && value != "expired" && value != "cancelled" &&
          value != "failed") {
        return respond(ErrorResponse(Status(
            StatusCode::kInvalidArgument,
            "status must be one of: open, completed, expired, cancelled, failed", "status")));
      }
    } else if (name == "market") {
      filter.market = value;
    } else {
      PathParams one{{name, value}};
      auto n = PathId(one, name);
      if (!n) return respond(ErrorResponse(n.error()));
      if (name == "limit") filter.limit = std::min<int64_t>(*n, kMaxPageSize);
      if (name == "cursor") filter.cursor = *n;
    }
  }
  // Sequencers see their own orders; provers the orders they were assigned; admins all.
  filter.owner = who->role == Role::kSequencer ? who->account : 0;
  filter.prover = who->role == Role::kProver ? who->account : 0;
  RunDb(ctx.db, std::move(respond),
        [filter](DbSession& session) { return Json(ListOrders(session, filter)); });
}

// Everything needed to re-derive a vrf order's draws (README "VRF selection"). Draws are
// public facts of the market, like its book: any account may read them.
void GetDrawsRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                   Responder respond) {
  if (!Require(ctx, req, respond, {})) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  RunDb(ctx.db, std::move(respond), [order = *id](DbSession& session) {
    std::optional<OrderDraws> draws = ReadOrderDraws(session, order);
    if (!draws) {
      return ErrorResponse(
          Status(StatusCode::kNotFound, "no order " + std::to_string(order), "id"));
    }
    return Json(draws->body);
  });
}

void CancelOrderRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                      Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kSequencer});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  ctx.ops.CancelOrder(
      who->account, *id,
      Answer<matching::OrderId>(std::move(respond), [](matching::OrderId& order) {
        return Json(json::object{{"order", json::object{{"id", order}, {"status", "cancelled"}}}});
      }));
}

}  // namespace

void RegisterOrderApi(Router& router, ApiContext& ctx) {
  router.Add("POST", "/v1/orders",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               PlaceOrderRoute(ctx, req, std::move(respond));
             });
  router.Add("GET", "/v1/orders",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListOrdersRoute(ctx, req, std::move(respond));
             });
  router.Add("GET", "/v1/orders/{id}",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               GetOrderRoute(ctx, req, params, std::move(respond));
             });
  router.Add("GET", "/v1/orders/{id}/proofs",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               GetProofsRoute(ctx, req, params, std::move(respond));
             });
  router.Add("GET", "/v1/orders/{id}/draws",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               GetDrawsRoute(ctx, req, params, std::move(respond));
             });
  router.Add("DELETE", "/v1/orders/{id}",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               CancelOrderRoute(ctx, req, params, std::move(respond));
             });
}

}  // namespace proofbook::server
