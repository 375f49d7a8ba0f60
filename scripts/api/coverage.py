"""Reads Schemathesis's ndjson report (scripts/api-tests.sh) and prints, per operation, how
many answers of each status it checked. Fails unless every GET operation that can succeed
on the demo data had at least one 2xx answer checked against its schema, so a run where
everything was 404 or 400 cannot pass for "no schema violation".

Usage: python coverage.py REPORT.ndjson"""
import collections
import json
import re
import sys

# Operations whose 2xx needs something Schemathesis cannot do or the demo does not make.
NO_2XX = {"GET /v1/feed", "HEAD /v1/feed"}


def main(path: str) -> int:
    seen: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in open(path, encoding="utf-8"):
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        label = finished["recorder"]["label"]
        for interaction in finished["recorder"].get("interactions", {}).values():
            response = interaction.get("response") or {}
            if "status_code" in response:
                seen[label][response["status_code"]] += 1
    for label in sorted(seen):
        print(f"api-tests: {label:40} " + " ".join(f"{s}×{n}" for s, n in sorted(seen[label].items())))
    missing = [label for label in sorted(seen) if label.startswith("GET ") and label not in NO_2XX
               and not any(200 <= s < 300 for s in seen[label])]
    if missing:
        print("api-tests: no 2xx answer was checked for " + ", ".join(missing), file=sys.stderr)
        return 1
    # 31 operations; Schemathesis leaves out the one serving the schema it loaded
    # (GET /openapi.yaml), which api-tests.sh compares with docs/openapi.yaml itself.
    if len(seen) < 30:
        print(f"api-tests: only {len(seen)} operations were exercised", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
