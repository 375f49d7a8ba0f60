"""Checks a live host's market data feed against docs/asyncapi.yaml (scripts/api-tests.sh).

Connects to `GET /v1/feed` before the drill, takes every message the drill's batches
produce, then sends the resync request and takes the snapshots it is answered with. Every
message must validate against exactly one of the document's server messages (their
payload schemas, with the `openapi.yaml#…` references resolved in docs/openapi.yaml);
every `line` against `MarketDataLine`; and the order docs/MARKETDATA.md §6 promises must
hold (each update after a header of its batch, `marketSequence` +1 per market, the
resync answered with snapshots). Also checks the document's own references resolve and
that a client text other than the resync request is refused with close code 1008.

Usage: python check_feed.py HTTP_ADDR READY_FILE DONE_FILE
  writes READY_FILE once connected; after DONE_FILE appears (the drill ended), resyncs."""
import json
import os
import sys
import time

import jsonschema_rs
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python", "src"))
from sealstream.marketdata import Feed  # noqa: E402  (the SDK's WebSocket client)

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")


def resolve(node, asyncapi: dict, openapi: dict):
    """The document with every `$ref` inlined: `#/…` in asyncapi.yaml, `openapi.yaml#/…` in openapi.yaml."""
    if isinstance(node, list):
        return [resolve(x, asyncapi, openapi) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        doc, _, pointer = ref.partition("#")
        target = {"": asyncapi, "openapi.yaml": openapi}.get(doc)
        if target is None:
            raise SystemExit(f"asyncapi.yaml: unresolvable reference {ref}")
        for part in pointer.strip("/").split("/"):
            if part not in target:
                raise SystemExit(f"asyncapi.yaml: unresolvable reference {ref}")
            target = target[part]
        # References inside openapi.yaml stay within it.
        return openapi_refs(target, openapi) if doc else resolve(target, asyncapi, openapi)
    return {k: resolve(v, asyncapi, openapi) for k, v in node.items()}


def openapi_refs(node, openapi: dict):
    """Inlines openapi.yaml's own `#/…` references (for schemas taken from it)."""
    if isinstance(node, list):
        return [openapi_refs(x, openapi) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and node["$ref"].startswith("#/"):
        target = openapi
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        return openapi_refs(target, openapi)
    return {k: openapi_refs(v, openapi) for k, v in node.items()}


def main(address: str, ready: str, done: str) -> int:
    asyncapi = yaml.safe_load(open(os.path.join(DOCS, "asyncapi.yaml"), encoding="utf-8"))
    openapi = yaml.safe_load(open(os.path.join(DOCS, "openapi.yaml"), encoding="utf-8"))
    assert asyncapi["asyncapi"] == "3.0.0", asyncapi["asyncapi"]
    assert asyncapi["channels"]["feed"]["address"] == "/v1/feed"
    resolved = resolve(asyncapi, asyncapi, openapi)
    messages = resolved["channels"]["feed"]["messages"]
    receive = {m["name"] for m in resolved["operations"]["receiveMarketData"]["messages"]}
    send = {m["name"] for m in resolved["operations"]["requestResync"]["messages"]}
    assert receive == {"snapshot", "header", "update"} and send == {"resync"}, (receive, send)
    validators = {name: jsonschema_rs.Draft4Validator(messages[name]["payload"]) for name in receive}
    resync = jsonschema_rs.Draft4Validator(messages["resync"]["payload"])
    assert resync.is_valid({"op": "resync"}) and not resync.is_valid({"op": "resync", "x": 1})
    line = jsonschema_rs.Draft4Validator(openapi_refs(openapi["components"]["schemas"]["MarketDataLine"], openapi))

    feed = Feed(address, timeout=120)
    feed.sock.settimeout(1.0)
    open(ready, "w").close()
    seen = {"snapshot": 0, "header": 0, "update": 0}
    state = {"batch": None, "sequence": {}}

    def take(raw: bytes) -> str:
        message = json.loads(raw)
        kind = message.get("type")
        matches = [name for name, v in validators.items() if v.is_valid(message)]
        if matches != [kind]:
            errors = [str(e) for e in validators.get(kind, validators["update"]).iter_errors(message)][:3]
            raise SystemExit(f"check_feed: a {kind!r} message matches {matches}: {errors}")
        seen[kind] += 1
        if kind == "header":
            state["batch"] = message["header"]["batchIndex"]
            return kind
        line.validate(json.loads(message["line"]))
        market, sequence = message["market"], state["sequence"]
        if kind == "update":
            assert message["batchIndex"] == state["batch"], ("update outside its batch", message, state["batch"])
            expected = sequence.get(market)
            assert expected is None or message["marketSequence"] == expected + 1, (market, expected, message)
        sequence[market] = message["marketSequence"]
        return kind

    deadline = time.time() + 600
    while not os.path.exists(done):
        assert time.time() < deadline, "the drill did not end"
        try:
            take(feed.messages())
        except TimeoutError:
            pass
    # Drain what the last batches sent, then ask for snapshots of every market seen.
    try:
        while True:
            take(feed.messages())
    except TimeoutError:
        pass
    markets = set(state["sequence"])
    feed.sock.settimeout(30.0)
    feed.resync()
    snapshotted: set[int] = set()
    while not markets <= snapshotted:
        raw = feed.messages()
        if take(raw) == "snapshot":
            snapshotted.add(json.loads(raw)["market"])
    if seen["header"] == 0 or seen["update"] == 0 or not markets:
        print(f"check_feed: incomplete: {seen}", file=sys.stderr)
        return 1
    feed.close()

    # Any client text but the resync request is refused: close frame 1008.
    other = Feed(address, timeout=30)
    other._send(1, b'{"op": "resync"}')
    while True:
        opcode, payload = other._frame()
        if opcode == 8:
            assert payload[:2] == (1008).to_bytes(2, "big"), payload
            break
    print(f"check_feed: ok: {seen['snapshot']} snapshots ({len(snapshotted)} markets after the resync), "
          f"{seen['header']} headers, {seen['update']} updates, each valid against docs/asyncapi.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
