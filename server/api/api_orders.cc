// Sequencer routes: place, read and cancel proof orders.
#include <pqxx/pqxx>

#include "server/api/api_internal.h"
#include "server/base/crypto.h"
#include "server/base/json_body.h"
#include "server/base/json_limits.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

constexpr int64_t kMaxAmount = int64_t{1} << 60;
constexpr int64_t kMaxDeadlineMs = 30LL * 24 * 3600 * 1000;  // orders live at most 30 days
constexpr int64_t kMaxRedundancy = 16;                       // matches the orders table CHECK
constexpr int64_t kMaxPageSize = 200;                        // orders per GET /v1/orders page

// The enum value whose name (by `name_of`) is `text`, or `fallback`.
template <typename E>
E FromName(std::string_view text, std::string_view (*name_of)(E), std::initializer_list<E> all,
           E fallback) {
  for (E e : all) {
    if (name_of(e) == text) return e;
  }
  return fallback;
}
std::string_view PriorityNameFn(matching::Priority p) { return PriorityName(p); }
std::string_view SelectionNameFn(matching::Selection s) { return SelectionName(s); }

// The order as the engine holds it, its market named as the original order did (a replay may
// name another). An order already final is out of the engine's memory: then only its id is
// known here, and GET /v1/orders/{id} has the rest.
HttpResponse OrderReply(const matching::Engine& engine, const MarketDirectory& markets,
                        matching::OrderId id, const std::string& client_order_id, int status) {
  auto order = engine.GetOrder(id);
  if (!order) {
    return JsonResponse(json::serialize(json::object{{"order", json::object{{"id", id}}}}), status);
  }
  auto assignments = engine.GetOrderAssignments(id);
  json::object out = OrderJson(*order, markets.Slug(order->market), assignments, client_order_id);
  return JsonResponse(json::serialize(json::object{{"order", std::move(out)}}), status);
}

void PlaceOrderRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kSequencer});
  if (!who) return;
  auto body = JsonBody::Parse(
      req.body, {"market", "max_price", "deadline_ms", "priority", "min_reputation", "redundancy",
                 "selection", "prover", "exclusive_ms", "inputs", "client_order_id"});
  if (!body) return respond(ErrorResponse(body.error()));
#define PB_TAKE(var, expr) \
  auto var = (expr);       \
  if (!var) return respond(ErrorResponse(var.error()));
  PB_TAKE(slug, body->String("market", 63));
  PB_TAKE(max_price, body->Int("max_price", 1, kMaxAmount));
  PB_TAKE(deadline_ms, body->Int("deadline_ms", 1, kMaxDeadlineMs));
  PB_TAKE(priority, body->Enum("priority", {"price", "time"}, "price"));
  PB_TAKE(min_reputation, body->Int("min_reputation", 0, 10000, 0));
  PB_TAKE(redundancy, body->Int("redundancy", 1, kMaxRedundancy, 1));
  PB_TAKE(selection, body->Enum("selection", {"best", "direct", "vrf"}, "best"));
  PB_TAKE(prover, body->Int("prover", 1, INT64_MAX, 0));
  PB_TAKE(exclusive_ms, body->Int("exclusive_ms", 1, kMaxDeadlineMs, *deadline_ms));
  PB_TAKE(inputs, body->Raw("inputs", ctx.max_inputs_bytes, kMaxInputsDepth));
  PB_TAKE(client_order_id, body->String("client_order_id", 200, std::string()));
