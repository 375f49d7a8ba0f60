#!/usr/bin/env bash
# The market data feed's cost to the order path (issue 19, docs/MARKETDATA.md §6): the
# saturation throughput of encrypted orders with no feed consumer, then with 100 consumers
# (one that never reads) connected, alternated, in the same run on the same host; and the
# delay from a trade's sequencing to a reading consumer's socket at 50k orders/s.
#
# Usage: scripts/bench-feed.sh [BIN_DIR] [ROUNDS]   (default: the release build, 2 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BIN="${1:-$(swift build -c release --show-bin-path)}"
ROUNDS="${2:-2}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-bench-feed.XXXXXX")"
trap 'stop_host >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
start_host "$BIN" "$WORK/data" "$WORK/host.log"
LOAD=("$BIN/sealstream-client" load --host "$HOST_ADDR" --sessions 8 --no-attestation --json)

rate() { python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print(r.get('throughput', r.get('ordersPerSecond', 0)))"; }

"${LOAD[@]}" --rate 0 --duration 2 > /dev/null  # warm up: accounts, books, page cache
for round in $(seq 1 "$ROUNDS"); do
    none=$("${LOAD[@]}" --rate 0 --duration 5 | rate)
    "$BIN/sealstream-client" feed-load --http "$HTTP_ADDR" --consumers 100 --slow 1 --seconds 7 --json > "$WORK/feed.json" &
    FEED=$!
    sleep 1
    with=$("${LOAD[@]}" --rate 0 --duration 5 | rate)
    wait "$FEED"
    python3 - "$none" "$with" "$WORK/feed.json" "$round" <<'PY'
import json, sys
none, with_, feed, rnd = float(sys.argv[1]), float(sys.argv[2]), json.load(open(sys.argv[3])), sys.argv[4]
print(f"round {rnd}: saturation {none:,.0f} orders/s without consumers, {with_:,.0f} with 100 (one slow):"
      f" ratio {with_ / none:.3f}; slow consumer closed {feed['slowClosed']}/{feed['slow']},"
      f" readers closed {feed['readersClosed']}, {feed['records']:,} updates delivered")
PY
done
echo "== feed delay at 50k orders/s (sequencing → a reading consumer's socket)"
"$BIN/sealstream-client" feed-load --http "$HTTP_ADDR" --consumers 100 --slow 1 --seconds 7 > "$WORK/delay.txt" &
FEED=$!
sleep 1
"${LOAD[@]}" --rate 50000 --duration 5 > /dev/null
wait "$FEED"
cat "$WORK/delay.txt"
curl -s "http://$HTTP_ADDR/metrics" | grep -E '^sealstream_host_feed_' || true
