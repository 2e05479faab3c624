#!/usr/bin/env bash
# tests/container/run.sh — `./proofbook.sh container-test`: the container images and the compose
# file, end to end, with podman (not part of `./proofbook.sh test`: it builds images).
#
#   1. installs podman, runc, netavark, docker-compose and mmdebstrap (apt) if missing, and
#      makes the base image localhost/debian:bookworm with mmdebstrap if it is not there (no
#      registry is needed anywhere: PROOFBOOK_CT_REBASE=1 makes it again);
#   2. builds the Dockerfile's postgres, runtime and demo images with `podman build`
#      (BUILD_JOBS=${PROOFBOOK_BUILD_JOBS:-2} compile jobs; layers are cached between runs);
#   3. starts podman's Docker-compatible API on a private socket and brings docker-compose.yml
#      up with docker-compose (project pbct-<pid>, the server published on a free loopback port),
#      and checks /healthz from the host;
#   4. waits for the demo prover's offer, runs clients/demo.sh in the `demo` image against the
#      stack, then one order on the demo prover's market (container/proofbook-demo-order);
#   5. prints PASS or FAIL (with the services' logs), and always takes everything down: the
#      containers, the network, the volumes, the API service. The images stay, as a cache.
# Each step is bounded in time (PROOFBOOK_CT_BUILD_TIMEOUT, default 3600 s for the builds;
# minutes for the rest).
#
# podman here: runc with default_ulimits = [] (tests/container/containers.conf, through
# CONTAINERS_CONF; sandboxes may refuse podman's default rlimits), root, netavark bridge
# networks. Podman runs health checks from systemd timers; where there is no systemd (this
# sandbox) nothing would run them and compose's `service_healthy` would wait forever, so this
# script runs `podman healthcheck run` on the stack's containers every 2 s, as the timers would.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# log, die, install_deps, free_port, port_in_use
# shellcheck source=../../proofbook.sh
source "$ROOT/proofbook.sh"
cd "$ROOT"

START=$(date +%s)
export CONTAINERS_CONF="$ROOT/tests/container/containers.conf"
BASE_IMAGE=localhost/debian:bookworm
PREFIX=localhost/proofbook
BUILD_JOBS=${PROOFBOOK_BUILD_JOBS:-2}
BUILD_TIMEOUT=${PROOFBOOK_CT_BUILD_TIMEOUT:-3600}
PROJECT="pbct-$$"
WORK=$(mktemp -d /tmp/proofbook-container-test.XXXXXX)
SOCK="$WORK/podman.sock"
SERVICE_PID="" HEALTH_PID="" STEP_PID="" PORT="" RESULT=FAIL

elapsed() { echo "$(($(date +%s) - START)) s"; }

compose() {
  DOCKER_HOST="unix://$SOCK" PROOFBOOK_PORT="$PORT" PROOFBOOK_BASE_IMAGE="$BASE_IMAGE" \
    PROOFBOOK_IMAGE_PREFIX="$PREFIX" PROOFBOOK_BUILD_JOBS="$BUILD_JOBS" \
    docker-compose --ansi never -p "$PROJECT" -f "$ROOT/docker-compose.yml" --profile demo "$@"
}

project_containers() { podman ps -a -q --filter "label=com.docker.compose.project=$PROJECT"; }

