#include "server/db/seed_history.h"

#include <chrono>

#include "server/db/pq.h"

namespace proofbook::server {

namespace {

// Per order i (1..N), the journal's sequence numbers base + 0..7 hold, in order: the escrow
// transfer, the slash event and its two transfers (compensation, treasury share; every fourth
// order), the settle event and its three transfers (payment, fee, refund of what the price left
// of the escrow). Sequence numbers of orders without a slash are left unused, as are ids of
// assignments never made: the journal only needs them to grow.
constexpr int64_t kSeqsPerOrder = 8;
constexpr int64_t kSequencerDeposit = 10'000'000'000;
constexpr int64_t kProverDeposit = 2'000'000'000;
constexpr int64_t kProverStake = 1'000'000'000;

// One row per order with every value its rows need: which accounts, market, offer, assignments,
// prices and times. $1 orders, $2 first order id, $3 first assignment id, $4 first offer id,
// $5 first order's seq base, $6 start ms, $7 span ms; seed_s, seed_p, seed_m hold the accounts
// and markets, numbered from 1.
constexpr const char* kOrdersSql = R"(
CREATE TEMP TABLE seed_o ON COMMIT DROP AS
WITH s AS (SELECT array_agg(id ORDER BY n) a, count(*) c FROM seed_s),
     p AS (SELECT array_agg(id ORDER BY n) a, count(*) c FROM seed_p),
     m AS (SELECT array_agg(idx ORDER BY n) a, count(*) c FROM seed_m),
     g AS (SELECT i, (i * 7) % (SELECT c FROM p) AS pn, i % (SELECT c FROM m) AS mn
             FROM generate_series(1::bigint, $1::bigint) i)
SELECT g.i,
       $2::bigint + g.i - 1 AS id,
       s.a[(g.i % s.c) + 1] AS account,
       m.a[g.mn + 1] AS market,
       p.a[g.pn + 1] AS prover,
       p.a[((g.pn + 1) % p.c) + 1] AS bad_prover,
       $4::bigint + g.pn * m.c + g.mn AS offer,
       $4::bigint + ((g.pn + 1) % p.c) * m.c + g.mn AS bad_offer,
       $3::bigint + 2 * (g.i - 1) AS good_a,
       $3::bigint + 2 * (g.i - 1) + 1 AS bad_a,
       100 + (g.i * 7919) % 400 AS price,
       g.i % 4 = 0 AS slashed,
       CASE WHEN g.i % 8 = 0 THEN 'invalid_proof' ELSE 'missed_deadline' END AS reason,
       $5::bigint + (g.i - 1) * 8 AS b,
       $6::bigint + g.i * $7::bigint / $1::bigint AS t
  FROM g, s, p, m
)";

constexpr const char* kLedgerSql = R"(
INSERT INTO ledger_entries (seq, from_account, from_bucket, to_account, to_bucket, amount, reason,
                            order_id, assignment_id, at_ms)
SELECT b, account, 'available'::ledger_bucket, account, 'escrowed'::ledger_bucket, price + 50,
       'escrow'::transfer_reason, id, NULL::bigint, t
  FROM seed_o
UNION ALL
SELECT b + 2, bad_prover, 'staked', account, 'available', price, 'slash_compensation', id, bad_a,
       t + 1000 FROM seed_o WHERE slashed
UNION ALL
SELECT b + 3, bad_prover, 'staked', 0, 'available', price, 'slash_treasury', id, bad_a, t + 1000
  FROM seed_o WHERE slashed
UNION ALL
SELECT b + 5, account, 'escrowed', prover, 'available', price - price / 100, 'payment', id,
       good_a, t + 2000 FROM seed_o
UNION ALL
SELECT b + 6, account, 'escrowed', 0, 'available', price / 100, 'fee', id, good_a, t + 2000
  FROM seed_o
UNION ALL
SELECT b + 7, account, 'escrowed', account, 'available', 50, 'refund', id, NULL, t + 2000
  FROM seed_o
)";

