-- Verifiable random selection (issue #16): each market's ECVRF keys (RFC 9381,
-- ECVRF-EDWARDS25519-SHA512-TAI), admin-set epoch beacons, and every draw a vrf order's matching
-- consumed, so anyone can re-derive it (GET /v1/orders/{id}/draws, `proofbook draw verify`).

-- The engine now asks for one ECVRF output per draw (matching/draw_source.h) instead of taking
-- one 32-byte output with the order; vrf_draws stays: the next draw's attempt number.
ALTER TABLE orders DROP COLUMN has_vrf_output, DROP COLUMN vrf_output;

-- Stake-based turns: draw among every eligible prover, by stake alone (matching/types.h).
ALTER TABLE markets ADD COLUMN vrf_turns boolean NOT NULL DEFAULT false;

-- A market's keys, newest last; the one with retired_at NULL draws. Rotation retires the old
-- key (kept, so old draws stay checkable) and adds a new one in one transaction. The secret is
-- the RFC 8032 seed sealed with XChaCha20-Poly1305 under the server's master key (never stored
-- in the clear); the associated data binds it to its market and public key.
CREATE TABLE vrf_keys (
  id            bigserial PRIMARY KEY,
  market_idx    integer NOT NULL REFERENCES markets (idx),
  public_key    bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
  sealed_secret bytea NOT NULL CHECK (length(sealed_secret) = 48),  -- 32 + 16-byte tag
  nonce         bytea NOT NULL CHECK (length(nonce) = 24),
  created_at    timestamptz NOT NULL DEFAULT now(),
  retired_at    timestamptz
);
CREATE UNIQUE INDEX vrf_keys_active_idx ON vrf_keys (market_idx) WHERE retired_at IS NULL;

-- Beacons: outside randomness an admin fixes for an epoch before it starts (an epoch is an
-- hour of the engine's clock, numbered from the Unix epoch). The epoch seed is
-- SHA-256("proofbook/vrf/epoch/v1" || epoch || beacon), beacon empty when none was set
-- (vrf/draw_protocol.h).
CREATE TABLE vrf_beacons (
  epoch  bigint PRIMARY KEY CHECK (epoch >= 0),
  value  bytea NOT NULL CHECK (length(value) BETWEEN 1 AND 256),
  set_at timestamptz NOT NULL DEFAULT now()
);

-- One row per draw, written by the journal in the transaction of the events that used it
-- (kVrfCandidate with amount = the round's first attempt, then kAssigned / kReassigned).
CREATE TABLE vrf_draws (
  order_id   bigint NOT NULL,
  attempt    integer NOT NULL CHECK (attempt >= 0),
  market_idx integer NOT NULL,
  key_id     bigint NOT NULL REFERENCES vrf_keys (id),
  epoch      bigint NOT NULL,
  alpha      bytea NOT NULL,
  pi         bytea NOT NULL CHECK (length(pi) = 80),
  beta       bytea NOT NULL CHECK (length(beta) = 64),
  PRIMARY KEY (order_id, attempt)
);

-- GET /v1/orders/{id}/draws reads an order's candidate lists; only vrf orders pay for the index.
CREATE INDEX engine_events_vrf_candidate_idx ON engine_events (order_id, seq)
  WHERE kind = 'vrf_candidate';
