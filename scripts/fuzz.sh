#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser fed from outside (docs/FUZZING.md): builds the
# libFuzzer targets of the nested Fuzz/ package with `-sanitize=fuzzer,address` into
# .build-fuzz, then runs each for SECONDS from its committed seed corpus
# (Fuzz/corpus/<target>) plus what earlier runs found (.build-fuzz/corpus/<target>).
# Prints executions per second and coverage (libFuzzer's cov/ft) per target. Fails if any
# target crashes, traps, leaks past its limits or hangs; the reproducer is saved as
# Fuzz/crashes/<target>-crash-<sha1> (replay: .build-fuzz/release/Fuzz<Name> FILE).
#
# Targets run FUZZ_JOBS at a time (default: the number of cores, at most 4), each with
# its own TMPDIR; the lines are printed in target order once all have run.
#
# `--build-only` builds the targets and runs none (scripts/test.sh builds them in the
# background, at the lowest priority, while its later stages run).
#
# Usage: scripts/fuzz.sh SECONDS [TARGET...]
#        scripts/fuzz.sh --build-only [TARGET...]
# Targets: frames messages link worker evidence tpm policy boot-log venue-config scenario records http
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ALL=(frames messages link worker evidence tpm policy boot-log venue-config scenario records http)
SECONDS_EACH="${1:?usage: scripts/fuzz.sh SECONDS|--build-only [TARGET...]}"
shift
BUILD_ONLY=0
if [[ "$SECONDS_EACH" == --build-only ]]; then
    BUILD_ONLY=1
elif ! [[ "$SECONDS_EACH" =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz: SECONDS must be a positive integer, not '$SECONDS_EACH'" >&2
    exit 2
fi
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL[@]}")

product() {  # target name -> executable product of Fuzz/Package.swift
    case "$1" in
        frames) echo FuzzFrames ;; messages) echo FuzzMessages ;; link) echo FuzzLink ;; worker) echo FuzzWorker ;;
        evidence) echo FuzzEvidence ;; tpm) echo FuzzTPM ;; policy) echo FuzzPolicy ;; boot-log) echo FuzzBootLog ;;
        venue-config) echo FuzzVenueConfig ;; scenario) echo FuzzScenario ;; records) echo FuzzRecords ;;
        http) echo FuzzHTTP ;;
    esac
}
for t in "${TARGETS[@]}"; do
    [[ " ${ALL[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (targets: ${ALL[*]})" >&2; exit 2; }
done

cores=$(nproc 2>/dev/null || echo 1)
JOBS="${FUZZ_JOBS:-$(( cores < 4 ? cores : 4 ))}"
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: FUZZ_JOBS must be a positive integer, not '$JOBS'" >&2; exit 2; }

SCRATCH=.build-fuzz
FLAGS=(-c release --package-path Fuzz --scratch-path "$SCRATCH"
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing)
echo "fuzz: building ${#TARGETS[@]} target(s) into $SCRATCH"
replan_nested "$SCRATCH" Sources Enclave Fuzz/Sources
build() {
    if ! swift build "${FLAGS[@]}" "$@" >"$SCRATCH/build.log" 2>&1; then
        grep -E "error:" "$SCRATCH/build.log" | head -20 >&2 || tail -20 "$SCRATCH/build.log" >&2
        echo "fuzz: build failed (log: $SCRATCH/build.log)" >&2
        exit 1
    fi
    tail -1 "$SCRATCH/build.log"
}
# One product at a time: a plain `swift build` of this package would also build the root
# package's executables, which are not fuzz targets.
for t in "${TARGETS[@]}"; do build --product "$(product "$t")"; done
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)"
[[ $BUILD_ONLY -eq 1 ]] && exit 0

# The HTTP target keeps its publisher's files in TMPDIR (one per target: targets run side
# by side); libFuzzer's own leak checks are off (the Swift runtime's caches live until
# exit by design; ASan still checks every access).
mkdir -p Fuzz/crashes "$SCRATCH/logs"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:symbolize=1"
# Swift's own backtracer, reading memory under ASan, adds a misleading second report.
export SWIFT_BACKTRACE=enable=no

# Runs one target; its exit status goes to logs/<target>.status (the function itself
# always succeeds, so a failing target cannot end the script before the others ran).
run_target() {
    local t="$1" exe="$BIN/$(product "$1")" work="$SCRATCH/corpus/$1" log="$SCRATCH/logs/$1.log"
    local tmp="$PWD/$SCRATCH/tmp/$1" dict=() status=0
    mkdir -p "$work" "$tmp"
    [[ -f "Fuzz/dict/$t.dict" ]] && dict=(-dict="Fuzz/dict/$t.dict")
    TMPDIR="$tmp" "$exe" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -artifact_prefix="Fuzz/crashes/$t-" "${dict[@]}" "$work" "Fuzz/corpus/$t" >"$log" 2>&1 || status=$?
    echo "$status" > "$SCRATCH/logs/$t.status"
}
echo "fuzz: running ${#TARGETS[@]} target(s) for ${SECONDS_EACH}s each, $JOBS at a time"
for t in "${TARGETS[@]}"; do
    rm -f "$SCRATCH/logs/$t.status"
    while [[ $(jobs -rp | wc -l) -ge $JOBS ]]; do wait -n || true; done
    run_target "$t" &
done
wait

failed=()
for t in "${TARGETS[@]}"; do
    log="$SCRATCH/logs/$t.log"
    status=$(cat "$SCRATCH/logs/$t.status" 2>/dev/null || echo "none")
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    # A target that dies on its first input prints no progress line: `|| true`, so that
    # (under pipefail) the failure is reported below instead of ending the script.
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo ?)
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo ?)
    corp=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo ?)
    if [[ $status == 0 ]]; then
        printf 'fuzz: %-13s ok     %6ss %10s runs %7s exec/s  cov %5s  ft %6s  corpus %5s\n' \
            "$t" "$SECONDS_EACH" "$runs" "$rate" "$cov" "$ft" "$corp"
    else
        artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //' || true)
        printf 'fuzz: %-13s FAILED after %s runs (exit %s); reproducer: %s; log: %s\n' \
            "$t" "$runs" "$status" "${artifact:-none}" "$log"
        grep -E "^(==[0-9]+==ERROR|SUMMARY|Fatal error|.*invariant failed)" "$log" | head -5 | sed 's/^/    /' || true
        failed+=("$t")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
