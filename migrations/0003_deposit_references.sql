-- Admin deposits are idempotent by their `reference` (a bridge transfer id, say): the first
-- deposit with a reference is applied, a replay is answered with the same outcome and moves no
-- money. Written by the journal in the same transaction as the deposit's events.
CREATE TABLE deposit_references (
  reference  text PRIMARY KEY CHECK (length(reference) BETWEEN 1 AND 200),
  account_id bigint NOT NULL REFERENCES accounts (id),
  amount     bigint NOT NULL CHECK (amount > 0),
  seq        bigint NOT NULL UNIQUE REFERENCES engine_events (seq)
);
