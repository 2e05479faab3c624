-- The admin's prover leaderboard (GET /v1/admin/provers): each prover's jobs by outcome,
-- slashes, earnings and delivery times. Counting them means reading every assignment, settlement
-- and slashing (seconds on millions of rows), so the counts are a materialized view the server
-- refreshes in the background (api/ asks for a refresh when a reader finds it older than its
-- limit); stake, reputation and jailed come live from accounts at read time.
CREATE MATERIALIZED VIEW prover_board AS
SELECT a.id AS prover,
       coalesce(j.won, 0) AS won,
       coalesce(j.delivered, 0) AS delivered,
       coalesce(j.settled, 0) AS settled,
       coalesce(j.declined, 0) AS declined,
       coalesce(x.missed, 0) AS missed,
       coalesce(x.invalid, 0) AS invalid,
       coalesce(x.slashed, 0) AS slashed,
       coalesce(e.earned, 0) AS earned,
       e.median_ms,
       e.p95_ms
  FROM accounts a
  LEFT JOIN (SELECT prover_id, count(*) AS won,
                    count(*) FILTER (WHERE status IN ('delivered', 'settled', 'late_delivered',
                                                      'uncled', 'invalid')) AS delivered,
                    count(*) FILTER (WHERE status IN ('settled', 'uncled')) AS settled,
                    count(*) FILTER (WHERE status IN ('declined_busy', 'declined_unprovable'))
                      AS declined
               FROM assignments GROUP BY prover_id) j ON j.prover_id = a.id
  LEFT JOIN (SELECT prover_id,
                    count(*) FILTER (WHERE reason = 'missed_deadline') AS missed,
                    count(*) FILTER (WHERE reason = 'invalid_proof') AS invalid,
                    sum(amount) AS slashed
               FROM slashings GROUP BY prover_id) x ON x.prover_id = a.id
  -- Earned: what its verified proofs were paid (settlement amounts, before the market's fee).
  -- Delivery time: from assignment to the verified proof's settlement.
  LEFT JOIN (SELECT s.prover_id, sum(s.amount) AS earned,
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY s.at_ms - g.assigned_at_ms)
                      AS median_ms,
                    percentile_disc(0.95) WITHIN GROUP (ORDER BY s.at_ms - g.assigned_at_ms)
                      AS p95_ms
               FROM settlements s JOIN assignments g ON g.id = s.assignment_id
              GROUP BY s.prover_id) e ON e.prover_id = a.id
 WHERE a.role = 'prover';
CREATE UNIQUE INDEX prover_board_prover ON prover_board (prover);  -- REFRESH ... CONCURRENTLY

-- When each materialized report was last refreshed (the refresh writes it in its transaction).
CREATE TABLE report_refreshes (
  name  text PRIMARY KEY,
  at_ms bigint NOT NULL
);
-- 0: never, so the first reader asks for a refresh.
INSERT INTO report_refreshes VALUES ('prover_board', 0);
