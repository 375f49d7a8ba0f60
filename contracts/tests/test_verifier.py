"""SealstreamVerifier against epochs built and signed by reference.py.

The chain is deployed once per module; every test runs on a snapshot of the
deployed state with epoch 1 begun for SIGNER, and reverts it afterwards.
"""

from __future__ import annotations

import random
import statistics

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

import reference
from evm import (
    decision_tuple,
    fresh_chain,
    header_tuple,
    reverts,
    submit_args,
    verify_args,
)

VENUE = 7
KEY = keccak(b"sealstream test signer")
OTHER_KEY = keccak(b"sealstream unregistered signer")
SIGNER = Account.from_key(KEY).address
# The signer of epoch 2: the worker restarted after a crash, with a fresh key.
KEY2 = keccak(b"sealstream test signer, second worker")
SIGNER2 = Account.from_key(KEY2).address
ZERO_ADDRESS = "0x" + "00" * 20

BIG = 1024
BIG_BATCH = 2
# Batch 2 (the 1,024-decision one) and batch 5 also halt markets (build_epoch
# halts on every third batch).
DECISION_COUNTS = [0, 3, BIG, 1, 0, 7]
# Epoch 2 starts with decisions in its batch 0 (epoch 1's batch 0 has none).
EPOCH2_COUNTS = [2, 0, 5]

INT64_FIELDS = [f["name"] for f in reference.DECISION_TYPE if f["type"] == "int64"]

GAS_SUBMIT_MAX = 80_000
GAS_VERIFY_MAX = 76_000  # +2 words (fee, fillsHash), +2 words (stateHash, marksHash), the frozen check (2,100), +1 word (scenarioHash)


@pytest.fixture(scope="module")
def epoch() -> reference.Epoch:
    return reference.build_epoch(
        KEY,
        reference.ETH_TESTER_CHAIN_ID,
        reference.ETH_TESTER_CONTRACT,
        VENUE,
        DECISION_COUNTS,
    )


@pytest.fixture(scope="module")
def epoch2() -> reference.Epoch:
    return reference.build_epoch(
        KEY2,
        reference.ETH_TESTER_CHAIN_ID,
        reference.ETH_TESTER_CONTRACT,
        VENUE,
        EPOCH2_COUNTS,
        seed=2,
    )


@pytest.fixture(scope="module")
def deployed(compiled):
    contract = fresh_chain().deploy(compiled, VENUE)
    # The epoch was signed for this address before the contract existed; beginning
    # the epoch is a later transaction, so it does not move the address.
    assert contract.address == reference.ETH_TESTER_CONTRACT
    contract.transact("beginEpoch", SIGNER)
    assert contract.call("epoch") == 1
    return contract


@pytest.fixture
def verifier(deployed):
    snapshot = deployed.chain.snapshot()
    yield deployed
    deployed.chain.revert(snapshot)


def submit_through(contract, epoch, last: int) -> None:
    for record in epoch.batches[: last + 1]:
        contract.transact("submitBatch", *submit_args(record))


def decisions_of(epoch, batch: int) -> list[dict]:
    return [d for d in epoch.decisions if d["batchIndex"] == batch]


def commitment(record: dict) -> bytes:
    """What the contract stores for an accepted header record."""
    root = bytes.fromhex(record["decisionsRoot"][2:])
    return keccak(encode(["bytes32", "uint64"], [root, record["decisionCount"]]))


def resign(values: dict, key: bytes = KEY) -> dict:
    """A header record for arbitrary header values, properly signed by `key`."""
    dom = reference.domain(reference.ETH_TESTER_CHAIN_ID, reference.ETH_TESTER_CONTRACT)
    record = {name: ("0x" + v.hex() if isinstance(v, bytes) else v) for name, v in values.items()}
    record["signature"] = reference.sign_header(values, dom, key)
    return record


# ------------------------------------------------------------------ happy path


