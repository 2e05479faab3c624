#include "server/db/orders.h"

#include <vector>

#include "server/base/json_limits.h"
#include "server/base/resources.h"
#include "server/db/pq.h"
#include "server/db/rows.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

Status NotYours(int64_t order_id) {
  return Status(StatusCode::kForbidden, "order " + std::to_string(order_id) + " is not yours");
}

// One page of rows as {name: [...], "next_cursor": ...}: `rows` holds up to limit + 1 rows;
// the extra one only says there is a next page.
template <typename Item>
json::object Page(const pqxx::result& rows, int64_t limit, const char* name, Item item) {
  json::array items;
  int64_t last = 0;
  for (std::size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < limit; ++i) {
    last = item(rows[i], items);
  }
  json::object out{{name, std::move(items)}};
  if (static_cast<int64_t>(rows.size()) > limit) {
    out["next_cursor"] = last;
  } else {
    out["next_cursor"] = nullptr;
  }
  return out;
}

std::string ClientOrderId(const pqxx::row& r) {
  return r["client_order_id"].is_null() ? "" : r["client_order_id"].as<std::string>();
}

}  // namespace

Result<json::object> ReadOrder(DbSession& session, Reader reader, int64_t order_id) {
  ReadSnapshot tx(Pq(session));
  auto rows = tx.exec_params(
      "SELECT o.*, m.id AS market_slug "
      "FROM orders o JOIN markets m ON m.idx = o.market_idx "
      "WHERE o.id = $1",
      order_id);
  if (rows.empty()) {
    return Status(StatusCode::kNotFound, "no order " + std::to_string(order_id));
  }
  matching::OrderState order = OrderFromRow(rows[0]);
  std::vector<matching::AssignmentState> assignments;
  bool prover_on_it = false;
  for (const auto& r :
       tx.exec_params("SELECT * FROM assignments WHERE order_id = $1 ORDER BY id", order_id)) {
    assignments.push_back(AssignmentFromRow(r));
    prover_on_it |= assignments.back().prover == reader.account;
  }
  bool allowed = reader.role == Role::kAdmin ||
                 (reader.role == Role::kSequencer && order.account == reader.account) ||
                 (reader.role == Role::kProver && prover_on_it);
  if (!allowed) return NotYours(order_id);
  json::object out = OrderJson(order, rows[0]["market_slug"].as<std::string>(), assignments,
                               ClientOrderId(rows[0]));
  if (!rows[0]["inputs"].is_null()) {
    out["inputs"] = json::parse(rows[0]["inputs"].as<std::string>(), {}, StoredInputsOptions());
  }
  return json::object{{"order", out}};
}

