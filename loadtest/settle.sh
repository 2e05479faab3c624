#!/usr/bin/env bash
# loadtest/settle.sh — Groth16 settlement end to end (issue #19), on loopback only.
#
#   loadtest/settle.sh  build (release: proofbook-load and proofbook-server), start a throwaway
#                       PostgreSQL with durable settings, migrate, serve with SETTLE_WORKERS
#                       Groth16 verifier workers, create a groth16 market (snarkjs-groth16, the
#                       fixtures' verification key), SETTLE_SEQUENCERS funded sequencers and
#                       SETTLE_PROVERS staked provers, then run `proofbook-load --kind settle`
#                       for each share of invalid proofs in SETTLE_INVALID_SHARES: once closed
#                       loop (each sequencer connection places an order and waits until it is
#                       paid: SETTLE_SEQUENCERS orders in flight, the most the server settles)
#                       and once at SETTLE_RATE orders/s (latency under a load it keeps up with).
#                       The provers answer every assignment at once with the fixtures' valid
#                       proof, or the tampered one for the chosen share; the server verifies,
#                       pays or slashes and reassigns. Writes the report to SETTLE_REPORT.
#
# The same proof serves every order: all orders carry the fixtures' public signals, and nothing
# in the server refuses a proof already used for another order (proofs are stored per
# assignment; there is no replay rule; `repeat_window_ms` only doubles repeat slashes and is 0
# here).
#
# Environment (defaults in brackets):
#   LOADTEST_SKIP_BUILD=1          use the binaries already in build/release
#   SETTLE_PROVERS [4]             prover accounts, one WebSocket and one offer each
#   SETTLE_CAPACITY [64]           each offer's capacity (jobs at once)
#   SETTLE_EST_MS [10000]          each offer's est_ms (the due time; the provers answer at once)
#   SETTLE_SEQUENCERS [64]         sequencer accounts, one HTTP connection each (closed loop:
#                                  orders in flight)
#   SETTLE_SECONDS [20]            seconds of placing per run
#   SETTLE_DRAIN [15]              seconds after that for the orders placed to be paid
#   SETTLE_RATE [100]              orders/s of the fixed-rate runs; 0: no fixed-rate runs
#   SETTLE_INVALID_SHARES ["0 0.10"]  shares of all proofs sent that are invalid: runs for each
#   SETTLE_WORKERS [2]             --verifier-workers
#   SETTLE_SERVER_ARGS             more `serve` flags (e.g. --verifier-script FILE)
#   SETTLE_SERVER_BIN              the server to measure [build/release/server/proofbook-server]
#   SETTLE_NOTE                    a line for the report's header (e.g. what that server is)
#   SETTLE_FIXTURES [var/fixtures/groth16]  made by tests/fixtures/groth16.sh when missing
#   SETTLE_REPORT [loadtest/REPORT_SETTLE.md]
# About 2 minutes after the build with the defaults; the whole script stops itself after 7.
set -euo pipefail

HARD_LIMIT_S=420
if [ -z "${LOADTEST_UNDER_TIMEOUT:-}" ]; then
  LOADTEST_UNDER_TIMEOUT=1 exec timeout --foreground --kill-after=30 "$HARD_LIMIT_S" "$0" "$@"
fi

LOADTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../proofbook.sh
source "$LOADTEST_DIR/../proofbook.sh"
# shellcheck source=lib.sh
source "$LOADTEST_DIR/lib.sh"

PROVERS=${SETTLE_PROVERS:-4}
CAPACITY=${SETTLE_CAPACITY:-64}
EST_MS=${SETTLE_EST_MS:-10000}
SEQUENCERS=${SETTLE_SEQUENCERS:-64}
SECONDS_OF_LOAD=${SETTLE_SECONDS:-20}
DRAIN=${SETTLE_DRAIN:-15}
RATE=${SETTLE_RATE:-100}
SHARES=${SETTLE_INVALID_SHARES:-0 0.10}
WORKERS=${SETTLE_WORKERS:-2}
read -r -a EXTRA_SERVER_ARGS <<<"${SETTLE_SERVER_ARGS:-}"
FIXTURES=${SETTLE_FIXTURES:-$ROOT/var/fixtures/groth16}
REPORT=${SETTLE_REPORT:-$ROOT/loadtest/REPORT_SETTLE.md}
BIN="$ROOT/build/release"
SERVER_BIN=${SETTLE_SERVER_BIN:-$BIN/server/proofbook-server}
LOAD_BIN="$BIN/loadtest/proofbook-load"

WORK=""
SERVER_PID=""
trap load_cleanup EXIT
trap 'exit 130' INT TERM

if [ "${LOADTEST_SKIP_BUILD:-0}" != 1 ]; then
  [ -f "$BIN/build.ninja" ] || cmake --preset release
  nice -n 10 cmake --build --preset release --target proofbook-load proofbook-server
