#!/usr/bin/env bash
# How long a host that took over as primary takes to exit after it logged `stopped`
# (the slow exit of the failover chaos, docs/REPLICATION.md §12). A three-node cluster
# (scripts/cluster.sh) and two hosts on loopback, m1 and m2, with background load against
# the primary; then ITERATIONS rounds, each one fault from FAULTS (cycled):
#   kill       kill -9 the primary host; the standby takes over; the killed host is started
#              again and becomes the standby;
#   partition  SIGSTOP of the primary host and its worker until the standby took over and
#              2 s more, then SIGCONT: the old primary steps down and exits (timed from its
#              `stopped`); it is then started again as the standby;
#   term       SIGTERM the standby, then the primary (timed), then both started again;
#   nats       kill -9 of a NATS node (cycling n1-n3), started again 1-3 s later;
#   enclave    kill -9 of the primary's worker (the primary restarts it);
#   stall      SIGSTOP of every NATS node (a cluster that stops reading), SIGTERM the standby
#              and the primary (timed), SIGCONT of the nodes STALL (20) s later; both hosts
#              started again.
# Every exit of a host that had taken over is timed from the first `"stopped"` in its log
# to the end of the process; one slower than SLOW (5 s) gets its threads' kernel wait
# channels and gdb stacks written to WORKDIR/stuck-N.txt.
#
#   scripts/exit-repro.sh ITERATIONS [WORKDIR]
#
# Environment: FAULTS ("kill term partition term"), LOAD_RATE (200/s; 0: none), SLOW (5),
# SEALSTREAM_BIN_DIR. Prints one line per timed exit and a summary; exit 1 when any exit
# took longer than SLOW (also 1 when a host did not take the role expected of it in time,
# e.g. while JetStream elects after a node kill: the summary is printed either way).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chaos-common.sh

ITERATIONS="${1:?usage: scripts/exit-repro.sh ITERATIONS [WORKDIR]}"
# Without WORKDIR: a temporary one, removed at the end unless an exit was slow (its
# stacks and logs are the result) or a host did not take its role.
KEEP_WORK="${2:+1}"
WORK="${2:-$(mktemp -d "${TMPDIR:-/tmp}/sealstream-exit.XXXXXX")}"
FAULTS=(${FAULTS:-kill nats enclave term partition nats term})
LOAD_RATE="${LOAD_RATE:-200}"
SLOW="${SLOW:-5}"
BIN="${SEALSTREAM_BIN_DIR:-$(swift build --show-bin-path)}"
export TSS2_LOG="${TSS2_LOG:-all+none}"
VENUE=scripts/demo/venue.json
mkdir -p "$WORK"
say() { echo "exit-repro: $*"; }
now() { date +%s.%N; }
diff_s() { python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.2f}')" "$1" "$2"; }

scripts/cluster.sh start "$WORK/nats" >/dev/null
JOURNAL="$(cat "$WORK/nats/urls")"

DATA=("" "$WORK/m1" "$WORK/m2")
HOST_PID=("" "" "")
HOST_LOG=("" "" "")
STARTS=0
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ''))" "${DATA[$1]}/host.json" "$2" 2>/dev/null || true; }
launch() {
    STARTS=$((STARTS + 1))
    HOST_LOG[$1]="$WORK/host-m$1-$STARTS.log"
    "$BIN/sealstream-host" run --data-dir "${DATA[$1]}" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
        --config "$VENUE" --journal "$JOURNAL" >"${HOST_LOG[$1]}" 2>&1 &
    HOST_PID[$1]=$!
}
alive() {
    local pid="${HOST_PID[$1]}"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}
