#!/usr/bin/env bash
# loadtest/restart.sh — issue #18's restart table: how long the server takes from its start to
# answering /readyz (recovery done: migrations checked, the write lease taken, the engine rebuilt
# from PostgreSQL) against the number of open orders. Not part of CI (a few minutes).
#
#   loadtest/restart.sh        build (release), start a throwaway durable PostgreSQL (as
#                              loadtest/run.sh), serve, then for each count in RESTART_COUNTS:
#                              place orders (no offers in the market, a one-hour deadline, so they
#                              stay open) until that many are open, stop the server (SIGTERM),
#                              start it again RESTART_TRIES times and take the start-to-ready
#                              time, and the server's own `msg=recovered` line. Writes
#                              loadtest/REPORT_RESTART.md.
#
# Environment (defaults in brackets):
#   RESTART_COUNTS ["10000 100000 1000000"]  open orders at each step (increasing)
#   RESTART_TRIES [3]          restarts per step (the median is reported)
#   RESTART_RATE [10000]       orders/s while filling
#   LOADTEST_SKIP_BUILD=1      use the binaries already in build/release
#   RESTART_REPORT [loadtest/REPORT_RESTART.md]
# Bounded: the whole script stops itself after 40 minutes.
set -euo pipefail

if [ -z "${LOADTEST_UNDER_TIMEOUT:-}" ]; then
  LOADTEST_UNDER_TIMEOUT=1 exec timeout --foreground --kill-after=30 2400 "$0" "$@"
fi

LOADTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../proofbook.sh
source "$LOADTEST_DIR/../proofbook.sh"
# shellcheck source=lib.sh
source "$LOADTEST_DIR/lib.sh"

read -r -a COUNTS <<<"${RESTART_COUNTS:-10000 100000 1000000}"
TRIES=${RESTART_TRIES:-3}
RATE=${RESTART_RATE:-10000}
REPORT=${RESTART_REPORT:-$ROOT/loadtest/REPORT_RESTART.md}
SERVER_BIN="$ROOT/build/release/server/proofbook-server"
LOAD_BIN="$ROOT/build/release/loadtest/proofbook-load"

WORK=""
SERVER_PID=""
SAMPLER_PID=""
trap load_cleanup EXIT
trap 'exit 130' INT TERM
load_start restart

open_orders() {
  "${PSQL[@]}" -d proofbook -tA -c "SELECT count(*) FROM orders WHERE status = 'open'"
}

# rebuilt_since N: the server's log holds more than N msg=engine_rebuilt lines.
rebuilt_since() {
  [ "$(grep -c 'msg=engine_rebuilt' "$WORK/server.log" || true)" -gt "$1" ]
}

ROWS=()
for count in "${COUNTS[@]}"; do
  have=$(open_orders)
  need=$((count - have))
  if [ "$need" -gt 0 ]; then
    seconds=$(awk -v n="$need" -v r="$RATE" 'BEGIN { printf "%.3f", n / r }')
    log "placing $need orders at $RATE/s (${seconds} s) for $count open"
    "$LOAD_BIN" --host 127.0.0.1 --port "$PORT" --kind orders -c 256 -r "$RATE" -d "$seconds" \
      --drain 120 --deadline-ms 3600000 --max-error-rate 1 --json >"$WORK/fill.json" ||
      die "filling failed: $(cat "$WORK/fill.json")"
  fi
  have=$(open_orders)
  times=()
  phases=()
  recovered=""
  for try in $(seq 1 "$TRIES"); do
    load_stop_server
    rebuilt=$(grep -c 'msg=engine_rebuilt' "$WORK/server.log" || true)
    load_serve "${SERVE_ARGS[@]}"
    times+=("$READY_MS")
    # The server writes its info lines out once a second: wait for this start's.
    wait_for 5 rebuilt_since "$rebuilt" || die "the server logged no msg=engine_rebuilt"
    recovered=$(grep 'msg=recovered' "$WORK/server.log" | tail -n 1 | sed 's/.*msg=recovered //')
    load_ms=$(sed -n 's/.*load_ms=\([0-9]*\).*/\1/p' <<<"$recovered")
    restored=$(grep 'msg=engine_restored' "$WORK/server.log" | tail -n 1)
    restore_ms=$(sed -n 's/.*restore_ms=\([0-9]*\).*/\1/p' <<<"$restored")
    keys_ms=$(sed -n 's/.*keys_ms=\([0-9]*\).*/\1/p' <<<"$restored")
    phases+=("$load_ms/$restore_ms/$keys_ms")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  rss=$(load_server_rss_kib)
  db_mib=$("${PSQL[@]}" -d proofbook -tA -c "SELECT pg_database_size('proofbook') / 1048576")
  ROWS+=("| $have | $median | ${times[*]} | ${phases[*]} | $(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }') | $db_mib | $recovered |")
  log "$have open orders: start to ready ${times[*]} ms (median $median)"
done

{
  echo "# proofbook restart time (issue #18)"
  echo
  echo "Written by \`loadtest/restart.sh\`; every figure comes from one run of it."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
  echo "- Commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- server matching migrations 2>/dev/null || echo ' (server/matching/migrations with uncommitted changes)')"
  echo "- PostgreSQL: throwaway cluster, ${LOAD_PG_SETTINGS[*]}; server: release build"
  echo
  echo "Start to ready: from starting \`proofbook-server serve\` to its first 200 on /readyz (migrations checked," \
    "write lease taken, engine rebuilt from the tables, verifier workers started), after a SIGTERM stop;" \
    "$TRIES restarts per row. The orders are open (no offer in their market), a one-hour deadline."
  echo
  echo "Each try's phases, from the server's log: load (PostgreSQL read into memory, msg=recovered load_ms)" \
    "/ engine restore / idempotency keys built (beside the restore; msg=engine_restored restore_ms, keys_ms), in ms."
  echo
  echo "| open orders | start to ready, median ms | each try ms | each try's load / restore / keys ms | server RSS MiB after | database MiB | server's msg=recovered (last try) |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} >"$REPORT"
sed -n '/^| open orders/,$p' "$REPORT"
log "report written to ${REPORT#"$ROOT"/}"
