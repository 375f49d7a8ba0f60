"""The shared table contracts/tests/vectors/outputs.json run through the SDK's
`verify-outputs` (the same table the Swift OutputVerifier runs)."""

from __future__ import annotations

import json

import pytest
from conftest import VECTORS

from sealstream.outputs import CHECKS, RecordError, strict_loads, verify_outputs

V = json.loads(VECTORS.read_text())


def apply(files: dict, ops: list[dict]) -> dict:
    """The case's edits, as contracts/tests/test_vectors.py applies them."""
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
        if "at" in op:
            data = files[op["file"]]
            files[op["file"]] = data[: op["at"]] + op["insert"].encode() + data[op["at"] + op["delete"] :]
            continue
        lines = files[op["file"]].decode().splitlines(keepends=True)
        line = lines[op["line"] - 1]
        assert op["old"] in line, op
        lines[op["line"] - 1] = line.replace(op["old"], op["new"], 1)
        files[op["file"]] = "".join(lines).encode()
    return files


@pytest.mark.parametrize("case", V["cases"], ids=[c["name"] for c in V["cases"]])
def test_vector(case):
    epoch = V["epochs"][case["epoch"]]
    files = apply(
        {"batches": epoch["batches"].encode(), "decisions": epoch["decisions"].encode(),
         "events": bytes.fromhex(epoch["events"]), "marketdata": epoch["marketdata"].encode(),
         "inputs": epoch.get("inputs", "").encode(), "funding": epoch.get("funding", "").encode()},
        case["ops"],
    )  # fmt: skip
    dom = {"chainId": V["chainId"], "verifyingContract": V["verifyingContract"]}
    signer = case.get("signer", V["signer"])
    verdicts = verify_outputs(files["batches"], files["decisions"], files["events"], signer,
                              dom, V["venueId"], files["marketdata"] if case.get("marketdata") else None)  # fmt: skip
    checks = CHECKS
    if case.get("public"):  # §5.3 cases: inputs.jsonl and funding.jsonl given; the venue configuration if "config"
        from sealstream.outputs.public import PUBLIC_CHECKS, verify_public

        config = json.loads(epoch["config"]) if case.get("config") else None
        verdicts |= verify_public(files["batches"], files["decisions"], files["events"], files["inputs"], config,
                                  files["funding"], signer, dom, V["venueId"])  # fmt: skip
        checks = CHECKS + PUBLIC_CHECKS
    assert set(verdicts) == set(checks)
    assert {n for n, v in verdicts.items() if not v["pass"]} == set(case["fail"])
    for name, expected in case["fail"].items():
        assert {k: verdicts[name].get(k) for k in expected} == expected, name


def test_strict_json_refusals():
    for text, error in ((b'{"a":1,"a":1}', "duplicateKey"), (b'{"a":6.0}', "nonCanonicalNumber"),
                        (b'{"a":01}', "syntax"), (b'{"a":1} x', "trailingData"), (b"[" * 65 + b"]" * 65, "tooDeep")):
        with pytest.raises(RecordError) as e:
            strict_loads(text)
        assert e.value.name == error


def test_check_numbering():
    """One numbered list (COMMITMENTS.md §5.2 checks 1–18 and 18a, §5.3 checks 19–24, 24a, 25, 25a, 26–27), in the Swift verifier's order."""
    from sealstream.outputs.public import PUBLIC_CHECKS

    assert CHECKS[12:] == ["decisions.parse", "decisions.batch", "decisions.inclusion",
                           "marketdata.parse", "marketdata.batch", "marketdata.root", "marketdata.options"]  # fmt: skip
    assert PUBLIC_CHECKS == ["inputs.parse", "inputs.leaf", "inputs.signature", "inputs.admission", "marks.decisions",
                             "marks.halted", "marks.options", "decisions.execution", "decisions.scenario", "funding.parse",
                             "funding.records"]  # fmt: skip
    assert len(CHECKS + PUBLIC_CHECKS) == 30
