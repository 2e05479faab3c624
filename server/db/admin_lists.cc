#include "server/db/admin_lists.h"

#include <vector>

#include "server/db/pq.h"

namespace proofbook::server {

namespace json = boost::json;

namespace {

// One output column: its JSON/CSV name, the SQL that yields it, and whether it is a number.
struct Column {
  const char* name;
  const char* sql;
  bool number;
};

// How one list is read. The first column is the key: unique, larger is newer. Filters are SQL
// conditions with the value appended; `account` may need two conditions (the ledger's two
// sides), then the query is a UNION ALL of one index scan per side.
struct ListSpec {
  std::string_view name;
  const char* from;
  const char* key;
  const char* time;
  std::vector<const char*> account;  // "col = " alternatives, each on its own index
  const char* market;                // a market idx column
  const char* order;
  const char* detail;  // compared as text: an unknown value matches nothing, not an error
  std::vector<Column> columns;
};

const ListSpec& Spec(AdminList list) {
  // Settlements and slashings are keyed by their identity id, not seq: both grow together (the
  // journal inserts in seq order), and (prover_id, id) and (order_id, id) are the indexes there.
  static const ListSpec kSettlements{
      "settlements",
      "settlements s JOIN orders o ON o.id = s.order_id JOIN markets m ON m.idx = o.market_idx",
      "s.id",
      "s.at_ms",
      {"s.prover_id = "},
      "o.market_idx",
      "s.order_id",
      "s.kind::text",
      {{"id", "s.id", true},
       {"seq", "s.seq", true},
       {"at_ms", "s.at_ms", true},
       {"order", "s.order_id", true},
       {"assignment", "s.assignment_id", true},
       {"prover", "s.prover_id", true},
       {"market", "m.id", false},
       {"amount", "s.amount", true},
       {"kind", "s.kind::text", false}}};
  static const ListSpec kSlashings{"slashings",
                                   "slashings s JOIN markets m ON m.idx = s.market_idx",
                                   "s.id",
                                   "s.at_ms",
                                   {"s.prover_id = "},
                                   "s.market_idx",
                                   "s.order_id",
                                   "s.reason::text",
                                   {{"id", "s.id", true},
                                    {"seq", "s.seq", true},
                                    {"at_ms", "s.at_ms", true},
                                    {"order", "s.order_id", true},
                                    {"assignment", "s.assignment_id", true},
                                    {"prover", "s.prover_id", true},
                                    {"market", "m.id", false},
                                    {"amount", "s.amount", true},
                                    {"reason", "s.reason::text", false}}};
  static const ListSpec kLedger{
      "ledger",
      "ledger_entries l LEFT JOIN orders o ON o.id = l.order_id "
      "LEFT JOIN markets m ON m.idx = o.market_idx",
      "l.seq",
      "l.at_ms",
      {"l.from_account = ", "l.from_account <> l.to_account AND l.to_account = "},
      "o.market_idx",
      "l.order_id",
      "l.reason::text",
      {{"seq", "l.seq", true},
       {"at_ms", "l.at_ms", true},
       {"from_account", "l.from_account", true},
       {"from_bucket", "l.from_bucket::text", false},
       {"to_account", "l.to_account", true},
       {"to_bucket", "l.to_bucket::text", false},
       {"amount", "l.amount", true},
       {"reason", "l.reason::text", false},
       {"order", "l.order_id", true},
       {"assignment", "l.assignment_id", true},
       {"market", "m.id", false}}};
  static const ListSpec kOrders{"orders",
                                "orders o JOIN markets m ON m.idx = o.market_idx",
                                "o.id",
                                "o.placed_at_ms",
                                {"o.account_id = "},
                                "o.market_idx",
                                "o.id",
                                "o.status",
                                {{"id", "o.id", true},
                                 {"placed_at_ms", "o.placed_at_ms", true},
                                 {"account", "o.account_id", true},
                                 {"market", "m.id", false},
                                 {"status", "o.status", false},
                                 {"failure", "o.failure", false},
                                 {"max_price", "o.max_price", true},
                                 {"deadline_ms", "o.deadline_ms", true},
                                 {"priority", "o.priority", false},
                                 {"selection", "o.selection", false},
                                 {"redundancy", "o.redundancy", true},
                                 {"verified", "o.verified", true},
                                 {"escrow_left", "o.escrow_left", true},
                                 {"client_order_id", "o.client_order_id", false}}};
  switch (list) {
    case AdminList::kSettlements:
      return kSettlements;
    case AdminList::kSlashings:
      return kSlashings;
    case AdminList::kLedger:
      return kLedger;
    case AdminList::kOrders:
      break;
  }
  return kOrders;
}

// The page's query. Values are literals: integers printed, strings quoted by libpq, so one
// statement text carries exactly the filters given and the planner sees the real values.
std::string PageSql(pqxx::transaction_base& tx, const ListSpec& spec, const AdminFilter& f) {
  std::string select = "SELECT ";
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    select += (i ? ", " : "") + std::string(spec.columns[i].sql) + " AS c" + std::to_string(i);
  }
  std::string where =
      " FROM " + std::string(spec.from) + " WHERE " + spec.key + " < " + std::to_string(f.before);
  auto add = [&where](const char* lhs, const std::string& rhs) {
    where += std::string(" AND ") + lhs + rhs;
  };
  if (!f.market.empty()) {
    add(spec.market, " = (SELECT idx FROM markets WHERE id = " + tx.quote(f.market) + ")");
  }
  if (f.order != 0) add(spec.order, " = " + std::to_string(f.order));
  if (!f.detail.empty()) add(spec.detail, " = " + tx.quote(f.detail));
  if (f.from_ms > 0) add(spec.time, " >= " + std::to_string(f.from_ms));
  if (f.to_ms < INT64_MAX) add(spec.time, " < " + std::to_string(f.to_ms));
  const std::string tail =
      std::string(" ORDER BY ") + spec.key + " DESC LIMIT " + std::to_string(f.limit + 1);
  if (f.account == 0) return select + where + tail;
  // One branch per side, each ordered on its own index; the outer query merges them.
  std::string branches;
  for (const char* side : spec.account) {
    if (!branches.empty()) branches += " UNION ALL ";
    branches += "(" + select + where + " AND " + side + std::to_string(f.account) +
                " ORDER BY c0 DESC LIMIT " + std::to_string(f.limit + 1) + ")";
  }
  if (spec.account.size() == 1) return branches;
  return "SELECT * FROM (" + branches + ") u ORDER BY c0 DESC LIMIT " + std::to_string(f.limit + 1);
}

pqxx::result Fetch(DbSession& session, AdminList list, const AdminFilter& filter) {
  ReadSnapshot tx(Pq(session));
  return tx.exec(PageSql(tx, Spec(list), filter));
}

// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
void AppendCsvField(std::string& out, std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace

std::string_view AdminListName(AdminList list) { return Spec(list).name; }

AdminPage ListAdmin(DbSession& session, AdminList list, const AdminFilter& filter) {
  const ListSpec& spec = Spec(list);
  pqxx::result rows = Fetch(session, list, filter);
  AdminPage page;
  const auto shown = std::min<std::size_t>(rows.size(), static_cast<std::size_t>(filter.limit));
  for (std::size_t i = 0; i < shown; ++i) {
    json::object item;
    for (std::size_t c = 0; c < spec.columns.size(); ++c) {
      const pqxx::field field = rows[i][static_cast<pqxx::row::size_type>(c)];
      json::value& v = item[spec.columns[c].name];
      if (field.is_null()) {
        v = nullptr;
      } else if (spec.columns[c].number) {
        v = field.as<int64_t>();
      } else {
        v = field.c_str();
      }
    }
    page.rows.push_back(std::move(item));
  }
  if (rows.size() > shown) page.next = rows[shown - 1][0].as<int64_t>();
  return page;
}

std::string AdminCsvHeader(AdminList list) {
  std::string out;
  for (const Column& c : Spec(list).columns) {
    if (!out.empty()) out += ',';
    out += c.name;
  }
  return out + "\r\n";
}

std::optional<int64_t> AppendAdminCsv(DbSession& session, AdminList list, const AdminFilter& filter,
                                      std::string& out) {
  pqxx::result rows = Fetch(session, list, filter);
  const auto shown = std::min<std::size_t>(rows.size(), static_cast<std::size_t>(filter.limit));
  for (std::size_t i = 0; i < shown; ++i) {
    for (pqxx::row::size_type c = 0; c < rows[i].size(); ++c) {
      if (c) out += ',';
      const pqxx::field field = rows[i][c];
      if (!field.is_null()) AppendCsvField(out, std::string_view(field.c_str(), field.size()));
    }
    out += "\r\n";
  }
  if (rows.size() <= shown) return std::nullopt;
  return rows[shown - 1][0].as<int64_t>();
}

}  // namespace proofbook::server
