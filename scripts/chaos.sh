#!/usr/bin/env bash
# Chaos: scenario traders plus background load while the enclave worker, the host or both
# are killed with SIGKILL at random moments, ROUNDS times; then every answer the traders
# recorded is checked against the published outputs, the batch chain is verified as one
# epoch, and the journal is replayed from genesis in a separate process
# (docs/DURABILITY.md, "Chaos").
#
#   scripts/chaos.sh ROUNDS [WORKDIR]
#   scripts/chaos.sh --cluster ROUNDS [WORKDIR]   failover chaos: a primary and a hot standby
#                                   on a JetStream cluster (scripts/chaos-cluster.sh)
#
# Environment: SEED (default: random, printed), TRADERS (4), STEPS (per trader; default
# 12 × ROUNDS), LOAD_RATE (orders/s of the background load, 200; 0 turns it off),
# DRILL_TRADERS (the liquidation drill started halfway through the kills, 100; 0 for none),
# SEALSTREAM_BIN_DIR (default: `swift build --show-bin-path`, built if needed),
# JOURNAL (the host's --journal: on, the default, or nats://… for the replicated journal,
# docs/REPLICATION.md), WIPE_LOCAL_JOURNAL (1: delete DATA/journal/*.seg before every host
# restart, so the host must rebuild its journal from the stream; only with nats://…).
# Exit 0 when every check passes; 1 with the failing check named.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chaos-common.sh
if [[ "${1:-}" == --cluster ]]; then
    shift
    exec scripts/chaos-cluster.sh "$@"
fi

ROUNDS="${1:?usage: scripts/chaos.sh ROUNDS [WORKDIR]}"
WORK="${2:-$(mktemp -d "${TMPDIR:-/tmp}/sealstream-chaos.XXXXXX")}"
SEED="${SEED:-$(( (RANDOM << 15) | RANDOM ))}"
TRADERS="${TRADERS:-4}"
STEPS="${STEPS:-$(( 12 * ROUNDS ))}"
LOAD_RATE="${LOAD_RATE:-200}"
DRILL_TRADERS="${DRILL_TRADERS:-100}"
JOURNAL="${JOURNAL:-on}"
WIPE_LOCAL_JOURNAL="${WIPE_LOCAL_JOURNAL:-0}"
VENUE="$(pwd)/scripts/demo/venue.json"
if [[ -z "${SEALSTREAM_BIN_DIR:-}" ]]; then
    swift build 2>&1 | tail -1
    SEALSTREAM_BIN_DIR="$(swift build --show-bin-path)"
fi
BIN="$SEALSTREAM_BIN_DIR"
export TSS2_LOG="${TSS2_LOG:-all+none}"
mkdir -p "$WORK/receipts"
DATA="$WORK/data"
START=$(date +%s.%N)
echo "chaos: $ROUNDS rounds, seed $SEED, $TRADERS traders × $STEPS steps, load ${LOAD_RATE}/s, work dir $WORK"

elapsed() { python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$START"; }
# field KEY: a field of DATA/host.json (empty if unreadable).
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ''))" "$DATA/host.json" "$1" 2>/dev/null || true; }

HOST_PID=""
HOST_STARTS=0
LISTEN="127.0.0.1:0"
HTTP="127.0.0.1:0"
# start_host: starts the host on the data dir (the same ports after the first start) and
# waits until it has written host.json for this process.
start_host() {
    HOST_STARTS=$((HOST_STARTS + 1))
    "$BIN/sealstream-host" run --data-dir "$DATA" --listen "$LISTEN" --http "$HTTP" --config "$VENUE" \
        --journal "$JOURNAL" >>"$WORK/host-$HOST_STARTS.log" 2>&1 &
    HOST_PID=$!
    for _ in $(seq 1 600); do
        # A host on the replicated journal writes host.json as a standby first (no
        # `listen`) and again once it leads (docs/REPLICATION.md §9).
        if [[ "$(field hostPid)" == "$HOST_PID" && -n "$(field listen)" ]]; then
            LISTEN="$(field listen)"
            HTTP="$(field http)"
            return 0
        fi
        kill -0 "$HOST_PID" 2>/dev/null || { echo "chaos: host start $HOST_STARTS failed:"; tail -20 "$WORK/host-$HOST_STARTS.log"; return 1; }
        sleep 0.05
    done
    echo "chaos: host start $HOST_STARTS did not come up in 30 s"
    return 1
}

cleanup() {
    set +e  # a process already gone is not an error here
    stop_load
    for p in ${TRADER_PIDS:-} ${DRILL_PID:-}; do kill "$p" 2>/dev/null; done
    [[ -n "$HOST_PID" ]] && kill -9 "$HOST_PID" 2>/dev/null
    true
}
trap cleanup EXIT

start_host
echo "chaos: host pid $HOST_PID on $LISTEN (http $HTTP)"
"$BIN/attestation" measure --enclave "$BIN/sealstream-enclave" --config "$VENUE" --allow-mode software \
    --policy-out "$WORK/policy.json" >/dev/null
