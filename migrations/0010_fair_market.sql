-- A market a rational prover would stake in (issue #13): graded slashing, declines, fault
-- attribution (bad inputs, verifier failures), reputation in the ranking.

-- ---- Markets: graded slashing replaces a flat share of the stake ------------------------------
-- slash = min(stake, max(min_slash, price * slash_multiplier_bps / 10000)), doubled within
-- repeat_window_ms of the prover's previous slash (matching/rules.h SlashAmount).
-- Existing markets keep what a miss cost a prover staked at the market's minimum
-- (min_slash = min_stake * slash_bps / 10000) and charge at least twice the job's price.
ALTER TABLE markets
  ADD COLUMN min_slash bigint NOT NULL DEFAULT 0 CHECK (min_slash >= 0),
  ADD COLUMN slash_multiplier_bps integer NOT NULL DEFAULT 20000
    CHECK (slash_multiplier_bps BETWEEN 0 AND 1000000),
  ADD COLUMN repeat_window_ms bigint NOT NULL DEFAULT 3600000
    CHECK (repeat_window_ms BETWEEN 0 AND 2592000000),
  ADD COLUMN decline_window_ms bigint NOT NULL DEFAULT 5000
    CHECK (decline_window_ms BETWEEN 0 AND 2592000000),
  ADD COLUMN unprovable_quorum integer NOT NULL DEFAULT 2 CHECK (unprovable_quorum BETWEEN 1 AND 16),
  ADD COLUMN unprovable_fee_bps integer NOT NULL DEFAULT 1000
    CHECK (unprovable_fee_bps BETWEEN 0 AND 10000),
  ADD COLUMN griefing_bps integer NOT NULL DEFAULT 5000 CHECK (griefing_bps BETWEEN 0 AND 10000),
  ADD COLUMN reputation_weight_bps integer NOT NULL DEFAULT 0
    CHECK (reputation_weight_bps BETWEEN 0 AND 10000);
UPDATE markets SET min_slash = (min_stake / 10000) * slash_bps + (min_stake % 10000) * slash_bps / 10000;
ALTER TABLE markets DROP COLUMN slash_bps;

-- ---- Accounts: the time of the last slash, for the repeat-offence rule ------------------------
ALTER TABLE accounts ADD COLUMN last_slashed_at_ms bigint NOT NULL DEFAULT 0;
UPDATE accounts a SET last_slashed_at_ms = s.at_ms
  FROM (SELECT e.account, max(e.at_ms) AS at_ms FROM engine_events e
         WHERE e.kind = 'slashed' GROUP BY e.account) s
 WHERE a.id = s.account;

-- ---- Orders fail through their sequencer's fault; assignments can be handed back -------------
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
  CHECK (status IN ('open', 'completed', 'expired', 'cancelled', 'failed'));
ALTER TABLE orders ADD COLUMN failure text CHECK (failure IN ('bad_inputs', 'unprovable'));
ALTER TABLE orders ADD CONSTRAINT orders_failed_has_failure
  CHECK ((status = 'failed') = (failure IS NOT NULL));

ALTER TABLE assignments DROP CONSTRAINT assignments_status_check;
ALTER TABLE assignments ADD CONSTRAINT assignments_status_check
  CHECK (status IN ('assigned', 'delivered', 'settled', 'late', 'late_delivered', 'uncled',
                    'invalid', 'lapsed', 'declined_busy', 'declined_unprovable', 'released'));

-- A busy decline shrinks the offer; at zero it closes with reason 'busy'.
ALTER TABLE offers DROP CONSTRAINT offers_close_reason_check;
ALTER TABLE offers ADD CONSTRAINT offers_close_reason_check
  CHECK (close_reason IN ('cancelled_by_owner', 'jailed', 'insufficient_stake', 'busy'));

-- ---- The journal's enums ---------------------------------------------------------------------
ALTER TYPE event_kind ADD VALUE 'declined';
ALTER TYPE event_kind ADD VALUE 'released';
ALTER TYPE event_kind ADD VALUE 'order_failed';
ALTER TYPE command_kind ADD VALUE 'inputs_rejected';
ALTER TYPE command_kind ADD VALUE 'verification_failed';
ALTER TYPE command_kind ADD VALUE 'decline_assignment';
ALTER TYPE engine_reason ADD VALUE 'decline_window_passed';
ALTER TYPE engine_reason ADD VALUE 'busy';
ALTER TYPE engine_reason ADD VALUE 'unprovable';
ALTER TYPE engine_reason ADD VALUE 'bad_inputs';
ALTER TYPE engine_reason ADD VALUE 'verifier_failed';
ALTER TYPE transfer_reason ADD VALUE 'griefing_compensation';
ALTER TYPE transfer_reason ADD VALUE 'unprovable_fee';
