-- One writer per database, fenced (issue #11). A server holds the write lease while its lease
-- connection holds a session advisory lock (server/writer_lease.cc); at each take-over, and at
-- each rebuild after a failed commit, it bumps writer_epoch and remembers last_seq at that
-- moment. The journal commits a batch only while writer_epoch is still the one its engine was
-- built under (read under the row lock on engine_state), so a stale writer can never commit,
-- and "this batch was already committed" is decided within the writer's own epoch, never from
-- sequence numbers alone.
ALTER TABLE engine_state
  ADD COLUMN writer_epoch     bigint NOT NULL DEFAULT 0 CHECK (writer_epoch >= 0),
  -- last_seq when writer_epoch began: seqs above it, up to last_seq, are that epoch's own.
  ADD COLUMN writer_epoch_seq bigint NOT NULL DEFAULT 0 CHECK (writer_epoch_seq >= 0);

-- Idempotency keys are checked against the request they first came with: a replay of a
-- client_order_id with other parameters is refused (409 idempotency_key_reused). SHA-256 of the
-- order's parameters as the API received them (server/api_orders.cc); NULL for orders placed
-- before this migration, whose replays are answered as before.
ALTER TABLE orders
  ADD COLUMN request_sha256 bytea CHECK (length(request_sha256) = 32);