ATTEST=(--policy "$WORK/policy.json" --allow-simulated)

write_trader_scenarios
start_traders "$LISTEN"
start_load_loop "echo $LISTEN"

DRILL_PID=""

# The kills: a seeded schedule of (delay, target), printed as it runs.
mapfile -t PLAN < <(python3 -c "
import random, sys
rng = random.Random(int(sys.argv[1]) ^ 0x5eed)
for _ in range(int(sys.argv[2])):
    print(f'{rng.uniform(0.2, 2.0):.2f} {rng.choice([\"enclave\", \"enclave\", \"host\", \"both\"])}')
" "$SEED" "$ROUNDS")
KILLS=0
for r in $(seq 1 "$ROUNDS"); do
    read -r delay target <<<"${PLAN[$((r - 1))]}"
    [[ $r -eq $(( (ROUNDS + 1) / 2 )) ]] && start_drill "$LISTEN" chaos
    sleep "$delay"
    # A worker being restarted has no pid yet: wait for it (never `kill -9 0`).
    enclave="$(field enclavePid)"
    for _ in $(seq 1 600); do
        [[ "${enclave:-0}" -gt 1 ]] && break
        sleep 0.05
        enclave="$(field enclavePid)"
    done
    starts="$(field enclaveStarts)"
    case "$target" in
        enclave) victims="$enclave" ;;
        host) victims="$HOST_PID" ;;
        both) victims="$enclave $HOST_PID" ;;
    esac
    echo "chaos: round $r at +$(elapsed)s: kill -9 $target ($victims)"
    # shellcheck disable=SC2086
    kill -9 $victims 2>/dev/null || echo "chaos: round $r: $target was already gone"
    KILLS=$((KILLS + 1))
    if [[ "$target" == enclave ]]; then
        for _ in $(seq 1 600); do
            [[ "$(field enclaveStarts)" -gt "$starts" ]] && break
            sleep 0.05
        done
    else
        wait "$HOST_PID" 2>/dev/null || true
        if [[ "$WIPE_LOCAL_JOURNAL" == 1 ]]; then
            echo "chaos: round $r: removing $(find "$DATA/journal" -name '*.seg' | wc -l) local segments"
            rm -f "$DATA"/journal/*.seg
        fi
        start_host
    fi
done
echo "chaos: $KILLS kills done at +$(elapsed)s; waiting for the traders"

wait_traders chaos
wait_drill chaos
stop_load
sleep 1  # the open batch closes (commitments.batchMaxNanos) and is published
kill -TERM "$HOST_PID"
for _ in $(seq 1 300); do kill -0 "$HOST_PID" 2>/dev/null || break; sleep 0.1; done
HOST_HUNG=0
if kill -0 "$HOST_PID" 2>/dev/null; then HOST_HUNG=1; kill -9 "$HOST_PID"; fi
HOST_STATUS=0
wait "$HOST_PID" || HOST_STATUS=$?
HOST_PID=""
echo "chaos: host stopped (exit $HOST_STATUS) at +$(elapsed)s"

FAILED=0
fail() { echo "chaos: FAIL: $*"; FAILED=1; }
[[ $TRADER_FAILED -eq 0 ]] || fail "a trader did not finish cleanly"
[[ $KILLS -ge $ROUNDS ]] || fail "only $KILLS kills"
[[ $HOST_HUNG -eq 0 ]] || fail "the host did not exit within 30 s of SIGTERM (killed)"
[[ $HOST_STATUS -eq 0 ]] || fail "the host exited with status $HOST_STATUS on SIGTERM"

echo "== answers against the published event log"
"$BIN/sealstream-client" chaos-check --data-dir "$DATA" "$WORK"/receipts/*.jsonl || fail "chaos-check"

echo "== one epoch, one chain"
[[ ! -e "$DATA/outputs/epochs" ]] || fail "a new epoch started: $(ls "$DATA/outputs/epochs")"
SIGNER="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['signer'])" "$DATA/outputs/epoch.json")"
"$BIN/attestation" verify-outputs --data-dir "$DATA" --signer "$SIGNER" --config "$VENUE" || fail "verify-outputs"

echo "== replay from genesis in a separate process"
REPLAY_STATUS=0
"$BIN/sealstream-host" replay --data-dir "$DATA" --config "$VENUE" >"$WORK/replay.out" 2>"$WORK/replay.log" || REPLAY_STATUS=$?
cat "$WORK/replay.out"
[[ $REPLAY_STATUS -eq 0 ]] || { tail -5 "$WORK/replay.log"; fail "replay exit $REPLAY_STATUS"; }
LAST_ROOT="$(last_root "$DATA")"
grep -q "final state root: $LAST_ROOT" "$WORK/replay.out" || fail "replay's final state root is not the last header's ($LAST_ROOT)"

echo "chaos: seed $SEED, $KILLS kills, $(elapsed) s: $([[ $FAILED -eq 0 ]] && echo PASS || echo FAIL)"
exit $FAILED
