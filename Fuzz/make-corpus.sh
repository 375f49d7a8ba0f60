#!/usr/bin/env bash
# Captures the committed seed corpus (Fuzz/corpus/) and fixtures (Fuzz/fixtures/) from
# real traffic: a debug host and enclave, the demo scenario and a small liquidation
# drill run through logging TCP relays in front of the order port and the HTTP API,
# then the published outputs. tools/split-corpus.py cuts the captures into seeds.
# Run by hand when a format changes; the fuzz targets only read what it wrote.
# Usage: Fuzz/make-corpus.sh [BIN_DIR]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BIN="${1:-$(swift build --show-bin-path)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-corpus.XXXXXX")"
RELAYS=()
cleanup() {
    stop_host >/dev/null 2>&1 || true
    for pid in "${RELAYS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

start_host "$BIN" "$WORK/data" "$WORK/host.log"
relay() {  # relay NAME TARGET: starts a logging relay, prints its address
    mkdir -p "$WORK/capture/$1"
    python3 Fuzz/tools/relay.py "$WORK/$1.port" "$2" "$WORK/capture/$1" &
    RELAYS+=($!)
    for _ in $(seq 1 100); do [[ -s "$WORK/$1.port" ]] && break; sleep 0.1; done
}
relay tcp "$HOST_ADDR"
relay http "$HTTP_ADDR"
TCP="127.0.0.1:$(cat "$WORK/tcp.port")"
HTTP="127.0.0.1:$(cat "$WORK/http.port")"

"$BIN/attestation" measure --enclave "$BIN/sealstream-enclave" --config scripts/demo/venue.json \
    --allow-mode software --policy-out "$WORK/policy.json" > /dev/null
"$BIN/attestation" challenge --url "http://$HTTP" --out "$WORK/evidence.json" > /dev/null
ATTEST=(--policy "$WORK/policy.json" --allow-simulated)
"$BIN/sealstream-client" drill --host "$TCP" --traders 6 "${ATTEST[@]}" | tail -c 600
"$BIN/sealstream-client" scenario scripts/demo/scenario.txt --host "$TCP" --venue scripts/demo/venue.json \
    --verify-inclusion "$HTTP" "${ATTEST[@]}" > /dev/null
sleep 0.5
stop_host
"$BIN/sealstream-client" demo-venue > "$WORK/demo-venue.json"

python3 Fuzz/tools/split-corpus.py "$WORK" Fuzz/corpus Fuzz/fixtures/outputs
du -sh Fuzz/corpus Fuzz/fixtures
