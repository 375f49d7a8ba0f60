"""The `smile` line and option order lines of docs/SCENARIOS.md, parsed as the Swift client
parses them (Tests/VenueToolsTests/ScenarioTests.swift, OptionScenarioTests.swift)."""

from __future__ import annotations

import json
import pathlib

import pytest

from sealstream import scenario
from sealstream.errors import ScenarioError

VENUE = {
    "markets": [{"id": 1, "symbol": "BTC-PERP"}],
    "options": {"markets": [{"id": 101, "symbol": "BTC-C-50000", "underlying": 1, "expiry": 2_592_000 * 10**9}]},
}


def test_a_smile_line_names_an_option_market_and_takes_nano_units():
    steps = scenario.parse("smile BTC-C-50000 sigma=0.1 a=0.02 b=0.1 rho=-0.3 m=0.000000001 publisher=pyth-b", VENUE)
    assert steps[0].op == "smile" and steps[0].args == {
        "underlying": 1, "expiry": 2_592_000 * 10**9, "svi": (20_000_000, 100_000_000, -300_000_000, 1, 100_000_000),
        "publisher": "pyth-b"}  # fmt: skip


@pytest.mark.parametrize(
    "line",
    [
        "smile BTC-C-50000 a=0.02 b=0.1 rho=-0.3 m=0",
        "smile BTC-C-50000 a=0.0000000001 b=0.1 rho=-0.3 m=0 sigma=1",
        "smile BTC-C-50000 a=0.02 b=0.1 rho=-0.3 m=0 sigma=0.1 conf=1",
        "smile BTC-C-50000 a=x b=0.1 rho=0 m=0 sigma=1",
        "smile BTC-PERP a=0.02 b=0.1 rho=-0.3 m=0 sigma=0.1",
        # The exact number syntax of docs/SCENARIOS.md, and each option once.
        "smile BTC-C-50000 a=+0.02 b=0.1 rho=-0.3 m=0 sigma=0.1",
        "smile BTC-C-50000 a=2e-2 b=0.1 rho=-0.3 m=0 sigma=0.1",
        "smile BTC-C-50000 a=.02 b=0.1 rho=-0.3 m=0 sigma=0.1",
        "smile BTC-C-50000 a=1. b=0.1 rho=-0.3 m=0 sigma=0.1",
        "smile BTC-C-50000 a=1_000 b=0.1 rho=-0.3 m=0 sigma=0.1",
        "smile BTC-C-50000 a=Infinity b=0.1 rho=-0.3 m=0 sigma=0.1",
        "smile BTC-C-50000 a=- b=0.1 rho=-0.3 m=0 sigma=0.1",
        "smile BTC-C-50000 a=9223372036.854775808 b=0.1 rho=-0.3 m=0 sigma=0.1",
        "smile BTC-C-50000 a=0.02 a=0.03 b=0.1 rho=-0.3 m=0 sigma=0.1",
    ],
)
def test_a_bad_smile_line_is_refused(line):
    with pytest.raises(ScenarioError):
        scenario.parse(line, VENUE)


def test_smile_numbers_reach_both_ends_of_the_i64_range():
    steps = scenario.parse("smile BTC-C-50000 a=-9223372036.854775808 b=9223372036.854775807 rho=-0 m=007 sigma=1.5", VENUE)
    assert steps[0].args["svi"] == (-(2**63), 2**63 - 1, 0, 7_000_000_000, 1_500_000_000)


def test_an_order_line_names_an_option_market_by_its_symbol():
    """docs/SCENARIOS.md "Option markets": the premium in quote units, the quantity in base units."""
    steps = scenario.parse("trader a account=1\norder a sell BTC-C-50000 0.1 @ 22000.1 ioc id=w", VENUE)
    assert steps[1].args["market"] == 101
    assert steps[1].args["price"] == 22_000_100_000 and steps[1].args["quantity"] == 10_000_000


def test_a_price_line_never_names_an_option_market():
    with pytest.raises(ScenarioError):
        scenario.parse("price BTC-C-50000 100", VENUE)


def test_the_bundled_options_scenario_parses_against_its_venue():
    demo = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "demo"
    venue = json.loads((demo / "options-venue.json").read_text())
    steps = scenario.parse((demo / "options-scenario.txt").read_text(), venue)
    option_ids = {m["id"] for m in venue["options"]["markets"]}
    assert sum(s.op == "order" and s.args["market"] in option_ids for s in steps) >= 8
