"""docs/SCENARIOS.md "Parse rules", as the Swift runner's `Scenario.parse` applies them
(Tests/VenueToolsTests/ScenarioTests.swift): the same lines are refused, and the same
requests come out of the lines both accept."""

from __future__ import annotations

import pytest

from sealstream import messages, scenario
from sealstream.errors import ScenarioError

VENUE = {"markets": [{"id": 1, "symbol": "BTC-PERP"}]}
T = "trader a account=1\n"


@pytest.mark.parametrize("text", [
    "trader a account=0", "trader a account=+5", "trader a account=1=2", "trader a",
    T + "deposit a -5", T + "deposit a 0", T + "deposit a 1e3", T + "deposit a 1_000", T + "deposit a",
    T + "withdraw a -1", T + "order a purchase BTC-PERP 1 @ 100", T + "order a buy BTC-PERP 1 100",
    T + "market a buy BTC-PERP 1", T + "wait -5ms", T + "wait +5ms", T + "wait 1.5s", T + "wait",
    T + "price BTC-PERP 100 conf=-1", T + "cancel a", T + "cancel a x y",
    T + "order a buy BTC-PERP 1 @ 100 id=" + "x" * 37,
])
def test_lines_the_swift_runner_refuses_are_refused(text: str) -> None:
    with pytest.raises(ScenarioError):
        scenario.parse(text, VENUE)


def test_time_in_force_post_only_wins_and_a_market_order_is_ioc_unless_post_only() -> None:
    def tif(line: str) -> messages.TimeInForce:
        return scenario.parse(T + line, VENUE)[-1].args["tif"]

    assert tif("order a buy BTC-PERP 1 @ 100") == messages.TimeInForce.GTC
    assert tif("order a buy BTC-PERP 1 @ 100 gtc") == messages.TimeInForce.GTC
    assert tif("order a buy BTC-PERP 1 @ 100 ioc") == messages.TimeInForce.IOC
    for _ in range(20):  # was the first of a set's iteration order
        assert tif("order a buy BTC-PERP 1 @ 100 ioc post-only") == messages.TimeInForce.POST_ONLY
    assert tif("market a buy BTC-PERP 1 worst=100") == messages.TimeInForce.IOC
    assert tif("market a buy BTC-PERP 1 worst=100 post-only") == messages.TimeInForce.POST_ONLY


def test_accepted_forms() -> None:
    steps = scenario.parse(T + "deposit a 5.\t# a comment\nwait 2s\nprice BTC-PERP -1 foo conf=1 conf=2", VENUE)
    assert steps[1].args["amount"] == 5_000_000
    assert steps[2].args["ms"] == 2_000
    assert (steps[3].args["price"], steps[3].args["conf"]) == (-1_000_000, 2_000_000)
