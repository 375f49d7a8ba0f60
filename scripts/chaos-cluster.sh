#!/usr/bin/env bash
# Failover chaos (issue 13; docs/REPLICATION.md §12): a primary and a hot
# standby host, each on its own "machine" (a network namespace, scripts/machines.sh), the
# journal on a three-node NATS JetStream cluster (scripts/cluster.sh), scenario traders
# that know both host addresses and fail over by themselves, background load, and ROUNDS
# faults at random moments, each one of:
#   host       kill -9 of the primary host (its worker dies with it): the standby takes
#              over; the killed machine's host is started again and becomes the standby;
#   enclave    kill -9 of the primary's worker: the primary recovers it in place;
#   nats       kill -9 of one NATS node, started again 1-3 s later;
#   partition  the primary's machine cut off the network (link down) until the standby
#              has taken over and 2 s more, then healed: the old primary must not publish
#              a batch and steps down; it is then started again as the standby.
# At the end: every answer any trader recorded is in the new primary's published event
# log exactly once (nothing receipted lost, nothing executed twice); every host's
# batches.jsonl is a prefix of the final primary's (one chain: an old primary published
# nothing the chain does not hold); `attestation verify-outputs` accepts the chain as one
# epoch with one signer, and so does the verifier contract on py-evm (the venue is made
# with its EIP-712 domain; contracts/tests/test_real_outputs.py); replay from genesis in a
# separate process reproduces every header and the final state root; and the standby's
# state root, once it has caught up, equals it.
#
#   scripts/chaos.sh --cluster ROUNDS [WORKDIR]
#
# Environment: SEED, TRADERS (3), STEPS (per trader, 12 x ROUNDS), LOAD_RATE (200/s),
# DRILL_TRADERS (the liquidation drill started halfway through the faults, 100; 0: none),
# FAULT_KINDS (default "host host enclave nats partition": the kinds drawn from),
# SEALSTREAM_BIN_DIR (default: `swift build --show-bin-path`), MACHINES (auto: network
# namespaces when the kernel allows; 0 forces loopback ports, where a partition is
# SIGSTOP of the primary's host and worker instead of a link cut).
# Exit 0 when every check passes; 1 with the failing check named.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${1:?usage: scripts/chaos.sh --cluster ROUNDS [WORKDIR]}"
WORK="${2:-$(mktemp -d "${TMPDIR:-/tmp}/sealstream-chaos-cluster.XXXXXX")}"
SEED="${SEED:-$(( (RANDOM << 15) | RANDOM ))}"
TRADERS="${TRADERS:-3}"
STEPS="${STEPS:-$(( 12 * ROUNDS ))}"
LOAD_RATE="${LOAD_RATE:-200}"
DRILL_TRADERS="${DRILL_TRADERS:-100}"
# The faults drawn from, with repetition as weight.
FAULT_KINDS="${FAULT_KINDS:-host host enclave nats partition}"
source scripts/lib.sh
source scripts/chaos-common.sh
if [[ -z "${SEALSTREAM_BIN_DIR:-}" ]]; then
    swift build 2>&1 | tail -1
    SEALSTREAM_BIN_DIR="$(swift build --show-bin-path)"
