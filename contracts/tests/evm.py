"""Helpers to run SealstreamVerifier on eth-tester's in-process py-evm chain.

Only eth-tester's own API is used (no web3): calls are ABI-encoded with eth-abi
from the ABI that Vyper emits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import vyper
from eth_abi import decode, encode
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from eth_utils import (
    decode_hex,
    event_abi_to_log_topic,
    function_abi_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
    to_canonical_address,
    to_checksum_address,
)

import reference

CONTRACT_SOURCE = Path(__file__).resolve().parents[1] / "SealstreamVerifier.vy"

# Far above anything the contract needs; the receipt's gasUsed is what is measured.
TX_GAS = 3_000_000


def compile_verifier() -> dict:
    """ABI, deployment bytecode and storage layout, for Vyper's default EVM version
    (Prague, the rules eth-tester's default backend runs)."""
    return vyper.compile_code(
        CONTRACT_SOURCE.read_text(), output_formats=["abi", "bytecode", "layout"]
    )


class Chain:
    """A fresh in-process chain: eth-tester's default PyEVMBackend (Prague rules)."""

    def __init__(self) -> None:
        self.tester = EthereumTester(PyEVMBackend())
        self.accounts = self.tester.get_accounts()
        self.chain_id = self.tester.backend.chain.chain_id

    def deploy(self, compiled: dict, *args: Any) -> Contract:
        constructor = next((e for e in compiled["abi"] if e["type"] == "constructor"), None)
        data = compiled["bytecode"]
        if constructor is not None:
            data += encode(get_abi_input_types(constructor), args).hex()
        tx = self.tester.send_transaction({"from": self.accounts[0], "data": data, "gas": TX_GAS})
        receipt = self.tester.get_transaction_receipt(tx)
        assert receipt["status"] == 1, "deployment failed"
        return Contract(self, to_checksum_address(receipt["contract_address"]), compiled["abi"])

    def snapshot(self) -> int:
        return self.tester.take_snapshot()

    def revert(self, snapshot: int) -> None:
        self.tester.revert_to_snapshot(snapshot)


class Contract:
    def __init__(self, chain: Chain, address: str, abi: list[dict]) -> None:
        self.chain = chain
        self.address = address
        self._functions = {e["name"]: e for e in abi if e["type"] == "function"}
        self._events = {e["name"]: e for e in abi if e["type"] == "event"}

    def _tx(self, fn: str, args: tuple, sender: str | None) -> dict:
        abi = self._functions[fn]
        data = function_abi_to_4byte_selector(abi) + encode(get_abi_input_types(abi), args)
        return {
            "from": sender or self.chain.accounts[0],
            "to": self.address,
            "data": "0x" + data.hex(),
            "gas": TX_GAS,
        }

    def call(self, fn: str, *args: Any, sender: str | None = None) -> Any:
        """eth_call; returns the single output, or a tuple of several."""
        out = self.chain.tester.call(self._tx(fn, args, sender))
        values = decode(get_abi_output_types(self._functions[fn]), decode_hex(out))
        return values[0] if len(values) == 1 else values

    def transact(self, fn: str, *args: Any, sender: str | None = None) -> dict:
        """Send and mine a transaction and return its receipt (gas_used, logs, ...).
        A reverted one raises TransactionFailed(reason): the reason is read by
        replaying it as an eth_call, which sees the same contract state since a
        reverted transaction changes none."""
        tx = self._tx(fn, args, sender)
        receipt = self.chain.tester.get_transaction_receipt(self.chain.tester.send_transaction(tx))
        if receipt["status"] != 1:
            self.chain.tester.call(tx)
            raise AssertionError(f"{fn} reverted, but not when replayed as a call")
        return receipt

    def storage(self, slot: int) -> int:
        """A raw storage slot (see the compiled "layout" for where a variable lives)."""
        value = self.chain.tester.backend.get_storage(to_canonical_address(self.address), slot)
        return int.from_bytes(value, "big") if isinstance(value, bytes) else value

    def events(self, receipt: dict, name: str) -> list[dict]:
        """Decoded logs of one event type in a receipt."""
        abi = self._events[name]
        topic = event_abi_to_log_topic(abi)
        indexed = [i for i in abi["inputs"] if i["indexed"]]
        plain = [i for i in abi["inputs"] if not i["indexed"]]
        found = []
        for log in receipt["logs"]:
            if decode_hex(log["topics"][0]) != topic:
                continue
            values = {
                i["name"]: decode([i["type"]], decode_hex(t))[0]
                for i, t in zip(indexed, log["topics"][1:], strict=True)
            }
            values.update(
                zip(
                    (i["name"] for i in plain),
                    decode([i["type"] for i in plain], decode_hex(log["data"])),
                    strict=True,
                )
            )
            found.append(values)
        return found


def fresh_chain() -> Chain:
    """A new chain whose first deployment lands at reference.ETH_TESTER_CONTRACT:
    reference data is signed for that address before the contract exists."""
    chain = Chain()
    assert chain.chain_id == reference.ETH_TESTER_CHAIN_ID
    assert chain.accounts[0] == reference.ETH_TESTER_DEPLOYER
    return chain


def header_tuple(values: dict) -> tuple:
    """An EIP-712 header message as the contract's BatchHeader tuple."""
    return tuple(values[name] for name in reference.HEADER_FIELDS)


def decision_tuple(values: dict) -> tuple:
    """An EIP-712 decision message as the contract's LiquidationDecision tuple."""
    return tuple(values[name] for name in reference.DECISION_FIELDS)


def submit_args(record: dict, /, **override: Any) -> tuple:
    """submitBatch arguments from a header record; keyword arguments replace one."""
    sig = record["signature"]
    args = {
        "header": header_tuple(reference.header_values(record)),
        "v": sig["v"],
        "r": decode_hex(sig["r"]),
        "s": decode_hex(sig["s"]),
    }
    _replace(args, override)
    return tuple(args.values())


def verify_args(decision: dict, header: dict, /, epoch: int = 1, **override: Any) -> tuple:
    """verifyDecision arguments from a decision record and its batch's header record,
    for a batch of `epoch` (records do not name their epoch: §1 keeps one epoch's
    files per directory); keyword arguments replace one."""
    args = {
        "epoch": epoch,
        "batchIndex": decision["batchIndex"],
        "decisionsRoot": decode_hex(header["decisionsRoot"]),
        "decisionCount": header["decisionCount"],
        "decision": decision_tuple(reference.decision_values(decision)),
        "leafIndex": decision["leafIndex"],
        "proof": reference.proof_values(decision),
    }
    _replace(args, override)
    return tuple(args.values())


def _replace(args: dict, override: dict) -> None:
    unknown = override.keys() - args.keys()
    assert not unknown, f"no such argument: {', '.join(sorted(unknown))}"
    args.update(override)


def reverts(reason: str):
    """Expect a revert with exactly this reason string."""
    return pytest.raises(TransactionFailed, match=f"^{reason}$")
