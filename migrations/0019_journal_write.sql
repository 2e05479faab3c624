-- A journal batch as one call of a prepared statement (issue #18; loadtest/REPORT.md "Per-order
-- cost"). A batch was sent as SQL text: PostgreSQL lexed every array literal (~1 KB an order),
-- then analysed and planned each statement again: a third of the journal backend's CPU, and
-- ~0.6 ms of fixed cost a batch that small batches paid on every commit. Now the server
-- prepares `SELECT journal_write($1, ..., $66)` once per connection and binds the batch's
-- columns as array parameters; PL/pgSQL keeps the plans of the statements below. The call is
-- its own transaction (autocommit): one round trip a batch, where there were two (three when
-- the lock is busy, below).
--
-- The order of the writes is the one the journal's SQL text had (server/journal/journal.cc):
-- `pre` (new markets, accounts and their first API keys, new trees: SQL text, rare), the batch's
-- events, the ledger rows, new orders, the changed fields of existing orders, the touched
-- accounts' balances, then `post` (tree nodes, VRF draws, offers, assignments, closed records,
-- settlements, slashings, deposit references: SQL text the prover path writes), then
-- engine_state. Returns 'ok'; or, having written nothing: 'done' (the batch's seqs were
-- committed by an earlier attempt of this writer), 'fenced <epoch>' (another writer holds the
-- lease), 'gap <last_seq>' (the batch does not start after the journal's end), 'busy' (the
-- row lock on engine_state is held by another transaction, or the row is missing).
CREATE FUNCTION journal_write(
    p_epoch bigint, p_first_seq bigint, p_last_seq bigint, p_last_at_ms bigint, p_events bytea,
    p_pre text, p_post text,
    p_next_order bigint, p_next_offer bigint, p_next_assignment bigint, p_external_net bigint,
    p_next_tree bigint,
    -- ledger_entries, one element a row
    l_seq bigint[], l_from bigint[], l_from_bucket ledger_bucket[], l_to bigint[],
    l_to_bucket ledger_bucket[], l_amount bigint[], l_reason transfer_reason[], l_order bigint[],
    l_assignment bigint[], l_at bigint[], l_tree bigint[],
    -- orders placed in the batch
    o_id bigint[], o_account bigint[], o_market integer[], o_client text[], o_inputs jsonb[],
    o_max_price bigint[], o_deadline bigint[], o_placed bigint[], o_priority text[],
    o_min_reputation integer[], o_redundancy integer[], o_selection text[], o_direct bigint[],
    o_exclusive_until bigint[], o_exclusive_ended boolean[], o_vrf_draws integer[],
    o_status text[], o_failure text[], o_verified integer[], o_escrow_left bigint[],
    o_needed integer[], o_request_sha256 bytea[], o_tree bigint[], o_tree_node integer[],
    o_takeover bigint[],
    -- orders placed earlier: the fields that change
    u_id bigint[], u_exclusive_ended boolean[], u_vrf_draws integer[], u_status text[],
    u_failure text[], u_verified integer[], u_escrow_left bigint[], u_needed integer[],
    u_direct bigint[], u_exclusive_until bigint[], u_takeover bigint[],
    -- accounts touched: their balances (the row and its role exist)
    a_id bigint[], a_role text[], a_available bigint[], a_escrowed bigint[], a_staked bigint[],
    a_reputation integer[], a_last_slashed bigint[])
  RETURNS text
  LANGUAGE plpgsql
  SET standard_conforming_strings = on  -- the SQL text of pre and post relies on it
  SET plan_cache_mode = force_generic_plan  -- plans made once a connection, whatever the sizes
AS $$
DECLARE
  s_last bigint;
  s_epoch bigint;
  s_epoch_seq bigint;
  n bigint;
