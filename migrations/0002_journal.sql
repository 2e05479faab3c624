-- The engine's journal: every event it emits (engine_events), the money ledger derived from its
-- transfers, settlements and slashings, and the latest image of every record it holds
-- (accounts' balances, markets' params, orders, offers, assignments, engine_state). Written
-- only by server/journal.cc, one transaction per batch of commands; read back at start-up by
-- server/recovery.cc. Enum columns hold the engine's own names (matching/types.cc, event.cc).

-- ---- Accounts: the engine's treasury is account 0 ------------------------------------------
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
  CHECK (role IN ('sequencer', 'prover', 'admin', 'treasury'));
-- Only the engine's account 0 may be the treasury.
ALTER TABLE accounts ADD CONSTRAINT accounts_treasury_check CHECK ((role = 'treasury') = (id = 0));
INSERT INTO accounts (id, role, name) VALUES (0, 'treasury', 'treasury');

-- ---- Markets: the engine's dense index -----------------------------------------------------
-- The engine allows up to 30 days of min_prover_time_ms, more than an integer holds.
ALTER TABLE markets ALTER COLUMN min_prover_time_ms TYPE bigint;
ALTER TABLE markets ALTER COLUMN max_proof_bytes TYPE bigint;
ALTER TABLE markets ADD COLUMN idx integer CHECK (idx BETWEEN 0 AND 65535);
-- seq of the engine's CreateMarket acceptance; NULL until the journal has seen it.
ALTER TABLE markets ADD COLUMN created_seq bigint;
CREATE SEQUENCE markets_idx_seq AS integer MINVALUE 0 MAXVALUE 65535 START 0 NO CYCLE
  OWNED BY markets.idx;
UPDATE markets m SET idx = n.idx
  FROM (SELECT id, (row_number() OVER (ORDER BY created_at, id) - 1)::integer AS idx
          FROM markets) n
 WHERE m.id = n.id;
SELECT setval('markets_idx_seq', max(idx)) FROM markets HAVING max(idx) IS NOT NULL;
ALTER TABLE markets ALTER COLUMN idx SET DEFAULT nextval('markets_idx_seq');
ALTER TABLE markets ALTER COLUMN idx SET NOT NULL;
ALTER TABLE markets ADD CONSTRAINT markets_idx_key UNIQUE (idx);

-- ---- Events: append-only, seq assigned by the engine thread --------------------------------
CREATE TABLE engine_events (
  seq           bigint PRIMARY KEY CHECK (seq > 0),
  ref           bigint NOT NULL,
  at_ms         bigint NOT NULL,
  kind          text NOT NULL CHECK (kind IN (
                  'accepted', 'rejected', 'transfer', 'vrf_candidate', 'assigned', 'reassigned',
                  'order_rested', 'offer_rested', 'proof_delivered', 'settled', 'uncle_rewarded',
                  'proof_rejected', 'slashed', 'reputation_changed', 'jailed', 'offer_cancelled',
                  'offer_expired', 'order_completed', 'order_expired', 'order_cancelled',
                  'exclusive_ended', 'assignment_lapsed')),
  command       text NOT NULL CHECK (command IN (
                  'create_account', 'deposit', 'withdraw', 'stake', 'unstake', 'create_market',
                  'place_order', 'cancel_order', 'place_offer', 'cancel_offer',
                  'proof_delivered', 'proof_verified', 'proof_rejected', 'tick')),
  reason        text CHECK (reason IN (
                  'invalid_argument', 'unknown_account', 'unknown_market', 'already_exists',
                  'not_found', 'not_owner', 'conflict', 'wrong_role', 'insufficient_balance',
                  'insufficient_stake', 'stake_locked', 'deadline_too_soon', 'deadline_passed',
                  'proof_too_large', 'vrf_unavailable', 'overflow', 'cancelled_by_owner',
                  'jailed', 'missed_deadline', 'invalid_proof')),  -- NULL: none
  field         text,     -- kRejected: the input at fault
  market        integer NOT NULL,
  account       bigint NOT NULL,  -- 0 is the treasury (or unused, see matching/event.h)
  to_account    bigint NOT NULL,
  order_id      bigint,  -- NULL: none (engine ids start at 1)
  offer_id      bigint,
  assignment_id bigint,
  amount        bigint NOT NULL,
  value         bigint NOT NULL
);
CREATE INDEX engine_events_order_idx ON engine_events (order_id) WHERE order_id IS NOT NULL;

