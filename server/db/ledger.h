// The ledger check (migrations/0012_ledger_check.sql): every bucket of every account equals the
// sum of its entries, and the sum of all balances equals deposits less withdrawals. One
// snapshot, one pass over the ledger. Blocks on PostgreSQL; throws on database errors.
#pragma once

#include <boost/json.hpp>
#include <cstdint>

#include "server/db/session.h"

namespace proofbook::server {

// At most this many differing buckets are listed (the count is always exact).
inline constexpr int64_t kMaxLedgerDifferences = 100;

struct LedgerCheck {
  bool ok = false;
  int64_t differences = 0;  // buckets whose balance is not the sum of their entries
  // {"ok", "accounts", "entries", "deposits", "withdrawals", "balances", "imbalance",
  //  "differences": [{"account", "bucket", "balance", "entries"}...], "differences_total",
  //  "duration_ms"}: amounts as decimal strings where they could pass 2^63 (sums).
  boost::json::object body;
};

LedgerCheck CheckLedger(DbSession& session);

}  // namespace proofbook::server
