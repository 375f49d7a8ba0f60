"""The SDK's option-mark arithmetic (`sealstream.outputs.option_marks`, COMMITMENTS §5.3 check 24a)
against the committed reference vectors of docs/OPTIONS.md §8: the exact outputs that the Swift
Options module equals bit for bit, so the SDK recomputes the enclave's option marks to the micro-unit."""

from __future__ import annotations

import json
import pathlib

import pytest

from sealstream.outputs import option_marks as om

VECTORS = json.loads(
    (pathlib.Path(__file__).resolve().parents[2] / "Tests" / "OptionsTests" / "Resources" / "vectors.json").read_text()
)


def test_black76_prices_and_greeks_are_the_reference_values():
    checked = 0
    for c in VECTORS["black76"]:
        sigma = om._ratio(c["volatilityPpm"], 10**6)
        t = om._ratio(c["nanos"], om.Y)
        try:
            got = om._price(c["kind"], c["forward"], c["strike"], sigma, t)
        except om.Refused:
            pytest.fail(f"refused a reference case {c}")
        assert got == int(c["exact"][0]) >> 64, c
        # and the Greeks the market data publishes come from the reference's exact raw values
        assert om._black76(c["kind"], c["forward"], c["strike"], sigma, t)[1:] == tuple(int(x) for x in c["exact"][1:]), c
        checked += 1
    assert checked == 1354


def test_svi_volatilities_are_the_reference_values():
    for c in VECTORS["svi"]:
        params = tuple(om._q(c[k]) for k in ("a", "b", "rho", "m", "sigma"))
        got = om._svi_volatility(params, c["forward"], c["strike"], om._ratio(c["nanos"], om.Y))
        assert got == int(c["exact"]), c


def test_the_estimator_follows_the_reference_sequences():
    for c in VECTORS["ewma"]:
        u = om._Underlying(
            {"margin": {"volUpBps": 0}, "smiles": [],
             "realizedVolatility": {"halfLifeNanos": c["halfLifeNanos"], "minIntervalNanos": c["minIntervalNanos"],
                                    "initialVolatilityPpm": 0}},
            [], {"publishers": [], "stalenessNanos": 1})  # fmt: skip
        u.variance = int(c["initialVariance"])
        for price, time in c["ticks"]:
            u.sample(price, time)
        assert u.variance == int(c["exact"]), c


def test_a_volatility_beyond_16_refuses_the_underlying():
    t = om._ratio(3_600 * 10**9, om.Y)  # one hour
    with pytest.raises(om.Refused):
        om._svi_volatility((om._q(20_000_000), om._q(100_000_000), om._q(-300_000_000), 0, om._q(100_000_000)),
                           60_000 * 10**6, 60_000 * 10**6, t)  # fmt: skip
