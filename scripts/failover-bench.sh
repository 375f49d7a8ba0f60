#!/usr/bin/env bash
# Failover and standby lag on this machine (issue 13; docs/REPLICATION.md §7-8): a
# three-node JetStream cluster (scripts/cluster.sh), two hosts on it (a primary and a hot
# standby, each with its own worker; the standby enrolls from the primary enclave to
# enclave, docs/REPLICATION.md §11).
#
# 1. Standby lag: load at a fixed rate on the primary for SECONDS; the standby's
#    `sealstream_host_standby_lag_seconds` histogram (stream stored → standby's worker
#    fed), read from its metrics.prom, reported as the bucket bounds of p50, p90 and p99
#    (docs/OPERATIONS.md §2.2: 5 ms apart from 10 to 30 ms, 10-25 ms up to 100 ms).
# 2. Failover, ROUNDS times: `kill -9` of the primary host; the time until the standby
#    names its order port in host.json (it took over and listens), and until a fresh
#    client process (`sealstream-client scenario`: start-up, evidence check, deposit,
#    price, session, one order) has its order's receipt from the new primary. The killed
#    host is restarted on its own data directory and rejoins as the standby.
#
# Usage: scripts/failover-bench.sh [ROUNDS] [RATE] [SECONDS]   (default 5 50000 10)
#   SEALSTREAM_BIN_DIR  the executables (default: the release build, built if needed)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${1:-5}"
RATE="${2:-50000}"
SECONDS_LOAD="${3:-10}"
source scripts/lib.sh
replication_bench_init failover

STARTS=0
# start HOST_NAME: starts host a or b on its data directory, in the background.
start() {
    STARTS=$((STARTS + 1))
    rm -f "$WORK/$1/host.json"
    "$BIN/sealstream-host" run --data-dir "$WORK/$1" --listen 127.0.0.1:0 --http 127.0.0.1:0 --config "$VENUE" \
        --journal "$JOURNAL" >"$WORK/$1-$STARTS.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$1=$!"
    disown "$!"
    LOG_1="$WORK/$1-$STARTS.log"
    eval "LOG_$1=\$LOG_1"
}
# wait_for HOST_NAME WHAT: WHAT is `listen` (host.json names the order port) or
# `following` (the standby's worker follows the stream).
wait_for() {
    local log
    eval "log=\$LOG_$1"
    for _ in $(seq 1 6000); do
        if [[ "$2" == listen && -n "$(field "$WORK/$1" listen)" ]]; then return 0; fi
        if [[ "$2" == following ]] && grep -q standby_following "$log"; then return 0; fi
        sleep 0.005
    done
    echo "failover-bench: host $1 did not reach $2; its log:" >&2
    tail -20 "$log" >&2
    return 1
}

start a
wait_for a listen
start b   # an empty data directory: it enrolls from the primary (docs/REPLICATION.md §11)
wait_for b following

echo "== standby lag: ${RATE}/s on the primary for ${SECONDS_LOAD}s"
"$BIN/sealstream-client" load --host "$(field "$WORK/a" listen)" --rate "$RATE" --duration "$SECONDS_LOAD" --sessions 8 \
    "${ATTEST[@]}" --json > "$WORK/lag-load.json"
sleep 6  # the standby rewrites metrics.prom every 5 s
cp "$WORK/b/metrics.prom" "$WORK/lag-metrics.prom"

# probe ID HOST: a fresh client process's first order receipt (scenario, order id ID).
probe() {
    cat > "$WORK/probe.txt" <<EOF
trader probe account=9001
deposit probe 100000
price BTC-PERP 61250 publisher=pyth-a
price BTC-PERP 61250 publisher=pyth-b
price BTC-PERP 61250 publisher=chainlink-c
order probe buy BTC-PERP 0.001 @ 61000 id=$1
EOF
    "$BIN/sealstream-client" scenario "$WORK/probe.txt" --host "$2" --venue "$VENUE" "${ATTEST[@]}" --json \
        > "$WORK/probe-$1.json" 2>/dev/null
}
# The same-run baseline: the probe against a serving primary, no failover.
b0="$(now)"
probe baseline "$(field "$WORK/a" listen)"
b1="$(now)"
echo "baseline $b0 $b1 $b1" > "$WORK/baseline.txt"

primary=a standby=b
: > "$WORK/rounds.txt"
for round in $(seq 1 "$ROUNDS"); do
    echo "== failover round $round/$ROUNDS: kill -9 host $primary"
    eval "pid=\$PID_$primary"
    t0="$(now)"
    kill -9 "$pid"
    wait_for "$standby" listen
    t1="$(now)"
    probe "round$round" "$(field "$WORK/$standby" listen)"
    t2="$(now)"
    echo "$round $t0 $t1 $t2" >> "$WORK/rounds.txt"
    # The killed host rejoins as the standby.
    start "$primary"
    wait_for "$primary" following
    tmp="$primary"; primary="$standby"; standby="$tmp"
done

python3 - "$WORK" "$RATE" <<'PY'
import json, os, statistics, sys
w, rate = sys.argv[1], int(sys.argv[2])
load = json.load(open(os.path.join(w, "lag-load.json")))
buckets, count = [], 0
for line in open(os.path.join(w, "lag-metrics.prom")):
    if line.startswith("sealstream_host_standby_lag_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), int(float(line.split()[-1]))))
    elif line.startswith("sealstream_host_standby_lag_seconds_count"):
        count = int(float(line.split()[-1]))
def quantile(q):
    for le, n in buckets:
        if count and n >= q * count: return le
    return float("nan")
print()
print(f"Standby lag at {rate}/s offered ({load.get('ordersPerSecond', 0):,.0f}/s achieved), {count} followed messages:")
print(f"  p50 <= {quantile(0.5) * 1000:g} ms, p90 <= {quantile(0.9) * 1000:g} ms, p99 <= {quantile(0.99) * 1000:g} ms "
      f"(bucket upper bounds; target p99 <= 50 ms at 50k/s)")
rows = [l.split() for l in open(os.path.join(w, "rounds.txt"))]
listen = [(float(t1) - float(t0)) * 1000 for _, t0, t1, _ in rows]
receipt = [(float(t2) - float(t0)) * 1000 for _, t0, _, t2 in rows]
print(f"Failover over {len(rows)} rounds (kill -9 of the primary host):")
print(f"{'round':<7}{'listening ms':>14}{'first receipt ms':>18}")
for (r, *_), a, b in zip(rows, listen, receipt):
    print(f"{r:<7}{a:>14.0f}{b:>18.0f}")
def pct(xs, q):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(q * len(xs)))]
_, b0, b1, _ = open(os.path.join(w, "baseline.txt")).read().split()
base = (float(b1) - float(b0)) * 1000
print(f"first receipt: p50 {statistics.median(receipt):.0f} ms, max {max(receipt):.0f} ms "
      f"(target p50 <= 1000, p99 <= 3000); the probe alone against a serving primary took {base:.0f} ms "
      f"(its start-up, evidence check, deposit, prices, session): p50 less that {statistics.median(receipt) - base:.0f} ms")
PY
