# Shared helpers for the scripts (demo, bench, contract tests, chaos). Sourced, not run.

# start_host BIN_DIR DATA_DIR LOG [extra args...]: starts sealstream-host on a free port,
# waits for DATA_DIR/host.json, and sets HOST_PID, HOST_ADDR and HTTP_ADDR.
start_host() {
    local bin="$1" data="$2" log="$3"
    shift 3
    "$bin/sealstream-host" run --data-dir "$data" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
        --config "${VENUE_CONFIG:-scripts/demo/venue.json}" "$@" >"$log" 2>&1 &
    HOST_PID=$!
    for _ in $(seq 1 300); do
        # A host on the replicated journal names no `listen` while it is a standby.
        if [[ -s "$data/host.json" ]] && grep -q '"listen"' "$data/host.json"; then
            HOST_ADDR=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['listen'])" "$data/host.json")
            HTTP_ADDR=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['http'])" "$data/host.json")
            return 0
        fi
        if ! kill -0 "$HOST_PID" 2>/dev/null; then
            echo "host failed to start; its log:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "host did not come up within 30 s" >&2
    return 1
}

# release_bin_dir: sets SEALSTREAM_BIN_DIR to the release build's executables (building
# them first) unless the caller gave it; the benchmarks measure release builds.
release_bin_dir() {
    if [[ -z "${SEALSTREAM_BIN_DIR:-}" ]]; then
        swift build -c release 2>&1 | tail -1
        SEALSTREAM_BIN_DIR="$(swift build -c release --show-bin-path)"
    fi
}

# stop_host: SIGTERM and wait; prints the host's exit status.
stop_host() {
    if [[ -n "${HOST_PID:-}" ]] && kill -0 "$HOST_PID" 2>/dev/null; then
        kill -TERM "$HOST_PID"
        local status=0
        wait "$HOST_PID" || status=$?
        HOST_PID=""
        return "$status"
    fi
}

# contracts_venv: makes .venv (py-evm, Vyper and the contract tests' pins,
# contracts/requirements.txt) and sets VENV; rebuilt only when the pins change.
contracts_venv() {
    VENV=.venv
    local requirements=contracts/requirements.txt want
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
        echo "contracts: creating $VENV from $requirements"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
        echo "$want" > "$VENV/.requirements.sha256"
    fi
}

# write_chain_json OUT: OUT/chain.json (chainId, verifyingContract, venueId, signer), what
# contracts/tests/test_real_outputs.py needs beside OUT's batches.jsonl and decisions.jsonl,
# from OUT/epoch.json (the epoch's evidence).
write_chain_json() {
    python3 - "$1" <<'PY'
import json, sys
out = sys.argv[1]
e = json.load(open(f"{out}/epoch.json"))
json.dump({"chainId": e["chainId"], "verifyingContract": e["verifyingContract"], "venueId": e["venueID"],
           "signer": e["signer"]}, open(f"{out}/chain.json", "w"))
PY
}

# replication_bench_init LABEL: what the replication benchmarks (failover-bench.sh,
# standby-restart-bench.sh) share: BIN (SEALSTREAM_BIN_DIR, or the release build, built if
# needed), VENUE, WORK (a fresh directory under TMPDIR, removed at exit after PIDS are
# killed and the cluster stopped, whatever the exit status), PIDS (killed at exit), a
# three-node cluster in WORK/nats whose URLs are JOURNAL, the software-mode policy in
# WORK/policy.json (ATTEST), and the helpers now and field DIR KEY (a host.json field).
replication_bench_init() {
    if [[ -n "${SEALSTREAM_BIN_DIR:-}" ]]; then
        BIN="$SEALSTREAM_BIN_DIR"
    else
        swift build -c release 2>&1 | tail -1
        BIN="$(swift build -c release --show-bin-path)"
    fi
    VENUE="${VENUE_CONFIG:-scripts/demo/venue.json}"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-$1.XXXXXX")"
    PIDS=()
    trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
          scripts/cluster.sh stop "$WORK/nats" >/dev/null 2>&1 || true
          rm -rf "$WORK"' EXIT
    now() { date +%s.%N; }
    field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ''))" "$1/host.json" "$2" 2>/dev/null || true; }
    JOURNAL="$(scripts/cluster.sh start "$WORK/nats" | tail -1)"
    "$BIN/attestation" measure --enclave "$BIN/sealstream-enclave" --config "$VENUE" --allow-mode software \
        --policy-out "$WORK/policy.json" >/dev/null
    ATTEST=(--policy "$WORK/policy.json" --allow-simulated)
}

# replan_nested SCRATCH DIR...: SwiftPM does not notice files added to or removed from the
# path dependency (the main package) of an already planned nested build (Fuzz/,
# Benchmarks/): when the list of source files under DIR... changed since the last call,
# drop SCRATCH's plan so it is made again (the compiled objects stay).
replan_nested() {
    local scratch="$1" stamp list
    shift
    mkdir -p "$scratch"
    stamp="$scratch/sources.list"
    list="$(find "$@" -name '*.swift' -o -name '*.c' -o -name '*.h' | LC_ALL=C sort)"
    if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "$list" ]]; then
        rm -f "$scratch/release.yaml" "$scratch/debug.yaml" "$scratch/build.db"
        printf '%s' "$list" > "$stamp"
    fi
}
