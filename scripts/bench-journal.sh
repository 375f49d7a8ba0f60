#!/usr/bin/env bash
# Where a receipt's time goes with the journal on (issues 12 and 17): alternating rounds at
# a fixed rate of the host with `--journal off` (the baseline of the same run), and with
# the journal on with 1 and with 2 sync lanes (docs/DURABILITY.md §3). Each phase runs on a
# fresh data directory; after it the host's /metrics is read for the journal's fsync
# durations, how long each journal message waited to be durable, and the group sizes.
# Prints, per round and as medians with spreads, the receipt p50/p99, the p99 ratio to
# the `off` phase of the same round, the part of the latency after the enclave's stamp, and
# where the cores went: CPU per receipt of the load generator (its rusage), the host and
# the enclave (each thread's /proc/PID/task/TID/schedstat over the load), how long host and
# enclave threads stood runnable waiting for a CPU, and the busiest threads (h: host, e:
# enclave).
#
# Usage: scripts/bench-journal.sh [ROUNDS] [SECONDS] [RATE]   (default 3 10 50000)
#   SEALSTREAM_BIN_DIR  the executables (default: the release build, built if needed)
#   BENCH_JOURNAL_MODES modes, in the first round's order (default "off 1 p1000 u1": off;
#                       a number N: on with N sync lanes, preallocated segments and the
#                       host's default pacing, all defaults (docs/DURABILITY.md §3, §3.2);
#                       aN: on with N lanes, segments growing by appends,
#                       --journal-preallocate off; uN: on with N lanes, unpaced,
#                       --journal-sync-interval-micros 0, the behaviour before session 17;
#                       pN: on with 1 lane paced at N µs, --journal-sync-interval-micros N
#                       (p1000: the default before session 22); auto: on with 1 lane paced
#                       by the CPU pressure, --journal-sync-interval-micros auto (the
#                       default, written out); offio: off, with the disk floor
#                       program below writing and syncing beside the host for the whole
#                       load, which no receipt waits for: what the disk's I/O costs the
#                       other processes; offcpu: the same without its fdatasync calls);
#                       each round rotates the order by one
#   COALESCE_MICROS     every host's --coalesce-micros (docs/OPERATIONS.md §9; default 0)
#   SEND_QUANTUM_MICROS every load's --send-quantum-micros (docs/SCENARIOS.md; default 0)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ROUNDS="${1:-3}"
SECONDS_LOAD="${2:-10}"
RATE="${3:-50000}"
read -r -a MODES <<< "${BENCH_JOURNAL_MODES:-off 1 p1000 u1}"
release_bin_dir
BIN="$SEALSTREAM_BIN_DIR"
# Each round also measures the **disk floor**: Benchmarks/fsync/groupcommit.c (one writer of
# 50k records/s over a zeroed file, one sync thread calling fdatasync whenever it is idle
# and bytes are unsynced: the journal's design with nothing else around it), on the same
# filesystem, for the same seconds. Its p99 is what the disk alone adds to a record's wait
# at that moment; the summary sets the journal's added p99 (on − off) against it.
# The data directories go at exit; the loads, metrics and host logs stay in WORK (said at the end).
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-bench-journal.XXXXXX")"
trap 'stop_host >/dev/null 2>&1 || true; rm -rf "$WORK"/data-*' EXIT
FLOOR="$WORK/groupcommit"
# threads_cpu FILE: one line per thread of the host ($HOST_PID) and its enclave worker:
# process, thread id, name, then /proc/PID/task/TID/schedstat: ns on a CPU, ns waiting on a
# run queue (runnable, no CPU free), timeslices. Read before and after each load: where the
# two cores went, and how long each thread waited for one.
threads_cpu() {
    local out="$1" pid task enclave
    enclave=$(pgrep -P "$HOST_PID" sealstream-enc | head -1 || true)
    : > "$out"
    for pid in "$HOST_PID" $enclave; do
        local role=host; [[ "$pid" == "$enclave" ]] && role=enclave
        for task in /proc/"$pid"/task/*; do
            echo "$role ${task##*/} $(tr ' ' _ < "$task/comm") $(cat "$task/schedstat" 2>/dev/null)" >> "$out" || true
        done
    done
}
# psi_cpu_some: the machine's CPU pressure so far, µs in which some runnable task waited for
# a CPU (/proc/pressure/cpu, `some total=`; "-" without PSI). Read around each load: the
# share of the load's time in which the cores were contended.
psi_cpu_some() {
    sed -n 's/^some .*total=\([0-9]*\)$/\1/p' /proc/pressure/cpu 2>/dev/null | grep . || echo -
}
gcc -O2 -pthread -o "$FLOOR" Benchmarks/fsync/groupcommit.c
echo "== $ROUNDS rounds of ${MODES[*]} at $RATE/s for ${SECONDS_LOAD}s each (host coalescing ${COALESCE_MICROS:-0} µs, generator send quantum ${SEND_QUANTUM_MICROS:-0} µs), then the disk floor; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    shift_by=$(( (round - 1) % ${#MODES[@]} ))
    order=("${MODES[@]:$shift_by}" "${MODES[@]:0:$shift_by}")
    for mode in "${order[@]}"; do
        data="$WORK/data-$mode-$round"
        beside=""
        case "$mode" in
            off) args=(--journal off) ;;
            offio) args=(--journal off); beside=io ;;
            offcpu) args=(--journal off); beside=cpu ;;
            auto) args=(--journal on --journal-sync-interval-micros auto) ;;
            a*) args=(--journal on --journal-sync-lanes "${mode#a}" --journal-preallocate off) ;;
            u*) args=(--journal on --journal-sync-lanes "${mode#u}" --journal-sync-interval-micros 0) ;;
            p*) args=(--journal on --journal-sync-interval-micros "${mode#p}") ;;
            *) args=(--journal on --journal-sync-lanes "$mode") ;;
        esac
        start_host "$BIN" "$data" "$WORK/host-$mode-$round.log" "${args[@]}" --coalesce-micros "${COALESCE_MICROS:-0}"
        if [[ -n "$beside" ]]; then
            # 10,000 writes a second for the load and its set-up (at most the program's 200,000).
            writes=$(( SECONDS_LOAD * 10000 + 20000 > 200000 ? 200000 : SECONDS_LOAD * 10000 + 20000 ))
            if [[ "$beside" == cpu ]]; then
                TMPDIR="$WORK" GROUPCOMMIT_NOSYNC=1 "$FLOOR" zeroed 1 "$writes" > "$WORK/beside-$mode-$round.txt" &
            else
                TMPDIR="$WORK" "$FLOOR" zeroed 1 "$writes" > "$WORK/beside-$mode-$round.txt" &
            fi
            BESIDE_PID=$!
        fi
        threads_cpu "$WORK/sched-$mode-$round.before"
        psi_before="$(psi_cpu_some) $(date +%s%6N)"
        # The generator's own CPU (its children's rusage, through Python: no /usr/bin/time needed).
        python3 -c 'import resource, subprocess, sys