fi
for b in "$SERVER_BIN" "$LOAD_BIN"; do
  [ -x "$b" ] || die "no $b (run without LOADTEST_SKIP_BUILD)"
done
command -v jq >/dev/null || die "jq is needed"

# --- the fixtures: one valid proof for every order, the tampered one as the invalid proof -----
if [ ! -s "$FIXTURES/valid/proof.json" ] || [ ! -s "$FIXTURES/tampered/proof.json" ]; then
  [ -d "$ROOT/var/node/node_modules/snarkjs" ] || "$ROOT/proofbook.sh" node-deps
  "$ROOT/tests/fixtures/groth16.sh" "$FIXTURES"
fi
WORK=$(mktemp -d /tmp/proofbook-settle.XXXXXX)
chmod 755 "$WORK"
# Copied once, so that fixtures remade meanwhile cannot mix a key and proofs of two set-ups.
for f in verification_key.json valid/proof.json valid/public.json tampered/proof.json; do
  [ -s "$FIXTURES/$f" ] || die "no $FIXTURES/$f"
  cp "$FIXTURES/$f" "$WORK/${f//\//-}"
done
INPUTS=$(jq -c '{public: .}' "$WORK/valid-public.json")

# --- server ---------------------------------------------------------------------------------
load_cluster
load_migrate
load_serve serve --listen 127.0.0.1:0 --port-file "$WORK/port" --log-level warn \
  --ip-request-rate 0 --verifier-workers "$WORKERS" "${EXTRA_SERVER_ARGS[@]}"

account() {  # account ROLE NAME DEPOSIT: "id key"
  local json id
  json=$(admin /v1/admin/accounts "{\"role\":\"$1\",\"name\":\"$2\"}")
  id=$(jq -r '.account.id' <<<"$json")
  admin "/v1/admin/accounts/$id/deposits" "{\"amount\":$3}" >/dev/null
  echo "$id $(jq -r '.api_key' <<<"$json")"
}
# Every slash is 1 (min_slash 1, slash_multiplier_bps 10000 of price 1, never doubled), so no
# prover is ever jailed by the invalid share.
admin /v1/admin/markets "{\"id\":\"g16\",\"proof_system\":\"groth16\",\"verifier\":\"snarkjs-groth16\",\"min_stake\":100,\"min_slash\":1,\"slash_multiplier_bps\":10000,\"repeat_window_ms\":0,\"verification_key\":$(cat "$WORK/verification_key.json")}" >/dev/null
(umask 077 && : >"$WORK/sequencers.keys" && : >"$WORK/provers.keys")
for i in $(seq 1 "$SEQUENCERS"); do
  read -r _ key <<<"$(account sequencer "seq$i" 1000000000000)"
  echo "$key" >>"$WORK/sequencers.keys"
done
for i in $(seq 1 "$PROVERS"); do
  read -r _ key <<<"$(account prover "prover$i" 10000000)"
  curl -sS --fail-with-body -X POST -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d '{"amount":1000000}' "$BASE/v1/stake" >/dev/null
  echo "$key" >>"$WORK/provers.keys"
done
NODE_PIDS=$(pgrep -P "$SERVER_PID" | tr '\n' ' ')
log "market g16 (snarkjs-groth16), $SEQUENCERS sequencers, $PROVERS provers staked; verifier worker pids: $NODE_PIDS"

# --- the runs -----------------------------------------------------------------------------------
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
sum_ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(cpu_ticks "$pid"))); done; echo "$t"; }
PG_POSTMASTER=$(head -n 1 "$WORK/data/postmaster.pid")
pg_cpu() {  # the cluster: the postmaster, its live backends and its reaped children
  local t child
  t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$PG_POSTMASTER/stat")
  for child in $(pgrep -P "$PG_POSTMASTER"); do t=$((t + $(cpu_ticks "$child"))); done
  echo "$t"
}
# The whole machine's busy ticks (all CPUs), so that what else ran during a run shows.
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
ticks_s() { awk -v a="$1" -v b="$2" -v t="$clk_tck" 'BEGIN { printf "%.1f", (b - a) / t }'; }
db_count() { "${PSQL[@]}" -d proofbook -tA -c "$1"; }

