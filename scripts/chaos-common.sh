# What scripts/chaos.sh, scripts/chaos-cluster.sh and scripts/exit-repro.sh share. Sourced,
# not run; the chaos scripts set
# WORK, BIN, VENUE, SEED, TRADERS, STEPS, LOAD_RATE, DRILL_TRADERS, ATTEST and elapsed()
# before calling these.

# write_trader_scenarios: the traders' scenario files WORK/trader-T.txt, drawn from SEED:
# deposits, then quotes (post-only limits), takes (market orders), cancels of earlier
# quotes and short waits; trader 0 also posts the oracle prices, from all three publishers.
write_trader_scenarios() {
    python3 - "$WORK" "$SEED" "$TRADERS" "$STEPS" <<'PY'
import random, sys
work, seed, traders, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
for t in range(traders):
    name = f"c{t}"
    lines = [f"trader {name} account={7000 + t}", f"deposit {name} 1000000"]
    quotes, mid = [], 60000
    for n in range(steps):
        if t == 0 and n % 6 == 0:
            mid += rng.randint(-20, 20)
            for p in ("pyth-a", "pyth-b", "chainlink-c"):
                lines.append(f"price BTC-PERP {mid + rng.randint(-2, 2)} conf=5 publisher={p}")
        r = rng.random()
        side = rng.choice(("buy", "sell"))
        if r < 0.45:
            price = mid - rng.randint(1, 30) if side == "buy" else mid + rng.randint(1, 30)
            qid = f"{name}-q{n}"
            quotes.append(qid)
            lines.append(f"order {name} {side} BTC-PERP 0.01 @ {price} post-only id={qid}")
        elif r < 0.75:
            worst = mid + 200 if side == "buy" else mid - 200
            lines.append(f"market {name} {side} BTC-PERP 0.01 worst={worst} id={name}-m{n}")
        elif quotes:
            lines.append(f"cancel {name} {quotes.pop(rng.randrange(len(quotes)))}")
        lines.append(f"wait {rng.randint(10, 80)}ms")
    open(f"{work}/trader-{t}.txt", "w").write("\n".join(lines) + "\n")
PY
}

# start_traders HOSTS: one `sealstream-client scenario` per trader against HOSTS (one
# address, or a comma-separated list the client fails over across); sets TRADER_PIDS.
start_traders() {
    TRADER_PIDS=""
    local t
    for t in $(seq 0 $((TRADERS - 1))); do
        # 30 attempts (about 50 s of back-off): two takeovers in a row can leave no primary
        # listening for 10 s (seen in CI), longer than the default 10 attempts last.
        "$BIN/sealstream-client" scenario "$WORK/trader-$t.txt" --host "$1" --venue "$VENUE" --json \
            --receipts-out "$WORK/receipts/trader-$t.jsonl" --reconnect-attempts 30 "${ATTEST[@]}" \
            >"$WORK/trader-$t.json" 2>"$WORK/trader-$t.log" &
        TRADER_PIDS="$TRADER_PIDS $!"
    done
}

