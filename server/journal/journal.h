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
// kOfferExpired, and engine_state (ids and last_seq).
//
// How: one call of the prepared statement `SELECT journal_write($1, ..., $66)`
// (migrations/0019_journal_write.sql), its own transaction. The bulk rows (ledger entries, new
// orders, changed orders, account balances) are its array parameters, one array per column, so
// PostgreSQL neither lexes nor re-plans them; the rarer tables (new accounts, markets and trees,
// tree nodes, draws, offers, assignments, closed records, settlements, slashings, deposit
// references) go as SQL text it runs before and after them. One round trip a batch while the
// row lock on engine_state is free; when it is not, the server waits for it in a transaction of
// its own and sends the call only then (three round trips), so a batch never commits by itself
// after its server died waiting.
//
// Fenced, exactly once: engine_state's last_seq, writer_epoch and writer_epoch_seq are read
// under the row lock first, inside journal_write. A batch whose writer_epoch is not the database's
// is refused (kUnavailable, reason write_lease_lost): another server took the write lease
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

#include <cstdint>
#include <string>
#include <vector>

#include "matching/status.h"
#include "server/db/session.h"
#include "server/journal/event_log.h"
#include "server/journal/journal_batch.h"

namespace proofbook::server {

// The journal's two enum types, whose OIDs the database chose: an array parameter in binary
// form names its element type, and PostgreSQL checks it.
struct JournalEnumOids {
  uint32_t ledger_bucket = 0;
  uint32_t transfer_reason = 0;
};

class Journal {
 public:
  // Returns ok only after COMMIT (or when the batch was already committed).
  Status WriteBatch(DbSession& session, const JournalBatch& batch);

 private:
  // Fills the call's parameters: event_blob_, pre_, post_ and arrays_; kInternal if the batch
  // is malformed.
  Status BuildSql(DbSession& session, const JournalBatch& batch);
  static void RollBack(DbSession& session, bool open);
  Status LookUpTypes(DbSession& session);

  // Reused between batches.
  std::vector<std::string> ledger_columns_, order_columns_, order_update_columns_,
      account_columns_;  // one array's elements a column
  EventLogWriter event_log_;
  std::string event_blob_;           // the batch's events, encoded
  std::string pre_, post_;           // SQL text run before / after the bulk rows
  std::vector<std::string> arrays_;  // the array parameters, in binary form
  JournalEnumOids enums_;            // the enum types' OIDs in the database written to
  int types_backend_ = 0;            // the backend they were read from
};

}  // namespace proofbook::server
