#!/usr/bin/env bash
# The HTTP API against its OpenAPI document (docs/openapi.yaml) and the market data feed
# against its AsyncAPI document (docs/asyncapi.yaml), on a live host: a real
# host and enclave run a small liquidation drill (so there are batches, decisions, market
# data and event proofs to serve), whose decision records and last event proof are checked
# against the document (scripts/api/check_records.py); then Schemathesis, loading the document the host serves at
# GET /openapi.yaml, sends generated valid and invalid requests to every operation and
# fails on any 5xx, any answer the document does not describe (status, content type,
# headers, body schema), an invalid request answered 2xx, a valid one refused, or an
# undocumented method not answered 405. A venv under .build/api-venv, installed only from
# the hash-locked scripts/api/requirements.txt; rebuilt when that file changes.
#
# Usage: scripts/api-tests.sh [BIN_DIR]   (default: the debug build)
#        API_MAX_EXAMPLES=N (default 30 per operation) API_SEED=N (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BIN="${1:-${SEALSTREAM_BIN_DIR:-$(swift build --show-bin-path)}}"
export TSS2_LOG="${TSS2_LOG:-all+none}"

VENV=.build/api-venv
REQUIREMENTS=scripts/api/requirements.txt
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/schemathesis" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    echo "api-tests: creating $VENV from $REQUIREMENTS"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$REQUIREMENTS"
    echo "$want" > "$VENV/.requirements.sha256"
fi
# The client the auditor CLI uses is generated from the document (docs/OPERATIONS.md §1.2).
"$VENV/bin/python" scripts/gen-api-client.py --check

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-api.XXXXXX")"
cleanup() {
    stop_host >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "api-tests: host + liquidation drill (decisions, trades, market data, event proofs to serve)"
start_host "$BIN" "$WORK/data" "$WORK/host.log" --enclave "$BIN/sealstream-enclave"
"$BIN/attestation" measure --enclave "$BIN/sealstream-enclave" --config scripts/demo/venue.json \
    --allow-mode software --policy-out "$WORK/policy.json" >/dev/null
# The feed against docs/asyncapi.yaml: connected before the drill, so it sees headers and
# updates; resynced after it (scripts/api/check_feed.py).
"$VENV/bin/python" scripts/api/check_feed.py "$HTTP_ADDR" "$WORK/feed.ready" "$WORK/feed.done" &
FEED_PID=$!
for _ in $(seq 1 200); do [[ -e "$WORK/feed.ready" ]] && break; sleep 0.05; done
[[ -e "$WORK/feed.ready" ]] || { echo "api-tests: the feed check did not connect" >&2; exit 1; }
"$BIN/sealstream-client" drill --host "$HOST_ADDR" --traders 20 --policy "$WORK/policy.json" --allow-simulated \
    >"$WORK/drill.log"
touch "$WORK/feed.done"
wait "$FEED_PID" || { echo "api-tests: the feed does not match docs/asyncapi.yaml" >&2; exit 1; }
"$VENV/bin/python" scripts/api/check_records.py "$HTTP_ADDR" docs/openapi.yaml

echo "api-tests: the served document is docs/openapi.yaml"
"$VENV/bin/python" - "http://$HTTP_ADDR/openapi.yaml" docs/openapi.yaml <<'EOF'
import sys, urllib.request
served = urllib.request.urlopen(sys.argv[1]).read()
if served != open(sys.argv[2], "rb").read():
    sys.exit("api-tests: GET /openapi.yaml differs from docs/openapi.yaml (run scripts/embed-openapi.sh)")
EOF

echo "api-tests: schemathesis against http://$HTTP_ADDR (checks: all)"
# ignored_auth and object_level_authorization concern authentication, which this
# read-only API does not have (docs/OPERATIONS.md §1).
if ! "$VENV/bin/schemathesis" --no-color --config-file scripts/api/schemathesis.toml run "http://$HTTP_ADDR/openapi.yaml" --url "http://$HTTP_ADDR" \
    --checks all --exclude-checks ignored_auth,object_level_authorization \
    --phases examples,coverage,fuzzing --max-examples "${API_MAX_EXAMPLES:-30}" --seed "${API_SEED:-1}" \
    --workers 1 --request-timeout 10 --generation-database none --report junit,ndjson --report-dir "${API_REPORT_DIR:-$WORK/report}"; then
    echo "--- host log" >&2; tail -20 "$WORK/host.log" >&2
    exit 1
fi
# Every operation was exercised and every GET that can succeed had a 2xx body checked.
"$VENV/bin/python" scripts/api/coverage.py "${API_REPORT_DIR:-$WORK/report}"/ndjson-*.ndjson
# The host must have survived and still answer.
kill -0 "$HOST_PID"
status=0
stop_host || status=$?
[[ "$status" == 0 ]] || { echo "api-tests: the host exited $status" >&2; exit 1; }
echo "api-tests: ok"
