"""`verify-outputs` from docs/COMMITMENTS.md §5.2 alone: one verdict per named check over
one epoch's files, the first failure's reason in `error` (and `line`, `path` for the
parse checks). The Swift `OutputVerifier` must agree on every case of vectors/outputs.json.
"""

from __future__ import annotations

from typing import Any

from .. import eip712, merkle
from .strict import (
    EVENT_LEAF_BYTES,
    MESSAGE_TYPES,
    RecordError,
    read_decision,
    read_header,
    read_lines,
    read_market_data,
)

CHECKS = [
    "headers.parse", "headers.venue", "headers.digest", "headers.signature", "headers.signer",
    "chain.index", "chain.previous", "chain.sequence", "chain.time", "chain.accounts",
    "events.consistency", "events.log", "decisions.parse", "decisions.batch", "decisions.inclusion",
    "marketdata.parse", "marketdata.batch", "marketdata.root", "marketdata.options",
]  # fmt: skip

EMPTY_ROOT = merkle.EMPTY_ROOT


class _Verdicts:
    def __init__(self) -> None:
        self.v: dict[str, dict[str, Any]] = {c: {"pass": True} for c in CHECKS}

    def check(self, name: str, ok: bool, error: str | None = None, **where: Any) -> None:
        if not ok and self.v[name]["pass"]:
            self.v[name] = {"pass": False, "error": error, **where}

    def record_error(self, name: str, line: int, e: RecordError) -> None:
        self.check(name, False, e.name, line=line, path=e.path)


def _b(h: str) -> bytes:
    return bytes.fromhex(h[2:])


def _header_values(r: dict) -> dict:
    return eip712.header_values(r)


def verify_outputs(
    batches: bytes,
    decisions: bytes,
    events: bytes | None,
    signer: str,
    dom: dict,
    venue_id: int | None = None,
    market_data: bytes | None = None,
) -> dict[str, dict[str, Any]]:
    """{check: {"pass": bool, "error"?, "line"?, "path"?}} for every check of §5.2.

    `dom` is the EIP-712 domain: a mapping with `chainId` and `verifyingContract` (0x-hex,
    any case). `venue_id` None means the first header's."""
    v = _Verdicts()
    separator = eip712.domain_separator(dom["chainId"], dom["verifyingContract"])
    signer = signer.lower()
    headers: list[dict] = []
    for line, r in read_lines(batches, read_header):
        if isinstance(r, RecordError):
            v.record_error("headers.parse", line, r)
            continue
        position, previous = len(headers), headers[-1] if headers else None
        headers.append(r)
        values = _header_values(r)
        expected_venue = venue_id if venue_id is not None else (previous or r)["venueId"]
        v.check("headers.venue", r["venueId"] == expected_venue)
        struct_hash = eip712.header_hash(values)
        digest = eip712.digest(separator, struct_hash)
        v.check(
            "headers.digest",
            r["headerHash"] == "0x" + struct_hash.hex() and r["digest"] == "0x" + digest.hex(),
        )
        try:
            recovered = eip712.recover_signer(digest, r["signature"])
        except ValueError:  # r or s not hex (the strict reader refuses that already)
            recovered = None
        v.check("headers.signature", recovered == signer)
        v.check("headers.signer", r["signer"] == signer)
        v.check("chain.index", r["batchIndex"] == position)
        v.check(
            "chain.previous",
            r["previousHeaderHash"] == (previous["headerHashRecomputed"] if previous else "0x" + "00" * 32),
        )
        r["headerHashRecomputed"] = "0x" + struct_hash.hex()
        first = (previous["lastSequence"] if previous else 0) + 1
        v.check("chain.sequence", r["firstSequence"] == first and r["firstSequence"] <= r["lastSequence"])
        if previous:
            v.check("chain.time", r["enclaveTime"] >= previous["enclaveTime"])
        v.check("chain.accounts", r["accountCount"] >= max(1, previous["accountCount"] if previous else 1))
        c = r["eventsConsistency"]
        proof = [_b(p) for p in c["proof"]]
        if previous:
            ok = c["fromSize"] == previous["lastSequence"] and merkle.verify_consistency(
                previous["lastSequence"], r["lastSequence"], _b(previous["eventsRoot"]), _b(r["eventsRoot"]), proof
            )
        else:
            ok = (c["fromSize"] == 0 and not proof) or r["batchIndex"] != 0
        v.check("events.consistency", ok)

    if events is not None:
        _check_events(events, headers, v)

    seen: dict[int, list[int]] = {}
    for line, d in read_lines(decisions, read_decision):
        if isinstance(d, RecordError):
            v.record_error("decisions.parse", line, d)
            continue
        b = d["batchIndex"]
        if not (b < len(headers) and headers[b]["batchIndex"] == b):
            v.check("decisions.batch", False)
            continue
        h = headers[b]
        seen.setdefault(b, []).append(d["leafIndex"])
        v.check("decisions.batch", d["venueId"] == h["venueId"])
        v.check("decisions.batch", h["firstSequence"] <= d["sequence"] <= max(h["firstSequence"], h["lastSequence"]))
        struct_hash = eip712.decision_hash(eip712.decision_values(d))
        v.check("decisions.inclusion", d["structHash"] == "0x" + struct_hash.hex())
        v.check(
            "decisions.inclusion",
            merkle.verify_inclusion(
                merkle.leaf_hash(struct_hash), d["leafIndex"], h["decisionCount"],
                [_b(p) for p in d["proof"]], _b(h["decisionsRoot"]),
            ),
        )  # fmt: skip
    for h in headers:
        v.check("decisions.batch", seen.get(h["batchIndex"], []) == list(range(h["decisionCount"])))
        if h["decisionCount"] == 0:
            v.check("decisions.inclusion", _b(h["decisionsRoot"]) == EMPTY_ROOT)
    if market_data is not None:
        _check_market_data(market_data, headers, v)
    return v.v


