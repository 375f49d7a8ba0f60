"""Opening a liquidation decision's commitments and recomputing its verdict, as the
verifier contract's `challengeLiquidation` does (docs/COMMITMENTS.md §3, §6.1).

A decision commits to the liquidated account's state just before the step
(`stateHash`) and to the mark and maintenance fraction of every market it held then
(`marksHash`), both salted with a per-decision salt only the enclave and the owner know.
With the salt and the preimages (the owner's statement, §7.2) anyone recomputes
`equity` and `maintenance` exactly as the engine did (docs/CONFIG.md) and can tell
whether the account was below maintenance. Standard library only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SALT_TAG = b"sealstream/v1/decision-salt"
STATE_TAG = b"sealstream/v1/decision-state"
MARKS_TAG = b"sealstream/v1/decision-marks"
# §2.2: id u64, collateral i128, count u32, per position 44 bytes, open orders u32.
STATE_FIXED = 32
POSITION_BYTES = 44


@dataclass(frozen=True)
class Position:
    market: int
    size: int  # base units of 10^-8, signed, never 0
    cost_basis: int = 0  # quote micro-units, signed
    funding_index: int = 0


@dataclass(frozen=True)
class State:
    """An account's §2.2 `state`: what the engine writes, byte for byte."""

    account: int
    collateral: int  # quote micro-units, i128
    positions: tuple[Position, ...]  # ascending market id
    open_orders: int = 0

    def encode(self) -> bytes:
        out = self.account.to_bytes(8, "big") + self.collateral.to_bytes(16, "big", signed=True)
        out += len(self.positions).to_bytes(4, "big")
        for p in self.positions:
            out += p.market.to_bytes(4, "big") + p.size.to_bytes(8, "big", signed=True)
            out += p.cost_basis.to_bytes(16, "big", signed=True) + p.funding_index.to_bytes(16, "big", signed=True)
        return out + self.open_orders.to_bytes(4, "big")

    @staticmethod
    def decode(data: bytes) -> State:
        """Reads exactly one state; ValueError on any other length."""
        if len(data) < STATE_FIXED:
            raise ValueError("state shorter than 32 bytes")
        n = int.from_bytes(data[24:28], "big")
        if len(data) != STATE_FIXED + POSITION_BYTES * n:
            raise ValueError(f"state of {n} positions must be {STATE_FIXED + POSITION_BYTES * n} bytes")
        positions = []
        for i in range(n):
            o = 28 + POSITION_BYTES * i
            positions.append(Position(
                int.from_bytes(data[o:o + 4], "big"), int.from_bytes(data[o + 4:o + 12], "big", signed=True),
                int.from_bytes(data[o + 12:o + 28], "big", signed=True),
                int.from_bytes(data[o + 28:o + 44], "big", signed=True)))  # fmt: skip
        return State(int.from_bytes(data[:8], "big"), int.from_bytes(data[8:24], "big", signed=True),
                     tuple(positions), int.from_bytes(data[-4:], "big"))  # fmt: skip


@dataclass(frozen=True)
class Mark:
    market: int
    mark: int  # quote micro-units per whole base unit
    maintenance_bps: int  # the tier's maintenanceBps; 0 for an option market


def decision_salt(key: bytes, account: int, sequence: int, step: int) -> bytes:
    """SHA-256(tag ‖ K ‖ account u64 ‖ sequence u64 ‖ step u32): only the enclave holds K."""
    return hashlib.sha256(
        SALT_TAG + key + account.to_bytes(8, "big") + sequence.to_bytes(8, "big") + step.to_bytes(4, "big")
    ).digest()


def state_hash(salt: bytes, state: bytes) -> bytes:
    return hashlib.sha256(STATE_TAG + salt + state).digest()


def _word(v: int) -> bytes:
    return (v % (1 << 256)).to_bytes(32, "big")


def marks_hash(salt: bytes, marks: list[Mark]) -> bytes:
    """Each mark as three 32-byte words: market, mark (sign-extended), maintenance bps."""
    body = b"".join(_word(m.market) + _word(m.mark) + _word(m.maintenance_bps) for m in marks)
    return hashlib.sha256(MARKS_TAG + salt + body).digest()


def health(state: State, marks: list[Mark], maintenance_bps: dict[int, int]) -> tuple[int, int]:
    """(equity, maintenance) at `marks` with the registered fractions (docs/CONFIG.md):
    `collateral + Σ ⌊size × mark / 10⁸⌋` and `Σ ⌈|size| × mark × bps / 10¹²⌉`. Raises
    ValueError where the contract reverts `marks` or `tier`."""
    if [m.market for m in marks] != [p.market for p in state.positions]:
        raise ValueError("marks")
    equity, maintenance = state.collateral, 0
    for p, m in zip(state.positions, marks, strict=True):
        bps = maintenance_bps.get(p.market, 0)
        if bps == 0:
            raise ValueError("tier")
        equity += (p.size * m.mark) // 10**8  # Python's // rounds toward −∞
        maintenance += -((-abs(p.size) * m.mark * bps) // 10**12)  # ⌈x⌉ = −⌊−x⌋
    return equity, maintenance


def arguments(epoch: int, decision: dict, header: dict, opening) -> tuple:
    """`challengeLiquidation`'s arguments, in order (docs/COMMITMENTS.md §6.1), from a
    strictly read decision record, its batch's header record, the contract's epoch number
    for that batch, and a statement `Opening` of the decision (`statement.Page.openings`):
    ABI values (bytes for bytes32 and bytes, tuples for structs), for any ABI encoder."""
    from . import eip712  # the decision's 20 fields in the struct's order

    values = eip712.decision_values(decision)
    return (
        epoch, decision["batchIndex"], bytes.fromhex(header["decisionsRoot"][2:]), header["decisionCount"],
        tuple(values[name] for name, _ in eip712.DECISION_FIELDS), decision["leafIndex"],
        [bytes.fromhex(p[2:]) for p in decision["proof"]], bytes(opening.salt), bytes(opening.state),
        [tuple(m) for m in opening.marks],
    )  # fmt: skip
