// A tool for measuring the admin listings on a realistic volume (`proofbook-server seed-history`):
// fills a database with the history a busy market would have left, as the journal would have
// written it: markets, sequencers and provers with deposits and stakes, completed orders each
// with a settled assignment, a quarter of them with a slashed assignment before it (an invalid
// proof or a missed deadline), and every transfer in the ledger (escrow, slash compensation and
// treasury share, payment, fee, refund). Balances, engine_state (ids, last_seq, external_net)
// and the ledger invariant hold afterwards, so a server recovers from it and runs on.
//
// Not for production databases: it refuses a database whose journal has orders already, and the
// server must not be running (it writes engine_state behind the journal's back).
#pragma once

#include <cstdint>

#include "matching/status.h"
#include "server/db/session.h"

namespace proofbook::server {

struct SeedOptions {
  int64_t orders = 1'112'000;  // as many settlements, and 5 million ledger entries
  int provers = 50;
  int sequencers = 20;
  int markets = 4;
  int64_t span_ms = 30LL * 24 * 3600 * 1000;  // history ends now and began this long ago
};

struct SeedReport {
  int64_t orders = 0, settlements = 0, slashings = 0, ledger_entries = 0;
};

// Writes the history in one transaction; an error leaves the database as it was.
Result<SeedReport> SeedHistory(DbSession& session, const SeedOptions& options);

}  // namespace proofbook::server
