"""PROTOCOL.md §2.14 through the SDK against real hosts: the primary machine is killed
mid-run; the same enclave identity comes up at the second address (a host on the same
data directory: same storage key, the journal recovers); the trader fails over by itself,
resends, and every order is sequenced exactly once. A host of another identity at the
second address is refused and gets nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import pytest
from live import VENUE, Host, bin_dir
from test_live_recovery import DOGE, fund, policy  # noqa: F401 (fixture)

from sealstream import messages, scenario
from sealstream.demo import demo_key
from sealstream.recovery import ReconnectPolicy, RecoveryFailed, ResilientTrader

ORDERS = 30


@pytest.fixture(scope="module")
def bins():
    return bin_dir()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_machine(host: Host) -> None:
    """SIGKILL the host and its worker (children of this test): the machine is gone."""
    worker = json.loads((host.data / "host.json").read_text()).get("enclavePid", 0)
    host.proc.kill()
    if worker:
        try:
            os.kill(worker, signal.SIGKILL)
        except ProcessLookupError:
            pass
    host.proc.wait()
    host.log.close()


def sealed_request_leaves(data) -> int:
    """Leaves of messageType 3 (sealed requests) in outputs/events.log (COMMITMENTS.md §2.1)."""
    log = (data / "outputs" / "events.log").read_bytes() if (data / "outputs" / "events.log").exists() else b""
    assert len(log) % 49 == 0
    return sum(1 for i in range(0, len(log), 49) if log[i + 16] == 3)


def bid(cid: str) -> bytes:
    return messages.new_order(cid, DOGE, messages.Side.BUY, 140_000, 100_000_000)


def test_the_trader_fails_over_to_the_same_enclave_and_nothing_executes_twice(bins, policy, tmp_path):  # noqa: F811
    data = tmp_path / "data"
    first = Host(bins, data, tmp_path / "first.log")
    second_address = f"127.0.0.1:{free_port()}"
    hosts: list[Host] = [first]
    lines: list[str] = []
    try:
        fund(first.address, policy, 7101)
        fast = ReconnectPolicy(initial_ms=50, cap_ms=500, max_attempts=40)
        trader = ResilientTrader("", policy, 7101, demo_key("trader", "r"), allow_simulated=True, reconnect=fast,
                                 hosts=[first.address, second_address], log=lines.append)  # fmt: skip
        early = trader.request(bid("fo-early"))
        assert early.receipt.status.label == "accepted"

        def takeover():
            time.sleep(0.8)
            kill_machine(first)
            hosts.append(Host(bins, data, tmp_path / "second.log", listen=second_address))

        thread = threading.Thread(target=takeover)
        thread.start()
        answers = {}
        for i in range(ORDERS):
            answers[f"fo-{i}"] = trader.request(bid(f"fo-{i}"))
            time.sleep(0.05)
        thread.join()
        assert trader.current == second_address
        assert trader.stats.failovers == 1 and trader.stats.identity_refusals == 0
        assert any(f"failed over to {second_address}" in line for line in lines), lines
        statuses = [a.receipt.status.label for a in answers.values()]
        assert all(s in ("accepted", "duplicate") for s in statuses), statuses
        sequences = [a.receipt.global_sequence for a in answers.values()]
        assert len(set(sequences)) == ORDERS, "each order names its own event"

        # A copy of an order sequenced by the first primary (a receipt lost in the crash)
        # is answered duplicate by the new one, with the original's sequence number.
        again = trader.request(bid("fo-early"))
        assert again.receipt.status.label == "duplicate"
        assert again.receipt.global_sequence == early.receipt.global_sequence
        trader.close()
        assert hosts[-1].stop() == 0
        hosts.pop()
        # Exactly once: one sealed-request leaf per order, none for the resent copies.
        assert sealed_request_leaves(data) == ORDERS + 1
    finally:
        for h in hosts:
            if h.proc.poll() is None:
                h.stop()


def test_a_host_with_another_identity_is_refused_and_gets_nothing(bins, policy, tmp_path):  # noqa: F811
    first = Host(bins, tmp_path / "a", tmp_path / "a.log")
    other = Host(bins, tmp_path / "b", tmp_path / "b.log")
    lines: list[str] = []
    try:
        fund(first.address, policy, 7102)
        fast = ReconnectPolicy(initial_ms=20, cap_ms=100, max_attempts=6)
        trader = ResilientTrader("", policy, 7102, demo_key("trader", "r"), allow_simulated=True, reconnect=fast,
                                 hosts=[first.address, other.address], log=lines.append)  # fmt: skip
        assert trader.request(bid("id-1")).receipt.status.label == "accepted"
        kill_machine(first)
        with pytest.raises(RecoveryFailed, match="failed recovery attempts"):
            trader.request(bid("id-2"))
        assert trader.stats.identity_refusals >= 2 and trader.stats.failovers == 0
        assert any(f"refused the host at {other.address}" in line for line in lines), lines
        trader.close()
    finally:
        if first.proc.poll() is None:
            first.stop()
        assert other.stop() == 0
    assert sealed_request_leaves(tmp_path / "b") == 0
    assert not (tmp_path / "b" / "outputs" / "events.log").exists() or (tmp_path / "b" / "outputs" / "events.log").stat().st_size == 0


def test_the_python_scenario_runner_takes_a_host_list(bins, policy, tmp_path):  # noqa: F811
    host = Host(bins, tmp_path / "data", tmp_path / "host.log")
    try:
        text = "trader sc account=7103\ndeposit sc 1000\n"
        run = scenario.run(text, scenario.load_venue(str(VENUE)), f"127.0.0.1:{free_port()},{host.address}", policy,
                           allow_simulated=True, settle_seconds=0)  # fmt: skip
        assert [a.kind for a in run.answers] == ["ack"], "the dead first address was skipped"
    finally:
        assert host.stop() == 0
