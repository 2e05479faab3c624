# Shell helpers the campaigns share (chaos.sh, fault_campaign.sh); sourced, not run.

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds; 1 if it never does
# within SECONDS.
wait_for() {
  local until=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.1
  done
}

# The set-up the durable benchmarks share (run.sh, soak.sh, restart.sh). They need proofbook.sh
# sourced first (pg_init, pg_configure, pg_start, free_port, log, die, PG_USER) and WORK set.

# The durability settings every durable benchmark runs with: all on, as in production, so that
# each COMMIT waits for its WAL fsync.
LOAD_PG_SETTINGS=("fsync = on" "synchronous_commit = on" "full_page_writes = on"
  "max_connections = 200" "log_checkpoints = on" "log_autovacuum_min_duration = 0"
  "${PG_SERVE_SETTINGS[@]}")
# LOADTEST_PG_SETTINGS="name=value ...": more settings for the benchmark's cluster (no spaces
# inside one), e.g. max_wal_size=8GB.
read -r -a _load_pg_extra <<<"${LOADTEST_PG_SETTINGS:-}"
LOAD_PG_SETTINGS+=("${_load_pg_extra[@]}")

# load_cluster: a throwaway cluster in $WORK/data with LOAD_PG_SETTINGS and databases proofbook
# and pgbench; sets PG_PORT, PSQL (an array: psql with its connection options) and exports
# DATABASE_URL.
load_cluster() {
  pg_init "$WORK/data"
  PG_PORT=$(free_port)
  pg_configure "$WORK/data" "$PG_PORT" "${LOAD_PG_SETTINGS[@]}"
  pg_start "$WORK/data"
  PSQL=(psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -X -q -v ON_ERROR_STOP=1)
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE proofbook" -c "CREATE DATABASE pgbench"
  export DATABASE_URL="postgresql://$PG_USER@127.0.0.1:$PG_PORT/proofbook"
  log "throwaway PostgreSQL (fsync on, synchronous_commit on) on port $PG_PORT"
}

# load_migrate: migrates and bootstraps the admin (once); sets ADMIN_KEY.
load_migrate() {
  "$SERVER_BIN" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }
  "$SERVER_BIN" bootstrap-admin --key-file "$WORK/admin.key" >"$WORK/bootstrap.log" 2>&1 ||
    { cat "$WORK/bootstrap.log" >&2; die "bootstrap-admin failed"; }
  ADMIN_KEY=$(tr -d '[:space:]' <"$WORK/admin.key")
  [ -n "$ADMIN_KEY" ] || die "bootstrap-admin wrote no key"
}

# load_serve ARGS...: starts `proofbook-server ARGS` (which must include --port-file
# $WORK/port), appending to $WORK/server.log, and waits until it answers /readyz (recovery
# done); sets SERVER_PID, PORT, BASE and READY_MS (start to ready, in ms).
load_serve() {
  rm -f "$WORK/port"
  local t0 ready=0
  t0=$(date +%s%N)
  "$SERVER_BIN" "$@" >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    [ -s "$WORK/port" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during start-up"
    sleep 0.01
  done
  [ -s "$WORK/port" ] || die "the server wrote no port file in 6 s"
  PORT=$(tr -d '[:space:]' <"$WORK/port")
  BASE="http://127.0.0.1:$PORT"
  for _ in $(seq 1 12000); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ]; then ready=1; break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited during recovery"
    sleep 0.01
  done
  [ "$ready" = 1 ] || die "the server was not ready in 120 s"
  READY_MS=$((($(date +%s%N) - t0) / 1000000))
  log "server pid $SERVER_PID on 127.0.0.1:$PORT, ready in $READY_MS ms"
}

# load_stop_server: SIGTERM, then SIGKILL after 5 s.
load_stop_server() {
  [ -n "${SERVER_PID:-}" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# admin POST PATH BODY: the response body; fails on a non-2xx.
admin() {
  curl -sS --fail-with-body -X POST -H "Authorization: Bearer $ADMIN_KEY" \
    -H 'Content-Type: application/json' -d "$2" "$BASE$1"
}

# load_sequencer: market `load` (sha256-preimage) and a sequencer with 10^12 deposited; sets
# SEQ_KEY and exports it as PROOFBOOK_LOAD_API_KEY (off the command line).
load_sequencer() {
  admin /v1/admin/markets '{"id":"load","proof_system":"sha256","verifier":"sha256-preimage"}' >/dev/null
  local account_json account_id
  account_json=$(admin /v1/admin/accounts '{"role":"sequencer","name":"load"}')
  account_id=$(jq -r '.account.id' <<<"$account_json")
  SEQ_KEY=$(jq -r '.api_key' <<<"$account_json")
  [ -n "$SEQ_KEY" ] && [ "$SEQ_KEY" != null ] || die "no api_key in: $account_json"
  admin "/v1/admin/accounts/$account_id/deposits" '{"amount":1000000000000}' >/dev/null
  export PROOFBOOK_LOAD_API_KEY="$SEQ_KEY"
  log "market load, sequencer account $account_id funded"
}

# load_server_rss_kib: the server's resident set, KiB.
load_server_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0; }

# load_cleanup: the EXIT trap of the durable benchmarks (run.sh, soak.sh, restart.sh): the
# sampler or scraper (SAMPLER_PID, if any), the server, the cluster and WORK go, however the
# script ends. LOADTEST_KEEP_LOGS=DIR keeps the server's and PostgreSQL's logs there; a failed
# run shows the end of the server's log.
load_cleanup() {
  local rc=$?
  set +e
  [ -z "${SAMPLER_PID:-}" ] || kill "$SAMPLER_PID" 2>/dev/null
  load_stop_server
  if [ -n "${WORK:-}" ]; then
    pg_stop "$WORK/data"
    if [ -n "${LOADTEST_KEEP_LOGS:-}" ]; then
      mkdir -p "$LOADTEST_KEEP_LOGS"
      cp "$WORK/server.log" "$LOADTEST_KEEP_LOGS/" 2>/dev/null || true
      [ -f "$WORK/data/server.log" ] && cp "$WORK/data/server.log" "$LOADTEST_KEEP_LOGS/postgresql.log"
    fi
    if [ "$rc" != 0 ] && [ -f "$WORK/server.log" ]; then
      log "server log (last 20 lines):"
      tail -n 20 "$WORK/server.log" >&2
    fi
    rm -rf "$WORK"
  fi
  exit "$rc"
}

# load_start NAME: builds (unless LOADTEST_SKIP_BUILD=1), makes WORK (/tmp/proofbook-NAME.*),
# the durable cluster, the schema and admin, serves with SERVE_ARGS (set here) and funds the
# sequencer.
load_start() {
  if [ "${LOADTEST_SKIP_BUILD:-0}" != 1 ]; then
    "$ROOT/proofbook.sh" build release
    cmake --build --preset release --target proofbook-load
  fi
  command -v jq >/dev/null || die "jq is needed"
  WORK=$(mktemp -d "/tmp/proofbook-$1.XXXXXX")
  chmod 755 "$WORK"
  load_cluster
  load_migrate
  SERVE_ARGS=(serve --listen 127.0.0.1:0 --port-file "$WORK/port" --log-level info --ip-request-rate 0)
  load_serve "${SERVE_ARGS[@]}"
  load_sequencer
}
