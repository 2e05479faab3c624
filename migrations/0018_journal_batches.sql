-- The event log as one row per journal batch (issue #18; loadtest/REPORT.md "Per-order cost").
-- Every order cost three engine_events rows (accepted, transfer, rested): three heap tuples,
-- three primary-key entries and 48 array-literal values for PostgreSQL to parse, the larger
-- part of the journal's backend CPU per order, for rows that nothing on the hot path reads.
-- A batch's events now go in as one bytea (server/journal/event_log.h has the format), and the
-- view engine_events decodes them, so every query of events reads as before. Rows written
-- before this migration stay, in engine_events_archive.
ALTER TABLE engine_events RENAME TO engine_events_archive;
-- The seqs of settlements, slashings and deposit references name events of either table now.
ALTER TABLE settlements DROP CONSTRAINT settlements_seq_fkey;
ALTER TABLE slashings DROP CONSTRAINT slashings_seq_fkey;
ALTER TABLE deposit_references DROP CONSTRAINT deposit_references_seq_fkey;

CREATE TABLE journal_batches (
  first_seq  bigint PRIMARY KEY CHECK (first_seq > 0),
  last_seq   bigint NOT NULL CHECK (last_seq >= first_seq),
  last_at_ms bigint NOT NULL,  -- the time of the batch's last event
  events     bytea NOT NULL
);
-- Stored out of line uncompressed: pglz would cost the backend more CPU than the disk it saves.
ALTER TABLE journal_batches ALTER COLUMN events SET STORAGE EXTERNAL;

-- Big-endian integers out of a bytea, 1-based offsets as substring() takes them.
CREATE FUNCTION journal_int8(b bytea, pos integer) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN ('x' || encode(substring(b FROM pos FOR 8), 'hex'))::bit(64)::bigint;
CREATE FUNCTION journal_int4(b bytea, pos integer) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN ('x' || encode(substring(b FROM pos FOR 4), 'hex'))::bit(32)::integer;
-- A string of the batch's string table: NULL when its length is 0.
CREATE FUNCTION journal_text(b bytea, pos integer) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN CASE WHEN journal_int4(b, pos + 4) = 0 THEN NULL
              ELSE convert_from(substring(b FROM journal_int4(b, pos) + 1
                                            FOR journal_int4(b, pos + 4)), 'UTF8') END;

-- The events of one batch, as engine_events rows. Layout: 'PBE1', count (int4), then count
-- records of 120 bytes (ref, at_ms, market, account, to_account, order, offer, assignment,
-- amount, value, tree: int8; kind, command, reason, field: int4 offset + int4 length into the
-- string table that follows the records), 0 standing for NULL ids.
CREATE FUNCTION journal_batch_events(first_seq bigint, b bytea)
  RETURNS TABLE (seq bigint, ref bigint, at_ms bigint, kind event_kind, command command_kind,
                 reason engine_reason, field text, market integer, account bigint,
                 to_account bigint, order_id bigint, offer_id bigint, assignment_id bigint,
                 amount bigint, value bigint, tree_id bigint)
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
  SELECT first_seq + i, journal_int8(b, p), journal_int8(b, p + 8),
         journal_text(b, p + 88)::event_kind, journal_text(b, p + 96)::command_kind,
         journal_text(b, p + 104)::engine_reason, journal_text(b, p + 112),
         journal_int8(b, p + 16)::integer, journal_int8(b, p + 24), journal_int8(b, p + 32),
         NULLIF(journal_int8(b, p + 40), 0), NULLIF(journal_int8(b, p + 48), 0),
         NULLIF(journal_int8(b, p + 56), 0), journal_int8(b, p + 64), journal_int8(b, p + 72),
         NULLIF(journal_int8(b, p + 80), 0)
    FROM generate_series(0, journal_int4(b, 5) - 1) AS i,
         LATERAL (SELECT 9 + 120 * i AS p) AS r
   WHERE substring(b FROM 1 FOR 4) = '\x50424531'::bytea;
END;

CREATE VIEW engine_events AS
  SELECT seq, ref, at_ms, kind, command, reason, field, market, account, to_account, order_id,
         offer_id, assignment_id, amount, value, tree_id
    FROM engine_events_archive
  UNION ALL
  SELECT e.* FROM journal_batches j, LATERAL journal_batch_events(j.first_seq, j.events) e;

-- GET /v1/orders/{id}/draws reads an order's VRF candidate lists by order: they get rows of
-- their own (only vrf orders write them), as the view has no index.
CREATE TABLE vrf_candidates (
  seq        bigint PRIMARY KEY,
  order_id   bigint NOT NULL,
  first_attempt bigint NOT NULL,  -- the round: its first attempt (the event's amount)
  offer_id   bigint NOT NULL,
  prover_id  bigint NOT NULL,
  weight     bigint NOT NULL
);
CREATE INDEX vrf_candidates_order_idx ON vrf_candidates (order_id, seq);
INSERT INTO vrf_candidates
  SELECT seq, order_id, amount, offer_id, account, value FROM engine_events_archive
   WHERE kind = 'vrf_candidate';
