#!/usr/bin/env bash
# proofbook.sh — the one entry point for people and CI.
#
#   ./proofbook.sh run      install what is missing, build (release), start a private
#                           PostgreSQL under var/pg unless DATABASE_URL is set, migrate,
#                           create the first admin (key printed once, kept in var/admin.key),
#                           serve on 127.0.0.1:8080 until Ctrl-C
#   ./proofbook.sh test     install, check formatting (clang-format), make the Groth16
#                           fixtures (cached), build (debug: ASan+UBSan, warnings as errors),
#                           start a throwaway PostgreSQL on a free port, run every ctest test
#                           (then the `tsan` ones under ThreadSanitizer), remove the cluster,
#                           exit non-zero on any failure; `test -R X` filters both runs;
#                           then `fuzz 30` (below; PROOFBOOK_TEST_FUZZ_SECONDS=0: replay only)
#   ./proofbook.sh fuzz [seconds]  build the libFuzzer targets (fuzz preset: clang), replay their
#                           seed corpora and fuzz/regressions, then fuzz each for `seconds`,
#                           a core each (600 by default; 0: replay only); non-zero on any crash, whose
#                           input is kept in fuzz/crashers/<target>/ (fuzz/README.md)
#   ./proofbook.sh format   rewrite the C++ sources as clang-format wants them
#   ./proofbook.sh stop-db  stop the private PostgreSQL started by `run`
#   ./proofbook.sh start-db start it again (without building or serving)
#   ./proofbook.sh build [preset]   only install and build (release by default)
#   ./proofbook.sh deps     only install what is missing
#   ./proofbook.sh node-deps  only install the verifiers' npm packages into var/node
#   ./proofbook.sh container-test  build the images with podman, start docker-compose.yml, run
#                           clients/demo.sh against it, take it down (tests/container/run.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

PG_BIN=/usr/lib/postgresql/15/bin
PG_USER=proofbook                     # the database superuser inside private clusters
# Settings of the clusters proofbook serves from (the private one, the benchmarks'; the
# container's entrypoint writes the same), measured in loadtest/REPORT.md (issue #18): a new
# WAL segment is not zero-filled first (16 MB written and flushed on the committing path every
# ~2 s at 5,000 orders/s: 17 ms stalls; WAL records carry CRCs, so crash safety is unchanged),
# checkpoints come every 4 GB of WAL rather than every ~0.5 GB (each one's writeback slows the
# journal's WAL flushes for its whole length), and a backend that evicts dirty pages has the
# kernel write them back every 256 kB (once the tables outgrow shared_buffers, ~400,000
# orders, the evicted pages piled up in the page cache and were written back ~30 s later all
# at once, behind which every WAL flush waited: a p99 of 24-47 ms at 5,000/s, 5 ms with it).
PG_SERVE_SETTINGS=("wal_init_zero = off" "max_wal_size = 4GB" "backend_flush_after = 256kB")
PRIVATE_PG_DIR="$ROOT/var/pg"   # or elsewhere as root: see private_pg_dir
PRIVATE_PG_PORT="${PROOFBOOK_PG_PORT:-54329}"

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libpqxx-dev libsimdjson-dev libssl-dev libsodium-dev
  libjemalloc-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libspdlog-dev
  libfmt-dev prometheus-cpp-dev postgresql-15 postgresql-client-15 curl clang-format openssl
  ca-certificates chromium
  nodejs npm
)

# The verifiers' npm packages (snarkjs, circomlib, circom2), pinned by server/prover/verifiers/
# package-lock.json. The server runs `node server/prover/verifiers/verifier_worker.js` with
# NODE_PATH=var/node/node_modules.
NODE_DIR="$ROOT/var/node"

