"""The `smile` line of docs/SCENARIOS.md, parsed as the Swift client parses it
(Tests/VenueToolsTests/ScenarioTests.swift)."""

from __future__ import annotations

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
    ],
)
def test_a_bad_smile_line_is_refused(line):
    with pytest.raises(ScenarioError):
        scenario.parse(line, VENUE)