show_logs() {
  local c
  for c in $(podman ps -a --format '{{.Names}}' --filter "label=com.docker.compose.project=$PROJECT"); do
    log "---- the last lines of $c's log ----"
    podman logs --tail 40 "$c" 2>&1 | sed "s/^/  $c | /" >&2 || true
  done
}

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$STEP_PID" ]; then
    kill -TERM "$STEP_PID" 2>/dev/null
    wait "$STEP_PID" 2>/dev/null
  fi
  [ "$RESULT" = PASS ] || show_logs
  log "taking the stack down"
  [ -n "$HEALTH_PID" ] && kill "$HEALTH_PID" 2>/dev/null && wait "$HEALTH_PID" 2>/dev/null
  if [ -n "$SERVICE_PID" ]; then
    timeout --kill-after=10 180 bash -c 'compose down --volumes --remove-orphans --timeout 10' \
      >"$WORK/down.log" 2>&1 || { log "compose down failed:"; cat "$WORK/down.log" >&2; }
  fi
  # Whatever compose left (or never got to): by the project's label and names.
  local ids
  ids=$(project_containers)
  [ -n "$ids" ] && podman rm -f -t 5 $ids >/dev/null 2>&1
  podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" |
    xargs -r podman volume rm -f >/dev/null 2>&1
  podman network ls -q --filter "name=^${PROJECT}_" | xargs -r podman network rm -f >/dev/null 2>&1
  if [ -n "$SERVICE_PID" ]; then
    kill "$SERVICE_PID" 2>/dev/null
    wait "$SERVICE_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
  local left
  left=$(project_containers; podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT")
  [ -z "$left" ] || log "warning: left behind: $left"
  if [ "$RESULT" = PASS ] && [ "$rc" = 0 ]; then
    log "container-test: PASS ($(elapsed))"
  else
    log "container-test: FAIL ($(elapsed))"
    [ "$rc" = 0 ] && rc=1
  fi
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# step SECONDS NAME COMMAND...: runs it under a time limit, saying how long it took.
step() {
  local limit=$1 name=$2 t0 rc=0
  shift 2
  t0=$(date +%s)
  log "$name"
  # timeout signals its whole process group: a build or compose under it goes too. The
  # functions it may run are exported (below), with the variables they read.
  # In the background and waited for: bash runs a trap (Ctrl-C, TERM) only once the foreground
  # command is done, and the teardown stops this one (STEP_PID).
  timeout --kill-after=10 "$limit" bash -c '"$@"' step "$@" &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  [ "$rc" = 124 ] && die "$name: still running after $limit s"
  [ "$rc" = 0 ] || die "$name failed (exit $rc)"
  log "$name: done in $(($(date +%s) - t0)) s"
}

# build TARGET TAG: one Dockerfile stage (docker format: OCI images would lose HEALTHCHECK).
# npm in the build trusts the host's CA bundle (Dockerfile, NPM_CAFILE): where HTTPS goes
# through an inspecting proxy, as in this sandbox, the host's bundle holds the proxy's CA.
HOST_CA=/etc/ssl/certs/ca-certificates.crt
build_image() {
  local ca=()
  [ -r "$HOST_CA" ] && ca=(-v "$HOST_CA:/run/host-ca.crt:ro" --build-arg NPM_CAFILE=/run/host-ca.crt)
  podman build --format docker --target "$1" -t "$2" --build-arg BASE_IMAGE="$BASE_IMAGE" \
    --build-arg BUILD_JOBS="$BUILD_JOBS" "${ca[@]}" --file "$ROOT/Dockerfile" "$ROOT" \
    >>"$WORK/build.log" 2>&1 ||
    { tail -n 60 "$WORK/build.log" >&2; return 1; }
}
wait_prover() {
  until podman logs "${PROJECT}_prover_1" 2>&1 | grep -q "msg=offer_placed"; do sleep 1; done
}
export ROOT WORK SOCK PROJECT BASE_IMAGE PREFIX BUILD_JOBS PORT HOST_CA
export -f log compose build_image wait_prover

# netavark + aardvark-dns: bridge networks whose containers find each other by service name
# (podman only recommends them; install_deps installs no recommends); iptables for -p.
install_deps podman runc netavark aardvark-dns iptables docker-compose mmdebstrap curl

if [ "${PROOFBOOK_CT_REBASE:-0}" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
  # minbase bookworm from the machine's apt configuration (mirror, proxy); no registry.
  step 900 "making the base image $BASE_IMAGE (mmdebstrap)" bash -o pipefail -c \
    "mmdebstrap --quiet --variant=minbase bookworm - | podman import --quiet - '$BASE_IMAGE' >/dev/null"
fi

step "$BUILD_TIMEOUT" "building $PREFIX (runtime; C++ with -j$BUILD_JOBS, log in the test's temp folder)" \
  build_image runtime "$PREFIX:latest"
step 900 "building $PREFIX-postgres" build_image postgres "$PREFIX-postgres:latest"
step 900 "building $PREFIX-demo" build_image demo "$PREFIX-demo:latest"
podman image inspect "$PREFIX:latest" --format 'image {{.Id}}: healthcheck {{.Config.Healthcheck.Test}}, user {{.Config.User}}' >&2

# podman's Docker API for docker-compose, on a private socket; stopped by the trap.
podman system service --time=0 "unix://$SOCK" >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || die "podman system service did not open $SOCK: $(cat "$WORK/service.log")"

# The health checks that systemd timers would run (see the top).
(
  while sleep 2; do
    for c in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT"); do
      podman healthcheck run "$c" >/dev/null 2>&1 || true
    done
  done
) &
HEALTH_PID=$!

PORT=$(free_port)
# --no-build: the images are those just built. `up` returns once the server is healthy
# (migrate done first) and the prover started.
step 600 "docker-compose up (project $PROJECT, server on 127.0.0.1:$PORT)" \
  compose up -d --no-build postgres migrate server prover
compose ps >&2

step 30 "GET /healthz from the host" \
  curl -fsS --retry 10 --retry-delay 1 --retry-all-errors -o /dev/null "http://127.0.0.1:$PORT/healthz"
log "server health: $(podman inspect "${PROJECT}_server_1" --format '{{.State.Health.Status}}'), user $(podman exec "${PROJECT}_server_1" id -un)"

step 300 "waiting for the demo prover's offer (it makes its circuit first)" wait_prover

step 600 "clients/demo.sh against the stack (demo image)" compose run --rm --no-deps -T demo
step 300 "one order on the demo prover's market" compose run --rm --no-deps -T demo proofbook-demo-order

RESULT=PASS
