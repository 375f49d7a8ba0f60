#!/usr/bin/env bash
# Price to liquidation end to end (issue 17): a release host on the demo venue (journal on,
# the default), `sealstream-client load` at RATE orders/s beside it for the whole run, and
# `sealstream-client liquidation-latency`: BACKGROUND accounts deposited, then ROUNDS rounds
# in which a signed price liquidates a fresh cohort of 100 traders, timed from the price
# sent to its acknowledgement and to its signed header read from the market data feed
# (docs/SCENARIOS.md "Liquidation latency"). It also prints the host's journal syncs over
# the whole run (set-up included) from GET /metrics. The in-worker part of the interval is
# `Benchmarks/DurabilityBench --only liquidation` (bench.sh runs both).
#
# Usage: scripts/bench-liquidation.sh [ROUNDS] [BACKGROUND] [RATE]   (default 50 1000000 50000)
#   SEALSTREAM_BIN_DIR  the executables (default: the release build, built if needed)
#   LIQ_LOAD_SECONDS    how long the background load runs (default 900; it is stopped when
#                       the rounds end, and the script says so if it ended first)
#   JOURNAL_SYNC_INTERVAL_MICROS  the host's --journal-sync-interval-micros (default: the
#                       host's default, auto: adaptive pacing; N µs, or 0 back to back)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ROUNDS="${1:-50}"
BACKGROUND="${2:-1000000}"
RATE="${3:-50000}"
release_bin_dir
BIN="$SEALSTREAM_BIN_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-bench-liquidation.XXXXXX")"
LOAD_PID=""
cleanup() {
    if [[ -n "$LOAD_PID" ]]; then kill "$LOAD_PID" 2>/dev/null || true; fi
    stop_host >/dev/null 2>&1 || true
    rm -rf "$WORK/data"
}
trap cleanup EXIT
start_host "$BIN" "$WORK/data" "$WORK/host.log" \
    ${JOURNAL_SYNC_INTERVAL_MICROS:+--journal-sync-interval-micros "$JOURNAL_SYNC_INTERVAL_MICROS"}
echo "== price to liquidation end to end: $ROUNDS rounds of 100, $BACKGROUND background accounts, load at $RATE/s (load average $(cut -d' ' -f1 /proc/loadavg))"
if [[ "$RATE" != "0" ]]; then
    # On market 2: the generator publishes its own prices, which would hold market 1 at 60,000.
    "$BIN/sealstream-client" load --host "$HOST_ADDR" --market 2 --rate "$RATE" --duration "${LIQ_LOAD_SECONDS:-900}" --sessions 8 \
        --no-attestation --json > "$WORK/load.json" 2>/dev/null &
    LOAD_PID=$!
fi
"$BIN/sealstream-client" liquidation-latency --host "$HOST_ADDR" --http "$HTTP_ADDR" --rounds "$ROUNDS" --cohort 100 \
    --background-accounts "$BACKGROUND" --no-attestation --no-progress > "$WORK/latency.json"
under_load=yes
if [[ -n "$LOAD_PID" ]] && ! kill -0 "$LOAD_PID" 2>/dev/null; then under_load=no; fi
python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen('http://' + sys.argv[1] + '/metrics').read().decode())" \
    "$HTTP_ADDR" > "$WORK/metrics.txt" || true
python3 - "$WORK/latency.json" "$under_load" "$RATE" "$WORK/metrics.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a, h = s["toAckMicros"], s["toHeaderMicros"]
print(f"set-up {s['setupSeconds']:.1f} s ({s['backgroundAccounts']:,} background deposits, a maker)")
print(f"price sent -> acknowledged:          p50 {a['p50']/1e3:.2f} ms, p99 {a['p99']/1e3:.2f} ms, max {a['max']/1e3:.2f} ms")
# A tool from before 2026-12-06 polled GET /v1/batches after the acknowledgement (pollMicros).
how = f"first poll of GET /v1/batches serving it, {s['pollMicros']} µs apart" if "pollMicros" in s else "read from the feed"
print(f"price sent -> signed header ({how}):  p50 {h['p50']/1e3:.2f} ms, p99 {h['p99']/1e3:.2f} ms, max {h['max']/1e3:.2f} ms")
print(f"decisions per timed header: {sorted({r['decisions'] for r in s['perRound']})}")
print(f"target (issue 17) p99 <= 1 ms end to end: {'met' if h['p99'] <= 1000 else 'NOT met'}")
if sys.argv[2] != "yes" and sys.argv[3] != "0":
    print("the background load ended before the rounds did: raise LIQ_LOAD_SECONDS")
m = {}
for line in open(sys.argv[4]):
    if line.startswith("sealstream_host_journal_") and " " in line:
        k, v = line.rsplit(" ", 1)
        m[k] = float(v)
def hist(name):
    count = m.get(f"sealstream_host_journal_{name}_seconds_count", 0)
    if not count:
        return "none"
    total = m[f"sealstream_host_journal_{name}_seconds_sum"]
    le = sorted((float(k.split('le="')[1].split('"')[0]), v) for k, v in m.items()
                if k.startswith(f"sealstream_host_journal_{name}_seconds_bucket") and '+Inf' not in k)
    def upto(q):
        return next((f"<= {b*1e3:g} ms" for b, c in le if c >= q * count), "> the last bound")
    return f"{int(count):,}, mean {total/count*1e3:.2f} ms, p50 {upto(0.5)}, p99 {upto(0.99)}"
print(f"host, whole run: journal syncs {hist('fsync')}; journal message written -> durable {hist('durable_wait')}")
PY
echo "bench-liquidation: the summary and host log are in $WORK"
