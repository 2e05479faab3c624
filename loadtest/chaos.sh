#!/usr/bin/env bash
# chaos.sh — issue #14's fault campaign in one command. Loopback only, bounded in time.
#
#   loadtest/chaos.sh [--short] [--bin-dir DIR] [--server BIN] [--prover BIN] [--seed N]
#
# A throwaway PostgreSQL (its own cluster under /tmp, so it can be stopped), a proofbook-server,
# sequencers placing orders with unique client_order_ids (loadtest/chaos_client.js: a transport
# error, 429 or 5xx sends the same order again) and real proofbook-prover workers (two honest,
# one that delivers garbage 30% of the time and is slashed for it, and in the full run one
# Groth16 prover proving with snarkjs), each kept running by a supervisor loop as systemd would.
# Under that load, in random order and at random moments:
#   server      kill -9 of the server, restarted at once with the same flags
#   postgres    PostgreSQL stopped (-m immediate, then fast, alternately) for CHAOS_OUTAGE_S
#               seconds and started again; the server must ride it out
#   verifier    kill -9 of one of the server's Node verifier workers
#   prover      kill -9 of a prover that holds unsettled work; its supervisor restarts it
# After each fault (once the system is back) and at the end, the checks:
#   - every acknowledged order (201, or 200 to a retry) is in PostgreSQL exactly once, with its
#     client_order_id and sequencer; no client_order_id maps to two orders;
#   - the acknowledged client_order_ids sent again (200 of those since the last check and 50
#     of the older ones; all of them at the end) are answered 200 with the same order id;
#   - every payment and slash a prover was told of (its log) is in PostgreSQL exactly once, and
#     no assignment is paid or slashed twice;
#   - the ledger balances: ledger_imbalance() = 0, and every account's available / escrowed /
#     staked equals the sum of its ledger entries;
#   - the balances GET /v1/accounts/me shows equal the database's (during load the sequencers
#     are paused, SIGSTOP, and the API is compared when its answer is the same before and after
#     the database read);
# and at the end, after the sequencers stop: every order is final (provers reconnected and
# finished the work, or it expired), every prover is connected, the server stops cleanly on
# SIGTERM (exit 0: under the debug build, no sanitizer report).
#
# Prints one row per fault and a summary; exits non-zero on any loss, duplicate, mismatch or
# failed condition. Full run: 20 server kills, 2 outages of 10 s, 4 verifier kills, 4 prover
# kills. --short (the test command's): 3 kills, 1 outage, 1 verifier kill, 1 prover kill.
# Environment: CHAOS_KILLS, CHAOS_OUTAGES, CHAOS_OUTAGE_S, CHAOS_VERIFIER_KILLS,
# CHAOS_PROVER_KILLS, CHAOS_RATE (orders/s), CHAOS_GROTH16 (0/1), CHAOS_SEED, CHAOS_KEEP=1 (keep
# the work folder; it is kept anyway on failure, without the database).
# Needs the release build (./proofbook.sh build) or --bin-dir/--server/--prover, node, psql
# and PostgreSQL 15's binaries (./proofbook.sh deps).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# pg_init, pg_configure, pg_start, pg_as, free_port, install_node_deps, PG_BIN, PG_USER.
# shellcheck source=../proofbook.sh
source "$HERE/proofbook.sh"
ROOT=$HERE

SHORT=0
BIN_DIR="$ROOT/build/release"
SERVER_BIN="" PROVER_BIN=""
SEED=${CHAOS_SEED:-$$}
while [ $# -gt 0 ]; do
  case "$1" in
    --short) SHORT=1 ;;
    --bin-dir) BIN_DIR=$2; shift ;;
    --server) SERVER_BIN=$2; shift ;;
    --prover) PROVER_BIN=$2; shift ;;
    --seed) SEED=$2; shift ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift
done
SERVER_BIN=${SERVER_BIN:-$BIN_DIR/server/proofbook-server}
PROVER_BIN=${PROVER_BIN:-$BIN_DIR/clients/proofbook-prover}
for b in "$SERVER_BIN" "$PROVER_BIN"; do
  [ -x "$b" ] || { echo "chaos: $b is missing (./proofbook.sh build)" >&2; exit 2; }
done
if [ "$SHORT" = 1 ]; then
  KILLS=${CHAOS_KILLS:-3} OUTAGES=${CHAOS_OUTAGES:-1}
  VERIFIER_KILLS=${CHAOS_VERIFIER_KILLS:-1} PROVER_KILLS=${CHAOS_PROVER_KILLS:-1}
  GROTH16=${CHAOS_GROTH16:-0} RATE=${CHAOS_RATE:-20}