Result<json::object> ReadOrderProofs(DbSession& session, Reader reader, int64_t order_id) {
  ReadSnapshot tx(Pq(session));
  auto owner = tx.exec_params("SELECT account_id FROM orders WHERE id = $1", order_id);
  if (owner.empty()) {
    return Status(StatusCode::kNotFound, "no order " + std::to_string(order_id));
  }
  if (!(reader.role == Role::kAdmin ||
        (reader.role == Role::kSequencer && owner[0][0].as<int64_t>() == reader.account))) {
    return NotYours(order_id);
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
  return json::object{{"order", order_id}, {"proofs", proofs}};
}

bool OrderWorthWaitingFor(DbSession& session, Reader reader, int64_t order_id) {
  ReadSnapshot tx(Pq(session));
  auto rows = tx.exec_params(
      "SELECT o.status = 'open' AND ($3 OR o.account_id = $2 OR EXISTS (SELECT 1 FROM "
      "assignments a WHERE a.order_id = o.id AND a.prover_id = $2)) FROM orders o "
      "WHERE o.id = $1",
      order_id, reader.account, reader.role == Role::kAdmin);
  return !rows.empty() && rows[0][0].as<bool>();
}

json::object ListOrders(DbSession& session, const OrderFilter& f) {
  ReadSnapshot tx(Pq(session));
  // Keyset pagination, newest first: a page is "ids below the cursor", so orders placed while
  // a client pages never shift what it has not read yet.
  auto rows = tx.exec_params(
      "SELECT o.*, m.id AS market_slug "
      "FROM orders o JOIN markets m ON m.idx = o.market_idx "
      "WHERE ($1::bigint = 0 OR o.account_id = $1) "
      "AND ($2::bigint = 0 OR EXISTS (SELECT 1 FROM assignments a WHERE a.order_id = o.id "
      "AND a.prover_id = $2)) "
      "AND ($3 = '' OR o.status = $3) AND ($4 = '' OR m.id = $4) AND o.id < $5 "
      "ORDER BY o.id DESC LIMIT $6",
      f.owner, f.prover, f.status, f.market, f.cursor, f.limit + 1);
  return Page(rows, f.limit, "orders", [](const pqxx::row& r, json::array& out) {
    json::object o =
        OrderJson(OrderFromRow(r), r["market_slug"].as<std::string>(), {}, ClientOrderId(r));
    o.erase("assignments");  // GET /v1/orders/{id} has them
    out.push_back(std::move(o));
    return r["id"].as<int64_t>();
  });
}

namespace {

// The history queries take, in order: the prover whose rows these are (0: any), the sequencer
// whose orders they belong to (0: any), one order (0: any), the cursor (rows with seq below it)
// and the number of rows wanted; they return seq, assignment_id, order_id, prover_id, the
// market's slug, amount, the kind or reason, at_ms. Keyset pagination, newest first: a page is
// "seq below the cursor", so rows journaled while a client pages never shift what it has not
// read yet.
constexpr const char* kSettlementsSql =
    "SELECT s.seq, s.assignment_id, s.order_id, s.prover_id, m.id, s.amount, s.kind::text, "
    "s.at_ms FROM settlements s JOIN orders o ON o.id = s.order_id "
    "JOIN markets m ON m.idx = o.market_idx "
    "WHERE ($1::bigint = 0 OR s.prover_id = $1) AND ($2::bigint = 0 OR o.account_id = $2) "
    "AND ($3::bigint = 0 OR s.order_id = $3) AND s.seq < $4 "
    "ORDER BY s.seq DESC LIMIT $5";
constexpr const char* kSlashingsSql =
    "SELECT s.seq, s.assignment_id, s.order_id, s.prover_id, m.id, s.amount, s.reason::text, "
    "s.at_ms FROM slashings s JOIN orders o ON o.id = s.order_id "
    "JOIN markets m ON m.idx = s.market_idx "
    "WHERE ($1::bigint = 0 OR s.prover_id = $1) AND ($2::bigint = 0 OR o.account_id = $2) "
    "AND ($3::bigint = 0 OR s.order_id = $3) AND s.seq < $4 "
    "ORDER BY s.seq DESC LIMIT $5";

}  // namespace

json::object ListHistory(DbSession& session, History list, const HistoryFilter& f) {
  const bool settlements = list == History::kSettlements;
  const char* detail = settlements ? "kind" : "reason";  // the kind/reason column's JSON name
  ReadSnapshot tx(Pq(session));
  auto rows = tx.exec_params(settlements ? kSettlementsSql : kSlashingsSql, f.prover, f.owner,
                             f.order, f.cursor, f.limit + 1);
  return Page(rows, f.limit, settlements ? "settlements" : "slashings",
              [detail](const pqxx::row& r, json::array& out) {
                const int64_t seq = r[0].as<int64_t>();
                out.push_back(json::object{{"seq", seq},
                                           {"assignment", r[1].as<int64_t>()},
                                           {"order", r[2].as<int64_t>()},
                                           {"prover", r[3].as<int64_t>()},
                                           {"market", r[4].as<std::string>()},
                                           {"amount", r[5].as<int64_t>()},
                                           {detail, r[6].as<std::string>()},
                                           {"at_ms", r[7].as<int64_t>()}});
                return seq;
              });
}

}  // namespace proofbook::server
