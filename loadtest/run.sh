#!/usr/bin/env bash
# loadtest/run.sh — the issue #5 benchmark, end to end, on loopback only, bounded in time.
#
#   loadtest/run.sh            build (release), start a throwaway PostgreSQL with durable
#                              settings (fsync on, synchronous_commit on), migrate, bootstrap an
#                              admin, serve on a free loopback port, create market `load`, a
#                              sequencer and a deposit, then measure:
#                                1. GET /healthz, max-rate, 10 s
#                                2. POST /v1/orders, max-rate, 10 s
#                                3. POST /v1/orders, fixed 5,000/s, 15 s (latency from schedule)
#                                3b. the same at 10,000/s
#                                4. pgbench, one single-row INSERT per transaction, -c 8 -j 2 -T 10
#                              print a Markdown table and write it to loadtest/REPORT.md, with
#                              CPU per request, the server's own commit and order histograms
#                              (GET /metrics, before and after each run) and the storage's
#                              fdatasync time (pg_test_fsync, 1 s a method, before the server starts).
#                              Server and cluster are removed however the run ends.
#
# Environment (defaults in brackets):
#   LOADTEST_SKIP_BUILD=1      use the binaries already in build/release
#   LOADTEST_CONNECTIONS [64]  proofbook-load connections for the max-rate runs
#   LOADTEST_FIXED_CONNECTIONS [256]  ... and for the fixed-rate run
#   LOADTEST_THREADS [1]       proofbook-load threads
#   LOADTEST_RATE [5000]       the fixed rate of run 3
#   LOADTEST_HIGH_RATE [10000] the fixed rate of run 3b
#   LOADTEST_REPORT [loadtest/REPORT.md]
#   LOADTEST_KEEP_LOGS=DIR     copy the server's and PostgreSQL's logs to DIR at the end
#   LOADTEST_PERF=FILE         also profile the machine (`perf record -a -g`: server, PostgreSQL, load generator) during run 2b and
#                              write `perf report` (self time, top symbols) to FILE (data in FILE.data)
#   LOADTEST_SCRAPE=1          scrape GET /metrics once a second (as Prometheus would) during every
#                              run: compare with a run without it to see what scraping costs
#   PROOFBOOK_LOG_LEVEL [info] the server's log level (info logs every request)
# Takes about 1 minute after the build; the whole script stops itself after 15 minutes.
# Needs curl, jq, pgbench (postgresql-15).
set -euo pipefail

HARD_LIMIT_S=900  # the whole run, build included, never outlives this
# Bounded in time even if something hangs: run again under timeout(1), which TERMs the script
# (whose EXIT trap removes server and cluster) and KILLs it 30 s later if it is still there;
# --foreground keeps Ctrl-C working.
if [ -z "${LOADTEST_UNDER_TIMEOUT:-}" ]; then
  LOADTEST_UNDER_TIMEOUT=1 exec timeout --foreground --kill-after=30 "$HARD_LIMIT_S" "$0" "$@"
fi

LOADTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The functions of proofbook.sh (pg_init, pg_configure, pg_start, pg_stop, free_port, ...);
# sourcing it runs no command. It also cd's to the repository root and sets ROOT.
# shellcheck source=../proofbook.sh
source "$LOADTEST_DIR/../proofbook.sh"
# The durable set-up and clean-up the benchmarks share.
# shellcheck source=lib.sh
source "$LOADTEST_DIR/lib.sh"

CONNECTIONS=${LOADTEST_CONNECTIONS:-64}
THREADS=${LOADTEST_THREADS:-1}
RATE=${LOADTEST_RATE:-5000}
HIGH_RATE=${LOADTEST_HIGH_RATE:-10000}
# The open-loop run needs enough connections that their number never caps the rate:
# 256 connections carry 5,000/s up to 51 ms of latency.
FIXED_CONNECTIONS=${LOADTEST_FIXED_CONNECTIONS:-256}
REPORT=${LOADTEST_REPORT:-$ROOT/loadtest/REPORT.md}
LOG_LEVEL=${PROOFBOOK_LOG_LEVEL:-info}

SERVER_BIN="$ROOT/build/release/server/proofbook-server"
LOAD_BIN="$ROOT/build/release/loadtest/proofbook-load"

WORK=""
SERVER_PID=""
SAMPLER_PID=""  # the /metrics scraper (LOADTEST_SCRAPE)
trap load_cleanup EXIT
trap 'exit 130' INT TERM


