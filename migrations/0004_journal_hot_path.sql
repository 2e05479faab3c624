-- Every order costs the journal a ledger row and an order row, each of which PostgreSQL
-- re-checked against five foreign keys (index probes on accounts, markets, engine_events) on
-- the single connection that bounds durable throughput (loadtest/REPORT.md). These rows are
-- written only by the journal, from the engine's own ids, in the same transaction as the
-- events and accounts they name, so the checks re-proved what the engine guarantees. They go;
-- integrity stays checked by ledger_imbalance() after every integration test and by the
-- journal's snapshot-equality property test. Less frequent rows (assignments, settlements,
-- slashings) keep theirs.
ALTER TABLE ledger_entries
  DROP CONSTRAINT ledger_entries_seq_fkey,
  DROP CONSTRAINT ledger_entries_from_account_fkey,
  DROP CONSTRAINT ledger_entries_to_account_fkey;
ALTER TABLE orders
  DROP CONSTRAINT orders_account_id_fkey,
  DROP CONSTRAINT orders_market_idx_fkey;
