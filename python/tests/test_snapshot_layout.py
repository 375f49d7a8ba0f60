"""scripts/snapshot_layout.py's reader of the statement logs (docs/DURABILITY.md §6.5) on
hand-built bytes: the refusals the Swift tests reach only through the Swift reader, or
through real payloads that cannot hold them (a log or openings of account 0, an opening's
mark with a maintenance bps the venue does not give its market)."""

from __future__ import annotations

import importlib.util
import struct

import pytest
from conftest import ROOT

_spec = importlib.util.spec_from_file_location("snapshot_layout", ROOT / "scripts" / "snapshot_layout.py")
layout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layout)

HEAD = 31
# BTC (1) large-cap, SOL (3) mid-cap, and a call on BTC (101), as the demo venue with options.
VENUE = {"maintenanceBps": {"1": 300, "3": 500}, "optionMarkets": [101, 102]}


def state(account: int, positions: list[tuple[int, int]]) -> bytes:
    """A COMMITMENTS §2.2 state: id, collateral, positions (market, size, basis, index), orders."""
    out = struct.pack(">QqQI", account, 0, 5, len(positions))
    for market, size in positions:
        out += struct.pack(">Iq", market, size) + bytes(32)
    return out + struct.pack(">I", 1)


def log(account: int) -> bytes:
    """One log: window start 0, an empty opening balance, one deposit entry at sequence 3."""
    entry = struct.pack(">QBIqqq", 3, 1, 0, 0, 0, 7) + bytes(16)
    return struct.pack(">QQ", account, 0) + bytes(16) + struct.pack(">HI", 0, 1) + entry


def opening(account: int, positions: list[tuple[int, int]], bps: list[int]) -> bytes:
    """One account's one opening at (sequence 3, step 0) with a mark per position."""
    s = state(account, positions)
    out = struct.pack(">QBQII", account, 1, 3, 0, len(s)) + s + struct.pack(">H", len(positions))
    for (market, _), b in zip(positions, bps):
        out += struct.pack(">IqI", market, 60_000_000_000, b)
    return out


def read(logs: list[bytes], openings: list[bytes], venue: dict = VENUE):
    data = struct.pack(">I", len(logs)) + b"".join(logs) + struct.pack(">I", len(openings)) + b"".join(openings)
    r = layout.Reader(data)
    out = layout.statement_logs(r, HEAD, venue)
    assert r.o == len(data)
    return out


def refusal(logs: list[bytes], openings: list[bytes], venue: dict = VENUE) -> str:
    with pytest.raises(layout.Malformed) as e:
        read(logs, openings, venue)
    return str(e.value)


def test_reads_a_log_and_an_opening():
    out = read([log(4)], [opening(5, [(1, 40), (3, -2)], [300, 500])])
    assert out == {"logs": [[4, 0, 1]], "openings": [[5, 1]]}


def test_refuses_a_log_or_openings_of_the_insurance_fund():
    assert refusal([log(0)], []) == "statement log of 0"
    assert refusal([log(0), log(4)], []) == "statement log of 0"
    assert refusal([], [opening(0, [], [])]) == "statement openings of 0"
    assert refusal([log(4)], [opening(0, [(1, 40)], [300])]) == "statement openings of 0"


@pytest.mark.parametrize(
    "positions, bps, why",
    [
        ([(1, 40), (3, -2)], [300, 300], "market 3 (mid-cap, 500) with large-cap's 300"),
        ([(1, 40), (3, -2)], [0, 500], "a perpetual with an option market's 0"),
        ([(1, 40), (101, -2)], [300, 300], "an option market with its underlying's 300"),
        ([(1, 40), (9, 1)], [300, 300], "market 9, which the venue does not list"),
    ],
)
def test_refuses_a_mark_whose_maintenance_is_not_the_venues(positions, bps, why):
    assert refusal([], [opening(5, positions, bps)]) == "opening marks of 5", why


def test_an_option_markets_mark_carries_zero():
    assert read([], [opening(5, [(1, 40), (101, -2)], [300, 0])])["openings"] == [[5, 1]]
    # Without the options in the venue, market 101 is one it does not list.
    without = {"maintenanceBps": {"1": 300}}
    assert refusal([], [opening(5, [(1, 40), (101, -2)], [300, 0])], without) == "opening marks of 5"
