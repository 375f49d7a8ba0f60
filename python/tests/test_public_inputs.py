"""COMMITMENTS §5.3 in the SDK: strict input records, the mark replay's guard rails, and a
decision's execution rules (the live test runs the whole check table against the Swift
auditor on a real epoch)."""

from __future__ import annotations

import pytest

from sealstream.outputs.public import Oracle, _Check, _check_execution, read_input
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
         "autoDeleveraged": 0, "liquidationFee": 1, "equity": 1, "maintenanceRequirement": 2,
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
    ],
)
def test_execution_rules(over, error):
    check = _Check()
    _check_execution([_decision(**over)], 50, check)
    assert check.v.get("error") == error
