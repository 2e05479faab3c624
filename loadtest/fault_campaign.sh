#!/usr/bin/env bash
# fault_campaign.sh — the two faults of issue #11, measured against a server binary (so the same
# script gives the "before" of an older build and the "after" of this one). Loopback only; every
# step is bounded in time.
#
#   loadtest/fault_campaign.sh dual  SERVER_BIN   two servers on one database, order load on both
#                                                 for DUAL_SECONDS (15): 201s answered by each vs
#                                                 orders rows in PostgreSQL
#   loadtest/fault_campaign.sh flood SERVER_BIN   8 prover connections announce 63 MiB proofs
#                                                 for an assignment not theirs and send it all
#                                                 (loadtest/proof_flood.js): server RSS before
#                                                 and at peak
#   loadtest/fault_campaign.sh crash SERVER_BIN   the crash window: the journal's row lock is held
#                                                 (a stand-in for a slow commit) while an honest
#                                                 proofbook-prover delivers; the server is killed
#                                                 with the proof stored and its delivery not yet
#                                                 journaled, restarted after the due time; was
#                                                 the prover slashed or paid?
#
# Needs DATABASE_URL pointing at a PostgreSQL where it may create and drop databases (e.g. the
# private cluster of ./proofbook.sh start-db), and the release clients and load generator of this
# checkout (./proofbook.sh build). Prints one result line per run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:?usage: fault_campaign.sh dual|crash|flood SERVER_BIN}
SERVER_BIN=$(realpath "${2:?usage: fault_campaign.sh dual|crash SERVER_BIN}")
LOAD_BIN="$ROOT/build/release/loadtest/proofbook-load"
PROVER_BIN="$ROOT/build/release/clients/proofbook-prover"
: "${DATABASE_URL:?set DATABASE_URL}"
DUAL_SECONDS=${DUAL_SECONDS:-15}