# Commands as they are run, for the report.
COMMANDS=()
record() { COMMANDS+=("$*"); }

# --- build ---------------------------------------------------------------------------------
if [ "${LOADTEST_SKIP_BUILD:-0}" != 1 ]; then
  record "./proofbook.sh build release"
  "$ROOT/proofbook.sh" build release
  record "cmake --build --preset release --target proofbook-load"
  cmake --build --preset release --target proofbook-load
else
  record "# LOADTEST_SKIP_BUILD=1: binaries from an earlier ./proofbook.sh build release" \
    "&& cmake --build --preset release --target proofbook-load"
fi
[ -x "$SERVER_BIN" ] || die "no $SERVER_BIN (run without LOADTEST_SKIP_BUILD)"
[ -x "$LOAD_BIN" ] || die "no $LOAD_BIN (run without LOADTEST_SKIP_BUILD)"
command -v jq >/dev/null || die "jq is needed to read proofbook-load --json"
PGBENCH="$PG_BIN/pgbench"
[ -x "$PGBENCH" ] || die "no $PGBENCH (package postgresql-15 or postgresql-contrib)"

# --- throwaway PostgreSQL, durable, and the server ----------------------------------------------
WORK=$(mktemp -d /tmp/proofbook-load.XXXXXX)
chmod 755 "$WORK"
load_cluster
PG_SETTINGS=("${LOAD_PG_SETTINGS[@]}")
# The storage's floor under every commit: one 8 kB write + fdatasync (PostgreSQL's default
# wal_sync_method) into the cluster's filesystem, nothing else running; 1 s a method.
FSYNC_FLOOR=$("$PG_BIN/pg_test_fsync" -s 1 -f "$WORK/fsync.probe" 2>/dev/null |
  awk '/one 8kB write/ { one = 1 } one && $1 == "fdatasync" { printf "one 8 kB write + fdatasync %s µs (%s a second, pg_test_fsync)", $4, $2; exit }')
rm -f "$WORK/fsync.probe"
[ -n "$FSYNC_FLOOR" ] || FSYNC_FLOOR="(pg_test_fsync gave no figure)"
load_migrate
# One client address drives the whole load: no per-address request limit.
SERVE_ARGS=(serve --listen 127.0.0.1:0 --port-file "$WORK/port" --log-level "$LOG_LEVEL"
  --ip-request-rate 0)
record "proofbook-server ${SERVE_ARGS[*]}   # DATABASE_URL=postgresql://proofbook@127.0.0.1:<port>/proofbook"
load_serve "${SERVE_ARGS[@]}"
load_sequencer

# --- measurement helpers ---------------------------------------------------------------------
# CPU seconds used so far by a process (all threads); for the postmaster, by the whole
# cluster: its own, its live backends' and its reaped children's.
clk_tck=$(getconf CLK_TCK)
proc_cpu_ticks() {  # PID [with_children]: utime+stime (+cutime+cstime)
  awk -v c="${2:-0}" '{ sub(/^.*\) /, ""); t = $12 + $13; if (c) t += $14 + $15; print t }' \
    "/proc/$1/stat" 2>/dev/null || echo 0
}
server_cpu() { proc_cpu_ticks "$SERVER_PID"; }
# "tid ticks" for every server thread.
server_thread_ticks() {
  local t
  for t in /proc/"$SERVER_PID"/task/*; do
    echo "${t##*/} $(proc_cpu_ticks "$SERVER_PID/task/${t##*/}")"
  done
}
PG_POSTMASTER=$(head -n 1 "$WORK/data/postmaster.pid")
pg_cpu() {
  local total child
  total=$(proc_cpu_ticks "$PG_POSTMASTER" 1)
  for child in $(pgrep -P "$PG_POSTMASTER"); do
    total=$((total + $(proc_cpu_ticks "$child")))
  done
  echo "$total"
}
# WAL flushes and committed transactions, cluster-wide (pg_stat_wal, PostgreSQL 14+).
pg_counters() {
  "${PSQL[@]}" -d postgres -tA -F ' ' -c "SELECT pg_stat_force_next_flush()" \
    -c "SELECT (SELECT wal_sync FROM pg_stat_wal),
               (SELECT sum(xact_commit) FROM pg_stat_database),
               (SELECT wal_bytes FROM pg_stat_wal)" | tail -n 1
}

