// The admin's views of the whole market: accounts with their keys, the prover leaderboard and the
// summary of a time window. Functions block on PostgreSQL and throw on database errors; each
// read is one snapshot.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>

#include "matching/status.h"
#include "server/db/session.h"

namespace proofbook::server {

// GET /v1/admin/accounts: {"accounts": [...], "next_cursor": id|null}, by id ascending from
// `after` (exclusive); role "" is any.
struct AccountListFilter {
  std::string role;
  int64_t after = -1;  // the treasury is 0
  int64_t limit = 50;
};
boost::json::object ListAccounts(DbSession& session, const AccountListFilter& filter);

// GET /v1/admin/accounts/{id}: {"account": {... balances ..., "keys": [{id, created_at_ms,
// revoked_at_ms}]}}; kNotFound if there is none.
Result<boost::json::object> ReadAccountForAdmin(DbSession& session, int64_t id);

// GET /v1/admin/provers: every prover with its live stake, reputation and jailed markets and the
// prover_board's counts (as of "as_of_ms"), sorted by `sort` (a ProverSortKeys name) descending,
// then id. kInvalidArgument for another sort.
inline constexpr const char* kProverSortKeys[] = {"earned",    "reputation", "stake",  "won",
                                                  "delivered", "settled",    "missed", "invalid",
                                                  "declined",  "slashed",    "id"};
Result<boost::json::object> ListProvers(DbSession& session, const std::string& sort, int64_t limit);
// Recomputes the prover_board (concurrently: readers keep the old rows meanwhile).
void RefreshProverBoard(DbSession& session);
// How old the prover_board is, in ms (at the database's clock).
int64_t ProverBoardAgeMs(DbSession& session);

// Each market's book at a glance: open orders (count, highest max_price) and open offers
// (count, lowest price, capacity left), by slug.
boost::json::array ReadBooks(DbSession& session);

// GET /v1/admin/summary: in [from_ms, to_ms): orders placed by status, settlements (count,
// volume), fees, slashes (count, amount), in all and per market; the treasury's balance now.
boost::json::object ReadSummary(DbSession& session, int64_t from_ms, int64_t to_ms);

}  // namespace proofbook::server
