-- The ledger invariant as one function, shared by GET /v1/admin/ledger/check, the server's
-- periodic check (server/core/ledger_audit.h) and loadtest/chaos.sh: every (account, bucket)
-- whose balance in `accounts` differs from the sum of its ledger entries (money in minus money
-- out). Empty when the books are right. An account named by entries but missing from
-- `accounts` shows with balance 0; ledger_imbalance() (0002) is the other half of the check
-- (the sum of all balances equals deposits less withdrawals).
CREATE FUNCTION ledger_differences()
RETURNS TABLE (account bigint, bucket text, balance bigint, entries numeric)
LANGUAGE sql STABLE AS $$
  WITH flows AS (
    SELECT to_account AS account, to_bucket::text AS bucket, amount::numeric AS amount
      FROM ledger_entries WHERE to_bucket <> 'external'
    UNION ALL
    SELECT from_account, from_bucket::text, -amount::numeric
      FROM ledger_entries WHERE from_bucket <> 'external'),
  sums AS (
    SELECT f.account, f.bucket, sum(f.amount) AS total FROM flows f GROUP BY 1, 2),
  balances AS (
    SELECT a.id AS account, b.bucket, b.balance
      FROM accounts a
     CROSS JOIN LATERAL (VALUES ('available', a.available), ('escrowed', a.escrowed),
                                ('staked', a.staked)) AS b (bucket, balance))
  SELECT coalesce(b.account, s.account), coalesce(b.bucket, s.bucket), coalesce(b.balance, 0),
         coalesce(s.total, 0)
    FROM balances b FULL JOIN sums s ON s.account = b.account AND s.bucket = b.bucket
   WHERE coalesce(b.balance, 0) <> coalesce(s.total, 0)
   ORDER BY 1, 2
$$;