WORK=$(mktemp -d /tmp/proofbook-faults.XXXXXX)
DB="faults_$$"
BASE_URL=${DATABASE_URL%/*}
URL="$BASE_URL/$DB"
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

sql() { psql -qtAX "$URL" -c "$1"; }
sql_is() { test "$(sql "$1")" = "$2"; }  # sql_is QUERY VALUE, for wait_for
# wait_for SECONDS COMMAND...
# shellcheck source=lib.sh
source "$ROOT/loadtest/lib.sh"
port_of() { wait_for 30 test -s "$1" && head -1 "$1"; }
start_server() {  # start_server NAME: serves on a free port; sets PORT
  "$SERVER_BIN" serve --database-url "$URL" --listen 127.0.0.1:0 --port-file "$WORK/$1.port" \
    --log-level info >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  LAST_PID=$!
}
post() {  # post PORT PATH KEY BODY
  curl -sS -X POST "http://127.0.0.1:$1$2" -H "Authorization: Bearer $3" \
    -H 'Content-Type: application/json' -d "$4"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

psql -q "$DATABASE_URL" -c "CREATE DATABASE $DB" >/dev/null
"$SERVER_BIN" migrate --database-url "$URL" >/dev/null 2>&1
ADMIN=$("$SERVER_BIN" bootstrap-admin --database-url "$URL" 2>/dev/null | grep '^pbk_')

setup() {  # setup PORT: a sha256-preimage market and a sequencer with money; sets SEQ_KEY
  post "$1" /v1/admin/markets "$ADMIN" \
    '{"id":"sha","proof_system":"sha256","verifier":"sha256-preimage","min_stake":100,"min_slash":100}' >/dev/null
  local seq
  seq=$(post "$1" /v1/admin/accounts "$ADMIN" '{"role":"sequencer","name":"s"}')
  SEQ_KEY=$(field "['api_key']" <<<"$seq")
  post "$1" "/v1/admin/accounts/$(field "['account']['id']" <<<"$seq")/deposits" "$ADMIN" \
    '{"amount":1000000000000}' >/dev/null
}

count_201() { python3 -c "import json,sys; print(json.load(sys.stdin)['statuses'].get('201', 0))"; }

case "$MODE" in
  dual)
    start_server a
    A_PID=$LAST_PID
    A_PORT=$(port_of "$WORK/a.port")
    setup "$A_PORT"
    start_server b
    B_PID=$LAST_PID
    if wait_for 30 test -s "$WORK/b.port"; then
      B_PORT=$(head -1 "$WORK/b.port")
    else
      B_PORT=""
    fi
    b_exit=""
    if ! kill -0 "$B_PID" 2>/dev/null; then
      set +e
      wait "$B_PID"
      b_exit=$?
      set -e
    fi
    load() {  # load PORT OUT
      "$LOAD_BIN" --port "$1" --kind orders --api-key "$SEQ_KEY" --market sha --max-price 10 \
        --deadline-ms 600000 -c 16 -d "$DUAL_SECONDS" --max-error-rate 1 --json >"$2" 2>/dev/null
    }
    load "$A_PORT" "$WORK/a.json" &
    LA=$!
    if [ -n "$B_PORT" ]; then
      load "$B_PORT" "$WORK/b.json" &
      LB=$!
      wait "$LB"
    fi
    wait "$LA"
    a201=$(count_201 <"$WORK/a.json")
    b201=0
    [ -n "$B_PORT" ] && b201=$(count_201 <"$WORK/b.json")
    rows=$(sql "SELECT count(*) FROM orders")
    lost=$((a201 + b201 - rows))
    [ "$lost" -lt 0 ] && lost=0
    echo "dual: server A 201s=$a201, server B 201s=$b201 (B exit ${b_exit:-none: it served}), orders in PostgreSQL=$rows, acknowledged but not committed >= $lost"
    grep -h -m1 -E "write_lease|journal_commit_failed" "$WORK/b.log" || true
    ;;
  crash)
    start_server s1
    S1=$LAST_PID
    PORT=$(port_of "$WORK/s1.port")
    setup "$PORT"
    prover=$(post "$PORT" /v1/admin/accounts "$ADMIN" '{"role":"prover","name":"p"}')
    P_KEY=$(field "['api_key']" <<<"$prover")
    P_ID=$(field "['account']['id']" <<<"$prover")
    post "$PORT" "/v1/admin/accounts/$P_ID/deposits" "$ADMIN" '{"amount":10000}' >/dev/null
    # An honest prover that takes 1 s to prove a 2 s job (due 2.4 s after assignment).
    "$PROVER_BIN" --url "http://127.0.0.1:$PORT" --api-key "$P_KEY" --stake 5000 \
      --offer market=sha,price=50,est_ms=2000,capacity=1 --delay-ms 1000 --max-backoff-ms 500 \
      >"$WORK/prover.log" 2>&1 &
    PIDS+=($!)
    wait_for 20 grep -q offer_placed "$WORK/prover.log"
    post "$PORT" /v1/orders "$SEQ_KEY" \
      '{"market":"sha","max_price":100,"deadline_ms":60000,"inputs":{"sha256":"'"$(printf crash | sha256sum | cut -d' ' -f1)"'","preimage":"crash"}}' >/dev/null
    wait_for 10 sql_is "SELECT count(*) FROM assignments" 1
    # Hold the journal's row lock: the delivery's batch waits behind it.
    psql -qtAX "$URL" -c "BEGIN; SELECT 1 FROM engine_state FOR UPDATE; SELECT pg_sleep(4); COMMIT;" \
      >/dev/null 2>&1 &
    LOCK=$!
    if ! wait_for 10 sql_is "SELECT count(*) FROM proofs" 1; then
      echo "crash: the proof was never stored; prover log:" >&2
      cat "$WORK/prover.log" >&2
      exit 1
    fi
    kill -KILL "$S1"
    wait "$LOCK" || true
    stored=$(sql "SELECT count(*) FROM proofs")
    status=$(sql "SELECT status FROM assignments")
    due=$(sql "SELECT due_at_ms FROM assignments")
    # Down past the due time, then back on the same port (the prover reconnects by itself).
    while [ "$(date +%s%3N)" -le "$((due + 300))" ]; do sleep 0.1; done
    "$SERVER_BIN" serve --database-url "$URL" --listen "127.0.0.1:$PORT" --log-level info \
      >"$WORK/s2.log" 2>&1 &
    PIDS+=($!)
    sleep 6
    echo "crash: before the restart: proofs stored=$stored, assignment $status; after: slashings=$(sql 'SELECT count(*) FROM slashings') settlements=$(sql 'SELECT count(*) FROM settlements') assignment=$(sql 'SELECT status FROM assignments') prover staked=$(sql "SELECT staked FROM accounts WHERE id = $P_ID") (of 5000)"
    grep -h -E "msg=(slashed|proof_result|paid)|already delivered|proof_already" "$WORK/prover.log" | sed 's/^/  prover: /' || true
    ;;
  flood)
    start_server f
    F_PID=$LAST_PID
    PORT=$(port_of "$WORK/f.port")
    prover=$(post "$PORT" /v1/admin/accounts "$ADMIN" '{"role":"prover","name":"p"}')
    sleep 1  # past start-up allocations
    node "$ROOT/loadtest/proof_flood.js" "$PORT" "$(field "['api_key']" <<<"$prover")" "$F_PID" 8 63
    ;;
  *)
    echo "usage: fault_campaign.sh dual|crash|flood SERVER_BIN" >&2
    exit 2
    ;;
esac
