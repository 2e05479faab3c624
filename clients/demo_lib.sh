# Shared by the demos (clients/demo.sh, clients/tree_demo.sh); sourced after ROOT is set. Finds
# the clients and the admin key, makes a scratch folder removed on exit with the provers started
# here, and gives the helpers that print each command as a user would type it before its output.
export PROOFBOOK_URL="${PROOFBOOK_URL:-http://127.0.0.1:8080}"
BIN="${PROOFBOOK_BIN_DIR:-$ROOT/build/release/clients}"
ADMIN_KEY="${PROOFBOOK_ADMIN_KEY:-}"
if [[ -z "$ADMIN_KEY" && -r "$ROOT/var/admin.key" ]]; then ADMIN_KEY="$(<"$ROOT/var/admin.key")"; fi
[[ -n "$ADMIN_KEY" ]] || { echo "demo: no admin key: set PROOFBOOK_ADMIN_KEY or run ./proofbook.sh run first" >&2; exit 2; }
BIN="$(cd "$BIN" 2>/dev/null && pwd || echo "$BIN")"
for b in proofbook proofbook-prover; do
  [[ -x "$BIN/$b" ]] || { echo "demo: $BIN/$b is missing: ./proofbook.sh build release" >&2; exit 2; }
done
cd "$ROOT"
WORK="$(mktemp -d /tmp/proofbook-demo.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n# %s\n' "$*"; }
# run KEY_VAR ARGS...: print the command as a user would type it, then run it with that key.
run() {
  local who="$1"; shift
  printf '$ proofbook %s\n' "$*"
  PROOFBOOK_API_KEY="${!who}" "$BIN/proofbook" "$@"
}
die() { echo "demo: FAILED: $*" >&2; exit 1; }
# field JSON PATH...: one value from a JSON document on stdin (python3 is on every bookworm).
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1:]: v=v[int(k)] if k.isdigit() else v[k]
print(v)' "$@"; }
new_account() {  # new_account ROLE NAME -> "id key"
  local out
  out="$(PROOFBOOK_API_KEY="$ADMIN_KEY" "$BIN/proofbook" --json admin account create --role "$1" --name "$2")"
  echo "$(field account id <<<"$out") $(field api_key <<<"$out")"
}
wait_log() {  # wait_log FILE TEXT: up to 30 s
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  cat "$1" >&2
  die "no '$2' in $1"
}
prover() {  # prover NAME KEY_VAR ARGS...: start a proofbook-prover in the background, log to NAME.log
  local name="$1" who="$2"; shift 2
  printf '$ proofbook-prover %s > %s.log &\n' "$*" "$name"
  PROOFBOOK_API_KEY="${!who}" "$BIN/proofbook-prover" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  wait_log "$WORK/$name.log" "msg=offer_placed"
}
