#!/usr/bin/env bash
# loadtest/soak.sh — issue #18's soak: durable orders at a fixed rate for minutes, to see that
# rate and latency stay flat while the tables grow. Not part of CI (10 minutes by default).
#
#   loadtest/soak.sh           build (release), start a throwaway PostgreSQL with durable settings
#                              (as loadtest/run.sh), serve, then POST /v1/orders at a fixed rate
#                              (open loop, latency from the schedule) for SOAK_MINUTES, reporting
#                              each minute apart: completed, rate, p50/p99/max. Every minute it
#                              also samples the server's RSS, the hot tables' and indexes' sizes
#                              and autovacuum's runs. Writes loadtest/REPORT_SOAK.md.
#
# Environment (defaults in brackets):
#   SOAK_MINUTES [10]          minutes of sending
#   SOAK_RATE [10000]          orders per second
#   SOAK_CONNECTIONS [256]     connections (256 carry 10,000/s up to 25 ms of latency)
#   SOAK_DEADLINE_MS [900000]  each order's deadline: it expires (refund) after that; the default
#                              outlives the run, so every order stays open (placements only)
#   LOADTEST_SKIP_BUILD=1      use the binaries already in build/release
#   SOAK_REPORT [loadtest/REPORT_SOAK.md]
# Bounded: the whole script stops itself after SOAK_MINUTES + 15 minutes.
set -euo pipefail

MINUTES=${SOAK_MINUTES:-10}
[[ "$MINUTES" =~ ^[0-9]+$ ]] && [ "$MINUTES" -ge 1 ] || { echo "SOAK_MINUTES: a whole number >= 1" >&2; exit 2; }
if [ -z "${LOADTEST_UNDER_TIMEOUT:-}" ]; then
  LOADTEST_UNDER_TIMEOUT=1 exec timeout --foreground --kill-after=30 "$((MINUTES * 60 + 900))" "$0" "$@"
fi

LOADTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../proofbook.sh
source "$LOADTEST_DIR/../proofbook.sh"
# shellcheck source=lib.sh
source "$LOADTEST_DIR/lib.sh"

RATE=${SOAK_RATE:-10000}
# Orders expire after this (each expiry is an escrow refund and a status change, journaled like
# the placement), so the book holds about RATE x deadline orders once the run is past it,
# as a market whose orders come and go would.
DEADLINE_MS=${SOAK_DEADLINE_MS:-900000}
CONNECTIONS=${SOAK_CONNECTIONS:-256}
REPORT=${SOAK_REPORT:-$ROOT/loadtest/REPORT_SOAK.md}
SERVER_BIN="$ROOT/build/release/server/proofbook-server"
LOAD_BIN="$ROOT/build/release/loadtest/proofbook-load"

WORK=""
SERVER_PID=""
SAMPLER_PID=""
trap load_cleanup EXIT
trap 'exit 130' INT TERM
load_start soak

# One line per minute: seconds since start, server RSS (KiB), then for each of orders,
# journal_batches (the events) and ledger_entries: heap (with TOAST) and index bytes, live and
# dead rows, autovacuum and autoanalyze runs so far.
sample() {
  local t=$1
  printf '%s %s ' "$t" "$(load_server_rss_kib)"
  "${PSQL[@]}" -d proofbook -tA -F ' ' -c "
    SELECT string_agg(format('%s %s %s %s %s %s', pg_table_size(t::regclass),
                             pg_indexes_size(t::regclass), coalesce(n_live_tup, 0),
                             coalesce(n_dead_tup, 0), coalesce(autovacuum_count, 0),
                             coalesce(autoanalyze_count, 0)), ' ' ORDER BY o)
    FROM unnest(ARRAY['orders', 'journal_batches', 'ledger_entries']) WITH ORDINALITY u(t, o)
    LEFT JOIN pg_stat_user_tables s ON s.relname = u.t"
}
T0=$(date +%s)
(
  for m in $(seq 0 "$MINUTES"); do
    sleep $((T0 + 60 * m - $(date +%s) > 0 ? T0 + 60 * m - $(date +%s) : 0))
    sample $((60 * m)) >>"$WORK/samples" || true
  done
) &
SAMPLER_PID=$!