# The server's own latency histograms (GET /metrics): the journal's commits, and POST
# /v1/orders from routing to reply. Read before and after each run, so a run's tail can be
# split into the commit's part and the rest (the load generator's, the run queue's).
server_histograms() {
  curl -sS -H "Authorization: Bearer $ADMIN_KEY" "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
    grep -E '^proofbook_journal_commit_seconds_|^proofbook_http_request_duration_seconds_[a-z]+[{]route="/v1/orders"' ||
    true
}
# histogram_row NAME TITLE METRIC: count, mean and the share under 5 / 10 / 25 ms of METRIC's
# observations during run NAME, as a Markdown row.
histogram_row() {
  awk -v title="$2" -v m="$3" '
    { key = $1 }
    FNR == NR { before[key] = $2; next }
    index(key, m "_") != 1 { next }
    { d = $2 - before[key]
      if (index(key, m "_count") == 1) n = d
      else if (index(key, m "_sum") == 1) s = d
      else if (key ~ /le="0\.005"/) a = d
      else if (key ~ /le="0\.01"/) b = d
      else if (key ~ /le="0\.025"/) c = d }
    END {
      if (n <= 0) { printf "| %s | 0 | | | | |\n", title; exit }
      printf "| %s | %d | %.2f | %.1f %% | %.1f %% | %.1f %% |\n", title, n, 1000 * s / n,
        100 * a / n, 100 * b / n, 100 * c / n }' "$WORK/$1.metrics0" "$WORK/$1.metrics1"
}

