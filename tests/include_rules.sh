#!/usr/bin/env bash
# tests/include_rules.sh ROOT — the dependency rules of the layout (README "Layout"), checked
# on the sources: which project headers a folder may include, which libraries it may use, and
# that SQL lives only in server/db/ and server/journal/. Prints every broken rule and exits 1
# if there is one. Run by ctest (include_rules); `./proofbook.sh test -R include_rules` runs it
# alone.
set -uo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT" || exit 2

broken=0
fail() {
  echo "include rule broken: $*"
  broken=1
}

# allow FOLDER PREFIX...: files directly in FOLDER (not its subfolders that have rules of their
# own) may include project headers "X/..." only for the prefixes given; a folder's tests and
# benchmarks (*_test.cc, *_benchmark.cc) may also use the test harness (tests/).
allow() {
  local folder=$1
  shift
  local file line header ok prefix
  while IFS= read -r file; do
    while IFS= read -r line; do
      header=${line#*\"}
      header=${header%%\"*}
      ok=0
      case "$file" in *_test.cc | *_benchmark.cc) case "$header" in tests/*) ok=1 ;; esac ;; esac
      for prefix in "$@"; do
        case "$header" in "$prefix"*) ok=1 ;; esac
      done
      [ "$ok" = 1 ] || fail "$file includes \"$header\" ($folder may include only: $*)"
    done < <(grep -E '^\s*#\s*include\s*"' "$file")
  done < <(find "$folder" -maxdepth 1 -type f \( -name '*.h' -o -name '*.cc' \) | sort)
}

# forbid FOLDER REGEX WHY: no file below FOLDER includes a <system header> matching REGEX.
forbid() {
  local folder=$1 regex=$2 why=$3 hit
  while IFS= read -r hit; do
    fail "$hit: $why"
  done < <(grep -rnE "^\s*#\s*include\s*<($regex)" "$folder" --include='*.h' --include='*.cc')
}

# Project headers, folder by folder (server/db/pq.h and rows.h are db/ and journal/ only; the
# prover gateway reads committed batches, server/journal/journal_batch.h, a plain value type).
allow matching matching/
allow vrf vrf/
allow server/base matching/ server/base/
allow server/http matching/ server/base/ server/http/
allow server/db matching/ server/base/ server/db/
allow server/journal matching/ server/base/ server/db/ server/journal/
allow server/core matching/ vrf/ server/base/ server/db/session.h server/db/database.h \
  server/db/migrations.h server/db/accounts.h server/db/markets.h server/db/vrf.h \
  server/db/ledger.h server/db/admin_lists.h server/db/admin_reports.h server/journal/ \
  server/core/
allow server/api matching/ server/base/ server/http/ server/core/ server/db/session.h \
  server/db/database.h server/db/accounts.h server/db/markets.h server/db/orders.h \
  server/db/vrf.h server/db/ledger.h server/db/admin_lists.h server/db/admin_reports.h \
  server/db/trees.h server/api/
allow server/prover matching/ server/base/ server/http/ server/core/ server/db/session.h \
  server/db/database.h server/db/proofs.h server/journal/journal_batch.h server/prover/
allow clients clients/ vrf/
allow clients/common clients/common/
allow loadtest clients/ loadtest/

# Libraries: the engine uses the standard library only (tests and benchmarks their frameworks);
# libpqxx only in db/ and journal/; Beast and Asio only in http/ (and the clients).
while IFS= read -r hit; do
  case "$hit" in
    *_test.cc:*"<gtest/"* | *_benchmark.cc:*"<benchmark/"*) ;;
    *) fail "$hit: matching/ uses the standard library only" ;;
  esac
done < <(grep -rnE '^\s*#\s*include\s*<[^>]*[./][^>]*>' matching --include='*.h' --include='*.cc')
# The ECVRF library: the standard library and libsodium only (the CLI links it too).
while IFS= read -r hit; do
  case "$hit" in
    *"<sodium.h>"* | *_test.cc:*"<gtest/"* | *_benchmark.cc:*"<benchmark/"*) ;;
    *) fail "$hit: vrf/ uses the standard library and libsodium only" ;;
  esac
done < <(grep -rnE '^\s*#\s*include\s*<[^>]*[./][^>]*>' vrf --include='*.h' --include='*.cc')
for folder in server/base server/http server/core server/api server/prover server/*.cc server/*.h; do
  forbid "$folder" 'pqxx/' "only server/db/ and server/journal/ use libpqxx"
done
for folder in server/base server/db server/journal server/core server/api server/prover; do
  forbid "$folder" 'boost/(beast|asio)' "only server/http/ uses Beast and Asio"
done
forbid clients 'simdjson|pqxx/|spdlog/' "clients use Boost, CLI11 and OpenSSL only"

# No SQL outside db/ and journal/: the issue's own check, `grep -rl 'exec\|pqxx' server`.
while IFS= read -r file; do
  case "$file" in
    server/db/* | server/journal/*) ;;
    *) fail "$file mentions exec/pqxx: SQL belongs in server/db/ or server/journal/" ;;
  esac
done < <(grep -rl 'exec\|pqxx' server | sort)

if [ "$broken" = 0 ]; then echo "include rules: all hold"; fi
exit "$broken"
