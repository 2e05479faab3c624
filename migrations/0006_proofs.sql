-- Proof delivery (issue #6). A market's verifier may need a verification key (snarkjs-groth16:
-- the snarkjs verification_key.json object); it is given when the market is created.
ALTER TABLE markets ADD COLUMN verification_key jsonb;

-- The bytes a prover delivered for an assignment, stored before the engine hears of the
-- delivery, so a verified proof can always be handed to the sequencer and a delivery whose
-- verification was cut short (restart) can be verified again. One row per assignment: a
-- prover delivers once; a second delivery is refused by the engine.
CREATE TABLE proofs (
  assignment_id bigint PRIMARY KEY REFERENCES assignments (id),
  prover_id     bigint NOT NULL REFERENCES accounts (id),
  order_id      bigint NOT NULL,
  sha256        bytea NOT NULL CHECK (length(sha256) = 32),
  data          bytea NOT NULL,
  received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proofs_order_idx ON proofs (order_id);
