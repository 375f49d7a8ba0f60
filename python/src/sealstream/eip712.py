"""EIP-712 hashing of batch headers and liquidation decisions (docs/COMMITMENTS.md §3),
and header signature recovery."""

from __future__ import annotations

import hashlib
from typing import Any

from .keccak import keccak256
from .secp256k1 import ecrecover

DOMAIN_NAME = "Sealstream"
DOMAIN_VERSION = "1"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"

HEADER_FIELDS = [
    ("venueId", "uint64"), ("batchIndex", "uint64"), ("previousHeaderHash", "bytes32"),
    ("firstSequence", "uint64"), ("lastSequence", "uint64"), ("enclaveTime", "uint64"),
    ("eventsRoot", "bytes32"), ("stateRoot", "bytes32"), ("accountCount", "uint64"),
    ("decisionsRoot", "bytes32"), ("decisionCount", "uint64"), ("marketDataRoot", "bytes32"),
    ("haltedMarkets", "uint32[]"),
]  # fmt: skip
DECISION_FIELDS = [
    ("venueId", "uint64"), ("sequence", "uint64"), ("enclaveTime", "uint64"), ("account", "bytes32"),
    ("market", "uint32"), ("isBuy", "bool"), ("size", "int64"), ("markPrice", "int64"),
    ("bankruptcyPrice", "int64"), ("worstPrice", "int64"), ("equity", "int64"),
    ("maintenanceRequirement", "int64"), ("reason", "uint8"), ("filledOnBook", "int64"),
    ("toInsuranceFund", "int64"), ("autoDeleveraged", "int64"), ("liquidationFee", "int64"),
    ("fillsHash", "bytes32"), ("stateHash", "bytes32"), ("marksHash", "bytes32"), ("scenarioHash", "bytes32"),
]  # fmt: skip
FILL_KINDS = {"book": 1, "insuranceFund": 2, "adl": 3}
FUNDING_FIELDS = [
    ("venueId", "uint64"), ("sequence", "uint64"), ("enclaveTime", "uint64"), ("market", "uint32"),
    ("markPrice", "int64"), ("rateBps", "int64"), ("perUnit", "int64"), ("intervalNanos", "uint64"),
    ("dueTime", "uint64"),
]  # fmt: skip
REASON_NAMES = {1: "maintenance-full", 2: "maintenance-partial", 3: "greek-limit"}


def _type_string(name: str, fields: list[tuple[str, str]]) -> str:
    return name + "(" + ",".join(f"{t} {n}" for n, t in fields) + ")"


HEADER_TYPE_HASH = keccak256(_type_string("BatchHeader", HEADER_FIELDS).encode())
DECISION_TYPE_HASH = keccak256(_type_string("LiquidationDecision", DECISION_FIELDS).encode())
FUNDING_TYPE_HASH = keccak256(_type_string("FundingPayment", FUNDING_FIELDS).encode())


def _word(typ: str, value: Any) -> bytes:
    if typ == "bytes32":
        if len(value) != 32:
            raise ValueError("bytes32 must be 32 bytes")
        return bytes(value)
    if typ == "bool":
        return int(bool(value)).to_bytes(32, "big")
    if typ == "uint32[]":
        return keccak256(b"".join(int(m).to_bytes(32, "big") for m in value))
    if typ == "int64":
        return (int(value) % (1 << 256)).to_bytes(32, "big")  # sign-extended
    return int(value).to_bytes(32, "big")


def _hash_struct(type_hash: bytes, fields: list[tuple[str, str]], values: dict) -> bytes:
    return keccak256(type_hash + b"".join(_word(t, values[n]) for n, t in fields))


def domain_separator(chain_id: int, verifying_contract: str | bytes) -> bytes:
    """hashStruct of the EIP712Domain; `verifying_contract` as 0x-hex (any case) or 20 bytes."""
    contract = bytes.fromhex(verifying_contract[2:]) if isinstance(verifying_contract, str) else verifying_contract
    if len(contract) != 20:
        raise ValueError("verifyingContract must be 20 bytes")
    return keccak256(
        keccak256(DOMAIN_TYPE.encode()) + keccak256(DOMAIN_NAME.encode()) + keccak256(DOMAIN_VERSION.encode())
        + chain_id.to_bytes(32, "big") + contract.rjust(32, b"\x00")
    )  # fmt: skip


