"""Writes vectors/outputs.json: the shared table of docs/COMMITMENTS.md §5 cases that the
Swift `OutputVerifier` (Tests/CommitmentsTests/OutputVectorTests.swift) and the Python
reference (test_vectors.py) both run. Epochs are built and signed by reference.py with
its sample key; each case edits one epoch's files and names every check that must fail
(all others must pass) and, for the parse checks and events.log, the first failure.
Cases marked "public" give inputs.jsonl and funding.jsonl (§5.3) too, and those marked
"config" the epoch's venue configuration.

    .venv/bin/python contracts/tests/make_vectors.py     # rewrite the committed file
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import reference as ref

OUT = Path(__file__).parent / "vectors" / "outputs.json"
CHAIN_ID, CONTRACT, VENUE = ref.ETH_TESTER_CHAIN_ID, ref.ETH_TESTER_CONTRACT, ref.SAMPLE_VENUE_ID
OTHER_SIGNER = "0x" + "11" * 20


def market_lines(batch: int, first: int, last: int, time: int, sequence: int, spec: dict) -> list[bytes]:
    """docs/MARKETDATA.md §2 lines of one batch: one per market (1 and 2), keys sorted, as
    the enclave writes them; `spec` may make a record the enclave never writes."""
    out = []
    for leaf, market in enumerate((1, 2)):
        halted = market == 2
        record = {
            # `tradesOnly` labels the record trades-only but keeps its depth: what the enclave never writes.
            "asks": [[60_010_000_000, 1_000_000]],
            "batchIndex": batch, "bids": [[59_990_000_000, 2_000_000]],
            "firstSequence": first, "fundingRateBps": 0, "halted": halted, "lastSequence": last, "leafIndex": leaf,
            "markPrice": 0 if halted else 60_000_000_000, "market": market, "marketSequence": sequence,
            "nextFundingTime": time + 3_600_000_000_000, "openInterest": 3_000_000,
            "oracle": [] if halted else [{"confidence": 0, "price": 60_000_000_000, "publishTime": time, "publisher": 0}],
            "policy": "trades-only" if spec.get("tradesOnly") else "lit",
            "priceInvalidity": 1 if halted else 0, "stateTime": time,
            "trades": [] if halted else [{"aggressor": "buy", "enclaveTime": time, "price": 60_010_000_000,
                                          "sequence": last, "size": 1_000_000}],
            "venueId": VENUE,
        }  # fmt: skip
        if spec.get("haltedMismatch") and market == 1:
            record["halted"] = True
        out.append(json.dumps(record, separators=(",", ":"), sort_keys=True).encode())
    if "option" in spec:
        out.append(option_line(batch, first, last, time, sequence, len(out), spec["option"]))
    return out


def option_line(batch: int, first: int, last: int, time: int, sequence: int, leaf: int, variant: str) -> bytes:
    """docs/MARKETDATA.md §2.1: option market 101's line (a call on market 1); `variant`
    "funding" gives it a funding rate and "kind" an unknown kind, what the enclave never writes;
    "settled" settles it in this batch (§2.2), "residue" and "outside" with a wrong residue or a
    settlement sequence outside the batch."""
    settles = variant in ("settled", "residue", "outside")
    # MARKETDATA §4 `marketdata.options`: "strike" changes a term, "mark" gives an
    # underlyingMark that is not the underlying line's markPrice.
    record = {
        "asks": [[4_200_000_000, 6_000_000]], "batchIndex": batch, "bids": [], "firstSequence": first,
        "fundingRateBps": 3 if variant == "funding" else 0, "halted": False, "lastSequence": last, "leafIndex": leaf,
        "markPrice": 4_182_512_345, "market": 101, "marketSequence": sequence, "nextFundingTime": 0,
        "openInterest": 4_000_000,
        # One expiry on every line (MARKETDATA §4 `marketdata.options`: terms never change),
        # at the epochs' first enclave time, so a settlement in batch 1 is after it.
        "option": {"contractSize": 1_000_000, "expiry": 1_764_170_000_000_000_000,
                   "kind": "straddle" if variant == "kind" else "call", "settled": settles,
                   "strike": 61_000_000_000 if variant == "strike" else 60_000_000_000, "underlying": 1,
                   "underlyingMark": 60_000_000_001 if variant == "mark" else 60_000_000_000},
        "oracle": [], "policy": "lit", "priceInvalidity": 0, "stateTime": time,
        "trades": [{"aggressor": "buy", "enclaveTime": time, "price": 4_200_000_000, "sequence": last, "size": 4_000_000}],
        "venueId": VENUE,
    }  # fmt: skip
    if settles:
        # A call at strike 60,000 settled at F = 61,250: 1,250 USD per unit; 0.04 long (two
        # holders) receive 50 USD, 0.04 short pay it (rounding leaves nothing here).
        record["option"]["settlement"] = {
            "enclaveTime": time, "paid": 50_000_000, "positions": 3, "received": 50_000_000,
            "residue": 1 if variant == "residue" else 0, "sequence": last + 1 if variant == "outside" else last,
            "settlementPrice": 61_250_000_000, "valuePerUnit": 1_250_000_000,
        }  # fmt: skip
        record.update(asks=[], trades=[], openInterest=0)
    return json.dumps(record, separators=(",", ":"), sort_keys=True).encode()


def close(ep: ref.Epoch, leaves, decisions, time, accounts, halted, decisions_root=None, market=()) -> None:
    """reference.Epoch.close_batch without its sorting of haltedMarkets, and with an
    optional forged decisionsRoot: records the enclave never writes, signed all the same."""
    old_size = len(ep.events.leaves)
    for leaf in leaves:
        ep.events.append(leaf)
    tree = ref.MerkleTree([ref.leaf_hash(ref.decision_hash(d)) for d in decisions])
    previous = ep.batches[-1]["headerHash"] if ep.batches else "0x" + "00" * 32
    header = {
        "venueId": VENUE, "batchIndex": len(ep.batches), "previousHeaderHash": bytes.fromhex(previous[2:]),
        "firstSequence": old_size + 1, "lastSequence": len(ep.events.leaves), "enclaveTime": time,
        "eventsRoot": ep.events.root(), "stateRoot": ref.sha256(bytes([len(ep.batches)])),
        "accountCount": accounts, "decisionsRoot": decisions_root or tree.root(),
        "decisionCount": len(decisions),
        "marketDataRoot": ref.MerkleTree([ref.leaf_hash(line) for line in market]).root(),
        "haltedMarkets": list(halted),
    }  # fmt: skip
    record = {k: "0x" + v.hex() if isinstance(v, bytes) else v for k, v in header.items()}
    record.update(
        headerHash="0x" + ref.header_hash(header, ep.domain).hex(),
        digest="0x" + ref.header_digest(header, ep.domain).hex(),
        signer=ep.signer.lower(),
        signature=ref.sign_header(header, ep.domain, ep.key),
        eventsConsistency={
            "fromSize": old_size,
            "proof": ["0x" + p.hex() for p in ep.events.consistency_proof(old_size)],
        },
    )
    ep.batches.append(record)
    for j, d in enumerate(decisions):
        ep.decisions.append(ref.decision_record(d, header["batchIndex"], j, tree))


def epoch(specs: list[dict], seed: int = 11) -> dict:
    """{"batches", "decisions", "events", "marketdata"}: the JSON-lines texts and events.log in hex."""
    rng = random.Random(seed)
    ep = ref.Epoch(ref.SAMPLE_KEY, CHAIN_ID, CONTRACT, VENUE)
    log = b""
    market = b""
    time = 1_764_170_000_000_000_000
    for spec in specs:
        first = len(ep.events.leaves) + 1
        leaves, decisions = [], []
        for k in range(spec["events"]):
            time += rng.randint(1_000, 2_000_000)
            kind = spec.get("types", {}).get(k, (0x05, 0x04, 0x03)[k % 3])
            leaves.append(ref.event_leaf(first + k, time, kind, rng.randbytes(40)))
            if len(decisions) < spec.get("decisions", 0):
                decisions.append(ref.random_decision(rng, VENUE, first + k, time))
        for j, sequence in spec.get("decisionSequence", {}).items():
            decisions[j]["sequence"] = sequence
        lines = market_lines(len(ep.batches), first, first + spec["events"] - 1, time, len(ep.batches) + 1, spec)
        close(ep, leaves, decisions, time, spec.get("accounts", 3), spec.get("halted", []), spec.get("decisionsRoot"), lines)
        log += b"".join(leaves)
        market += b"".join(line + b"\n" for line in lines)

    def text(records):
        return "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in records)

    return {"batches": text(ep.batches), "decisions": text(ep.decisions), "events": log.hex(),
            "marketdata": market.decode()}


FUNDING_TYPE = [
    {"name": "venueId", "type": "uint64"}, {"name": "sequence", "type": "uint64"},
    {"name": "enclaveTime", "type": "uint64"}, {"name": "market", "type": "uint32"},
    {"name": "markPrice", "type": "int64"}, {"name": "rateBps", "type": "int64"}, {"name": "perUnit", "type": "int64"},
    {"name": "intervalNanos", "type": "uint64"}, {"name": "dueTime", "type": "uint64"},
]  # fmt: skip


def sdk_eip712():
    """The SDK's EIP-712 encoder (python/src), written from the docs."""
    import sys  # noqa: PLC0415
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "src"))
    from sealstream import eip712  # noqa: PLC0415
    return eip712


