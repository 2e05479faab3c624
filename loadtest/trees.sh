#!/usr/bin/env bash
# loadtest/trees.sh — proof trees under load (issue #17), end to end, on loopback only.
#
#   loadtest/trees.sh   build (release), start a throwaway PostgreSQL with durable settings,
#                       migrate, serve with an ECVRF master key (merges are drawn among their
#                       children's provers), create markets `leaf` (sha256-preimage) and
#                       `merge` (sha256-merge), a funded sequencer and TREES_PROVERS staked
#                       proofbook-prover workers, then run `proofbook-load --kind trees`: each
#                       connection places a tree of TREES_LEAVES leaves and long-polls its root
#                       before placing the next; one run per number of connections. Prints
#                       trees/s, root latency and the CPU each process used; writes the report
#                       to TREES_REPORT.
#
# Environment (defaults in brackets):
#   LOADTEST_SKIP_BUILD=1       use the binaries already in build/release
#   TREES_LEAVES [16]           leaves per tree
#   TREES_CONNECTIONS [1 8 32]  trees in flight (one per connection): a run for each
#   TREES_SECONDS [15]          seconds of placing
#   TREES_PROVERS [4]           proofbook-prover workers, each with capacity TREES_CAPACITY per market
#   TREES_CAPACITY [16]
#   TREES_EST_MS [1000]         the provers' est_ms
#   TREES_REPORT [loadtest/REPORT_TREES.md]
# Takes about a minute after the build; the whole script stops itself after 10 minutes.
set -euo pipefail

HARD_LIMIT_S=600
if [ -z "${LOADTEST_UNDER_TIMEOUT:-}" ]; then
  LOADTEST_UNDER_TIMEOUT=1 exec timeout --foreground --kill-after=30 "$HARD_LIMIT_S" "$0" "$@"
fi

LOADTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../proofbook.sh
source "$LOADTEST_DIR/../proofbook.sh"
# shellcheck source=lib.sh
source "$LOADTEST_DIR/lib.sh"

LEAVES=${TREES_LEAVES:-16}
CONNECTIONS=${TREES_CONNECTIONS:-1 8 32}
SECONDS_OF_LOAD=${TREES_SECONDS:-15}
PROVERS=${TREES_PROVERS:-4}
CAPACITY=${TREES_CAPACITY:-16}
# The provers' estimate, so their due time (est_ms plus the market's grace). A prover's proofs
# reach the server one at a time over its connection, each header checked against PostgreSQL
# first (about 5 ms on this machine): a prover given CAPACITY jobs at once delivers the last
# CAPACITY x 5 ms after the first, and must estimate for that (README "Prove a block as a tree").
EST_MS=${TREES_EST_MS:-1000}
REPORT=${TREES_REPORT:-$ROOT/loadtest/REPORT_TREES.md}
BIN="$ROOT/build/release"

