"""PROTOCOL.md §2.14 item 1 without a host: before the first evidence, a round of
addresses in which one answered `notPrimary` is backed off and tried again (a takeover may
be under way), within the attempt limit, and so is every later round once a venue host was
met (a standby, or a connection lost); a first round of refused connects only still stops."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from sealstream import recovery
from sealstream.errors import ConnectionClosed, Refused, ReplyTimeout
from sealstream.recovery import RecoveryFailed, ReconnectPolicy, ResilientPublisher

EVIDENCE = SimpleNamespace(signer="0xAB", enclave_key=b"k", measurement="m", config_hash="c", mode="software")
FAST = ReconnectPolicy(initial_ms=1, cap_ms=2, max_attempts=3)


def fake_client(script: list[str]):
    """A Client whose attest answers, per connection in order: "standby", "down" (connect
    refused), "lost" (accepted, then closed) or "up"."""

    class Fake:
        connections = 0

        def __init__(self, address, timeout):
            Fake.connections += 1
            self.address = address
            self.answer = script.pop(0)
            if self.answer == "down":
                raise ConnectionRefusedError(address)

        def attest(self, policy, allow_simulated):
            answer = self.answer
            if answer.startswith("again:"):  # this answer, then the next one on the same connection
                answer, self.answer = answer.removeprefix("again:"), script.pop(0)
            refusals = {"standby": ("notPrimary", 22), "unavailable": ("enclaveUnavailable", 2),
                        "busy": ("tooManyRequests", 7)}
            if answer in refusals:
                label, code = refusals[answer]
                raise Refused(SimpleNamespace(reason_label=label, refused_type=1, reference=0, reason=code))
            if answer == "lost":
                raise ConnectionClosed("the host closed the connection")
            if answer == "silent":
                raise ReplyTimeout("no reply")
            return EVIDENCE

        def close(self):
            pass

    return Fake


def test_a_round_with_a_standby_is_tried_again(monkeypatch):
    script = ["standby", "down", "down", "up"]
    monkeypatch.setattr(recovery, "Client", fake_client(script))
    pub = ResilientPublisher("a:1,b:2", policy=None, reconnect=FAST)
    assert pub.current == "b:2" and pub.stats.not_primary == 1 and script == []


def test_refused_connects_only_still_stop(monkeypatch):
    monkeypatch.setattr(recovery, "Client", fake_client(["down", "down"]))
    with pytest.raises(ConnectionRefusedError):
        ResilientPublisher("a:1,b:2", policy=None, reconnect=FAST)


def test_standbys_for_ever_run_out_of_attempts(monkeypatch):
    monkeypatch.setattr(recovery, "Client", fake_client(["standby"] * 6))
    with pytest.raises(RecoveryFailed):
        ResilientPublisher("a:1,b:2", policy=None, reconnect=FAST)


def test_later_rounds_keep_going_once_a_host_was_met(monkeypatch):
    # The chaos case: a standby answered, then the primary was killed while the standby
    # took over: a round of a lost connection and a refused connect is backed off too.
    script = ["standby", "down", "lost", "down", "up"]
    monkeypatch.setattr(recovery, "Client", fake_client(script))
    pub = ResilientPublisher("a:1,b:2", policy=None, reconnect=FAST)
    assert pub.current == "a:1" and script == []


def test_a_lost_connection_is_a_host(monkeypatch):
    script = ["lost", "down", "up"]
    monkeypatch.setattr(recovery, "Client", fake_client(script))
    pub = ResilientPublisher("a:1,b:2", policy=None, reconnect=FAST)
    assert pub.current == "a:1" and script == []


@pytest.mark.parametrize("answer", ["unavailable", "busy", "silent"])
def test_an_evidence_request_refused_or_unanswered_is_backed_off_and_moves_on(monkeypatch, answer):
    # §2.14 item 1: not a reason to stop, before the first evidence as after it.
    script = [answer, "up"]
    monkeypatch.setattr(recovery, "Client", fake_client(script))
    pub = ResilientPublisher("a:1,b:2", policy=None, reconnect=FAST)
    assert pub.current == "b:2" and script == []


def test_one_address_asks_again_on_the_same_connection(monkeypatch):
    # §2.14 item 2: with a single address, notPrimary and the two refusals are backed off
    # and asked again on the same connection (the host may take over).
    fake = fake_client(script := ["again:standby", "again:unavailable", "up"])
    monkeypatch.setattr(recovery, "Client", fake)
    pub = ResilientPublisher("a:1", policy=None, reconnect=ReconnectPolicy(initial_ms=1, cap_ms=2, max_attempts=5))
    assert pub.current == "a:1" and fake.connections == 1 and pub.stats.not_primary == 1 and script == []


def test_one_address_reconnects_after_a_lost_connection_and_stops_on_a_first_refused_connect(monkeypatch):
    fake = fake_client(script := ["lost", "down", "up"])
    monkeypatch.setattr(recovery, "Client", fake)
    pub = ResilientPublisher("a:1", policy=None, reconnect=FAST)  # the host was met: a refused connect is retried
    assert pub.current == "a:1" and fake.connections == 3 and script == []
    monkeypatch.setattr(recovery, "Client", fake_client(["down"]))
    with pytest.raises(ConnectionRefusedError):
        ResilientPublisher("a:1", policy=None, reconnect=FAST)