def header_hash(values: dict) -> bytes:
    """hashStruct(BatchHeader): the *header hash*. Byte fields as bytes, the rest as ints."""
    return _hash_struct(HEADER_TYPE_HASH, HEADER_FIELDS, values)


def decision_hash(values: dict) -> bytes:
    """hashStruct(LiquidationDecision); `reason` is the numeric code."""
    return _hash_struct(DECISION_TYPE_HASH, DECISION_FIELDS, values)


def funding_hash(values: dict) -> bytes:
    """hashStruct(FundingPayment) of a funding record (docs/COMMITMENTS.md §4.3)."""
    return _hash_struct(FUNDING_TYPE_HASH, FUNDING_FIELDS, values)


def digest(separator: bytes, struct_hash: bytes) -> bytes:
    """keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct): what the enclave signs."""
    return keccak256(b"\x19\x01" + separator + struct_hash)


def recover_signer(digest_bytes: bytes, signature: dict) -> str | None:
    """ecrecover of a `{"r","s","v"}` record signature; lower-case address or None."""
    return ecrecover(digest_bytes, signature["v"], int(signature["r"], 16), int(signature["s"], 16))


def header_values(record: dict) -> dict:
    """The EIP-712 message of an already strictly-read header record."""
    return {n: bytes.fromhex(record[n][2:]) if t == "bytes32" else record[n] for n, t in HEADER_FIELDS}


def fills_hash(fills: list[dict]) -> bytes:
    """`fillsHash` of a decision's fills: SHA-256("sealstream/v1/fills" ‖ per fill: kind u8 ‖
    price i64 ‖ quantity i64), big-endian (docs/COMMITMENTS.md §3)."""
    data = b"sealstream/v1/fills" + b"".join(
        bytes([FILL_KINDS[f["kind"]]]) + f["price"].to_bytes(8, "big", signed=True)
        + f["quantity"].to_bytes(8, "big", signed=True)
        for f in fills
    )  # fmt: skip
    return hashlib.sha256(data).digest()


SCENARIO_LAYOUT = [
    ("underlying", 4), ("mark", 8), ("scanBps", 8), ("scenario", 4), ("moveSteps", 8), ("volShiftBps", 8),
    ("price", 8), ("loss", 8), ("shortOptionContingency", 8), ("confidenceContingency", 8),
]  # fmt: skip


def scenario_hash(scenario: dict | None) -> bytes:
    """`scenarioHash` of a decision's triggering scenario (docs/COMMITMENTS.md §3): 32 zero bytes
    for null, else SHA-256("sealstream/v1/scenario" ‖ linearRequirement i64 ‖ per portfolio:
    underlying u32 ‖ mark i64 ‖ scanBps i64 ‖ scenario u32 ‖ moveSteps i64 ‖ volShiftBps i64 ‖
    price i64 ‖ loss i64 ‖ shortOptionContingency i64 ‖ confidenceContingency i64), big-endian."""
    if scenario is None:
        return bytes(32)
    data = b"sealstream/v1/scenario" + scenario["linearRequirement"].to_bytes(8, "big", signed=True)
    for p in scenario["portfolios"]:
        data += b"".join(p[n].to_bytes(size, "big", signed=size == 8) for n, size in SCENARIO_LAYOUT)
    return hashlib.sha256(data).digest()


def decision_values(record: dict) -> dict:
    """The EIP-712 message of an already strictly-read decision record (`reason` =
    `reasonCode`, `fillsHash` from `fills`)."""
    out = {}
    for n, t in DECISION_FIELDS:
        if n == "reason":
            out[n] = record["reasonCode"]
        elif n == "fillsHash":
            out[n] = fills_hash(record["fills"])
        elif n == "scenarioHash":
            out[n] = scenario_hash(record["scenario"])
        elif t == "bytes32":
            out[n] = bytes.fromhex(record[n][2:])
        else:
            out[n] = record[n]
    return out
