#!/usr/bin/env bash
# The market data feed's cost to the order path (issue 19, docs/MARKETDATA.md §6): the
# saturation throughput of encrypted orders with no feed consumer, then with 100 consumers
# (one that never reads) connected, alternated, in the same run on the same host; and the
# delay from a trade's sequencing to a reading consumer's socket at 50k orders/s. Each
# saturation run also reports the host's and the worker's CPU per order answered (from
# /proc, the consumers' own CPU excluded): on one shared machine the consumers compete
# with the order path for the cores, and the CPU ratio is the figure that carries over to
# a deployment where they run elsewhere.
#
# Rounds alternate which side runs first; the summary line gives the median, mean and range
# of the per-round ratios (one round's noise on this shared 2-core machine is about ±10%).
#
# Usage: scripts/bench-feed.sh [BIN_DIR] [ROUNDS]   (default: the release build, 5 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BIN="${1:-$(swift build -c release --show-bin-path)}"
ROUNDS="${2:-5}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-bench-feed.XXXXXX")"
trap 'stop_host >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
start_host "$BIN" "$WORK/data" "$WORK/host.log"
LOAD=("$BIN/sealstream-client" load --host "$HOST_ADDR" --sessions 8 --no-attestation --json)

# cpu_ticks PID...: clock ticks of CPU (user + system) the processes have used.
cpu_ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$t"; }
ENCLAVE_PID="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['enclavePid'])" "$WORK/data/host.json")"
# measure NAME: one saturation run; writes NAME.json (the load's report) and NAME.cpu (the
# host's and the worker's CPU ticks over the run, the consumers' not included).
measure() {
    local h0 w0
    h0=$(cpu_ticks "$HOST_PID"); w0=$(cpu_ticks "$ENCLAVE_PID")
    "${LOAD[@]}" --rate 0 --duration 5 > "$WORK/$1.json"
    echo "$(( $(cpu_ticks "$HOST_PID") - h0 )) $(( $(cpu_ticks "$ENCLAVE_PID") - w0 ))" > "$WORK/$1.cpu"
}

# with_consumers: one saturation run ("with") while 100 consumers (one never reading) are
# connected. --raw: 98 of the readers only read frames, one decodes and times trades, one
# never reads; cheap consumers keep their CPU from standing in for the host's on one machine.
with_consumers() {
    "$BIN/sealstream-client" feed-load --http "$HTTP_ADDR" --consumers 100 --slow 1 --seconds 7 --raw --json \
        > "$WORK/feed.json" &
    local feed=$!
    sleep 1
    measure with
    wait "$feed"
}

"${LOAD[@]}" --rate 0 --duration 2 > /dev/null  # warm up: accounts, books, page cache
: > "$WORK/ratios"
for round in $(seq 1 "$ROUNDS"); do
    # The order alternates (odd rounds without consumers first), so that whatever drifts
    # through a run (the journal and the books grow) does not favour one side.
    if (( round % 2 == 1 )); then measure none; with_consumers; else with_consumers; measure none; fi
    python3 - "$WORK" "$round" "$(getconf CLK_TCK)" <<'PY'
import json, sys
work, rnd, hz = sys.argv[1], sys.argv[2], int(sys.argv[3])
def run(name):
    r = json.load(open(f"{work}/{name}.json"))
    host, worker = (int(x) for x in open(f"{work}/{name}.cpu").read().split())
    n = max(1, r["receipts"])
    return r["ordersPerSecond"], host * 1e6 / hz / n, worker * 1e6 / hz / n
(rn, hn, wn), (rw, hw, ww) = run("none"), run("with")
feed = json.load(open(f"{work}/feed.json"))
first = "without" if int(rnd) % 2 == 1 else "with"
print(f"round {rnd} ({first} consumers first): saturation {rn:,.0f} orders/s without consumers, {rw:,.0f} with 100 (one slow):"
      f" ratio {rw / rn:.3f}; CPU per order host {hn:.2f} -> {hw:.2f} µs, worker {wn:.2f} -> {ww:.2f} µs,"
      f" host + worker ratio {(hw + ww) / (hn + wn):.3f}; slow consumer closed {feed['slowClosed']}/{feed['slow']},"
      f" readers closed {feed['readersClosed']}, {feed['records']:,} updates delivered")
with open(f"{work}/ratios", "a") as f:
    f.write(f"{rw / rn} {(hw + ww) / (hn + wn)}\n")
PY
done
python3 - "$WORK/ratios" <<'PY'
import statistics, sys
rows = [tuple(float(x) for x in line.split()) for line in open(sys.argv[1]) if line.strip()]
t, c = [r[0] for r in rows], [r[1] for r in rows]
print(f"summary over {len(rows)} rounds: throughput with / without consumers median {statistics.median(t):.3f},"
      f" mean {statistics.mean(t):.3f}, range {min(t):.3f}-{max(t):.3f} (target >= 0.95);"
      f" host + worker CPU per order with / without median {statistics.median(c):.3f}, range {min(c):.3f}-{max(c):.3f}")
PY
echo "== feed delay at 50k orders/s (sequencing → a reading consumer's socket)"
"$BIN/sealstream-client" feed-load --http "$HTTP_ADDR" --consumers 100 --slow 1 --seconds 7 > "$WORK/delay.txt" &
FEED=$!
sleep 1
"${LOAD[@]}" --rate 50000 --duration 5 > /dev/null
wait "$FEED"
cat "$WORK/delay.txt"
curl -s "http://$HTTP_ADDR/metrics" | grep -E '^sealstream_host_feed_' || true