fi
BIN="$SEALSTREAM_BIN_DIR"
export TSS2_LOG="${TSS2_LOG:-all+none}"
mkdir -p "$WORK/receipts"
# The demo venue with the EIP-712 domain of the contract the end check deploys on py-evm
# (eth-tester's chain id and first contract address), so the contract can verify the chain.
contracts_venv >&2
read -r CHAIN_ID CONTRACT < <("$VENV/bin/python" -c "
import sys; sys.path.insert(0, 'contracts/tests'); import reference
print(reference.ETH_TESTER_CHAIN_ID, reference.ETH_TESTER_CONTRACT)")
VENUE="$WORK/venue.json"
"$BIN/sealstream-client" demo-venue --chain-id "$CHAIN_ID" --verifying-contract "$CONTRACT" >"$VENUE"
START=$(date +%s.%N)
elapsed() { python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$START"; }
say() { echo "chaos-cluster: $*"; }

# The two machines: namespaces on a bridge, or loopback.
USE_NS=0
if [[ "${MACHINES:-auto}" != 0 ]] && scripts/machines.sh up 2 2>/dev/null; then USE_NS=1; fi
if ((USE_NS)); then
    NATS_HOST=10.77.0.1
    ADDR=("" "$(scripts/machines.sh addr 1)" "$(scripts/machines.sh addr 2)")
    PORT=("" 7400 7400)
    HTTPPORT=("" 7480 7480)
else
    NATS_HOST=127.0.0.1
    ADDR=("" 127.0.0.1 127.0.0.1)
    read -r -a free <<<"$(python3 -c "
import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(('127.0.0.1', 0))
print(' '.join(str(x.getsockname()[1]) for x in s))")"
    PORT=("" "${free[0]}" "${free[1]}")
    HTTPPORT=("" "${free[2]}" "${free[3]}")
fi
HOSTS="${ADDR[1]}:${PORT[1]},${ADDR[2]}:${PORT[2]}"
say "$ROUNDS rounds, seed $SEED, $TRADERS traders x $STEPS steps, load ${LOAD_RATE}/s, machines: $([[ $USE_NS == 1 ]] && echo "network namespaces" || echo "loopback"), work dir $WORK"

NATS_HOST="$NATS_HOST" scripts/cluster.sh start "$WORK/nats" >/dev/null
JOURNAL="$(cat "$WORK/nats/urls")"

DATA=("" "$WORK/m1" "$WORK/m2")
HOST_PID=("" "" "")
HOST_LOG=("" "" "")
STARTS=0
# field M KEY: a field of machine M's host.json (empty if unreadable).
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ''))" "${DATA[$1]}/host.json" "$2" 2>/dev/null || true; }
# on_machine M CMD...: replaces this (sub)shell with CMD on machine M, so that a
# backgrounded call's $! is CMD's own pid.
on_machine() {
    local m="$1"
    shift
    if ((USE_NS)); then exec scripts/machines.sh exec "$m" "$@"; else exec "$@"; fi
}
# launch M: starts machine M's host (as whatever role the lease gives it), in the background.
launch() {
    local m="$1"
    STARTS=$((STARTS + 1))
    on_machine "$m" "$BIN/sealstream-host" run --data-dir "${DATA[$m]}" --listen "${ADDR[$m]}:${PORT[$m]}" \
        --http "${ADDR[$m]}:${HTTPPORT[$m]}" --config "$VENUE" --journal "$JOURNAL" \
        >>"$WORK/host-m$m-$STARTS.log" 2>&1 &
    HOST_PID[$m]=$!
    HOST_LOG[$m]="$WORK/host-m$m-$STARTS.log"
}
# alive M: machine M's host process runs (a zombie this script has not reaped does not).
alive() {
    local pid="${HOST_PID[$1]}"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}
