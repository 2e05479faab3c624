#!/usr/bin/env bash
# The proofbook demo: against a running server (`./proofbook.sh run`), an admin makes a Groth16
# market and three accounts with the CLI, two proofbook-prover workers offer on it — a cheap one
# that delivers garbage and an honest one that proves with snarkjs — and a sequencer places an
# order and waits for its proof. The cheap prover gets the order first, its proof fails
# verification, it is slashed and the order goes to the honest prover, whose proof verifies and
# is paid. Each command is printed with `$ ` before its real output; the script checks the
# outcome and exits non-zero if the market did not behave so (tests run it end to end).
#
# Environment: PROOFBOOK_URL (default http://127.0.0.1:8080); PROOFBOOK_ADMIN_KEY (default the
# contents of var/admin.key); PROOFBOOK_BIN_DIR (default build/release/clients);
# DEMO_MARKET (default poseidon; made if missing, reused if there).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MARKET="${DEMO_MARKET:-poseidon}"
FIXTURES="$ROOT/var/fixtures/groth16"
# shellcheck source=demo_lib.sh
source "$ROOT/clients/demo_lib.sh"
if [[ ! -f "$FIXTURES/circuit_final.zkey" ]]; then
  echo "demo: making the Groth16 circuit and keys once (tests/fixtures/groth16.sh, ~40 s)" >&2
  "$ROOT/tests/fixtures/groth16.sh" >/dev/null
fi

say "An admin makes a Groth16 market (a Poseidon-chain circuit; snarkjs verifies) and three accounts"
if PROOFBOOK_API_KEY="$ADMIN_KEY" "$BIN/proofbook" --json markets | grep -q "\"id\":\"$MARKET\""; then
  echo "(market $MARKET is already there: reusing it)"
else
  run ADMIN_KEY admin market create --id "$MARKET" --proof-system groth16 --verifier snarkjs-groth16 \
    --verification-key var/fixtures/groth16/verification_key.json --min-stake 1000 --min-slash 100 \
    --slash-multiplier-bps 20000 --compensation-bps 5000 --fee-bps 100 --decline-window-ms 5000 \
    --unprovable-quorum 2 --unprovable-fee-bps 1000 --griefing-bps 5000 --reputation-weight-bps 2000
fi
read -r SEQ SEQ_KEY < <(new_account sequencer rollup-a)
read -r HONEST HONEST_KEY < <(new_account prover honest-prover)
read -r FAULTY FAULTY_KEY < <(new_account prover faulty-prover)
echo "accounts: sequencer $SEQ, honest prover $HONEST, faulty prover $FAULTY (keys kept in this shell)"
run ADMIN_KEY admin deposit --account "$SEQ" --amount 100000 --reference "demo-$SEQ"
run ADMIN_KEY admin deposit --account "$HONEST" --amount 10000 --reference "demo-$HONEST"
run ADMIN_KEY admin deposit --account "$FAULTY" --amount 10000 --reference "demo-$FAULTY"

say "Two provers stake 5000 and offer: the faulty one cheaper (200) than the honest one (300)"
prover honest HONEST_KEY --stake 5000 --offer "market=$MARKET,price=300,est_ms=30000,capacity=1" \
  --circuit "$MARKET=var/fixtures/groth16"
prover faulty FAULTY_KEY --stake 5000 --offer "market=$MARKET,price=200,est_ms=30000,capacity=1" \
  --fail-rate 1
run FAULTY_KEY book "$MARKET"

say "The sequencer orders a proof of H(x) for its public output and waits for it"
printf '{"public":%s,"witness":%s}\n' "$(tr -d ' \n' <"$FIXTURES/valid/public.json")" \
  "$(<"$FIXTURES/input.json")" >"$WORK/inputs.json"
cd "$WORK"
echo "\$ cat inputs.json"
cat inputs.json
run SEQ_KEY order place --market "$MARKET" --max-price 500 --deadline-ms 120000 \
  --inputs @inputs.json --wait --out proof.json
ORDER="$(PROOFBOOK_API_KEY="$SEQ_KEY" "$BIN/proofbook" --json order list --limit 1 | field orders 0 id)"

say "The cheap prover's proof failed verification: it was slashed, and the order went to the next offer"
run SEQ_KEY slashings --order "$ORDER"
run SEQ_KEY prover show "$FAULTY"
run SEQ_KEY settlements --order "$ORDER"
run FAULTY_KEY account show
run HONEST_KEY account show
run SEQ_KEY account show

say "The provers' own logs"
echo "\$ cat faulty.log"; cat faulty.log
echo "\$ cat honest.log"; cat honest.log
echo "\$ head -c 100 proof.json"
head -c 100 proof.json; echo " ..."

# The checks that make this a test.
status="$(PROOFBOOK_API_KEY="$SEQ_KEY" "$BIN/proofbook" --json order get "$ORDER" | field order status)"
[[ "$status" == completed ]] || die "order $ORDER is $status"
slashed="$(PROOFBOOK_API_KEY="$SEQ_KEY" "$BIN/proofbook" --json slashings --order "$ORDER")"
[[ "$(field slashings 0 prover <<<"$slashed")" == "$FAULTY" ]] || die "the faulty prover was not slashed: $slashed"
paid="$(PROOFBOOK_API_KEY="$SEQ_KEY" "$BIN/proofbook" --json settlements --order "$ORDER")"
[[ "$(field settlements 0 prover <<<"$paid")" == "$HONEST" ]] || die "the honest prover was not paid: $paid"
echo
echo "demo: OK (order $ORDER proved by prover $HONEST; prover $FAULTY slashed)"
