#!/usr/bin/env bash
# The verifier contract's tests, fed with real outputs of the Swift system produced in
# this run: a Python venv from PyPI (contracts/requirements.txt), a real host and
# enclave configured with the test chain's EIP-712 domain, the demo scenario, a
# 1,024-trader liquidation drill and one liquidation whose victim fetches its statement,
# the auditor's verify-outputs, the same liquidation on the broken test enclave (its wrong
# decision is proven on chain), then pytest on py-evm.
#
# Usage: scripts/contract-tests.sh [BIN_DIR]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BIN="${1:-$(swift build --show-bin-path)}"

contracts_venv

# eth-tester's chain id and the address its first account's first deployment gets:
# the venue is configured with them, so the contract deployed in the test verifies
# headers the enclave signed.
read -r CHAIN_ID CONTRACT < <("$VENV/bin/python" -c "
import sys; sys.path.insert(0, 'contracts/tests'); import reference
print(reference.ETH_TESTER_CHAIN_ID, reference.ETH_TESTER_CONTRACT)")

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-contract.XXXXXX")"
trap 'stop_host >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
"$BIN/sealstream-client" demo-venue --chain-id "$CHAIN_ID" --verifying-contract "$CONTRACT" > "$WORK/venue.json"
"$BIN/attestation" measure --enclave "$BIN/sealstream-enclave" --config "$WORK/venue.json" --allow-mode software \
    --policy-out "$WORK/policy.json" > /dev/null
ATTEST=(--policy "$WORK/policy.json" --allow-simulated)
VENUE_CONFIG="$WORK/venue.json" start_host "$BIN" "$WORK/data" "$WORK/host.log"
"$BIN/sealstream-client" scenario scripts/demo/scenario.txt --host "$HOST_ADDR" --venue "$WORK/venue.json" "${ATTEST[@]}" \
    > "$WORK/scenario.txt"
echo "contracts: liquidation drill (1,024 traders, one batch)"
"$BIN/sealstream-client" drill --host "$HOST_ADDR" --traders 1024 "${ATTEST[@]}"
# One liquidation whose victim fetches its statement: the opening of its decision
# (COMMITMENTS §7.2), challenged on chain by test_real_challenge.py (it stands: `below`).
"$BIN/sealstream-client" scenario contracts/tests/liquidation.txt --host "$HOST_ADDR" "${ATTEST[@]}" > "$WORK/liquidation.txt"
"$BIN/sealstream-client" statement --host "$HOST_ADDR" --account 9002 --trader fp-victim --json "${ATTEST[@]}" \
    > "$WORK/data/outputs/statement.json"
stop_host

# The same liquidation scenario on a deliberately broken enclave (TEST ONLY: built with a
# maintenance fraction one bps below initial, Enclave/sealstream-enclave/TestBuild.swift),
# given the honest venue configuration: its wrong liquidation is proven on chain.
echo "contracts: the broken test enclave (sealstream-enclave-broken-maintenance)"
BROKEN="$BIN/sealstream-enclave-broken-maintenance"
"$BIN/attestation" measure --enclave "$BROKEN" --config "$WORK/venue.json" --allow-mode software \
    --policy-out "$WORK/broken-policy.json" > /dev/null
BROKEN_ATTEST=(--policy "$WORK/broken-policy.json" --allow-simulated)
VENUE_CONFIG="$WORK/venue.json" start_host "$BIN" "$WORK/broken" "$WORK/broken-host.log" --enclave "$BROKEN"
"$BIN/sealstream-client" scenario contracts/tests/liquidation.txt --host "$HOST_ADDR" "${BROKEN_ATTEST[@]}" \
    > "$WORK/broken-liquidation.txt"
"$BIN/sealstream-client" statement --host "$HOST_ADDR" --account 9002 --trader fp-victim --json "${BROKEN_ATTEST[@]}" \
    > "$WORK/broken/outputs/statement.json"
stop_host
write_chain_json "$WORK/broken/outputs"

OUT="$WORK/data/outputs"
"$BIN/attestation" verify-outputs --data-dir "$WORK/data" --evidence "$OUT/epoch.json" --config "$WORK/venue.json" --json > "$WORK/verify.json" \
    || { cat "$WORK/verify.json"; echo "contracts: verify-outputs failed on the fixture" >&2; exit 1; }
write_chain_json "$OUT"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
batches = [json.loads(l) for l in open(f"{out}/batches.jsonl")]
print(f"contracts: real outputs: {len(batches)} batches, {sum(b['decisionCount'] for b in batches)} decisions,"
      f" largest batch {max(b['decisionCount'] for b in batches)} decisions")
PY

# Every test must run: a skip here would mean the real outputs were not checked.
SEALSTREAM_OUTPUTS="$OUT" SEALSTREAM_BROKEN_OUTPUTS="$WORK/broken/outputs" SEALSTREAM_VENUE="$WORK/venue.json" \
    "$VENV/bin/python" -m pytest contracts/tests -q -rs -p no:cacheprovider 2>&1 | tee "$WORK/pytest.txt"
if grep -qE "[0-9]+ skipped" "$WORK/pytest.txt"; then
    echo "contracts: tests were skipped" >&2
    exit 1
fi