def input_body(r: dict) -> bytes:
    """The frame body of a public input (docs/COMMITMENTS.md §4.1): price `market u32 ‖
    price i64 ‖ confidence u64 ‖ publishTime u64 ‖ publisher[32] ‖ signature[64]`, deposit
    `accountId u64 ‖ accountKey[32] ‖ amount i64 ‖ depositId u64 ‖ signature[64]`, big-endian."""
    def h(v: str) -> bytes:
        return bytes.fromhex(v[2:])

    if r["kind"] == "oraclePrice":
        return (r["market"].to_bytes(4, "big") + r["price"].to_bytes(8, "big", signed=True)
                + r["confidence"].to_bytes(8, "big") + r["publishTime"].to_bytes(8, "big") + h(r["publisher"])
                + h(r["signature"]))  # fmt: skip
    return (r["accountId"].to_bytes(8, "big") + h(r["accountKey"]) + r["amount"].to_bytes(8, "big", signed=True)
            + r["depositId"].to_bytes(8, "big") + h(r["signature"]))  # fmt: skip


def funding_record(ep: ref.Epoch, fields: dict) -> dict:
    """A signed funding line (docs/COMMITMENTS.md §4.3), signed with eth-account over the
    typed data; its struct hash is checked against the SDK's own encoder."""
    eip712 = sdk_eip712()
    m = ref._signable("FundingPayment", FUNDING_TYPE, fields, ep.domain)
    struct_hash, digest = bytes(m.body), ref.keccak(b"\x19" + m.version + m.header + m.body)
    assert struct_hash == eip712.funding_hash(fields), "eth-account and the SDK disagree on FundingPayment"
    signature = ref.Account.sign_message(m, ep.key)
    return dict(fields, structHash="0x" + struct_hash.hex(), digest="0x" + digest.hex(), signer=ep.signer.lower(),
                signature={"r": ref._hex32(signature.r), "s": ref._hex32(signature.s), "v": signature.v})


