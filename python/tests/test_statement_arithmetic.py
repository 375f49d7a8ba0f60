"""The statement arithmetic of docs/COMMITMENTS.md §7.2 without a host: an option
settlement (kind 9) closes the position at ⌊quantity × value / 10⁸⌋, rounded toward −∞."""
from sealstream.statement import Balance, Entry, Page, _arithmetic

USD = 1_000_000
Q = 10_000_000  # 0.1 of a whole unit


def page(entries):
    return Page(status="ok", account_id=7, since=0, oldest=0, head=10, entries=entries)


def test_a_long_settles_rounded_down_and_a_short_pays_rounded_up():
    value = 333_333  # per whole unit
    long_after = Balance(100 * USD + Q * value // 100_000_000, ())
    opening_long = Balance(100 * USD, ((101, Q),))
    p = page([Entry(1, "optionSettlement", 101, value, Q, 33_333, long_after)])
    p.opening = opening_long
    assert _arithmetic(p) is None
    # The short side: -⌈0.1 × 333,333⌉ = -33,334.
    p = page([Entry(1, "optionSettlement", 101, value, -Q, -33_334, Balance(100 * USD - 33_334, ()))])
    p.opening = Balance(100 * USD, ((101, -Q),))
    assert _arithmetic(p) is None


def test_a_settlement_that_does_not_follow_the_rules_is_named():
    opening = Balance(100 * USD, ((101, Q),))
    for entry in (
        Entry(1, "optionSettlement", 101, 333_333, Q, 33_334, Balance(100 * USD + 33_334, ())),  # rounded up
        Entry(1, "optionSettlement", 101, 333_333, Q // 2, 16_666, Balance(100 * USD + 16_666, ())),  # not the position
        Entry(1, "optionSettlement", 101, 333_333, Q, 33_333, Balance(100 * USD + 33_333, ((101, Q),))),  # kept open
    ):
        p = page([entry])
        p.opening = opening
        assert _arithmetic(p) is not None, entry