def _check_market_data(data: bytes, headers: list[dict], v: _Verdicts) -> None:
    """docs/MARKETDATA.md §4: `marketdata.parse`, `marketdata.batch`, `marketdata.root`."""
    raw = data.split(b"\n")
    per_batch: dict[int, list[bytes]] = {}
    last_batch = None
    next_sequence: dict[int, int] = {}
    read: list[dict] = []  # the lines that read and name an existing batch
    for line, r in read_lines(data, read_market_data):
        if isinstance(r, RecordError):
            v.record_error("marketdata.parse", line, r)
            continue
        b = r["batchIndex"]
        if not (b < len(headers) and headers[b]["batchIndex"] == b):
            v.check("marketdata.batch", False)
            continue
        h = headers[b]
        read.append(r)
        v.check("marketdata.batch", last_batch is None or b >= last_batch)
        last_batch = b
        lines = per_batch.setdefault(b, [])
        v.check("marketdata.batch", r["leafIndex"] == len(lines))
        lines.append(raw[line - 1])
        v.check("marketdata.batch", r["venueId"] == h["venueId"])
        v.check("marketdata.batch", r["marketSequence"] == next_sequence.get(r["market"], 1))
        next_sequence[r["market"]] = r["marketSequence"] + 1
        v.check(
            "marketdata.batch",
            r["lastSequence"] <= h["lastSequence"] and r["stateTime"] <= h["enclaveTime"]
            and r["firstSequence"] <= r["lastSequence"],
        )  # fmt: skip
        v.check("marketdata.batch", all(r["firstSequence"] <= t["sequence"] <= r["lastSequence"] for t in r["trades"]))
        v.check("marketdata.batch", r["policy"] != "trades-only" or (not r["asks"] and not r["bids"]))
        settlement = r.get("option", {}).get("settlement")
        if settlement is not None:
            v.check(
                "marketdata.batch",
                r["firstSequence"] <= settlement["sequence"] <= r["lastSequence"]
                and settlement["enclaveTime"] <= r["stateTime"],
            )
    for h in headers:
        tree = merkle.MerkleTree([merkle.leaf_hash(x) for x in per_batch.get(h["batchIndex"], [])])
        v.check("marketdata.root", tree.root() == _b(h["marketDataRoot"]))
    _check_option_lines(read, v)


def _check_option_lines(lines: list[dict], v: _Verdicts) -> None:
    """docs/MARKETDATA.md §4 `marketdata.options`: every line with an `option` member, in
    file order, against its market's first line's terms, the order of `settled` and
    `settlement`, and the underlying's line of the same batch describing the same state."""
    # `delayed` can release several held states of one market in one batch: the
    # underlying's line is the one describing the same state.
    def key(r: dict, market: int) -> tuple:
        return r["batchIndex"], market, r["firstSequence"], r["lastSequence"], r["stateTime"]

    by_state = {key(r, r["market"]): r for r in lines if r.get("option") is None}
    terms: dict[int, dict] = {}
    settled: set[int] = set()
    for r in lines:
        o = r.get("option")
        if o is None:
            continue
        first = terms.setdefault(r["market"], o)
        v.check("marketdata.options", all(o[k] == first[k] for k in ("contractSize", "expiry", "kind", "strike", "underlying")))
        was = r["market"] in settled
        ok = (o["settled"] == was) if o.get("settlement") is None else (o["settled"] and not was)
        v.check("marketdata.options", ok)
        if o["settled"]:
            settled.add(r["market"])
        u = by_state.get(key(r, o["underlying"]))
        v.check("marketdata.options", u is not None and u["markPrice"] == o["underlyingMark"])