def public_epoch(seed: int = 23) -> dict:
    """Two batches with public inputs (their leaves hash their rebuilt bodies, §4.1) and one
    signed funding payment each (§4.3), no decisions: the §5.3 cases without a venue
    configuration (checks 19, 20, 26, 27; 21–24 say "not checked"). Prices and deposits
    are not validly signed: only `--config` checks signatures."""
    rng = random.Random(seed)
    ep = ref.Epoch(ref.SAMPLE_KEY, CHAIN_ID, CONTRACT, VENUE)
    time, sequence, log, inputs, funding = 1_764_170_000_000_000_000, 0, b"", [], []
    for kinds in ((0x05, 0x04, 0x04, 0x03), (0x03, 0x04, 0x05, 0x03, 0x04)):
        leaves = []
        for kind in kinds:
            sequence += 1
            time += rng.randint(1_000, 2_000_000)
            if kind == 0x04:
                record = {"confidence": rng.randint(0, 1_000_000), "enclaveTime": time, "kind": "oraclePrice", "market": 1,
                          "price": 60_000_000_000 + rng.randint(0, 1_000_000), "publishTime": time - 1_000_000,
                          "publisher": "0x" + rng.randbytes(32).hex(), "sequence": sequence,
                          "signature": "0x" + rng.randbytes(64).hex()}  # fmt: skip
            elif kind == 0x05:
                record = {"accountId": 1000 + sequence, "accountKey": "0x" + rng.randbytes(32).hex(),
                          "amount": 100_000_000_000, "depositId": sequence, "enclaveTime": time, "kind": "deposit",
                          "sequence": sequence, "signature": "0x" + rng.randbytes(64).hex()}  # fmt: skip
            body = input_body(record) if kind != 0x03 else rng.randbytes(40)
            if kind != 0x03:
                inputs.append(record)
            leaves.append(ref.event_leaf(sequence, time, kind, body))
        funding.append(funding_record(ep, {
            "venueId": VENUE, "sequence": sequence, "enclaveTime": time, "market": 1, "markPrice": 60_000_000_000,
            "rateBps": 3, "perUnit": 18_000_000, "intervalNanos": 3_600_000_000_000, "dueTime": time - 5}))  # fmt: skip
        close(ep, leaves, [], time, 2, [])
        log += b"".join(leaves)

    def text(records):
        return "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in records)

    return {"batches": text(ep.batches), "decisions": "", "events": log.hex(), "marketdata": "",
            "inputs": text(inputs), "funding": text(funding)}


# Ed25519 (RFC 8032 §5.1, the reference algorithm), to sign the demo publishers' prices and
# the demo custody key's deposits: the contracts venv has no Ed25519 library, and the
# verifiers (libsodium in Swift, PyNaCl in the SDK) check these signatures independently.
ED_P = 2**255 - 19
ED_Q = 2**252 + 27742317777372353535851937790883648493
ED_D = -121665 * pow(121666, ED_P - 2, ED_P) % ED_P
ED_SQRT_M1 = pow(2, (ED_P - 1) // 4, ED_P)


def _ed_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa, bb = (y1 - x1) * (y2 - x2) % ED_P, (y1 + x1) * (y2 + x2) % ED_P
    cc, dd = 2 * t1 * t2 * ED_D % ED_P, 2 * z1 * z2 % ED_P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % ED_P, g * h % ED_P, f * g % ED_P, e * h % ED_P)


def _ed_mul(k: int, point):
    out = (0, 1, 1, 0)
    while k:
        if k & 1:
            out = _ed_add(out, point)
        point, k = _ed_add(point, point), k >> 1
    return out


def _ed_base():
    y = 4 * pow(5, ED_P - 2, ED_P) % ED_P
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P)
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P:
        x = x * ED_SQRT_M1 % ED_P
    if x & 1:
        x = ED_P - x
    return (x, y, 1, x * y % ED_P)


def _ed_compress(point) -> bytes:
    zinv = pow(point[2], ED_P - 2, ED_P)
    x, y = point[0] * zinv % ED_P, point[1] * zinv % ED_P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def ed25519(seed: bytes, message: bytes) -> tuple[bytes, bytes]:
    """(public key, signature) of `message` under the 32-byte `seed`."""
    import hashlib  # noqa: PLC0415

    h = hashlib.sha512(seed).digest()
    a = (int.from_bytes(h[:32], "little") & ((1 << 254) - 8)) | (1 << 254)
    public = _ed_compress(_ed_mul(a, _ed_base()))
    r = int.from_bytes(hashlib.sha512(h[32:] + message).digest(), "little") % ED_Q
    big_r = _ed_compress(_ed_mul(r, _ed_base()))
    k = int.from_bytes(hashlib.sha512(big_r + public + message).digest(), "little") % ED_Q
    return public, big_r + ((r + k * a) % ED_Q).to_bytes(32, "little")


def demo_seed(role: str, name: str) -> bytes:
    """docs/SCENARIOS.md "Demo keys"."""
    return ref.sha256(f"sealstream demo key v1|{role}|{name}".encode())


def marks_config() -> str:
    """scripts/demo/venue.json with this table's venue id: what the configured cases verify against."""
    config = json.loads((Path(__file__).resolve().parents[2] / "scripts" / "demo" / "venue.json").read_text())
    config["venueID"] = VENUE
    return json.dumps(config, separators=(",", ":"), sort_keys=True)


