"""The SDK against a real host and enclave (software attestation): the demo scenario
through Python and through the Swift client on two fresh hosts, answers compared;
evidence, sessions, refusals, fill events, inclusion proofs and verify-outputs."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import time
from pathlib import Path

import pytest
from live import SCENARIO, VENUE, Host, bin_dir

from sealstream import attest, messages, scenario, wire
from sealstream.client import Client
from sealstream.demo import demo_key
from sealstream.errors import AttestationFailed, HostError, ProofError, Refused
from sealstream.evidence import parse_evidence
from sealstream.http import HTTPClient, HTTPError
from sealstream.outputs import verify_directory, verify_url
from sealstream.proofs import Domain, verify_decisions, verify_event_inclusion, verify_funding, verify_inputs


@pytest.fixture(scope="module")
def bins():
    return bin_dir()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="module")
def policy_path(bins, work):
    out = work / "policy.json"
    subprocess.run([str(bins / "attestation"), "measure", "--enclave", str(bins / "sealstream-enclave"), "--config",
                    str(VENUE), "--allow-mode", "software", "--policy-out", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def policy(policy_path, bins):
    p = attest.Policy.from_json(policy_path.read_bytes())
    # The auditor's tool and the SDK agree on what the two hashes are of.
    assert p.measurement == hashlib.sha256((bins / "sealstream-enclave").read_bytes()).digest()
    assert p.config_hash == hashlib.sha256(VENUE.read_bytes()).digest()
    return p


@pytest.fixture(scope="module")
def host(bins, work):
    h = Host(bins, work / "data-python", work / "host-python.log")
    yield h
    h.stop()


@pytest.fixture(scope="module")
def python_run(host, policy):
    return scenario.run(SCENARIO.read_text(), json.loads(VENUE.read_text()), host.address, policy, allow_simulated=True)


@pytest.fixture(scope="module")
def domain(host, policy):
    with Client(host.address) as c:
        return Domain.from_evidence(c.attest(policy, allow_simulated=True))


def test_evidence_over_the_wire_and_http_passes_the_policy(host, policy):
    with Client(host.address) as c:
        e = c.attest(policy, allow_simulated=True)
        assert c.report.ok and c.report.simulated and e.mode == "software"
    nonce = bytes(range(32))
    doc = HTTPClient(host.http).evidence(nonce)
    report = attest.verify(doc, policy, nonce, allow_simulated=True)
    assert report.ok, report.failed()
    assert parse_evidence(doc).enclave_key == e.enclave_key
    # The CLI's challenge: its own nonce over HTTP, then verify with that nonce.
    from sealstream.cli import main

    evidence_file = host.data.parent / "challenge.json"
    assert main(["challenge", "--url", host.http, "--out", str(evidence_file)]) == 0
    assert attest.verify(evidence_file.read_bytes(), policy, parse_evidence(evidence_file.read_bytes()).nonce,
                         allow_simulated=True).ok  # fmt: skip
    wrong = attest.Policy(**dict(vars(policy), config_hash=bytes(32)))
    with Client(host.address) as c, pytest.raises(AttestationFailed) as failed:
        c.attest(wrong, allow_simulated=True)
    assert failed.value.report.failed() == ["configHash"]


def test_python_and_swift_clients_get_the_same_answers(python_run, bins, work, policy_path):
    other = Host(bins, work / "data-swift", work / "host-swift.log")
    try:
        receipts = work / "swift-receipts.jsonl"
        out = subprocess.run(
            [str(bins / "sealstream-client"), "scenario", str(SCENARIO), "--host", other.address, "--venue", str(VENUE),
             "--policy", str(policy_path), "--allow-simulated", "--json", "--receipts-out", str(receipts)],
            check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        other.stop()
    swift = json.loads(out.stdout)
    mine = python_run.summary()
    for key in ("receipts", "accepted", "rejected", "notSequenced", "refusals", "fills", "fillEvents", "depositsAcked",
                "pricesAcked", "smilesAcked", "ordersSent", "cancelsSent", "withdrawalsSent", "globalSequences"):
        assert mine[key] == swift[key], key
    assert mine["accepted"] > 0 and mine["rejected"] and mine["fills"] > 0 and mine["fillEvents"] > 0

    def meaning(r: dict) -> tuple:
        public = r["operation"] in ("deposit", "price", "smile")  # their ids are drawn per run
        return (r["client"], r["operation"], None if public else r["request"], r["kind"], r["status"],
                r["globalSequence"], r["messageType"])  # fmt: skip

    swift_answers = [meaning(json.loads(line)) for line in receipts.read_text().splitlines()]
    assert [meaning(vars(a)) for a in python_run.answers] == swift_answers


def test_fill_events_mirror_the_takers_fills(python_run):
    taken = sum(a.fills for a in python_run.answers)
    events = [e for evs in python_run.fill_events.values() for e in evs]
    assert len(events) == taken > 0
    maker_orders = {(a.client, a.request) for a in python_run.answers if a.operation == "order"}
    for name, evs in python_run.fill_events.items():
        for e in evs:
            assert (name, e.client_order_id.decode()) in maker_orders
            assert e.global_sequence in python_run.summary()["globalSequences"]


def test_every_answer_is_proven_included_under_the_attested_signer(python_run, host, domain):
    http = HTTPClient(host.http)
    answered = [a for a in python_run.answers if a.globalSequence]
    last = max(a.globalSequence for a in answered)
    deadline = time.monotonic() + 10
    while True:  # a batch closes within batchMaxNanos of its first event
        try:
            http.event_proof(last)
            break
        except HTTPError:
            assert time.monotonic() < deadline, "no header covers the run"
            time.sleep(0.05)
    for a in answered:
        answer = http.event_proof(a.globalSequence)
        header = verify_event_inclusion(answer, a.body, a.messageType, a.globalSequence, a.enclaveTime, domain)
        assert header["firstSequence"] <= a.globalSequence <= header["lastSequence"]
    a = answered[-1]
    answer = http.event_proof(a.globalSequence)
    with pytest.raises(ProofError):  # another body (or time) is not what the enclave sequenced
        verify_event_inclusion(answer, a.body + b"\x00", a.messageType, a.globalSequence, a.enclaveTime, domain)
    with pytest.raises(ProofError):
        verify_event_inclusion(answer, a.body, a.messageType, a.globalSequence, a.enclaveTime + 1, domain)
    with pytest.raises(ProofError):  # a header signed by anyone else
        verify_event_inclusion(answer, a.body, a.messageType, a.globalSequence, a.enclaveTime,
                               Domain("0x" + "11" * 20, domain.chain_id, domain.verifying_contract, domain.venue_id))


def test_replayed_and_forged_requests_are_refused(host, policy, python_run):
    with Client(host.address) as c:
        c.attest(policy, allow_simulated=True)
        s = c.open_session(1001, demo_key("trader", "mm-alpha"))
        body = s.session.seal_request(messages.cancel("nothing-here"))
        first = c.connection.request(wire.SEALED_REQUEST, body)
        assert first.type == wire.SEALED_RECEIPT
        receipt = s.session.open_receipt(wire.decode_sealed(wire.SEALED_RECEIPT, first.body))
        assert receipt.status.label == "rejected" and receipt.reason_label == "unknownOrder"
        again = wire.decode_refusal(c.connection.request(wire.SEALED_REQUEST, body).body)
        assert again.reason_label == "replayOrReorder" and again.reference == 1
        forged = bytearray(s.session.seal_request(messages.cancel("x")))
        forged[-1] ^= 1
        refusal = wire.decode_refusal(c.connection.request(wire.SEALED_REQUEST, bytes(forged)).body)
        assert refusal.reason_label == "authenticationFailed"
        with pytest.raises(Refused) as e:  # an account no deposit registered
            c.open_session(999_999, demo_key("trader", "nobody"))
        assert e.value.label == "unknownAccount"
        with pytest.raises(Refused) as e:  # the right account, the wrong key
            c.open_session(1001, demo_key("trader", "mallory"))
        assert e.value.label == "badAccountSignature"


def test_a_malformed_frame_gets_a_host_error(host):
    with Client(host.address) as c:
        c.connection._sock.sendall(struct.pack(">IBB", 34, 2, 1) + bytes(32))  # version 2
        with pytest.raises(HostError) as e:
            c.connection.next_reply()
        assert (e.value.code, e.value.label) == (3, "unsupported_version")


def test_trading_desk_example_runs(host, policy_path, python_run):
    import sys

    from conftest import ROOT

    out = subprocess.run(
        [sys.executable, str(ROOT / "python" / "examples" / "trading_desk.py"), "--host", host.address, "--http",
         host.http, "--policy", str(policy_path), "--allow-simulated", "--demo-bootstrap"],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["statuses"] == {"bid": "accepted", "ask": "accepted", "lift": "accepted", "cancel-bid": "accepted"}
    assert result["takerFills"] == 1 and result["fillEvents"] == 1
    assert result["proven"] == result["requests"] == 8


def test_public_inputs_over_http_are_the_files_lines_and_are_proven(python_run, host, domain):
    # GET /v1/inputs and /v1/funding (COMMITMENTS §4.2): each published batch's answer is its
    # lines of inputs.jsonl and funding.jsonl verbatim; every input is proven in the signed log.
    http = HTTPClient(host.http)
    last = max(a.globalSequence for a in python_run.answers if a.globalSequence)
    deadline = time.monotonic() + 10
    while True:
        try:
            http.event_proof(last)
            break
        except HTTPError:
            assert time.monotonic() < deadline, "no header covers the run"
            time.sleep(0.05)
    outputs = host.data / "outputs"
    files = {name: (outputs / name).read_bytes().split(b"\n")[:-1] for name in ("inputs.jsonl", "funding.jsonl")}
    kinds, forged = set(), None
    for h in json.loads(http.batches(0, 1000)):
        header = http.batch(h["batchIndex"])
        for name, fetch in (("inputs.jsonl", http.inputs), ("funding.jsonl", http.funding)):
            mine = [line for line in files[name] if h["firstSequence"] <= json.loads(line)["sequence"] <= h["lastSequence"]]
            answer = fetch(h["batchIndex"])
            assert answer == b"[" + b",".join(mine) + b"]", (name, h["batchIndex"])
        records = verify_inputs(http.inputs(h["batchIndex"]), header, domain, http.event_proof)
        verify_funding(http.funding(h["batchIndex"]), header, domain)
        kinds |= {r["kind"] for r in records}
        if records and forged is None:
            forged = (h["batchIndex"], json.loads(http.inputs(h["batchIndex"])))
    assert kinds == {"oraclePrice", "deposit"}
    batch, items = forged
    verify_inputs(json.dumps(items).encode(), http.batch(batch), domain, http.event_proof)
    items[0]["enclaveTime"] += 1  # another stamp than the leaf's
    with pytest.raises(ProofError):
        verify_inputs(json.dumps(items).encode(), http.batch(batch), domain, http.event_proof)
    with pytest.raises(HTTPError) as refused:
        http.inputs(10**6)
    assert refused.value.status == 404


def test_liquidation_drill_and_verify_outputs_agree_with_the_auditor(host, bins, policy_path, python_run, domain):
    # The demo scenario has no liquidation; the Swift drill makes some, so the decisions
    # path of verify-outputs runs on real records too.
    subprocess.run([str(bins / "sealstream-client"), "drill", "--host", host.address, "--traders", "20", "--policy",
                    str(policy_path), "--allow-simulated"], check=True, capture_output=True, timeout=120)  # fmt: skip
    # Over HTTP, as a trader would: the batch holding the liquidations, each one proven.
    http, served = HTTPClient(host.http), 0
    deadline = time.monotonic() + 10
    while not served:
        for h in json.loads(http.batches(0, 1000)):
            if h["decisionCount"]:
                header = http.batch(h["batchIndex"])
                decisions = verify_decisions(http.decisions(h["batchIndex"]), header, domain)
                assert len(decisions) == h["decisionCount"]
                served += len(decisions)
                batch = h["batchIndex"]
        assert served or time.monotonic() < deadline, "no batch with decisions was published"
        time.sleep(0.05)
    forged = json.loads(http.decisions(batch))
    forged[0]["equity"] += 1
    with pytest.raises(ProofError):
        verify_decisions(json.dumps(forged).encode(), http.batch(batch), domain)
    # The whole epoch through the API (COMMITMENTS §5, `--url`): every check passes on what
    # the listed headers cover, decisions and public inputs included.
    live_evidence = parse_evidence((host.data / "outputs" / "epoch.json").read_bytes())
    live = verify_url(host.http, live_evidence.signer, live_evidence.chain_id, live_evidence.verifying_contract,
                      live_evidence.venue_id, public=True)  # fmt: skip
    assert live["ok"], [c for c in live["checks"] if not c["pass"]]
    assert host.stop() == 0
    evidence = parse_evidence((host.data / "outputs" / "epoch.json").read_bytes())
    mine = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                            evidence.venue_id, public=True)  # fmt: skip
    assert mine["ok"], [c for c in mine["checks"] if not c["pass"]]
    decisions = (host.data / "outputs" / "decisions.jsonl").read_text().splitlines()
    assert decisions, "the drill made no liquidation decision"
    auditor = json.loads(subprocess.run(
        [str(bins / "attestation"), "verify-outputs", "--data-dir", str(host.data), "--evidence",
         str(host.data / "outputs" / "epoch.json"), "--json"], capture_output=True, text=True).stdout)  # fmt: skip
    assert auditor["ok"] is True
    assert [c["check"] for c in auditor["checks"]] == [c["check"] for c in mine["checks"]]
    # With the venue configuration, both recompute every mark from the published signed
    # prices (COMMITMENTS §5.3) and agree check by check.
    venue = Path(__file__).resolve().parents[2] / "scripts" / "demo" / "venue.json"
    full = json.loads(subprocess.run(
        [str(bins / "attestation"), "verify-outputs", "--data-dir", str(host.data), "--evidence",
         str(host.data / "outputs" / "epoch.json"), "--config", str(venue), "--json"], capture_output=True, text=True).stdout)  # fmt: skip
    mine_full = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                                 evidence.venue_id, public=True, config=json.loads(venue.read_text()))  # fmt: skip
    assert full["ok"] is True and mine_full["ok"], [c for c in mine_full["checks"] if not c["pass"]]
    assert [(c["check"], c["pass"]) for c in full["checks"]] == [(c["check"], c["pass"]) for c in mine_full["checks"]]
    # A forged price: both fail the same §5.3 checks for the same first reasons.
    inputs_file = host.data / "outputs" / "inputs.jsonl"
    original = inputs_file.read_text()
    lines = original.splitlines(keepends=True)
    k = next(i for i, l in enumerate(lines) if '"kind":"oraclePrice"' in l)
    price = json.loads(lines[k])
    price["price"] += 1
    lines[k] = json.dumps(price, separators=(",", ":"), sort_keys=True) + "\n"
    inputs_file.write_text("".join(lines))
    forged = json.loads(subprocess.run(
        [str(bins / "attestation"), "verify-outputs", "--data-dir", str(host.data), "--evidence",
         str(host.data / "outputs" / "epoch.json"), "--config", str(venue), "--json"], capture_output=True, text=True).stdout)  # fmt: skip
    mine_forged = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                                   evidence.venue_id, public=True, config=json.loads(venue.read_text()))  # fmt: skip
    def failures(report):
        return {c["check"]: c.get("error") for c in report["checks"] if not c["pass"]}
    assert failures(forged) == failures(mine_forged) and failures(forged)["inputs.leaf"] == "bodyHash"
    inputs_file.write_text(original)
    # One edited decision: both refuse it.
    lines = (host.data / "outputs" / "decisions.jsonl").read_text().splitlines(keepends=True)
    d = json.loads(lines[0])
    d["size"] += 1
    lines[0] = json.dumps(d, separators=(",", ":")) + "\n"
    (host.data / "outputs" / "decisions.jsonl").write_text("".join(lines))
    mine = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                            evidence.venue_id, public=True)  # fmt: skip
    # The size no longer matches the signed hash, nor the fills that add up to it.
    assert {c["check"]: c.get("error") for c in mine["checks"] if not c["pass"]} == {
        "decisions.inclusion": None, "decisions.execution": "quantities"}
