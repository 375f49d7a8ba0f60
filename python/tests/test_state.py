"""The verifier's `--state` file (ATTESTATION.md §5.3) on the golden swtpm evidence:
remembered nonces and clocks, rollback detection, no change after a failure, strict
reading, and the file format `attestation verify --state` writes."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES

from sealstream import attest, tpm
from sealstream.errors import PolicyError
from sealstream.state import ClockInfo, VerifierState

NONCE = bytes.fromhex("7365616c73747265616d20676f6c64656e20737774706d206e6f6e6365207631")
DOC = json.loads((FIXTURES / "swtpm-evidence.json").read_text())
POLICY = attest.Policy.from_json((FIXTURES / "swtpm-policy.json").read_text())
QUOTE = tpm.parse_attest(bytes.fromhex(DOC["attestation"]["quote"]))
NAME = tpm.parse_public(bytes.fromhex(DOC["attestation"]["akPublic"])).name


def verify(state):
    return attest.verify(DOC, POLICY, NONCE, allow_simulated=True, state=state)


def test_first_pass_remembers_the_clock_and_the_nonce_and_a_replay_fails():
    first = verify(VerifierState())
    assert first.ok and first.check("clock").detail == "first quote remembered from this AK"
    nxt = first.next_state
    assert nxt.clocks[NAME.hex()] == ClockInfo(QUOTE.clock, QUOTE.reset_count, QUOTE.restart_count, QUOTE.safe)
    assert nxt.used_nonces == [VerifierState.nonce_key(NONCE)]
    again = verify(nxt)
    assert again.failed() == ["nonce"] and "already accepted" in again.check("nonce").detail
    assert again.next_state is None, "a failure never changes the state"
    # Without a state nothing is compared or produced.
    plain = verify(None)
    assert plain.ok and plain.next_state is None and "no state" in plain.check("clock").detail


@pytest.mark.parametrize("field,delta,passes", [
    ("reset_count", 1, False), ("restart_count", 1, False), ("clock", 1, False),
    ("reset_count", -1, True), ("clock", -1, True),
])  # fmt: skip
def test_counters_or_clock_behind_the_remembered_ones_fail(field, delta, passes):
    remembered = dict(clock=QUOTE.clock, reset_count=QUOTE.reset_count, restart_count=QUOTE.restart_count, safe=True)
    remembered[field] += delta
    if remembered[field] < 0:
        pytest.skip("the golden quote's counter is 0")
    report = verify(VerifierState({NAME.hex(): ClockInfo(**remembered)}))
    assert report.ok == passes, report.failed()
    if not passes:
        assert report.failed() == ["clock"]
        assert ("rolled back" if field != "clock" else "clock went backwards") in report.check("clock").detail


def test_resetcount_ahead_does_not_excuse_a_clock_behind():
    # §5.3 compares (resetCount, restartCount), then the clock on its own.
    state = VerifierState({NAME.hex(): ClockInfo(QUOTE.clock + 1, max(0, QUOTE.reset_count - 1), 0, True)})
    if QUOTE.reset_count == 0:
        pytest.skip("the golden quote's resetCount is 0")
    assert verify(state).failed() == ["clock"]


def test_another_ak_starts_a_new_record():
    other = VerifierState({"000b" + "11" * 32: ClockInfo(2**63, 2**31, 2**31, True)})
    report = verify(other)
    assert report.ok and set(report.next_state.clocks) == {"000b" + "11" * 32, NAME.hex()}


def test_file_format_round_trip_and_atomic_save(tmp_path):
    path = tmp_path / "state.json"
    assert VerifierState.load(path) == VerifierState(), "a missing file is an empty state"
    state = verify(VerifierState.load(path)).next_state
    state.save(path)
    doc = json.loads(path.read_text())
    assert doc == {"version": 1, "usedNonces": [VerifierState.nonce_key(NONCE)],
                   "clocks": {NAME.hex(): {"clock": QUOTE.clock, "resetCount": QUOTE.reset_count,
                                           "restartCount": QUOTE.restart_count, "safe": QUOTE.safe}}}  # fmt: skip
    assert VerifierState.load(path) == state
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"], "no temporary file left behind"


def test_only_the_newest_4096_nonces_are_kept():
    state = VerifierState(used_nonces=[f"{i:064x}" for i in range(4096)])
    nxt = verify(state).next_state
    assert len(nxt.used_nonces) == 4096 and nxt.used_nonces[0] == f"{1:064x}"
    assert nxt.used_nonces[-1] == VerifierState.nonce_key(NONCE)


@pytest.mark.parametrize("text", [
    "[]", '{"version": 2, "clocks": {}, "usedNonces": []}', '{"version": 1, "clocks": {}}',
    '{"version": 1, "clocks": {"a": {"clock": -1, "resetCount": 0, "restartCount": 0, "safe": true}}, "usedNonces": []}',
    '{"version": 1, "clocks": {"a": {"clock": 1, "resetCount": 0, "restartCount": 0, "safe": 1}}, "usedNonces": []}',
    '{"version": 1, "clocks": {}, "usedNonces": ["abc"]}', "not json",
])  # fmt: skip
def test_malformed_state_files_are_refused(text):
    with pytest.raises(PolicyError):
        VerifierState.from_json(text)
