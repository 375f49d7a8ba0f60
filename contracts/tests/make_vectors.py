"""Writes vectors/outputs.json: the shared table of docs/COMMITMENTS.md §5 cases that the
Swift `OutputVerifier` (Tests/CommitmentsTests/OutputVectorTests.swift) and the Python
reference (test_vectors.py) both run. Epochs are built and signed by reference.py with
its sample key; each case edits one epoch's files and names every check that must fail
(all others must pass) and, for the parse checks and events.log, the first failure.

    .venv/bin/python contracts/tests/make_vectors.py     # rewrite the committed file
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import reference as ref

OUT = Path(__file__).parent / "vectors" / "outputs.json"
CHAIN_ID, CONTRACT, VENUE = ref.ETH_TESTER_CHAIN_ID, ref.ETH_TESTER_CONTRACT, ref.SAMPLE_VENUE_ID
OTHER_SIGNER = "0x" + "11" * 20


def market_lines(batch: int, first: int, last: int, time: int, sequence: int, spec: dict) -> list[bytes]:
    """docs/MARKETDATA.md §2 lines of one batch: one per market (1 and 2), keys sorted, as
    the enclave writes them; `spec` may make a record the enclave never writes."""
    out = []
    for leaf, market in enumerate((1, 2)):
        halted = market == 2
        record = {
            # `tradesOnly` labels the record trades-only but keeps its depth: what the enclave never writes.
            "asks": [[60_010_000_000, 1_000_000]],
            "batchIndex": batch, "bids": [[59_990_000_000, 2_000_000]],
            "firstSequence": first, "fundingRateBps": 0, "halted": halted, "lastSequence": last, "leafIndex": leaf,
            "markPrice": 0 if halted else 60_000_000_000, "market": market, "marketSequence": sequence,
            "nextFundingTime": time + 3_600_000_000_000, "openInterest": 3_000_000,
            "oracle": [] if halted else [{"confidence": 0, "price": 60_000_000_000, "publishTime": time, "publisher": 0}],
            "policy": "trades-only" if spec.get("tradesOnly") else "lit",
            "priceInvalidity": 1 if halted else 0, "stateTime": time,
            "trades": [] if halted else [{"aggressor": "buy", "enclaveTime": time, "price": 60_010_000_000,
                                          "sequence": last, "size": 1_000_000}],
            "venueId": VENUE,
        }  # fmt: skip
        if spec.get("haltedMismatch") and market == 1:
            record["halted"] = True
        out.append(json.dumps(record, separators=(",", ":"), sort_keys=True).encode())
    return out


def close(ep: ref.Epoch, leaves, decisions, time, accounts, halted, decisions_root=None, market=()) -> None:
    """reference.Epoch.close_batch without its sorting of haltedMarkets, and with an
    optional forged decisionsRoot: records the enclave never writes, signed all the same."""
    old_size = len(ep.events.leaves)
    for leaf in leaves:
        ep.events.append(leaf)
    tree = ref.MerkleTree([ref.leaf_hash(ref.decision_hash(d)) for d in decisions])
    previous = ep.batches[-1]["headerHash"] if ep.batches else "0x" + "00" * 32
    header = {
        "venueId": VENUE, "batchIndex": len(ep.batches), "previousHeaderHash": bytes.fromhex(previous[2:]),
        "firstSequence": old_size + 1, "lastSequence": len(ep.events.leaves), "enclaveTime": time,
        "eventsRoot": ep.events.root(), "stateRoot": ref.sha256(bytes([len(ep.batches)])),
        "accountCount": accounts, "decisionsRoot": decisions_root or tree.root(),
        "decisionCount": len(decisions),
        "marketDataRoot": ref.MerkleTree([ref.leaf_hash(line) for line in market]).root(),
        "haltedMarkets": list(halted),
    }  # fmt: skip
    record = {k: "0x" + v.hex() if isinstance(v, bytes) else v for k, v in header.items()}
    record.update(
        headerHash="0x" + ref.header_hash(header, ep.domain).hex(),
        digest="0x" + ref.header_digest(header, ep.domain).hex(),
        signer=ep.signer.lower(),
        signature=ref.sign_header(header, ep.domain, ep.key),
        eventsConsistency={
            "fromSize": old_size,
            "proof": ["0x" + p.hex() for p in ep.events.consistency_proof(old_size)],
        },
    )
    ep.batches.append(record)
    for j, d in enumerate(decisions):
        ep.decisions.append(ref.decision_record(d, header["batchIndex"], j, tree))


def epoch(specs: list[dict], seed: int = 11) -> dict:
    """{"batches", "decisions", "events", "marketdata"}: the JSON-lines texts and events.log in hex."""
    rng = random.Random(seed)
    ep = ref.Epoch(ref.SAMPLE_KEY, CHAIN_ID, CONTRACT, VENUE)
    log = b""
    market = b""
    time = 1_764_170_000_000_000_000
    for spec in specs:
        first = len(ep.events.leaves) + 1
        leaves, decisions = [], []
        for k in range(spec["events"]):
            time += rng.randint(1_000, 2_000_000)
            kind = spec.get("types", {}).get(k, (0x05, 0x04, 0x03)[k % 3])
            leaves.append(ref.event_leaf(first + k, time, kind, rng.randbytes(40)))
            if len(decisions) < spec.get("decisions", 0):
                decisions.append(ref.random_decision(rng, VENUE, first + k, time))
        for j, sequence in spec.get("decisionSequence", {}).items():
            decisions[j]["sequence"] = sequence
        lines = market_lines(len(ep.batches), first, first + spec["events"] - 1, time, len(ep.batches) + 1, spec)
        close(ep, leaves, decisions, time, spec.get("accounts", 3), spec.get("halted", []), spec.get("decisionsRoot"), lines)
        log += b"".join(leaves)
        market += b"".join(line + b"\n" for line in lines)

    def text(records):
        return "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in records)

    return {"batches": text(ep.batches), "decisions": text(ep.decisions), "events": log.hex(),
            "marketdata": market.decode()}


BASE = [
    {"events": 3, "accounts": 2},
    {"events": 6, "decisions": 2, "halted": [2, 9]},
    {"events": 4, "decisions": 1},
]


def lines(t: str) -> list[str]:
    return t.splitlines(keepends=True)


def build() -> dict:
    epochs = {
        "base": epoch(BASE),
        "haltedUnsorted": epoch(BASE[:2] + [{"events": 4, "decisions": 1, "halted": [9, 2]}]),
        "haltedRepeated": epoch(BASE[:2] + [{"events": 4, "decisions": 1, "halted": [4, 4]}]),
        "unknownEventType": epoch(BASE[:1] + [{"events": 6, "decisions": 2, "types": {4: 0x06}}] + BASE[2:]),
        "decisionOutsideBatch": epoch(BASE[:1] + [{"events": 6, "decisions": 2, "decisionSequence": {1: 10}}] + BASE[2:]),
        "accountsDecrease": epoch([{"events": 3, "accounts": 4}] + BASE[1:]),
        "accountsZero": epoch([{"events": 3, "accounts": 0}] + BASE[1:]),
        "emptyDecisionsRoot": epoch([{"events": 3, "decisionsRoot": ref.sha256(b"not empty")}] + BASE[1:]),
        "tradesOnlyDepth": epoch(BASE[:1] + [{"events": 6, "decisions": 2, "tradesOnly": True}] + BASE[2:]),
        "haltedMismatch": epoch(BASE[:2] + [{"events": 4, "decisions": 1, "haltedMismatch": True}]),
    }
    md = lines(epochs["base"]["marketdata"])
    b, d = lines(epochs["base"]["batches"]), lines(epochs["base"]["decisions"])
    h3 = json.loads(b[2])
    d1, d3 = json.loads(d[0]), json.loads(d[2])

    def op(file, line, old, new):
        source = {"batches": b, "decisions": d, "marketdata": md}[file]
        assert old in source[line - 1], (file, line, old)
        return {"file": file, "line": line, "old": old, "new": new}

    def parse_fail(check, line, error, path="$", extra=None):
        # A syntax error's path is where the reader stopped: not compared.
        fail = {check: {"error": error, "line": line} | ({} if error == "syntax" else {"path": path})}
        fail[{"headers.parse": "decisions.batch", "decisions.parse": "decisions.batch"}[check]] = {}
        return fail | (extra or {})

    size = f'"size":{d1["size"]},'
    account = f'"account":"{d3["account"]}"'
    cases = [
        ("base epoch passes", "base", [], {}),
        ("empty epoch passes (worker died before its first batch)", "empty", [], {}),
        # §5.1: JSON.
        # The signed value first: a first-value reader (Foundation) saw a valid record.
        ("duplicate size key", "base", [op("decisions", 1, size, size + '"size":1,')],
         parse_fail("decisions.parse", 1, "duplicateKey", "$.size")),
        ("duplicate nested key", "base", [op("batches", 3, '"v":', '"v":27,"v":')],
         parse_fail("headers.parse", 3, "duplicateKey", "$.signature.v")),
        ("fraction 6.0", "base", [op("decisions", 1, size, size[:-1] + ".0,")],
         parse_fail("decisions.parse", 1, "nonCanonicalNumber", "$.size")),
        ("exponent 6e0", "base", [op("batches", 3, '"accountCount":3,', '"accountCount":3e0,')],
         parse_fail("headers.parse", 3, "nonCanonicalNumber", "$.accountCount")),
        ("minus zero", "base", [op("decisions", 1, '"leafIndex":0,', '"leafIndex":-0,')],
         parse_fail("decisions.parse", 1, "nonCanonicalNumber", "$.leafIndex")),
        ("leading zero", "base", [op("batches", 3, '"accountCount":3,', '"accountCount":03,')],
         parse_fail("headers.parse", 3, "syntax")),
        ("plus sign", "base", [op("batches", 3, '"accountCount":3,', '"accountCount":+3,')],
         parse_fail("headers.parse", 3, "syntax")),
        ("NaN", "base", [op("batches", 3, '"accountCount":3,', '"accountCount":NaN,')],
         parse_fail("headers.parse", 3, "syntax")),
        ("trailing data", "base", [op("batches", 3, "}\n", "} {}\n")], parse_fail("headers.parse", 3, "trailingData")),
        ("blank line", "base", [op("batches", 1, "\n", "\n\n")],
         {"headers.parse": {"error": "blankLine", "line": 2, "path": "$"}}),
        ("whitespace-only line", "base", [op("decisions", 3, "\n", "\n \t\n")],
         {"decisions.parse": {"error": "blankLine", "line": 4, "path": "$"}}),
        ("missing final newline", "base", [op("batches", 3, "}\n", "}")],
         parse_fail("headers.parse", 3, "missingNewline")),
        # §5.1: schema.
        ("unknown field", "base", [op("decisions", 1, "{", '{"note":1,')],
         parse_fail("decisions.parse", 1, "unknownField", "$.note")),
        ("missing field", "base", [op("decisions", 3, account + ",", "")],
         parse_fail("decisions.parse", 3, "missingField", "$.account")),
        ("string for an integer", "base", [op("decisions", 1, f'"market":{d1["market"]},', f'"market":"{d1["market"]}",')],
         parse_fail("decisions.parse", 1, "wrongType", "$.market")),
        ("boolean as integer", "base",
         [op("decisions", 1, f'"isBuy":{json.dumps(d1["isBuy"])}', f'"isBuy":{int(d1["isBuy"])}')],
         parse_fail("decisions.parse", 1, "wrongType", "$.isBuy")),
        ("uint32 out of range", "base", [op("decisions", 1, f'"market":{d1["market"]},', '"market":4294967296,')],
         parse_fail("decisions.parse", 1, "outOfRange", "$.market")),
        ("upper-case hex", "base", [op("decisions", 3, account, account[:14] + account[14:].upper())],
         parse_fail("decisions.parse", 3, "badHex", "$.account")),
        ("upper-case 0X prefix", "base", [op("batches", 3, '"stateRoot":"0x', '"stateRoot":"0X')],
         parse_fail("headers.parse", 3, "badHex", "$.stateRoot")),
        ("odd-length hex", "base", [op("batches", 3, f'"signer":"{h3["signer"]}"', f'"signer":"{h3["signer"][:-1]}"')],
         parse_fail("headers.parse", 3, "badHex", "$.signer")),
        ("wrongly sized hex", "base", [op("decisions", 1, d1["proof"][0], d1["proof"][0][:-2])],
         parse_fail("decisions.parse", 1, "badHex", "$.proof[0]")),
        ("signature v 29", "base", [op("batches", 3, f'"v":{h3["signature"]["v"]}', '"v":29')],
         parse_fail("headers.parse", 3, "outOfRange", "$.signature.v")),
        ("side disagrees with isBuy", "base",
         [op("decisions", 1, f'"side":"{d1["side"]}"', '"side":"' + ("sell" if d1["isBuy"] else "buy") + '"')],
         parse_fail("decisions.parse", 1, "mismatch", "$.side")),
        ("unknown reason code", "base", [op("decisions", 1, f'"reasonCode":{d1["reasonCode"]}', '"reasonCode":3')],
         parse_fail("decisions.parse", 1, "outOfRange", "$.reasonCode")),
        ("unsorted haltedMarkets", "haltedUnsorted", [],
         parse_fail("headers.parse", 3, "notAscending", "$.haltedMarkets[1]")),
        ("repeated haltedMarkets", "haltedRepeated", [],
         parse_fail("headers.parse", 3, "notAscending", "$.haltedMarkets[1]")),
        # §5.2: checks.
        ("signer field is not the expected signer", "base",
         [op("batches", 2, f'"signer":"{h3["signer"]}"', f'"signer":"{OTHER_SIGNER}"')], {"headers.signer": {}}),
        ("another expected signer", "base", [], {"headers.signature": {}, "headers.signer": {}}, OTHER_SIGNER),
        ("unknown event type", "unknownEventType", [], {"events.log": {"error": "type"}}),
        ("decision outside its batch", "decisionOutsideBatch", [], {"decisions.batch": {}}),
        ("accountCount decreases", "accountsDecrease", [], {"chain.accounts": {}}),
        ("accountCount zero", "accountsZero", [], {"chain.accounts": {}}),
        ("no decisions but a non-empty decisionsRoot", "emptyDecisionsRoot", [], {"decisions.inclusion": {}}),
        ("events.log cut short", "base", [{"file": "events", "truncate": 12 * 49}], {"events.log": {"error": "short"}}),
        ("events.log torn record", "base", [{"file": "events", "truncate": 13 * 49 - 1}],
         {"events.log": {"error": "length"}}),
        ("events.log sequence", "base", [{"file": "events", "offset": 49 * 5 + 7, "byte": 99}],
         {"events.log": {"error": "sequence"}}),
        # docs/MARKETDATA.md §4: the cases below give marketdata.jsonl to the verifier too
        # ("marketdata": true); the others leave it out (absent: not checked).
        ("base epoch with its market data passes", "base", [], {}),
        ("market data line edited", "base", [op("marketdata", 3, '"openInterest":3000000', '"openInterest":3000001')],
         {"marketdata.root": {}}),
        ("market data line dropped", "base", [op("marketdata", 3, md[2], "")],
         {"marketdata.batch": {}, "marketdata.root": {}}),
        ("market data duplicate key", "base", [op("marketdata", 4, '"market":2,', '"market":2,"market":1,')],
         # A line that does not read is skipped: its batch misses a leaf and its market a number.
         {"marketdata.parse": {"error": "duplicateKey", "line": 4, "path": "$.market"}, "marketdata.batch": {},
          "marketdata.root": {}}),
        ("market data level not a pair", "base", [op("marketdata", 1, "[[60010000000,1000000]]", "[[60010000000]]")],
         {"marketdata.parse": {"error": "outOfRange", "line": 1, "path": "$.asks[0]"}, "marketdata.batch": {},
          "marketdata.root": {}}),
        ("market data halted disagrees (signed)", "haltedMismatch", [],
         {"marketdata.parse": {"error": "mismatch", "line": 5, "path": "$.halted"}, "marketdata.batch": {},
          "marketdata.root": {}}),
        ("trades-only with depth (signed)", "tradesOnlyDepth", [], {"marketdata.batch": {}}),
    ]
    epochs["empty"] = {"batches": "", "decisions": "", "events": "", "marketdata": ""}
    out = []
    with_market_data = False
    for name, ep, ops, fail, *signer in cases:
        with_market_data = with_market_data or name.startswith("base epoch with its market data")
        case = {"name": name, "epoch": ep, "ops": ops, "fail": fail} | ({"marketdata": True} if with_market_data else {})
        if signer:
            case["signer"] = signer[0]
        out.append(case)
    signer = ref.Epoch(ref.SAMPLE_KEY, CHAIN_ID, CONTRACT, VENUE).signer.lower()
    out += mutations(epochs["base"], signer)
    return {
        "about": "docs/COMMITMENTS.md §5 cases; written by contracts/tests/make_vectors.py",
        "chainId": CHAIN_ID, "verifyingContract": CONTRACT.lower(), "venueId": VENUE, "signer": signer,
        "epochs": epochs, "cases": out,
    }  # fmt: skip


MUTATION_ALPHABET = '"{}[],:0123456789-+.eEaAfFxX \t\\'


def mutations(base: dict, signer: str, count: int = 160, seed: int = 8259) -> list[dict]:
    """Random one-byte edits (replace, delete, insert) of the base epoch's two files. Their
    expected verdicts are the Python verifier's when the table was written: unlike the
    hand-written cases above, these check that the two implementations agree."""
    import sys  # noqa: PLC0415
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "src"))
    from verify_outputs import verify_outputs  # noqa: PLC0415 (the SDK's, python/src)

    rng = random.Random(seed)
    dom = ref.domain(CHAIN_ID, CONTRACT)
    out = []
    for n in range(count):
        file = ("batches", "decisions")[n % 2]
        text = base[file]
        at = rng.randrange(len(text))
        kind = rng.choice(("replace", "delete", "insert"))
        char = rng.choice(MUTATION_ALPHABET)
        op = {"file": file, "at": at, "delete": 0 if kind == "insert" else 1, "insert": "" if kind == "delete" else char}
        edited = text[:at] + op["insert"] + text[at + op["delete"] :]
        if edited == text:
            continue
        files = dict(base, **{file: edited})
        verdicts = verify_outputs(
            files["batches"].encode(), files["decisions"].encode(), bytes.fromhex(files["events"]), signer, dom, VENUE
        )
        fail = {}
        for check, v in verdicts.items():
            if not v["pass"]:
                fail[check] = {k: v[k] for k in ("error", "line", "path") if v.get(k) is not None}
                if fail[check].get("error") == "syntax":
                    del fail[check]["path"]
        out.append({"name": f"mutation {n}: {kind} {char!r} at {file}[{at}]", "epoch": "base", "ops": [op], "fail": fail})
    return out


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