UPTIME_BEFORE=$(uptime)
declare -A PER_VERIFICATION NODE_CORES OTHER_CORES RATE_OF
ROWS=()
COMMANDS=()
TOTAL_SETTLED=0
# run NAME ARGS...: one proofbook-load --kind settle run; a row of the report.
run() {
  local name=$1
  shift
  local args=(--port "$PORT" --kind settle --market g16 --sequencer-keys "$WORK/sequencers.keys"
    --prover-keys "$WORK/provers.keys" --valid-proof "$WORK/valid-proof.json"
    --invalid-proof "$WORK/tampered-proof.json" --inputs "$INPUTS" --max-price 1
    --offer-price 1 --offer-est-ms "$EST_MS" --offer-capacity "$CAPACITY" -c "$SEQUENCERS"
    -d "$SECONDS_OF_LOAD" --drain "$DRAIN" --json --label "$name" "$@")
  COMMANDS+=("proofbook-load ${args[*]}")
  # Node workers replaced after a crash are new children: look them up each run.
  local nodes server0 nodes0 pg0 busy0 t0 slashings0 settlements0
  read -r -a nodes <<<"$(pgrep -P "$SERVER_PID" | tr '\n' ' ')"
  server0=$(cpu_ticks "$SERVER_PID") nodes0=$(sum_ticks "${nodes[@]}") pg0=$(pg_cpu)
  busy0=$(machine_busy)
  slashings0=$(db_count "SELECT count(*) FROM slashings")
  settlements0=$(db_count "SELECT count(*) FROM settlements")
  local R="$WORK/$name.json"
  t0=$(date +%s.%N)
  { TIMEFORMAT='%U %S'; time "$LOAD_BIN" "${args[@]}" >"$R" 2>"$WORK/$name.err"; } 2>"$WORK/$name.time" ||
    log "$name: proofbook-load exited non-zero: $(tail -n 3 "$WORK/$name.err")"
  local wall cpu load_cpu s_cpu n_cpu p_cpu other_cpu per_verification
  wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  load_cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$WORK/$name.time")
  s_cpu=$(ticks_s "$server0" "$(cpu_ticks "$SERVER_PID")")
  n_cpu=$(ticks_s "$nodes0" "$(sum_ticks "${nodes[@]}")")
  p_cpu=$(ticks_s "$pg0" "$(pg_cpu)")
  # Everything else the machine ran meanwhile (another engineer's build, ...).
  other_cpu=$(awk -v b="$(ticks_s "$busy0" "$(machine_busy)")" -v s="$s_cpu" -v n="$n_cpu" \
    -v p="$p_cpu" -v l="$load_cpu" 'BEGIN { o = b - s - n - p - l; printf "%.1f", (o < 0 ? 0 : o) }')
  cpu="$s_cpu / $n_cpu / $p_cpu / $load_cpu / $other_cpu in $wall s"
  jq -e '.proofs' "$R" >/dev/null 2>&1 || die "$name: no report from proofbook-load: $(cat "$WORK/$name.err")"
  # Each proof sent is verified once.
  per_verification=$(awk -v n="$n_cpu" -v v="$(jq -r '.proofs.sent' "$R")" 'BEGIN { printf "%.1f", (v > 0 ? 1000 * n / v : 0) }')
  local db="$(($(db_count "SELECT count(*) FROM settlements") - settlements0)) / $(($(db_count "SELECT count(*) FROM slashings") - slashings0))"
  q() { jq -r "$1" "$R"; }
  local lat='map(. * 10 | round / 10) | join(" / ")'
  ROWS+=("| $name | $(q '.proofs.invalid_share_sent * 1000 | round / 10')% | $(q .orders.placed) | $(q .settled) in $(q '.elapsed_s * 10 | round / 10') s | **$(q '.settled_per_s * 10 | round / 10')** | $(q "[.proofs.sent_to_settlement_ms | .p50, .p90, .p99, .max] | $lat") | $(q "[.proofs.sent_to_accepted_ms | .p50, .p99] | $lat") | $(q "[.orders.placed_to_paid_ms | .p50, .p99] | $lat") | $(q .proofs.sent) / $(q .proofs.invalid_sent) / $(q '[.proofs.rejected[]] | add // 0') / $(q '[.slashed[]] | add // 0') / $(q .proofs.retries) | $(q .orders.unpaid) | $db | $cpu | $per_verification |")
  TOTAL_SETTLED=$((TOTAL_SETTLED + $(q .settled)))
  PER_VERIFICATION[$name]=$per_verification
  NODE_CORES[$name]=$(awk -v c="$n_cpu" -v w="$wall" 'BEGIN { printf "%.2f", c / w }')
  OTHER_CORES[$name]=$(awk -v c="$other_cpu" -v w="$wall" 'BEGIN { printf "%.2f", c / w }')
  RATE_OF[$name]=$(q '.settled_per_s * 10 | round / 10')
  log "$name: $(q .orders.placed) placed, $(q .settled) settled ($(q '.settled_per_s * 10 | round / 10')/s), proof sent -> settlement p50 $(q '.proofs.sent_to_settlement_ms.p50 | round') ms p99 $(q '.proofs.sent_to_settlement_ms.p99 | round') ms, rejected $(q '[.proofs.rejected[]] | add // 0'), unpaid $(q .orders.unpaid)"
}

