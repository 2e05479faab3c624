// The admin's history listings: every settlement, slashing, ledger entry and order, filtered and
// paged newest first (keyset: a page is "keys below the cursor", so rows journaled while an admin
// pages never shift what is still unread), as JSON pages or as CSV pieces for an export of any
// length. Functions block on PostgreSQL and throw on database errors. Each call is one snapshot.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/db/session.h"

namespace proofbook::server {

enum class AdminList { kSettlements, kSlashings, kLedger, kOrders };

// "settlements", "slashings", "ledger", "orders": the JSON member holding a page's rows.
std::string_view AdminListName(AdminList list);

struct AdminFilter {
  // settlements, slashings: the prover; ledger: either side of the transfer; orders: the
  // sequencer. 0: any.
  int64_t account = 0;
  std::string market;  // slug; "" any
  int64_t order = 0;   // 0: any
  // settlements: kind (settled, uncle); slashings: reason (missed_deadline, invalid_proof);
  // ledger: reason (deposit, escrow, payment, ...); orders: status. "" any; an unknown value
  // matches nothing.
  std::string detail;
  int64_t from_ms = 0;         // time (at_ms; orders: placed_at_ms) at or after this
  int64_t to_ms = INT64_MAX;   // ... and before this
  int64_t before = INT64_MAX;  // keys below this (the cursor)
  int64_t limit = 50;
};

struct AdminPage {
  boost::json::array rows;      // newest first
  std::optional<int64_t> next;  // the cursor of the next page, if there is one
};

AdminPage ListAdmin(DbSession& session, AdminList list, const AdminFilter& filter);

// The CSV header line (with its CRLF) of a list: the same columns as a page's JSON rows.
std::string AdminCsvHeader(AdminList list);

// Appends up to filter.limit rows as CSV lines (RFC 4180, CRLF) to `out`; returns the cursor to
// go on from, or nullopt when these were the last rows.
std::optional<int64_t> AppendAdminCsv(DbSession& session, AdminList list, const AdminFilter& filter,
                                      std::string& out);

}  // namespace proofbook::server
