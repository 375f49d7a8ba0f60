#!/usr/bin/env bash
# The main job, end to end: build release, start the host (which spawns the enclave
# worker), verify what the enclave claims, run the bundled trading scenario through the
# encrypted pipeline, put some load on it, and shut down cleanly; then trade options on a
# second host (scripts/demo/options-venue.json, options-scenario.txt) and verify that epoch;
# last, the options liquidation drill on a fresh options host (sealstream-client options-drill).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scripts/bootstrap.sh
echo "== build (release)"
swift build -c release 2>&1 | tail -1
BIN="$(swift build -c release --show-bin-path)"
echo "== build the measured enclave (reproducible: no checkout path, no RUNPATH, Swift runtime linked in)"
scripts/build-enclave.sh .build/reproducible
# The worker that runs and the one the auditor measures are the same reproducible bytes
# (docs/REPRODUCIBLE.md); the release folder's own enclave is a development build.
ENCLAVE="$(pwd)/.build/reproducible/sealstream-enclave"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-demo.XXXXXX")"
trap 'stop_host >/dev/null 2>&1 || true' EXIT
DATA="$WORK/data"

echo
echo "== 1. start host + enclave (attestation: software, SIMULATED)"
start_host "$BIN" "$DATA" "$WORK/host.log" --enclave "$ENCLAVE"
echo "host pid $HOST_PID listening on $HOST_ADDR; data dir $DATA"

echo
echo "== 2. auditor: measure the reviewed build, fetch evidence for its own nonce, verify"
"$BIN/attestation" measure --enclave "$ENCLAVE" --config scripts/demo/venue.json \
    --allow-mode software --policy-out "$WORK/policy.json"
NONCE="$("$BIN/attestation" challenge --url "http://$HTTP_ADDR" --out "$WORK/evidence.json" | awk '/^nonce /{print $2}')"
"$BIN/attestation" inspect "$WORK/evidence.json"
# software mode: the quote is a stand-in, so verification needs --allow-simulated and
# reports SIMULATED; without it the auditor's verdict is a failure.
"$BIN/attestation" verify --evidence "$WORK/evidence.json" --policy "$WORK/policy.json" --nonce "$NONCE" --allow-simulated

echo
echo "== 3. traders and oracles: scripts/demo/scenario.txt through the encrypted pipeline"
# --verify-inclusion: each trader then proves that every request of its was sequenced,
# from its own ciphertext and receipt and the host's proof against a signed header.
# Every client verifies the enclave against the auditor's policy before it opens a
# session (--policy; software mode needs --allow-simulated).
ATTEST=(--policy "$WORK/policy.json" --allow-simulated)
"$BIN/sealstream-client" scenario scripts/demo/scenario.txt --host "$HOST_ADDR" --venue scripts/demo/venue.json \
    --verify-inclusion "$HTTP_ADDR" "${ATTEST[@]}"

echo
echo "== 4. liquidation drill: 200 traders at 15x, one signed BTC move from 60,000 to 57,000"
"$BIN/sealstream-client" drill --host "$HOST_ADDR" --traders 200 "${ATTEST[@]}"
sleep 0.3
echo "the HTTP API serves the signed header that commits to the decisions (GET /v1/batches):"
python3 - "$HTTP_ADDR" <<'PY'
import json, sys, urllib.request
base = "http://" + sys.argv[1]
batches = json.load(urllib.request.urlopen(base + "/v1/batches?from=0&limit=1000"))
b = max(batches, key=lambda r: r["decisionCount"])
print(f"  batch {b['batchIndex']}: events {b['firstSequence']}..{b['lastSequence']}, {b['decisionCount']} decisions,"
      f" decisionsRoot {b['decisionsRoot'][:18]}..., signer {b['signer']}, halted markets {b['haltedMarkets']}")
d = json.load(urllib.request.urlopen(base + f"/v1/decisions?batch={b['batchIndex']}"))[0]
print(f"  first decision: account {d['account'][:18]}... {d['side']} {d['size']/1e8} BTC at mark {d['markPrice']/1e6},"
      f" equity {d['equity']/1e6} < maintenance {d['maintenanceRequirement']/1e6}; proof of {len(d['proof'])} hashes")
PY

echo
echo "== 4b. public market data: the latest BTC-PERP record from the WebSocket feed, its line"
echo "   proven into the signed header's marketDataRoot (docs/MARKETDATA.md)"
SIGNER="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['signer'])" "$WORK/evidence.json")"
"$BIN/sealstream-client" watch 1 --http "$HTTP_ADDR" --count 1 --signer "$SIGNER" --venue scripts/demo/venue.json

echo
echo "== 5. load: 5 s of encrypted orders at 50k/s over 8 sessions (commitments on)"
"$BIN/sealstream-client" load --host "$HOST_ADDR" --rate 50000 --duration 5 --sessions 8 "${ATTEST[@]}"

echo
echo "== 6. graceful shutdown (SIGTERM): the last batch is committed on the way out"
stop_host && echo "host exited cleanly"

echo
echo "== 7. auditor: verify every signed output against the signer named in the evidence,"
echo "   and recompute every mark from the published signed prices (--config)"
"$BIN/attestation" verify-outputs --data-dir "$DATA" --evidence "$WORK/evidence.json" --config scripts/demo/venue.json
echo
echo "== 8. options: a second host on scripts/demo/options-venue.json (BTC-PERP and four BTC options),"
echo "   scripts/demo/options-scenario.txt: quotes and trades in calls and puts, a signed smile, a"
echo "   rally with a volatility spike, and the liquidation of an over-leveraged short call"
ODATA="$WORK/options-data"
VENUE_CONFIG=scripts/demo/options-venue.json start_host "$BIN" "$ODATA" "$WORK/options-host.log" --enclave "$ENCLAVE"
"$BIN/attestation" measure --enclave "$ENCLAVE" --config scripts/demo/options-venue.json \
    --allow-mode software --policy-out "$WORK/options-policy.json" >/dev/null
