"""Private statements through the Python SDK against a real host and enclave
(docs/COMMITMENTS.md §7, docs/PROTOCOL.md §2.16): a maker and a taker trade, one
withdraws; each fetches its statement, which passes the nine checks; another account's
request is refused notOwner; a tampered statement fails at the named check."""

from __future__ import annotations

import dataclasses
import secrets
import time

import pytest
from live import Host, bin_dir

from sealstream import statement
from sealstream.client import Client
from sealstream.demo import demo_key
from sealstream.messages import Side, TimeInForce
from sealstream.proofs import Domain

USD, BTC = 1_000_000, 100_000_000
MARK = 60_000 * USD


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    work = tmp_path_factory.mktemp("statement")
    h = Host(bin_dir(), work / "data", work / "host.log")
    yield h
    assert h.stop() == 0


def _trader(host: Host, account: int, name: str, venue_id: int):
    c = Client(host.address)
    c.trust_without_attestation()
    key = demo_key("trader", name)
    answer = c.deposit(demo_key("custody", "custody"), venue_id, account, bytes(key.verify_key), 1_000 * USD,
                       secrets.randbits(63))  # fmt: skip
    assert answer.ack.global_sequence > 0
    for p in ("pyth-a", "pyth-b", "chainlink-c"):
        c.publish_price(demo_key("publisher", p), 1, MARK, 0, time.time_ns())
    return c, c.open_session(account, key)


def _first_failure(checks: list[dict]) -> str | None:
    return next((c["check"] for c in checks if not c["pass"]), None)


def test_statements_verify_and_are_their_owners_only(host):
    probe = Client(host.address)
    evidence = probe.trust_without_attestation()
    domain = Domain.from_evidence(evidence)
    ca, a = _trader(host, 5101, "py-statement-a", evidence.venue_id)
    cb, b = _trader(host, 5102, "py-statement-b", evidence.venue_id)
    assert a.place("a-ask", 1, Side.SELL, MARK, BTC // 100).receipt.status.label == "accepted"
    assert b.place("b-buy", 1, Side.BUY, MARK, BTC // 200, time_in_force=TimeInForce.IOC).receipt.status.label == "accepted"
    assert a.withdraw("a-out", 3 * USD).receipt.status.label == "accepted"

    s = a.statement(0)
    checks = statement.verify(s, 5101, domain)
    assert _first_failure(checks) is None, checks
    assert [e.kind for e in s.entries] == ["deposit", "makerFill", "withdrawal"]
    fill = s.entries[1]
    assert fill.quantity == -(BTC // 200) and fill.price == MARK and fill.after.positions == ((1, -(BTC // 200)),)
    sb = b.statement(0)
    assert _first_failure(statement.verify(sb, 5102, domain)) is None
    assert [e.kind for e in sb.entries] == ["deposit", "takerFill"]
    # Since-filtering.
    later = a.statement(s.entries[0].sequence)
    assert later.entries == s.entries[1:] and later.opening == s.entries[0].after

    # Another account's session asks for A's statement: refused, sealed, notOwner.
    refused = b.statement_page(0, account_id=5101)
    assert refused.status == "notOwner" and refused.account_id == 5102 and not refused.entries

    # Tampering fails at the named check.
    forged = dataclasses.replace(s, entries=[dataclasses.replace(s.entries[1], amount=s.entries[1].amount + 1)] + s.entries[2:])
    forged.entries.insert(0, s.entries[0])
    assert _first_failure(statement.verify(forged, 5101, domain)) == "statement.arithmetic"
    state = bytearray(s.leaf.state)
    state[20] ^= 1
    forged = dataclasses.replace(s, leaf=dataclasses.replace(s.leaf, state=bytes(state)))
    assert _first_failure(statement.verify(forged, 5101, domain)) == "leaf.inclusion"
    other = Domain("0x" + "11" * 20, domain.chain_id, domain.verifying_contract, domain.venue_id)
    assert _first_failure(statement.verify(s, 5101, other)) == "header.signature"
    assert _first_failure(statement.verify(s, 5102, domain)) == "statement.order"
    for c in (probe, ca, cb):
        c.close()