#undef PB_TAKE
  auto market = ctx.markets.Find(*slug);
  if (!market) {
    return respond(ErrorResponse(Status(StatusCode::kUnprocessable, "no market " + *slug, "market")
                                     .WithReason("unknown_market")));
  }
  if (*selection == "direct" && *prover == 0) {
    return respond(ErrorResponse(
        Status(StatusCode::kInvalidArgument, "selection 'direct' needs a prover", "prover")));
  }
  for (const char* direct_only : {"prover", "exclusive_ms"}) {
    if (*selection != "direct" && body->Has(direct_only)) {
      return respond(ErrorResponse(Status(StatusCode::kInvalidArgument,
                                          std::string(direct_only) + " needs selection 'direct'",
                                          direct_only)));
    }
  }

  matching::PlaceOrder order;
  order.account = who->account;
  order.market = *market;
  order.max_price = *max_price;
  order.deadline = *deadline_ms;  // relative: the engine thread anchors it to its clock
  order.priority =
      FromName(*priority, PriorityNameFn, {matching::Priority::kPrice, matching::Priority::kTime},
               matching::Priority::kPrice);
  order.min_reputation = static_cast<int32_t>(*min_reputation);
  order.redundancy = static_cast<int32_t>(*redundancy);
  order.selection = FromName(
      *selection, SelectionNameFn,
      {matching::Selection::kBest, matching::Selection::kDirect, matching::Selection::kVrf},
      matching::Selection::kBest);
  if (order.selection == matching::Selection::kDirect) {
    order.direct_prover = *prover;
    order.exclusive_ms = *exclusive_ms;
  }
  // VRF selection needs the server's ECVRF (a later issue): without an output the engine
  // answers vrf_unavailable, which is the truth.

  // What a replay of the client_order_id must repeat: the parameters as parsed (defaults
  // filled in; the body's whitespace and field order do not count; inputs compared minified).
  std::string request_sha256;
  if (!client_order_id->empty()) {
    request_sha256 = Sha256Hex(
        *slug + '\n' + std::to_string(order.max_price) + '\n' + std::to_string(*deadline_ms) +
        '\n' + *priority + '\n' + std::to_string(order.min_reputation) + '\n' +
        std::to_string(order.redundancy) + '\n' + *selection + '\n' +
        std::to_string(order.direct_prover) + '\n' + std::to_string(order.exclusive_ms) + '\n' +
        *inputs);
  }
  OrderExtra extra{0, *client_order_id, *inputs, std::move(request_sha256)};
  std::string client_id = *client_order_id;
  SubmitCommand(
      ctx, order, std::move(extra),
      [&markets = ctx.markets, client_id](const matching::Engine& engine,
                                          std::span<const matching::Event> events,
                                          matching::OrderId duplicate_of) {
        if (duplicate_of != 0) {
          return OrderReply(engine, markets, duplicate_of, client_id, 200);
        }
        if (events.empty()) {
          return ErrorResponse(Status(StatusCode::kInternal, "the engine produced no outcome"));
        }
        if (events.front().kind == matching::EventKind::kRejected) {
          return ErrorResponse(WireRejection(events.front()));
        }
        return OrderReply(engine, markets, events.front().order, client_id, 201);
      },
      std::move(respond));
}

// The order as a caller may see it: 404 if it does not exist, 403 if it is not theirs.
HttpResponse FetchOrder(pqxx::connection& conn, Principal caller, int64_t order_id) {
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec_params(
      "SELECT o.*, encode(o.vrf_output, 'hex') AS vrf_output_hex, m.id AS market_slug "
      "FROM orders o JOIN markets m ON m.idx = o.market_idx "
      "WHERE o.id = $1",
      order_id);
  if (rows.empty()) {
    return ErrorResponse(Status(StatusCode::kNotFound, "no order " + std::to_string(order_id)));
  }
  matching::OrderState order = OrderFromRow(rows[0]);
  std::vector<matching::AssignmentState> assignments;
  bool prover_on_it = false;
  for (const auto& r :
       tx.exec_params("SELECT * FROM assignments WHERE order_id = $1 ORDER BY id", order_id)) {
    assignments.push_back(AssignmentFromRow(r));
    prover_on_it |= assignments.back().prover == caller.account;
  }
  bool allowed = caller.role == Role::kAdmin ||
                 (caller.role == Role::kSequencer && order.account == caller.account) ||
                 (caller.role == Role::kProver && prover_on_it);
  if (!allowed) {
    return ErrorResponse(
        Status(StatusCode::kForbidden, "order " + std::to_string(order_id) + " is not yours"));
  }
  std::string client_id =
      rows[0]["client_order_id"].is_null() ? "" : rows[0]["client_order_id"].as<std::string>();
  json::object out =
      OrderJson(order, rows[0]["market_slug"].as<std::string>(), assignments, client_id);
  if (!rows[0]["inputs"].is_null()) {
    out["inputs"] = json::parse(rows[0]["inputs"].as<std::string>(), {}, StoredInputsOptions());
  }
  return JsonResponse(json::serialize(json::object{{"order", out}}));
}

