#!/usr/bin/env bash
# The private PostgreSQL of `./proofbook.sh run` starts from a checkout in a folder other users
# cannot enter (mode 0700, like root's home): as root the cluster runs as `postgres`, which
# could not reach var/pg there (issue #14). Copies proofbook.sh into such a folder, starts the
# cluster on a free port, queries it, stops it and removes it. Needs no build.
set -euo pipefail
src=$1
base=$(mktemp -d /tmp/proofbook-0700.XXXXXX)
chmod 700 "$base"
checkout="$base/home/someone/proofbook"
mkdir -p "$checkout"
chmod 700 "$base/home/someone"
cp "$src/proofbook.sh" "$checkout/"
port=$(bash -c 'source "$1"; free_port' _ "$src/proofbook.sh")
cleanup() {
  PROOFBOOK_PG_PORT=$port "$checkout/proofbook.sh" stop-db >/dev/null 2>&1 || true
  local target
  target=$(readlink -f "$checkout/var/pg" 2>/dev/null || true)
  case "$target" in /var/lib/proofbook/pg-*) rm -rf "$target" ;; esac
  rm -rf "$base"
}
trap cleanup EXIT
PROOFBOOK_PG_PORT=$port "$checkout/proofbook.sh" start-db
answer=$(psql -h 127.0.0.1 -p "$port" -U proofbook -d proofbook -tAc 'SELECT 40 + 2')
[ "$answer" = 42 ] || { echo "private PostgreSQL answered '$answer'" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then
  # postgres cannot enter the checkout: the cluster lives where it can, linked from var/pg.
  [ -L "$checkout/var/pg" ] || { echo "var/pg is not a link to the cluster" >&2; exit 1; }
fi
echo "private PostgreSQL from a 0700 checkout: OK (cluster in $(readlink -f "$checkout/var/pg"))"
