"""challengeLiquidation (docs/COMMITMENTS.md §6.1) against decisions whose commitments
are built by the Python SDK's `sealstream.challenge` (written from the docs, sharing
nothing with the contract): every challenge of a decision that was right fails with its
named reason, and a decision that was wrong is proven and freezes its epoch.

The decisions here are made by these helpers, not by the enclave; the enclave's own
commitments are opened in test_real_outputs.py.
"""

from __future__ import annotations

import json
import random

import pytest
from eth_account import Account
from eth_utils import keccak

import reference
from evm import decision_tuple, fresh_chain, reverts, submit_args
from sealstream.challenge import Mark, Position, State, arguments, decision_salt, health, marks_hash, state_hash
from sealstream.outputs.strict import read_decision, read_header
from sealstream.statement import Opening

VENUE = 7
KEY = keccak(b"sealstream challenge signer")
SIGNER = Account.from_key(KEY).address
# The enclave's commitment key K: here a test value, only to derive salts.
COMMITMENT_KEY = keccak(b"sealstream test commitment key")
# docs/CONFIG.md's tiers on four markets: BTC, ETH large-cap, SOL mid-cap, DOGE long-tail.
# Markets 5-64 (long-tail) only so that a state of 64 positions, the most a challenge
# opens, can be measured.
TIERS = {1: 300, 2: 300, 3: 500, 4: 1000} | {m: 1000 for m in range(5, 65)}
GAS_CHALLENGE_MAX = 250_000


def commit(state: State, marks: list[Mark], sequence: int, step: int = 0, **fields) -> dict:
    """A decision of `state` judged at `marks`, committed as the enclave does, with its
    opening (`_salt`, `_state`, `_marks`) beside the EIP-712 message."""
    salt = decision_salt(COMMITMENT_KEY, state.account, sequence, step)
    encoded = state.encode()
    equity, maintenance = health(state, marks, TIERS) if all(m.market in TIERS for m in marks) else (0, 1)
    p = state.positions[0] if state.positions else Position(1, 1)
    d = {
        "venueId": VENUE, "sequence": sequence, "enclaveTime": 1_764_170_000_000_000_000 + sequence,
        "account": keccak(b"account" + state.account.to_bytes(8, "big")), "market": p.market, "isBuy": p.size < 0,
        "size": abs(p.size), "markPrice": marks[0].mark if marks else 1, "bankruptcyPrice": 1, "worstPrice": 1,
        "equity": max(min(equity, 2**63 - 1), -(2**63)), "maintenanceRequirement": min(maintenance, 2**63 - 1),
        "reason": 1, "filledOnBook": 0, "toInsuranceFund": abs(p.size), "autoDeleveraged": 0, "liquidationFee": 0,
        "fills": [{"kind": "insuranceFund", "price": 1, "quantity": abs(p.size)}],
        "stateHash": state_hash(salt, encoded), "marksHash": marks_hash(salt, marks),
    }  # fmt: skip
    d["fillsHash"] = reference.fills_hash(d["fills"])
    d["scenario"] = None  # the linear model (perpetuals only): scenarioHash is zero
    d["scenarioHash"] = reference.scenario_hash(None)
    d.update(fields)
    d["_salt"], d["_state"], d["_marks"] = salt, encoded, marks
    return d


def below(sequence: int) -> dict:
    """Right: 1 BTC long bought with 1,000 USD of 60,000 falls to 59,500 (3% maintenance)."""
    s = State(1001, -59_000_000_000, (Position(1, 100_000_000, 60_000_000_000),))
    return commit(s, [Mark(1, 59_500_000_000, 300)], sequence)


def cross(sequence: int) -> dict:
    """Right, cross-margined: every held market's mark matters (ETH short, SOL long)."""
    s = State(1002, 10_000_000_000, (Position(2, -123_456_789), Position(3, 987_654_321), Position(4, 5)), open_orders=2)
    marks = [Mark(2, 3_000_000_001, 300), Mark(3, 150_000_001, 500), Mark(4, 99_999, 1000)]
    equity, maintenance = health(s, marks, TIERS)
    # Collateral that leaves it one micro-unit below maintenance.
    s = State(1002, s.collateral + maintenance - equity - 1, s.positions, open_orders=2)
    return commit(s, marks, sequence)


