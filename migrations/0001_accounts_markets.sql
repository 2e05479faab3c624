-- First schema: accounts, their API keys, and markets.
-- Money is bigint base units; reputation and fees are integer basis points (0..10000).

CREATE TABLE accounts (
  id             bigserial PRIMARY KEY,
  role           text NOT NULL CHECK (role IN ('sequencer', 'prover', 'admin')),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  available      bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
  escrowed       bigint NOT NULL DEFAULT 0 CHECK (escrowed >= 0),
  staked         bigint NOT NULL DEFAULT 0 CHECK (staked >= 0),
  reputation_bps integer NOT NULL DEFAULT 5000 CHECK (reputation_bps BETWEEN 0 AND 10000),
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a key is stored; the key itself is shown once, when it is made.
CREATE TABLE api_keys (
  key_hash   bytea PRIMARY KEY CHECK (length(key_hash) = 32),
  account_id bigint NOT NULL REFERENCES accounts (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_account_idx ON api_keys (account_id);

CREATE TABLE markets (
  id                 text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  proof_system       text NOT NULL,
  verifier           text NOT NULL,
  min_stake          bigint NOT NULL CHECK (min_stake >= 0),
  slash_bps          integer NOT NULL CHECK (slash_bps BETWEEN 0 AND 10000),
  compensation_bps   integer NOT NULL CHECK (compensation_bps BETWEEN 0 AND 10000),
  fee_bps            integer NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
  min_prover_time_ms integer NOT NULL CHECK (min_prover_time_ms >= 0),
  grace_bps          integer NOT NULL CHECK (grace_bps BETWEEN 0 AND 100000),
  uncle_reward_bps   integer NOT NULL CHECK (uncle_reward_bps BETWEEN 0 AND 10000),
  max_proof_bytes    integer NOT NULL CHECK (max_proof_bytes > 0),
  created_at         timestamptz NOT NULL DEFAULT now()
);