"$BIN/attestation" challenge --url "http://$HTTP_ADDR" --out "$WORK/options-evidence.json" >/dev/null
"$BIN/sealstream-client" scenario scripts/demo/options-scenario.txt --host "$HOST_ADDR" \
    --venue scripts/demo/options-venue.json --verify-inclusion "$HTTP_ADDR" --policy "$WORK/options-policy.json" --allow-simulated
sleep 0.3
stop_host && echo "options host exited cleanly"
"$BIN/attestation" verify-outputs --data-dir "$ODATA" --evidence "$WORK/options-evidence.json" \
    --config scripts/demo/options-venue.json | tail -3
python3 - "$ODATA/outputs" scripts/demo/options-venue.json <<'PY'
import json, sys
out, venue = sys.argv[1], json.load(open(sys.argv[2]))
names = {m["id"]: m["symbol"] for m in venue["markets"] + venue["options"]["markets"]}
print("  option trades in the public market data (marketdata.jsonl), and the last option marks:")
marks, trades = {}, []
for line in open(f"{out}/marketdata.jsonl"):
    r = json.loads(line)
    if r["market"] != 1 and not r["halted"]:
        marks[r["market"]] = r["markPrice"]
    trades += [(t["sequence"], names[r["market"]], t) for t in r["trades"]]
for seq, name, t in sorted(trades, key=lambda x: x[0]):
    print(f"  seq {seq:>3} {name}: taker {t['aggressor']}s {t['size']/1e8} BTC at {t['price']/1e6}")
print("  " + ", ".join(f"{names[m]} {p/1e6:.2f}" for m, p in sorted(marks.items())))
decisions = [json.loads(l) for l in open(f"{out}/decisions.jsonl") if l.strip()]
print(f"  {len(decisions)} liquidation decision(s):")
for d in decisions:
    print(f"  account {d['account'][:18]}... {names.get(d['market'], d['market'])}: {d['side']} {d['size']/1e8} BTC"
          f" at mark {d['markPrice']/1e6}, equity {d['equity']/1e6} < maintenance {d['maintenanceRequirement']/1e6}")
PY

echo
echo "== 9. options liquidation drill: a fresh options host; 200 call writers (deposits from just above"
echo "   the initial requirement to 3x it), then BTC 60,000 -> 62,000 -> 64,000 and a steeper signed smile;"
echo "   the drill computes who is below maintenance itself and checks the signed decisions against it"
DDATA="$WORK/options-drill-data"
VENUE_CONFIG=scripts/demo/options-venue.json start_host "$BIN" "$DDATA" "$WORK/options-drill-host.log" --enclave "$ENCLAVE"
"$BIN/attestation" challenge --url "http://$HTTP_ADDR" --out "$WORK/options-drill-evidence.json" >/dev/null
"$BIN/sealstream-client" options-drill --host "$HOST_ADDR" --http "$HTTP_ADDR" --venue scripts/demo/options-venue.json \
    --traders 200 --policy "$WORK/options-policy.json" --allow-simulated > "$WORK/options-drill.json"
python3 - "$WORK/options-drill.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
k = s["spike"]
print(f"  {s['traders']} writers (deposits {s['depositUSD'][0]}..{s['depositUSD'][1]} USD): {s['expectedLiquidations']} below"
      f" maintenance by the drill's own computation, {s['liquidatedAccounts']} liquidated; {s['decisionsMatched']} of"
      f" {s['decisions']} decisions equal to it to the micro-unit, {s['proofsVerified']} inclusion proofs verified")
print(f"  spike: call mark {k['callMarkBefore']/1e6:.2f} -> {k['callMarkAfter']/1e6:.2f}, realized vol"
      f" {k['realizedVolatilityPpmBefore']/1e4:.1f}% -> {k['realizedVolatilityPpmAfter']/1e4:.1f}%, implied"
      f" {k['impliedVolatilityPpmBefore']/1e4:.1f}% -> {k['impliedVolatilityPpmAfter']/1e4:.1f}%, scan range"
      f" {k['scanRangeBpsBefore']/100:.2f}% -> {k['scanRangeBpsAfter']/100:.2f}%")
print(f"  signed header {s['spikeToHeaderMillis']:.0f} ms after the spike's first price; setup {s['setupSeconds']:.1f} s,"
      f" verification {s['verifySeconds']:.1f} s; checks: " + ", ".join(c["check"] for c in s["checks"] if c["pass"]))
PY
stop_host && echo "options drill host exited cleanly"
"$BIN/attestation" verify-outputs --data-dir "$DDATA" --evidence "$WORK/options-drill-evidence.json" \
    --config scripts/demo/options-venue.json | tail -1

echo
echo "metrics (DATA/metrics.prom):"
grep -E '^sealstream_host_(frames_in|frames_out|enclave_starts|enclave_crashes|malformed_frames|batches_published|decisions_published|http_requests)' "$DATA/metrics.prom" | grep -v ' 0$' || true
echo
echo "host log (JSON lines; no payloads, no keys): $WORK/host.log"
tail -3 "$WORK/host.log"
echo
echo "demo complete. What is simulated: attestation mode 'software' (no TPM quote yet, so the"
echo "signer address is vouched for by unattested evidence),"
echo "isolation class 'process'. See README, Status."
