"""sealstream.challenge (docs/COMMITMENTS.md §3, §6.1) and statement openings (§7.2,
PROTOCOL.md §2.16): known answers shared with Tests/CommitmentsTests/DecisionCommitmentTests.swift,
the rounding of the verdict, and an opening decoded from bytes laid out by hand."""

from __future__ import annotations

import struct

import pytest

from sealstream.challenge import Mark, Position, State, decision_salt, health, marks_hash, state_hash
from sealstream.statement import Opening, decode_page

KEY = bytes(range(32))
STATE = State(1001, -59_000_000_000, (Position(1, 100_000_000, 60_000_000_000, 5), Position(2, -7, -3, 0)), 3)


def test_known_answers_match_the_swift_enclave():
    salt = decision_salt(KEY, 1001, 77, 2)
    assert salt.hex() == "bc5bc772817b4d960c72d20f53e220d5f58b6d2c5fe6230a99994cd027906bdd"
    assert state_hash(salt, STATE.encode()).hex() == "b1a504b34c8a130660525dce5c4bedb4a58d1ab304f4f3c9469c216127da7695"
    marks = [Mark(1, 59_500_000_000, 300), Mark(2, -1, 0)]
    assert marks_hash(salt, marks).hex() == "9e90e419970485691a35e8805f7e97f06e115819d3c91a1d6b67aff37650b016"
    assert State.decode(STATE.encode()) == STATE
    with pytest.raises(ValueError):
        State.decode(STATE.encode() + b"\x00")


def test_health_rounds_each_term_outward():
    # A short of 1 unit at 150,000,001 per 10^8: equity term ⌊−1.50000001⌋ = −2, and the
    # requirement ⌈1 × 150,000,001 × 300 / 10¹²⌉ = 1.
    state = State(9, 10, (Position(3, -1),))
    assert health(state, [Mark(3, 150_000_001, 300)], {3: 300}) == (8, 1)
    with pytest.raises(ValueError, match="tier"):
        health(state, [Mark(3, 1, 300)], {})
    with pytest.raises(ValueError, match="marks"):
        health(state, [Mark(4, 1, 300)], {3: 300, 4: 300})


def test_a_page_carries_openings():
    state = STATE.encode()
    head = struct.pack(">BQQQQ", 0, 1001, 0, 0, 99) + struct.pack(">IIQ", 0, 0, 0) + struct.pack(">qQH", 0, 0, 0)
    body = head + struct.pack(">H", 0) + b"\x00"  # no entries, no leaf
    opening = struct.pack(">QI", 77, 2) + bytes(32) + struct.pack(">H", len(state)) + state
    opening += struct.pack(">H", 2) + struct.pack(">IqI", 1, 59_500_000_000, 300) + struct.pack(">IqI", 2, -1, 0)
    page = decode_page(body + struct.pack(">H", 1) + opening)
    assert page.openings == [Opening(77, 2, bytes(32), state, ((1, 59_500_000_000, 300), (2, -1, 0)))]
    assert decode_page(body + struct.pack(">H", 0)).openings == []
