"""COMMITMENTS §5.3 in the SDK: strict input records, the mark replay's guard rails, and a
decision's execution rules (the live test runs the whole check table against the Swift
auditor on a real epoch)."""

from __future__ import annotations

import json

import pytest

from sealstream import messages
from sealstream.demo import demo_key
from sealstream.outputs.public import (
    Oracle, _Check, _check_execution, _check_smile, input_body, read_input, scenario_fault, svi_violation,
)
from sealstream.outputs.strict import RecordError

S = 1_000_000_000
D = 1_000_000
ORACLE = {
    "publishers": ["01" * 32, "02" * 32, "03" * 32], "minPublishers": 2, "stalenessNanos": 10 * S,
    "maxConfidenceBps": 50, "maxDeviationBps": 1000, "jumpConfirmationNanos": 5 * S,
}  # fmt: skip


@pytest.mark.parametrize(
    "text, name, path",
    [
        (b'{"kind":"swap"}', "outOfRange", "$.kind"),
        (b'{"kind":1}', "wrongType", "$.kind"),
        (b'{"sequence":1}', "missingField", "$.kind"),
        (b'{"kind":"deposit","market":1}', "unknownField", "$.market"),
        (b'{"kind":"deposit","kind":"deposit"}', "duplicateKey", None),
        (b"[]", "wrongType", "$"),
    ],
)
def test_input_records_are_read_kind_first(text, name, path):
    with pytest.raises(RecordError) as e:
        read_input(text)
    assert e.value.name == name and (path is None or e.value.path == path)


def _price(o: Oracle, price: int, who: int, t: int) -> None:
    o.record({"publisher": "0x" + f"{who:02x}" * 32, "price": price, "confidence": 0, "publishTime": t}, t)
    o.mark(t)


def test_a_jump_halts_until_confirmed_and_staleness_expires_the_cache():
    o, t = Oracle(ORACLE), 1000 * S
    _price(o, 60_000 * D, 1, t)
    assert o.mark(t) == (None, "tooFewPublishers")
    _price(o, 60_000 * D, 2, t + 1)
    assert o.mark(t + 1) == (60_000 * D, None)
    _price(o, 80_000 * D, 1, t + 2)
    _price(o, 80_000 * D, 2, t + 3)
    assert o.mark(t + 3) == (None, "deviation")
    _price(o, 80_000 * D, 1, t + 6 * S)
    assert o.mark(t + 6 * S) == (80_000 * D, None), "confirmed after 5 s"
    assert o.mark(t + 20 * S) == (None, "stale")


def _decision(**over):
    d = {"isBuy": False, "worstPrice": 56_500 * D, "size": 100, "filledOnBook": 100, "toInsuranceFund": 0,
         "autoDeleveraged": 0, "liquidationFee": 1, "equity": 1, "maintenanceRequirement": 2, "reasonCode": 1,
         "fills": [{"kind": "book", "price": 58_000 * D, "quantity": 100}]}  # fmt: skip
    d.update(over)
    return d


@pytest.mark.parametrize(
    "over, error",
    [
        ({}, None),
        ({"fills": [{"kind": "book", "price": 56_000 * D, "quantity": 100}]}, "price"),
        ({"fills": [{"kind": "insuranceFund", "price": 56_500 * D, "quantity": 50},
                    {"kind": "book", "price": 58_000 * D, "quantity": 50}]}, "order"),  # fmt: skip
        ({"size": 101}, "quantities"),
        ({"liquidationFee": 10**9}, "fee"),
        ({"equity": 2}, "notBelowMaintenance"),
        ({"equity": 2, "reasonCode": 3}, None),  # greek-limit: not a margin shortfall (OPTIONS §10.11)
    ],
)
def test_execution_rules(over, error):
    check = _Check()
    _check_execution([_decision(**over)], 50, check)
    assert check.v.get("error") == error


def _smile_record(publisher, **over) -> dict:
    svi = (20_000_000, 100_000_000, -300_000_000, 0, 100_000_000)
    msg = messages.smile_message(1, 30 * 86_400 * S, svi, 1_000 * S)
    r = {"a": svi[0], "b": svi[1], "enclaveTime": 1_000 * S + 5, "expiry": 30 * 86_400 * S, "kind": "oracleSmile",
         "m": svi[3], "publishTime": 1_000 * S, "publisher": "0x" + bytes(publisher.verify_key).hex(), "rho": svi[2],
         "sequence": 3, "sigma": svi[4], "signature": "0x" + publisher.sign(msg).signature.hex(), "underlying": 1}  # fmt: skip
    r.update(over)
    return r


def test_a_smile_record_reads_strictly_and_rebuilds_its_body():
    publisher = demo_key("publisher", "pyth-a")
    r = _smile_record(publisher)
    line = json.dumps(r, sort_keys=True, separators=(",", ":")).encode()
    assert read_input(line) == r
    svi = (r["a"], r["b"], r["rho"], r["m"], r["sigma"])
    signed = messages.smile_message(1, r["expiry"], svi, r["publishTime"])
    assert input_body(r) == messages.smile_body(1, r["expiry"], svi, r["publishTime"], bytes(publisher.verify_key),
                                                publisher.sign(signed).signature)  # fmt: skip
    with pytest.raises(RecordError) as e:
        read_input(json.dumps({**r, "price": 1}, sort_keys=True, separators=(",", ":")).encode())
    assert e.value.name == "unknownField"


