#!/usr/bin/env bash
# The main job, end to end: build release, start the host (which spawns the enclave
# worker), verify what the enclave claims, run the bundled trading scenario through the
# encrypted pipeline, put some load on it, and shut down cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scripts/bootstrap.sh
echo "== build (release)"
swift build -c release 2>&1 | tail -1
BIN="$(swift build -c release --show-bin-path)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-demo.XXXXXX")"
trap 'stop_host >/dev/null 2>&1 || true' EXIT
DATA="$WORK/data"

echo
echo "== 1. start host + enclave (attestation: software, SIMULATED)"
start_host "$BIN" "$DATA" "$WORK/host.log"
echo "host pid $HOST_PID listening on $HOST_ADDR; data dir $DATA"

echo
echo "== 2. auditor: fetch fresh evidence for a random nonce and inspect it"
"$BIN/sealstream-client" evidence --host "$HOST_ADDR" --out "$WORK/evidence.json"
"$BIN/attestation" inspect "$WORK/evidence.json"

echo
echo "== 3. traders and oracles: scripts/demo/scenario.txt through the encrypted pipeline"
"$BIN/sealstream-client" scenario scripts/demo/scenario.txt --host "$HOST_ADDR" --venue scripts/demo/venue.json

echo
echo "== 4. load: 5 s of encrypted orders at 50k/s over 8 sessions"
"$BIN/sealstream-client" load --host "$HOST_ADDR" --rate 50000 --duration 5 --sessions 8

echo
echo "== 5. graceful shutdown (SIGTERM)"
stop_host && echo "host exited cleanly"
echo
echo "metrics (DATA/metrics.prom):"
grep -E '^sealstream_host_(frames_in|frames_out|enclave_starts|enclave_crashes|malformed_frames)' "$DATA/metrics.prom" | grep -v ' 0$' || true
echo
echo "host log (JSON lines; no payloads, no keys): $WORK/host.log"
tail -3 "$WORK/host.log"
echo
echo "demo complete. What is simulated: attestation mode 'software' (no TPM quote yet),"
echo "isolation class 'process'. See README, Status."
