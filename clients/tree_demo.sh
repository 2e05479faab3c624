#!/usr/bin/env bash
# The proof-tree demo (README "Prove a block as a tree"): against a running server with a VRF
# master key (`./proofbook.sh run` makes one), an admin makes a leaf market (sha256-preimage) and
# a merge market (sha256-merge), four proofbook-prover workers offer on both — one of them,
# staking far more than the others, proves leaves honestly but delivers garbage for every merge
# — and a sequencer places a block of 8 chunks as one tree with `proofbook tree place --wait`.
# The merges are drawn among their children's provers, weighted by stake, so the faulty prover
# is drawn; its merge fails verification, it is slashed and the merge goes to the sibling's
# prover. The root arrives: the Merkle root of the chunks' digests, checked here. Each command
# is printed with `$ ` before its real output; the script exits non-zero if the market did not
# behave so (tests/integration/demo_test.cc runs it).
#
# Environment: PROOFBOOK_URL (default http://127.0.0.1:8080); PROOFBOOK_ADMIN_KEY (default the
# contents of var/admin.key); PROOFBOOK_BIN_DIR (default build/release/clients).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=demo_lib.sh
source "$ROOT/clients/demo_lib.sh"
LEAVES=8

say "An admin makes a leaf market (sha256-preimage) and a merge market (sha256-merge)"
if PROOFBOOK_API_KEY="$ADMIN_KEY" "$BIN/proofbook" --json markets | grep -q '"id":"chunks"'; then
  echo "(markets chunks and chunk-merges are already there: reusing them)"
else
  run ADMIN_KEY admin market create --id chunks --proof-system sha256 --verifier sha256-preimage \
    --min-stake 1000 --min-slash 50 --fee-bps 100 | head -n 4
  run ADMIN_KEY admin market create --id chunk-merges --proof-system sha256 \
    --verifier sha256-merge --min-stake 1000 --min-slash 50 --fee-bps 100 | head -n 4
fi
read -r SEQ SEQ_KEY < <(new_account sequencer rollup-b)
run ADMIN_KEY admin deposit --account "$SEQ" --amount 100000 --reference "tree-demo-$SEQ" >/dev/null
read -r FAULTY FAULTY_KEY < <(new_account prover big-faulty)
run ADMIN_KEY admin deposit --account "$FAULTY" --amount 10000000 --reference "tree-demo-$FAULTY" >/dev/null
HONEST=()
for i in 1 2 3; do
  read -r id key < <(new_account prover "honest-$i")
  HONEST+=("$id")
  declare "HONEST_KEY_$i=$key"
  run ADMIN_KEY admin deposit --account "$id" --amount 5000 --reference "tree-demo-$id" >/dev/null
done
echo "accounts: sequencer $SEQ, faulty prover $FAULTY, honest provers ${HONEST[*]} (keys kept in this shell)"

say "Four provers offer on both markets; the faulty one stakes 10,000,000, the others 5,000"
offers_up() {  # offers_up NAME: both offers placed
  for _ in $(seq 300); do
    [[ "$(grep -c msg=offer_placed "$WORK/$1.log" 2>/dev/null)" -ge 2 ]] && return 0
    sleep 0.1
  done
  die "prover $1 did not place its offers"
}
# Its leaf offer is the cheapest and takes one job at a time, so leaf 0 is its and leaf 1
# another prover's: their merge is drawn between two provers.
prover faulty FAULTY_KEY --stake 10000000 --offer market=chunks,price=90,est_ms=5000,capacity=1 \
  --offer market=chunk-merges,price=100,est_ms=5000,capacity=4 --fault-market chunk-merges \
  --fail-rate 1
offers_up faulty
for i in 1 2 3; do
  prover "honest-$i" "HONEST_KEY_$i" --stake 5000 \
    --offer market=chunks,price=100,est_ms=5000,capacity=2 \
    --offer market=chunk-merges,price=100,est_ms=5000,capacity=4
  offers_up "honest-$i"
done

say "The sequencer places a block of $LEAVES chunks as one tree and waits for its root"
cd "$WORK"
python3 - "$LEAVES" >leaves.json <<'EOF'
import hashlib, json, sys
chunks = [f"block 1 chunk {i}" for i in range(int(sys.argv[1]))]
print(json.dumps([{"sha256": hashlib.sha256(c.encode()).hexdigest(), "preimage": c} for c in chunks]))
EOF
echo "\$ head -c 160 leaves.json"
head -c 160 leaves.json; echo " ..."
run SEQ_KEY tree place --leaf-market chunks --merge-market chunk-merges --leaves @leaves.json \
  --leaf-price 100 --merge-price 100 --deadline-ms 60000 --wait | tee placed.txt
TREE="$(awk '$1 == "tree" { print $2; exit }' placed.txt)"

say "The faulty prover's merges failed verification: slashed each time, the merge handed to its sibling's prover"
run SEQ_KEY slashings
run SEQ_KEY prover show "$FAULTY"
echo "\$ grep fault=garbage faulty.log | head -n 2"
grep fault=garbage faulty.log | head -n 2

# The checks that make this a test: the root is the Merkle root of the chunks' digests (computed
# here), and the faulty prover, and only it, was slashed.
tree_json="$(PROOFBOOK_API_KEY="$SEQ_KEY" "$BIN/proofbook" --json tree show "$TREE")"
[[ "$(field tree status <<<"$tree_json")" == completed ]] || die "tree $TREE is not completed"
want="$(python3 - "$LEAVES" <<'EOF'
import hashlib, sys
level = [hashlib.sha256(f"block 1 chunk {i}".encode()).digest() for i in range(int(sys.argv[1]))]
while len(level) > 1:
    level = [hashlib.sha256(level[i] + level[i + 1]).digest() if i + 1 < len(level) else level[i]
             for i in range(0, len(level), 2)]
print(level[0].hex())
EOF
)"
[[ "$(field tree root_output <<<"$tree_json")" == "$want" ]] || die "the root is not the Merkle root $want"
slashed="$(PROOFBOOK_API_KEY="$SEQ_KEY" "$BIN/proofbook" --json slashings)"
[[ "$(field slashings 0 prover <<<"$slashed")" == "$FAULTY" ]] || die "the faulty prover was not slashed: $slashed"
python3 -c 'import json,sys; s=json.load(sys.stdin)["slashings"]
sys.exit(0 if s and all(x["prover"] == int(sys.argv[1]) for x in s) else 1)' "$FAULTY" <<<"$slashed" ||
  die "someone else was slashed: $slashed"
echo
echo "demo: OK (tree $TREE: root $want; prover $FAULTY slashed $(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["slashings"]))' <<<"$slashed") time(s))"