else
  KILLS=${CHAOS_KILLS:-20} OUTAGES=${CHAOS_OUTAGES:-2}
  VERIFIER_KILLS=${CHAOS_VERIFIER_KILLS:-4} PROVER_KILLS=${CHAOS_PROVER_KILLS:-4}
  GROTH16=${CHAOS_GROTH16:-1} RATE=${CHAOS_RATE:-40}
fi
OUTAGE_S=${CHAOS_OUTAGE_S:-10}
ORDER_DEADLINE_MS=60000
RANDOM=$SEED

NODE_MODULES="$ROOT/var/node/node_modules"
FIXTURES="$ROOT/var/fixtures/groth16"
CLIENT="$ROOT/loadtest/chaos_client.js"
install_node_deps  # a no-op when var/node is current
if [ "$GROTH16" = 1 ] && [ ! -f "$FIXTURES/circuit_final.zkey" ]; then
  "$ROOT/tests/fixtures/groth16.sh" >/dev/null
fi

START_S=$SECONDS
WORK=$(mktemp -d /tmp/proofbook-chaos.XXXXXX)
chmod 755 "$WORK"  # PostgreSQL runs as `postgres` when we are root
PGDATA_DIR="$WORK/pg"
SERVER_PID=""
SUPERVISORS=()
SEQUENCER_PIDS=()
FAILED=0
cleanup() {
  local rc=$?
  set +e
  touch "$WORK/stop-provers" "$WORK/stop-sequencers"
  {  # (the shell's "Killed" notices go to /dev/null too)
    for p in "${SEQUENCER_PIDS[@]}" "${SUPERVISORS[@]}"; do kill -KILL "$p"; done
    for f in "$WORK"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")"; done
    [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID"
    wait
  } 2>/dev/null
  pg_as "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -w -m immediate stop >/dev/null 2>&1
  if [ "${CHAOS_KEEP:-0}" = 1 ]; then
    echo "chaos: work folder and database (stopped) kept in $WORK" >&2
  elif [ "$rc" != 0 ] || [ "$FAILED" != 0 ]; then
    rm -rf "$PGDATA_DIR"
    echo "chaos: logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
# alive PID: running (a child that exited stays a zombie until waited for, and kill -0 finds it).
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ "$state" != Z* ]]
}
fail() {  # fail MESSAGE: remember a failed condition, go on
  echo "chaos: FAILED: $*" >&2
  FAILED=1
}
# wait_for SECONDS COMMAND...
# shellcheck source=lib.sh
source "$HERE/loadtest/lib.sh"

# ---- PostgreSQL: a cluster of our own, so that it can be stopped ---------------------------
# Durable commits (synchronous_commit on): an acknowledged write must survive a PostgreSQL
# crash (-m immediate). fsync off only trusts the OS, which no fault here takes away.
pg_init "$PGDATA_DIR" --no-sync
PG_PORT=$(free_port)
pg_configure "$PGDATA_DIR" "$PG_PORT" "fsync = off" "full_page_writes = off" "max_connections = 100"
pg_start "$PGDATA_DIR"
URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/postgres"
sql() { psql -qtAX -v ON_ERROR_STOP=1 "$URL" -c "$1"; }

# ---- The server ------------------------------------------------------------------------------
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
"$SERVER_BIN" migrate --database-url "$URL" >"$WORK/migrate.log" 2>&1
ADMIN=$("$SERVER_BIN" bootstrap-admin --database-url "$URL" 2>/dev/null | grep '^pbk_')
SERVER_STARTS=0
launch_server() {
  SERVER_STARTS=$((SERVER_STARTS + 1))
  echo "chaos: start $SERVER_STARTS" >>"$WORK/server.log"
  "$SERVER_BIN" serve --database-url "$URL" --listen "127.0.0.1:$PORT" --verifier-workers 2 \
    --node-path "$NODE_MODULES" --verifier-script "$ROOT/server/prover/verifiers/verifier_worker.js" \
    --log-level info >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
}
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/readyz")" = 200 ]; }
# start_server_until_ready: starts the server and waits until /readyz is 200; a start that
# exits (the old process's write lease not yet released: code 3; PostgreSQL not there: 1) is
# tried again. Sets RESTART_MS (from the first exec to ready). Bounded: 120 s.
start_server_until_ready() {
  local t0 until=$((SECONDS + 120)) tries=0 rc
  t0=$(now_ms)
  while :; do
    tries=$((tries + 1))
    launch_server
    while alive "$SERVER_PID" && ! ready; do
      [ "$SECONDS" -lt "$until" ] || break
      sleep 0.05
    done
    if alive "$SERVER_PID" && ready; then break; fi
    alive "$SERVER_PID" && kill -KILL "$SERVER_PID"  # not ready in time
    rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=""
    [ "$SECONDS" -lt "$until" ] || { fail "the server was not ready within 120 s (last exit $rc)"; return 1; }
    echo "chaos: server start $SERVER_STARTS exited with $rc; again" >>"$WORK/server.log"
    sleep 0.2
  done
  RESTART_MS=$(($(now_ms) - t0))
  RESTART_TRIES=$tries
}
start_server_until_ready || exit 1

