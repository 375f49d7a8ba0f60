#!/usr/bin/env bash
# The verifier contract's tests, fed with real outputs of the Swift system produced in
# this run: a Python venv from PyPI (contracts/requirements.txt), a real host and
# enclave configured with the test chain's EIP-712 domain, the demo scenario and a
# 1,024-trader liquidation drill, the auditor's verify-outputs, then pytest on py-evm.
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
stop_host

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
SEALSTREAM_OUTPUTS="$OUT" "$VENV/bin/python" -m pytest contracts/tests -q -rs -p no:cacheprovider 2>&1 | tee "$WORK/pytest.txt"
if grep -qE "[0-9]+ skipped" "$WORK/pytest.txt"; then
    echo "contracts: tests were skipped" >&2
    exit 1
fi