# supervise [M]: what systemd's Restart=on-failure does for a deployed host (deploy/,
# docs/REPLICATION.md §7): a host that exited (stepped down, a takeover that failed on a
# NATS timeout, a start that found no primary to enroll from yet) is started again; M, if
# given, is left alone (cut off by a partition). Counts the restarts in EXITS.
EXITS=0
supervise() {
    local m status
    for m in 1 2; do
        [[ "$m" != "${1:-0}" && -n "${HOST_PID[$m]}" ]] || continue
        alive "$m" && continue
        status=0
        wait "${HOST_PID[$m]}" 2>/dev/null || status=$?
        EXITS=$((EXITS + 1))
        say "m$m's host exited (status $status): started again, as Restart=on-failure would"
        launch "$m"
    done
}
# metric M NAME: the value of an unlabelled metric on machine M's host (empty if unreadable).
metric() {
    python3 - "http://${ADDR[$1]}:${HTTPPORT[$1]}/metrics" "$2" <<'PY' 2>/dev/null || true
import sys, urllib.request
for line in urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().splitlines():
    name, _, value = line.partition(" ")
    if name == sys.argv[2]:
        print(value.strip())
PY
}
# role M: the role machine M's running host wrote into host.json (empty while it starts,
# or when host.json is a dead process's).
role() { alive "$1" && [[ "$(field "$1" hostPid)" == "${HOST_PID[$1]}" ]] && field "$1" role; }
# wait_role M ROLE SECONDS [EXCEPT]: until machine M's host says it is ROLE, supervising
# the hosts (but EXCEPT) meanwhile.
wait_role() {
    local n=$(( $3 * 20 ))
    for _ in $(seq 1 "$n"); do
        [[ "$(role "$1")" == "$2" ]] && return 0
        supervise "${4:-0}"
        sleep 0.05
    done
    return 1
}
primary() { if [[ "$(role 1)" == primary ]]; then echo 1; elif [[ "$(role 2)" == primary ]]; then echo 2; else echo 0; fi; }
other() { echo $((3 - $1)); }
# wait_new_primary OLD_PID SECONDS: until a host other than process OLD_PID is primary;
# sets NEW_PRIMARY to its machine. (Not in a subshell: supervise updates HOST_PID.)
wait_new_primary() {
    local n=$(( $2 * 20 )) p
    for _ in $(seq 1 "$n"); do
        p="$(primary)"
        if [[ "$p" != 0 && "${HOST_PID[$p]}" != "$1" ]]; then NEW_PRIMARY="$p"; return 0; fi
        supervise
        sleep 0.05
    done
    return 1
}
# settle SECONDS: until one host is primary and the other a standby; SETTLED is then the
# primary's machine (read once: a primary may step down the next moment, e.g. when a
# NATS node dies under its lease, and a fault must not be aimed at "no machine").
settle() {
    local n=$(( $1 * 20 )) p
    for _ in $(seq 1 "$n"); do
        p="$(primary)"
        if [[ "$p" != 0 && "$(role "$(other "$p")")" == standby ]]; then SETTLED="$p"; return 0; fi
        supervise
        sleep 0.05
    done
    return 1
}
since() { python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.2f}')" "$1"; }

cleanup() {
    set +e
    stop_load
    for p in ${TRADER_PIDS:-} ${DRILL_PID:-}; do kill "$p" 2>/dev/null; done
    for m in 1 2; do
        [[ -n "${HOST_PID[$m]}" ]] && { kill -CONT "${HOST_PID[$m]}"; kill -9 "${HOST_PID[$m]}"; } 2>/dev/null
    done
    scripts/cluster.sh stop "$WORK/nats" >/dev/null 2>&1
    ((USE_NS)) && scripts/machines.sh down
    true
}
trap cleanup EXIT

launch 1
wait_role 1 primary 60 || { say "FAIL: the first host did not become primary"; exit 1; }
launch 2
wait_role 2 standby 60 || { say "FAIL: the second host did not become the standby"; exit 1; }
say "primary m1 (pid ${HOST_PID[1]}) on ${ADDR[1]}:${PORT[1]}, standby m2 (pid ${HOST_PID[2]}) on ${ADDR[2]}:${PORT[2]}"
cp "${DATA[1]}/outputs/epoch.json" "$WORK/first-epoch.json"
"$BIN/attestation" measure --enclave "$BIN/sealstream-enclave" --config "$VENUE" --allow-mode software \
    --policy-out "$WORK/policy.json" >/dev/null
ATTEST=(--policy "$WORK/policy.json" --allow-simulated)

write_trader_scenarios
start_traders "$HOSTS"
# Background load against whichever host is primary (`load` does not fail over).
# (The loop runs in a subshell, whose HOST_PID does not follow restarts: it goes by
# host.json and the process it names.)
primary_address() {
    local m pid
    for m in 1 2; do
        pid="$(field "$m" hostPid)"
        [[ "$(field "$m" role)" == primary && -n "$pid" && "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" =~ ^[RSD]$ ]] \
            && { echo "${ADDR[$m]}:${PORT[$m]}"; return; }
    done
}
start_load_loop primary_address