def _check_events(data: bytes, headers: list[dict], v: _Verdicts) -> None:
    """Every record's form, then every header's eventsRoot (§5.2 `events.log`)."""
    if len(data) % EVENT_LEAF_BYTES:
        v.check("events.log", False, "length")
        return
    records = [data[i : i + EVENT_LEAF_BYTES] for i in range(0, len(data), EVENT_LEAF_BYTES)]
    last_time = 0
    for i, rec in enumerate(records):
        sequence, time, kind = int.from_bytes(rec[:8], "big"), int.from_bytes(rec[8:16], "big"), rec[16]
        for ok, reason in ((sequence == i + 1, "sequence"), (time >= last_time, "time"), (kind in MESSAGE_TYPES, "type")):
            if not ok:
                v.check("events.log", False, reason)
                return
        last_time = time
    tree = merkle.MerkleTree([merkle.leaf_hash(r) for r in records])
    for h in headers:
        if h["lastSequence"] > len(records):
            v.check("events.log", False, "short")
            return
        v.check("events.log", tree.root(h["lastSequence"]) == _b(h["eventsRoot"]), "root")


def verify_directory(
    data_dir: str,
    signer: str,
    chain_id: int,
    verifying_contract: str,
    venue_id: int | None = None,
    epoch: str | None = None,
    public: bool = False,
    config: dict | None = None,
) -> dict[str, Any]:
    """`attestation verify-outputs` over `DATA/outputs/` (or `DATA/outputs/epochs/ID/`):
    `{"ok", "signer", "directory", "checks": [{"check", "pass", "error"?, "line"?, "path"?}]}`.
    Raises FileNotFoundError when `batches.jsonl` or `decisions.jsonl` is missing (a wrong
    directory, not an empty epoch). With `public`, the checks of §5.3 follow (public inputs,
    marks, decision execution, funding), `config` being the venue configuration (a parsed
    JSON object; None: the checks that need it are not made)."""
    from pathlib import Path

    base = Path(data_dir) / "outputs"
    if epoch is not None:
        base = base / "epochs" / epoch
    files = {"batches.jsonl": (base / "batches.jsonl").read_bytes(),
             "decisions.jsonl": (base / "decisions.jsonl").read_bytes()}  # fmt: skip
    for name in ("events.log", "marketdata.jsonl", "inputs.jsonl", "funding.jsonl"):
        if (base / name).exists():
            files[name] = (base / name).read_bytes()
    return verify_files(files, str(base), signer, chain_id, verifying_contract, venue_id, public, config)


def verify_url(
    url: str,
    signer: str,
    chain_id: int,
    verifying_contract: str,
    venue_id: int | None = None,
    public: bool = False,
    config: dict | None = None,
) -> dict[str, Any]:
    """`attestation verify-outputs --url`: the current epoch read through the host's HTTP
    API (COMMITMENTS.md §5), then the same checks as `verify_directory`. Raises
    `http.HTTPError` on an answer other than 200 and ValueError on a body that is not a
    record array."""
    from ..http import HTTPClient, fetch_outputs

    files = fetch_outputs(HTTPClient(url))
    return verify_files(files, url, signer, chain_id, verifying_contract, venue_id, public, config)


def verify_files(
    files: dict[str, bytes],
    where: str,
    signer: str,
    chain_id: int,
    verifying_contract: str,
    venue_id: int | None = None,
    public: bool = False,
    config: dict | None = None,
) -> dict[str, Any]:
    """The checks over the outputs' bytes by file name (`batches.jsonl` and
    `decisions.jsonl` required; an absent other file is a file the directory lacks)."""
    batches, decisions = files["batches.jsonl"], files["decisions.jsonl"]
    events = files.get("events.log")
    dom = {"chainId": chain_id, "verifyingContract": verifying_contract}
    verdicts = verify_outputs(batches, decisions, events, signer, dom, venue_id, files.get("marketdata.jsonl"))
    checks = [{"check": name, **verdicts[name]} for name in CHECKS]
    if public:
        from .public import PUBLIC_CHECKS, verify_public

        more = verify_public(batches, decisions, events, files.get("inputs.jsonl"), config, files.get("funding.jsonl"),
                             signer, dom, venue_id, files.get("marketdata.jsonl"))  # fmt: skip
        checks += [{"check": name, **more[name]} for name in PUBLIC_CHECKS]
    return {
        "ok": all(c["pass"] for c in checks),
        "signer": signer.lower(),
        "directory": where,
        "checks": checks,
    }