role() { alive "$1" && [[ "$(field "$1" hostPid)" == "${HOST_PID[$1]}" ]] && field "$1" role; }
# wait_role M ROLE SECONDS: until machine M's host says it is ROLE; a host that exited
# meanwhile (a start that met a JetStream election) is started again, as systemd would.
wait_role() {
    for _ in $(seq 1 $(($3 * 20))); do
        [[ "$(role "$1")" == "$2" ]] && return 0
        if ! alive "$1"; then
            wait "${HOST_PID[$1]}" 2>/dev/null || true
            say "  m$1 exited while starting ($(tail -1 "${HOST_LOG[$1]}" | cut -c1-120)): started again"
            launch "$1"
        fi
        sleep 0.05
    done
    say "m$1 did not become $2 within $3 s; its log ends:"
    tail -5 "${HOST_LOG[$1]}" | cut -c1-300
    return 1
}
other() { echo $((3 - $1)); }

# dump M N: what each thread of machine M's host waits in; stacks to WORK/stuck-N.txt.
dump() {
    say "  host m$1 pid ${HOST_PID[$1]} ($(date -u +%T.%N)), log ${HOST_LOG[$1]}, threads:"
    dump_threads "${HOST_PID[$1]}" "$WORK/stuck-$2.txt"
}
TIMES=()
SLOW_EXITS=0
# timed_exit M WHAT N: waits (60 s at most) for machine M's host to exit; prints the time
# from its first `"stopped"` log line (seen by polling, 0.05 s resolution) to its exit.
timed_exit() {
    local m="$1" stopped_at="" dumped=0 t status=0
    for _ in $(seq 1 1200); do
        alive "$m" || break
        if [[ -z "$stopped_at" ]] && grep -q '"stopped"' "${HOST_LOG[$m]}"; then stopped_at=$(now); fi
        if [[ -n "$stopped_at" && $dumped == 0 ]] \
            && python3 -c "import sys,time; sys.exit(0 if time.time()-float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$stopped_at" "$SLOW"; then
            say "  m$m still runs $SLOW s after \`stopped\`"
            dump "$m" "$3"
            dumped=1
        fi
        sleep 0.05
    done
    if alive "$m"; then say "  m$m did not exit within 60 s: kill -9"; kill -9 "${HOST_PID[$m]}"; fi
    wait "${HOST_PID[$m]}" 2>/dev/null || status=$?
    t=$(diff_s "${stopped_at:-$(now)}" "$(now)")
    # Gone before a poll saw the line: faster than the poll.
    if [[ -z "$stopped_at" ]]; then grep -q '"stopped"' "${HOST_LOG[$m]}" && t="<0.05" || t="no-stopped-line"; fi
    TIMES+=("$2:$t")
    say "  $2: m$m (took over: $(grep -c '"takeover"' "${HOST_LOG[$m]}")) exit status $status, $t s from \`stopped\` to exit"
    if [[ $dumped == 1 ]]; then SLOW_EXITS=$((SLOW_EXITS + 1)); fi
    HOST_PID[$m]=""
}

summary() {
    say "exits (what:seconds from \`stopped\`): ${TIMES[*]}"
    say "$SLOW_EXITS slower than $SLOW s of ${#TIMES[@]}"
}
cleanup() {
    set +e
    summary
    touch "$WORK/stop-load"
    [[ -n "${LOAD_LOOP:-}" ]] && kill "$LOAD_LOOP" 2>/dev/null
    [[ -s "$WORK/load.pid" ]] && kill -9 "$(cat "$WORK/load.pid")" 2>/dev/null
    for m in 1 2; do [[ -n "${HOST_PID[$m]}" ]] && { kill -CONT "${HOST_PID[$m]}"; kill -9 "${HOST_PID[$m]}"; } 2>/dev/null; done
    scripts/cluster.sh stop "$WORK/nats" >/dev/null 2>&1
    if [[ -z "$KEEP_WORK" && "$SLOW_EXITS" -eq 0 && "$status" -eq 0 ]]; then
        rm -rf "$WORK"
    else
        say "work dir kept: $WORK"
    fi
    true
}
trap 'status=$?; cleanup' EXIT

