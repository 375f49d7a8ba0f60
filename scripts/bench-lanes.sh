#!/usr/bin/env bash
# Request lanes (issue 17; docs/CONFIG.md "Enclave lanes"): the worker alone, in process,
# fed pre-sealed orders from memory (no host, no pipe, no client), with 1, 2 and 4 lanes,
# as orders/s of wall clock and as a ratio of the AEAD-open rate measured in the same run
# (`Benchmarks/DurabilityBench --only lanes`: ROUNDS rounds, the lane counts' order
# rotating, medians). Then instructions per order with one lane under callgrind (only the
# feeding loop, `Feeder.feed`, is counted; journal off so no second thread runs), which is
# repeatable where times are not: the figure that shows one lane did not get slower.
#
# Usage: scripts/bench-lanes.sh [ROUNDS] [EVENTS]   (defaults 3 and 200,000)
#   BENCH_LANES_BASELINE=<commit>  also counts that commit's one-lane instructions, built
#       in a scratch worktree (its own DurabilityBench), and prints the ratio.
#   BENCH_LANES_CALLGRIND_EVENTS  orders under callgrind (default 20,000; about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ROUNDS="${1:-3}"
EVENTS="${2:-200000}"
CG_EVENTS="${BENCH_LANES_CALLGRIND_EVENTS:-20000}"
SCRATCH=""
cleanup() { if [[ -n "$SCRATCH" ]]; then git worktree remove --force "$SCRATCH" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

# build DIR: builds DurabilityBench in DIR/Benchmarks (release) and prints its path.
build() {
    local dir="$1"
    replan_nested "$dir/Benchmarks/.build" "$dir/Sources" "$dir/Enclave" "$dir/Benchmarks/Benchmarks"
    (cd "$dir/Benchmarks" && swift build -c release --product DurabilityBench 2>&1 | tail -1 >&2)
    echo "$(cd "$dir/Benchmarks" && swift build -c release --show-bin-path)/DurabilityBench"
}

# instructions BIN: one lane, journal off, callgrind over Feeder.feed; prints per order.
# valgrind 3.19 cannot read Swift 6's DWARF, so it runs a copy without debug sections.
instructions() {
    local stripped out total
    stripped="$(mktemp "${TMPDIR:-/tmp}/durabilitybench.XXXXXX")"
    out="$(mktemp "${TMPDIR:-/tmp}/callgrind.XXXXXX")"
    strip --strip-debug -o "$stripped" "$1"
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*Feeder*feed*' \
        --callgrind-out-file="$out" "$stripped" --events "$CG_EVENTS" --only off >/dev/null 2>&1
    total="$(sed -n 's/^summary: //p' "$out")"
    rm -f "$out" "$stripped"
    python3 -c "print(f'{$total / $CG_EVENTS:.1f}')"
}

BIN="$(build .)"
echo "== the worker alone with request lanes: $ROUNDS rounds of $EVENTS pre-sealed orders (load average $(cut -d' ' -f1 /proc/loadavg))"
"$BIN" --only lanes --events "$EVENTS" --rounds "$ROUNDS"
echo "Target (issue 17): 2 lanes >= 0.6 x the AEAD-open rate on 2 cores."
if command -v valgrind >/dev/null; then
    echo "== instructions per order with one lane (callgrind, $CG_EVENTS orders, journal off)"
    today="$(instructions "$BIN")"
    echo "this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Enclave || echo ', modified')): $today instructions/order"
    if [[ -n "${BENCH_LANES_BASELINE:-}" ]]; then
        SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-lanes-baseline.XXXXXX")"
        git worktree add --detach "$SCRATCH" "$BENCH_LANES_BASELINE" >/dev/null 2>&1
        base="$(instructions "$(build "$SCRATCH")")"
        echo "baseline $BENCH_LANES_BASELINE: $base instructions/order"
        python3 -c "print(f'ratio this tree / baseline: {$today / $base:.4f}')"
    fi
else
    echo "valgrind is missing (scripts/bootstrap.sh installs it): no instruction counts"
fi