declare -A CPU_SERVER CPU_PG CPU_LOAD WAL_SYNCS XACTS WALL
# measure NAME COMMAND...: runs COMMAND, records CPU of server, cluster and the command, and
# the cluster's WAL flushes and commits during it.
measure() {
  local name=$1
  shift
  local s0 p0 t0 t1 rc=0
  s0=$(server_cpu); p0=$(pg_cpu); read -r w0 x0 _ <<<"$(pg_counters)"
  server_thread_ticks >"$WORK/$name.threads0"
  server_histograms >"$WORK/$name.metrics0"
  t0=$(date +%s.%N)
  # bash's `time` reports the command's own CPU; TIMEFORMAT keeps it parseable.
  { TIMEFORMAT='%U %S'; time "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; } 2>"$WORK/$name.time" || rc=$?
  t1=$(date +%s.%N)
  local s1 p1 w1 x1
  s1=$(server_cpu); p1=$(pg_cpu); read -r w1 x1 _ <<<"$(pg_counters)"
  server_thread_ticks >"$WORK/$name.threads1"
  server_histograms >"$WORK/$name.metrics1"
  WALL[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  CPU_SERVER[$name]=$(awk -v d=$((s1 - s0)) -v h="$clk_tck" 'BEGIN { printf "%.2f", d / h }')
  CPU_PG[$name]=$(awk -v d=$((p1 - p0)) -v h="$clk_tck" 'BEGIN { printf "%.2f", d / h }')
  CPU_LOAD[$name]=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/$name.time")
  WAL_SYNCS[$name]=$((w1 - w0))
  XACTS[$name]=$((x1 - x0))
  return "$rc"
}

# The busiest processes over 2 s, taken mid-run (per-thread server CPU comes from /proc).
SNAPSHOT_PIDS=()
snapshot_threads() {
  local name=$1 delay=$2
  (
    sleep "$delay"
    top -b -n 2 -d 2 | awk '/^top -/ { n++ } n == 2' | sed -n '1,3p;7,16p' >"$WORK/$name.top" 2>&1
  ) &
  SNAPSHOT_PIDS+=($!)
}

LOAD_COMMON=(--host 127.0.0.1 --port "$PORT" -t "$THREADS" --json)

if [ -n "${LOADTEST_SCRAPE:-}" ]; then
  log "scraping /metrics once a second throughout"
  (
    while sleep 1; do
      curl -sS -o /dev/null -H "Authorization: Bearer $ADMIN_KEY" "http://127.0.0.1:$PORT/metrics" ||
        true
    done
  ) &
  SAMPLER_PID=$!
fi

UPTIME_BEFORE=$(uptime)
PS_BEFORE=$(ps -eo pid,pcpu,etime,comm --sort=-pcpu | head -n 8)

# --- 1. healthz, max-rate ----------------------------------------------------------------------
log "1/5 GET /healthz max-rate, 10 s"
HEALTHZ_ARGS=(--kind healthz -c "$CONNECTIONS" -d 10 --label healthz-max "${LOAD_COMMON[@]}")
record "proofbook-load ${HEALTHZ_ARGS[*]}"
snapshot_threads healthz 5
measure healthz "$LOAD_BIN" "${HEALTHZ_ARGS[@]}" || log "healthz run reported errors"

# --- 2. orders, max-rate -------------------------------------------------------------------------
log "2/5 POST /v1/orders max-rate, 10 s"
ORDERS_MAX_ARGS=(--kind orders -c "$CONNECTIONS" -d 10 --label orders-max "${LOAD_COMMON[@]}")
record "PROOFBOOK_LOAD_API_KEY=<sequencer key> proofbook-load ${ORDERS_MAX_ARGS[*]}"
snapshot_threads orders_max 5
measure orders_max "$LOAD_BIN" "${ORDERS_MAX_ARGS[@]}" || log "orders max-rate run reported errors"

# --- 2b. orders, max-rate, as many connections as the fixed-rate run -------------------------
# Group commit makes the durable rate depend on how many orders wait per COMMIT, so the
# max-rate figure is taken at both connection counts.
log "2b/5 POST /v1/orders max-rate, $FIXED_CONNECTIONS connections, 10 s"
ORDERS_WIDE_ARGS=(--kind orders -c "$FIXED_CONNECTIONS" -d 10 --label orders-max-wide "${LOAD_COMMON[@]}")
record "PROOFBOOK_LOAD_API_KEY=<sequencer key> proofbook-load ${ORDERS_WIDE_ARGS[*]}"
snapshot_threads orders_wide 5
PERF_PID=
if [ -n "${LOADTEST_PERF:-}" ]; then
  perf record -q -a -g -o "$LOADTEST_PERF.data" -- sleep 8 2>/dev/null &
  PERF_PID=$!
fi
measure orders_wide "$LOAD_BIN" "${ORDERS_WIDE_ARGS[@]}" || log "orders max-rate (wide) run reported errors"
if [ -n "$PERF_PID" ]; then
  wait "$PERF_PID" || true
  perf report -i "$LOADTEST_PERF.data" --no-children --percent-limit 0.4 --stdio -g none --sort comm,dso,sym \
    >"$LOADTEST_PERF" 2>/dev/null || log "perf report failed"
fi

# --- 3. orders, fixed rate -----------------------------------------------------------------------
log "3/5 POST /v1/orders fixed ${RATE}/s, 15 s"
ORDERS_FIXED_ARGS=(--kind orders -c "$FIXED_CONNECTIONS" -r "$RATE" -d 15 --label "orders-$RATE" "${LOAD_COMMON[@]}")
record "PROOFBOOK_LOAD_API_KEY=<sequencer key> proofbook-load ${ORDERS_FIXED_ARGS[*]}"
snapshot_threads orders_fixed 7
measure orders_fixed "$LOAD_BIN" "${ORDERS_FIXED_ARGS[@]}" || log "orders fixed-rate run reported errors"

# --- 3b. orders, the higher fixed rate ------------------------------------------------------------
log "3b/5 POST /v1/orders fixed ${HIGH_RATE}/s, 15 s"
ORDERS_HIGH_ARGS=(--kind orders -c "$FIXED_CONNECTIONS" -r "$HIGH_RATE" -d 15 --label "orders-$HIGH_RATE" "${LOAD_COMMON[@]}")
record "PROOFBOOK_LOAD_API_KEY=<sequencer key> proofbook-load ${ORDERS_HIGH_ARGS[*]}"
measure orders_high "$LOAD_BIN" "${ORDERS_HIGH_ARGS[@]}" || log "orders fixed-rate (high) run reported errors"

# --- 4. pgbench, single-row commits ------------------------------------------------------------
log "4/5 pgbench single-row INSERT per transaction, -c 8 -j 2 -T 10"
"${PSQL[@]}" -d pgbench -c "CREATE TABLE pgb(id bigserial PRIMARY KEY, v bigint)"
echo "INSERT INTO pgb(v) VALUES (1);" >"$WORK/insert.sql"
PGBENCH_ARGS=(-h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -n -c 8 -j 2 -T 10 -f "$WORK/insert.sql" pgbench)
record "pgbench ${PGBENCH_ARGS[*]}   # insert.sql: INSERT INTO pgb(v) VALUES (1);"
snapshot_threads pgbench 5
measure pgbench "$PGBENCH" "${PGBENCH_ARGS[@]}" || die "pgbench failed: $(cat "$WORK/pgbench.err")"

# --- 5. pgbench, single-row commits at the fixed rate ---------------------------------------------
# The same cluster's own commit latency at the rate of run 3: the floor under the server's p99.
log "5/5 pgbench single-row INSERT per transaction, fixed ${RATE}/s, 15 s"
PGBENCH_FIXED_ARGS=(-h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -n -c 8 -j 2 -T 15 -R "$RATE"
  --log --log-prefix "$WORK/pgbench_fixed" -f "$WORK/insert.sql" pgbench)
record "pgbench ${PGBENCH_FIXED_ARGS[*]}"
measure pgbench_fixed "$PGBENCH" "${PGBENCH_FIXED_ARGS[@]}" ||
  die "pgbench (fixed rate) failed: $(cat "$WORK/pgbench_fixed.err")"
# Per-transaction log lines: client tx latency_us script epoch epoch_us schedule_lag_us.
# Latency from the schedule, as proofbook-load measures it: latency + lag.
PGBF_PCT=$(cat "$WORK"/pgbench_fixed.* 2>/dev/null | awk 'NF >= 7 { print ($3 + $7) / 1000 }' |
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "- - - - - 0"; exit }
    split("0.50 0.90 0.99 0.999", q, " ")
    for (i = 1; i <= 4; i++) { k = int(q[i] * NR); if (k < 1) k = 1; printf "%.2f ", v[k] }
    printf "%.2f %d\n", v[NR], NR }')
read -r PGBF_P50 PGBF_P90 PGBF_P99 PGBF_P999 PGBF_MAX PGBF_N <<<"$PGBF_PCT"

wait "${SNAPSHOT_PIDS[@]}"  # the top snapshots (not the server, also a child)
[ -z "$SAMPLER_PID" ] || kill "$SAMPLER_PID" 2>/dev/null || true

# --- report ------------------------------------------------------------------------------------
j() { jq -r "$2" "$WORK/$1.out"; }
fmt_ms() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
row() {  # NAME TITLE
  local n=$1 title=$2
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$title" \
    "$(j "$n" '.connections')" "$(j "$n" '.achieved_rate | floor')" \
    "$(fmt_ms "$(j "$n" '.latency_ms.p50')")" "$(fmt_ms "$(j "$n" '.latency_ms.p90')")" \
    "$(fmt_ms "$(j "$n" '.latency_ms.p99')")" "$(fmt_ms "$(j "$n" '.latency_ms.p999')")" \
    "$(fmt_ms "$(j "$n" '.latency_ms.max')")" \
    "$(j "$n" '.completed') / $(j "$n" '.errors')" \
    "$(j "$n" '.statuses | to_entries | map("\(.key)×\(.value)") | join(" ")')"
}
PGB_TPS=$(awk '/^tps = / { printf "%d", $3 }' "$WORK/pgbench.out")
PGB_LAT=$(awk '/^latency average = / { print $4 }' "$WORK/pgbench.out")
PGB_TX=$(awk '/^number of transactions actually processed: / { print $6 }' "$WORK/pgbench.out")
PGB_FAILED=$(awk '/^number of failed transactions: / { print $5 }' "$WORK/pgbench.out")

HZ=$(j healthz '.achieved_rate')
# The better of the two max-rate runs.
OMAX=$(jq -rs 'map(.achieved_rate) | max' "$WORK/orders_max.out" "$WORK/orders_wide.out")
FIX_RATE=$(j orders_fixed '.achieved_rate')
FIX_P99=$(j orders_fixed '.latency_ms.p99')
ratio=$(awk -v a="$OMAX" -v b="$HZ" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
aim1=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.65 ? "met" : "NOT met") }')
# fixed_aim NAME RATE P99_MS: met when the run kept its rate without errors and under the p99.
fixed_aim() {
  awk -v p="$(j "$1" '.latency_ms.p99')" -v a="$(j "$1" '.achieved_rate')" -v t="$2" -v m="$3" \
    -v e="$(j "$1" '.errors')" 'BEGIN { print (p < m && a >= 0.99 * t && e == 0 ? "met" : "NOT met") }'
}
aim2=$(fixed_aim orders_fixed "$RATE" 10)
aim3=$(fixed_aim orders_high "$HIGH_RATE" 25)