# The faults: a seeded schedule of (delay, target).
mapfile -t PLAN < <(python3 -c "
import random, sys
rng = random.Random(int(sys.argv[1]) ^ 0xc105)
for _ in range(int(sys.argv[2])):
    print(f'{rng.uniform(0.3, 2.0):.2f} {rng.choice(sys.argv[3].split())} {rng.randint(1, 3)}')
" "$SEED" "$ROUNDS" "$FAULT_KINDS")
FAULTS=0
TAKEOVERS=0
FAILED=0
fail() { say "FAIL: $*"; FAILED=1; }
for r in $(seq 1 "$ROUNDS"); do
    read -r delay target node <<<"${PLAN[$((r - 1))]}"
    [[ $r -eq $(( (ROUNDS + 1) / 2 )) ]] && start_drill "$HOSTS" chaos-cluster
    sleep "$delay"
    settle 90 || { fail "round $r: no primary with a standby within 90 s"; break; }
    p="$SETTLED"
    s="$(other "$p")"
    case "$target" in
    host)
        old="${HOST_PID[$p]}"
        say "round $r at +$(elapsed)s: kill -9 the primary host on m$p (pid $old)"
        # It may have stepped down since settle saw it (a lease stalled by a NATS election).
        kill -9 "$old" 2>/dev/null || say "round $r: m$p's host had already exited (it stepped down)"
        t0=$(date +%s.%N)
        wait_new_primary "$old" 30 || { fail "round $r: no host took over within 30 s"; break; }
        say "round $r: m$NEW_PRIMARY took over in $(since "$t0") s"
        TAKEOVERS=$((TAKEOVERS + 1))
        ;;
    enclave)
        pid="$(field "$p" enclavePid)"
        starts="$(field "$p" enclaveStarts)"
        say "round $r at +$(elapsed)s: kill -9 the primary's worker on m$p (pid $pid)"
        [[ "${pid:-0}" -gt 1 ]] && kill -9 "$pid" 2>/dev/null || true
        # Until its host restarted the worker, or the host itself exited (a primary fenced
        # by a cut-off writer's late publish steps down, docs/REPLICATION.md §3).
        for _ in $(seq 1 1200); do
            [[ "$(field "$p" enclaveStarts)" -gt "$starts" ]] && break
            alive "$p" || { say "round $r: m$p's host exited instead (it stepped down)"; break; }
            sleep 0.05
        done
        ;;
    nats)
        npid="$(cat "$WORK/nats/n$node/nats.pid")"
        say "round $r at +$(elapsed)s: kill -9 NATS node n$node (pid $npid)"
        kill -9 "$npid"
        sleep "$(python3 -c "import random; print(round(random.Random($SEED + $r).uniform(1, 3), 2))")"
        rm -f "$WORK/nats/n$node/nats.pid"
        scripts/cluster.sh start-node "$WORK/nats" "$node"
        ;;
    partition)
        lines_before="$(wc -l <"${DATA[$p]}/outputs/batches.jsonl" 2>/dev/null || echo 0)"
        old="${HOST_PID[$p]}"
        say "round $r at +$(elapsed)s: partition the primary m$p"
        if ((USE_NS)); then
            scripts/machines.sh cut "$p"
        else
            kill -STOP "$old" "$(field "$p" enclavePid)" 2>/dev/null || true
        fi
        t0=$(date +%s.%N)
        if wait_role "$s" primary 30 "$p"; then
            say "round $r: m$s took over in $(since "$t0") s"
            TAKEOVERS=$((TAKEOVERS + 1))
        else
            fail "round $r: m$s did not take over from the partitioned primary within 30 s"
        fi
        sleep 2
        if ((USE_NS)); then
            scripts/machines.sh heal "$p"
        else
            kill -CONT "$old" "$(field "$p" enclavePid)" 2>/dev/null || true
        fi
        # The old primary finds its lease gone (or itself fenced) and steps down: it exits.
        # 60 s: a host that had taken over sometimes takes about 30 s to exit after logging
        # `stopped` (an open defect, REPLICATION.md §12); slower than 10 s is reported.
        heal_at=$(date +%s.%N)
        for i in $(seq 1 1200); do
            alive "$p" || break
            if ((i == 200)); then
                # Still running 10 s after the heal: what each thread waits in, as for the
                # end-of-run stop below (the step-down was one of the three slow exits seen).
                say "round $r: the old primary m$p still runs 10 s after the heal; its threads (name, state, kernel wait channel):"
                dump_threads "$old" "$WORK/stuck-stepdown-$r.txt"
            fi
            sleep 0.05
        done
        if alive "$p" && [[ "${HOST_PID[$p]}" == "$old" ]]; then
            fail "round $r: the old primary m$p did not step down within 60 s of the heal"
            kill -9 "$old"
        else
            took=$(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$heal_at")
            python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 10 else 1)" "$took" \
                && say "WARNING: round $r: the old primary m$p took $took s to step down and exit after the heal"
        fi
        cp "${DATA[$p]}/outputs/batches.jsonl" "$WORK/old-primary-$r.batches.jsonl" 2>/dev/null || true
        # Headers it released between the cut and its lease running out were durable
        # before the cut; the end check requires every one of them in the final chain.
        say "round $r: the old primary had $lines_before headers at the cut, $(wc -l <"$WORK/old-primary-$r.batches.jsonl" 2>/dev/null || echo 0) when it stepped down"
        ;;
    esac
    FAULTS=$((FAULTS + 1))
    [[ $FAILED -eq 0 ]] || break