WORK=""
SERVER_PID=""
PROVER_PIDS=()
cleanup() {
  local rc=$?
  set +e
  for pid in "${PROVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  for pid in "${PROVER_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  if [ -n "$WORK" ]; then
    pg_stop "$WORK/data"
    if [ "$rc" != 0 ] && [ -f "$WORK/server.log" ]; then
      log "server log (last 20 lines):"
      tail -n 20 "$WORK/server.log" >&2
    fi
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${LOADTEST_SKIP_BUILD:-0}" != 1 ]; then
  "$ROOT/proofbook.sh" build release
  cmake --build --preset release --target proofbook-load
fi
for b in server/proofbook-server clients/proofbook-prover loadtest/proofbook-load; do
  [ -x "$BIN/$b" ] || die "no $BIN/$b (run without LOADTEST_SKIP_BUILD)"
done
command -v jq >/dev/null || die "jq is needed to read proofbook-load --json"

# --- throwaway PostgreSQL, durable (every COMMIT waits for its WAL fsync) -------------------
WORK=$(mktemp -d /tmp/proofbook-trees.XXXXXX)
chmod 755 "$WORK"
pg_init "$WORK/data"
PG_PORT=$(free_port)
pg_configure "$WORK/data" "$PG_PORT" "fsync = on" "synchronous_commit = on" "max_connections = 100"
pg_start "$WORK/data"
psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -X -q -d postgres -c "CREATE DATABASE proofbook"
export DATABASE_URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/proofbook"

# --- server with an ECVRF master key ------------------------------------------------------
"$BIN/server/proofbook-server" migrate >"$WORK/migrate.log" 2>&1 ||
  { cat "$WORK/migrate.log" >&2; die "migrate failed"; }
"$BIN/server/proofbook-server" bootstrap-admin --key-file "$WORK/admin.key" >/dev/null 2>&1 ||
  die "bootstrap-admin failed"
ADMIN_KEY=$(tr -d '[:space:]' <"$WORK/admin.key")
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$WORK/vrf.key"
chmod 600 "$WORK/vrf.key"
"$BIN/server/proofbook-server" serve --listen 127.0.0.1:0 --port-file "$WORK/port" \
  --log-level warn --ip-request-rate 0 --vrf-master-key-file "$WORK/vrf.key" \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_for 10 test -s "$WORK/port" || die "the server wrote no port file in 10 s"
PORT=$(tr -d '[:space:]' <"$WORK/port")
BASE="http://127.0.0.1:$PORT"
wait_for 10 curl -sf -o /dev/null "$BASE/readyz" || die "the server is not ready"

admin() {  # admin PATH BODY: the response body; fails on a non-2xx
  curl -sS --fail-with-body -X POST -H "Authorization: Bearer $ADMIN_KEY" \
    -H 'Content-Type: application/json' -d "$2" "$BASE$1"
}
account() {  # account ROLE NAME DEPOSIT: "id key"
  local json id
  json=$(admin /v1/admin/accounts "{\"role\":\"$1\",\"name\":\"$2\"}")
  id=$(jq -r '.account.id' <<<"$json")
  admin "/v1/admin/accounts/$id/deposits" "{\"amount\":$3}" >/dev/null
  echo "$id $(jq -r '.api_key' <<<"$json")"
}
admin /v1/admin/markets '{"id":"leaf","proof_system":"sha256","verifier":"sha256-preimage","min_stake":100}' >/dev/null
admin /v1/admin/markets '{"id":"merge","proof_system":"sha256","verifier":"sha256-merge","min_stake":100}' >/dev/null
read -r _ SEQ_KEY <<<"$(account sequencer load 1000000000000)"
for i in $(seq 1 "$PROVERS"); do
  read -r _ key <<<"$(account prover "p$i" 1000000)"
  "$BIN/clients/proofbook-prover" --url "$BASE" --api-key "$key" --stake 100000 \
    --offer "market=leaf,price=1,est_ms=$EST_MS,capacity=$CAPACITY" \
    --offer "market=merge,price=1,est_ms=$EST_MS,capacity=$CAPACITY" >"$WORK/prover$i.log" 2>&1 &
  PROVER_PIDS+=($!)
done
for i in $(seq 1 "$PROVERS"); do
  wait_for 20 bash -c "[ \$(grep -c msg=offer_placed '$WORK/prover$i.log') -ge 2 ]" ||
    die "prover $i placed no offers: $(tail -n 5 "$WORK/prover$i.log")"
done
log "server on $BASE, $PROVERS provers ready; placing $LEAVES-leaf trees for $SECONDS_OF_LOAD s on $CONNECTIONS connections"

# --- the run --------------------------------------------------------------------------------
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
provers_cpu() { local t=0 pid; for pid in "${PROVER_PIDS[@]}"; do t=$((t + $(cpu_ticks "$pid"))); done; echo "$t"; }
PG_POSTMASTER=$(head -n 1 "$WORK/data/postmaster.pid")
pg_cpu() {  # the cluster: the postmaster, its live backends and its reaped children
  local t child
  t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$PG_POSTMASTER/stat")
  for child in $(pgrep -P "$PG_POSTMASTER"); do t=$((t + $(cpu_ticks "$child"))); done
  echo "$t"
}
ticks_s() { awk -v a="$1" -v b="$2" -v t="$clk_tck" 'BEGIN { printf "%.1f", (b - a) / t }'; }
ROWS=()
TOTAL_COMPLETED=0
# One run per number of trees in flight; each on the same server, one after the other.
for conns in $CONNECTIONS; do
  pg0=$(pg_cpu)
  server0=$(cpu_ticks "$SERVER_PID")
  provers0=$(provers_cpu)
  slashes0=$(psql "$DATABASE_URL" -X -tA -c 'SELECT count(*) FROM slashings')
  R="$WORK/load-$conns.json"
  "$BIN/loadtest/proofbook-load" --port "$PORT" --kind trees --api-key "$SEQ_KEY" \
    --tree-leaves "$LEAVES" --max-price 1 --merge-price 1 --deadline-ms 120000 -c "$conns" \
    -d "$SECONDS_OF_LOAD" --drain 30 --json --label "trees-$LEAVES-c$conns" >"$R" || true
  cpu="$(ticks_s "$server0" "$(cpu_ticks "$SERVER_PID")") / $(ticks_s "$pg0" "$(pg_cpu)") / $(ticks_s "$provers0" "$(provers_cpu)")"
  slashes=$(($(psql "$DATABASE_URL" -X -tA -c 'SELECT count(*) FROM slashings') - slashes0))
  jq -e '.trees' "$R" >/dev/null || die "proofbook-load gave no trees report: $(cat "$R")"
  q() { jq -r "$1" "$R"; }
  ROWS+=("| $conns | $(q .trees.completed) in $(q '.trees.elapsed_s * 10 | round / 10') s | $(q '.trees.completed_per_s * 100 | round / 100') | $(q "(.trees.completed_per_s * $((2 * LEAVES - 1)) | round)") | $(q '[.trees.root_latency_ms.p50, .trees.root_latency_ms.p90, .trees.root_latency_ms.p99, .trees.root_latency_ms.max] | map(round) | join(" / ")') | $(q '[.latency_ms.p50, .latency_ms.p99] | map(. * 10 | round / 10) | join(" / ")') | $(q .trees.failed) / $(q .trees.unresolved) | $slashes | $(q '[.statuses | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0') / $(q '[.failures[]] | add // 0') | $cpu |")
  TOTAL_COMPLETED=$((TOTAL_COMPLETED + $(q .trees.completed)))
  log "$conns in flight: $(q .trees.completed) trees, $(q '.trees.completed_per_s * 100 | round / 100') trees/s"
done
{
  echo "# Proof trees under load (\`loadtest/trees.sh\`)"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?');" \
    "PostgreSQL with fsync on; $PROVERS proofbook-prover workers (capacity $CAPACITY per market," \
    "est_ms $EST_MS); $LEAVES-leaf sha256 trees ($((2 * LEAVES - 1)) nodes, $((LEAVES - 1)) merges" \
    "drawn by ECVRF among their children's provers); $SECONDS_OF_LOAD s of placing per run, each" \
    "connection placing a tree and long-polling its root before the next."
  echo
  echo "| in flight | trees completed | trees/s | proofs/s | root latency p50 / p90 / p99 / max, ms | POST /v1/trees p50 / p99, ms | failed / unresolved | slashes | HTTP errors / transport failures | CPU s, server / PostgreSQL / provers |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Command: \`TREES_LEAVES=$LEAVES TREES_CONNECTIONS=\"$CONNECTIONS\" TREES_SECONDS=$SECONDS_OF_LOAD TREES_PROVERS=$PROVERS TREES_CAPACITY=$CAPACITY TREES_EST_MS=$EST_MS loadtest/trees.sh\`"
} | tee "$REPORT"
[ "$TOTAL_COMPLETED" -gt 0 ] || die "no tree completed"
