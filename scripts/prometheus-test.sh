#!/usr/bin/env bash
# The operator's side of the host (docs/OPERATIONS.md), end to end with Debian's real
# Prometheus: promtool checks deploy/prometheus (config, rules, the rules' unit tests);
# systemd-analyze verifies deploy/systemd/sealstream-host.service;
# a real host runs the demo scenario; `promtool check metrics` lints its GET /metrics;
# /healthz and /readyz answer 200; a Prometheus server on a free loopback port scrapes it
# with deploy/prometheus/alerts.yml loaded, and its HTTP API must return every metric
# family the host exposes, with sane values, and every rule healthy. Every metric name
# the alerts and the Grafana dashboard use must be one the host exposes. Then /readyz must
# fail "evidence" once DATA/enclave.json is gone, and --metrics-textfile-group-readable
# must have left DATA 0710 and metrics.prom 0640.
#
# Usage: scripts/prometheus-test.sh [BIN_DIR]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BIN="${1:-${SEALSTREAM_BIN_DIR:-$(swift build --show-bin-path)}}"
export TSS2_LOG="${TSS2_LOG:-all+none}"
for tool in prometheus promtool; do
    command -v "$tool" >/dev/null || { echo "prometheus-test: $tool missing: apt-get install prometheus (scripts/bootstrap.sh)" >&2; exit 1; }
done

echo "prometheus-test: promtool check config / check rules / test rules (deploy/prometheus)"
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && promtool test rules alerts_test.yml)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-prom.XXXXXX")"
PROM_PID=""

# The systemd unit: `systemd-analyze verify` (with ExecStart pointing at this build, since
# verify wants the executables to exist) and an exposure score no worse than 3.0.
if command -v systemd-analyze >/dev/null; then
    echo "prometheus-test: systemd-analyze verify / security deploy/systemd/sealstream-host.service"
    sed "s|/usr/local/bin/|$BIN/|g" deploy/systemd/sealstream-host.service >"$WORK/sealstream-host.service"
    systemd-analyze verify "$WORK/sealstream-host.service"
    exposure="$(systemd-analyze security --offline=true "$WORK/sealstream-host.service" 2>/dev/null \
        | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
    echo "prometheus-test: unit exposure $exposure"
    python3 -c 'import sys; sys.exit(0 if 0 < float(sys.argv[1]) <= 3.0 else 1)' "$exposure" \
        || { echo "prometheus-test: the unit's exposure level $exposure is above 3.0" >&2; exit 1; }
else
    echo "prometheus-test: systemd-analyze not installed; the unit is not verified"
fi
cleanup() {
    [[ -n "$PROM_PID" ]] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
    stop_host >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "prometheus-test: host + demo scenario"
start_host "$BIN" "$WORK/data" "$WORK/host.log" --enclave "$BIN/sealstream-enclave" --metrics-textfile-group-readable
"$BIN/attestation" measure --enclave "$BIN/sealstream-enclave" --config scripts/demo/venue.json \
    --allow-mode software --policy-out "$WORK/policy.json" >/dev/null
"$BIN/sealstream-client" scenario scripts/demo/scenario.txt --host "$HOST_ADDR" --venue scripts/demo/venue.json \
    --policy "$WORK/policy.json" --allow-simulated >"$WORK/scenario.log"

echo "prometheus-test: promtool check metrics (GET /metrics)"
python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
    "http://$HTTP_ADDR/metrics" >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt"

PROM_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
sed -e "s|127.0.0.1:7401|$HTTP_ADDR|" -e 's|scrape_interval: 15s|scrape_interval: 1s|' \
    -e 's|evaluation_interval: 15s|evaluation_interval: 1s|' -e "s|  - alerts.yml|  - $(pwd)/deploy/prometheus/alerts.yml|" \
    deploy/prometheus/prometheus.yml >"$WORK/prometheus.yml"
promtool check config "$WORK/prometheus.yml" >/dev/null
echo "prometheus-test: prometheus on 127.0.0.1:$PROM_PORT scraping $HTTP_ADDR"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!

if ! python3 scripts/prometheus_check.py "http://127.0.0.1:$PROM_PORT" "http://$HTTP_ADDR" "$WORK/metrics.txt" \
    deploy/prometheus/alerts.yml deploy/grafana/sealstream.json; then
    echo "--- prometheus log" >&2; tail -20 "$WORK/prometheus.log" >&2
    echo "--- host log" >&2; tail -20 "$WORK/host.log" >&2
    exit 1
fi
echo "prometheus-test: /readyz without the evidence on disk, then the textfile's modes"
rm "$WORK/data/enclave.json"
python3 - "http://$HTTP_ADDR" <<'PY'
import json, sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/readyz")
    sys.exit("prometheus-test: /readyz answered 200 without DATA/enclave.json")
except urllib.error.HTTPError as e:
    report = json.loads(e.read())
    if e.code != 503 or report["failed"] != ["evidence"] or report["status"] != "failing":
        sys.exit(f"prometheus-test: /readyz {e.code} {report}: expected 503 failing evidence")
if json.load(urllib.request.urlopen(sys.argv[1] + "/healthz"))["status"] != "ok":
    sys.exit("prometheus-test: /healthz is not ok")
PY
stop_host
modes="$(stat -c %a "$WORK/data") $(stat -c %a "$WORK/data/metrics.prom")"
[[ "$modes" == "710 640" ]] || { echo "prometheus-test: --metrics-textfile-group-readable gave modes $modes, expected 710 640" >&2; exit 1; }
echo "prometheus-test: ok"