done
settle 90 || fail "no primary with a standby within 90 s of the last fault"
say "$FAULTS faults ($TAKEOVERS takeovers, $EXITS host restarts) done at +$(elapsed)s; waiting for the traders"

wait_traders chaos-cluster
wait_drill chaos-cluster
stop_load
sleep 1  # the open batch closes and is published
settle 90 || { fail "no primary with a standby at the end"; exit 1; }
P="$SETTLED"
S="$(other "$P")"
# The standby catches up: the primary holds nothing for the journal any more (headers wait
# for their records' quorum acknowledgement: after a NATS kill in the last round they are
# released seconds later, and a chain compared before that would be a header short; seen
# in CI, seed 708315891), and the standby's batch chain is the primary's.
CAUGHT_UP=0
for _ in $(seq 1 1200); do
    if [[ "$(metric "$P" sealstream_host_journal_pending_records)" == 0 ]] \
        && cmp -s "${DATA[$P]}/outputs/batches.jsonl" "${DATA[$S]}/outputs/batches.jsonl"; then
        CAUGHT_UP=1
        break
    fi
    sleep 0.05
done
if ((!CAUGHT_UP)); then
    fail "the standby m$S did not catch up within 60 s: the primary m$P holds $(metric "$P" sealstream_host_journal_pending_records) records, headers $(wc -l <"${DATA[$P]}/outputs/batches.jsonl") vs $(wc -l <"${DATA[$S]}/outputs/batches.jsonl")"
    for m in "$P" "$S"; do echo "m$m: ${HOST_LOG[$m]}"; tail -5 "${HOST_LOG[$m]}" | cut -c1-300 | sed 's/^/    /'; done
fi
# The standby first (so it does not take over from the stopping primary), then the primary.
for m in "$S" "$P"; do
    kill -TERM "${HOST_PID[$m]}" 2>/dev/null || true
    stop_started=$(date +%s.%N)
    for i in $(seq 1 600); do
        alive "$m" || break
        if ((i == 100)); then
            # Still running 10 s after SIGTERM: what each thread waits in (twice seen in
            # full runs: a primary that had taken over and restarted its worker logged
            # `stopped` at once and exited about 30 s later; cause not yet known).
            echo "chaos-cluster: the host on m$m is still running 10 s after SIGTERM; its threads (name, state, kernel wait channel):"
            dump_threads "${HOST_PID[$m]}" "$WORK/stuck-host-m$m.txt"
            { grep -E "^Thread|^#[0-9]" "$WORK/stuck-host-m$m.txt" | cut -c1-160 | head -60 | sed 's/^/    /'; } 2>/dev/null || true
        fi
        sleep 0.1
    done
    took=$(python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$stop_started")
    if alive "$m"; then
        fail "the host on m$m did not exit within 60 s of SIGTERM"
        kill -9 "${HOST_PID[$m]}"
    elif python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 10 else 1)" "$took"; then
        say "WARNING: the host on m$m took $took s to exit after SIGTERM (threads above; the bound is 60 s)"
    fi
    status=0
    wait "${HOST_PID[$m]}" 2>/dev/null || status=$?
    if [[ $status -eq 1 ]] && grep -q '"event":"stepped_down"' "${HOST_LOG[$m]}"; then
        # A primary whose lease writes stalled (the last round's NATS kill) steps down and
        # exits 1 by design (docs/REPLICATION.md §7), before or while it is stopped.
        say "m$m had stepped down before the end (exit 1, lease lost): accepted"
    else
        [[ $status -eq 0 ]] || fail "the host on m$m exited with status $status on SIGTERM"
    fi
    HOST_PID[$m]=""