def test_full_chain(verifier, epoch, gas_report):
    """Every batch submitted and every decision verified, with events, state and gas."""
    submit_gas = []
    for record in epoch.batches:
        receipt = verifier.transact("submitBatch", *submit_args(record))
        [event] = verifier.events(receipt, "BatchSubmitted")
        assert event == {
            "epoch": 1,
            "batchIndex": record["batchIndex"],
            "headerHash": bytes.fromhex(record["headerHash"][2:]),
            "signer": SIGNER.lower(),
            "decisionsRoot": bytes.fromhex(record["decisionsRoot"][2:]),
            "decisionCount": record["decisionCount"],
        }
        assert verifier.call("lastHeaderHash").hex() == record["headerHash"][2:]
        assert verifier.call("nextBatchIndex") == record["batchIndex"] + 1
        assert verifier.call("batchCommitment", 1, record["batchIndex"]) == commitment(record)
        submit_gas.append(receipt["gas_used"])
        print(
            f"gas submitBatch[{record['batchIndex']}] decisions={record['decisionCount']}"
            f" haltedMarkets={len(record['haltedMarkets'])}: {receipt['gas_used']:,}"
        )

    verify_gas: dict[int, list[int]] = {}
    for d in epoch.decisions:
        header = epoch.batches[d["batchIndex"]]
        receipt = verifier.transact("verifyDecision", *verify_args(d, header))
        [event] = verifier.events(receipt, "DecisionVerified")
        assert event == {
            "epoch": 1,
            "batchIndex": d["batchIndex"],
            "leafIndex": d["leafIndex"],
            "structHash": bytes.fromhex(d["structHash"][2:]),
            "account": bytes.fromhex(d["account"][2:]),
            "market": d["market"],
        }
        verify_gas.setdefault(d["batchIndex"], []).append(receipt["gas_used"])
    for d in epoch.decisions[:: BIG // 8]:
        assert verifier.call("consumed", bytes.fromhex(d["structHash"][2:]))

    for batch, gas in verify_gas.items():
        proof = len(decisions_of(epoch, batch)[0]["proof"])
        print(
            f"gas verifyDecision batch={batch} decisions={len(gas)} proof={proof}:"
            f" min {min(gas):,} mean {statistics.mean(gas):,.0f} max {max(gas):,}"
        )

    # beginEpoch made the chain-position slots nonzero, so batch 0 pays no
    # zero-to-nonzero write but its commitment's, like every later batch.
    steady = max(submit_gas[1:])
    big = verify_gas[BIG_BATCH]
    assert all(len(d["proof"]) == 10 for d in decisions_of(epoch, BIG_BATCH))
    gas_report.update(
        {
            "submitBatch": steady,
            "submitBatch(first)": submit_gas[0],
            "verifyDecision(1024)": max(big),
            "verifyDecision(1024,mean)": round(statistics.mean(big)),
        }
    )
    assert submit_gas[0] <= GAS_SUBMIT_MAX
    assert steady <= GAS_SUBMIT_MAX
    assert max(big) <= GAS_VERIFY_MAX


def test_verify_gas_worst_calldata(verifier, gas_report):
    """The GAS_VERIFY_MAX target holds even for the costliest calldata in a 1,024-decision
    batch: every byte of every field nonzero (negative int64s are 0xff-padded)."""
    rng = random.Random(2)
    time = 1_764_170_000_000_000_000
    decisions = [reference.random_decision(rng, VENUE, s, time + s) for s in range(1, BIG + 1)]
    worst = dict.fromkeys(INT64_FIELDS, -0x0101010101010101)
    worst.update(
        sequence=reference.UINT64_MAX,
        enclaveTime=reference.UINT64_MAX,
        market=2**32 - 1,
        account=b"\xff" * 32,
        isBuy=True,
        reason=2,
    )
    decisions[0].update(worst)
    leaves = [reference.event_leaf(s, time + s, 0x03, b"request") for s in range(1, BIG + 1)]
    epoch = reference.Epoch(
        KEY, reference.ETH_TESTER_CHAIN_ID, reference.ETH_TESTER_CONTRACT, VENUE
    )
    header = epoch.close_batch(leaves, decisions, time + BIG, 3, bytes(32))
    verifier.transact("submitBatch", *submit_args(header))
    receipt = verifier.transact("verifyDecision", *verify_args(epoch.decisions[0], header))
    print(f"gas verifyDecision worst-case calldata, proof=10: {receipt['gas_used']:,}")
    gas_report["verifyDecision(1024,worst)"] = receipt["gas_used"]
    assert receipt["gas_used"] <= GAS_VERIFY_MAX


# ------------------------------------------------------------ hashing parity


def test_domain_separator(verifier):
    dom = reference.domain(reference.ETH_TESTER_CHAIN_ID, reference.ETH_TESTER_CONTRACT)
    assert verifier.call("domainSeparator") == reference.domain_separator(dom)


def test_header_hash_matches_reference(verifier, epoch):
    dom = reference.domain(reference.ETH_TESTER_CHAIN_ID, reference.ETH_TESTER_CONTRACT)
    extremes = {
        **reference.header_values(epoch.batches[BIG_BATCH]),
        "venueId": reference.UINT64_MAX,
        "enclaveTime": reference.UINT64_MAX,
        "haltedMarkets": list(range(255)) + [2**32 - 1],  # the maximum of 256
    }
    headers = [reference.header_values(r) for r in epoch.batches] + [extremes]
    assert any(h["haltedMarkets"] for h in headers[:-1])
    for values in headers:
        assert verifier.call("hashHeader", header_tuple(values)) == reference.header_hash(
            values, dom
        )


EDGE_DECISIONS = [
    {"size": -1, "equity": reference.INT64_MIN, "toInsuranceFund": reference.INT64_MAX},
    dict.fromkeys(INT64_FIELDS, -1),
    dict.fromkeys(INT64_FIELDS, reference.INT64_MIN),
    {"venueId": reference.UINT64_MAX, "market": 2**32 - 1, "reason": 255, "isBuy": True},
    {"account": b"\xff" * 32, "isBuy": False, "reason": 0},
]


@pytest.mark.parametrize("edge", EDGE_DECISIONS)
def test_decision_hash_matches_reference(verifier, epoch, edge):
    values = {**reference.decision_values(epoch.decisions[0]), **edge}
    expected = reference.decision_hash(values)
    assert verifier.call("hashDecision", decision_tuple(values)) == expected

    # A third, by-hand encodeData: int64 sign-extended to 32 bytes, bool as 0/1.
    type_string = (
        "LiquidationDecision("
        + ",".join(f"{f['type']} {f['name']}" for f in reference.DECISION_TYPE)
        + ")"
    )
    words = [keccak(text=type_string)]
    for f in reference.DECISION_TYPE:
        v = values[f["name"]]
        if f["type"] == "bytes32":
            words.append(v)
        else:
            words.append(int(v).to_bytes(32, "big", signed=f["type"] == "int64"))
    assert keccak(b"".join(words)) == expected


# ------------------------------------------------------------ submitBatch refusals


@pytest.mark.parametrize(
    "field, tamper, reason",
    [
        ("venueId", lambda v: v + 1, "venue"),
        ("batchIndex", lambda v: v + 1, "index"),
        ("previousHeaderHash", lambda v: b"\x01" + v[1:], "previous"),
        ("firstSequence", lambda v: v + 1, "signer"),
        ("lastSequence", lambda v: v - 1, "signer"),
        ("enclaveTime", lambda v: v + 1, "signer"),
        ("eventsRoot", lambda v: v[:-1] + bytes([v[-1] ^ 1]), "signer"),
        ("stateRoot", lambda v: bytes(32), "signer"),
        ("accountCount", lambda v: v + 1, "signer"),
        ("decisionsRoot", lambda v: v[:-1] + bytes([v[-1] ^ 0x80]), "signer"),
        ("decisionCount", lambda v: v - 1, "signer"),
        ("haltedMarkets", lambda v: v + [99], "signer"),
        ("haltedMarkets", lambda v: v[1:], "signer"),
        ("haltedMarkets", lambda v: [v[0] + 1000] + v[1:], "signer"),
        ("haltedMarkets", lambda v: list(reversed(v)), "signer"),
    ],
)
def test_tampered_header_refused(verifier, epoch, field, tamper, reason):
    submit_through(verifier, epoch, BIG_BATCH - 1)
    record = epoch.batches[BIG_BATCH]
    values = reference.header_values(record)
    assert values["haltedMarkets"], "this batch must halt markets"
    values[field] = tamper(values[field])
    with reverts(reason):
        verifier.transact("submitBatch", *submit_args(record, header=header_tuple(values)))
    verifier.transact("submitBatch", *submit_args(record))


def test_unregistered_signer_refused(verifier, epoch):
    record = resign(reference.header_values(epoch.batches[0]), OTHER_KEY)
    with reverts("signer"):
        verifier.transact("submitBatch", *submit_args(record))


def test_next_epochs_signer_refused_before_it_begins(verifier, epoch2):
    with reverts("signer"):
        verifier.transact("submitBatch", *submit_args(epoch2.batches[0]))


def test_skipped_and_repeated_index_refused(verifier, epoch):
    with reverts("index"):
        verifier.transact("submitBatch", *submit_args(epoch.batches[1]))
    submit_through(verifier, epoch, 0)
    with reverts("index"):
        verifier.transact("submitBatch", *submit_args(epoch.batches[0]))
    with reverts("index"):
        verifier.transact("submitBatch", *submit_args(epoch.batches[2]))


def test_wrong_previous_hash_refused(verifier, epoch):
    """Properly signed, right index, but not chained to the submitted batch 0."""
    submit_through(verifier, epoch, 0)
    values = reference.header_values(epoch.batches[1])
    values["previousHeaderHash"] = keccak(b"another batch 0")
    with reverts("previous"):
        verifier.transact("submitBatch", *submit_args(resign(values)))


# The contract's stored stand-in for "no previous header" (NO_PREVIOUS_HEADER).
NO_PREVIOUS_HEADER = keccak(b"sealstream/v1/no-previous-header")


@pytest.mark.parametrize(
    "previous", [keccak(b"genesis"), NO_PREVIOUS_HEADER], ids=["other", "sentinel"]
)
def test_nonzero_previous_hash_for_batch_zero_refused(verifier, epoch, previous):
    """Batch 0 names the zero hash, not the nonzero sentinel the contract stores."""
    values = reference.header_values(epoch.batches[0])
    values["previousHeaderHash"] = previous
    with reverts("previous"):
        verifier.transact("submitBatch", *submit_args(resign(values)))
    verifier.transact("submitBatch", *submit_args(epoch.batches[0]))


def test_malformed_signatures_refused(verifier, epoch):
    record = epoch.batches[0]
    sig = record["signature"]
    s = int(sig["s"], 16)
    # The high-s twin: ecrecover would still return the signer.
    high_s = (reference.SECP256K1_N - s).to_bytes(32, "big")
    with reverts("signature"):
        verifier.transact("submitBatch", *submit_args(record, v=55 - sig["v"], s=high_s))
    for v in (0, 1, 26, 29, 255):
        with reverts("signature"):
            verifier.transact("submitBatch", *submit_args(record, v=v))
    # ecrecover returns nothing for r = 0 or s = 0.
    for override in ({"r": bytes(32)}, {"s": bytes(32)}):
        with reverts("signature"):
            verifier.transact("submitBatch", *submit_args(record, **override))
    verifier.transact("submitBatch", *submit_args(record))


# ------------------------------------------------------------ verifyDecision refusals


@pytest.fixture
def big_batch(verifier, epoch):
    """Batches 0..BIG_BATCH submitted; returns (header record, a decision record)."""
    submit_through(verifier, epoch, BIG_BATCH)
    return epoch.batches[BIG_BATCH], decisions_of(epoch, BIG_BATCH)[517]


def _flip(b: bytes) -> bytes:
    return b[:-1] + bytes([b[-1] ^ 1])


@pytest.mark.parametrize(
    "override, reason",
    [
        (
            lambda d: {"proof": [_flip(p) if i == 0 else p for i, p in enumerate(d["proof"])]},
            "proof",
        ),
        (
            lambda d: {"proof": [_flip(p) if i == 5 else p for i, p in enumerate(d["proof"])]},
            "proof",
        ),
        (lambda d: {"proof": d["proof"][:-1] + [_flip(d["proof"][-1])]}, "proof"),
        (lambda d: {"proof": d["proof"][:-1]}, "proof"),
        (lambda d: {"proof": d["proof"] + [bytes(32)]}, "proof"),
        (lambda d: {"proof": []}, "proof"),
        (lambda d: {"proof": list(reversed(d["proof"]))}, "proof"),
        (lambda d: {"leafIndex": d["leafIndex"] + 1}, "proof"),
        (lambda d: {"leafIndex": d["leafIndex"] - 1}, "proof"),
        (lambda d: {"leafIndex": d["leafIndex"] + BIG}, "proof"),
        # Root and count are bound by the batch's stored commitment, so a wrong
        # count is refused before the proof is even looked at.
        (lambda d: {"decisionCount": BIG + 1}, "batch"),
        (lambda d: {"decisionCount": BIG - 1}, "batch"),
        (lambda d: {"decisionsRoot": bytes(32)}, "batch"),
        (lambda d: {"batchIndex": BIG_BATCH - 1}, "batch"),
        (lambda d: {"batchIndex": BIG_BATCH + 1}, "batch"),
    ],
    ids=[
        "flip-first",
        "flip-middle",
        "flip-last",
        "truncated",
        "extended",
        "empty",
        "reordered",
        "index+1",
        "index-1",
        "index+size",
        "count+1",
        "count-1",
        "root",
        "other-batch",
        "unsubmitted-batch",
    ],
)
def test_bad_inclusion_refused(verifier, big_batch, override, reason):
    header, d = big_batch
    wrong = override({"proof": reference.proof_values(d), "leafIndex": d["leafIndex"]})
    with reverts(reason):
        verifier.transact("verifyDecision", *verify_args(d, header, **wrong))
    verifier.transact("verifyDecision", *verify_args(d, header))


@pytest.mark.parametrize(
    "field, value",
    [
        ("sequence", lambda v: v + 1),  # uint64
        ("account", _flip),  # bytes32
        ("market", lambda v: v + 1),  # uint32
        ("isBuy", lambda v: not v),  # bool
        ("size", lambda v: -v),  # int64, sign only
        ("equity", lambda v: v + 2**32),  # int64
        ("reason", lambda v: 3 - v),  # uint8
        ("autoDeleveraged", lambda v: v - 1),
        ("liquidationFee", lambda v: v + 1),  # int64
        ("fillsHash", _flip),  # bytes32: another execution
        ("scenarioHash", _flip),  # bytes32: another triggering scenario
    ],
)
def test_tampered_decision_refused(verifier, big_batch, field, value):
    header, d = big_batch
    values = reference.decision_values(d)
    values[field] = value(values[field])
    with reverts("proof"):
        verifier.transact(
            "verifyDecision", *verify_args(d, header, decision=decision_tuple(values))
        )


def test_replayed_decision_refused(verifier, big_batch):
    header, d = big_batch
    verifier.transact("verifyDecision", *verify_args(d, header))
    with reverts("consumed"):
        verifier.transact("verifyDecision", *verify_args(d, header))


def test_decision_of_unsubmitted_batch_refused(verifier, epoch):
    submit_through(verifier, epoch, 2)
    d = decisions_of(epoch, 3)[0]
    with reverts("batch"):
        verifier.transact("verifyDecision", *verify_args(d, epoch.batches[3]))


def test_empty_batch_proves_nothing(verifier, epoch):
    """Batch 0 has no decisions: its (empty-tree root, 0) commitment matches, but no
    leaf index is inside a tree of size 0."""
    submit_through(verifier, epoch, 0)
    d = decisions_of(epoch, 1)[0]
    with reverts("proof"):
        verifier.transact(
            "verifyDecision", *verify_args(d, epoch.batches[0], batchIndex=0, leafIndex=0, proof=[])
        )


def test_decision_for_other_venue_refused(verifier):
    """A batch of this venue, signed by the registered signer, that commits to a
    decision naming another venue: the proof holds, the venue check refuses it."""
    rng = random.Random(1)
    foreign = reference.random_decision(rng, VENUE + 1, 1, 1_764_170_000_000_000_000)
    own = reference.random_decision(rng, VENUE, 2, 1_764_170_000_000_000_001)
    epoch = reference.Epoch(
        KEY, reference.ETH_TESTER_CHAIN_ID, reference.ETH_TESTER_CONTRACT, VENUE
    )
    leaves = [reference.event_leaf(s, 1_764_170_000_000_000_000, 0x04, b"price") for s in (1, 2)]
    header = epoch.close_batch(leaves, [foreign, own], 1_764_170_000_000_000_001, 3, bytes(32))
    verifier.transact("submitBatch", *submit_args(header))
    with reverts("venue"):
        verifier.transact("verifyDecision", *verify_args(epoch.decisions[0], header))
    verifier.transact("verifyDecision", *verify_args(epoch.decisions[1], header))


# ------------------------------------------------------------------ ownership


def test_owner_only(verifier):
    owner, stranger, new_owner = verifier.chain.accounts[:3]
    assert verifier.call("owner") == owner.lower()
    with reverts("owner"):
        verifier.transact("beginEpoch", SIGNER2, sender=stranger)
    with reverts("owner"):
        verifier.transact("endEpoch", sender=stranger)
    with reverts("owner"):
        verifier.transact("transferOwnership", stranger, sender=stranger)
    assert verifier.call("epoch") == 1
    assert verifier.call("activeSigner") == SIGNER.lower()
    with reverts("zero"):
        verifier.transact("beginEpoch", ZERO_ADDRESS)
    with reverts("zero"):
        verifier.transact("transferOwnership", ZERO_ADDRESS)

    receipt = verifier.transact("transferOwnership", new_owner)
    assert verifier.events(receipt, "OwnershipTransferred") == [
        {"previousOwner": owner.lower(), "newOwner": new_owner.lower()}
    ]
    with reverts("owner"):
        verifier.transact("beginEpoch", SIGNER2, sender=owner)
    with reverts("owner"):
        verifier.transact("endEpoch", sender=owner)
    receipt = verifier.transact("beginEpoch", SIGNER2, sender=new_owner)
    assert verifier.events(receipt, "EpochBegun") == [{"epoch": 2, "signer": SIGNER2.lower()}]
    receipt = verifier.transact("endEpoch", sender=new_owner)
    assert verifier.events(receipt, "EpochEnded") == [
        {"epoch": 2, "signer": SIGNER2.lower(), "batchCount": 0}
    ]


# ------------------------------------------------------------------------ epochs


def stored(contract, compiled, name: str) -> int:
    """A storage variable's raw slot: what submitBatch overwrites, as opposed to what
    the views report."""
    return contract.storage(compiled["layout"]["storage_layout"][name]["slot"])


def test_epoch_views_at_start(verifier, epoch, compiled):
    """beginEpoch stores "batch 0 next, no previous header" as nonzero values (so that
    batch 0 overwrites nonzero slots, as every later batch does); the views read
    them as 0 and 0."""
    assert stored(verifier, compiled, "_nextIndexPlusOne") == 1
    assert stored(verifier, compiled, "_lastHeaderHash").to_bytes(32, "big") == NO_PREVIOUS_HEADER
    assert verifier.call("epoch") == 1
    assert verifier.call("epochSigner", 1) == SIGNER.lower()
    assert verifier.call("epochSigner", 2) == ZERO_ADDRESS
    assert verifier.call("signerEpoch", SIGNER) == 1
    assert verifier.call("signerEpoch", SIGNER2) == 0
    assert verifier.call("activeSigner") == SIGNER.lower()
    assert verifier.call("nextBatchIndex") == 0
    assert verifier.call("lastHeaderHash") == bytes(32)
    assert verifier.call("batchCommitment", 1, 0) == bytes(32)

    verifier.transact("submitBatch", *submit_args(epoch.batches[0]))
    assert stored(verifier, compiled, "_nextIndexPlusOne") == 2
    assert verifier.call("nextBatchIndex") == 1
    assert verifier.call("lastHeaderHash").hex() == epoch.batches[0]["headerHash"][2:]


def test_no_epoch_refused(compiled, epoch, gas_report):
    """Before the first beginEpoch nothing is accepted, not even a header that
    (for this address) is properly signed; the owner's first beginEpoch pays for
    every first write, and the epoch's batch 0 stays within the target."""
    contract = fresh_chain().deploy(compiled, VENUE)
    assert contract.address == reference.ETH_TESTER_CONTRACT
    assert contract.call("epoch") == 0
    assert contract.call("activeSigner") == ZERO_ADDRESS
    assert contract.call("nextBatchIndex") == 0
    assert contract.call("lastHeaderHash") == bytes(32)
    with reverts("epoch"):
        contract.transact("submitBatch", *submit_args(epoch.batches[0]))
    with reverts("epoch"):
        contract.transact("endEpoch")

    receipt = contract.transact("beginEpoch", SIGNER)
    assert contract.events(receipt, "EpochBegun") == [{"epoch": 1, "signer": SIGNER.lower()}]
    assert contract.events(receipt, "EpochEnded") == []
    gas_report["beginEpoch(first)"] = receipt["gas_used"]
    receipt = contract.transact("submitBatch", *submit_args(epoch.batches[0]))
    assert receipt["gas_used"] <= GAS_SUBMIT_MAX


def test_ended_epoch_refused(verifier, epoch):
    """After endEpoch the epoch takes no batch (reason "epoch", before any other
    check), its record stays, and decisions of its batches stay verifiable."""
    submit_through(verifier, epoch, 1)
    receipt = verifier.transact("endEpoch")
    assert verifier.events(receipt, "EpochEnded") == [
        {"epoch": 1, "signer": SIGNER.lower(), "batchCount": 2}
    ]
    assert verifier.call("activeSigner") == ZERO_ADDRESS
    assert verifier.call("epoch") == 1
    assert verifier.call("epochSigner", 1) == SIGNER.lower()
    assert verifier.call("nextBatchIndex") == 2
    assert verifier.call("lastHeaderHash").hex() == epoch.batches[1]["headerHash"][2:]

    with reverts("epoch"):
        verifier.transact("submitBatch", *submit_args(epoch.batches[2]))
    values = reference.header_values(epoch.batches[2])
    values["venueId"] += 1
    with reverts("epoch"):
        verifier.transact("submitBatch", *submit_args(resign(values)))
    with reverts("epoch"):
        verifier.transact("endEpoch")

    for d in decisions_of(epoch, 1):
        verifier.transact("verifyDecision", *verify_args(d, epoch.batches[1]))

    # The signer of an ended epoch cannot be admitted again; a new one can.
    with reverts("reused"):
        verifier.transact("beginEpoch", SIGNER)
    receipt = verifier.transact("beginEpoch", SIGNER2)
    assert verifier.events(receipt, "EpochEnded") == []
    assert verifier.events(receipt, "EpochBegun") == [{"epoch": 2, "signer": SIGNER2.lower()}]


def test_signer_is_admitted_once(verifier):
    """Headers carry no epoch number: a signer admitted for a second epoch would let
    its first chain be replayed there. beginEpoch refuses it, even for the current
    epoch's signer (a repeated call must not reset a running chain)."""
    with reverts("reused"):
        verifier.transact("beginEpoch", SIGNER)
    assert verifier.call("epoch") == 1
    verifier.transact("beginEpoch", SIGNER2)
    for signer in (SIGNER, SIGNER2):
        with reverts("reused"):
            verifier.transact("beginEpoch", signer)
    assert verifier.call("epoch") == 2


def test_two_epochs_back_to_back(verifier, epoch, epoch2, gas_report):
    """A worker restart: epoch 1 stops after batch 3, epoch 2 starts its own chain at
    batch 0 under a new signer, and both epochs' decisions stay provable."""
    submit_through(verifier, epoch, 3)
    early = decisions_of(epoch, 1)[0]
    verifier.transact("verifyDecision", *verify_args(early, epoch.batches[1]))

    receipt = verifier.transact("beginEpoch", SIGNER2)
    assert verifier.events(receipt, "EpochEnded") == [
        {"epoch": 1, "signer": SIGNER.lower(), "batchCount": 4}
    ]
    assert verifier.events(receipt, "EpochBegun") == [{"epoch": 2, "signer": SIGNER2.lower()}]
    gas_report["beginEpoch"] = receipt["gas_used"]
    assert verifier.call("epoch") == 2
    assert verifier.call("epochSigner", 1) == SIGNER.lower()
    assert verifier.call("epochSigner", 2) == SIGNER2.lower()
    assert verifier.call("signerEpoch", SIGNER2) == 2
    assert verifier.call("activeSigner") == SIGNER2.lower()
    assert verifier.call("nextBatchIndex") == 0
    assert verifier.call("lastHeaderHash") == bytes(32)

    # Epoch 1's worker is gone: its next batch is out of this chain's order, and its
    # batch 0 (right index, zero previous hash, a valid signature) has the wrong signer.
    with reverts("index"):
        verifier.transact("submitBatch", *submit_args(epoch.batches[4]))
    with reverts("signer"):
        verifier.transact("submitBatch", *submit_args(epoch.batches[0]))
    # Epoch 2's batch 0 must still name no previous header, not epoch 1's last one.
    values = reference.header_values(epoch2.batches[0])
    values["previousHeaderHash"] = bytes.fromhex(epoch.batches[3]["headerHash"][2:])
    with reverts("previous"):
        verifier.transact("submitBatch", *submit_args(resign(values, KEY2)))

    submit_gas = []
    for record in epoch2.batches:
        receipt = verifier.transact("submitBatch", *submit_args(record))
        [event] = verifier.events(receipt, "BatchSubmitted")
        assert (event["epoch"], event["batchIndex"]) == (2, record["batchIndex"])
        assert event["signer"] == SIGNER2.lower()
        assert verifier.call("lastHeaderHash").hex() == record["headerHash"][2:]
        assert verifier.call("nextBatchIndex") == record["batchIndex"] + 1
        submit_gas.append(receipt["gas_used"])
    print(f"gas submitBatch epoch 2: {', '.join(f'{g:,}' for g in submit_gas)}")
    gas_report["submitBatch(first,epoch2)"] = submit_gas[0]
    assert max(submit_gas) <= GAS_SUBMIT_MAX

    # Both epochs' commitments, side by side under the same batch indices.
    for e, batches in ((1, epoch.batches[:4]), (2, epoch2.batches)):
        for record in batches:
            assert verifier.call("batchCommitment", e, record["batchIndex"]) == commitment(record)
    assert verifier.call("batchCommitment", 1, 4) == bytes(32)
    assert verifier.call("batchCommitment", 2, len(EPOCH2_COUNTS)) == bytes(32)

    # The epoch argument picks the chain: a decision checked against the other
    # epoch's batch of the same index is refused.
    mid_epoch = [
        (1, epoch, decisions_of(epoch, 1)[1:]),
        (1, epoch, decisions_of(epoch, BIG_BATCH)[::97]),
        (1, epoch, decisions_of(epoch, 3)),
        (2, epoch2, decisions_of(epoch2, 0)),
        (2, epoch2, decisions_of(epoch2, 2)),
    ]
    for e, source, decisions in mid_epoch:
        for d in decisions:
            header = source.batches[d["batchIndex"]]
            with reverts("batch"):
                verifier.transact("verifyDecision", *verify_args(d, header, epoch=3 - e))
            receipt = verifier.transact("verifyDecision", *verify_args(d, header, epoch=e))
            [event] = verifier.events(receipt, "DecisionVerified")
            assert (event["epoch"], event["batchIndex"]) == (e, d["batchIndex"])
            assert event["structHash"].hex() == d["structHash"][2:]

    # Replay protection is by struct hash, whichever epoch is named.
    with reverts("consumed"):
        verifier.transact("verifyDecision", *verify_args(early, epoch.batches[1]))