def marks_epoch(variant: str = "") -> dict:
    """Two batches of market 1 (BTC-PERP) under `marks_config()`, validly signed inputs, the
    marks and funding schedule of §5.3 (no book, so the rate is 0): batch 0 a deposit and
    two prices (a valid mark; markets 2-4 never priced, so halted), batch 1 an hour later
    two fresh prices (after the first the other is stale: no mark; after the second a mark
    again, and the payment that fell due at the first event's time + 1 h). `variant` makes
    an epoch the enclave never writes, signed all the same."""
    rng = random.Random(31)
    ep = ref.Epoch(ref.SAMPLE_KEY, CHAIN_ID, CONTRACT, VENUE)
    t0, sequence, log, inputs, funding = 1_764_170_000_000_000_000, 0, b"", [], []

    def price(name: str, value: int, time: int, publish_time: int) -> dict:
        message = b"sealstream/v1/oracle-price" + (1).to_bytes(4, "big") + value.to_bytes(8, "big", signed=True) \
            + (0).to_bytes(8, "big") + publish_time.to_bytes(8, "big")
        public, signature = ed25519(demo_seed("publisher", name), message)
        if variant == "badSignature" and name == "pyth-b" and time > t0 + 10**9:
            signature = signature[:10] + bytes([signature[10] ^ 1]) + signature[11:]
        return {"confidence": 0, "enclaveTime": time, "kind": "oraclePrice", "market": 1, "price": value,
                "publishTime": publish_time, "publisher": "0x" + public.hex(), "signature": "0x" + signature.hex()}

    def deposit(time: int, account: int = 1001, trader: str = "alice", deposit_id: int = 1) -> dict:
        account_key, _ = ed25519(demo_seed("trader", trader), b"")
        message = b"sealstream/v1/deposit" + VENUE.to_bytes(8, "big") + account.to_bytes(8, "big") + account_key \
            + (100_000_000_000).to_bytes(8, "big", signed=True) + deposit_id.to_bytes(8, "big")
        _, signature = ed25519(demo_seed("custody", "custody"), message)
        return {"accountId": account, "accountKey": "0x" + account_key.hex(), "amount": 100_000_000_000,
                "depositId": deposit_id, "enclaveTime": time, "kind": "deposit", "signature": "0x" + signature.hex()}

    publishers = json.loads(marks_config())["markets"][0]["oracle"]["publishers"]
    assert [ed25519(demo_seed("publisher", n), b"")[0].hex() for n in ("pyth-a", "pyth-b", "chainlink-c")] == publishers
    t1 = t0 + 3_600_000_000_000 + 10_000_000_000
    # Deposits after batch 1's events, custody-signed all (PROTOCOL §2.7, COMMITMENTS §5.3
    # check 22): "fundDeposits" two to account 0, the insurance fund, under two keys (it
    # registers none: both admitted); "secondKey" one more to account 1001 under a key not
    # its first deposit's (accountKeyMismatch).
    late = {"fundDeposits": [deposit(t1 + 3_000_000, 0, "alice", 2), deposit(t1 + 4_000_000, 0, "bob", 3)],
            "secondKey": [deposit(t1 + 3_000_000, 1001, "bob", 2)]}.get(variant, [])
    batches = [
        ([deposit(t0), price("pyth-a", 60_000_000_000, t0 + 1_000_000, t0 - 500_000_000),
          price("pyth-b", 60_010_000_000, t0 + 2_000_000, t0 - 498_000_000), None], t0 + 4_000_000,
         [2, 3] if variant == "haltedWrong" else [2, 3, 4]),
        ([price("pyth-a", 60_020_000_000, t1, t1 - 100_000_000), price("pyth-b", 60_030_000_000, t1 + 1_000_000, t1 - 50_000_000),
          None] + ([price("chainlink-c", 60_000_000_000, t1 + 2_000_000, t1 - 120_000_000_000)] if variant == "stale" else [])
         + ([dict(price("pyth-a", 60_020_000_000, t1 + 2_000_000, t1), publisher="0x" + ed25519(
             demo_seed("publisher", "mallory"), b"")[0].hex())] if variant == "unknownPublisher" else []) + late,
         t1 + 5_000_000, [2, 3, 4]),
    ]  # fmt: skip
    if variant == "unknownPublisher":  # mallory's own signature, over her price
        r = batches[1][0][-1]
        message = b"sealstream/v1/oracle-price" + (1).to_bytes(4, "big") + r["price"].to_bytes(8, "big", signed=True) \
            + (0).to_bytes(8, "big") + r["publishTime"].to_bytes(8, "big")
        r["signature"] = "0x" + ed25519(demo_seed("publisher", "mallory"), message)[1].hex()
    for events, close_time, halted in batches:
        leaves = []
        for record in events:
            sequence += 1
            if record is None:  # a sealed request: its body is private
                time = leaves[-1][8:16] if leaves else t0
                leaves.append(ref.event_leaf(sequence, int.from_bytes(time, "big") + 1_000_000, 0x03, rng.randbytes(40)))
                continue
            record["sequence"] = sequence
            inputs.append(record)
            leaves.append(ref.event_leaf(sequence, record["enclaveTime"], 0x04 if record["kind"] == "oraclePrice" else 0x05,
                                         input_body(record)))  # fmt: skip
            if sequence == 6:  # the payment owed after event 6 (pyth-b fresh again): the mean of the two
                mark = 60_025_000_000 + (1 if variant == "fundingWrong" else 0)
                funding.append(funding_record(ep, {
                    "venueId": VENUE, "sequence": sequence, "enclaveTime": record["enclaveTime"], "market": 1,
                    "markPrice": mark, "rateBps": 0, "perUnit": 0, "intervalNanos": 3_600_000_000_000,
                    "dueTime": t0 + 3_600_000_000_000}))  # fmt: skip
        close(ep, leaves, [], close_time, 2, halted)
        log += b"".join(leaves)

    def text(records):
        return "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in records)

    return {"batches": text(ep.batches), "decisions": "", "events": log.hex(), "marketdata": "",
            "inputs": text(inputs), "funding": text(funding), "config": marks_config()}


BASE = [
    {"events": 3, "accounts": 2},
    {"events": 6, "decisions": 2, "halted": [2, 9]},
    {"events": 4, "decisions": 1},
]


def lines(t: str) -> list[str]:
    return t.splitlines(keepends=True)