done
FINAL="${DATA[$P]}"

[[ $TRADER_FAILED -eq 0 ]] || fail "a trader did not finish cleanly"
[[ $FAULTS -ge $ROUNDS ]] || fail "only $FAULTS faults"

echo "== answers against the final primary's published event log"
"$BIN/sealstream-client" chaos-check --data-dir "$FINAL" "$WORK"/receipts/*.jsonl || fail "chaos-check"

echo "== one chain: every host's headers, and every old primary's after a heal, are a prefix of the final chain"
OLD_CHAINS=()
for f in "$WORK"/old-primary-*.batches.jsonl; do [[ -e "$f" ]] && OLD_CHAINS+=("$f"); done
python3 - "$FINAL/outputs/batches.jsonl" "${DATA[$S]}/outputs/batches.jsonl" ${OLD_CHAINS[@]+"${OLD_CHAINS[@]}"} <<'PY' \
    || fail "a header outside the final chain"
import sys
final = open(sys.argv[1], "rb").read().splitlines()
bad = 0
for path in sys.argv[2:]:
    lines = open(path, "rb").read().splitlines()
    if lines != final[:len(lines)]:
        first = next(i for i, (a, b) in enumerate(zip(lines + [None] * len(final), final + [None] * len(lines))) if a != b)
        print(f"{path}: header {first} differs from the final chain ({len(lines)} headers, final {len(final)})")
        bad = 1
    else:
        print(f"{path}: {len(lines)} headers, a prefix of the final chain's {len(final)}")
sys.exit(bad)
PY
[[ ! -e "$FINAL/outputs/epochs" ]] || fail "a new epoch started: $(ls "$FINAL/outputs/epochs")"
# The signer and the EIP-712 domain from the first primary's evidence: every host's chain
# must be that one epoch's.
"$BIN/attestation" verify-outputs --data-dir "$FINAL" --evidence "$WORK/first-epoch.json" --config "$VENUE" \
    || fail "verify-outputs"

echo "== the verifier contract (py-evm) accepts the chain"
write_chain_json "$FINAL/outputs"
SEALSTREAM_OUTPUTS="$FINAL/outputs" "$VENV/bin/python" -m pytest contracts/tests/test_real_outputs.py -q -rs -p no:cacheprovider \
    >"$WORK/contract.txt" 2>&1 || { tail -20 "$WORK/contract.txt"; fail "the contract refused the chain"; }
grep -qE "[0-9]+ skipped" "$WORK/contract.txt" && fail "contract tests were skipped"
tail -1 "$WORK/contract.txt"

echo "== replay from genesis in a separate process; the standby's state root"
REPLAY_STATUS=0
"$BIN/sealstream-host" replay --data-dir "$FINAL" --config "$VENUE" >"$WORK/replay.out" 2>"$WORK/replay.log" || REPLAY_STATUS=$?
cat "$WORK/replay.out"
[[ $REPLAY_STATUS -eq 0 ]] || { tail -5 "$WORK/replay.log"; fail "replay exit $REPLAY_STATUS"; }
ROOT="$(last_root "$FINAL")"
grep -q "final state root: $ROOT" "$WORK/replay.out" || fail "replay's final state root is not the last header's ($ROOT)"
[[ "$(last_root "${DATA[$S]}")" == "$ROOT" ]] || fail "the standby's state root $(last_root "${DATA[$S]}") is not the primary's $ROOT"

say "seed $SEED, $FAULTS faults, $TAKEOVERS takeovers, $EXITS host restarts, $(elapsed) s: $([[ $FAILED -eq 0 ]] && echo PASS || echo FAIL)"
exit $FAILED
