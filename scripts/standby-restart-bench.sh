#!/usr/bin/env bash
# Standby restart time (issue 13; docs/REPLICATION.md §4 step 3, §8.1): a three-node
# JetStream cluster, a primary that takes ORDERS orders, and a hot standby that followed
# them (taking snapshots every SNAPSHOT_EVERY events). The standby is stopped and started
# again three ways, each timed from `sealstream-host run` to `standby_following` (its
# worker was fed the local copy and follows):
#   warm   its own data directory: the verified local prefix is kept and its worker
#          starts from its newest snapshot;
#   prefix the snapshots removed: the prefix is kept, the worker replays from genesis;
#   cold   journal and snapshots removed (the key file kept): every stream message is
#          read and the worker replays from genesis, which is what every standby restart
#          cost before the verified prefix and standby snapshots.
# Each line also prints the host's `messages_read` and the worker's starting record. The
# lease TTL is LEASE_TTL_MS (default 3000 ms), longer than the default so that a loaded
# machine does not fail the primary over in the middle of the measurement.
#
# Usage: scripts/standby-restart-bench.sh [ORDERS] [RATE] [SNAPSHOT_EVERY]
#   (default 200000 20000 50000)
#   SEALSTREAM_BIN_DIR  the executables (default: the release build, built if needed)
set -euo pipefail
cd "$(dirname "$0")/.."

ORDERS="${1:-200000}"
RATE="${2:-20000}"
EVERY="${3:-50000}"
source scripts/lib.sh
replication_bench_init standby-restart

STARTS=0
# start NAME: starts host NAME on its data directory in the background; LOG is its log.
start() {
    STARTS=$((STARTS + 1))
    rm -f "$WORK/$1/host.json"
    LOG="$WORK/$1-$STARTS.log"
    "$BIN/sealstream-host" run --data-dir "$WORK/$1" --listen 127.0.0.1:0 --http 127.0.0.1:0 --config "$VENUE" \
        --journal "$JOURNAL" --snapshot-every-events "$EVERY" --lease-ttl-ms "${LEASE_TTL_MS:-3000}" >"$LOG" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    disown "$PID"
}
# wait_log PATTERN: waits (up to 20 min) until LOG holds PATTERN.
wait_log() {
    for _ in $(seq 1 120000); do
        grep -q "$1" "$LOG" && return 0
        sleep 0.01
    done
    echo "standby-restart-bench: no $1; the log:" >&2
    tail -20 "$LOG" >&2
    return 1
}
event_field() {
    python3 - "$LOG" "$1" "$2" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == sys.argv[2] and sys.argv[3] in e:
        print(e[sys.argv[3]]); break
else:
    print("-")
EOF
}

start a
A_LOG="$LOG"
wait_log '"listening"'
A_PID="$PID"
start b
B_PID="$PID"
wait_log standby_following
echo "== $ORDERS orders at ${RATE}/s on the primary"
SECONDS_LOAD=$(( (ORDERS + RATE - 1) / RATE ))
"$BIN/sealstream-client" load --host "$(field "$WORK/a" listen)" --rate "$RATE" --duration "$SECONDS_LOAD" --sessions 8 \
    --policy "$WORK/policy.json" --allow-simulated 2>&1 | grep -v "^load: \[" | tail -8 || true
sleep 3
ls "$WORK/b/snapshots" 2>/dev/null | sed "s/^/standby snapshot: /" || echo "standby snapshot: none"

restart_b() {
    kill -TERM "$B_PID"
    while kill -0 "$B_PID" 2>/dev/null; do sleep 0.05; done
    case "$1" in
        prefix) rm -rf "$WORK/b/snapshots" ;;
        cold) rm -rf "$WORK/b/snapshots" "$WORK/b/journal" ;;
    esac
    local t0 t1
    t0=$(now)
    start b
    B_PID="$PID"
    wait_log standby_following
    t1=$(now)
    printf '%-6s restart to standby_following %6.2f s  messages %s, messages_read %s, worker from record %s\n' \
        "$1" "$(python3 -c "print($t1 - $t0)")" "$(event_field journal_opened messages)" \
        "$(event_field journal_opened messages_read)" "$(event_field snapshot_recovery_started record)"
}
restart_b warm
restart_b prefix
restart_b cold
restart_b warm
kill -TERM "$A_PID" "$B_PID" 2>/dev/null || true
echo "primary log: $A_LOG"
