#!/usr/bin/env bash
# Where the host's, the enclave's and the load generator's CPU per order goes at a fixed
# rate (issue 17, "fewer wake-ups"): system calls per order by call, context switches per
# order and CPU per order, for each process, counted by the kernel (perf's tracepoints
# raw_syscalls:sys_enter and syscalls:sys_enter_*, software events context-switches and
# page-faults;
# task-clock) over a window in the middle of a `sealstream-client load` run. Counting
# tracepoints adds a little overhead to each call; the counts themselves are exact.
#
# Usage: scripts/bench-wakeups.sh [RATE] [SECONDS]   (default 50000 10; the window is
#        the middle SECONDS/2)
#   SEALSTREAM_BIN_DIR  the executables (default: the release build, built if needed)
#   JOURNAL             the host's --journal (default on)
#   JOURNAL_SYNC_LANES  the host's --journal-sync-lanes (default: the host's default, 1)
#   JOURNAL_SYNC_INTERVAL_MICROS  the host's --journal-sync-interval-micros (default: the
#                       host's default, auto: adaptive pacing; N µs, or 0 back to back)
#   COALESCE_MICROS     the host's --coalesce-micros (docs/OPERATIONS.md §9; default 0, off)
#   SEND_QUANTUM_MICROS the generator's --send-quantum-micros (docs/SCENARIOS.md; default 0)
# Needs perf (linux-perf) and tracefs; mounts tracefs at /sys/kernel/tracing if absent.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

RATE="${1:-50000}"
SECONDS_LOAD="${2:-10}"
release_bin_dir
BIN="$SEALSTREAM_BIN_DIR"
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }
[[ -e /sys/kernel/tracing/events ]] || mount -t tracefs nodev /sys/kernel/tracing
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-wakeups.XXXXXX")"
trap 'stop_host >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

CALLS=(read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_ctl poll ppoll futex fdatasync pwrite64
       nanosleep clock_nanosleep sched_yield select pselect6)
EVENTS="raw_syscalls:sys_enter,context-switches,page-faults,task-clock"
for c in "${CALLS[@]}"; do EVENTS="$EVENTS,syscalls:sys_enter_$c"; done

start_host "$BIN" "$WORK/data" "$WORK/host.log" --journal "${JOURNAL:-on}" \
    ${JOURNAL_SYNC_LANES:+--journal-sync-lanes "$JOURNAL_SYNC_LANES"} \
    ${JOURNAL_SYNC_INTERVAL_MICROS:+--journal-sync-interval-micros "$JOURNAL_SYNC_INTERVAL_MICROS"} \
    --coalesce-micros "${COALESCE_MICROS:-0}"
ENCLAVE_PID="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['enclavePid'])" "$WORK/data/host.json")"
"$BIN/sealstream-client" load --host "$HOST_ADDR" --rate "$RATE" --duration "$SECONDS_LOAD" --sessions 8 \
    --window 1024 --send-quantum-micros "${SEND_QUANTUM_MICROS:-0}" --no-attestation --json \
    >"$WORK/load.json" 2>/dev/null &
LOAD=$!
window=$(python3 -c "print($SECONDS_LOAD / 2)")
sleep "$(python3 -c "print($SECONDS_LOAD / 4)")"
perf stat -x, -e "$EVENTS" -p "$HOST_PID" -- sleep "$window" 2>"$WORK/host.perf" &
perf stat -x, -e "$EVENTS" -p "$LOAD" -- sleep "$window" 2>"$WORK/client.perf" &
perf stat -x, -e "$EVENTS" -p "$ENCLAVE_PID" -- sleep "$window" 2>"$WORK/enclave.perf"
wait %2 %3 2>/dev/null || true
wait "$LOAD"
python3 - "$WORK" "$RATE" "$window" <<'PY'
import json, os, sys
work, rate, window = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
load = json.load(open(f"{work}/load.json"))
achieved = load["ordersPerSecond"]
orders = achieved * window
def counts(name):
    out = {}
    for line in open(f"{work}/{name}.perf"):
        f = line.strip().split(",")
        if len(f) >= 3 and f[0] and f[0][0].isdigit():
            out[f[2]] = float(f[0])
    return out
print(f"Wake-ups and system calls at {rate}/s offered ({achieved:,.0f}/s achieved, p50 {load['latencyMicros']['p50']:,.0f} µs,"
      f" p99 {load['latencyMicros']['p99']:,.0f} µs), coalesce {os.environ.get('COALESCE_MICROS') or 0} µs,"
      f" send quantum {os.environ.get('SEND_QUANTUM_MICROS') or 0} µs,"
      f" counted over {window:g} s ≈ {orders:,.0f} orders:")
print(f"{'':<22}{'host':>12}{'enclave':>12}{'generator':>12}   (per order)")
procs = [counts("host"), counts("enclave"), counts("client")]
def row(label, value):
    print(f"{label:<22}" + "".join(f"{value(c):>12.3f}" for c in procs))
row("CPU µs", lambda c: c.get("task-clock", 0) * 1e3 / orders)
row("context switches", lambda c: c.get("context-switches", 0) / orders)
row("page faults", lambda c: c.get("page-faults", 0) / orders)
row("system calls", lambda c: c.get("raw_syscalls:sys_enter", 0) / orders)
keys = sorted({k for c in procs for k in c if k.startswith("syscalls:")}, key=lambda k: -sum(c.get(k, 0) for c in procs))
for k in keys:
    if sum(c.get(k, 0) for c in procs) == 0:
        continue
    row("  " + k.split("sys_enter_")[1], lambda c: c.get(k, 0) / orders)
other = lambda c: c.get("raw_syscalls:sys_enter", 0) - sum(v for k, v in c.items() if k.startswith("syscalls:"))
row("  (other calls)", lambda c: other(c) / orders)
PY