BEGIN
  -- The row lock orders this batch against a take-over's epoch bump (writer_lease.cc). It is
  -- not waited for here: a call that waited (a stuck database) would write and commit on its
  -- own even if its server died meanwhile, with events nobody could stand behind. 'busy' sends
  -- the server to wait for the lock in a transaction of its own first, then call again inside it.
  SELECT e.last_seq, e.writer_epoch, e.writer_epoch_seq INTO s_last, s_epoch, s_epoch_seq
    FROM engine_state e FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN 'busy';
  END IF;
  IF s_epoch <> p_epoch THEN
    RETURN 'fenced ' || s_epoch;
  END IF;
  IF p_first_seq > s_epoch_seq AND p_last_seq <= s_last THEN
    RETURN 'done';
  END IF;
  IF p_first_seq <> s_last + 1 THEN
    RETURN 'gap ' || s_last;
  END IF;

  IF p_pre <> '' THEN
    EXECUTE p_pre;
  END IF;
  INSERT INTO journal_batches (first_seq, last_seq, last_at_ms, events)
    VALUES (p_first_seq, p_last_seq, p_last_at_ms, p_events);
  IF cardinality(l_seq) > 0 THEN
    INSERT INTO ledger_entries (seq, from_account, from_bucket, to_account, to_bucket, amount,
                                reason, order_id, assignment_id, at_ms, tree_id)
      SELECT * FROM unnest(l_seq, l_from, l_from_bucket, l_to, l_to_bucket, l_amount, l_reason,
                           l_order, l_assignment, l_at, l_tree);
  END IF;
  IF cardinality(o_id) > 0 THEN
    INSERT INTO orders (id, account_id, market_idx, client_order_id, inputs, max_price,
                        deadline_ms, placed_at_ms, priority, min_reputation_bps, redundancy,
                        selection, direct_prover, exclusive_until_ms, exclusive_ended, vrf_draws,
                        status, failure, verified, escrow_left, needed, request_sha256, tree_id,
                        tree_node, takeover_prover)
      SELECT * FROM unnest(o_id, o_account, o_market, o_client, o_inputs, o_max_price,
                           o_deadline, o_placed, o_priority, o_min_reputation, o_redundancy,
                           o_selection, o_direct, o_exclusive_until, o_exclusive_ended,
                           o_vrf_draws, o_status, o_failure, o_verified, o_escrow_left,
                           o_needed, o_request_sha256, o_tree, o_tree_node, o_takeover);
  END IF;
  IF cardinality(u_id) > 0 THEN
    -- Placement fields never change, but for a tree merge's prover in line (takeover).
    UPDATE orders o SET exclusive_ended = v.exclusive_ended, vrf_draws = v.vrf_draws,
           status = v.status, failure = v.failure, verified = v.verified,
           escrow_left = v.escrow_left, needed = v.needed, direct_prover = v.direct_prover,
           exclusive_until_ms = v.exclusive_until, takeover_prover = NULLIF(v.takeover, 0)
      FROM unnest(u_id, u_exclusive_ended, u_vrf_draws, u_status, u_failure, u_verified,
                  u_escrow_left, u_needed, u_direct, u_exclusive_until, u_takeover)
           AS v (id, exclusive_ended, vrf_draws, status, failure, verified, escrow_left, needed,
                 direct_prover, exclusive_until, takeover)
     WHERE o.id = v.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM journal_expect_rows('orders (id)', n, cardinality(u_id));
  END IF;
  IF cardinality(a_id) > 0 THEN
    UPDATE accounts a SET available = v.available, escrowed = v.escrowed, staked = v.staked,
           reputation_bps = v.reputation, last_slashed_at_ms = v.last_slashed
      FROM unnest(a_id, a_role, a_available, a_escrowed, a_staked, a_reputation, a_last_slashed)
           AS v (id, role, available, escrowed, staked, reputation, last_slashed)
     WHERE a.id = v.id AND a.role = v.role;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM journal_expect_rows('accounts (id and role)', n, cardinality(a_id));
  END IF;
  IF p_post <> '' THEN
    EXECUTE p_post;
  END IF;
  UPDATE engine_state SET next_order = p_next_order, next_offer = p_next_offer,
         next_assignment = p_next_assignment, external_net = p_external_net,
         next_tree = p_next_tree, last_seq = p_last_seq;
  RETURN 'ok';
END
$$;