subprocess.call(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"generator {r.ru_utime:.3f} {r.ru_stime:.3f}", file=sys.stderr)' "$WORK/load-$mode-$round.json" \
            "$BIN/sealstream-client" load --host "$HOST_ADDR" --rate "$RATE" --duration "$SECONDS_LOAD" --sessions 8 \
            --send-quantum-micros "${SEND_QUANTUM_MICROS:-0}" --no-attestation --json \
            2> "$WORK/generator-$mode-$round.txt" || true
        threads_cpu "$WORK/sched-$mode-$round.after"
        echo "$psi_before $(psi_cpu_some) $(date +%s%6N)" > "$WORK/psi-$mode-$round"
        if [[ -n "$beside" ]]; then wait "$BESIDE_PID" || true; fi
        # A starved host can miss the scrape; the summary then shows "-" for its journal figures.
        curl -s --max-time 20 "http://$HTTP_ADDR/metrics" > "$WORK/metrics-$mode-$round.prom" || true
        cut -d' ' -f1 /proc/loadavg > "$WORK/loadavg-$mode-$round"
        stop_host
        rm -rf "$data"
        echo "round $round, journal $mode: done (load average $(cat "$WORK/loadavg-$mode-$round"))"
    done
    # 10,000 writes a second (50k records/s), at most the program's 200,000 (20 s).
    TMPDIR="$WORK" "$FLOOR" zeroed 1 $(( SECONDS_LOAD * 10000 > 200000 ? 200000 : SECONDS_LOAD * 10000 )) > "$WORK/floor-$round.txt"
    echo "round $round, disk floor: $(cat "$WORK/floor-$round.txt")"