-- ---- Money: one row per kTransfer, double entry ---------------------------------------------
CREATE TABLE ledger_entries (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  seq           bigint NOT NULL UNIQUE REFERENCES engine_events (seq),
  from_account  bigint NOT NULL REFERENCES accounts (id),
  from_bucket   text NOT NULL CHECK (from_bucket IN ('external', 'available', 'escrowed', 'staked')),
  to_account    bigint NOT NULL REFERENCES accounts (id),
  to_bucket     text NOT NULL CHECK (to_bucket IN ('external', 'available', 'escrowed', 'staked')),
  amount        bigint NOT NULL CHECK (amount > 0),
  reason        text NOT NULL CHECK (reason IN (
                  'deposit', 'withdrawal', 'escrow', 'release', 'refund', 'stake', 'unstake',
                  'payment', 'fee', 'slash_compensation', 'slash_treasury', 'uncle_reward')),
  order_id      bigint,
  assignment_id bigint,
  at_ms         bigint NOT NULL,
  CHECK (from_bucket <> 'external' OR to_bucket <> 'external')
);
CREATE INDEX ledger_entries_from_idx ON ledger_entries (from_account, id);
CREATE INDEX ledger_entries_to_idx ON ledger_entries (to_account, id);
CREATE INDEX ledger_entries_order_idx ON ledger_entries (order_id) WHERE order_id IS NOT NULL;

-- ---- State images ---------------------------------------------------------------------------
CREATE TABLE orders (
  id                 bigint PRIMARY KEY CHECK (id > 0),
  account_id         bigint NOT NULL REFERENCES accounts (id),
  market_idx         integer NOT NULL REFERENCES markets (idx),
  client_order_id    text CHECK (length(client_order_id) BETWEEN 1 AND 200),
  inputs             jsonb,
  max_price          bigint NOT NULL CHECK (max_price > 0),
  deadline_ms        bigint NOT NULL,
  placed_at_ms       bigint NOT NULL,
  priority           text NOT NULL CHECK (priority IN ('price', 'time')),
  min_reputation_bps integer NOT NULL CHECK (min_reputation_bps BETWEEN 0 AND 10000),
  redundancy         integer NOT NULL CHECK (redundancy BETWEEN 1 AND 16),
  selection          text NOT NULL CHECK (selection IN ('best', 'direct', 'vrf')),
  direct_prover      bigint NOT NULL DEFAULT 0,  -- 0: none
  exclusive_until_ms bigint NOT NULL DEFAULT 0,
  exclusive_ended    boolean NOT NULL DEFAULT false,
  has_vrf_output     boolean NOT NULL DEFAULT false,
  vrf_output         bytea CHECK (length(vrf_output) = 32),  -- NULL: 32 zero bytes
  vrf_draws          integer NOT NULL DEFAULT 0 CHECK (vrf_draws >= 0),
  status             text NOT NULL CHECK (status IN ('open', 'completed', 'expired', 'cancelled')),
  verified           integer NOT NULL CHECK (verified BETWEEN 0 AND redundancy),
  escrow_left        bigint NOT NULL CHECK (escrow_left >= 0),
  needed             integer NOT NULL CHECK (needed BETWEEN 0 AND redundancy),
  UNIQUE (account_id, client_order_id)
);
CREATE INDEX orders_account_idx ON orders (account_id, id);
CREATE INDEX orders_open_idx ON orders (id) WHERE status = 'open';

CREATE TABLE offers (
  id            bigint PRIMARY KEY CHECK (id > 0),
  prover_id     bigint NOT NULL REFERENCES accounts (id),
  market_idx    integer NOT NULL REFERENCES markets (idx),
  price         bigint NOT NULL CHECK (price > 0),
  est_ms        bigint NOT NULL CHECK (est_ms >= 0),
  capacity      integer NOT NULL CHECK (capacity > 0),
  capacity_left integer NOT NULL CHECK (capacity_left BETWEEN 0 AND capacity),
  expires_at_ms bigint NOT NULL DEFAULT 0,  -- 0: never
  status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cancelled', 'expired')),
  close_reason  text CHECK (close_reason IN ('cancelled_by_owner', 'jailed', 'insufficient_stake')),
  closed_seq    bigint
);
CREATE INDEX offers_prover_idx ON offers (prover_id, id);
CREATE INDEX offers_open_idx ON offers (id) WHERE status = 'open';

