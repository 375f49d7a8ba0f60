"""Outputs written by the Swift enclave (docs/COMMITMENTS.md §4), checked with
reference.py and then replayed through the contract.

SEALSTREAM_OUTPUTS names a directory with batches.jsonl, decisions.jsonl and
chain.json = {"chainId", "verifyingContract", "venueId", "signer"}: one epoch (§1),
replayed as the contract's epoch 1 (beginEpoch(signer) after deployment). The headers are
signed for one (chainId, verifyingContract): for the contract deployed here to accept
them, the venue must have been configured with eth-tester's chain id and the address
of the first contract that eth-tester's first account deploys
(`reference.ETH_TESTER_CHAIN_ID`, `reference.ETH_TESTER_CONTRACT`).

    .venv/bin/python contracts/tests/reference.py /tmp/sample     # a sample directory
    SEALSTREAM_OUTPUTS=/tmp/sample .venv/bin/python -m pytest contracts/tests -s
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import reference
from evm import fresh_chain, reverts, submit_args, verify_args
from verify_outputs import verify_outputs

OUTPUTS = os.environ.get("SEALSTREAM_OUTPUTS")

pytestmark = pytest.mark.skipif(
    not OUTPUTS,
    reason="SEALSTREAM_OUTPUTS is not set: point it at a directory with batches.jsonl,"
    " decisions.jsonl and chain.json (reference.py DIR writes a sample)",
)

ZERO_HASH = "0x" + "00" * 32


@dataclass
class Outputs:
    chain: dict
    batches: list[dict]
    decisions: list[dict]
    domain: dict
    signer: str


@pytest.fixture(scope="module")
def outputs() -> Outputs:
    directory = Path(OUTPUTS)
    missing = [
        n
        for n in ("batches.jsonl", "decisions.jsonl", "chain.json")
        if not (directory / n).is_file()
    ]
    assert not missing, f"{directory} lacks {', '.join(missing)}"
    chain, batches, decisions = reference.read_outputs(directory)
    assert batches, f"{directory}/batches.jsonl holds no header"
    return Outputs(
        chain=chain,
        batches=batches,
        decisions=decisions,
        domain=reference.domain(chain["chainId"], chain["verifyingContract"]),
        signer=chain["signer"].lower(),
    )


def deploy(outputs: Outputs, compiled):
    """The verifier at the address the outputs were signed for, with epoch 1 begun
    for the outputs' signer (a transaction after deployment, which does not move
    the address)."""
    assert outputs.chain["chainId"] == reference.ETH_TESTER_CHAIN_ID, (
        f"chain.json names chainId {outputs.chain['chainId']}; eth-tester's chain is"
        f" {reference.ETH_TESTER_CHAIN_ID}: configure the venue's commitments.chainId"
        " with it and produce the outputs again"
    )
    assert outputs.chain["verifyingContract"].lower() == reference.ETH_TESTER_CONTRACT.lower(), (
        f"chain.json names verifyingContract {outputs.chain['verifyingContract']}, but the"
        f" verifier deployed here (by {reference.ETH_TESTER_DEPLOYER}, nonce 0) is at"
        f" {reference.ETH_TESTER_CONTRACT}: configure the venue's"
        " commitments.verifyingContract with that address and produce the outputs again"
    )
    contract = fresh_chain().deploy(compiled, outputs.chain["venueId"])
    assert contract.address == reference.ETH_TESTER_CONTRACT
    receipt = contract.transact("beginEpoch", outputs.signer)
    assert contract.events(receipt, "EpochBegun") == [{"epoch": 1, "signer": outputs.signer}]
    return contract


# ------------------------------------------------------------------ off-chain


def test_python_verifier_passes_real_outputs(outputs):
    """The second implementation of §5 (strict §5.1 reading included) passes every
    check on what the Swift enclave wrote, events.log included."""
    directory = Path(OUTPUTS)
    events = directory / "events.log"
    verdicts = verify_outputs(
        (directory / "batches.jsonl").read_bytes(),
        (directory / "decisions.jsonl").read_bytes(),
        events.read_bytes() if events.is_file() else None,
        outputs.signer,
        outputs.domain,
        outputs.chain["venueId"],
    )
    assert all(v["pass"] for v in verdicts.values()), {k: v for k, v in verdicts.items() if not v["pass"]}


def test_headers_are_signed_by_the_signer(outputs):
    for record in outputs.batches:
        where = f"batch {record.get('batchIndex')}"
        values = reference.header_values(record)
        assert record["headerHash"] == "0x" + reference.header_hash(values, outputs.domain).hex(), (
            where
        )
        assert record["digest"] == "0x" + reference.header_digest(values, outputs.domain).hex(), (
            where
        )
        assert record["signer"].lower() == outputs.signer, where
        sig = record["signature"]
        assert sig["v"] in (27, 28), where
        assert int(sig["s"], 16) <= reference.SECP256K1_N // 2, f"{where}: high s"
        recovered = reference.recover_header_signer(values, outputs.domain, sig)
        assert recovered.lower() == outputs.signer, where


def test_headers_form_one_chain(outputs):
    previous = None
    for i, record in enumerate(outputs.batches):
        where = f"batch {i}"
        assert record["batchIndex"] == i, where
        assert record["venueId"] == outputs.chain["venueId"], where
        if previous is None:
            assert record["previousHeaderHash"] == ZERO_HASH, where
            assert record["firstSequence"] == 1, where
        else:
            assert record["previousHeaderHash"] == previous["headerHash"], where
            assert record["firstSequence"] == previous["lastSequence"] + 1, where
            assert record["enclaveTime"] >= previous["enclaveTime"], where
        assert record["firstSequence"] <= record["lastSequence"], where
        assert record["haltedMarkets"] == sorted(set(record["haltedMarkets"])), where

        consistency = record["eventsConsistency"]
        old_size = previous["lastSequence"] if previous else 0
        assert consistency["fromSize"] == old_size, where
        old_root = bytes.fromhex(previous["eventsRoot"][2:]) if previous else b""
        assert reference.verify_consistency(
            old_size,
            record["lastSequence"],
            old_root,
            bytes.fromhex(record["eventsRoot"][2:]),
            [bytes.fromhex(p[2:]) for p in consistency["proof"]],
        ), f"{where}: events consistency proof"
        previous = record


def test_decisions_are_included(outputs):
    leaves: dict[int, list[int]] = {}
    for d in outputs.decisions:
        where = f"decision {d.get('batchIndex')}/{d.get('leafIndex')}"
        assert 0 <= d["batchIndex"] < len(outputs.batches), f"{where}: no such batch"
        header = outputs.batches[d["batchIndex"]]
        values = reference.decision_values(d)
        assert d["venueId"] == outputs.chain["venueId"], where
        assert d["side"] == ("buy" if values["isBuy"] else "sell"), where
        assert d["reason"] == reference.REASON_NAMES.get(values["reason"]), where
        struct_hash = reference.decision_hash(values)
        assert d["structHash"] == "0x" + struct_hash.hex(), where
        assert reference.verify_inclusion(
            reference.leaf_hash(struct_hash),
            d["leafIndex"],
            header["decisionCount"],
            reference.proof_values(d),
            bytes.fromhex(header["decisionsRoot"][2:]),
        ), f"{where}: inclusion proof"
        leaves.setdefault(d["batchIndex"], []).append(d["leafIndex"])
    for header in outputs.batches:
        got = leaves.get(header["batchIndex"], [])
        assert got == list(range(header["decisionCount"])), (
            f"batch {header['batchIndex']}: decisions"
        )


# ------------------------------------------------------------------- on-chain


def test_contract_accepts_every_record(outputs, compiled, gas_report):
    contract = deploy(outputs, compiled)
    submit_gas = []
    for record in outputs.batches:
        receipt = contract.transact("submitBatch", *submit_args(record))
        [event] = contract.events(receipt, "BatchSubmitted")
        assert (event["epoch"], event["batchIndex"]) == (1, record["batchIndex"])
        assert "0x" + event["headerHash"].hex() == record["headerHash"]
        submit_gas.append(receipt["gas_used"])
        print(
            f"gas submitBatch[{record['batchIndex']}] decisions={record['decisionCount']}"
            f" haltedMarkets={len(record['haltedMarkets'])}: {receipt['gas_used']:,}"
        )
    verify_gas = []
    for d in outputs.decisions:
        receipt = contract.transact(
            "verifyDecision", *verify_args(d, outputs.batches[d["batchIndex"]])
        )
        [event] = contract.events(receipt, "DecisionVerified")
        assert (event["epoch"], event["batchIndex"]) == (1, d["batchIndex"])
        assert "0x" + event["structHash"].hex() == d["structHash"]
        verify_gas.append(receipt["gas_used"])
        print(
            f"gas verifyDecision[{d['batchIndex']}/{d['leafIndex']}] proof={len(d['proof'])}:"
            f" {receipt['gas_used']:,}"
        )
    # Batch 0 is reported apart: it used to pay for the chain state's first writes,
    # which beginEpoch pays for now (see the contract's "Gas" note).
    gas_report["real.submitBatch(first)"] = submit_gas[0]
    if len(submit_gas) > 1:
        gas_report["real.submitBatch"] = max(submit_gas[1:])
    if verify_gas:
        gas_report["real.verifyDecision"] = max(verify_gas)


def test_contract_refuses_tampered_headers(outputs, compiled):
    contract = deploy(outputs, compiled)
    first = outputs.batches[0]

    later = copy.deepcopy(first)
    later["enclaveTime"] += 1
    with reverts("signer"):
        contract.transact("submitBatch", *submit_args(later))

    sig = first["signature"]
    twin_s = (reference.SECP256K1_N - int(sig["s"], 16)).to_bytes(32, "big")
    with reverts("signature"):
        contract.transact("submitBatch", *submit_args(first, v=55 - sig["v"], s=twin_s))

    contract.transact("submitBatch", *submit_args(first))
    with reverts("index"):
        contract.transact("submitBatch", *submit_args(first))
    if len(outputs.batches) > 1:
        forked = copy.deepcopy(outputs.batches[1])
        forked["previousHeaderHash"] = "0x" + "11" * 32
        with reverts("previous"):
            contract.transact("submitBatch", *submit_args(forked))


def test_contract_refuses_tampered_decisions(outputs, compiled):
    if not outputs.decisions:
        pytest.skip("the outputs hold no liquidation decision")
    contract = deploy(outputs, compiled)
    d = outputs.decisions[-1]
    header = outputs.batches[d["batchIndex"]]
    for record in outputs.batches[: d["batchIndex"] + 1]:
        contract.transact("submitBatch", *submit_args(record))

    for field, change in (("size", 1), ("equity", -1), ("sequence", 1)):
        tampered = dict(d)
        tampered[field] += change
        with reverts("proof"):
            contract.transact("verifyDecision", *verify_args(tampered, header))
    with reverts("proof"):
        contract.transact("verifyDecision", *verify_args(d, header, leafIndex=d["leafIndex"] ^ 1))
    if d["proof"]:
        flipped = reference.proof_values(d)
        flipped[0] = bytes([flipped[0][0] ^ 1]) + flipped[0][1:]
        with reverts("proof"):
            contract.transact("verifyDecision", *verify_args(d, header, proof=flipped))
    with reverts("batch"):
        contract.transact(
            "verifyDecision", *verify_args(d, header, decisionCount=header["decisionCount"] + 1)
        )

    contract.transact("verifyDecision", *verify_args(d, header))
    with reverts("consumed"):
        contract.transact("verifyDecision", *verify_args(d, header))
