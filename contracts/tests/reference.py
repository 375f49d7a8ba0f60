"""Reference implementation of docs/COMMITMENTS.md §2–4, independent of the contract.

EIP-712 hashing and signing go through eth-account (`encode_typed_data`,
`Account.sign_message` / `recover_message`), RFC 6962 trees through hashlib (proof
verification is the Python SDK's, itself written from the docs), so the contract and
the Swift enclave are both checked against code that shares nothing with them. It builds, signs and writes epochs in the §4 JSON line format, and reads
and checks records written by anyone.

Run as a script to write a sample output directory for `test_real_outputs.py`:

    .venv/bin/python contracts/tests/reference.py OUT_DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak, to_checksum_address

# ------------------------------------------------------------------ EIP-712 (§3)

DOMAIN_NAME = "Sealstream"
DOMAIN_VERSION = "1"

DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

HEADER_TYPE = [
    {"name": "venueId", "type": "uint64"},
    {"name": "batchIndex", "type": "uint64"},
    {"name": "previousHeaderHash", "type": "bytes32"},
    {"name": "firstSequence", "type": "uint64"},
    {"name": "lastSequence", "type": "uint64"},
    {"name": "enclaveTime", "type": "uint64"},
    {"name": "eventsRoot", "type": "bytes32"},
    {"name": "stateRoot", "type": "bytes32"},
    {"name": "accountCount", "type": "uint64"},
    {"name": "decisionsRoot", "type": "bytes32"},
    {"name": "decisionCount", "type": "uint64"},
    {"name": "marketDataRoot", "type": "bytes32"},
    {"name": "haltedMarkets", "type": "uint32[]"},
]

DECISION_TYPE = [
    {"name": "venueId", "type": "uint64"},
    {"name": "sequence", "type": "uint64"},
    {"name": "enclaveTime", "type": "uint64"},
    {"name": "account", "type": "bytes32"},
    {"name": "market", "type": "uint32"},
    {"name": "isBuy", "type": "bool"},
    {"name": "size", "type": "int64"},
    {"name": "markPrice", "type": "int64"},
    {"name": "bankruptcyPrice", "type": "int64"},
    {"name": "worstPrice", "type": "int64"},
    {"name": "equity", "type": "int64"},
    {"name": "maintenanceRequirement", "type": "int64"},
    {"name": "reason", "type": "uint8"},
    {"name": "filledOnBook", "type": "int64"},
    {"name": "toInsuranceFund", "type": "int64"},
    {"name": "autoDeleveraged", "type": "int64"},
    {"name": "liquidationFee", "type": "int64"},
    {"name": "fillsHash", "type": "bytes32"},
    {"name": "stateHash", "type": "bytes32"},
    {"name": "marksHash", "type": "bytes32"},
    {"name": "scenarioHash", "type": "bytes32"},
]

FILL_KINDS = {1: "book", 2: "insuranceFund", 3: "adl"}


def fills_hash(fills: list[dict]) -> bytes:
    """SHA-256("sealstream/v1/fills" ‖ per fill: kind u8 ‖ price i64 ‖ quantity i64), big-endian."""
    kinds = {name: code for code, name in FILL_KINDS.items()}
    out = b"sealstream/v1/fills"
    for f in fills:
        out += bytes([kinds[f["kind"]]]) + f["price"].to_bytes(8, "big", signed=True) + f["quantity"].to_bytes(8, "big", signed=True)
    return sha256(out)

def scenario_hash(scenario: dict | None) -> bytes:
    """Zero for null; else SHA-256("sealstream/v1/scenario" ‖ linearRequirement i64 ‖ per portfolio:
    underlying u32 ‖ mark i64 ‖ scanBps i64 ‖ scenario u32 ‖ moveSteps i64 ‖ volShiftBps i64 ‖ price i64 ‖
    loss i64 ‖ shortOptionContingency i64 ‖ confidenceContingency i64), big-endian (COMMITMENTS §3)."""
    if scenario is None:
        return bytes(32)
    out = b"sealstream/v1/scenario" + scenario["linearRequirement"].to_bytes(8, "big", signed=True)
    for p in scenario["portfolios"]:
        out += p["underlying"].to_bytes(4, "big") + p["mark"].to_bytes(8, "big", signed=True)
        out += p["scanBps"].to_bytes(8, "big", signed=True) + p["scenario"].to_bytes(4, "big")
        for name in ("moveSteps", "volShiftBps", "price", "loss", "shortOptionContingency", "confidenceContingency"):
            out += p[name].to_bytes(8, "big", signed=True)
    return sha256(out)


HEADER_FIELDS = [f["name"] for f in HEADER_TYPE]
DECISION_FIELDS = [f["name"] for f in DECISION_TYPE]

REASON_NAMES = {1: "maintenance-full", 2: "maintenance-partial", 3: "greek-limit"}

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# secp256k1's group order: a signature with s > n/2 is the malleable twin of (n - s).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
UINT64_MAX = 2**64 - 1


def domain(chain_id: int, verifying_contract: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(verifying_contract),
    }


_ANY_DOMAIN = domain(1, "0x" + "00" * 20)
_ZERO_DECISION = {f["name"]: (b"\x00" * 32 if f["type"] == "bytes32" else 0) for f in DECISION_TYPE}


def _signable(primary: str, fields: list[dict], message: dict, dom: dict) -> SignableMessage:
    # EIP-191 version 0x01: header = domain separator, body = hashStruct(message).
    return encode_typed_data(
        full_message={
            "types": {"EIP712Domain": DOMAIN_TYPE, primary: fields},
            "primaryType": primary,
            "domain": dom,
            "message": message,
        }
    )


def domain_separator(dom: dict) -> bytes:
    # eth-account exposes the domain separator as the header of any typed message.
    return bytes(_signable("LiquidationDecision", DECISION_TYPE, _ZERO_DECISION, dom).header)


def header_hash(header: dict, dom: dict) -> bytes:
    """hashStruct(header): what the spec calls the header hash."""
    return bytes(_signable("BatchHeader", HEADER_TYPE, header, dom).body)


def header_digest(header: dict, dom: dict) -> bytes:
    m = _signable("BatchHeader", HEADER_TYPE, header, dom)
    return keccak(b"\x19" + m.version + m.header + m.body)


def decision_hash(decision: dict) -> bytes:
    # hashStruct does not depend on the domain; any domain will do. A decision dict may
    # carry its `fills` next to the message's `fillsHash`: only the message is hashed.
    message = {name: decision[name] for name in DECISION_FIELDS}
    return bytes(_signable("LiquidationDecision", DECISION_TYPE, message, _ANY_DOMAIN).body)


def sign_header(header: dict, dom: dict, key: bytes) -> dict:
    """{"r","s","v"} as in §3: RFC 6979 nonce, low s, v in {27, 28}."""
    sig = Account.sign_message(_signable("BatchHeader", HEADER_TYPE, header, dom), key)
    return {"r": _hex32(sig.r), "s": _hex32(sig.s), "v": sig.v}


def recover_header_signer(header: dict, dom: dict, signature: dict) -> str:
    vrs = (signature["v"], int(signature["r"], 16), int(signature["s"], 16))
    return Account.recover_message(_signable("BatchHeader", HEADER_TYPE, header, dom), vrs=vrs)


# ------------------------------------------------------------- RFC 6962 (§2)

# The hashes, the leaf encoding and proof verification are the Python SDK's
# (python/src/sealstream/merkle.py, written from the docs); this module adds the builder,
# MerkleTree, which the SDK has no use for. test_reference.py checks both against
# Certificate Transparency's published vectors.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "src"))
from sealstream.merkle import (  # noqa: E402  (after the path is set)
    event_leaf,
    leaf_hash,
    node_hash,
    sha256,
    verify_consistency,
    verify_inclusion,
)


def _split(n: int) -> int:
    """Largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An RFC 6962 tree over leaf hashes; subtree hashes are memoised so that
    proofs for every leaf of a large tree cost O(n log n) in total."""

    def __init__(self, leaf_hashes: list[bytes] | None = None):
        self.leaves: list[bytes] = list(leaf_hashes or [])
        self._memo: dict[tuple[int, int], bytes] = {}

    def append(self, leaf_data: bytes) -> None:
        self.leaves.append(leaf_hash(leaf_data))

    def root(self, size: int | None = None) -> bytes:
        return self._mth(0, len(self.leaves) if size is None else size)

    def _mth(self, lo: int, hi: int) -> bytes:
        if hi == lo:
            return sha256(b"")
        if hi - lo == 1:
            return self.leaves[lo]
        cached = self._memo.get((lo, hi))
        if cached is None:
            k = _split(hi - lo)
            cached = node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))
            self._memo[(lo, hi)] = cached
        return cached

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(m, D[n]) of RFC 6962 §2.1.1."""
        size = len(self.leaves) if size is None else size
        assert 0 <= index < size

        def path(m: int, lo: int, hi: int) -> list[bytes]:
            if hi - lo == 1:
                return []
            k = _split(hi - lo)
            if m < k:
                return path(m, lo, lo + k) + [self._mth(lo + k, hi)]
            return path(m - k, lo + k, hi) + [self._mth(lo, lo + k)]

        return path(index, 0, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(m, D[n]) of RFC 6962 §2.1.2; empty for m = 0 or m = n."""
        new_size = len(self.leaves) if new_size is None else new_size
        assert 0 <= old_size <= new_size
        if old_size in (0, new_size):
            return []

        def subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
            if m == hi - lo:
                return [] if whole else [self._mth(lo, hi)]
            k = _split(hi - lo)
            if m <= k:
                return subproof(m, lo, lo + k, whole) + [self._mth(lo + k, hi)]
            return subproof(m - k, lo + k, hi, False) + [self._mth(lo, lo + k)]

        return subproof(old_size, 0, new_size, True)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _hex32(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


def _bytes32(value: str) -> bytes:
    # Strict: lower-case 0x-hex of exactly 32 bytes, as §4 requires.
    if not (isinstance(value, str) and value.startswith("0x") and value == value.lower()):
        raise ValueError(f"not lower-case 0x-hex: {value!r}")
    b = bytes.fromhex(value[2:])
    if len(b) != 32:
        raise ValueError(f"not 32 bytes: {value!r}")
    return b


def _int(value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"not an integer in [{lo}, {hi}]: {value!r}")
    return value


def header_values(record: dict) -> dict:
    """The EIP-712 message of a header record, validated field by field."""
    values: dict[str, Any] = {}
    for f in HEADER_TYPE:
        name, typ, raw = f["name"], f["type"], record[f["name"]]
        if typ == "bytes32":
            values[name] = _bytes32(raw)
        elif typ == "uint64":
            values[name] = _int(raw, 0, UINT64_MAX)
        else:  # uint32[]
            values[name] = [_int(m, 0, 2**32 - 1) for m in raw]
    return values


def decision_values(record: dict) -> dict:
    """The EIP-712 message of a decision record: `reason` in the hash is the numeric
    `reasonCode`; `isBuy` may be a JSON boolean or 0/1."""
    values: dict[str, Any] = {}
    for f in DECISION_TYPE:
        name, typ = f["name"], f["type"]
        if name == "reason":
            values[name] = _int(record["reasonCode"], 0, 255)
        elif name == "fillsHash":
            values[name] = fills_hash(record["fills"])
        elif name == "scenarioHash":
            values[name] = scenario_hash(record["scenario"])
        elif typ == "bool":
            raw = record[name]
            if raw not in (True, False, 0, 1):
                raise ValueError(f"isBuy is not a boolean: {raw!r}")
            values[name] = bool(raw)
        elif typ == "bytes32":
            values[name] = _bytes32(record[name])
        elif typ == "int64":
            values[name] = _int(record[name], INT64_MIN, INT64_MAX)
        elif typ == "uint32":
            values[name] = _int(record[name], 0, 2**32 - 1)
        else:  # uint64
            values[name] = _int(record[name], 0, UINT64_MAX)
    return values


def proof_values(record: dict) -> list[bytes]:
    return [_bytes32(p) for p in record["proof"]]


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_outputs(directory: Path) -> tuple[dict, list[dict], list[dict]]:
    """(chain.json, batches.jsonl records, decisions.jsonl records)."""
    directory = Path(directory)
    chain = json.loads((directory / "chain.json").read_text())
    return (
        chain,
        read_jsonl(directory / "batches.jsonl"),
        read_jsonl(directory / "decisions.jsonl"),
    )


# ---------------------------------------------------------- building an epoch


class Epoch:
    """One signer's chain of batches (§1), built and signed as the enclave would."""

    def __init__(self, key: bytes, chain_id: int, verifying_contract: str, venue_id: int):
        self.key = key
        self.signer = Account.from_key(key).address
        self.chain_id = chain_id
        self.verifying_contract = to_checksum_address(verifying_contract)
        self.venue_id = venue_id
        self.domain = domain(chain_id, verifying_contract)
        self.events = MerkleTree()
        self.batches: list[dict] = []
        self.decisions: list[dict] = []

    def close_batch(
        self,
        event_leaves: list[bytes],
        decisions: list[dict],
        enclave_time: int,
        account_count: int,
        state_root: bytes,
        halted_markets: list[int] = (),
        market_data_lines: list[bytes] = (),
    ) -> dict:
        """Append a batch of sequenced events and the decisions made in it; returns
        the signed header record. `decisions` are EIP-712 messages."""
        assert event_leaves, "a batch holds at least one event (§1)"
        old_size = len(self.events.leaves)
        for leaf in event_leaves:
            self.events.append(leaf)

        tree = MerkleTree([leaf_hash(decision_hash(d)) for d in decisions])
        previous = self.batches[-1]["headerHash"] if self.batches else _hex(b"\x00" * 32)
        header = {
            "venueId": self.venue_id,
            "batchIndex": len(self.batches),
            "previousHeaderHash": _bytes32(previous),
            "firstSequence": old_size + 1,
            "lastSequence": len(self.events.leaves),
            "enclaveTime": enclave_time,
            "eventsRoot": self.events.root(),
            "stateRoot": state_root,
            "accountCount": account_count,
            "decisionsRoot": tree.root(),
            "decisionCount": len(decisions),
            # docs/MARKETDATA.md §3: RFC 6962 root over the batch's market data lines.
            "marketDataRoot": MerkleTree([leaf_hash(line) for line in market_data_lines]).root(),
            "haltedMarkets": sorted(halted_markets),
        }
        # Key order as in §4's example; readers must not depend on it.
        record = {"batchIndex": header["batchIndex"]}
        record.update((name, _hex(v) if isinstance(v, bytes) else v) for name, v in header.items())
        record.update(
            headerHash=_hex(header_hash(header, self.domain)),
            digest=_hex(header_digest(header, self.domain)),
            signer=self.signer.lower(),
            signature=sign_header(header, self.domain, self.key),
            eventsConsistency={
                "fromSize": old_size,
                "proof": [_hex(p) for p in self.events.consistency_proof(old_size)],
            },
        )
        self.batches.append(record)

        for j, d in enumerate(decisions):
            self.decisions.append(decision_record(d, header["batchIndex"], j, tree))
        return record

    def write(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, records in (("batches", self.batches), ("decisions", self.decisions)):
            with open(directory / f"{name}.jsonl", "w") as f:
                for r in records:
                    f.write(json.dumps(r, separators=(",", ":")) + "\n")
        chain = {
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract.lower(),
            "venueId": self.venue_id,
            "signer": self.signer.lower(),
        }
        (directory / "chain.json").write_text(json.dumps(chain, indent=2) + "\n")


def decision_record(d: dict, batch_index: int, leaf_index: int, tree: MerkleTree) -> dict:
    record: dict[str, Any] = {}
    for name in DECISION_FIELDS:
        v = d[name]
        if name == "reason":
            record["reason"] = REASON_NAMES[v]
            record["reasonCode"] = v
        elif name == "isBuy":
            record["side"] = "buy" if v else "sell"
            record["isBuy"] = v
        elif name == "fillsHash":
            record["fills"] = d["fills"]
        elif name == "scenarioHash":
            record["scenario"] = d["scenario"]
        else:
            record[name] = _hex(v) if isinstance(v, bytes) else v
    record.update(
        batchIndex=batch_index,
        leafIndex=leaf_index,
        structHash=_hex(decision_hash(d)),
        proof=[_hex(p) for p in tree.inclusion_proof(leaf_index)],
    )
    return record


def random_decision(rng: random.Random, venue_id: int, sequence: int, enclave_time: int) -> dict:
    """A plausible decision, consistent with its execution (COMMITMENTS §3: book fills no
    worse than the worst price, the rest to the fund or ADL at it, no fee without a book
    fill): a negative equity, so int64 sign extension is exercised on every one (signed
    sizes are in test_verifier's EDGE_DECISIONS)."""
    is_buy = rng.random() < 0.5
    size = rng.randint(1, 10**9)
    mark = rng.randint(10**6, 10**11)
    bankruptcy = mark + (size % 997) * (1 if is_buy else -1)
    reason = rng.choice((1, 2))
    filled = size if reason == 1 else rng.randint(0, size)
    worst = bankruptcy + rng.randint(-5000, 5000)
    fills = []
    left = filled
    while left > 0:
        q = rng.randint(1, left)
        fills.append({"kind": "book", "price": worst + rng.randint(0, 9) * (-1 if is_buy else 1), "quantity": q})
        left -= q
    rest_kind = rng.choice(("insuranceFund", "adl"))
    if size > filled:
        fills.append({"kind": rest_kind, "price": worst, "quantity": size - filled})
    maintenance = rng.randint(1, 10**12)
    scenario = None
    if rng.random() < 0.5:  # an account holding options: its scenario adds up to the maintenance
        linear = rng.randint(0, maintenance)
        short = rng.randint(0, maintenance - linear)
        # A non-zero confidence contingency (docs/OPTIONS.md §10.2), drawn without the rng
        # so that every other vector byte stays as it was.
        confidence = (maintenance - linear - short) // 7
        f = rng.randint(10**6, 10**11)
        scenario = {"linearRequirement": linear, "portfolios": [{
            "underlying": rng.randint(0, 63), "mark": f, "scanBps": rng.randint(1, 9000),
            "scenario": rng.randint(0, 50), "moveSteps": rng.randint(-8, 8),
            "volShiftBps": rng.choice((0, 5000, -3000)), "price": rng.randint(1, 2 * f),
            "loss": maintenance - linear - short - confidence, "shortOptionContingency": short,
            "confidenceContingency": confidence,
        }]}  # fmt: skip
    return {
        "scenario": scenario,
        "scenarioHash": scenario_hash(scenario),
        "fills": fills,
        "fillsHash": fills_hash(fills),
        "liquidationFee": rng.randint(0, 10**6) if filled else 0,
        "venueId": venue_id,
        "sequence": sequence,
        "enclaveTime": enclave_time,
        "account": sha256(b"sealstream/v1/account" + rng.randbytes(40)),
        "market": rng.randint(0, 63),
        "isBuy": is_buy,
        "size": size,
        "markPrice": mark,
        "bankruptcyPrice": bankruptcy,
        "worstPrice": worst,
        "equity": -rng.randint(1, 10**12),
        "maintenanceRequirement": maintenance,
        "reason": reason,
        "filledOnBook": filled,
        "toInsuranceFund": size - filled if rest_kind == "insuranceFund" else 0,
        "autoDeleveraged": size - filled if rest_kind == "adl" else 0,
        "stateHash": sha256(b"sealstream/v1/decision-state" + rng.randbytes(40)),
        "marksHash": sha256(b"sealstream/v1/decision-marks" + rng.randbytes(40)),
    }


def build_epoch(
    key: bytes,
    chain_id: int,
    verifying_contract: str,
    venue_id: int,
    decision_counts: list[int],
    seed: int = 6962,
) -> Epoch:
    """An epoch with one batch per entry of `decision_counts`; every third batch
    halts a few markets so that non-empty `haltedMarkets` are exercised."""
    rng = random.Random(seed)
    epoch = Epoch(key, chain_id, verifying_contract, venue_id)
    time = 1_764_170_000_000_000_000
    for b, count in enumerate(decision_counts):
        first = len(epoch.events.leaves) + 1
        n_events = count + rng.randint(1, 40)
        leaves, decisions = [], []
        for seq in range(first, first + n_events):
            time += rng.randint(1_000, 2_000_000)
            message_type = rng.choice((0x03, 0x04, 0x05))
            leaves.append(event_leaf(seq, time, message_type, rng.randbytes(rng.randint(16, 200))))
            if len(decisions) < count:
                decisions.append(random_decision(rng, venue_id, seq, time))
        epoch.close_batch(
            leaves,
            decisions,
            enclave_time=time,
            account_count=5 + b,
            state_root=sha256(rng.randbytes(32)),
            halted_markets=rng.sample(range(64), 3) if b % 3 == 2 else [],
        )
    return epoch


# ------------------------------------------------------------- eth-tester chain

# eth-tester's PyEVMBackend: default chain id, and its first account is private key 1.
ETH_TESTER_CHAIN_ID = 131277322940537
ETH_TESTER_DEPLOYER = Account.from_key(b"\x00" * 31 + b"\x01").address


def create_address(sender: str, nonce: int = 0) -> str:
    """CREATE address keccak256(rlp([sender, nonce]))[12:], for nonce 0 only:
    rlp([20 bytes, 0]) is 0xd6 0x94 <sender> 0x80."""
    assert nonce == 0
    sender_bytes = bytes.fromhex(sender[2:])
    return to_checksum_address(keccak(b"\xd6\x94" + sender_bytes + b"\x80")[12:])


ETH_TESTER_CONTRACT = create_address(ETH_TESTER_DEPLOYER)

# A well-known test key for samples only (never a real signer).
SAMPLE_KEY = keccak(b"sealstream sample signer")
SAMPLE_VENUE_ID = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--chain-id", type=int, default=ETH_TESTER_CHAIN_ID)
    parser.add_argument("--verifying-contract", default=ETH_TESTER_CONTRACT)
    parser.add_argument("--venue-id", type=int, default=SAMPLE_VENUE_ID)
    parser.add_argument(
        "--decisions",
        default="0,3,1,17,0,64",
        help="comma-separated decision count of each batch",
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.decisions.split(",")]
    epoch = build_epoch(SAMPLE_KEY, args.chain_id, args.verifying_contract, args.venue_id, counts)
    epoch.write(args.out_dir)
    print(
        f"wrote {len(epoch.batches)} batches, {len(epoch.decisions)} decisions to {args.out_dir}"
        f" (chainId {args.chain_id}, verifyingContract {epoch.verifying_contract},"
        f" signer {epoch.signer})"
    )


if __name__ == "__main__":
    main()