cpu_row() {  # NAME TITLE COMPLETED
  local n=$1 title=$2 done=$3
  local per_commit
  per_commit=$(awk -v d="$done" -v w="${WAL_SYNCS[$n]}" 'BEGIN { printf "%.1f", (w > 0 ? d / w : 0) }')
  local us_server us_pg
  us_server=$(awk -v c="${CPU_SERVER[$n]}" -v d="$done" 'BEGIN { printf "%.1f", (d > 0 ? 1e6 * c / d : 0) }')
  us_pg=$(awk -v c="${CPU_PG[$n]}" -v d="$done" 'BEGIN { printf "%.1f", (d > 0 ? 1e6 * c / d : 0) }')
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$title" "${WALL[$n]}" "${CPU_SERVER[$n]}" \
    "${CPU_PG[$n]}" "${CPU_LOAD[$n]}" "${XACTS[$n]}" "${WAL_SYNCS[$n]}" "$per_commit" "$us_server" "$us_pg"
}

{
  echo "# proofbook load test (issues #5, #18)"
  echo
  echo "Written by \`loadtest/run.sh\`; every figure below comes from one run of it."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
  echo "- Commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- server matching migrations 2>/dev/null || echo ' (server/matching/migrations with uncommitted changes)')"
  echo "- PostgreSQL: $("$PG_BIN/postgres" --version | sed 's/^postgres //'), throwaway cluster on loopback TCP, defaults plus: ${PG_SETTINGS[*]}"
  echo "- Server: release preset (RelWithDebInfo -O2, jemalloc), defaults (io threads 2, db threads 2), log level $LOG_LEVEL"
  echo "- Load before the run: \`$UPTIME_BEFORE\`"
  echo
  echo "## Results"
  echo
  echo "| Run | Conns | Rate (/s) | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | completed / errors | statuses |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  row healthz "GET /healthz, max-rate, 10 s"
  row orders_max "POST /v1/orders (durable), max-rate, 10 s"
  row orders_wide "POST /v1/orders (durable), max-rate, 10 s"
  row orders_fixed "POST /v1/orders (durable), fixed $RATE/s, 15 s (latency from schedule)"
  row orders_high "POST /v1/orders (durable), fixed $HIGH_RATE/s, 15 s (latency from schedule)"
  echo "| pgbench: 1-row INSERT per transaction, -c 8 -j 2 -T 10 | 8 | $PGB_TPS | | | | | | $PGB_TX / ${PGB_FAILED:-0} | avg latency $PGB_LAT ms |"
  echo "| pgbench: 1-row INSERT per transaction, fixed ${RATE}/s, 15 s (latency from schedule) | 8 | $(awk -v n="$PGBF_N" -v w="${WALL[pgbench_fixed]}" 'BEGIN { printf "%d", n / w }') | $PGBF_P50 | $PGBF_P90 | $PGBF_P99 | $PGBF_P999 | $PGBF_MAX | $PGBF_N / 0 | |"
  echo
  echo "Aims:"
  echo
  echo "- Durable orders at 0.65× the /healthz rate or better: orders/healthz = $ratio → **$aim1**" \
    "(orders $(printf '%.0f' "$OMAX")/s, healthz $(printf '%.0f' "$HZ")/s; pgbench single-row commits ${PGB_TPS}/s)."
  echo "- p99 under 10 ms at $RATE/s: p99 $(fmt_ms "$FIX_P99") ms at $(printf '%.0f' "$FIX_RATE")/s achieved → **$aim2**" \
    "(the cluster's own single-row commits at the same rate: p99 $PGBF_P99 ms, max $PGBF_MAX ms)."
  echo "- $HIGH_RATE/s sustained with p99 under 25 ms: p99 $(fmt_ms "$(j orders_high '.latency_ms.p99')") ms at" \
    "$(printf '%.0f' "$(j orders_high '.achieved_rate')")/s achieved, $(j orders_high '.errors') errors → **$aim3**."
  echo
  echo "## Where the time went"
  echo
  echo "CPU seconds over each run (the machine has $(nproc) CPUs, so the most a run of W wall seconds can use is $(nproc)×W)." \
    "Commits and WAL flushes are cluster-wide deltas from pg_stat_database and pg_stat_wal."
  echo
  echo "| Run | wall s | server CPU s | PostgreSQL CPU s | load generator CPU s | commits | WAL flushes | requests per WAL flush | server µs per request | PostgreSQL µs per request |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  cpu_row healthz "healthz max-rate" "$(j healthz '.completed')"
  cpu_row orders_max "orders max-rate, $CONNECTIONS conns" "$(j orders_max '.completed')"
  cpu_row orders_wide "orders max-rate, $FIXED_CONNECTIONS conns" "$(j orders_wide '.completed')"
  cpu_row orders_fixed "orders fixed $RATE/s" "$(j orders_fixed '.completed')"
  cpu_row orders_high "orders fixed $HIGH_RATE/s" "$(j orders_high '.completed')"
  cpu_row pgbench "pgbench" "$PGB_TX"
  cpu_row pgbench_fixed "pgbench fixed $RATE/s" "$PGBF_N"
  echo
  echo "Server CPU seconds per thread over each run (threads are unnamed: tid = pid is the main thread; the others in creation order):"
  echo
  echo '```'
  printf '%-10s' tid
  for n in healthz orders_max orders_wide orders_fixed pgbench; do printf '%14s' "$n"; done
  echo
  while read -r tid _; do
    printf '%-10s' "$tid"
    for n in healthz orders_max orders_wide orders_fixed pgbench; do
      awk -v t="$tid" -v h="$clk_tck" 'FNR == NR { if ($1 == t) a = $2; next }
        $1 == t { b = $2 } END { printf "%14.2f", (b - a) / h }' "$WORK/$n.threads0" "$WORK/$n.threads1"
    done
    echo
  done <"$WORK/healthz.threads0"
  echo '```'
  echo
  echo "Open-loop send lag at $RATE/s (how late requests left compared with their schedule: all connections busy):" \
    "p50 $(fmt_ms "$(j orders_fixed '.send_lag_ms.p50')") ms, p99 $(fmt_ms "$(j orders_fixed '.send_lag_ms.p99')") ms," \
    "max $(fmt_ms "$(j orders_fixed '.send_lag_ms.max')") ms."
  echo
  echo "Inside the server (its own histograms, \`GET /metrics\`, before and after each run): the journal's" \
    "commits, and each order from routing to its reply (which holds the wait for the commit in" \
    "flight and for its own). What the load generator's p99 has beyond the second is outside the" \
    "server's handlers: the sockets, the load generator and the run queue of $(nproc) cores." \
    "The storage alone: $FSYNC_FLOOR."
  echo
  echo "| Run | what | count | mean ms | under 5 ms | under 10 ms | under 25 ms |"
  echo "|---|---|---|---|---|---|---|"
  for n in orders_wide orders_fixed orders_high; do
    case $n in
      orders_wide) title="orders max-rate, $FIXED_CONNECTIONS conns" ;;
      orders_fixed) title="orders fixed $RATE/s" ;;
      *) title="orders fixed $HIGH_RATE/s" ;;
    esac
    histogram_row "$n" "$title | journal commits" proofbook_journal_commit_seconds
    histogram_row "$n" "$title | orders, routing to reply" proofbook_http_request_duration_seconds
  done
  echo
  for n in healthz orders_max orders_wide orders_fixed pgbench; do
    echo "<details><summary>top during $n</summary>"
    echo
    echo '```'
    cat "$WORK/$n.top" 2>/dev/null || echo "(no snapshot)"
    echo '```'
    echo "</details>"
    echo
  done
  echo "## Commands"
  echo
  echo '```sh'
  echo "loadtest/run.sh   # runs all of the following"
  for c in "${COMMANDS[@]}"; do echo "$c"; done
  echo '```'
  echo
  echo "Processes before the run:"
  echo
  echo '```'
  echo "$PS_BEFORE"
  echo '```'
  echo
  echo "## Raw proofbook-load output"
  echo
  echo '```json'
  for n in healthz orders_max orders_wide orders_fixed orders_high; do jq -c . "$WORK/$n.out"; done
  echo '```'
  echo
  echo '```'
  cat "$WORK/pgbench.out"
  echo '```'
} >"$REPORT"

# The tables, on the terminal too.
sed -n '/^## Results/,/^<details>/p' "$REPORT" | sed '$d'
log "report written to ${REPORT#"$ROOT"/}"