CREATE TABLE assignments (
  id             bigint PRIMARY KEY CHECK (id > 0),
  order_id       bigint NOT NULL REFERENCES orders (id),
  offer_id       bigint NOT NULL REFERENCES offers (id),
  prover_id      bigint NOT NULL REFERENCES accounts (id),
  market_idx     integer NOT NULL REFERENCES markets (idx),
  price          bigint NOT NULL CHECK (price >= 0),
  assigned_at_ms bigint NOT NULL,
  due_at_ms      bigint NOT NULL,
  status         text NOT NULL CHECK (status IN ('assigned', 'delivered', 'settled', 'late',
                   'late_delivered', 'uncled', 'invalid', 'lapsed'))
);
CREATE INDEX assignments_order_idx ON assignments (order_id, id);
CREATE INDEX assignments_prover_idx ON assignments (prover_id, id);
-- Recovery: orders with work still pending, and offers' live assignments.
CREATE INDEX assignments_pending_idx ON assignments (order_id)
  WHERE status IN ('assigned', 'delivered', 'late', 'late_delivered');
CREATE INDEX assignments_live_offer_idx ON assignments (offer_id)
  WHERE status IN ('assigned', 'delivered');

-- kSettled (kind 'settled', amount = price) and kUncleRewarded (kind 'uncle', amount paid).
CREATE TABLE settlements (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  seq           bigint NOT NULL UNIQUE REFERENCES engine_events (seq),
  assignment_id bigint NOT NULL REFERENCES assignments (id),
  order_id      bigint NOT NULL REFERENCES orders (id),
  prover_id     bigint NOT NULL REFERENCES accounts (id),
  amount        bigint NOT NULL CHECK (amount >= 0),
  kind          text NOT NULL CHECK (kind IN ('settled', 'uncle')),
  at_ms         bigint NOT NULL
);
CREATE INDEX settlements_prover_idx ON settlements (prover_id, id);
CREATE INDEX settlements_order_idx ON settlements (order_id, id);

CREATE TABLE slashings (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  seq           bigint NOT NULL UNIQUE REFERENCES engine_events (seq),
  assignment_id bigint NOT NULL REFERENCES assignments (id),
  order_id      bigint NOT NULL REFERENCES orders (id),
  prover_id     bigint NOT NULL REFERENCES accounts (id),
  market_idx    integer NOT NULL REFERENCES markets (idx),
  amount        bigint NOT NULL CHECK (amount >= 0),
  reason        text NOT NULL CHECK (reason IN ('missed_deadline', 'invalid_proof')),
  at_ms         bigint NOT NULL
);
CREATE INDEX slashings_prover_idx ON slashings (prover_id, id);
CREATE INDEX slashings_order_idx ON slashings (order_id, id);

-- Counters not attached to any record, and the last event written.
CREATE TABLE engine_state (
  singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  next_order      bigint NOT NULL CHECK (next_order >= 1),
  next_offer      bigint NOT NULL CHECK (next_offer >= 1),
  next_assignment bigint NOT NULL CHECK (next_assignment >= 1),
  external_net    bigint NOT NULL CHECK (external_net >= 0),
  last_seq        bigint NOT NULL CHECK (last_seq >= 0)  -- 0: nothing journaled yet
);
INSERT INTO engine_state (next_order, next_offer, next_assignment, external_net, last_seq)
  VALUES (1, 1, 1, 0, 0);

-- ---- Checks ---------------------------------------------------------------------------------
-- The ledger invariant in SQL: every balance summed, less what came in from outside and has not
-- gone back out. Always 0 after a committed batch.
CREATE FUNCTION ledger_imbalance() RETURNS numeric LANGUAGE sql STABLE AS $$
  SELECT (SELECT coalesce(sum(available + escrowed + staked), 0) FROM accounts)
       - (SELECT coalesce(sum(CASE WHEN from_bucket = 'external' THEN amount
                                   WHEN to_bucket = 'external' THEN -amount
                                   ELSE 0 END), 0)
            FROM ledger_entries)
$$;

-- The journal's guard for updates that must hit every row they name: raises (rolling the
-- batch back) when `actual` differs from `expected`.
CREATE FUNCTION journal_expect_rows(what text, actual bigint, expected bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF actual <> expected THEN
    RAISE EXCEPTION 'journal: % matched % rows, expected %', what, actual, expected
      USING ERRCODE = 'no_data_found';
  END IF;
END
$$;
