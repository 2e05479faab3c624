#include "server/db/ledger.h"

#include <chrono>

#include "server/base/log.h"
#include "server/db/pq.h"

namespace proofbook::server {

namespace json = boost::json;

LedgerCheck CheckLedger(DbSession& session) {
  const auto start = std::chrono::steady_clock::now();
  ReadSnapshot tx(Pq(session));
  // Sums are numeric: a sum of bigints may pass 2^63 even when every balance fits.
  auto totals = tx.exec(
      "SELECT (SELECT count(*) FROM accounts), count(*), "
      "coalesce(sum(amount::numeric) FILTER (WHERE from_bucket = 'external'), 0)::text, "
      "coalesce(sum(amount::numeric) FILTER (WHERE to_bucket = 'external'), 0)::text, "
      "(SELECT coalesce(sum(available::numeric + escrowed + staked), 0) FROM accounts)::text, "
      "ledger_imbalance()::text "
      "FROM ledger_entries");
  json::array listed;
  int64_t differences = 0;
  for (const auto& r : tx.exec_params("SELECT account, bucket, balance, entries::text, "
                                      "count(*) OVER () FROM ledger_differences() LIMIT $1",
                                      kMaxLedgerDifferences)) {
    listed.push_back(json::object{{"account", r[0].as<int64_t>()},
                                  {"bucket", r[1].as<std::string>()},
                                  {"balance", r[2].as<int64_t>()},
                                  {"entries", r[3].as<std::string>()}});
    differences = r[4].as<int64_t>();
  }
  const auto& t = totals[0];
  const std::string imbalance = t[5].as<std::string>();
  LedgerCheck out;
  out.differences = differences;
  out.ok = differences == 0 && imbalance == "0";
  const int64_t ms = MillisecondsSince(start);
  out.body = json::object{{"ok", out.ok},
                          {"accounts", t[0].as<int64_t>()},
                          {"entries", t[1].as<int64_t>()},
                          {"deposits", t[2].as<std::string>()},
                          {"withdrawals", t[3].as<std::string>()},
                          {"balances", t[4].as<std::string>()},
                          {"imbalance", imbalance},
                          {"differences", std::move(listed)},
                          {"differences_total", differences},
                          {"duration_ms", static_cast<int64_t>(ms)}};
  return out;
}

}  // namespace proofbook::server