log "soak: POST /v1/orders at $RATE/s for $MINUTES min, $CONNECTIONS connections"
LOAD_ARGS=(--host 127.0.0.1 --port "$PORT" --kind orders -c "$CONNECTIONS" -r "$RATE"
  -d "$((MINUTES * 60))" --deadline-ms "$DEADLINE_MS" --window 60 --label soak --json)
"$LOAD_BIN" "${LOAD_ARGS[@]}" >"$WORK/soak.json" 2>"$WORK/soak.err" || log "the load run reported errors"
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
AUTOVACUUM_LINES=$(grep -c 'automatic vacuum\|automatic analyze' "$WORK/data/server.log" || true)
CHECKPOINTS=$(grep -c 'checkpoint complete' "$WORK/data/server.log" || true)

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
{
  echo "# proofbook soak (issue #18)"
  echo
  echo "Written by \`loadtest/soak.sh\`; every figure comes from one run of it."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
  echo "- Commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- server matching migrations 2>/dev/null || echo ' (server/matching/migrations with uncommitted changes)')"
  echo "- PostgreSQL: throwaway cluster, ${LOAD_PG_SETTINGS[*]}; server: release build, log level info"
  echo "- Load: \`proofbook-load ${LOAD_ARGS[*]}\` (open loop: latency from each request's scheduled time)."
  if [ "$DEADLINE_MS" -lt $((MINUTES * 60000)) ]; then
    echo "  Orders expire ${DEADLINE_MS} ms after placement (no offers in the market): from then on every second also journals about $RATE expiries (refund and status change)."
  else
    echo "  The deadline outlives the run and the market has no offers: every order placed stays open, the book grows to the run's whole count."
  fi
  echo
  echo "## Per minute"
  echo
  echo "| Minute | completed | rate (/s) | p50 ms | p99 ms | max ms |"
  echo "|---|---|---|---|---|---|"
  jq -r '.windows[] | "| \(.start_s / 60 | floor + 1) | \(.completed) | \(.rate | floor) | \(.p50 * 100 | round / 100) | \(.p99 * 100 | round / 100) | \(.max * 100 | round / 100) |"' "$WORK/soak.json"
  echo
  jq -r '"Whole run: \(.completed) completed of \(.scheduled) scheduled, \(.errors) errors, \(.achieved_rate | floor)/s; p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, max \(.latency_ms.max) ms."' "$WORK/soak.json"
  echo
  echo "Minutes are windows of completion time; the last one may hold the drain's few requests."
  echo
  echo "## Sizes over the run"
  echo
  echo "| At s | server RSS MiB | orders heap / index MiB | orders live / dead rows | journal_batches heap / index MiB | ledger_entries heap / index MiB | autovacuum runs (orders, journal_batches, ledger_entries) |"
  echo "|---|---|---|---|---|---|---|"
  # Fields: t rss, then table index live dead vacuums analyzes for orders, journal_batches,
  # ledger_entries.
  while read -r t rss o_t o_i o_live o_dead o_v _ e_t e_i _ _ e_v _ l_t l_i _ _ l_v _; do
    printf '| %s | %s | %s / %s | %s / %s | %s / %s | %s / %s | %s, %s, %s |\n' "$t" \
      "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$(mib "$o_t")" "$(mib "$o_i")" \
      "$o_live" "$o_dead" "$(mib "$e_t")" "$(mib "$e_i")" "$(mib "$l_t")" "$(mib "$l_i")" \
      "$o_v" "$e_v" "$l_v"
  done <"$WORK/samples"
  echo
  echo "PostgreSQL's log over the run: $AUTOVACUUM_LINES automatic vacuum/analyze lines, $CHECKPOINTS checkpoints."
  echo
  echo "## Raw"
  echo
  echo '```json'
  jq -c . "$WORK/soak.json"
  echo '```'
} >"$REPORT"
sed -n '/^## Per minute/,/^## Raw/p' "$REPORT" | sed '$d'
log "report written to ${REPORT#"$ROOT"/}"