log "runs of $SECONDS_OF_LOAD s for invalid shares: $SHARES (closed loop with $SEQUENCERS in flight$([ "$RATE" = 0 ] || echo ", then $RATE orders/s"))"
for share in $SHARES; do
  pct=$(awk -v s="$share" 'BEGIN { printf "%g", 100 * s }')
  run "closed-$pct%" --invalid-share "$share" -r 0
  [ "$RATE" = 0 ] || run "rate$RATE-$pct%" --invalid-share "$share" -r "$RATE"
done

# --- report -------------------------------------------------------------------------------------
{
  echo "# Groth16 settlement end to end (\`loadtest/settle.sh\`, issue #19)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), checkout at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- server matching migrations 2>/dev/null || echo ' (server/matching/migrations with uncommitted changes)');" \
    "server \`${SERVER_BIN#"$ROOT"/}\` with $WORKERS Groth16 verifier workers${EXTRA_SERVER_ARGS[*]:+ and \`${EXTRA_SERVER_ARGS[*]}\`}; PostgreSQL with fsync and synchronous_commit on."
  echo "$PROVERS provers (one WebSocket and one offer of capacity $CAPACITY each) answer every assignment at once with the fixtures' valid" \
    "proof (803 bytes), or for the chosen share of all proofs sent the tampered one (refused by the pairing check," \
    "so it costs a full verification); a refused proof's order goes to another prover, which answers it validly (a retry)." \
    "$SEQUENCERS sequencers, one HTTP connection each; $SECONDS_OF_LOAD s of placing per run, then up to $DRAIN s for the orders placed to be paid." \
    "closed: each connection places an order and waits until it is paid ($SEQUENCERS in flight); rateN: N orders/s, open loop."
  echo
  [ -z "${SETTLE_NOTE:-}" ] || { echo "$SETTLE_NOTE"; echo; }
  echo "Load before the runs: \`$UPTIME_BEFORE\`"
  echo
  echo "| run | invalid (of proofs sent) | orders placed | settled | settled/s | proof sent → settlement p50 / p90 / p99 / max, ms | sent → proof_result accepted p50 / p99, ms | order placed → paid p50 / p99, ms | proofs sent / invalid / rejected / slashed / retries | unpaid | DB settlements / slashings | CPU s: server / node workers / PostgreSQL / proofbook-load / rest of the machine | node CPU ms per verification |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "settled/s: payments over the placing time, or to the last payment when later (the drain). Latencies from the moment the" \
    "proof is queued on the prover's socket to the server's \`settlement\` (kind payment, sent once the payment is committed)" \
    "and \`proof_result\`; an order's from its scheduled placement to its payment (an invalid first proof and its retry included)."
  echo
  echo "What bounds it: each proof sent is verified once, by a single-threaded node worker. Per closed-loop run (the server saturated):"
  echo
  for name in "${!PER_VERIFICATION[@]}"; do
    [[ $name == closed-* ]] || continue
    awk -v n="$name" -v m="${PER_VERIFICATION[$name]}" -v nc="${NODE_CORES[$name]}" -v oc="${OTHER_CORES[$name]}" \
      -v r="${RATE_OF[$name]}" -v w="$WORKERS" -v cpus="$(nproc)" 'BEGIN {
        printf "- %s: %.1f settled/s; a verification took %s ms of node CPU, so %d workers with a core each would verify %.0f/s;", n, r, m, w, (m > 0 ? w * 1000 / m : 0)
        printf " the workers got %s of the %d cores, the rest of the machine (not server, PostgreSQL or load generator) used %s.\n", nc, cpus, oc }'
  done | sort
  echo
  echo "Commands (keys and proofs in files made by the script):"
  echo
  echo '```sh'
  echo "SETTLE_PROVERS=$PROVERS SETTLE_CAPACITY=$CAPACITY SETTLE_SEQUENCERS=$SEQUENCERS SETTLE_SECONDS=$SECONDS_OF_LOAD SETTLE_DRAIN=$DRAIN SETTLE_RATE=$RATE SETTLE_INVALID_SHARES=\"$SHARES\" SETTLE_WORKERS=$WORKERS loadtest/settle.sh"
  for c in "${COMMANDS[@]}"; do echo "${c//"$WORK"\//\$WORK/}"; done
  echo '```'
  echo
  echo "<details><summary>Raw proofbook-load output</summary>"
  echo
  echo '```json'
  for f in "$WORK"/*%.json; do jq -c 'del(.messages)' "$f"; done
  echo '```'
  echo "</details>"
} >"$REPORT"
sed -n '/^| run/,/^$/p' "$REPORT"
log "report written to ${REPORT#"$ROOT"/}"
[ "$TOTAL_SETTLED" -gt 0 ] || die "no order settled"