// Every seeded transfer applied to the balances it moved (external is outside the books).
constexpr const char* kBalancesSql = R"(
UPDATE accounts a
   SET available = a.available + d.available, escrowed = a.escrowed + d.escrowed,
       staked = a.staked + d.staked
  FROM (SELECT account,
               coalesce(sum(amount) FILTER (WHERE bucket = 'available'), 0) AS available,
               coalesce(sum(amount) FILTER (WHERE bucket = 'escrowed'), 0) AS escrowed,
               coalesce(sum(amount) FILTER (WHERE bucket = 'staked'), 0) AS staked
          FROM (SELECT from_account AS account, from_bucket AS bucket, -amount AS amount
                  FROM ledger_entries WHERE seq > $1
                UNION ALL
                SELECT to_account, to_bucket, amount FROM ledger_entries WHERE seq > $1) x
         WHERE bucket <> 'external'
         GROUP BY account) d
 WHERE a.id = d.account
)";

}  // namespace

Result<SeedReport> SeedHistory(DbSession& session, const SeedOptions& o) {
  if (o.orders < 1 || o.provers < 2 || o.sequencers < 1 || o.markets < 1 || o.span_ms < 1) {
    return Status(StatusCode::kInvalidArgument,
                  "seed-history needs orders >= 1, provers >= 2, sequencers >= 1, markets >= 1");
  }
  pqxx::work tx(Pq(session));
  tx.exec("SET LOCAL synchronous_commit = off");
  tx.exec("SET LOCAL work_mem = '256MB'");
  auto state = tx.exec(
      "SELECT next_order, next_offer, next_assignment, last_seq, (SELECT count(*) FROM orders) "
      "FROM engine_state FOR UPDATE");
  if (state[0][4].as<int64_t>() != 0) {
    return Status(StatusCode::kConflict,
                  "this database has orders already: seed-history fills a fresh one only");
  }
  const int64_t first_order = state[0][0].as<int64_t>();
  const int64_t first_offer = state[0][1].as<int64_t>();
  const int64_t first_assignment = state[0][2].as<int64_t>();
  const int64_t last_seq = state[0][3].as<int64_t>();
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t start = now - o.span_ms;

  // Markets, sequencers and provers, numbered from 1 in the temp tables.
  tx.exec_params(
      "INSERT INTO markets (id, proof_system, verifier, min_stake, compensation_bps, fee_bps, "
      "min_prover_time_ms, grace_bps, uncle_reward_bps, max_proof_bytes) "
      "SELECT 'seed-' || g, 'sha256', 'sha256-preimage', 100, 5000, 100, 0, 2000, 0, 1048576 "
      "FROM generate_series(1, $1) g",
      o.markets);
  tx.exec(
      "CREATE TEMP TABLE seed_m ON COMMIT DROP AS SELECT row_number() OVER (ORDER BY idx) n, idx "
      "FROM markets WHERE id LIKE 'seed-%'");
  // Whole literals, no string building: GCC 12 warns falsely (-Warray-bounds, -O1 and -O2) on
  // appends to a std::string here.
  static constexpr const char* kMakeAccounts[] = {
      "CREATE TEMP TABLE seed_s ON COMMIT DROP AS WITH made AS (INSERT INTO accounts (role, name) "
      "SELECT $1, 'seed ' || $1 || ' ' || g FROM generate_series(1, $2) g RETURNING id) "
      "SELECT row_number() OVER (ORDER BY id) n, id FROM made",
      "CREATE TEMP TABLE seed_p ON COMMIT DROP AS WITH made AS (INSERT INTO accounts (role, name) "
      "SELECT $1, 'seed ' || $1 || ' ' || g FROM generate_series(1, $2) g RETURNING id) "
      "SELECT row_number() OVER (ORDER BY id) n, id FROM made"};
  tx.exec_params(kMakeAccounts[0], "sequencer", o.sequencers);
  tx.exec_params(kMakeAccounts[1], "prover", o.provers);

  // Deposits for everyone and the provers' stakes, before the first order.
  tx.exec_params(
      "INSERT INTO ledger_entries (seq, from_account, from_bucket, to_account, to_bucket, amount, "
      "reason, at_ms) "
      "SELECT $1::bigint + n, id, 'external'::ledger_bucket, id, 'available'::ledger_bucket, "
      "$2::bigint, "
      "'deposit'::transfer_reason, $5::bigint FROM seed_s "
      "UNION ALL SELECT $1::bigint + $6::bigint + 2 * n - 1, id, 'external', id, 'available', "
      "$3::bigint, 'deposit', $5::bigint "
      "FROM seed_p "
      "UNION ALL SELECT $1::bigint + $6::bigint + 2 * n, id, 'available', id, 'staked', "
      "$4::bigint, 'stake', $5::bigint "
      "FROM seed_p",
      last_seq, kSequencerDeposit, kProverDeposit, kProverStake, start - 1000, o.sequencers);
  const int64_t order_base = last_seq + o.sequencers + 2 * o.provers + 1;

  tx.exec_params(kOrdersSql, o.orders, first_order, first_assignment, first_offer, order_base,
                 start, o.span_ms);
  tx.exec_params(
      "INSERT INTO offers (id, prover_id, market_idx, price, est_ms, capacity, capacity_left, "
      "status, close_reason) "
      "SELECT $1 + (p.n - 1) * $2 + (m.n - 1), p.id, m.idx, 100, 1000, 4, 4, 'cancelled', "
      "'cancelled_by_owner' FROM seed_p p, seed_m m",
      first_offer, o.markets);
  tx.exec(
      "INSERT INTO orders (id, account_id, market_idx, max_price, deadline_ms, placed_at_ms, "
      "priority, min_reputation_bps, redundancy, selection, status, verified, escrow_left, "
      "needed) "
      "SELECT id, account, market, price + 50, t + 600000, t, 'price', 0, 1, 'best', "
      "'completed', 1, 0, 0 FROM seed_o");
  tx.exec(
      "INSERT INTO assignments (id, order_id, offer_id, prover_id, market_idx, price, "
      "assigned_at_ms, due_at_ms, status) "
      "SELECT bad_a, id, bad_offer, bad_prover, market, price, t, t + 500, "
      "CASE reason WHEN 'invalid_proof' THEN 'invalid' ELSE 'lapsed' END FROM seed_o "
      "WHERE slashed "
      "UNION ALL SELECT good_a, id, offer, prover, market, price, t + 1000, t + 60000, "
      "'settled' FROM seed_o");
  tx.exec(
      "INSERT INTO engine_events_archive (seq, ref, at_ms, kind, command, reason, market, account, "
      "to_account, order_id, offer_id, assignment_id, amount, value) "
      "SELECT b + 1, i, t + 1000, 'slashed'::event_kind, CASE reason WHEN 'invalid_proof' THEN "
      "'proof_rejected' ELSE 'tick' END::command_kind, reason::engine_reason, market, "
      "bad_prover, 0, id, bad_offer, bad_a, 2 * price, 0 FROM seed_o WHERE slashed "
      "UNION ALL SELECT b + 4, i, t + 2000, 'settled', 'proof_verified', NULL, market, prover, "
      "0, id, offer, good_a, price, 0 FROM seed_o");
  tx.exec(
      "INSERT INTO slashings (seq, assignment_id, order_id, prover_id, market_idx, amount, "
      "reason, at_ms) "
      "SELECT b + 1, bad_a, id, bad_prover, market, 2 * price, reason, t + 1000 FROM seed_o "
      "WHERE slashed ORDER BY i");
  tx.exec(
      "INSERT INTO settlements (seq, assignment_id, order_id, prover_id, amount, kind, at_ms) "
      "SELECT b + 4, good_a, id, prover, price, 'settled', t + 2000 FROM seed_o ORDER BY i");
  tx.exec(kLedgerSql);
  tx.exec_params(kBalancesSql, last_seq);
  tx.exec_params(
      "UPDATE engine_state SET next_order = $1, next_offer = $2, next_assignment = $3, "
      "last_seq = $4, external_net = external_net + $5",
      first_order + o.orders, first_offer + static_cast<int64_t>(o.provers) * o.markets,
      first_assignment + 2 * o.orders, order_base + kSeqsPerOrder * o.orders,
      kSequencerDeposit * o.sequencers + kProverDeposit * o.provers);
  auto counts = tx.exec_params(
      "SELECT (SELECT count(*) FROM seed_o), (SELECT count(*) FROM settlements), "
      "(SELECT count(*) FROM slashings), (SELECT count(*) FROM ledger_entries WHERE seq > $1)",
      last_seq);
  tx.commit();
  pqxx::nontransaction(Pq(session)).exec("ANALYZE");  // plans for the new volume at once
  return SeedReport{.orders = counts[0][0].as<int64_t>(),
                    .settlements = counts[0][1].as<int64_t>(),
                    .slashings = counts[0][2].as<int64_t>(),
                    .ledger_entries = counts[0][3].as<int64_t>()};
}

}  // namespace proofbook::server