def build() -> dict:
    epochs = {
        "base": epoch(BASE),
        "haltedUnsorted": epoch(BASE[:2] + [{"events": 4, "decisions": 1, "halted": [9, 2]}]),
        "haltedRepeated": epoch(BASE[:2] + [{"events": 4, "decisions": 1, "halted": [4, 4]}]),
        "unknownEventType": epoch(BASE[:1] + [{"events": 6, "decisions": 2, "types": {4: 0x06}}] + BASE[2:]),
        "decisionOutsideBatch": epoch(BASE[:1] + [{"events": 6, "decisions": 2, "decisionSequence": {1: 10}}] + BASE[2:]),
        "accountsDecrease": epoch([{"events": 3, "accounts": 4}] + BASE[1:]),
        "accountsZero": epoch([{"events": 3, "accounts": 0}] + BASE[1:]),
        "emptyDecisionsRoot": epoch([{"events": 3, "decisionsRoot": ref.sha256(b"not empty")}] + BASE[1:]),
        "tradesOnlyDepth": epoch(BASE[:1] + [{"events": 6, "decisions": 2, "tradesOnly": True}] + BASE[2:]),
        "haltedMismatch": epoch(BASE[:2] + [{"events": 4, "decisions": 1, "haltedMismatch": True}]),
        "options": epoch([spec | {"option": ""} for spec in BASE]),
        "optionFunding": epoch(BASE[:2] + [BASE[2] | {"option": "funding"}]),
        "optionKind": epoch(BASE[:1] + [BASE[1] | {"option": "kind"}] + BASE[2:]),
        "optionSettled": epoch([BASE[0] | {"option": ""}, BASE[1] | {"option": "settled"}] + BASE[2:]),
        "optionResidue": epoch([BASE[0] | {"option": ""}, BASE[1] | {"option": "residue"}] + BASE[2:]),
        "optionOutside": epoch([BASE[0] | {"option": ""}, BASE[1] | {"option": "outside"}] + BASE[2:]),
        "optionTerms": epoch([BASE[0] | {"option": ""}, BASE[1] | {"option": "strike"}] + BASE[2:]),
        "optionTwice": epoch([BASE[0] | {"option": ""}, BASE[1] | {"option": "settled"}, BASE[2] | {"option": "settled"}]
                             + BASE[3:]),
        "optionMark": epoch([BASE[0] | {"option": "mark"}] + BASE[1:]),
        "public": public_epoch(),
        "marks": marks_epoch(),
        "marksBadSignature": marks_epoch("badSignature"),
        "marksUnknownPublisher": marks_epoch("unknownPublisher"),
        "marksStale": marks_epoch("stale"),
        "marksHaltedWrong": marks_epoch("haltedWrong"),
        "marksFundingWrong": marks_epoch("fundingWrong"),
        "marksFundDeposits": marks_epoch("fundDeposits"),
        "marksSecondKey": marks_epoch("secondKey"),
    }
    pi, pf, pb = lines(epochs["public"]["inputs"]), lines(epochs["public"]["funding"]), lines(epochs["public"]["batches"])
    price4, time3 = json.loads(pi[3])["price"], json.loads(pi[2])["enclaveTime"]
    signer = ref.Epoch(ref.SAMPLE_KEY, CHAIN_ID, CONTRACT, VENUE).signer.lower()
    md = lines(epochs["base"]["marketdata"])
    b, d = lines(epochs["base"]["batches"]), lines(epochs["base"]["decisions"])
    h3 = json.loads(b[2])
    d1, d3 = json.loads(d[0]), json.loads(d[2])

    def op(file, line, old, new):
        source = {"batches": b, "decisions": d, "marketdata": md}[file]
        assert old in source[line - 1], (file, line, old)
        return {"file": file, "line": line, "old": old, "new": new}

    def pop(file, line, old, new, source=None):  # an edit of the public (or marks) epoch's files
        source = source or {"inputs": pi, "funding": pf, "batches": pb}[file]
        assert old in source[line - 1], (file, line, old)
        return {"file": file, "line": line, "old": old, "new": new}

    def parse_fail(check, line, error, path="$", extra=None):
        # A syntax error's path is where the reader stopped: not compared.
        fail = {check: {"error": error, "line": line} | ({} if error == "syntax" else {"path": path})}
        fail[{"headers.parse": "decisions.batch", "decisions.parse": "decisions.batch"}[check]] = {}
        return fail | (extra or {})

    size = f'"size":{d1["size"]},'
    account = f'"account":"{d3["account"]}"'
    d2 = json.loads(d[1])
    assert d1["scenario"] is None and d2["scenario"] is not None, "line 2 carries a scenario, line 1 none"
    loss2 = f'"loss":{d2["scenario"]["portfolios"][0]["loss"]},'
    portfolio2 = json.dumps(d2["scenario"]["portfolios"][0], separators=(",", ":"), sort_keys=True)
    cases = [
        ("base epoch passes", "base", [], {}),
        ("empty epoch passes (worker died before its first batch)", "empty", [], {}),
        # §5.1: JSON.
        # The signed value first: a first-value reader (Foundation) saw a valid record.
        ("duplicate size key", "base", [op("decisions", 1, size, size + '"size":1,')],
         parse_fail("decisions.parse", 1, "duplicateKey", "$.size")),
        ("duplicate nested key", "base", [op("batches", 3, '"v":', '"v":27,"v":')],
         parse_fail("headers.parse", 3, "duplicateKey", "$.signature.v")),
        ("fraction 6.0", "base", [op("decisions", 1, size, size[:-1] + ".0,")],
         parse_fail("decisions.parse", 1, "nonCanonicalNumber", "$.size")),
        ("exponent 6e0", "base", [op("batches", 3, '"accountCount":3,', '"accountCount":3e0,')],
         parse_fail("headers.parse", 3, "nonCanonicalNumber", "$.accountCount")),
        ("minus zero", "base", [op("decisions", 1, '"leafIndex":0,', '"leafIndex":-0,')],
         parse_fail("decisions.parse", 1, "nonCanonicalNumber", "$.leafIndex")),
        ("leading zero", "base", [op("batches", 3, '"accountCount":3,', '"accountCount":03,')],
         parse_fail("headers.parse", 3, "syntax")),
        ("plus sign", "base", [op("batches", 3, '"accountCount":3,', '"accountCount":+3,')],
         parse_fail("headers.parse", 3, "syntax")),
        ("NaN", "base", [op("batches", 3, '"accountCount":3,', '"accountCount":NaN,')],
         parse_fail("headers.parse", 3, "syntax")),
        ("trailing data", "base", [op("batches", 3, "}\n", "} {}\n")], parse_fail("headers.parse", 3, "trailingData")),
        ("blank line", "base", [op("batches", 1, "\n", "\n\n")],
         {"headers.parse": {"error": "blankLine", "line": 2, "path": "$"}}),
        ("whitespace-only line", "base", [op("decisions", 3, "\n", "\n \t\n")],
         {"decisions.parse": {"error": "blankLine", "line": 4, "path": "$"}}),
        ("missing final newline", "base", [op("batches", 3, "}\n", "}")],
         parse_fail("headers.parse", 3, "missingNewline")),
        # §5.1: schema.
        ("unknown field", "base", [op("decisions", 1, "{", '{"note":1,')],
         parse_fail("decisions.parse", 1, "unknownField", "$.note")),
        ("missing field", "base", [op("decisions", 3, account + ",", "")],
         parse_fail("decisions.parse", 3, "missingField", "$.account")),
        ("string for an integer", "base", [op("decisions", 1, f'"market":{d1["market"]},', f'"market":"{d1["market"]}",')],
         parse_fail("decisions.parse", 1, "wrongType", "$.market")),
        ("boolean as integer", "base",
         [op("decisions", 1, f'"isBuy":{json.dumps(d1["isBuy"])}', f'"isBuy":{int(d1["isBuy"])}')],
         parse_fail("decisions.parse", 1, "wrongType", "$.isBuy")),
        ("uint32 out of range", "base", [op("decisions", 1, f'"market":{d1["market"]},', '"market":4294967296,')],
         parse_fail("decisions.parse", 1, "outOfRange", "$.market")),
        ("upper-case hex", "base", [op("decisions", 3, account, account[:14] + account[14:].upper())],
         parse_fail("decisions.parse", 3, "badHex", "$.account")),
        ("upper-case 0X prefix", "base", [op("batches", 3, '"stateRoot":"0x', '"stateRoot":"0X')],
         parse_fail("headers.parse", 3, "badHex", "$.stateRoot")),
        ("odd-length hex", "base", [op("batches", 3, f'"signer":"{h3["signer"]}"', f'"signer":"{h3["signer"][:-1]}"')],
         parse_fail("headers.parse", 3, "badHex", "$.signer")),
        ("wrongly sized hex", "base", [op("decisions", 1, d1["proof"][0], d1["proof"][0][:-2])],
         parse_fail("decisions.parse", 1, "badHex", "$.proof[0]")),
        ("signature v 29", "base", [op("batches", 3, f'"v":{h3["signature"]["v"]}', '"v":29')],
         parse_fail("headers.parse", 3, "outOfRange", "$.signature.v")),
        ("side disagrees with isBuy", "base",
         [op("decisions", 1, f'"side":"{d1["side"]}"', '"side":"' + ("sell" if d1["isBuy"] else "buy") + '"')],
         parse_fail("decisions.parse", 1, "mismatch", "$.side")),
        ("unknown reason code", "base", [op("decisions", 1, f'"reasonCode":{d1["reasonCode"]}', '"reasonCode":4')],
         parse_fail("decisions.parse", 1, "outOfRange", "$.reasonCode")),
        # The triggering scenario (COMMITMENTS §3 scenarioHash): committed, and read strictly.
        ("scenario edited", "base", [op("decisions", 2, loss2, f'"loss":{d2["scenario"]["portfolios"][0]["loss"] + 1},')],
         {"decisions.inclusion": {}}),
        ("scenario added to a linear decision", "base",
         [op("decisions", 1, '"scenario":null', '"scenario":{"linearRequirement":0,"portfolios":[' + portfolio2 + "]}")],
         {"decisions.inclusion": {}}),
        ("scenario removed", "base", [op("decisions", 2, '"scenario":{', '"scenario":null,"x":{')],
         parse_fail("decisions.parse", 2, "unknownField", "$.x")),
        ("scenario without portfolios", "base",
         [op("decisions", 2, '"portfolios":[' + portfolio2 + "]", '"portfolios":[]')],
         parse_fail("decisions.parse", 2, "outOfRange", "$.scenario.portfolios")),
        ("scenario portfolios not ascending", "base",
         [op("decisions", 2, '"portfolios":[' + portfolio2 + "]", '"portfolios":[' + portfolio2 + "," + portfolio2 + "]")],
         parse_fail("decisions.parse", 2, "notAscending", "$.scenario.portfolios[1].underlying")),
        ("scenario index negative", "base",
         [op("decisions", 2, f'"scenario":{d2["scenario"]["portfolios"][0]["scenario"]},', '"scenario":-1,')],
         parse_fail("decisions.parse", 2, "outOfRange", "$.scenario.portfolios[0].scenario")),
        ("scenario missing", "base", [op("decisions", 1, '"scenario":null,', "")],
         parse_fail("decisions.parse", 1, "missingField", "$.scenario")),
        ("unsorted haltedMarkets", "haltedUnsorted", [],
         parse_fail("headers.parse", 3, "notAscending", "$.haltedMarkets[1]")),
        ("repeated haltedMarkets", "haltedRepeated", [],
         parse_fail("headers.parse", 3, "notAscending", "$.haltedMarkets[1]")),
        # §5.2: checks.
        ("signer field is not the expected signer", "base",
         [op("batches", 2, f'"signer":"{h3["signer"]}"', f'"signer":"{OTHER_SIGNER}"')], {"headers.signer": {}}),
        ("another expected signer", "base", [], {"headers.signature": {}, "headers.signer": {}}, OTHER_SIGNER),
        ("unknown event type", "unknownEventType", [], {"events.log": {"error": "type"}}),
        ("decision outside its batch", "decisionOutsideBatch", [], {"decisions.batch": {}}),
        ("accountCount decreases", "accountsDecrease", [], {"chain.accounts": {}}),
        ("accountCount zero", "accountsZero", [], {"chain.accounts": {}}),
        ("no decisions but a non-empty decisionsRoot", "emptyDecisionsRoot", [], {"decisions.inclusion": {}}),
        ("events.log cut short", "base", [{"file": "events", "truncate": 12 * 49}], {"events.log": {"error": "short"}}),
        ("events.log torn record", "base", [{"file": "events", "truncate": 13 * 49 - 1}],
         {"events.log": {"error": "length"}}),
        ("events.log sequence", "base", [{"file": "events", "offset": 49 * 5 + 7, "byte": 99}],
         {"events.log": {"error": "sequence"}}),
        # §5.3 without a venue configuration: the cases of the "public" epoch give
        # inputs.jsonl and funding.jsonl to the verifier ("public": true); checks 21–24 say
        # "not checked" and pass. A refused input line is skipped, so its leaf has no record.
        ("public epoch passes (inputs and funding, no config)", "public", [], {}),
        ("input duplicate key", "public", [pop("inputs", 2, '"market":1,', '"market":1,"market":1,')],
         {"inputs.parse": {"error": "duplicateKey", "line": 2, "path": "$.market"}, "inputs.leaf": {"error": "missing"}}),
        ("input unknown field", "public", [pop("inputs", 5, "{", '{"note":1,')],
         {"inputs.parse": {"error": "unknownField", "line": 5, "path": "$.note"}, "inputs.leaf": {"error": "missing"}}),
        ("input unknown kind", "public", [pop("inputs", 1, '"kind":"deposit"', '"kind":"withdrawal"')],
         {"inputs.parse": {"error": "outOfRange", "line": 1, "path": "$.kind"}, "inputs.leaf": {"error": "missing"}}),
        ("input price edited", "public", [pop("inputs", 4, f'"price":{price4}', f'"price":{price4 + 1}')],
         {"inputs.leaf": {"error": "bodyHash"}}),
        ("input time differs from its leaf", "public", [pop("inputs", 3, f'"enclaveTime":{time3}', f'"enclaveTime":{time3 + 1}')],
         {"inputs.leaf": {"error": "time"}}),
        ("input names a sealed request's leaf", "public", [pop("inputs", 4, '"sequence":6,', '"sequence":5,')],
         {"inputs.leaf": {"error": "type"}}),
        ("inputs out of order", "public", [pop("inputs", 3, '"sequence":3,', '"sequence":2,')],
         {"inputs.leaf": {"error": "order"}}),
        ("input past the log", "public", [pop("inputs", 6, '"sequence":9,', '"sequence":99,')],
         {"inputs.leaf": {"error": "noLeaf"}}),
        ("input withheld", "public", [pop("inputs", 5, pi[4], "")], {"inputs.leaf": {"error": "missing"}}),
        ("inputs with a torn events.log", "public", [{"file": "events", "truncate": 9 * 49 - 1}],
         {"events.log": {"error": "length"}, "inputs.leaf": {"error": "noEventsLog"}}),
        ("funding unknown field", "public", [pop("funding", 1, "{", '{"note":1,')],
         {"funding.parse": {"error": "unknownField", "line": 1, "path": "$.note"}}),
        ("funding mark edited", "public", [pop("funding", 2, '"markPrice":60000000000', '"markPrice":60000000001')],
         {"funding.records": {"error": "digest"}}),
        ("funding signer field", "public", [pop("funding", 1, f'"signer":"{signer}"', f'"signer":"{OTHER_SIGNER}"')],
         {"funding.records": {"error": "signature"}}),
        ("funding of an uncovered event", "public", [pop("batches", 2, pb[1], "")],
         {"funding.records": {"error": "uncovered"}}),
        ("public epoch, another expected signer", "public", [],
         {"headers.signature": {}, "headers.signer": {}, "funding.records": {"error": "signature"}}, OTHER_SIGNER),
        # §5.3 with the venue configuration (the epoch's `config`, "config": true): validly
        # signed inputs of the demo keys, marks and the funding schedule recomputed.
        ("configured epoch passes (signatures, admission, marks, funding)", "marks", [], {}),
        ("price signature does not verify (signed epoch)", "marksBadSignature", [],
         {"inputs.signature": {"error": "signature"}}),
        ("price of an unregistered publisher (signed epoch)", "marksUnknownPublisher", [],
         {"inputs.signature": {"error": "unknownPublisher"}}),
        ("stale price admitted (signed epoch)", "marksStale", [], {"inputs.admission": {"error": "stalePrice"}}),
        ("haltedMarkets disagree with the marks (signed)", "marksHaltedWrong", [],
         {"marks.halted": {"error": "haltedMarkets"}}),
        ("funding paid at another mark (signed)", "marksFundingWrong", [], {"funding.records": {"error": "mismatch"}}),
        # PROTOCOL §2.7, check 22: a deposit to account 0 registers no key, so two under
        # different keys are both admitted; any other account's deposit under a key not its
        # first deposit's is accountKeyMismatch.
        ("two insurance fund deposits under different keys (signed)", "marksFundDeposits", [], {}),
        ("a second key for account 1001 (signed)", "marksSecondKey", [],
         {"inputs.admission": {"error": "accountKeyMismatch"}}),
        ("price withheld: the replay stops there", "marks",
         [pop("inputs", 4, lines(epochs["marks"]["inputs"])[3], "", lines(epochs["marks"]["inputs"]))],
         {"inputs.leaf": {"error": "missing"}, "marks.halted": {"error": "incomplete"},
          "funding.records": {"error": "incomplete"}}),
        ("funding payment withheld", "marks", [pop("funding", 1, lines(epochs["marks"]["funding"])[0], "",
                                                    lines(epochs["marks"]["funding"]))],
         {"funding.records": {"error": "missing"}}),
        # docs/MARKETDATA.md §4: the cases below give marketdata.jsonl to the verifier too
        # ("marketdata": true); the others leave it out (absent: not checked).
        ("base epoch with its market data passes", "base", [], {}),
        ("market data line edited", "base", [op("marketdata", 3, '"openInterest":3000000', '"openInterest":3000001')],
         {"marketdata.root": {}}),
        ("market data line dropped", "base", [op("marketdata", 3, md[2], "")],
         {"marketdata.batch": {}, "marketdata.root": {}}),
        ("market data duplicate key", "base", [op("marketdata", 4, '"market":2,', '"market":2,"market":1,')],
         # A line that does not read is skipped: its batch misses a leaf and its market a number.
         {"marketdata.parse": {"error": "duplicateKey", "line": 4, "path": "$.market"}, "marketdata.batch": {},
          "marketdata.root": {}}),
        ("market data level not a pair", "base", [op("marketdata", 1, "[[60010000000,1000000]]", "[[60010000000]]")],
         {"marketdata.parse": {"error": "outOfRange", "line": 1, "path": "$.asks[0]"}, "marketdata.batch": {},
          "marketdata.root": {}}),
        ("market data halted disagrees (signed)", "haltedMismatch", [],
         {"marketdata.parse": {"error": "mismatch", "line": 5, "path": "$.halted"}, "marketdata.batch": {},
          "marketdata.root": {}}),
        ("trades-only with depth (signed)", "tradesOnlyDepth", [], {"marketdata.batch": {}}),
        # docs/MARKETDATA.md §2.1: option markets' lines.
        ("option market lines pass", "options", [], {}),
        ("option line with a funding rate (signed)", "optionFunding", [],
         {"marketdata.parse": {"error": "mismatch", "line": 7, "path": "$.fundingRateBps"},
          "marketdata.root": {}}),
        ("option settlement passes", "optionSettled", [], {}),
        ("option settlement with a wrong residue (signed)", "optionResidue", [],
         {"marketdata.parse": {"error": "mismatch", "line": 6, "path": "$.option.settlement.residue"},
          "marketdata.root": {}}),
        ("option settlement outside its batch (signed)", "optionOutside", [], {"marketdata.batch": {}}),
        ("option terms change between lines (signed)", "optionTerms", [], {"marketdata.options": {}}),
        ("option settled twice (signed)", "optionTwice", [], {"marketdata.options": {}}),
        ("underlyingMark not the underlying's mark (signed)", "optionMark", [], {"marketdata.options": {}}),
        ("option line with an unknown kind (signed)", "optionKind", [],
         {"marketdata.parse": {"error": "outOfRange", "line": 5, "path": "$.option.kind"},
          "marketdata.root": {}}),
    ]
    epochs["empty"] = {"batches": "", "decisions": "", "events": "", "marketdata": ""}
    out = []
    with_market_data = False
    for name, ep, ops, fail, *signer in cases:
        with_market_data = with_market_data or name.startswith("base epoch with its market data")
        case = {"name": name, "epoch": ep, "ops": ops, "fail": fail} | ({"marketdata": True} if with_market_data else {})
        if ep == "public" or ep.startswith("marks"):
            case["public"] = True
        if ep.startswith("marks"):
            case["config"] = True
        if signer:
            case["signer"] = signer[0]
        out.append(case)
    signer = ref.Epoch(ref.SAMPLE_KEY, CHAIN_ID, CONTRACT, VENUE).signer.lower()
    out += mutations(epochs["base"], signer)
    out += mutations(epochs["base"], signer, count=64, seed=8260, files=("marketdata",))
    return {
        "about": "docs/COMMITMENTS.md §5 cases; written by contracts/tests/make_vectors.py",
        "chainId": CHAIN_ID, "verifyingContract": CONTRACT.lower(), "venueId": VENUE, "signer": signer,
        "epochs": epochs, "cases": out,
    }  # fmt: skip


