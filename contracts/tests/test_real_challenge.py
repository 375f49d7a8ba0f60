"""Fraud proofs end to end (docs/COMMITMENTS.md §6.1): a liquidation made by the real
Swift enclave, its opening fetched by the victim through `sealstream-client statement`
(§7.2), challenged on chain.

scripts/contract-tests.sh runs contracts/tests/liquidation.txt twice with the demo venue:
on the measured enclave (SEALSTREAM_OUTPUTS: the decision was right, every challenge of
it fails with its reason) and on `sealstream-enclave-broken-maintenance`, a TEST-ONLY
build that liquidates at a maintenance one basis point below initial
(SEALSTREAM_BROKEN_OUTPUTS: the decision is proven wrong and the epoch frozen). Each
directory holds the epoch's outputs, chain.json and the victim's statement.json; the
maintenance table given to the contract is the honest venue configuration's
(SEALSTREAM_VENUE).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import reference
from evm import decision_tuple, fresh_chain, reverts, submit_args
from sealstream.challenge import Mark, State, arguments, health, marks_hash, state_hash
from sealstream.outputs.strict import read_decision, read_header
from sealstream.statement import Opening

HONEST = os.environ.get("SEALSTREAM_OUTPUTS")
BROKEN = os.environ.get("SEALSTREAM_BROKEN_OUTPUTS")
VENUE = os.environ.get("SEALSTREAM_VENUE")
VICTIM = 9002

pytestmark = pytest.mark.skipif(
    not (HONEST and BROKEN and VENUE),
    reason="SEALSTREAM_OUTPUTS, SEALSTREAM_BROKEN_OUTPUTS and SEALSTREAM_VENUE are set by scripts/contract-tests.sh",
)


def tiers() -> dict[int, int]:
    """Each perpetual market's tier maintenanceBps in the venue configuration (CONFIG.md)."""
    venue = json.loads(Path(VENUE).read_text())
    by_name = {t["name"]: t["maintenanceBps"] for t in venue["marginTiers"]}
    return {m["id"]: by_name[m["tier"]] for m in venue["markets"]}


def challenge(compiled, directory: str):
    """Deploys the verifier, registers the honest tiers, submits the epoch, and returns
    (contract, challengeLiquidation arguments for the victim's decision, opening)."""
    chain, batches, decisions = reference.read_outputs(Path(directory))
    statement = json.loads((Path(directory) / "statement.json").read_text())
    assert statement["ok"] and statement["accountId"] == VICTIM, statement["checks"]
    [opening] = statement["openings"]
    salt, state = bytes.fromhex(opening["salt"][2:]), bytes.fromhex(opening["state"][2:])
    marks = [Mark(m["market"], m["mark"], m["maintenanceBps"]) for m in opening["marks"]]
    # The opening is the victim's and opens exactly one published decision.
    assert State.decode(state).account == VICTIM
    opened = [d for d in decisions if d["stateHash"] == "0x" + state_hash(salt, state).hex()]
    [decision] = opened
    assert decision["sequence"] == opening["sequence"] and decision["marksHash"] == "0x" + marks_hash(salt, marks).hex()

    contract = fresh_chain().deploy(compiled, chain["venueId"])
    assert contract.address == reference.ETH_TESTER_CONTRACT
    contract.transact("beginEpoch", chain["signer"])
    table = tiers()
    contract.transact("setMaintenance", sorted(table), [table[m] for m in sorted(table)])
    for record in batches:
        contract.transact("submitBatch", *submit_args(record))
    header = batches[decision["batchIndex"]]
    args = {
        "epoch": 1, "batchIndex": decision["batchIndex"], "decisionsRoot": bytes.fromhex(header["decisionsRoot"][2:]),
        "decisionCount": header["decisionCount"], "decision": decision_tuple(reference.decision_values(decision)),
        "leafIndex": decision["leafIndex"], "proof": reference.proof_values(decision), "salt": salt, "state": state,
        "marks": [(m.market, m.mark, m.maintenance_bps) for m in marks],
    }  # fmt: skip
    # The SDK's helper builds the same arguments from the strictly read records.
    sdk_opening = Opening(opening["sequence"], opening["step"], salt, state, tuple(args["marks"]))
    line = lambda r: json.dumps(r, separators=(",", ":")).encode()  # noqa: E731
    assert arguments(1, read_decision(line(decision)), read_header(line(header)), sdk_opening) == tuple(args.values())
    return contract, args, decision, State.decode(state), marks


def test_a_right_liquidation_stands(compiled):
    """The measured enclave's decision: its own opening recomputes below maintenance, and
    every altered opening fails with its reason."""
    contract, args, decision, state, marks = challenge(compiled, HONEST)
    equity, maintenance = health(state, marks, tiers())
    assert (equity, maintenance) == (decision["equity"], decision["maintenanceRequirement"]) and equity < maintenance
    with reverts("below"):
        contract.transact("challengeLiquidation", *args.values())
    for name, value, reason in [
        ("salt", bytes(32), "state"),
        ("state", args["state"][:-1] + bytes([args["state"][-1] ^ 1]), "state"),
        ("marks", [(m, p + 1, b) for m, p, b in args["marks"]], "marks"),
        ("batchIndex", args["batchIndex"] + 1000, "batch"),
    ]:
        with reverts(reason):
            contract.transact("challengeLiquidation", *{**args, name: value}.values())
    assert not contract.call("frozen", 1)


def test_a_broken_enclaves_liquidation_is_proven(compiled, gas_report):
    """The broken build's decision: the marks it committed carry its wrong fraction (499
    bps where the venue says 300); with the registered 300 the victim was above
    maintenance, so the contract proves the decision wrong and freezes the epoch."""
    contract, args, decision, state, marks = challenge(compiled, BROKEN)
    assert [m.maintenance_bps for m in marks] == [499]
    equity, maintenance = health(state, marks, tiers())
    assert equity >= maintenance and decision["equity"] < decision["maintenanceRequirement"]
    receipt = contract.transact("challengeLiquidation", *args.values())
    [event] = contract.events(receipt, "LiquidationDisproven")
    assert (event["equity"], event["maintenance"]) == (equity, maintenance)
    assert contract.call("frozen", 1) and contract.call("activeSigner") == "0x" + "00" * 20
    gas_report["real.challengeLiquidation"] = receipt["gas_used"]
