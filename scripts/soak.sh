#!/usr/bin/env bash
# Cost that grows with time (a soak): a host under a fixed rate for SECONDS, its and its
# worker's CPU and resident memory sampled every WINDOW seconds from /proc, printed per
# window with CPU per order answered in it. At the end the CPU per order of the last third
# of the windows is compared with the first third's (medians): a cost that grows with the
# number of events handled (a list walked per event, a closure re-wrapped per call; session
# 13 found one in the NATS acknowledgement path) shows as a ratio above 1, where a one-off
# run of a few seconds hides it. The first window (warm-up: the spare segment's first fill,
# the first snapshot) is left out of both thirds. On this shared machine the level itself
# can shift between windows of one run (the NATS primary at 25,000/s: 10 µs per order for
# four windows, then 17-18 µs, in one run of three; the others flat): repeat a flagged run
# before concluding.
#
# Usage: scripts/soak.sh [SECONDS] [RATE] [JOURNAL]   (default 120 25000 nats)
#   JOURNAL   nats: a primary and a hot standby on a fresh three-node cluster
#             (scripts/cluster.sh), the primary measured; on | off: one host, --journal on|off
#   SOAK_WINDOW       seconds per sample (default 10)
#   SOAK_MAX_GROWTH   the largest last/first CPU-per-order ratio accepted (default 1.25):
#                     above it the script says so and exits 1
#   SEALSTREAM_BIN_DIR  the executables (default: the release build, built if needed)
# A benchmark, not a test: run it alone (its ratio means nothing beside a compiler or a
# fuzz campaign, which change the CPU each window gets).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

SOAK_SECONDS="${1:-120}"
RATE="${2:-25000}"
MODE="${3:-nats}"
WINDOW="${SOAK_WINDOW:-10}"
MAX_GROWTH="${SOAK_MAX_GROWTH:-1.25}"
(( SOAK_SECONDS >= 6 * WINDOW )) || { echo "soak: SECONDS must be at least 6 windows (${WINDOW}s each)" >&2; exit 2; }

if [[ "$MODE" == nats ]]; then
    replication_bench_init soak
    "$BIN/sealstream-host" run --data-dir "$WORK/a" --listen 127.0.0.1:0 --http 127.0.0.1:0 --config "$VENUE" \
        --journal "$JOURNAL" >"$WORK/a.log" 2>&1 &
    HOST=$!
    PIDS+=("$HOST")
    for _ in $(seq 1 3000); do [[ -n "$(field "$WORK/a" listen)" ]] && break; sleep 0.01; done
    ADDR="$(field "$WORK/a" listen)"
    [[ -n "$ADDR" ]] || { echo "soak: the primary did not start; its log:" >&2; tail -20 "$WORK/a.log" >&2; exit 1; }
    "$BIN/sealstream-host" run --data-dir "$WORK/b" --listen 127.0.0.1:0 --http 127.0.0.1:0 --config "$VENUE" \
        --journal "$JOURNAL" >"$WORK/b.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 6000); do grep -q standby_following "$WORK/b.log" && break; sleep 0.01; done
    grep -q standby_following "$WORK/b.log" || { echo "soak: the standby did not follow; its log:" >&2; tail -20 "$WORK/b.log" >&2; exit 1; }
    CLIENT_ARGS=("${ATTEST[@]}")
else
    release_bin_dir
    BIN="$SEALSTREAM_BIN_DIR"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-soak.XXXXXX")"
    trap 'stop_host >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
    start_host "$BIN" "$WORK/data" "$WORK/host.log" --journal "$MODE"
    HOST="$HOST_PID"
    ADDR="$HOST_ADDR"
    CLIENT_ARGS=(--no-attestation)
fi
WORKER="$(pgrep -P "$HOST" -f sealstream-enclave | head -1)"
[[ -n "$WORKER" ]] || { echo "soak: no worker process under host $HOST" >&2; exit 1; }

echo "== soak: ${RATE}/s for ${SOAK_SECONDS}s, journal ${MODE}, windows of ${WINDOW}s (host $HOST, worker $WORKER)"
"$BIN/sealstream-client" load --host "$ADDR" --rate "$RATE" --duration "$SOAK_SECONDS" --sessions 8 \
    "${CLIENT_ARGS[@]}" --json >"$WORK/load.json" 2>"$WORK/load.err" &
LOAD=$!
python3 - "$HOST" "$WORKER" "$WINDOW" "$SOAK_SECONDS" "$WORK/load.err" "$MAX_GROWTH" <<'PY' || STATUS=$?
import os, re, statistics, sys, time
host, worker, window, total, progress, max_growth = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                                    int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
hz = os.sysconf("SC_CLK_TCK")
def cpu_ms(pid):  # utime + stime of every thread, ms
    f = open(f"/proc/{pid}/stat").read()
    f = f[f.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) * 1000 / hz
def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
def answered():  # the load generator's last progress line (receipts so far)
    last = 0
    for line in open(progress, errors="replace"):
        m = re.search(r"receipts\s+(\d+)", line)
        if m: last = int(m.group(1))
    return last
time.sleep(1)
prev = (cpu_ms(host), cpu_ms(worker), answered())
rows = []
print(f"{'end s':>6} {'orders':>9} {'host µs/order':>14} {'worker µs/order':>16} {'host MB':>8} {'worker MB':>10}")
for i in range(max(0, (total - 2) // window)):
    time.sleep(window)
    now = (cpu_ms(host), cpu_ms(worker), answered())
    n = now[2] - prev[2]
    if n <= 0: break
    h, w = (now[0] - prev[0]) * 1000 / n, (now[1] - prev[1]) * 1000 / n
    rows.append((h, w))
    print(f"{1 + (i + 1) * window:>6} {n:>9} {h:>14.2f} {w:>16.2f} {rss_mb(host):>8.0f} {rss_mb(worker):>10.0f}", flush=True)
    prev = now
usable = rows[1:]
third = len(usable) // 3
if third < 1:
    print("soak: too few windows to compare"); sys.exit(2)
ratios = []
for name, k in (("host", 0), ("worker", 1)):
    first = statistics.median(r[k] for r in usable[:third])
    last = statistics.median(r[k] for r in usable[-third:])
    ratios.append(last / first)
    print(f"{name}: CPU per order, last third / first third of the windows after the first: "
          f"{last:.2f} / {first:.2f} µs = {last / first:.2f}")
if max(ratios) > max_growth:
    print(f"soak: CPU per order grew by more than {max_growth}x over the run"); sys.exit(1)
PY
wait "$LOAD" || { echo "soak: the load generator failed:" >&2; tail -5 "$WORK/load.err" >&2; exit 1; }
python3 -c "import json,sys; l=json.load(open(sys.argv[1])); print(f\"load: {l['ordersPerSecond']:,.0f}/s achieved, receipt p50 {l['latencyMicros']['p50']:,.0f} µs, p99 {l['latencyMicros']['p99']:,.0f} µs\")" "$WORK/load.json"
exit "${STATUS:-0}"