# wait_traders PREFIX: waits for every trader, prints its summary; sets TRADER_FAILED.
wait_traders() {
    TRADER_FAILED=0
    local t pid status summary
    for t in $(seq 0 $((TRADERS - 1))); do
        pid=$(echo $TRADER_PIDS | cut -d' ' -f$((t + 1)))
        status=0
        wait "$pid" || status=$?
        summary="$(python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))
r = s['recovery']
print(f\"receipts {s['receipts']} duplicates {s['duplicates']} missing {s['missingReceipts']} abandoned {r.get('abandoned', 0)} restarts {r['restartsSeen']} reconnects {r['reconnects']} failovers {r.get('failovers', 0)} resends {r['resends']}\")
" "$WORK/trader-$t.json" 2>/dev/null || echo "no summary")"
        echo "$1: trader $t exit $status: $summary"
        if [[ $status -ne 0 ]]; then
            TRADER_FAILED=1
            # The requests it gave up on, then how the log ended.
            grep -E "no receipt|outcome unknown|NOT proven|refused:" "$WORK/trader-$t.log" | head -5 | sed 's/^/    /'
            tail -5 "$WORK/trader-$t.log" | sed 's/^/    /'
        fi
    done
}

# start_drill HOSTS PREFIX: the liquidation drill (DRILL_TRADERS traders; 0: none) against
# HOSTS, in the background, so that decisions are made (and must not appear twice) across
# the faults; it recovers and fails over like the traders. Sets DRILL_PID.
start_drill() {
    DRILL_PID=""
    [[ "$DRILL_TRADERS" -gt 0 ]] || return 0
    "$BIN/sealstream-client" drill --host "$1" --traders "$DRILL_TRADERS" "${ATTEST[@]}" \
        >"$WORK/drill.json" 2>"$WORK/drill.log" &
    DRILL_PID=$!
    echo "$2: liquidation drill ($DRILL_TRADERS traders) started at +$(elapsed)s"
}

# wait_drill PREFIX: waits for the drill if one runs; a failed drill sets TRADER_FAILED.
wait_drill() {
    [[ -n "${DRILL_PID:-}" ]] || return 0
    local status=0
    wait "$DRILL_PID" || status=$?
    echo "$1: drill exit $status: $(tail -1 "$WORK/drill.json" 2>/dev/null)"
    [[ $status -eq 0 ]] || { TRADER_FAILED=1; tail -5 "$WORK/drill.log" | sed 's/^/    /'; }
}

# start_load_loop ADDRESS_COMMAND: background load at LOAD_RATE (0: none) against the
# address ADDRESS_COMMAND prints (run before each start; empty: wait). `load` does not
# reconnect (docs/SCENARIOS.md), so it is started again whenever a fault stops it.
# Sets LOAD_LOOP.
start_load_loop() {
    LOAD_LOOP=""
    [[ "$LOAD_RATE" -gt 0 ]] || return 0
    (
        while [[ ! -e "$WORK/stop-load" ]]; do
            address="$($1)"
            if [[ -n "$address" ]]; then
                "$BIN/sealstream-client" load --host "$address" --rate "$LOAD_RATE" --duration 600 --sessions 2 \
                    --window 64 --no-attestation >>"$WORK/load.log" 2>&1 &
                echo $! >"$WORK/load.pid"
                wait $! || true
            fi
            sleep 0.2
        done
    ) &
    LOAD_LOOP=$!
}

# stop_load: ends the load loop and the load run it waits for.
stop_load() {
    local -
    set +e  # a run already gone is not an error here
    touch "$WORK/stop-load"
    # The loop may be starting the next run as we look: kill whichever run it waits for
    # until the loop has ended.
    for _ in $(seq 1 100); do
        [[ -n "${LOAD_LOOP:-}" ]] && kill -0 "$LOAD_LOOP" 2>/dev/null || break
        [[ -s "$WORK/load.pid" ]] && kill -9 "$(cat "$WORK/load.pid")" 2>/dev/null  # load does not stop on SIGTERM
        sleep 0.1
    done
    [[ -n "${LOAD_LOOP:-}" ]] && { wait "$LOAD_LOOP" 2>/dev/null || true; LOAD_LOOP=""; }
    true
}

# last_root DATA: the state root of DATA's last published header ("none" without one).
last_root() {
    python3 -c "
import json, sys
lines = open(sys.argv[1]).read().splitlines()
print(json.loads(lines[-1])['stateRoot'] if lines else 'none')" "$1/outputs/batches.jsonl"
}

# dump_threads PID OUT: prints what each thread of PID waits in (name, state, kernel wait
# channel), indented, and with gdb writes every thread's stack to OUT. For a host slow to
# exit (docs/REPLICATION.md §12).
dump_threads() {
    local t
    for t in /proc/"$1"/task/*; do
        echo "    $(cat "$t/comm" 2>/dev/null) $(awk '{print $3}' "$t/stat" 2>/dev/null) $(cat "$t/wchan" 2>/dev/null)"
    done
    if command -v gdb >/dev/null; then
        timeout 20 gdb -p "$1" -batch -ex "thread apply all bt" >"$2" 2>&1 || true
        echo "    user-space stacks: $2"
    fi
}
