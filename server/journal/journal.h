// Journal: writes JournalBatches to PostgreSQL (migrations/0002_journal.sql), one transaction
// per batch (group commit). The only code that knows the SQL of the engine's tables.
//
// What a batch writes, atomically: the rows of the accounts (with their first API key) and
// markets its commands created (from the batch's AccountExtra / MarketExtra: those rows exist
// only once the engine's acceptance is committed), every event (one journal_batches row
// per batch, server/journal/event_log.h; the view engine_events decodes it), one
// ledger_entries row per kTransfer, settlements (kSettled, kUncleRewarded), slashings
// (kSlashed), proof trees (new trees; tree_nodes from kTreeNodePlaced / kTreeNodeProven; each
// touched tree's reserve; ended trees), the state images (accounts' balances, orders, offers,
// assignments upserted), closed orders / assignments, offer status from kOfferCancelled /
// kOfferExpired, and engine_state (ids and last_seq). The bulk tables (ledger_entries,
// new orders) go in as one array literal per column (INSERT ... SELECT FROM
// unnest); every other table gets one multi-row statement. A batch costs two round trips whatever
// its size: BEGIN with the lock on engine_state, then every statement and the COMMIT.
//
// Fenced, exactly once: engine_state's last_seq, writer_epoch and writer_epoch_seq are read
// under a row lock first. A batch whose writer_epoch is not the database's is refused
// (kUnavailable, reason write_lease_lost): another server took the write lease
// (server/journal/writer_lease.h). Within its own epoch, a batch wholly in (writer_epoch_seq,
// last_seq] was committed by an earlier attempt whose COMMIT outcome was unknown: WriteBatch
// returns ok and writes nothing. Seqs are never taken as our own across epochs: another writer's
// batch with the same seqs is not this one. A batch that does not start at last_seq + 1 is refused
// (kInternal): events would be lost or doubled.
//
// Thread rules: one Journal per journal thread; WriteBatch blocks on PostgreSQL. It reuses an
// internal buffer, so it is not reentrant. Never throws: pqxx exceptions are caught here and
// become kUnavailable (connection lost, or COMMIT outcome unknown: retry the same batch, on a
// fresh connection) or kInternal (the batch broke a constraint; nothing was committed).
#pragma once

#include <string>
#include <vector>

#include "matching/status.h"
#include "server/db/session.h"
#include "server/journal/event_log.h"
#include "server/journal/journal_batch.h"

namespace proofbook::server {

class Journal {
 public:
  // Returns ok only after COMMIT (or when the batch was already committed).
  Status WriteBatch(DbSession& session, const JournalBatch& batch);

 private:
  // Fills sql_ with the batch's statements and the COMMIT; kInternal if the batch is malformed.
  Status BuildSql(DbSession& session, const JournalBatch& batch);
  static void RollBack(DbSession& session, bool open);

  // Reused between batches.
  std::vector<std::string> ledger_columns_, order_columns_, order_update_columns_,
      draw_columns_;  // array literals
  EventLogWriter event_log_;
  std::string event_blob_;  // the batch's events, encoded
  std::string order_updates_;
  std::string sql_;
};

}  // namespace proofbook::server
