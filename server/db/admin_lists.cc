#include "server/db/admin_lists.h"

#include <vector>

#include "server/db/pq.h"
#include "server/db/rows.h"

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
  const char* table;  // the table alone, with the alias `key` and `time` use
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
      "settlements s",
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
                                   "slashings s",
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
      "ledger_entries l",
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
                                "orders o",
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

// Keys one page may scan for a filter no index serves (market, kind/reason/status, without an
// account or order): at most this many below the cursor, so a sparse filter costs a bounded
// time a page (~10 ms at 5 million ledger rows) instead of a scan of the whole history. Such a
// page may be short, or empty, and still have a next_cursor: the scan goes on from there.
constexpr int64_t kScanWindow = 20'000;

// Where a page looks: keys in [lo, hi), and the market's idx if it filters on one.
struct Scan {
  int64_t lo = 0;
  int64_t hi = INT64_MAX;
  int64_t market = -1;  // -1: any
};

// The page's query. Values are literals: integers printed, strings quoted by libpq, so one
// statement text carries exactly the filters given and the planner sees the real values.
std::string PageSql(pqxx::transaction_base& tx, const ListSpec& spec, const AdminFilter& f,
                    const Scan& scan) {
  std::string select = "SELECT ";
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    select += (i ? ", " : "") + std::string(spec.columns[i].sql) + " AS c" + std::to_string(i);
  }
  std::string where =
      " FROM " + std::string(spec.from) + " WHERE " + spec.key + " < " + std::to_string(scan.hi);
  auto add = [&where](const char* lhs, const std::string& rhs) {
    where += std::string(" AND ") + lhs + rhs;
  };
  if (scan.lo > 0) add(spec.key, " >= " + std::to_string(scan.lo));
  if (scan.market >= 0) add(spec.market, " = " + std::to_string(scan.market));
  if (f.order != 0) add(spec.order, " = " + std::to_string(f.order));
  if (!f.detail.empty()) add(spec.detail, " = " + tx.quote(f.detail));
  // The key range already holds the time window; the times are checked exactly all the same.
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

// A page's rows (up to limit + 1 of them; `shown` are the page) and where the next page starts.
struct Fetched {
  pqxx::result rows;
  std::size_t shown = 0;
  std::optional<int64_t> next;
};

Fetched Fetch(DbSession& session, AdminList list, const AdminFilter& f) {
  const ListSpec& spec = Spec(list);
  ReadSnapshot tx(Pq(session));
  Fetched out;
  Scan scan;
  scan.hi = f.before;
  if (!f.market.empty()) {
    auto m = tx.exec("SELECT idx FROM markets WHERE id = " + tx.quote(f.market));
    if (m.empty()) return out;  // no such market: no rows
    scan.market = m[0][0].as<int64_t>();
  }
  // A time window becomes a key range: an index range on every path.
  if (f.from_ms > 0) scan.lo = FirstKeyAt(tx, spec.table, spec.key, spec.time, f.from_ms);
  if (f.to_ms < INT64_MAX)
    scan.hi = std::min(scan.hi, FirstKeyAt(tx, spec.table, spec.key, spec.time, f.to_ms));
  const int64_t floor = scan.lo;
  const bool sparse = (scan.market >= 0 || !f.detail.empty()) && f.account == 0 && f.order == 0;
  int64_t oldest = 0;
  if (sparse) {
    auto keys = tx.exec(std::string("SELECT coalesce(min(") + spec.key + "), 0), coalesce(max(" +
                        spec.key + "), 0) + 1 FROM " + spec.table);
    oldest = keys[0][0].as<int64_t>();
    scan.hi = std::min(scan.hi, keys[0][1].as<int64_t>());
    scan.lo = std::max(scan.lo, scan.hi - kScanWindow);
  }
  out.rows = tx.exec(PageSql(tx, spec, f, scan));
  out.shown = std::min<std::size_t>(out.rows.size(), static_cast<std::size_t>(f.limit));
  if (out.rows.size() > out.shown) {
    out.next = out.rows[static_cast<int>(out.shown) - 1][0].as<int64_t>();
  } else if (sparse && scan.lo > std::max(floor, oldest)) {
    out.next = scan.lo;  // the window ended before the range did
  }
  return out;
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
  Fetched fetched = Fetch(session, list, filter);
  const pqxx::result& rows = fetched.rows;
  AdminPage page;
  for (std::size_t i = 0; i < fetched.shown; ++i) {
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
  page.next = fetched.next;
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
  Fetched fetched = Fetch(session, list, filter);
  const pqxx::result& rows = fetched.rows;
  for (std::size_t i = 0; i < fetched.shown; ++i) {
    for (pqxx::row::size_type c = 0; c < rows[i].size(); ++c) {
      if (c) out += ',';
      const pqxx::field field = rows[i][c];
      if (!field.is_null()) AppendCsvField(out, std::string_view(field.c_str(), field.size()));
    }
    out += "\r\n";
  }
  return fetched.next;
}

}  // namespace proofbook::server