def wrong(sequence: int) -> dict:
    """Wrong: a broken enclave judged 1 BTC long with 5,000 USD of equity at 50% maintenance."""
    s = State(1003, -55_000_000_000, (Position(1, 100_000_000, 60_000_000_000),))
    return commit(s, [Mark(1, 60_000_000_000, 5000)], sequence, maintenanceRequirement=30_000_000_000)


def boundary(sequence: int) -> dict:
    """Wrong by the smallest margin: equity exactly equals maintenance (not below)."""
    s = State(1004, 0, (Position(2, -100_000_001),))
    marks = [Mark(2, 3_000_000_007, 300)]
    equity, maintenance = health(s, marks, TIERS)
    return commit(State(1004, maintenance - equity, s.positions), marks, sequence)


def untiered(sequence: int) -> dict:
    """A market the owner did not register (an option market, say)."""
    return commit(State(1005, 0, (Position(99, 1),)), [Mark(99, 1, 0)], sequence)


def wide(sequence: int) -> dict:
    """Wrong, with 64 positions: the largest state a challenge opens (gas)."""
    positions = tuple(Position(m, (-1) ** m * 10**9, 0) for m in range(1, 65))
    return commit(State(1006, 10**15, positions), [Mark(m, 10**9 + m, TIERS[m]) for m in range(1, 65)], sequence)


def malformed(sequence: int) -> dict:
    """Commitments to a state that is not one §2.2 state (a byte too many)."""
    d = below(sequence)
    d["_state"] += b"\x00"
    d["stateHash"] = state_hash(d["_salt"], d["_state"])
    return d


@pytest.fixture(scope="module")
def batch():
    """One batch with the cases above (leaf order as listed) and random ones."""
    rng = random.Random(14)
    decisions = [below(1), cross(2), wrong(3), boundary(4), untiered(5), malformed(6), wide(7)]
    decisions += [random_near_boundary(rng, 8 + i) for i in range(23)]
    epoch = reference.Epoch(KEY, reference.ETH_TESTER_CHAIN_ID, reference.ETH_TESTER_CONTRACT, VENUE)
    leaves = [reference.event_leaf(s, 1_764_170_000_000_000_000 + s, 0x03, b"x") for s in range(1, 32)]
    epoch.close_batch(leaves, [{k: v for k, v in d.items() if not k.startswith("_")} for d in decisions],
                      enclave_time=1_764_170_000_000_000_100, account_count=40, state_root=b"\x11" * 32)
    return epoch, decisions


def random_near_boundary(rng: random.Random, sequence: int) -> dict:
    """1–4 random positions, collateral within a few micro-units of the boundary, so
    the rounding of every term (toward −∞ for equity, +∞ for maintenance) decides."""
    markets = sorted(rng.sample((1, 2, 3, 4), rng.randint(1, 4)))
    positions = tuple(Position(m, rng.choice((-1, 1)) * rng.randint(1, 10**10), rng.randint(-10**12, 10**12)) for m in markets)
    marks = [Mark(m, rng.randint(1, 10**11), TIERS[m]) for m in markets]
    s = State(2000 + sequence, 0, positions)
    equity, maintenance = health(s, marks, TIERS)
    s = State(s.account, maintenance - equity + rng.randint(-3, 2), positions, rng.randint(0, 5))
    return commit(s, marks, sequence)


@pytest.fixture(scope="module")
def deployed(compiled, batch):
    epoch, _ = batch
    contract = fresh_chain().deploy(compiled, VENUE)
    assert contract.address == reference.ETH_TESTER_CONTRACT
    contract.transact("beginEpoch", SIGNER)
    contract.transact("setMaintenance", sorted(TIERS), [TIERS[m] for m in sorted(TIERS)])
    contract.transact("submitBatch", *submit_args(epoch.batches[0]))
    return contract


@pytest.fixture
def verifier(deployed):
    snapshot = deployed.chain.snapshot()
    yield deployed
    deployed.chain.revert(snapshot)


