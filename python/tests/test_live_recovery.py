"""PROTOCOL.md §2.12 through the SDK's ResilientTrader against a real host: the worker is
killed under a live session; the trader re-verifies the same identity, reopens its
session and gets its answer; a resent request is answered `duplicate`; another epoch's
identity stops it."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from live import Host, bin_dir, measured_policy

from sealstream import attest, messages
from sealstream.client import Client
from sealstream.demo import demo_key
from sealstream.errors import IdentityChanged
from sealstream.recovery import ReconnectPolicy, ResilientTrader

DOGE = 4


@pytest.fixture(scope="module")
def bins():
    return bin_dir()


@pytest.fixture(scope="module")
def policy(bins, tmp_path_factory):
    return measured_policy(bins, tmp_path_factory.mktemp("recovery") / "policy.json")


def fund(address: str, policy: attest.Policy, account: int) -> None:
    with Client(address) as c:
        e = c.attest(policy, allow_simulated=True)
        c.deposit(demo_key("custody", "custody"), e.venue_id, account, bytes(demo_key("trader", "r").verify_key),
                  10_000_000_000, int.from_bytes(os.urandom(8), "big"))  # fmt: skip
        for name, price in (("pyth-a", 150_000), ("pyth-b", 150_010)):
            c.publish_price(demo_key("publisher", name), DOGE, price, 100, time.time_ns())


def test_the_trader_survives_a_worker_crash_and_refuses_another_epoch(bins, policy, tmp_path):
    host = Host(bins, tmp_path / "data", tmp_path / "host.log")
    other = None
    try:
        fund(host.address, policy, 7001)
        fast = ReconnectPolicy(initial_ms=50, cap_ms=500, max_attempts=40)
        trader = ResilientTrader(host.address, policy, 7001, demo_key("trader", "r"), allow_simulated=True,
                                 reconnect=fast)  # fmt: skip
        bid = lambda cid: messages.new_order(cid, DOGE, messages.Side.BUY, 140_000, 100_000_000)  # noqa: E731
        first = trader.request(bid("r-1"))
        assert first.receipt.status.label == "accepted"

        pid = json.loads((host.data / "host.json").read_text())["enclavePid"]
        os.kill(pid, signal.SIGKILL)  # the worker, a child of the host this test started
        second = trader.request(bid("r-2"))
        assert second.receipt.status.label == "accepted"
        assert second.receipt.global_sequence > first.receipt.global_sequence
        assert trader.stats.reconnects >= 1
        assert json.loads((host.data / "host.json").read_text())["enclaveStarts"] >= 2

        # A copy of a sequenced request (what a resend after a lost receipt is) is not executed again.
        again = trader.request(bid("r-2"))
        assert again.receipt.status.label == "duplicate"
        assert again.receipt.global_sequence == second.receipt.global_sequence

        # Another host has another storage key, so another signer: another epoch.
        other = Host(bins, tmp_path / "other", tmp_path / "other.log")
        trader.addresses = [other.address]
        trader.client.close()  # the connection is lost; recovery reconnects to `addresses`
        with pytest.raises(IdentityChanged):
            trader.request(bid("r-3"))
        trader.close()
    finally:
        host.stop()
        if other:
            other.stop()
