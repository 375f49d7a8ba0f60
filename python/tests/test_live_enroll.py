"""Credential activation and the `--state` file against a real worker quoting from a real
swtpm (scripts/swtpm.sh, Unix socket): the Python SDK enrols the AK (ATTESTATION.md §8),
the Swift `attestation verify` accepts the pinned policy, a credential made for another
Name is refused `activationFailed`, and the state file is shared with `attestation verify
--state` in both directions (§5.3)."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from live import VENUE, Host, Swtpm, bin_dir

from sealstream import attest, credential, wire
from sealstream.client import Client
from sealstream.connection import Connection
from sealstream.errors import EnrollmentFailed
from sealstream.state import VerifierState


@pytest.fixture(scope="module")
def swtpm_host(tmp_path_factory):
    bins = bin_dir()
    work = tmp_path_factory.mktemp("live-swtpm")
    tpm = Swtpm(work / "tpm")
    try:
        host = Host(bins, work / "data", work / "host.log", extra=["--attestation", "swtpm", "--tcti", tpm.tcti])
    except BaseException:
        tpm.stop()
        raise
    policy = work / "policy.json"
    subprocess.run([str(bins / "attestation"), "measure", "--enclave", str(bins / "sealstream-enclave"), "--config",
                    str(VENUE), "--allow-mode", "swtpm", "--swtpm-ek-root", str(tpm.ek_roots), "--policy-out", str(policy)],
                   check=True, capture_output=True)  # fmt: skip
    yield bins, work, host, policy
    host.stop()
    tpm.stop()


def evidence(host, work, name):
    with Client(host.address, timeout=30) as c:
        nonce, document = c.fetch_evidence()
    path = work / name
    path.write_bytes(document)
    return nonce, document, path


def swift_verify(bins, evidence_path, policy_path, nonce, state=None):
    args = [str(bins / "attestation"), "verify", "--evidence", str(evidence_path), "--policy", str(policy_path),
            "--nonce", nonce.hex(), "--allow-simulated", "--json"] + (["--state", str(state)] if state else [])  # fmt: skip
    r = subprocess.run(args, capture_output=True, text=True)
    report = json.loads(r.stdout) if r.stdout.strip() else {}
    return r.returncode, [c["check"] for c in report.get("checks", []) if not c["pass"]]


def test_python_enrolment_pins_the_ak_and_swift_accepts_the_policy(swtpm_host):
    bins, work, host, policy_path = swtpm_host
    nonce, document, path = evidence(host, work, "evidence.json")
    policy_doc = json.loads(policy_path.read_text())
    assert not policy_doc.get("akNames")
    pinned = credential.enroll(host.address, document, policy_doc, allow_simulated=True)
    _, name = credential.activation_target(document, attest.Policy.from_json(policy_doc))
    assert pinned["akNames"] == [name.hex()]
    pinned_path = work / "pinned.json"
    pinned_path.write_text(json.dumps(pinned))
    assert attest.verify(document, attest.Policy.from_json(pinned), nonce, allow_simulated=True).ok
    assert swift_verify(bins, path, pinned_path, nonce) == (0, [])
    # Enrolling again keeps one entry; without --allow-simulated the evidence fails `mode`.
    assert credential.enroll(host.address, document, pinned, allow_simulated=True)["akNames"] == [name.hex()]
    with pytest.raises(EnrollmentFailed, match="mode"):
        credential.enroll(host.address, document, policy_doc)


def test_a_credential_for_another_name_is_refused_by_the_tpm(swtpm_host):
    _, work, host, policy_path = swtpm_host
    _, document, _ = evidence(host, work, "evidence-other.json")
    ek, name = credential.activation_target(document, attest.Policy.from_json(policy_path.read_bytes()))
    other = b"\x00\x0b" + hashlib.sha256(b"not the worker's AK").digest()
    blob, secret = credential.make_credential(ek.public_key(), other, b"\x42" * 32)
    with Connection.to(host.address, 30) as c:
        reply = c.request(wire.ACTIVATE_CREDENTIAL, wire.encode_activate_credential(blob, secret))
    assert reply.type == wire.REFUSAL and wire.decode_refusal(reply.body).reason_label == "activationFailed"
    # The right Name under the same EK opens (the refusal above is the Name's doing).
    blob, secret = credential.make_credential(ek.public_key(), name, b"\x42" * 32)
    with Connection.to(host.address, 30) as c:
        reply = c.request(wire.ACTIVATE_CREDENTIAL, wire.encode_activate_credential(blob, secret))
    assert reply.type == wire.CREDENTIAL_ACTIVATED and wire.decode_credential_activated(reply.body) == b"\x42" * 32


def test_the_state_file_is_shared_with_attestation_verify(swtpm_host):
    bins, work, host, policy_path = swtpm_host
    state_path = work / "state.json"
    policy = attest.Policy.from_json(policy_path.read_bytes())
    # Python writes, Swift reads: the nonce Python accepted is refused by Swift, and the
    # Swift tool accepts a fresh one and rewrites the file.
    n1, d1, p1 = evidence(host, work, "e1.json")
    r1 = attest.verify(d1, policy, n1, allow_simulated=True, state=VerifierState.load(state_path))
    assert r1.ok
    r1.next_state.save(state_path)
    assert swift_verify(bins, p1, policy_path, n1, state_path) == (1, ["nonce"])
    n2, d2, p2 = evidence(host, work, "e2.json")
    assert swift_verify(bins, p2, policy_path, n2, state_path) == (0, [])
    # Swift wrote, Python reads: both nonces are remembered, the clock has moved on.
    state = VerifierState.load(state_path)
    assert set(state.used_nonces) == {VerifierState.nonce_key(n1), VerifierState.nonce_key(n2)}
    assert attest.verify(d2, policy, n2, allow_simulated=True, state=state).failed() == ["nonce"]
    # A state that remembers a later TPM reset than this TPM's: rolled back or replaced.
    name = next(iter(state.clocks))
    c = state.clocks[name]
    state.clocks[name] = type(c)(c.clock, c.reset_count + 1, c.restart_count, c.safe)
    n3, d3, p3 = evidence(host, work, "e3.json")
    assert attest.verify(d3, policy, n3, allow_simulated=True, state=state).failed() == ["clock"]
    state.save(state_path)
    assert swift_verify(bins, p3, policy_path, n3, state_path) == (1, ["clock"])
