#include "server/db/admin_reports.h"

#include <algorithm>
#include <iterator>
#include <map>

#include "server/db/pq.h"
#include "server/db/rows.h"

namespace proofbook::server {

namespace json = boost::json;

namespace {

json::value MaybeInt(const pqxx::field& f) {
  if (f.is_null()) return nullptr;
  return f.as<int64_t>();
}

json::object AccountRow(const pqxx::row& r) {
  return json::object{{"id", r["id"].as<int64_t>()},
                      {"role", r["role"].as<std::string>()},
                      {"name", r["name"].as<std::string>()},
                      {"available", r["available"].as<int64_t>()},
                      {"escrowed", r["escrowed"].as<int64_t>()},
                      {"staked", r["staked"].as<int64_t>()},
                      {"reputation_bps", r["reputation_bps"].as<int>()},
                      {"created_at_ms", r["created_at_ms"].as<int64_t>()},
                      {"keys", r["keys"].as<int64_t>()}};
}

// One literal per query (a macro for the shared select list): GCC 12 at -O2 warns falsely
// (-Warray-bounds) on std::string + chains of literals.
#define PROOFBOOK_ACCOUNT_SELECT                                                          \
  "SELECT a.id, a.role, a.name, a.available, a.escrowed, a.staked, a.reputation_bps, "    \
  "(extract(epoch FROM a.created_at) * 1000)::bigint AS created_at_ms, "                  \
  "(SELECT count(*) FROM api_keys k WHERE k.account_id = a.id AND k.revoked_at IS NULL) " \
  "AS keys FROM accounts a "

}  // namespace

json::object ListAccounts(DbSession& session, const AccountListFilter& f) {
  ReadSnapshot tx(Pq(session));
  auto rows = tx.exec_params(PROOFBOOK_ACCOUNT_SELECT
                             "WHERE a.id > $1 AND ($2 = '' OR a.role = $2) ORDER BY a.id LIMIT $3",
                             f.after, f.role, f.limit + 1);
  json::array items;
  for (std::size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < f.limit; ++i) {
    items.push_back(AccountRow(rows[i]));
  }
  json::object out{{"accounts", std::move(items)}};
  out["next_cursor"] = static_cast<int64_t>(rows.size()) > f.limit
                           ? json::value(rows[static_cast<int>(f.limit) - 1]["id"].as<int64_t>())
                           : json::value(nullptr);
  return out;
}

Result<json::object> ReadAccountForAdmin(DbSession& session, int64_t id) {
  ReadSnapshot tx(Pq(session));
  auto rows = tx.exec_params(PROOFBOOK_ACCOUNT_SELECT "WHERE a.id = $1", id);
  if (rows.empty()) return Status(StatusCode::kNotFound, "no account " + std::to_string(id), "id");
  json::object account = AccountRow(rows[0]);
  json::array keys;
  for (const auto& k : tx.exec_params(
           "SELECT id, created_at_ms, revoked_at_ms FROM api_key_rows WHERE account_id = $1 "
           "ORDER BY id",
           id)) {
    keys.push_back(json::object{{"id", k[0].as<int64_t>()},
                                {"created_at_ms", k[1].as<int64_t>()},
                                {"revoked_at_ms", MaybeInt(k[2])}});
  }
  account["keys"] = std::move(keys);
  return json::object{{"account", std::move(account)}};
}

Result<json::object> ListProvers(DbSession& session, const std::string& sort, int64_t limit) {
  if (std::find_if(std::begin(kProverSortKeys), std::end(kProverSortKeys),
                   [&](const char* k) { return sort == k; }) == std::end(kProverSortKeys)) {
    return Status(StatusCode::kInvalidArgument,
                  "sort must be one of earned, reputation, stake, won, delivered, settled, "
                  "missed, invalid, declined, slashed, id",
                  "sort");
  }
  // The sort key is one of the names above, each a column of the select list.
  const std::string order = sort == "id" ? "id" : sort + " DESC, id";
  ReadSnapshot tx(Pq(session));
  auto rows = tx.exec_params(
      "SELECT a.id, a.name, a.staked AS stake, a.reputation_bps AS reputation, "
      "ARRAY(SELECT m.id FROM markets m WHERE m.min_stake > a.staked ORDER BY m.id) AS jailed_in, "
      "coalesce(b.won, 0) AS won, coalesce(b.delivered, 0) AS delivered, "
      "coalesce(b.settled, 0) AS settled, coalesce(b.missed, 0) AS missed, "
      "coalesce(b.invalid, 0) AS invalid, coalesce(b.declined, 0) AS declined, "
      "coalesce(b.slashed, 0) AS slashed, coalesce(b.earned, 0) AS earned, b.median_ms, b.p95_ms "
      "FROM accounts a LEFT JOIN prover_board b ON b.prover = a.id WHERE a.role = 'prover' "
      "ORDER BY " +
          order + " LIMIT $1",
      limit);
  json::array provers;
  for (const auto& r : rows) {
    json::array jailed_in;
    auto parser = r["jailed_in"].as_array();
    for (auto [kind, text] = parser.get_next(); kind != pqxx::array_parser::done;
         std::tie(kind, text) = parser.get_next()) {
      if (kind == pqxx::array_parser::string_value) jailed_in.push_back(json::string(text));
    }
    const bool jailed = !jailed_in.empty();
    provers.push_back(json::object{{"id", r["id"].as<int64_t>()},
                                   {"name", r["name"].as<std::string>()},
                                   {"stake", r["stake"].as<int64_t>()},
                                   {"reputation_bps", r["reputation"].as<int>()},
                                   {"jailed", jailed},
                                   {"jailed_in", std::move(jailed_in)},
                                   {"won", r["won"].as<int64_t>()},
                                   {"delivered", r["delivered"].as<int64_t>()},
                                   {"settled", r["settled"].as<int64_t>()},
                                   {"missed", r["missed"].as<int64_t>()},
                                   {"invalid", r["invalid"].as<int64_t>()},
                                   {"declined", r["declined"].as<int64_t>()},
                                   {"slashed", r["slashed"].as<int64_t>()},
                                   {"earned", r["earned"].as<int64_t>()},
                                   {"delivery_median_ms", MaybeInt(r["median_ms"])},
                                   {"delivery_p95_ms", MaybeInt(r["p95_ms"])}});
  }
  auto as_of = tx.exec("SELECT at_ms FROM report_refreshes WHERE name = 'prover_board'");
  return json::object{{"provers", std::move(provers)},
                      {"sort", sort},
                      {"as_of_ms", as_of.empty() ? json::value(nullptr) : MaybeInt(as_of[0][0])}};
}

void RefreshProverBoard(DbSession& session) {
  pqxx::work tx(Pq(session));
  tx.exec("REFRESH MATERIALIZED VIEW CONCURRENTLY prover_board");
  tx.exec(
      "UPDATE report_refreshes SET at_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint "
      "WHERE name = 'prover_board'");
  tx.commit();
}

int64_t ProverBoardAgeMs(DbSession& session) {
  ReadSnapshot tx(Pq(session));
  auto r = tx.exec(
      "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint - at_ms FROM "
      "report_refreshes WHERE name = 'prover_board'");
  return r.empty() ? INT64_MAX : r[0][0].as<int64_t>();
}

json::array ReadBooks(DbSession& session) {
  ReadSnapshot tx(Pq(session));
  json::array books;
  for (const auto& r : tx.exec(
           "SELECT m.id, coalesce(o.n, 0), o.best, coalesce(f.n, 0), f.best, coalesce(f.cap, 0) "
           "FROM markets m "
           "LEFT JOIN (SELECT market_idx, count(*) n, max(max_price) best FROM orders "
           "WHERE status = 'open' GROUP BY 1) o ON o.market_idx = m.idx "
           "LEFT JOIN (SELECT market_idx, count(*) n, min(price) best, sum(capacity_left) cap "
           "FROM offers WHERE status = 'open' GROUP BY 1) f ON f.market_idx = m.idx "
           "ORDER BY m.id")) {
    books.push_back(json::object{{"market", r[0].as<std::string>()},
                                 {"open_orders", r[1].as<int64_t>()},
                                 {"best_bid", MaybeInt(r[2])},
                                 {"open_offers", r[3].as<int64_t>()},
                                 {"best_ask", MaybeInt(r[4])},
                                 {"capacity", r[5].as<int64_t>()}});
  }
  return books;
}

json::object ReadSummary(DbSession& session, int64_t from_ms, int64_t to_ms) {
  ReadSnapshot tx(Pq(session));
  struct Market {
    std::map<std::string, int64_t> orders;
    int64_t settlements = 0, volume = 0, fees = 0, slashes = 0, slashed = 0;
  };
  std::map<std::string, Market> markets;  // by slug
  // Each table's time window as its key range (FirstKeyAt): index ranges, not scans. A row's
  // market is looked up by its order's key (a scalar subquery, one index probe a row): a join
  // lets the planner hash the whole orders table instead.
  auto range = [&](const char* table, const char* key, const char* time) {
    return std::string(key) + " >= " + std::to_string(FirstKeyAt(tx, table, key, time, from_ms)) +
           " AND " + key + " < " + std::to_string(FirstKeyAt(tx, table, key, time, to_ms));
  };
  for (const auto& r :
       tx.exec("SELECT m.id, o.status, count(*) FROM orders o JOIN markets m ON m.idx = "
               "o.market_idx WHERE " +
               range("orders o", "o.id", "o.placed_at_ms") + " GROUP BY 1, 2")) {
    markets[r[0].as<std::string>()].orders[r[1].as<std::string>()] = r[2].as<int64_t>();
  }
  for (const auto& r : tx.exec("SELECT m.id, count(*), sum(s.amount) FROM (SELECT s.amount, "
                               "(SELECT market_idx FROM orders WHERE id = s.order_id) AS mi "
                               "FROM settlements s WHERE " +
                               range("settlements s", "s.id", "s.at_ms") +
                               ") s JOIN markets m ON m.idx = s.mi GROUP BY 1")) {
    Market& m = markets[r[0].as<std::string>()];
    m.settlements = r[1].as<int64_t>();
    m.volume = r[2].as<int64_t>();
  }
  for (const auto& r : tx.exec("SELECT m.id, sum(l.amount) FROM (SELECT l.amount, "
                               "(SELECT market_idx FROM orders WHERE id = l.order_id) AS mi "
                               "FROM ledger_entries l WHERE l.reason = 'fee' AND " +
                               range("ledger_entries l", "l.seq", "l.at_ms") +
                               ") l JOIN markets m ON m.idx = l.mi GROUP BY 1")) {
    markets[r[0].as<std::string>()].fees = r[1].as<int64_t>();
  }
  for (const auto& r : tx.exec("SELECT m.id, count(*), sum(s.amount) FROM slashings s "
                               "JOIN markets m ON m.idx = s.market_idx WHERE " +
                               range("slashings s", "s.id", "s.at_ms") + " GROUP BY 1")) {
    Market& m = markets[r[0].as<std::string>()];
    m.slashes = r[1].as<int64_t>();
    m.slashed = r[2].as<int64_t>();
  }
  Market total;
  json::array per_market;
  auto render = [](const Market& m) {
    json::object orders;
    for (const auto& [status, n] : m.orders) orders[status] = n;
    return json::object{{"orders", std::move(orders)}, {"settlements", m.settlements},
                        {"volume", m.volume},          {"fees", m.fees},
                        {"slashes", m.slashes},        {"slashed", m.slashed}};
  };
  for (const auto& [slug, m] : markets) {
    json::object row = render(m);
    row["market"] = slug;
    per_market.push_back(std::move(row));
    for (const auto& [status, n] : m.orders) total.orders[status] += n;
    total.settlements += m.settlements;
    total.volume += m.volume;
    total.fees += m.fees;
    total.slashes += m.slashes;
    total.slashed += m.slashed;
  }
  auto treasury = tx.exec("SELECT available, escrowed, staked FROM accounts WHERE id = 0");
  json::object out{{"from_ms", from_ms},
                   {"to_ms", to_ms},
                   {"total", render(total)},
                   {"markets", std::move(per_market)}};
  out["treasury"] = json::object{{"available", treasury[0][0].as<int64_t>()},
                                 {"escrowed", treasury[0][1].as<int64_t>()},
                                 {"staked", treasury[0][2].as<int64_t>()}};
  return out;
}

}  // namespace proofbook::server