MUTATION_ALPHABET = '"{}[],:0123456789-+.eEaAfFxX \t\\'


def mutations(base: dict, signer: str, count: int = 160, seed: int = 8259,
              files: tuple[str, ...] = ("batches", "decisions")) -> list[dict]:
    """Random one-byte edits (replace, delete, insert) of the base epoch's files, taken in
    turn from `files`. Their expected verdicts are the Python verifier's when the table was
    written: unlike the hand-written cases above, these check that the two implementations
    agree. Edits of `marketdata` give the verifier the market data (`"marketdata": true`)."""
    import sys  # noqa: PLC0415
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "src"))
    from verify_outputs import verify_outputs  # noqa: PLC0415 (the SDK's, python/src)

    rng = random.Random(seed)
    dom = ref.domain(CHAIN_ID, CONTRACT)
    out = []
    with_market_data = "marketdata" in files
    for n in range(count):
        file = files[n % len(files)]
        text = base[file]
        at = rng.randrange(len(text))
        kind = rng.choice(("replace", "delete", "insert"))
        char = rng.choice(MUTATION_ALPHABET)
        op = {"file": file, "at": at, "delete": 0 if kind == "insert" else 1, "insert": "" if kind == "delete" else char}
        edited = text[:at] + op["insert"] + text[at + op["delete"] :]
        if edited == text:
            continue
        edited_files = dict(base, **{file: edited})
        verdicts = verify_outputs(
            edited_files["batches"].encode(), edited_files["decisions"].encode(), bytes.fromhex(edited_files["events"]),
            signer, dom, VENUE, edited_files["marketdata"].encode() if with_market_data else None,
        )
        fail = {}
        for check, v in verdicts.items():
            if not v["pass"]:
                fail[check] = {k: v[k] for k in ("error", "line", "path") if v.get(k) is not None}
                if fail[check].get("error") == "syntax":
                    del fail[check]["path"]
        case = {"name": f"mutation {n}: {kind} {char!r} at {file}[{at}]", "epoch": "base", "ops": [op], "fail": fail}
        out.append(case | ({"marketdata": True} if with_market_data else {}))
    return out


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
