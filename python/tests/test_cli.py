"""The `sealstream` command's verdicts and exit statuses (0 pass, 1 a check fails, 2 an
input cannot be read), on the golden evidence and the shared output vectors."""

from __future__ import annotations

import json

from conftest import FIXTURES, VECTORS

from sealstream.cli import main
from sealstream.evidence import parse_preimage

SWTPM_NONCE = "7365616c73747265616d20676f6c64656e20737774706d206e6f6e6365207631"


def test_verify_exit_statuses(capsys):
    ev, pol = str(FIXTURES / "swtpm-evidence.json"), str(FIXTURES / "swtpm-policy.json")
    assert main(["verify", "--evidence", ev, "--policy", pol, "--nonce", SWTPM_NONCE, "--allow-simulated", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["verify", "--evidence", ev, "--policy", pol, "--nonce", SWTPM_NONCE]) == 1  # simulated not allowed
    assert main(["verify", "--evidence", "/nonexistent", "--policy", pol]) == 2


def test_preimage_layout_of_the_golden_evidence():
    doc = json.loads((FIXTURES / "swtpm-evidence.json").read_text())
    raw = bytes.fromhex(doc["reportPreimage"])
    pre = parse_preimage(raw)
    assert raw[:24] == b"sealstream/attest/v1\x00\x00\x00\x00" and pre.mode == 2  # swtpm
    assert pre.nonce.hex() == SWTPM_NONCE and len(raw) == 26 + 32 + 116
    assert pre.enclave_key.hex() == doc["enclaveKey"] and "0x" + pre.signer.hex() == doc["signer"]


def _epoch_dir(tmp_path, batches: str, decisions: str, events: str):
    out = tmp_path / "outputs"
    out.mkdir()
    (out / "batches.jsonl").write_text(batches)
    (out / "decisions.jsonl").write_text(decisions)
    (out / "events.log").write_bytes(bytes.fromhex(events))
    return tmp_path


def test_verify_outputs_exit_statuses(tmp_path, capsys):
    v = json.loads(VECTORS.read_text())
    e = v["epochs"]["base"]
    data = _epoch_dir(tmp_path, e["batches"], e["decisions"], e["events"])
    args = ["verify-outputs", "--data-dir", str(data), "--signer", v["signer"], "--chain-id", str(v["chainId"]),
            "--verifying-contract", v["verifyingContract"], "--json"]  # fmt: skip
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    other = list(args)
    other[other.index("--signer") + 1] = "0x" + "11" * 20
    assert main(other) == 1
    failing = {c["check"] for c in json.loads(capsys.readouterr().out)["checks"] if not c["pass"]}
    assert failing == {"headers.signature", "headers.signer"}
    (data / "outputs" / "decisions.jsonl").unlink()
    assert main(args) == 2


def test_verify_state_file(tmp_path, capsys):
    """`--state` (ATTESTATION.md §5.3): written after a pass, a replayed answer then fails
    `nonce` and leaves the file as it was; an unreadable state file is exit 2."""
    ev, pol, state = str(FIXTURES / "swtpm-evidence.json"), str(FIXTURES / "swtpm-policy.json"), tmp_path / "state.json"
    args = ["verify", "--evidence", ev, "--policy", pol, "--nonce", SWTPM_NONCE, "--allow-simulated", "--json",
            "--state", str(state)]  # fmt: skip
    assert main(args) == 0 and state.exists()
    written = state.read_bytes()
    capsys.readouterr()
    assert main(args) == 1
    failed = [c["check"] for c in json.loads(capsys.readouterr().out)["checks"] if not c["pass"]]
    assert failed == ["nonce"] and state.read_bytes() == written
    state.write_text('{"version": 7}')
    assert main(args) == 2