constexpr int64_t kMaxWaitMs = 30'000;  // a long poll holds a connection; keep it short

// The verified proofs of an order (settled assignments only), for its sequencer or an admin.
// Bytes as base64 (at most the market's max_proof_bytes each).
HttpResponse FetchProofs(pqxx::connection& conn, Principal caller, int64_t order_id) {
  pqxx::read_transaction tx(conn);
  auto owner = tx.exec_params("SELECT account_id FROM orders WHERE id = $1", order_id);
  if (owner.empty()) {
    return ErrorResponse(Status(StatusCode::kNotFound, "no order " + std::to_string(order_id)));
  }
  if (!(caller.role == Role::kAdmin ||
        (caller.role == Role::kSequencer && owner[0][0].as<int64_t>() == caller.account))) {
    return ErrorResponse(
        Status(StatusCode::kForbidden, "order " + std::to_string(order_id) + " is not yours"));
  }
  json::array proofs;
  for (const auto& r :
       tx.exec_params("SELECT p.assignment_id, p.prover_id, encode(p.sha256, 'hex'), "
                      "length(p.data), encode(p.data, 'base64') FROM proofs p "
                      "JOIN assignments a ON a.id = p.assignment_id "
                      "WHERE p.order_id = $1 AND a.status = 'settled' ORDER BY p.assignment_id",
                      order_id)) {
    std::string b64 = r[4].as<std::string>();
    std::erase(b64, '\n');  // encode() wraps lines every 76 characters
    proofs.push_back(json::object{{"assignment", r[0].as<int64_t>()},
                                  {"prover", r[1].as<int64_t>()},
                                  {"sha256", r[2].as<std::string>()},
                                  {"size", r[3].as<int64_t>()},
                                  {"data_base64", b64}});
  }
  return JsonResponse(json::serialize(json::object{{"order", order_id}, {"proofs", proofs}}));
}

void GetProofsRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                    Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kSequencer, Role::kAdmin});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  RunDb(ctx.db, std::move(respond), [caller = *who, order_id = *id](pqxx::connection& conn) {
    return FetchProofs(conn, caller, order_id);
  });
}

void GetOrderRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                   Responder respond) {
  auto who = Require(ctx, req, respond, {});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  auto query = ParseQuery(req.query, {"wait_ms"});
  if (!query) return respond(ErrorResponse(query.error()));
  int64_t wait_ms = 0;
  for (const auto& [name, value] : *query) {
    PathParams one{{name, value}};
    auto n = PathId(one, name);
    if (!n || *n > kMaxWaitMs) {
      return respond(
          ErrorResponse(Status(StatusCode::kInvalidArgument,
                               "wait_ms must be 1.." + std::to_string(kMaxWaitMs), "wait_ms")));
    }
    wait_ms = *n;
  }
  Principal caller = *who;
  int64_t order_id = *id;
  auto fetch = [&db = ctx.db, caller, order_id](Responder r) {
    RunDb(db, std::move(r), [caller, order_id](pqxx::connection& conn) {
      return FetchOrder(conn, caller, order_id);
    });
  };
  if (wait_ms == 0) return fetch(std::move(respond));

  // Long poll: watch first, then look. If the order is already final, missing or not the
  // caller's to see, the look fires the watch at once; otherwise the commit that finalises it will,
  // or the deadline. Either way the answer is read from PostgreSQL, so it is always committed
  // state.
  auto shared = std::make_shared<Responder>(std::move(respond));
  auto fire = [fetch, shared] { fetch([shared](HttpResponse r) { (*shared)(std::move(r)); }); };
  auto deadline = OrderWatch::Clock::now() + std::chrono::milliseconds(wait_ms);
  if (!ctx.watch.Watch(order_id, deadline, fire)) return fire();  // too many waiting: answer now
  bool queued =
      ctx.db.Post([&watch = ctx.watch, caller, order_id](pqxx::connection* conn, const Status&) {
        bool settled = true;  // unreachable database: stop waiting and let the fetch report it
        if (conn != nullptr) {
          pqxx::read_transaction tx(*conn);
          // Waiting only makes sense for an open order the caller may see; anything else (404,
          // 403, already final) is answered at once by the fetch.
          auto rows = tx.exec_params(
              "SELECT o.status = 'open' AND ($3 OR o.account_id = $2 OR EXISTS (SELECT 1 FROM "
              "assignments a WHERE a.order_id = o.id AND a.prover_id = $2)) FROM orders o "
              "WHERE o.id = $1",
              order_id, caller.account, caller.role == Role::kAdmin);
          settled = rows.empty() || !rows[0][0].as<bool>();
        }
        if (settled) {
          int64_t ids[] = {order_id};
          watch.Notify(ids);
        }
      });
  if (!queued) {
    int64_t ids[] = {order_id};
    ctx.watch.Notify(ids);
  }
}

void ListOrdersRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {});
  if (!who) return;
  auto query = ParseQuery(req.query, {"status", "market", "limit", "cursor"});
  if (!query) return respond(ErrorResponse(query.error()));
  std::string status, market;
  int64_t limit = 50, cursor = INT64_MAX;
  for (const auto& [name, value] : *query) {
    if (name == "status") {
      status = value;
      if (status != "open" && status != "completed" && status != "expired" &&
          status != "cancelled") {
        return respond(ErrorResponse(
            Status(StatusCode::kInvalidArgument,
                   "status must be one of: open, completed, expired, cancelled", "status")));
      }
    } else if (name == "market") {
      market = value;
    } else {
      PathParams one{{name, value}};
      auto n = PathId(one, name);
      if (!n) return respond(ErrorResponse(n.error()));
      if (name == "limit") limit = std::min<int64_t>(*n, kMaxPageSize);
      if (name == "cursor") cursor = *n;
    }
  }
  // Sequencers see their own orders; provers the orders they were assigned; admins all.
  int64_t owner = who->role == Role::kSequencer ? who->account : 0;
  int64_t prover = who->role == Role::kProver ? who->account : 0;
  RunDb(ctx.db, std::move(respond), [=](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    // Keyset pagination, newest first: a page is "ids below the cursor", so orders placed while
    // a client pages never shift what it has not read yet.
    auto rows = tx.exec_params(
        "SELECT o.*, encode(o.vrf_output, 'hex') AS vrf_output_hex, m.id AS market_slug "
        "FROM orders o JOIN markets m ON m.idx = o.market_idx "
        "WHERE ($1::bigint = 0 OR o.account_id = $1) "
        "AND ($2::bigint = 0 OR EXISTS (SELECT 1 FROM assignments a WHERE a.order_id = o.id "
        "AND a.prover_id = $2)) "
        "AND ($3 = '' OR o.status = $3) AND ($4 = '' OR m.id = $4) AND o.id < $5 "
        "ORDER BY o.id DESC LIMIT $6",
        owner, prover, status, market, cursor, limit + 1);
    json::array orders;
    int64_t last = 0;
    for (std::size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < limit; ++i) {
      const auto& r = rows[i];
      std::string client_id =
          r["client_order_id"].is_null() ? "" : r["client_order_id"].as<std::string>();
      json::object o =
          OrderJson(OrderFromRow(r), r["market_slug"].as<std::string>(), {}, client_id);
      o.erase("assignments");  // GET /v1/orders/{id} has them
      orders.push_back(std::move(o));
      last = r["id"].as<int64_t>();
    }
    json::object out{{"orders", std::move(orders)}};
    if (static_cast<int64_t>(rows.size()) > limit) {
      out["next_cursor"] = last;
    } else {
      out["next_cursor"] = nullptr;
    }
    return JsonResponse(json::serialize(out));
  });
}

void CancelOrderRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                      Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kSequencer});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  matching::OrderId order = *id;
  SubmitCommand(ctx, matching::CancelOrder{who->account, order}, {},
                OnAccepted([order](const matching::Engine&, std::span<const matching::Event>) {
                  return JsonResponse(json::serialize(json::object{
                      {"order", json::object{{"id", order}, {"status", "cancelled"}}}}));
                }),
                std::move(respond));
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
  router.Add("DELETE", "/v1/orders/{id}",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               CancelOrderRoute(ctx, req, params, std::move(respond));
             });
}

}  // namespace proofbook::server
