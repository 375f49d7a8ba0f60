#!/usr/bin/env python3
"""Checks a real Prometheus server scraping a real Sealstream host (scripts/prometheus-test.sh).

Usage: prometheus_check.py PROMETHEUS_URL HOST_HTTP_URL METRICS_TXT ALERTS_YML DASHBOARD_JSON

Fails (exit 1, one line per problem) unless: every metric family in METRICS_TXT (the
host's GET /metrics) is stored by Prometheus; the values are sane after the demo scenario;
every alert rule is loaded and healthy; /healthz and /readyz answer 200 "ok"; and every
sealstream_* name in the alert rules and the dashboard is one the host exposes.
Standard library only.
"""
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PROM, HOST, METRICS_TXT, ALERTS, DASHBOARD = sys.argv[1:6]
problems = []


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def query(expr):
    _, body = get(PROM + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    answer = json.loads(body)
    if answer.get("status") != "success":
        raise RuntimeError(f"query {expr!r}: {answer}")
    return [(r["metric"], float(r["value"][1])) for r in answer["data"]["result"]]


def wait(what, predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, urllib.error.URLError, RuntimeError):
            pass
        time.sleep(0.5)
    sys.exit(f"prometheus-check: timed out waiting for {what}")


wait("Prometheus to be ready", lambda: get(PROM + "/-/ready")[0] == 200)
wait("a successful scrape of the host", lambda: [v for _, v in query('up{job="sealstream"}')] == [1.0])
# One more scrape interval so that every family of the first complete scrape is queryable.
time.sleep(1.5)

families = {}
for line in open(METRICS_TXT, encoding="utf-8"):
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        families[m.group(1)] = m.group(2)
if len(families) < 40:
    problems.append(f"only {len(families)} metric families in GET /metrics")

for name, kind in sorted(families.items()):
    series = name + "_count" if kind == "histogram" else name
    if not query(f'{series}{{job="sealstream"}}'):
        problems.append(f"{name} ({kind}): no series in Prometheus")


def one(expr):
    values = [v for _, v in query(expr)]
    if len(values) != 1:
        problems.append(f"{expr}: expected one series, got {len(values)}")
        return float("nan")
    return values[0]


def expect(expr, ok, why):
    v = one(expr)
    if not ok(v):
        problems.append(f"{expr} = {v}: expected {why}")


expect("sealstream_host_enclave_up", lambda v: v == 1, "1 (worker serving)")
expect("sealstream_host_journal_available", lambda v: v == 1, "1")
expect("sealstream_host_link_saturated", lambda v: v == 0, "0 after the scenario")
expect("sealstream_host_frames_in_total", lambda v: v > 20, "> 20 frames from the scenario")
expect("sealstream_host_frames_out_total", lambda v: v > 20, "> 20 replies")
expect("sealstream_host_receipt_latency_seconds_count", lambda v: v > 20, "> 20 receipts timed")
expect("sealstream_host_receipt_latency_seconds_sum / sealstream_host_receipt_latency_seconds_count",
       lambda v: 0 < v < 5, "a mean latency in (0, 5) s")
expect("histogram_quantile(0.99, sealstream_host_receipt_latency_seconds_bucket)", lambda v: 0 < v <= 5,
       "a p99 in (0, 5] s")
expect("sealstream_host_batches_published_total", lambda v: v >= 1, ">= 1 signed batch")
expect("sealstream_host_batch_close_seconds_count", lambda v: v >= 1, ">= 1 batch closed")
expect("sealstream_host_batch_close_seconds_count <= bool sealstream_host_batches_published_total",
       lambda v: v == 1, "no more closes timed than batches published")
expect("histogram_quantile(1, sealstream_host_batch_close_seconds_bucket)", lambda v: 0 <= v <= 10,
       "batch close times within 10 s (batchMaxNanos is 100 ms)")
expect("sealstream_host_enclave_link_queue_bytes_count - sealstream_host_enclave_batches_out_total",
       lambda v: v == 0, "one queue-depth sample per batch written to the enclave")
expect("sealstream_host_journal_fsync_seconds_count", lambda v: v >= 1, ">= 1 journal sync")
expect("sealstream_host_journal_fsync_seconds_sum / sealstream_host_journal_fsync_seconds_count",
       lambda v: 0 <= v < 1, "a mean fsync under 1 s")
expect("abs(time() - sealstream_host_last_batch_published_timestamp_seconds)", lambda v: v < 600,
       "the last batch published within 10 minutes")
expect("abs(time() - sealstream_host_last_batch_enclave_timestamp_seconds)", lambda v: v < 600,
       "the last batch's enclave time within 10 minutes of now")
expect("abs(time() - sealstream_host_last_oracle_price_enclave_timestamp_seconds)", lambda v: v < 600,
       "the scenario's last oracle price within 10 minutes of now")
expect("sealstream_host_unbatched_events_age_seconds", lambda v: 0 <= v < 10, "no event waiting 10 s for its batch")
expect("sealstream_host_halted_markets", lambda v: v >= 0, ">= 0")
expect("sealstream_host_enclave_starts_total", lambda v: v == 1, "1 (no restart during the scenario)")
expect("sealstream_host_enclave_crashes_total", lambda v: v == 0, "0")

_, body = get(PROM + "/api/v1/rules")
rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
expected_rules = len(re.findall(r"^\s*- alert:", open(ALERTS, encoding="utf-8").read(), re.M))
if len(rules) != expected_rules:
    problems.append(f"{len(rules)} rules loaded, {expected_rules} in {ALERTS}")
for r in rules:
    if r.get("health") != "ok":
        problems.append(f"rule {r['name']}: health {r.get('health')} {r.get('lastError', '')}")

for path in ("/healthz", "/readyz"):
    try:
        status, body = get(HOST + path)
        report = json.loads(body)
        if status != 200 or report.get("status") != "ok":
            problems.append(f"{path}: {status} {report}")
    except urllib.error.HTTPError as e:
        problems.append(f"{path}: {e.code} {e.read().decode(errors='replace')}")

histograms = {n for n, k in families.items() if k == "histogram"}
for source in (ALERTS, DASHBOARD):
    text = open(source, encoding="utf-8").read()
    if source.endswith(".json"):
        json.loads(text)  # the dashboard is valid JSON
    for name in sorted(set(re.findall(r"\bsealstream_[a-z0-9_]+", text))):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in families and not (base in histograms and base != name):
            problems.append(f"{source}: {name} is not a metric the host exposes")

for p in problems:
    print("prometheus-check: " + p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"prometheus-check: {len(families)} families stored, {len(rules)} rules healthy, health and readiness ok")
