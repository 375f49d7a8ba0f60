"""The shared table vectors/outputs.json (docs/COMMITMENTS.md §5), run by the Python
reference; Tests/CommitmentsTests/OutputVectorTests.swift runs the same table against
the Swift OutputVerifier, so both readers refuse the same records for the same reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import reference
from strict_outputs import RecordError, read_decision, read_header, strict_loads
from verify_outputs import CHECKS, verify_outputs

VECTORS = json.loads((Path(__file__).parent / "vectors" / "outputs.json").read_text())


def apply(files: dict, ops: list[dict]) -> dict:
    """The case's edits: a first-occurrence replacement within one line (newline
    included), a byte edit of a whole file, or a byte set / truncation of events.log.
    Shared with the Swift test."""
    files = dict(files)
    for op in ops:
        if op["file"] == "events":
            data = bytearray(files["events"])
            if "truncate" in op:
                del data[op["truncate"] :]
            else:
                data[op["offset"]] = op["byte"]
            files["events"] = bytes(data)
            continue
        if "at" in op:  # a byte edit of the whole file: delete n bytes at `at`, insert text
            data = files[op["file"]]
            files[op["file"]] = data[: op["at"]] + op["insert"].encode() + data[op["at"] + op["delete"] :]
            continue
        lines = files[op["file"]].decode().splitlines(keepends=True)
        line = lines[op["line"] - 1]
        assert op["old"] in line, op
        lines[op["line"] - 1] = line.replace(op["old"], op["new"], 1)
        files[op["file"]] = "".join(lines).encode()
    return files


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_vector(case):
    epoch = VECTORS["epochs"][case["epoch"]]
    files = apply(
        {
            "batches": epoch["batches"].encode(),
            "decisions": epoch["decisions"].encode(),
            "events": bytes.fromhex(epoch["events"]),
            "marketdata": epoch["marketdata"].encode(),
            "inputs": epoch.get("inputs", "").encode(),
            "funding": epoch.get("funding", "").encode(),
        },
        case["ops"],
    )
    verdicts = verify_outputs(
        files["batches"],
        files["decisions"],
        files["events"],
        case.get("signer", VECTORS["signer"]),
        reference.domain(VECTORS["chainId"], VECTORS["verifyingContract"]),
        VECTORS["venueId"],
        files["marketdata"] if case.get("marketdata") else None,
    )
    assert set(verdicts) == set(CHECKS)
    failing = {name for name, v in verdicts.items() if not v["pass"]}
    # This reference implements §5.2 only; the §5.3 verdicts of "public" cases are the
    # SDK's and the Swift verifier's to match (python/tests/test_outputs_vectors.py).
    fail = {name: v for name, v in case["fail"].items() if name in CHECKS}
    assert failing == set(fail), verdicts
    for name, expected in fail.items():
        got = {k: verdicts[name].get(k) for k in expected}
        assert got == expected, name


@pytest.mark.parametrize(
    "text, error, path",
    [
        (b'{"a":1,"a":1}', "duplicateKey", "$.a"),
        (b'{"a":{"b":[1,{"c":2,"c":3}]}}', "duplicateKey", "$.a.b[1].c"),
        (b'{"a b":1,"a b":2}', "duplicateKey", '$["a b"]'),
        (b'{"a":6.0}', "nonCanonicalNumber", "$.a"),
        (b'{"a":6e0}', "nonCanonicalNumber", "$.a"),
        (b'{"a":[1,-0]}', "nonCanonicalNumber", "$.a[1]"),
        (b'{"a":01}', "syntax", None),
        (b'{"a":+1}', "syntax", None),
        (b'{"a":Infinity}', "syntax", "$.a"),
        (b'{"a":1} x', "trailingData", None),
        (b'{"a":"\xff"}', "invalidUTF8", "$"),
        (b"[" * 65 + b"]" * 65, "tooDeep", None),
        (b'{"a":"\\udaa4x"}', "syntax", None),
        (b'{"a":"\\udc00"}', "syntax", None),
        (b'{"a":"\\ud800\\u0041"}', "syntax", None),
        (b'{"a":1,"a":"\\ud800"}', "syntax", None),
        (b'{"\\ud800":1}', "syntax", None),
    ],
)
def test_strict_json(text, error, path):
    with pytest.raises(RecordError) as e:
        strict_loads(text)
    assert e.value.name == error
    if path is not None:
        assert e.value.path == path


def test_readers_accept_what_the_reference_writes():
    epoch = VECTORS["epochs"]["base"]
    for line in epoch["batches"].encode().splitlines():
        assert read_header(line)["venueId"] == VECTORS["venueId"]
    for line in epoch["decisions"].encode().splitlines():
        read_decision(line)
    assert strict_loads(b' {"a" : [ 1 , -2 , 0 ] }\r\n') == {"a": [1, -2, 0]}
