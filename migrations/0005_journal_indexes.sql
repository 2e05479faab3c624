-- Second pass on the journal's per-order cost (loadtest/REPORT.md): every order wrote five
-- index entries that nothing reads yet. They come back with the queries that need them
-- (admin ledger/event history by order).
DROP INDEX engine_events_order_idx;     -- three entries per order (accepted, transfer, rested)
DROP INDEX ledger_entries_order_idx;

-- A ledger row is one transfer event: its seq already identifies it. seq becomes the key and
-- the surrogate id (a second unique index) goes; per-account history pages by seq instead.
DROP INDEX ledger_entries_from_idx;
DROP INDEX ledger_entries_to_idx;
ALTER TABLE ledger_entries DROP COLUMN id;  -- and with it the primary key on id
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_seq_key;
ALTER TABLE ledger_entries ADD PRIMARY KEY (seq);
CREATE INDEX ledger_entries_from_idx ON ledger_entries (from_account, seq);
CREATE INDEX ledger_entries_to_idx ON ledger_entries (to_account, seq);