# ---- Markets, accounts, money ----------------------------------------------------------------
api() {  # api METHOD PATH KEY [BODY]: the body of a 2xx answer, else fail the run
  local out code
  out=$(curl -sS --max-time 10 -X "$1" "$BASE$2" -H "Authorization: Bearer $3" \
    -H 'Content-Type: application/json' ${4:+-d "$4"} -w '\n%{http_code}')
  code=${out##*$'\n'}
  [[ "$code" == 2* ]] || { echo "chaos: $1 $2 answered $code: ${out%$'\n'*}" >&2; exit 1; }
  printf '%s\n' "${out%$'\n'*}"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
new_account() {  # new_account ROLE NAME AMOUNT -> "id key"
  local out id
  out=$(api POST /v1/admin/accounts "$ADMIN" "{\"role\":\"$1\",\"name\":\"$2\"}")
  id=$(field "['account']['id']" <<<"$out")
  api POST "/v1/admin/accounts/$id/deposits" "$ADMIN" "{\"amount\":$3,\"reference\":\"chaos-$id\"}" >/dev/null
  echo "$id $(field "['api_key']" <<<"$out")"
}
# Slashes cost the job's price, never doubled (repeat_window_ms 0), so the faulty prover can go
# on being slashed for the whole run without being jailed.
api POST /v1/admin/markets "$ADMIN" '{"id":"sha","proof_system":"sha256","verifier":"sha256-preimage","min_stake":100,"min_slash":1,"slash_multiplier_bps":10000,"repeat_window_ms":0,"fee_bps":100}' >/dev/null
if [ "$GROTH16" = 1 ]; then
  api POST /v1/admin/markets "$ADMIN" "{\"id\":\"g16\",\"proof_system\":\"groth16\",\"verifier\":\"snarkjs-groth16\",\"min_stake\":100,\"min_slash\":1,\"slash_multiplier_bps\":10000,\"repeat_window_ms\":0,\"verification_key\":$(cat "$FIXTURES/verification_key.json")}" >/dev/null
fi
SEQ_IDS=() SEQ_KEYS=()
for i in 0 1; do
  read -r id key < <(new_account sequencer "seq-$i" 1000000000000)
  SEQ_IDS+=("$id") SEQ_KEYS+=("$key")
done
SEQ_KEY_LIST=$(IFS=,; echo "${SEQ_KEYS[*]}")
# Provers: NAME, offers and flags. The faulty one is the cheapest, so it gets work first and is
# slashed for 30% of it; the order then goes to an honest one. honest-b waits 200 ms before each
# delivery, so it often holds work when it is killed.
PROVERS=(honest-a honest-b faulty)
declare -A PROVER_ID PROVER_KEY PROVER_ARGS
PROVER_ARGS[honest-a]="--offer market=sha,price=10,est_ms=4000,capacity=8"
PROVER_ARGS[honest-b]="--offer market=sha,price=12,est_ms=4000,capacity=8 --delay-ms 200"
PROVER_ARGS[faulty]="--offer market=sha,price=8,est_ms=4000,capacity=2 --fail-rate 0.3"
if [ "$GROTH16" = 1 ]; then
  PROVERS+=(groth)
  PROVER_ARGS[groth]="--offer market=g16,price=50,est_ms=20000,capacity=1 --circuit g16=$FIXTURES"
fi
for name in "${PROVERS[@]}"; do
  read -r id key < <(new_account prover "$name" 1000000000)
  PROVER_ID[$name]=$id PROVER_KEY[$name]=$key
  api POST /v1/stake "$key" '{"amount":100000000}' >/dev/null
done
ALL_KEYS=$(IFS=,; echo "${SEQ_KEYS[*]},$(for n in "${PROVERS[@]}"; do printf '%s,' "${PROVER_KEY[$n]}"; done)")
ALL_KEYS=${ALL_KEYS%,}

# ---- Provers, each under a supervisor that restarts it when it dies ---------------------------
supervise() {  # supervise NAME
  local name=$1
  (
    # shellcheck disable=SC2086
    while [ ! -e "$WORK/stop-provers" ]; do
      PROOFBOOK_API_KEY=${PROVER_KEY[$name]} "$PROVER_BIN" --url "$BASE" --max-backoff-ms 1000 \
        --work-dir "$WORK/$name.work" --snarkjs "$NODE_MODULES/snarkjs/cli.js" \
        ${PROVER_ARGS[$name]} >>"$WORK/$name.log" 2>&1 &
      echo $! >"$WORK/$name.pid"
      wait $! 2>/dev/null || true
      sleep 0.3
    done
  ) &
  SUPERVISORS+=($!)
}
connected_count() { grep -c 'msg=connected' "$WORK/$1.log" 2>/dev/null || true; }
for name in "${PROVERS[@]}"; do
  supervise "$name"
  wait_for 60 grep -qs 'msg=offer_placed' "$WORK/$name.log" ||
    { fail "prover $name placed no offer"; cat "$WORK/$name.log" >&2; exit 1; }
done

# ---- Sequencers ------------------------------------------------------------------------------
ACKS="$WORK/acks.tsv"
: >"$ACKS"
node "$CLIENT" sequence --port "$PORT" --keys "$SEQ_KEY_LIST" --market sha --max-price 100 \
  --deadline-ms "$ORDER_DEADLINE_MS" --workers 4 --rate "$RATE" --acks "$ACKS" --prefix "c$SEED" \
  --stop-file "$WORK/stop-sequencers" --max-s 3600 >"$WORK/sequencer.json" 2>"$WORK/sequencer.err" &
SEQUENCER_PIDS+=($!)
G16_ACKS="$WORK/acks-g16.tsv"
if [ "$GROTH16" = 1 ]; then
  : >"$G16_ACKS"
  G16_INPUTS=$(printf '{"public":%s,"witness":%s}' "$(tr -d ' \n' <"$FIXTURES/valid/public.json")" \
    "$(tr -d ' \n' <"$FIXTURES/input.json")")
  node "$CLIENT" sequence --port "$PORT" --keys "${SEQ_KEYS[0]}" --market g16 --max-price 100 \
    --deadline-ms 120000 --inputs "$G16_INPUTS" --workers 1 --rate 0.3 --acks "$G16_ACKS" \
    --prefix "g$SEED" --stop-file "$WORK/stop-sequencers" --max-s 3600 \
    >"$WORK/sequencer-g16.json" 2>"$WORK/sequencer-g16.err" &
  SEQUENCER_PIDS+=($!)
fi
acked_at_least() { [ "$(wc -l <"$ACKS")" -ge "$1" ]; }
wait_for 60 acked_at_least 20 || { fail "no orders acknowledged in 60 s"; exit 1; }

# ---- The checks --------------------------------------------------------------------------------
REPLAY_FROM=0 REPLAY_FROM_G16=0
# What the provers were told: "prover assignment amount kind" (paid) and "... reason" (slashed).
told() {  # told paid|slashed FILE
  local name kind=$1
  : >"$2"
  for name in "${PROVERS[@]}"; do
    if [ "$kind" = paid ]; then
      sed -n 's/.*msg=paid assignment=\([0-9]*\) amount=\([0-9]*\) kind=\([a-z_]*\).*/\1\t\2\t\3/p' \
        "$WORK/$name.log"
    else
      sed -n 's/.*msg=slashed assignment=\([0-9]*\) amount=\([0-9]*\) reason=\([a-z_]*\).*/\1\t\2\t\3/p' \
        "$WORK/$name.log"
    fi | sed "s/^/${PROVER_ID[$name]}\t/" >>"$2"
  done
}
# db_check: one psql session, one snapshot per statement. Sets LOST DUP LEDGER_BAD N_ORDERS
# N_PAID N_SLASHED.
db_check() {
  local snap="$WORK/check"
  # Only whole lines: one the sequencer is writing may be cut.
  head -n "$(wc -l <"$ACKS")" "$ACKS" >"$snap.acks"
  if [ "$GROTH16" = 1 ]; then head -n "$(wc -l <"$G16_ACKS")" "$G16_ACKS" >>"$snap.acks"; fi
  told paid "$snap.paid"
  told slashed "$snap.slashed"
  local out
  out=$(psql -qtAX -v ON_ERROR_STOP=1 -F ' ' "$URL" <<SQL
CREATE TEMP TABLE acks (coid text, id bigint, status int, k int, attempts int);
\copy acks FROM '$snap.acks'
CREATE TEMP TABLE seqs (k int, account bigint);
INSERT INTO seqs VALUES (0, ${SEQ_IDS[0]}), (1, ${SEQ_IDS[1]});
CREATE TEMP TABLE paid (prover bigint, assignment bigint, amount bigint, kind text);
\copy paid FROM '$snap.paid'
CREATE TEMP TABLE slashed (prover bigint, assignment bigint, amount bigint, reason text);
\copy slashed FROM '$snap.slashed'
-- How often each payment and slash a prover was told of is in PostgreSQL (hash joins: the
-- tables have no index on assignment_id). Payments are settlements rows; the other kinds a
-- prover is paid (griefing_compensation, unprovable_fee) are ledger entries.
CREATE TEMP TABLE paid_found AS
  SELECT p.*, coalesce(c.n, 0) AS n
  FROM (SELECT DISTINCT * FROM paid) p
  LEFT JOIN (
    SELECT assignment_id, prover_id, amount,
           CASE kind::text WHEN 'settled' THEN 'payment' ELSE kind::text END AS kind, count(*) AS n
      FROM settlements GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT assignment_id, to_account, amount, reason::text, count(*)
      FROM ledger_entries WHERE reason::text IN ('griefing_compensation', 'unprovable_fee')
     GROUP BY 1, 2, 3, 4) c
    ON c.assignment_id = p.assignment AND c.prover_id = p.prover AND c.amount = p.amount
   AND c.kind = p.kind;
CREATE TEMP TABLE slashed_found AS
  SELECT s.*, coalesce(c.n, 0) AS n
  FROM (SELECT DISTINCT * FROM slashed) s
  LEFT JOIN (SELECT assignment_id, prover_id, amount, reason::text AS reason, count(*) AS n
               FROM slashings GROUP BY 1, 2, 3, 4) c
    ON c.assignment_id = s.assignment AND c.prover_id = s.prover AND c.amount = s.amount
   AND c.reason = s.reason;
SELECT
  -- lost: acknowledged, not (exactly) in PostgreSQL
  (SELECT count(*) FROM acks a JOIN seqs USING (k) WHERE NOT EXISTS (SELECT 1 FROM orders o
      WHERE o.id = a.id AND o.account_id = seqs.account AND o.client_order_id = a.coid))
  + (SELECT count(*) FROM paid_found WHERE n = 0)
  + (SELECT count(*) FROM slashed_found WHERE n = 0),
  -- duplicated: one client_order_id, two orders; one order, two client_order_ids; an
  -- assignment paid or slashed twice
  (SELECT count(*) FROM (SELECT k, coid FROM acks GROUP BY 1, 2 HAVING count(DISTINCT id) > 1) x)
  + (SELECT count(*) FROM (SELECT id FROM acks GROUP BY 1 HAVING count(DISTINCT (k, coid)) > 1) x)
  + (SELECT count(*) FROM (SELECT account_id, client_order_id FROM orders
        WHERE client_order_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) x)
  + (SELECT count(*) FROM (SELECT assignment_id, kind FROM settlements GROUP BY 1, 2
        HAVING count(*) > 1) x)
  + (SELECT count(*) FROM (SELECT assignment_id, reason FROM slashings GROUP BY 1, 2
        HAVING count(*) > 1) x)
  + (SELECT count(*) FROM paid_found WHERE n > 1) + (SELECT count(*) FROM slashed_found WHERE n > 1),
  (SELECT count(DISTINCT (k, coid)) FROM acks),
  (SELECT count(*) FROM paid_found),
  (SELECT count(*) FROM slashed_found);
-- The ledger (migrations/0012_ledger_check.sql, the check GET /v1/admin/ledger/check runs):
-- the books balance, and every account's buckets are the sum of its entries.
SELECT (SELECT ledger_imbalance() <> 0)::int + (SELECT count(*) FROM ledger_differences());
SQL
  ) || { fail "the database check did not run"; LOST=-1 DUP=-1 LEDGER_BAD=1; return; }
  read -r LOST DUP N_ORDERS N_PAID N_SLASHED LEDGER_BAD <<<"$(tr '\n' ' ' <<<"$out")"
  if [ "$LOST" != 0 ] || [ "$DUP" != 0 ]; then
    psql -qtAX "$URL" >&2 <<SQL || true
\echo chaos: the acknowledged writes PostgreSQL does not have exactly once:
CREATE TEMP TABLE acks (coid text, id bigint, status int, k int, attempts int);
\copy acks FROM '$snap.acks'
SELECT 'order', a.* FROM acks a WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = a.id
  AND o.client_order_id = a.coid) LIMIT 20;
SELECT 'settled twice', assignment_id, kind, count(*) FROM settlements GROUP BY 2, 3
  HAVING count(*) > 1 LIMIT 20;
SELECT 'slashed twice', assignment_id, reason, count(*) FROM slashings GROUP BY 2, 3
  HAVING count(*) > 1 LIMIT 20;
SQL
  fi
}
# replay_check ALL|SAMPLE: the acknowledged client_order_ids again; sets REPLAYED REPLAY_BAD.
replay_one() {  # replay_one ACKS FROM KEYS MARKET [INPUTS] [sample]
  local sample=() inputs=()
  [ "$6" = sample ] && sample=(--from-line "$2" --max-new 200 --sample 50)
  [ -n "$5" ] && inputs=(--inputs "$5")
  node "$CLIENT" replay --port "$PORT" --keys "$3" --market "$4" --max-price 100 \
    --deadline-ms "$7" "${inputs[@]}" --acks "$1" "${sample[@]}" 2>>"$WORK/replay.err"
}
replay_check() {
  local out r m f lines
  out=$(replay_one "$ACKS" "$REPLAY_FROM" "$SEQ_KEY_LIST" sha "" "$1" "$ORDER_DEADLINE_MS") ||
    { fail "replay did not run"; REPLAY_BAD=1; return; }
  r=$(field "['replayed']" <<<"$out"); m=$(field "['mismatched']" <<<"$out")
  f=$(field "['failed']" <<<"$out"); lines=$(field "['lines']" <<<"$out")
  REPLAY_FROM=$lines REPLAYED=$r REPLAY_BAD=$((m + f))
  if [ "$GROTH16" = 1 ]; then
    out=$(replay_one "$G16_ACKS" "$REPLAY_FROM_G16" "${SEQ_KEYS[0]}" g16 "$G16_INPUTS" "$1" 120000) ||
      { fail "replay did not run"; REPLAY_BAD=1; return; }
    REPLAYED=$((REPLAYED + $(field "['replayed']" <<<"$out")))
    REPLAY_BAD=$((REPLAY_BAD + $(field "['mismatched']" <<<"$out") + $(field "['failed']" <<<"$out")))
    REPLAY_FROM_G16=$(field "['lines']" <<<"$out")
  fi
}
# balances_check strict|load: GET /v1/accounts/me of every account against the accounts table.
# Under load the sequencers are paused (SIGSTOP; their requests in flight are answered when they
# go on) and an account is compared when the API's answer did not change across the database
# read; tried again up to 50 times ("busy" if it never held still). Strict (no load): the first
# read counts. Sets BAL: ok, busy or BAD.
ACCOUNT_IDS=$(IFS=,; echo "${SEQ_IDS[*]},$(for n in "${PROVERS[@]}"; do printf '%s,' "${PROVER_ID[$n]}"; done)")
ACCOUNT_IDS=${ACCOUNT_IDS%,}
balances_check() {
  local a1 db a2 i
  BAL=busy
  [ "$1" = load ] && kill -STOP "${SEQUENCER_PIDS[@]}"
  for i in $(seq 50); do
    a1=$(node "$CLIENT" balances --port "$PORT" --keys "$ALL_KEYS" | sort -n) || { BAL=BAD; break; }
    db=$(sql "SELECT id, available, escrowed, staked FROM accounts WHERE id IN ($ACCOUNT_IDS)
              ORDER BY id" | tr '|' ' ')
    a2=$(node "$CLIENT" balances --port "$PORT" --keys "$ALL_KEYS" | sort -n) || { BAL=BAD; break; }
    if [ "$1" = strict ] || [ "$a1" = "$a2" ]; then
      if [ "$a1" = "$db" ]; then BAL=ok; break; fi
      # Under load a balance may move and come back during the read: again, up to 50 times.
      if [ "$1" = strict ] || [ "$i" = 50 ]; then
        BAL=BAD
        { echo "chaos: balances from the API:"; echo "$a1"; echo "from PostgreSQL:"; echo "$db"; } >&2
        break
      fi
    fi
    sleep 0.1
  done
  [ "$1" = load ] && kill -CONT "${SEQUENCER_PIDS[@]}"
  return 0
}

# ---- The campaign --------------------------------------------------------------------------------
FAULTS=()
for _ in $(seq "$KILLS"); do FAULTS+=(server); done
for _ in $(seq "$OUTAGES"); do FAULTS+=(postgres); done
for _ in $(seq "$VERIFIER_KILLS"); do FAULTS+=(verifier); done
for _ in $(seq "$PROVER_KILLS"); do FAULTS+=(prover); done
for ((i = ${#FAULTS[@]} - 1; i > 0; i--)); do  # Fisher-Yates, from $RANDOM (seeded)
  j=$((RANDOM % (i + 1)))
  tmp=${FAULTS[i]} FAULTS[i]=${FAULTS[j]} FAULTS[j]=$tmp
done

TOTAL_LOST=0 TOTAL_DUP=0 TOTAL_REPLAY_BAD=0 ANY_LEDGER_BAD=0 ANY_BAL_BAD=0
KILL_RESTARTS=() OUTAGE_RECOVERIES=()
OUTAGE_MODE=immediate
FORMAT='%-4s %5s  %-9s %-27s %7s %6s %7s %5s %4s %11s %6s %6s %10s\n'
row() {  # row N KIND DETAIL RESTART_MS
  # shellcheck disable=SC2059
  printf "$FORMAT" "$1" "$((SECONDS - START_S))" "$2" "$3" "$N_ORDERS" "$N_PAID" "$N_SLASHED" \
    "$LOST" "$DUP" "$REPLAYED/$REPLAY_BAD" "$([ "$LEDGER_BAD" = 0 ] && echo ok || echo BAD)" "$BAL" "$4"
}
checks() {  # checks strict|load
  db_check
  replay_check "$([ "$1" = strict ] && echo all || echo sample)"
  balances_check "$1"
  TOTAL_LOST=$((TOTAL_LOST + LOST)) TOTAL_DUP=$((TOTAL_DUP + DUP))
  TOTAL_REPLAY_BAD=$((TOTAL_REPLAY_BAD + REPLAY_BAD))
  [ "$LEDGER_BAD" = 0 ] || ANY_LEDGER_BAD=1
  [ "$BAL" = BAD ] && ANY_BAL_BAD=1
  return 0
}

echo "chaos: seed $SEED; server on port $PORT, PostgreSQL on $PG_PORT; ${#FAULTS[@]} faults; work in $WORK"
# shellcheck disable=SC2059
printf "$FORMAT" '#' t_s fault detail orders paid slashed lost dup replay/bad ledger api=db restart_ms
checks load
row 0 none "before any fault" "-"

n=0
for kind in "${FAULTS[@]}"; do
  n=$((n + 1))
  # A random moment: 1 to 4 s of load (short: 1 to 2.5 s) since the system was back.
  if [ "$SHORT" = 1 ]; then sleep "$((1 + RANDOM % 2)).$((RANDOM % 10))"; else sleep "$((1 + RANDOM % 4)).$((RANDOM % 10))"; fi
  detail="" restart="-"
  case "$kind" in
    server)
      kill -KILL "$SERVER_PID"
      wait "$SERVER_PID" 2>/dev/null || true
      start_server_until_ready || break
      restart=$RESTART_MS
      KILL_RESTARTS+=("$RESTART_MS")
      detail="kill -9, restarted"
      [ "$RESTART_TRIES" -gt 1 ] && detail="kill -9, $RESTART_TRIES starts"
      ;;
    postgres)
      pg_as "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -w -m "$OUTAGE_MODE" stop >/dev/null
      sleep "$OUTAGE_S"  # the outage itself
      alive "$SERVER_PID" || fail "the server died while PostgreSQL was away"
      t0=$(now_ms)
      pg_start "$PGDATA_DIR"
      if alive "$SERVER_PID"; then
        wait_for 120 ready || fail "the server was not ready 120 s after PostgreSQL came back"
        restart=$(($(now_ms) - t0))
      else
        wait "$SERVER_PID" 2>/dev/null || true
        start_server_until_ready || break
        restart="$RESTART_MS (new)"
      fi
      OUTAGE_RECOVERIES+=("${restart%% *}")
      detail="${OUTAGE_S}s, stop -m $OUTAGE_MODE"
      OUTAGE_MODE=$([ "$OUTAGE_MODE" = immediate ] && echo fast || echo immediate)
      ;;
    verifier)
      # A worker of a kind that has work (the pool replaces a dead worker when the next job
      # reaches its slot; its job in flight, if any, is retried).
      vkind=sha256-preimage
      [ "$GROTH16" = 1 ] && [ $((RANDOM % 2)) = 1 ] && vkind=snarkjs-groth16
      workers_of() { pgrep -P "$SERVER_PID" -f "verifier_worker.js --kind $vkind" || true; }
      mapfile -t workers < <(workers_of)
      if [ "${#workers[@]}" = 0 ]; then
        fail "no $vkind verifier worker under the server (pid $SERVER_PID)"
        continue
      fi
      victim=${workers[RANDOM % ${#workers[@]}]}
      t0=$(now_ms)
      kill -KILL "$victim"
      # Replaced: as many workers as before, the victim not among them.
      replaced() {
        local now
        now=$(workers_of)
        ! grep -qx "$victim" <<<"$now" && [ "$(grep -c . <<<"$now")" -ge "${#workers[@]}" ]
      }
      if wait_for 60 replaced; then restart=$(($(now_ms) - t0)); else fail "$vkind verifier worker not replaced in 60 s"; fi
      detail="kill -9 $vkind"
      ;;
    prover)
      name=${PROVERS[RANDOM % ${#PROVERS[@]}]}
      # Mid-stream: wait (up to 10 s) until it holds work not yet settled.
      holds() { [ "$(sql "SELECT count(*) FROM assignments WHERE prover_id = ${PROVER_ID[$name]} AND status IN ('assigned', 'delivered', 'late', 'late_delivered')")" -gt 0 ]; }
      held=$(wait_for 10 holds && echo holding || echo idle)
      before=$(connected_count "$name")
      t0=$(now_ms)
      kill -KILL "$(cat "$WORK/$name.pid")"
      reconnected() { [ "$(connected_count "$name")" -gt "$before" ]; }
      if wait_for 60 reconnected; then
        restart=$(($(now_ms) - t0))
      else
        fail "prover $name did not reconnect within 60 s"
      fi
      detail="kill -9 $name ($held)"
      ;;
  esac
  checks load
  row "$n" "$kind" "$detail" "$restart"
done

# ---- The end: load stops, the work drains, everything once more --------------------------------
touch "$WORK/stop-sequencers"
for p in "${SEQUENCER_PIDS[@]}"; do
  # Bounded: each sequencer finishes the order in hand (at most its give-up time, 180 s).
  wait "$p" || fail "a sequencer exited non-zero: $(tail -3 "$WORK/sequencer.err")"
done
SEQUENCER_PIDS=()
open_work() {
  sql "SELECT (SELECT count(*) FROM orders WHERE status = 'open')
            + (SELECT count(*) FROM assignments WHERE status IN ('assigned', 'delivered'))"
}
drain_s=$(((ORDER_DEADLINE_MS + 60000) / 1000))
[ "$GROTH16" = 1 ] && drain_s=$((120 + 60))
t0=$(now_ms)
no_open_work() { [ "$(open_work)" = 0 ]; }
if wait_for "$drain_s" no_open_work; then
  drain_ms=$(($(now_ms) - t0))
else
  fail "work still open $drain_s s after the load stopped: $(sql "SELECT status, count(*) FROM orders GROUP BY 1" | tr '\n' ' ')"
  drain_ms=-
fi
# Every prover connected now: its last connection line is a connect.
for name in "${PROVERS[@]}"; do
  last=$(grep -E 'msg=(connected|disconnected)' "$WORK/$name.log" | tail -1)
  [[ "$last" == *msg=connected* ]] || fail "prover $name is not connected at the end: $last"
done
checks strict
row end drained "open work done" "$drain_ms"

honest_slashed=$(sql "SELECT count(*) FROM slashings WHERE prover_id IN (${PROVER_ID[honest-a]}, ${PROVER_ID[honest-b]})")
orders_by_status=$(sql "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM
  (SELECT status, count(*) AS n FROM orders GROUP BY 1) x")
seq_summary=$(cat "$WORK/sequencer.json" 2>/dev/null || echo '{}')
# The server stops cleanly: SIGTERM, exit 0 (the debug build's sanitizers report at exit).
kill -TERM "$SERVER_PID"
server_rc=0
server_gone() { ! alive "$SERVER_PID"; }
if ! wait_for 60 server_gone; then
  fail "the server did not stop within 60 s of SIGTERM"
  kill -KILL "$SERVER_PID"
fi
wait "$SERVER_PID" || server_rc=$?
SERVER_PID=""
[ "$server_rc" = 0 ] || fail "the server exited with $server_rc after SIGTERM (log: $WORK/server.log)"

stats() {  # stats MS...: "median/max" or "-"
  [ $# -gt 0 ] || { echo -; return; }
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] "/" a[NR]}'
}
echo
echo "chaos: ${#KILL_RESTARTS[@]} server kills (restart to ready ms, median/max: $(stats "${KILL_RESTARTS[@]}")), ${#OUTAGE_RECOVERIES[@]} PostgreSQL outages of ${OUTAGE_S} s (ready again ms after it came back: $(stats "${OUTAGE_RECOVERIES[@]}")), $VERIFIER_KILLS verifier kills, $PROVER_KILLS prover kills"
echo "chaos: acknowledged: $N_ORDERS orders, $N_PAID payments, $N_SLASHED slashes; lost $TOTAL_LOST, duplicated $TOTAL_DUP, replays answered otherwise $TOTAL_REPLAY_BAD; ledger $([ "$ANY_LEDGER_BAD" = 0 ] && echo balanced || echo UNBALANCED); API balances $([ "$ANY_BAL_BAD" = 0 ] && echo "= database" || echo "DIFFER")"
echo "chaos: orders: $orders_by_status; slashes of the honest provers: $honest_slashed; sequencer: $seq_summary; $SERVER_STARTS server starts; server exit on SIGTERM $server_rc; $((SECONDS - START_S)) s"
[ "$TOTAL_LOST" = 0 ] || fail "$TOTAL_LOST acknowledged writes lost"
[ "$TOTAL_DUP" = 0 ] || fail "$TOTAL_DUP duplicated"
[ "$TOTAL_REPLAY_BAD" = 0 ] || fail "$TOTAL_REPLAY_BAD replays not answered 200 with the same id (see $WORK/replay.err)"
[ "$ANY_LEDGER_BAD" = 0 ] || fail "the ledger did not balance"
[ "$ANY_BAL_BAD" = 0 ] || fail "API balances differ from the database"
if [ "$FAILED" != 0 ]; then
  echo "chaos: FAILED"
  exit 1
fi
echo "chaos: OK"