def args(epoch, decisions, j: int, /, **override) -> tuple:
    """challengeLiquidation arguments for leaf j; keyword arguments replace one."""
    record, d = epoch.decisions[j], decisions[j]
    header = epoch.batches[0]
    a = {
        "epoch": 1, "batchIndex": 0, "decisionsRoot": bytes.fromhex(header["decisionsRoot"][2:]),
        "decisionCount": header["decisionCount"], "decision": decision_tuple(reference.decision_values(record)),
        "leafIndex": j, "proof": reference.proof_values(record), "salt": d["_salt"], "state": d["_state"],
        "marks": [(m.market, m.mark, m.maintenance_bps) for m in d["_marks"]],
    }  # fmt: skip
    assert not override.keys() - a.keys()
    # The SDK's helper gives the same arguments from the strictly read records.
    line = lambda r: json.dumps(r, separators=(",", ":")).encode()  # noqa: E731
    opening = Opening(d["sequence"], 0, d["_salt"], d["_state"], tuple(a["marks"]))
    assert arguments(1, read_decision(line(record)), read_header(line(header)), opening) == tuple(a.values())
    a.update(override)
    return tuple(a.values())


def _flip(b: bytes, at: int = -1) -> bytes:
    out = bytearray(b)
    out[at] ^= 1
    return bytes(out)


# ----------------------------------------------------------- right decisions stand


def test_right_decisions_stand(verifier, batch):
    """Each honest decision's own opening recomputes below maintenance: `below`."""
    epoch, decisions = batch
    for j in (0, 1):
        with reverts("below"):
            verifier.transact("challengeLiquidation", *args(epoch, decisions, j))
    assert not verifier.call("frozen", 1)


@pytest.mark.parametrize(
    "override, reason",
    [
        (lambda d: {"state": _flip(d["_state"], 10)}, "state"),  # another collateral
        (lambda d: {"state": _flip(d["_state"], 40)}, "state"),  # another position size
        (lambda d: {"salt": _flip(d["_salt"])}, "state"),  # the leaf's salt, or a guess
        (lambda d: {"marks": [(1, 60_000_000_000, 300)]}, "marks"),  # a higher mark than committed
        (lambda d: {"marks": [(1, 59_500_000_000, 299)]}, "marks"),  # another fraction
        (lambda d: {"marks": []}, "marks"),  # a market left out
        (lambda d: {"batchIndex": 1}, "batch"),  # a batch never accepted
        (lambda d: {"epoch": 2}, "batch"),
        (lambda d: {"leafIndex": 1}, "proof"),
    ],
)
def test_challenges_of_a_right_decision_fail(verifier, batch, override, reason):
    epoch, decisions = batch
    with reverts(reason):
        verifier.transact("challengeLiquidation", *args(epoch, decisions, 0, **override(decisions[0])))


def test_unregistered_market_and_bad_layout(verifier, batch):
    epoch, decisions = batch
    with reverts("tier"):
        verifier.transact("challengeLiquidation", *args(epoch, decisions, 4))
    with reverts("layout"):
        verifier.transact("challengeLiquidation", *args(epoch, decisions, 5))


# ------------------------------------------------------------ wrong decisions fall


def test_wrong_decision_proven_and_epoch_frozen(verifier, batch, gas_report):
    epoch, decisions = batch
    challenger = verifier.chain.accounts[3]
    receipt = verifier.transact("challengeLiquidation", *args(epoch, decisions, 2), sender=challenger)
    state = State.decode(decisions[2]["_state"])
    equity, maintenance = health(state, decisions[2]["_marks"], TIERS)
    assert equity >= maintenance  # the reference agrees: 5,000 USD against 1,800 USD
    [event] = verifier.events(receipt, "LiquidationDisproven")
    assert event == {
        "epoch": 1, "batchIndex": 0, "structHash": bytes.fromhex(epoch.decisions[2]["structHash"][2:]),
        "leafIndex": 2, "account": decisions[2]["account"], "market": 1, "equity": equity,
        "maintenance": maintenance, "challenger": challenger.lower(),
    }  # fmt: skip
    assert verifier.events(receipt, "EpochEnded") == [{"epoch": 1, "signer": SIGNER.lower(), "batchCount": 1}]
    assert verifier.call("frozen", 1)
    assert verifier.call("disprovenBy", bytes.fromhex(epoch.decisions[2]["structHash"][2:])) == challenger.lower()
    gas_report["challengeLiquidation_1pos"] = receipt["gas_used"]
    assert receipt["gas_used"] <= GAS_CHALLENGE_MAX

    # Frozen: no further batch, no decision acted upon, the same proof not twice; a
    # second wrong decision of the epoch is still proven (every victim gets its record).
    with reverts("epoch"):
        verifier.transact("submitBatch", *submit_args(epoch.batches[0]))
    verify = args(epoch, decisions, 0)[:7]
    with reverts("frozen"):
        verifier.transact("verifyDecision", *verify)
    with reverts("proven"):
        verifier.transact("challengeLiquidation", *args(epoch, decisions, 2))
    receipt = verifier.transact("challengeLiquidation", *args(epoch, decisions, 3))
    assert len(verifier.events(receipt, "LiquidationDisproven")) == 1
    assert verifier.events(receipt, "EpochEnded") == []


