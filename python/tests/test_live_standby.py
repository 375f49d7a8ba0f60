"""PROTOCOL.md §2.9 and §2.14 through the SDK against a real hot standby (REPLICATION.md
§8) on a three-node JetStream cluster (scripts/cluster.sh): the standby's address comes
first, answers `notPrimary`, and the trader moves on to the primary; once the primary
machine is killed, the same standby address serves the trader after its takeover."""

from __future__ import annotations

import subprocess
import time

import pytest
from live import ROOT, VENUE, Host
from test_live_failover import bid, kill_machine, sealed_request_leaves
from test_live_recovery import bins, fund, policy  # noqa: F401 (fixtures)

from sealstream import scenario
from sealstream.client import Client
from sealstream.demo import demo_key
from sealstream.errors import Refused
from sealstream.recovery import ReconnectPolicy, ResilientTrader


@pytest.fixture()
def cluster(tmp_path):
    directory = tmp_path / "nats"
    out = subprocess.run([str(ROOT / "scripts" / "cluster.sh"), "start", str(directory)], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.fail(f"scripts/cluster.sh start failed (nats-server installed? scripts/bootstrap.sh): {out.stderr}")
    yield out.stdout.strip().splitlines()[-1]
    subprocess.run([str(ROOT / "scripts" / "cluster.sh"), "stop", str(directory)], capture_output=True)


def test_the_standby_answers_not_primary_and_serves_after_its_takeover(bins, cluster, policy, tmp_path):  # noqa: F811
    journal = ["--journal", cluster]
    primary = Host(bins, tmp_path / "p", tmp_path / "p.log", extra=journal)
    hosts = [primary]
    try:
        standby = Host(bins, tmp_path / "s", tmp_path / "s.log", extra=journal, standby=True)
        hosts.append(standby)
        # A single-address client meets the refusal itself, before any evidence.
        with Client(standby.address) as c, pytest.raises(Refused) as refused:
            c.attest(policy, allow_simulated=True)
        assert refused.value.label == "notPrimary"

        # The scenario runner (no failover) skips the standby for the primary.
        run = scenario.run("trader sc account=7202\ndeposit sc 1000\n", scenario.load_venue(str(VENUE)),
                           f"{standby.address},{primary.address}", policy, allow_simulated=True, settle_seconds=0)  # fmt: skip
        assert [a.kind for a in run.answers] == ["ack"]

        fund(primary.address, policy, 7201)
        fast = ReconnectPolicy(initial_ms=50, cap_ms=500, max_attempts=60)
        trader = ResilientTrader("", policy, 7201, demo_key("trader", "r"), allow_simulated=True, reconnect=fast,
                                 hosts=[standby.address, primary.address])  # fmt: skip
        assert trader.current == primary.address and trader.stats.not_primary == 1
        assert trader.request(bid("np-0")).receipt.status.label == "accepted"

        kill_machine(primary)
        hosts.remove(primary)
        answers = [trader.request(bid(f"np-{i}")) for i in range(1, 6)]
        assert all(a.receipt.status.label == "accepted" for a in answers)
        assert trader.current == standby.address and trader.stats.failovers == 1
        trader.close()
        deadline = time.monotonic() + 10
        while "listen" not in (standby._info() or {}) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (standby._info() or {}).get("listen") == standby.address  # the same listener serves
        assert standby.stop() == 0
        hosts.remove(standby)
        assert sealed_request_leaves(tmp_path / "s") == 6
    finally:
        for h in hosts:
            if h.proc.poll() is None:
                h.stop()
