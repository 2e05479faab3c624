// Read model of orders: one order with its assignments, its verified proofs, the sequencer's /
// prover's / admin's list, and whether a long poll should wait. Each answers as the caller may
// see it (kNotFound, kForbidden). Functions block on PostgreSQL and throw on database errors.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>

#include "matching/status.h"
#include "matching/types.h"
#include "server/db/session.h"

namespace proofbook::server {

// Who asks: their account and role.
struct Reader {
  matching::AccountId account = 0;
  matching::Role role = matching::Role::kSequencer;
};

// GET /v1/orders/{id}: {"order": {...}} for its sequencer, a prover assigned to it, an admin.
Result<boost::json::object> ReadOrder(DbSession& session, Reader reader, int64_t order_id);

// GET /v1/orders/{id}/proofs: the verified proofs (settled assignments), bytes as base64, for
// the order's sequencer or an admin.
Result<boost::json::object> ReadOrderProofs(DbSession& session, Reader reader, int64_t order_id);

// Whether a long poll on the order should wait: it is open and the reader may see it.
bool OrderWorthWaitingFor(DbSession& session, Reader reader, int64_t order_id);

struct OrderFilter {
  int64_t owner = 0;           // only this sequencer's orders (0: any)
  int64_t prover = 0;          // only orders assigned to this prover (0: any)
  std::string status;          // "" any
  std::string market;          // slug; "" any
  int64_t cursor = INT64_MAX;  // ids below this
  int64_t limit = 50;
};

// GET /v1/orders: {"orders": [...], "next_cursor": id|null}, newest first.
boost::json::object ListOrders(DbSession& session, const OrderFilter& filter);

// GET /v1/settlements and /v1/slashings.
enum class History { kSettlements, kSlashings };
struct HistoryFilter {
  int64_t prover = 0;          // only this prover's rows (0: any)
  int64_t owner = 0;           // only rows of this sequencer's orders (0: any)
  int64_t order = 0;           // only this order (0: any)
  int64_t cursor = INT64_MAX;  // seq below this
  int64_t limit = 50;
};
// {"settlements"|"slashings": [...], "next_cursor": seq|null}, newest first.
boost::json::object ListHistory(DbSession& session, History list, const HistoryFilter& filter);

}  // namespace proofbook::server
