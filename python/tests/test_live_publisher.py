"""PROTOCOL.md §2.12 for public messages through the SDK's ResilientPublisher against a
real host: a deposit sent while the worker restarts is answered after the publisher
re-verifies the same identity; a deposit or price whose answer was lost is resent as the
same signed bytes and reported sequenced before (duplicateDeposit, stalePrice), never
executed twice; the same refusal to a first send is an error."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from live import Host, bin_dir, measured_policy

from sealstream import wire
from sealstream.demo import demo_key
from sealstream.errors import ConnectionClosed, Refused
from sealstream.recovery import ReconnectPolicy, ResilientPublisher

DOGE = 4


@pytest.fixture(scope="module")
def bins():
    return bin_dir()


@pytest.fixture(scope="module")
def policy(bins, tmp_path_factory):
    return measured_policy(bins, tmp_path_factory.mktemp("publisher") / "policy.json")


def lose_next_answer(publisher: ResilientPublisher) -> None:
    """The next message reaches the host, but its answer is lost with the connection."""
    client = publisher.client
    real = client._public

    def sent_then_lost(frame_type, body):
        real(frame_type, body)
        client.close()
        raise ConnectionClosed("the answer was lost")

    client._public = sent_then_lost


def test_the_publisher_resends_the_same_bytes_and_nothing_executes_twice(bins, policy, tmp_path):
    host = Host(bins, tmp_path / "data", tmp_path / "host.log")
    try:
        fast = ReconnectPolicy(initial_ms=50, cap_ms=500, max_attempts=40)
        pub = ResilientPublisher(host.address, policy, allow_simulated=True, reconnect=fast)
        venue = pub.evidence.venue_id
        custody, key = demo_key("custody", "custody"), bytes(demo_key("trader", "p").verify_key)

        first = pub.deposit(custody, venue, 7101, key, 1_000_000, 1)
        assert first.answer is not None and not first.sequenced_before

        # The worker dies; the next deposit is answered by the restarted one.
        pid = json.loads((host.data / "host.json").read_text())["enclavePid"]
        os.kill(pid, signal.SIGKILL)
        second = pub.deposit(custody, venue, 7101, key, 2_000_000, 2)
        assert second.answer is not None
        assert second.answer.ack.global_sequence > first.answer.ack.global_sequence
        assert pub.stats.reconnects >= 1

        # An answer lost after the host forwarded the deposit: the resend is refused
        # duplicateDeposit, which means it was sequenced once.
        lose_next_answer(pub)
        third = pub.deposit(custody, venue, 7101, key, 3_000_000, 3)
        assert third.sequenced_before and third.answer is None
        assert pub.stats.connections_lost >= 1 and pub.stats.resends >= 1

        # The same for a price: the resend is the same signed message, refused stalePrice.
        publisher = demo_key("publisher", "pyth-a")
        lose_next_answer(pub)
        price = pub.publish_price(publisher, DOGE, 150_000, 100, time.time_ns())
        assert price.sequenced_before

        # A deposit id already used, sent for the first time, is the caller's error.
        with pytest.raises(Refused) as refused:
            pub.deposit(custody, venue, 7101, key, 1_000_000, 1)
        assert refused.value.label == "duplicateDeposit"
        with pytest.raises(ValueError):
            pub.send(wire.SEALED_REQUEST, b"")
        pub.close()
    finally:
        host.stop()
