#!/usr/bin/env bash
# The demo with the worker booted in the appliance image (docs/IMAGE.md §10): the host
# boots the image under qemu (OVMF, swtpm vTPM, TCG) and speaks the link over the guest's
# serial port; the auditor predicts the image's PCRs, enrols the VM's attestation key,
# verifies fresh evidence (every check, the measured boot's included); the demo scenario
# trades through the VM worker; the signed outputs are verified.
#
# Usage: scripts/image-demo.sh BIN_DIR IMAGE ENCLAVE
#   BIN_DIR  debug or release bin directory (sealstream-host, sealstream-client, attestation)
#   IMAGE    the UKI (scripts/build-image.sh); ENCLAVE the worker inside it
# Prints boot, evidence and scenario times. Environment: BOOT_TIMEOUT (s, default 600).
#
# SIMULATED: the vTPM is swtpm, run by this script. The worker in the guest sees a TPM
# device and says `tpm`; the policy passes only because it trusts swtpm's throwaway EK CA
# as a TPM vendor's (--ek-root). A real verifier never does that (docs/IMAGE.md §9).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 3 ]] || { echo "usage: $0 BIN_DIR IMAGE ENCLAVE" >&2; exit 2; }
BIN=$1 IMAGE=$2 ENCLAVE=$3
mkdir -p .build-image
WORK=$(mktemp -d "$(pwd)/.build-image/demo.XXXXXX")
DATA="$WORK/data"
HOST_PID=""
cleanup() {
    if [[ -n "$HOST_PID" ]] && kill -0 "$HOST_PID" 2>/dev/null; then
        kill -TERM "$HOST_PID"
        wait "$HOST_PID" || true
    fi
}
trap cleanup EXIT
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

echo "== 1. host boots the image (qemu TCG, OVMF, swtpm); link on the guest's /dev/ttyS2"
start=$(now)
"$BIN/sealstream-host" run --data-dir "$DATA" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
    --config scripts/demo/venue.json --enclave-image "$IMAGE" --attestation tpm --journal off \
    >"$WORK/host.log" 2>&1 &
HOST_PID=$!
for ((i = 0; i < ${BOOT_TIMEOUT:-600} * 10; i++)); do
    [[ -s "$DATA/host.json" ]] && break
    kill -0 "$HOST_PID" 2>/dev/null || { cat "$WORK/host.log" >&2; exit 1; }
    sleep 0.1
done
[[ -s "$DATA/host.json" ]] || { echo "image-demo.sh: the VM worker was not ready in time" >&2; exit 1; }
ready=$(now)
HOST_ADDR=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['listen'])" "$DATA/host.json")
HTTP_ADDR=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['http'])" "$DATA/host.json")
echo "worker ready after $(elapsed "$start" "$ready") s (host start to the worker's hello)"

echo "== 2. auditor: predict the image's PCRs, pin the firmware (PCR 0, 7 of this machine's boot report)"
pcr() { awk -v i="$1" '$1 == "pcr" && $2 == i { print $3 }' "$DATA/vm/report.txt"; }
"$BIN/attestation" measure --enclave "$ENCLAVE" --config scripts/demo/venue.json --image "$IMAGE" \
    --allow-mode tpm --ek-root "$DATA/vm/swtpm/ca/ek-roots.pem" \
    --boot-pcr "0=$(pcr 0)" --boot-pcr "7=$(pcr 7)" --policy-out "$WORK/policy.json"
"$BIN/attestation" challenge --url "http://$HTTP_ADDR" --out "$WORK/first.json" >/dev/null
"$BIN/attestation" enroll --host "$HOST_ADDR" --evidence "$WORK/first.json" --policy "$WORK/policy.json" \
    --policy-out "$WORK/policy-enrolled.json"
t0=$(now)
NONCE=$("$BIN/attestation" challenge --url "http://$HTTP_ADDR" --out "$WORK/evidence.json" | awk '/^nonce /{print $2}')
t1=$(now)
echo "evidence for a fresh nonce in $(elapsed "$t0" "$t1") s"
"$BIN/attestation" verify --evidence "$WORK/evidence.json" --policy "$WORK/policy-enrolled.json" --nonce "$NONCE"
python3 - "$WORK/evidence.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
assert e["isolation"] == "vm", e["isolation"]
assert e["mode"] == "tpm" and e.get("bootEventLog"), "no firmware event log in the evidence"
print("evidence: isolation vm, mode tpm, bootEventLog", len(e["bootEventLog"]) // 2, "bytes")
PY

echo "== 3. the demo scenario through the VM worker"
t0=$(now)
"$BIN/sealstream-client" scenario scripts/demo/scenario.txt --host "$HOST_ADDR" --venue scripts/demo/venue.json \
    --verify-inclusion "$HTTP_ADDR" --policy "$WORK/policy-enrolled.json"
t1=$(now)
echo "scenario in $(elapsed "$t0" "$t1") s"

# Closed loop (at most 64 requests in flight per session): qemu runs under TCG here, so a
# fixed offered rate would mostly measure its own backlog (20k/s offered left 30k of 35k
# unanswered); this reports what the link sustains, with latency under that load.
echo "== 4. load through the VM link: 5 s of encrypted orders, closed loop, 64 in flight per session, 4 sessions (a report, not a target)"
"$BIN/sealstream-client" load --host "$HOST_ADDR" --rate 0 --window 64 --duration 5 --sessions 4 \
    --policy "$WORK/policy-enrolled.json" || echo "image-demo.sh: the load run failed (reported, not a check)"

echo "== 5. outputs: the signed batches verify against the VM worker's evidence"
sleep 1
"$BIN/attestation" verify-outputs --data-dir "$DATA" --evidence "$WORK/evidence.json"
echo "image demo passed"