def test_largest_state_proven(verifier, batch, gas_report):
    epoch, decisions = batch
    receipt = verifier.transact("challengeLiquidation", *args(epoch, decisions, 6))
    assert len(verifier.events(receipt, "LiquidationDisproven")) == 1
    gas_report["challengeLiquidation_64pos"] = receipt["gas_used"]


def test_equity_equal_to_maintenance_is_not_below(verifier, batch):
    epoch, decisions = batch
    state = State.decode(decisions[3]["_state"])
    equity, maintenance = health(state, decisions[3]["_marks"], TIERS)
    assert equity == maintenance
    verifier.transact("challengeLiquidation", *args(epoch, decisions, 3))
    assert verifier.call("frozen", 1)


def test_rounding_matches_reference(verifier, batch, gas_report):
    """Random states within a few micro-units of the boundary: the contract's verdict is
    the reference's (floor toward −∞ per equity term, ceil per requirement term)."""
    epoch, decisions = batch
    outcomes = {"below": 0, "proven": 0}
    gas = []
    for j in range(8, len(decisions)):
        d = decisions[j]
        equity, maintenance = health(State.decode(d["_state"]), d["_marks"], TIERS)
        snapshot = verifier.chain.snapshot()
        if equity < maintenance:
            with reverts("below"):
                verifier.transact("challengeLiquidation", *args(epoch, decisions, j))
            outcomes["below"] += 1
        else:
            receipt = verifier.transact("challengeLiquidation", *args(epoch, decisions, j))
            [event] = verifier.events(receipt, "LiquidationDisproven")
            assert (event["equity"], event["maintenance"]) == (equity, maintenance)
            gas.append((len(d["_marks"]), receipt["gas_used"]))
            outcomes["proven"] += 1
        verifier.chain.revert(snapshot)
    assert outcomes["below"] > 3 and outcomes["proven"] > 3, outcomes
    worst = max(g for _, g in gas)
    gas_report["challengeLiquidation_max_4pos"] = worst
    assert worst <= GAS_CHALLENGE_MAX


# ----------------------------------------------------------- the maintenance table


def test_set_maintenance_rules(verifier, compiled, batch):
    stranger = verifier.chain.accounts[2]
    assert [verifier.call("maintenanceBps", 1, m) for m in (1, 3, 4, 99)] == [300, 500, 1000, 0]
    with reverts("owner"):
        verifier.transact("setMaintenance", [99], [300], sender=stranger)
    with reverts("late"):  # the epoch already has a batch
        verifier.transact("setMaintenance", [99], [300])

    chain = fresh_chain()
    fresh = chain.deploy(compiled, VENUE)
    with reverts("epoch"):
        fresh.transact("setMaintenance", [1], [300])
    fresh.transact("beginEpoch", SIGNER)
    with reverts("length"):
        fresh.transact("setMaintenance", [1, 2], [300])
    for bad in (0, 10_000):
        with reverts("bps"):
            fresh.transact("setMaintenance", [1], [bad])
    receipt = fresh.transact("setMaintenance", [1, 2], [300, 500])
    assert fresh.events(receipt, "MaintenanceSet") == [
        {"epoch": 1, "market": 1, "maintenanceBps": 300}, {"epoch": 1, "market": 2, "maintenanceBps": 500}]
    with reverts("reused"):
        fresh.transact("setMaintenance", [2], [500])