done
python3 - "$WORK" "$ROUNDS" "$RATE" "${MODES[@]}" <<'PY'
import json, os, re, statistics, sys
work, rounds, target_rate, modes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
cores = os.cpu_count()
def hist(text, name):
    """(cumulative buckets [(le, count)], sum, count) of a Prometheus histogram."""
    b = [(float(m.group(1)), float(m.group(2))) for m in
         re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', text.replace('+Inf', 'inf'), re.M)]
    s = re.search(rf'^{name}_sum (\S+)$', text, re.M)
    c = re.search(rf'^{name}_count (\S+)$', text, re.M)
    return b, float(s.group(1)) if s else 0.0, float(c.group(1)) if c else 0.0
def quantile(buckets, count, q):
    """The upper bound of the bucket holding the q-quantile (coarse: the bounds)."""
    for le, c in buckets:
        if count and c >= q * count: return le
    return float('nan')
def ms(x): return f"{x * 1e3:.2f}"
def threads(path):
    """{(role, tid): (name, ns on CPU, ns runnable waiting for a CPU)} of a threads_cpu file."""
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5: out[(f[0], f[1])] = (f[2], int(f[3]), int(f[4]))
    return out
def cpu(m, r, receipts):
    """CPU µs per receipt of the generator, the host and the enclave, the runqueue wait µs per
    receipt of host and enclave, and the busiest threads, over one load (None when unread)."""
    try:
        before, after = threads(f"{work}/sched-{m}-{r}.before"), threads(f"{work}/sched-{m}-{r}.after")
        g = open(f"{work}/generator-{m}-{r}.txt").read().split()
        generator = (float(g[-2]) + float(g[-1])) * 1e9
    except (OSError, ValueError, IndexError):
        return None
    run, wait, named = {"host": 0, "enclave": 0}, {"host": 0, "enclave": 0}, {}
    for key, (name, on, queued) in after.items():
        if key not in before: continue
        d_on, d_wait = on - before[key][1], queued - before[key][2]
        run[key[0]] += d_on; wait[key[0]] += d_wait
        n = f"{key[0][0]}:{name}"
        named[n] = named.get(n, 0) + d_on
    per = lambda ns: ns / 1e3 / max(receipts, 1)
    top = ", ".join(f"{n} {per(ns):.1f}" for n, ns in sorted(named.items(), key=lambda x: -x[1])[:5] if ns > 0)
    return per(generator), per(run["host"]), per(run["enclave"]), per(wait["host"]), per(wait["enclave"]), top
def psi(m, r):
    """"; CPU pressure N%": the share of the load's wall time in which some runnable task
    waited for a CPU (/proc/pressure/cpu); empty without PSI."""
    try:
        a, t0, b, t1 = open(f"{work}/psi-{m}-{r}").read().split()
        return f"; CPU pressure {100 * (int(b) - int(a)) / (int(t1) - int(t0)):.0f}%"
    except (OSError, ValueError):
        return ""
rows = {m: [] for m in modes}
cpus = {m: [] for m in modes}
print(f"\n{'round':<6}{'mode':<6}{'p50 µs':>9}{'p99 µs':>10}{'p99/off':>9}{'send/off':>10}{'toEncl p99':>11}{'fromEncl p50/p99 µs':>22}"
      f"{'fsync mean/p50≤/p99≤ ms':>26}{'wait mean/p50≤/p99≤ ms':>25}{'group':>7}{'syncs/s':>9}{'load':>6}")
for r in range(1, rounds + 1):
    def carried(load): return load["ordersPerSecond"] >= 0.95 * load["targetRate"] and not load["unanswered"]
    base = json.load(open(f"{work}/load-off-{r}.json")) if "off" in modes else None
    off = base["latencyMicros"]["p99"] if base and carried(base) else None
    # The same from the moment each request was sealed for sending: without the
    # generator's wait for a send round (SEND_QUANTUM_MICROS), which adds to both.
    off_send = base["latencyFromSendMicros"]["p99"] if off else None
    for m in modes:
        load = json.load(open(f"{work}/load-{m}-{r}.json"))
        text = open(f"{work}/metrics-{m}-{r}.prom").read()
        la = open(f"{work}/loadavg-{m}-{r}").read().strip()
        lat, fe = load["latencyMicros"], load["stages"]["fromEnclaveMicros"]
        te = load["stages"]["toEnclaveMicros"]
        fb, fs, fc = hist(text, "sealstream_host_journal_fsync_seconds")
        wb, ws, wc = hist(text, "sealstream_host_journal_durable_wait_seconds")
        gb, gs, gc = hist(text, "sealstream_host_journal_group_records")
        ratio = lat["p99"] / off if off else float('nan')
        ratio_send = load["latencyFromSendMicros"]["p99"] / off_send if off_send else float('nan')
        c = cpu(m, r, load["receipts"])
        where = (f"{'':<12}CPU µs/receipt generator {c[0]:.1f}, host {c[1]:.1f}, enclave {c[2]:.1f}; waiting for a CPU "
                 f"host {c[3]:.1f}, enclave {c[4]:.1f}; busiest threads {c[5]}{psi(m, r)}") if c else None
        if not carried(load):
            print(f"{r:<6}{m:<6}only {load['ordersPerSecond']:,.0f} orders/s, {load['unanswered']} unanswered: "
                  "the machine could not carry the rate (not counted)")
            if where: print(where)
            continue
        if c: cpus[m].append(c)
        rows[m].append((lat["p50"], lat["p99"], ratio, quantile(fb, fc, .99) if fc else float('nan'), ws / wc if wc else float('nan'),
                        ratio_send))
        fsync = f"{ms(fs / fc)}/{ms(quantile(fb, fc, .5))}/{ms(quantile(fb, fc, .99))}" if fc else "-"
        wait = f"{ms(ws / wc)}/{ms(quantile(wb, wc, .5))}/{ms(quantile(wb, wc, .99))}" if wc else "-"
        group = f"{gs / gc:.0f}" if gc else "-"
        rate = f"{fc / load['durationSeconds']:.0f}" if fc else "-"
        print(f"{r:<6}{m:<6}{lat['p50']:>9.0f}{lat['p99']:>10.0f}{ratio:>9.2f}{ratio_send:>10.2f}{te['p99']:>11.0f}{fe['p50']:>11.0f}/{fe['p99']:<10.0f}"
              f"{fsync:>26}{wait:>25}{group:>7}{rate:>9}{la:>6}")
        if where: print(where)

floors = []
for r in range(1, rounds + 1):
    f = re.search(r"p99 (\d+) ", open(f"{work}/floor-{r}.txt").read())
    if f: floors.append(float(f.group(1)))
print()
for m in modes:
    if not rows[m]:
        print(f"{m:<4} no round carried the rate"); continue
    p50 = [x[0] for x in rows[m]]; p99 = [x[1] for x in rows[m]]; ra = [x[2] for x in rows[m] if x[2] == x[2]] or [float('nan')]
    line = (f"{m:<4} p50 median {statistics.median(p50):,.0f} µs ({min(p50):,.0f}-{max(p50):,.0f}), "
            f"p99 median {statistics.median(p99):,.0f} µs ({min(p99):,.0f}-{max(p99):,.0f})")
    if m != "off" and "off" in modes:
        line += f", p99 on/off median {statistics.median(ra):.2f} ({min(ra):.2f}-{max(ra):.2f}); target <= 1.5"
        rs = [x[5] for x in rows[m] if x[5] == x[5]] or [float('nan')]
        line += f" (from the send: {statistics.median(rs):.2f}, {min(rs):.2f}-{max(rs):.2f})"
    fp = [x[3] for x in rows[m] if x[3] == x[3]]; wm = [x[4] for x in rows[m] if x[4] == x[4]]
    if fp:
        line += (f"; fdatasync p99 bucket median {ms(statistics.median(fp))} ms ({ms(min(fp))}-{ms(max(fp))}), "
                 f"durable wait mean median {ms(statistics.median(wm))} ms ({ms(min(wm))}-{ms(max(wm))})")
    print(line)
    if cpus[m]:
        med = lambda i: statistics.median(x[i] for x in cpus[m])
        print(f"     CPU µs/receipt medians: generator {med(0):.1f}, host {med(1):.1f}, enclave {med(2):.1f} (all three "
              f"{med(0) + med(1) + med(2):.1f}; the {cores} cores give {cores * 1e6 / target_rate:.1f} at this rate); "
              f"waiting for a CPU: host {med(3):.1f}, enclave {med(4):.1f}")
    if m != "off" and "off" in modes and floors and rows["off"]:
        added = statistics.median(p99) - statistics.median(x[1] for x in rows["off"])
        print(f"     added p99 (median on - median off) {added:,.0f} µs against the disk floor's p99 median "
              f"{statistics.median(floors):,.0f} µs ({min(floors):,.0f}-{max(floors):,.0f}): {added / statistics.median(floors):.2f} x the floor")
if floors:
    print(f"disk floor (groupcommit.c zeroed, 1 sync thread, 50k records/s): p99 median {statistics.median(floors):,.0f} µs; "
          f"the p99 ratio target 1.5 leaves the journal 0.5 x the off p99 to add")
PY
echo "bench-journal: raw loads, metrics and host logs kept in $WORK"