@pytest.mark.parametrize(
    "svi, violation",
    [
        ((20_000_000, 100_000_000, -300_000_000, 0, 100_000_000), None),
        ((2**20 * S + 1, 0, 0, 0, 1), "parameterOutOfRange"),
        ((0, -1, 0, 0, 1), "negativeSlope"),
        ((0, 1, S, 0, 1), "correlationOutOfRange"),
        ((0, 1, 0, 0, 0), "nonPositiveSigma"),
        # a + b σ √(1 − ρ²) with each Q64 conversion floored: −0.1 + 0.1 is one ulp below 0
        # (the Swift suite checks the same pair: SignedSmileTests).
        ((-100_000_000, S, 0, 0, 100_000_000), "negativeMinimumVariance"),
        ((-99_999_999, S, 0, 0, 100_000_000), None),
        ((0, S, S - 1, 0, 1), None),
        ((0, S, S - 1 + 1_000, 0, 1), "correlationOutOfRange"),
        ((0, 2 * S, 1, 0, 1), "wingTooSteep"),
    ],
)
def test_svi_checks_follow_options_5_2(svi, violation):
    assert svi_violation(*svi) == violation


def test_smile_admission_in_the_enclaves_order():
    publisher = demo_key("publisher", "pyth-a")
    config = {"markets": [{"id": 1, "oracle": {**ORACLE, "publishers": [bytes(publisher.verify_key).hex()]}}],
              "options": {"markets": [{"underlying": 1, "expiry": 30 * 86_400 * S}]}}  # fmt: skip
    markets = {m["id"]: m for m in config["markets"]}

    def run(*records):
        signature, admission, last = _Check(), _Check(), {}
        for r in records:
            _check_smile(r, markets, config["options"], last, _valid, signature, admission)
        return signature.v, admission.v

    ok = _smile_record(publisher)
    assert run(ok) == (_Check().v, _Check().v)
    assert run(_smile_record(publisher, underlying=2))[0]["error"] == "unknownMarket"
    assert run(_smile_record(demo_key("publisher", "x")))[0]["error"] == "unknownPublisher"
    assert run({**ok, "a": ok["a"] + 1})[0]["error"] == "signature"
    assert run(ok, ok)[1]["error"] == "stalePrice"
    assert run(_smile_record(publisher, enclaveTime=1_011 * S))[1]["error"] == "stalePrice"


def _valid(key, message, sig) -> bool:
    try:
        key.verify(message, sig)
        return True
    except Exception:
        return False


def _portfolio(**over):
    p = {"underlying": 1, "mark": 58_000 * D, "scanBps": 700, "scenario": 31, "moveSteps": 2, "volShiftBps": 5_000,
         "price": 58_000 * D + (58_000 * D * 700 * 2 + 79_999) // 80_000, "loss": 97_000, "shortOptionContingency": 1_000,
         "confidenceContingency": 0}  # fmt: skip
    p.update(over)
    return p


_GRID = {"options": {"markets": [{"id": 101, "underlying": 1}], "underlyings": [{"market": 1, "margin": {
    "priceBuckets": 8, "minScanBps": 500, "maxScanBps": 3_000, "volUpBps": 5_000, "volDownBps": 3_000,
    "extremeMultiple": 3}}]}}  # fmt: skip


@pytest.mark.parametrize(
    "portfolio, market, config, error",
    [
        ({}, 1, _GRID, None),
        ({}, 1, None, None),
        ({"loss": 97_001}, 1, None, "maintenance"),
        ({"confidenceContingency": 1, "loss": 96_999}, 1, None, None),
        ({"confidenceContingency": -1, "loss": 97_001}, 1, None, "range"),
        ({"volShiftBps": -3_000}, 1, _GRID, "grid"),
        ({"volShiftBps": -3_000}, 1, None, None),
        ({"scenario": 53}, 1, _GRID, "grid"),
        ({"scanBps": 3_001, "price": 58_000 * D + (58_000 * D * 3_001 * 2 + 79_999) // 80_000}, 1, _GRID, "scan"),
        ({"price": 1}, 1, _GRID, "price"),
        ({"underlying": 2}, 1, _GRID, "underlying"),
        (None, 101, _GRID, "missing"),
        (None, 1, _GRID, None),
    ],
)
def test_scenario_rules(portfolio, market, config, error):
    """COMMITMENTS §5.3 check 25a, the same cases as the Swift DecisionScenarioTests."""
    scenario = None if portfolio is None else {"linearRequirement": 2_000, "portfolios": [_portfolio(**portfolio)]}
    d = {"market": market, "maintenanceRequirement": 100_000, "scenario": scenario, "reasonCode": 1}
    assert scenario_fault(d, config) == error


@pytest.mark.parametrize("config", [_GRID, None])
def test_an_escalation_without_a_scenario_is_missing_one(config):
    """An escalation (reason 3) is taken only on an account holding an option: a null scenario
    is `missing`, on any market and with or without the configuration."""
    d = {"market": 1, "maintenanceRequirement": 100_000, "scenario": None, "reasonCode": 3}
    assert scenario_fault(d, config) == "missing"
