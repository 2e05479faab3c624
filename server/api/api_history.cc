// GET /v1/settlements and GET /v1/slashings: see api_history.h and schema/openapi.yaml.
#include "server/api/api_history.h"

#include <pqxx/pqxx>

#include "server/api/api_internal.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

constexpr int64_t kDefaultPageSize = 50;
constexpr int64_t kMaxPageSize = 200;  // rows per page, as GET /v1/orders

// One history list: its JSON name and query. The query takes, in order: the prover whose rows
// these are (0: any), the sequencer whose orders they belong to (0: any), one order (0: any),
// the cursor (rows with seq below it) and the number of rows wanted; it returns seq,
// assignment_id, order_id, prover_id, the market's slug, amount, the kind or reason, at_ms.
struct HistoryList {
  const char* name;    // "settlements"
  const char* detail;  // the JSON name of the kind/reason column
  const char* sql;
};

// Keyset pagination, newest first: a page is "seq below the cursor", so rows journaled while a
// client pages never shift what it has not read yet.
constexpr HistoryList kSettlements{
    "settlements", "kind",
    "SELECT s.seq, s.assignment_id, s.order_id, s.prover_id, m.id, s.amount, s.kind::text, "
    "s.at_ms FROM settlements s JOIN orders o ON o.id = s.order_id "
    "JOIN markets m ON m.idx = o.market_idx "
    "WHERE ($1::bigint = 0 OR s.prover_id = $1) AND ($2::bigint = 0 OR o.account_id = $2) "
    "AND ($3::bigint = 0 OR s.order_id = $3) AND s.seq < $4 "
    "ORDER BY s.seq DESC LIMIT $5"};

constexpr HistoryList kSlashings{
    "slashings", "reason",
    "SELECT s.seq, s.assignment_id, s.order_id, s.prover_id, m.id, s.amount, s.reason::text, "
    "s.at_ms FROM slashings s JOIN orders o ON o.id = s.order_id "
    "JOIN markets m ON m.idx = s.market_idx "
    "WHERE ($1::bigint = 0 OR s.prover_id = $1) AND ($2::bigint = 0 OR o.account_id = $2) "
    "AND ($3::bigint = 0 OR s.order_id = $3) AND s.seq < $4 "
    "ORDER BY s.seq DESC LIMIT $5"};

void ListRoute(ApiContext& ctx, const HttpRequest& req, Responder respond,
               const HistoryList& list) {
  auto who = Require(ctx, req, respond, {});
  if (!who) return;
  auto query = ParseQuery(req.query, {"limit", "cursor", "order"});
  if (!query) return respond(ErrorResponse(query.error()));
  int64_t limit = kDefaultPageSize, cursor = INT64_MAX, order = 0;
  for (const auto& [name, value] : *query) {
    PathParams one{{name, value}};
    auto n = PathId(one, name);
    if (!n) return respond(ErrorResponse(n.error()));
    if (name == "limit") limit = std::min(*n, kMaxPageSize);
    if (name == "cursor") cursor = *n;
    if (name == "order") order = *n;
  }
  // Provers see what they were paid or slashed; sequencers what happened on their orders;
  // admins everything.
  const int64_t prover = who->role == Role::kProver ? who->account : 0;
  const int64_t owner = who->role == Role::kSequencer ? who->account : 0;
  RunDb(ctx.db, std::move(respond), [=, &list](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params(list.sql, prover, owner, order, cursor, limit + 1);
    json::array items;
    int64_t last = 0;
    for (std::size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < limit; ++i) {
      const auto& r = rows[i];
      last = r[0].as<int64_t>();
      items.push_back(json::object{{"seq", last},
                                   {"assignment", r[1].as<int64_t>()},
                                   {"order", r[2].as<int64_t>()},
                                   {"prover", r[3].as<int64_t>()},
                                   {"market", r[4].as<std::string>()},
                                   {"amount", r[5].as<int64_t>()},
                                   {list.detail, r[6].as<std::string>()},
                                   {"at_ms", r[7].as<int64_t>()}});
    }
    json::object out{{list.name, std::move(items)}};
    if (static_cast<int64_t>(rows.size()) > limit) {
      out["next_cursor"] = last;
    } else {
      out["next_cursor"] = nullptr;
    }
    return JsonResponse(json::serialize(out));
  });
}

}  // namespace

void RegisterHistoryApi(Router& router, ApiContext& ctx) {
  router.Add("GET", "/v1/settlements",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListRoute(ctx, req, std::move(respond), kSettlements);
             });
  router.Add("GET", "/v1/slashings",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListRoute(ctx, req, std::move(respond), kSlashings);
             });
}

}  // namespace proofbook::server