log() { printf '\033[1m[proofbook]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# install_deps [package...]: the named Debian packages, or all of APT_PACKAGES.
install_deps() {
  local wanted=("$@") missing=()
  local installed
  [ $# -eq 0 ] && wanted=("${APT_PACKAGES[@]}")
  # Names that an installed package provides count too: NodeSource's nodejs provides (and
  # conflicts with) Debian's npm, so asking apt for npm there would fail.
  installed=$(dpkg-query -W -f='${Status}|${Package}, ${Provides}\n' 2>/dev/null |
    awk -F'|' '$1 ~ / installed$/ {print $2}' | tr ',' '\n' |
    sed 's/(.*)//; s/^ *//; s/ *$//' || true)
  for p in "${wanted[@]}"; do
    grep -qx "$p" <<<"$installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# npm ci empties node_modules and installs it again (seconds, and the registry), so it runs
# only when package.json or the lock file changed since the last complete install: their
# sha256 is stamped after it. Copies of both live in var/node because npm's --prefix installs
# the package.json it finds there; nothing is installed globally or into the work tree.
install_node_deps() {
  local src="$ROOT/server/prover/verifiers" stamp="$NODE_DIR/.installed.sha256" want
  want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ -d "$NODE_DIR/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  command -v npm >/dev/null || die "npm is missing: run ./proofbook.sh deps"
  log "installing the verifiers' npm packages into var/node"
  mkdir -p "$NODE_DIR"
  rm -f "$stamp"
  cp "$src/package.json" "$src/package-lock.json" "$NODE_DIR/"
  npm ci --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" >"$stamp"
}

# Configures every time (a second or two): a preset whose flags changed is applied to an existing
# build folder too, not only to a fresh clone's.
build() {
  local preset=$1
  shift
  cmake --preset "$preset" --log-level=ERROR >/dev/null || return 1
  cmake --build --preset "$preset" -j "${BUILD_JOBS:-$(nproc)}" "$@"
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` system
# user that the postgresql package creates; otherwise to whoever runs this.
pg_as() {
  # From / as root: `postgres` may not be able to enter the caller's working folder.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# pg_init DIR [extra initdb args]
pg_init() {
  local dir=$1
  shift
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  pg_as "$PG_BIN/initdb" -D "$dir" -U "$PG_USER" --auth=trust -E UTF8 --no-locale "$@" >/dev/null
}

# pg_configure DIR PORT [setting=value ...]: TCP on loopback only, no Unix socket (its path
# length limit would bite in deep checkouts). Written into postgresql.conf, so a plain
# `pg_ctl start` (as the outage test does) comes back the same.
pg_configure() {
  local dir=$1 port=$2
  shift 2
  {
    echo "# proofbook.sh"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = ''"
    for setting in "$@"; do echo "$setting"; done
  } | pg_as tee -a "$dir/postgresql.conf" >/dev/null
}

# glibc malloc gives memory back to the kernel after almost every statement (heap trim, and
# munmap of blocks over 128 kB), so a backend page-faults its executor memory in again on the
# next one. On this VM that was a third of the journal's PostgreSQL CPU per order
# (server/journal/journal_benchmark: 45 -> 30 us). Keeping it costs a few MB a backend. A production
# cluster deserves the same environment (README, "Running PostgreSQL").
PG_MALLOC_ENV=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=67108864 MALLOC_TOP_PAD_=16777216)
pg_start() {
  pg_as env "${PG_MALLOC_ENV[@]}" "$PG_BIN/pg_ctl" -D "$1" -l "$1/server.log" -w -t 60 start >/dev/null
}

pg_stop() { pg_as "$PG_BIN/pg_ctl" -D "$1" -w -m fast stop >/dev/null 2>&1 || true; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port nothing listens on, below the kernel's ephemeral range: a port in that
# range may be the local end of one of this machine's outgoing connections (a load generator
# holds hundreds), which the connect test cannot see and which makes PostgreSQL's bind fail
# ("Address already in use").
free_port() {
  local port low=20000 high=32767 ephemeral
  if read -r ephemeral _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
    [ "$ephemeral" -gt $((low + 1000)) ]; then
    high=$((ephemeral - 1))
  fi
  for _ in $(seq 1 200); do
    port=$((low + RANDOM % (high - low + 1)))
    port_in_use "$port" || { echo "$port"; return 0; }
  done
  die "no free port found"
}

# As root the cluster runs as `postgres`, which must reach its data folder. A checkout that
# user cannot enter (one in root's 0700 home, the usual case in containers and cloud VMs) keeps
# its cluster in /var/lib/proofbook/pg-<hash of the checkout's path> instead; var/pg is then a
# symbolic link to it, for people (the scripts use the real path).
private_pg_dir() {
  if [ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$ROOT/var" 2>/dev/null ||
    { [ ! -e "$ROOT/var" ] && runuser -u postgres -- test -x "$ROOT" 2>/dev/null; }; then
    PRIVATE_PG_DIR="$ROOT/var/pg"
    [ -L "$PRIVATE_PG_DIR" ] && PRIVATE_PG_DIR=$(readlink -f "$PRIVATE_PG_DIR")
    return 0
  fi
  local hash
  hash=$(printf '%s' "$ROOT" | sha256sum | cut -c1-16)
  PRIVATE_PG_DIR="/var/lib/proofbook/pg-$hash"
  mkdir -p /var/lib/proofbook "$ROOT/var"
  chmod 755 /var/lib/proofbook
  [ -e "$ROOT/var/pg" ] || ln -s "$PRIVATE_PG_DIR" "$ROOT/var/pg"
}

start_private_pg() {
  private_pg_dir
  if [ ! -f "$PRIVATE_PG_DIR/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $PRIVATE_PG_DIR (port $PRIVATE_PG_PORT)"
    mkdir -p "$ROOT/var"
    pg_init "$PRIVATE_PG_DIR"
    pg_configure "$PRIVATE_PG_DIR" "$PRIVATE_PG_PORT" "${PG_SERVE_SETTINGS[@]}"
  fi
  if ! pg_as "$PG_BIN/pg_ctl" -D "$PRIVATE_PG_DIR" status >/dev/null 2>&1; then
    port_in_use "$PRIVATE_PG_PORT" && die "port $PRIVATE_PG_PORT is taken; set PROOFBOOK_PG_PORT"
    log "starting PostgreSQL ($PRIVATE_PG_DIR, port $PRIVATE_PG_PORT; stop it with ./proofbook.sh stop-db)"
    pg_start "$PRIVATE_PG_DIR"
  fi
  local exists
  exists=$(psql -h 127.0.0.1 -p "$PRIVATE_PG_PORT" -U "$PG_USER" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'proofbook'")
  if [ "$exists" != 1 ]; then
    psql -h 127.0.0.1 -p "$PRIVATE_PG_PORT" -U "$PG_USER" -d postgres -qc "CREATE DATABASE proofbook"
  fi
  export DATABASE_URL="postgresql://$PG_USER@127.0.0.1:$PRIVATE_PG_PORT/proofbook"
}

cmd_run() {
  install_deps
  install_node_deps
  # The clients too: the README's next step ("Try it": clients/demo.sh) runs them.
  build release --target proofbook-server proofbook proofbook-prover
  if [ -z "${DATABASE_URL:-}" ]; then start_private_pg; fi
  local server="$ROOT/build/release/server/proofbook-server"
  "$server" migrate
  mkdir -p "$ROOT/var"
  "$server" bootstrap-admin --key-file "$ROOT/var/admin.key"
  # The master key that seals the markets' VRF keys (README "VRF selection"): made once, kept
  # with the private database it opens. Unless the caller brings their own.
  if [ -z "${PROOFBOOK_VRF_MASTER_KEY_FILE:-}${PROOFBOOK_VRF_MASTER_KEY:-}" ]; then
    if [ ! -s "$ROOT/var/vrf-master.key" ]; then
      (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$ROOT/var/vrf-master.key")
      log "made var/vrf-master.key (the VRF master key: back it up with the database)"
    fi
    export PROOFBOOK_VRF_MASTER_KEY_FILE="$ROOT/var/vrf-master.key"
  fi
  log "serving on ${PROOFBOOK_LISTEN:-127.0.0.1:8080} (Ctrl-C stops the server)"
  exec "$server" serve "$@"
}

# The C++ sources clang-format checks (.clang-format at the root).
cpp_sources() {
  find matching vrf server clients tests loadtest fuzz -type f \( -name '*.cc' -o -name '*.h' \) | sort
}

cmd_test() {
  install_deps
  install_node_deps
  # The TSan suite builds in the background, one job, beside the fixtures and the debug build:
  # its objects are few, but one, server/http/http_server.cc, takes ~2.5 minutes alone and
  # would otherwise leave a core idle (cold: TSan build 156 s, 146 of them that one file).
  local tsan_log="$ROOT/var/tsan-build.log" tsan_pid tsan_rc=0
  mkdir -p "$ROOT/var"
  BUILD_JOBS=1 build tsan --target tsan_suite >"$tsan_log" 2>&1 &
  tsan_pid=$!
  local format_rc=0
  log "checking formatting: clang-format --dry-run -Werror (fix with ./proofbook.sh format)"
  cpp_sources | xargs clang-format --dry-run -Werror || format_rc=1
  # The Groth16 circuit, keys and proofs the verifier and prover tests read (var/fixtures/
  # groth16): ~40 s on a fresh machine, then cached until the script or the lock file changes.
  "$ROOT/tests/fixtures/groth16.sh" || { wait "$tsan_pid" || true; return 1; }
  build debug || { wait "$tsan_pid" || true; return 1; }
  local dir port
  dir=$(mktemp -d /tmp/proofbook-test-pg.XXXXXX)
  chmod 755 "$dir"
  # Remove the cluster however the tests end.
  trap "pg_stop '$dir/data'; rm -rf '$dir'" EXIT
  # Durability settings off: the tests crash the server, never this throwaway PostgreSQL.
  pg_init "$dir/data" --no-sync
  port=$(free_port)
  pg_configure "$dir/data" "$port" "fsync = off" "synchronous_commit = off" \
    "full_page_writes = off" "max_connections = 200"
  pg_start "$dir/data"
  log "throwaway PostgreSQL on port $port"
  export DATABASE_URL="postgresql://$PG_USER@127.0.0.1:$port/postgres"
  # For tests that take PostgreSQL away and bring it back.
  local pg_ctl_cmd="env ${PG_MALLOC_ENV[*]} $PG_BIN/pg_ctl -D $dir/data -w -t 60"
  [ "$(id -u)" = 0 ] && pg_ctl_cmd="runuser -u postgres -- $pg_ctl_cmd"
  export PROOFBOOK_TEST_PG_STOP="$pg_ctl_cmd -m fast stop"
  export PROOFBOOK_TEST_PG_START="$pg_ctl_cmd -l $dir/data/server.log start"
  # pqxx 6.4 leaks libpq's PGconn when a connection attempt fails (PostgreSQL down);
  # that is the library's, not ours, and would fail every outage test under LeakSanitizer.
  export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
  local rc=0
  ctest --preset debug -j "$(nproc)" --timeout 600 "$@" || rc=$?
  # The threads again under ThreadSanitizer: the tests labelled `tsan` in CMake (the rings,
  # and the server's engine, journal, io and database threads driven by the API tests, the
  # WebSocket sessions and the verifier pool driven by the prover tests; a report makes the
  # server exit non-zero, which fails the test that stopped it). Arguments such as `-R X`
  # filter this run too.
  wait "$tsan_pid" || tsan_rc=$?
  if [ "$tsan_rc" != 0 ]; then
    log "the TSan build failed (var/tsan-build.log); its end:"
    tail -n 60 "$tsan_log" >&2
    rc=1
  else
    TSAN_OPTIONS="exitcode=66" ctest --preset tsan -j "$(nproc)" --timeout 600 "$@" || rc=$?
  fi
  # The parsers under libFuzzer (fuzz/README.md): the corpora replayed, then a short run of each
  # target; a crash fails the test command (its input is kept in fuzz/crashers/).
  cmd_fuzz "${PROOFBOOK_TEST_FUZZ_SECONDS:-30}" || rc=1
  if [ "$format_rc" != 0 ]; then
    log "formatting check failed (above): run ./proofbook.sh format"
    rc=1
  fi
  return "$rc"
}

# The libFuzzer targets (fuzz/CMakeLists.txt), run as many at a time as there are cores.
FUZZ_TARGETS=(requests_fuzzer prover_ws_fuzzer http_parse_fuzzer input_check_fuzzer)

# fuzz_target target seconds: one libFuzzer run; its summary (or, on a finding, the end of its
# log) is printed when it ends.
fuzz_target() {
  local target=$1 seconds=$2
  local scratch="$ROOT/var/fuzz/$target" crashers="$ROOT/fuzz/crashers/$target"
  local log_file="$ROOT/var/fuzz/$target.log"
  mkdir -p "$scratch" "$crashers"
  # -timeout: an input that takes 10 s is a hang, reported like a crash.
  if "$ROOT/build/fuzz/fuzz/$target" -max_total_time="$seconds" -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$crashers/" \
    "$scratch" "$ROOT/fuzz/corpus/$target" >"$log_file" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
      "$log_file" | sed "s/^/  $target: /" >&2 || true
  else
    log "$target FAILED: the input is in fuzz/crashers/$target/; the end of its log:"
    tail -n 40 "$log_file" >&2
    return 1
  fi
}

# cmd_fuzz [seconds]: build the fuzz preset, replay every seed corpus and regression (ctest), then
# fuzz each target for `seconds`, one target a core at a time. New inputs go to var/fuzz/<target>
# (the seed corpus in fuzz/corpus/ is only read); a crash, leak, timeout or out-of-memory input
# is saved as fuzz/crashers/<target>/<kind>-<sha1> and fails the command.
cmd_fuzz() {
  local seconds=${1:-600}
  [[ "$seconds" =~ ^[0-9]+$ ]] || die "fuzz: seconds must be a whole number, not '$seconds'"
  # libFuzzer is Debian's clang runtime (-fsanitize=fuzzer), in libclang-rt-14-dev.
  install_deps clang libclang-rt-14-dev || return 1
  build fuzz || return 1
  local rc=0
  ctest --preset fuzz --timeout 600 || rc=1
  [ "$seconds" = 0 ] && return "$rc"
  local target pid pids=()
  for target in "${FUZZ_TARGETS[@]}"; do
    log "fuzzing $target for ${seconds} s (log: var/fuzz/$target.log)"
    fuzz_target "$target" "$seconds" &
    pids+=("$!")
    if [ ${#pids[@]} -ge "$(nproc)" ]; then
      for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
      pids=()
    fi
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  return "$rc"
}

cmd_stop_db() {
  private_pg_dir
  if [ -f "$PRIVATE_PG_DIR/PG_VERSION" ]; then
    pg_stop "$PRIVATE_PG_DIR"
    log "stopped the private PostgreSQL in $PRIVATE_PG_DIR"
  fi
}

[[ "${BASH_SOURCE[0]}" != "$0" ]] && return 0
case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  fuzz) shift; cmd_fuzz "$@" ;;
  format) cpp_sources | xargs clang-format -i ;;
  stop-db) cmd_stop_db ;;
  start-db) start_private_pg; log "PostgreSQL is up: DATABASE_URL=$DATABASE_URL" ;;
  build) shift; install_deps; build "${1:-release}" ;;
  deps) install_deps ;;
  node-deps) install_deps nodejs npm; install_node_deps ;;
  container-test) shift; exec "$ROOT/tests/container/run.sh" "$@" ;;
  *) sed -n '/^[^#]/q; 2,$p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