# start_pair: m1 as primary, m2 as standby.
start_pair() {
    launch 1
    wait_role 1 primary 60
    launch 2
    wait_role 2 standby 60
    P=1
}
start_pair
say "work dir $WORK, primary m1 (pid ${HOST_PID[1]}), standby m2 (pid ${HOST_PID[2]})"
# Background load against whichever host is primary (restarted when it stops).
primary_address() {
    local d pid
    for d in "${DATA[1]}" "${DATA[2]}"; do
        pid="$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j.get('hostPid','') if j.get('role')=='primary' else '')" "$d/host.json" 2>/dev/null || true)"
        [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
            && { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['listen'])" "$d/host.json"; return; }
    done
}
start_load_loop primary_address

for i in $(seq 1 "$ITERATIONS"); do
    fault="${FAULTS[$(( (i - 1) % ${#FAULTS[@]} ))]}"
    s="$(other "$P")"
    sleep "$(python3 -c "import random; print(round(random.uniform(1, 3), 2))")"
    say "iteration $i: $fault (primary m$P pid ${HOST_PID[$P]}, standby m$s pid ${HOST_PID[$s]})"
    case "$fault" in
    kill)
        kill -9 "${HOST_PID[$P]}"
        wait "${HOST_PID[$P]}" 2>/dev/null || true
        wait_role "$s" primary 30
        launch "$P"
        wait_role "$P" standby 60
        P="$s"
        ;;
    partition)
        old="$P"
        enclave="$(field "$old" enclavePid)"
        kill -STOP "${HOST_PID[$old]}" "$enclave"
        wait_role "$s" primary 30
        sleep 2
        kill -CONT "${HOST_PID[$old]}" "$enclave"
        timed_exit "$old" "partition-stepdown-$i" "$i"
        launch "$old"
        wait_role "$old" standby 60
        P="$s"
        ;;
    nats)
        node=$(( (i % 3) + 1 ))
        kill -9 "$(cat "$WORK/nats/n$node/nats.pid")"
        sleep "$(python3 -c "import random; print(round(random.uniform(1, 3), 2))")"
        rm -f "$WORK/nats/n$node/nats.pid"
        scripts/cluster.sh start-node "$WORK/nats" "$node" >/dev/null
        # A primary whose lease stalled in the election steps down (exits 1): start again.
        for m in 1 2; do
            if ! alive "$m"; then timed_exit "$m" "nats-stepdown-$i" "$i"; launch "$m"; wait_role "$m" standby 60 || true; fi
        done
        if [[ "$(role 1)" == primary ]]; then P=1; elif [[ "$(role 2)" == primary ]]; then P=2; fi
        ;;
    enclave)
        kill -9 "$(field "$P" enclavePid)" 2>/dev/null || true
        sleep 2
        ;;
    stall)
        for n in 1 2 3; do kill -STOP "$(cat "$WORK/nats/n$n/nats.pid")"; done
        sleep 1
        kill -TERM "${HOST_PID[$s]}" 2>/dev/null || true
        wait "${HOST_PID[$s]}" 2>/dev/null || true
        HOST_PID[$s]=""
        kill -TERM "${HOST_PID[$P]}"
        ( sleep "${STALL:-20}"; for n in 1 2 3; do kill -CONT "$(cat "$WORK/nats/n$n/nats.pid")"; done ) &
        resume=$!
        timed_exit "$P" "stall-$i" "$i"
        wait "$resume"
        start_pair
        ;;
    term)
        kill -TERM "${HOST_PID[$s]}" 2>/dev/null || true
        wait "${HOST_PID[$s]}" 2>/dev/null || true
        HOST_PID[$s]=""
        kill -TERM "${HOST_PID[$P]}"
        timed_exit "$P" "term-$i" "$i"
        start_pair
        ;;
    esac
done
[[ $SLOW_EXITS -eq 0 ]]
