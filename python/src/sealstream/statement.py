"""Private statements (docs/COMMITMENTS.md §7, docs/PROTOCOL.md §2.16): decode the sealed
reply's plaintext, join pages, and run the client's nine named checks. Pure: bytes in,
values and verdicts out."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field, replace

from . import merkle
from .errors import ProofError, SealstreamError, WireError
from .outputs.strict import RecordError, read_header
from .proofs import Domain, check_header

STATUS = {0: "ok", 1: "tooOld", 2: "notOwner", 3: "noStatement", 4: "malformed", 5: "badOffset"}
KINDS = {1: "deposit", 2: "withdrawal", 3: "takerFill", 4: "makerFill", 5: "funding", 6: "liquidation",
         7: "liquidationFee", 8: "autoDeleveraged", 9: "optionSettlement"}  # fmt: skip
TRADES = {"takerFill", "makerFill", "liquidation", "autoDeleveraged"}
CHECKS = ["statement.order", "statement.arithmetic", "leaf.present", "header.record", "header.signature",
          "leaf.account", "leaf.inclusion", "statement.coverage", "statement.balance"]  # fmt: skip


class StatementRefused(SealstreamError):
    """The enclave answered a statement request with a status other than ok; `oldest` is
    the smallest `since` it accepts (status `tooOld`)."""

    def __init__(self, status: str, oldest: int):
        super().__init__(f"statement refused: {status}" + (f" (oldest since accepted: {oldest})" if status == "tooOld" else ""))
        self.status, self.oldest = status, oldest


@dataclass(frozen=True)
class Balance:
    collateral: int
    positions: tuple[tuple[int, int], ...]  # (market, size), ascending market


@dataclass(frozen=True)
class Entry:
    sequence: int
    kind: str
    market: int
    price: int
    quantity: int
    amount: int
    after: Balance


@dataclass(frozen=True)
class Leaf:
    leaf_index: int
    tree_size: int
    salt: bytes
    state: bytes
    proof: tuple[bytes, ...]
    header_record: bytes


@dataclass(frozen=True)
class Opening:
    """What opens one liquidation decision's commitments (COMMITMENTS §3, §7.2): give
    `salt`, `state` and `marks` to `challengeLiquidation` (§6.1)."""

    sequence: int
    step: int
    salt: bytes
    state: bytes  # §2.2 bytes just before the step
    marks: tuple[tuple[int, int, int], ...]  # (market, mark, maintenanceBps) per position


@dataclass
class Page:
    status: str
    account_id: int
    since: int
    oldest: int
    head: int
    total: int = 0
    offset: int = 0
    opening_sequence: int = 0
    opening: Balance = Balance(0, ())
    entries: list[Entry] = field(default_factory=list)
    leaf: Leaf | None = None
    openings: list[Opening] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise WireError("statement reply cut short", "statement")
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values if len(values) > 1 else values[0]

    def raw(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise WireError("statement reply cut short", "statement")
        self.at += n
        return self.data[self.at - n:self.at]

    def balance(self) -> Balance:
        hi, lo, n = self.take(">qQH")
        return Balance((hi << 64) | lo, tuple(self.take(">Iq") for _ in range(n)))


def query(account_id: int, since: int, offset: int = 0) -> bytes:
    """The 20-byte StatementRequest plaintext: `account_id u64 ‖ since u64 ‖ offset u32`."""
    return struct.pack(">QQI", account_id, since, offset)


def decode_page(plain: bytes) -> Page:
    r = _Reader(plain)
    status, account, since, oldest, head = r.take(">BQQQQ")
    if status not in STATUS:
        raise WireError(f"statement status {status}", "status")
    page = Page(STATUS[status], account, since, oldest, head)
    if page.status == "ok":
        page.total, page.offset, page.opening_sequence = r.take(">IIQ")
        page.opening = r.balance()
        for _ in range(r.take(">H")):
            sequence, kind, market, price, quantity, amount = r.take(">QBIqqq")
            if kind not in KINDS:
                raise WireError(f"statement entry kind {kind}", "kind")
            page.entries.append(Entry(sequence, KINDS[kind], market, price, quantity, amount, r.balance()))
        flag = r.take(">B")
        if flag == 1:
            index, size = r.take(">QQ")
            salt = r.raw(32)
            state = r.raw(r.take(">H"))
            proof = tuple(r.raw(32) for _ in range(r.take(">B")))
            page.leaf = Leaf(index, size, salt, state, proof, r.raw(r.take(">H")))
        elif flag != 0:
            raise WireError(f"statement leaf flag {flag}", "leaf")
        for _ in range(r.take(">H")):
            sequence, step = r.take(">QI")
            salt = r.raw(32)
            state = r.raw(r.take(">H"))
            marks = tuple(r.take(">IqI") for _ in range(r.take(">H")))
            page.openings.append(Opening(sequence, step, salt, state, marks))
    if r.at != len(plain):
        raise WireError("trailing bytes after the statement reply", "statement")
    return page


def join(pages: list[Page]) -> Page:
    """One statement from its pages (same since and opening; the last page's head and leaf)."""
    first = pages[0]
    out = replace(first, entries=[e for p in pages for e in p.entries], head=pages[-1].head, leaf=pages[-1].leaf,
                  total=pages[-1].total)  # fmt: skip
    if any(p.opening != first.opening or p.opening_sequence != first.opening_sequence for p in pages):
        raise ProofError("statement pages do not join: another opening balance")
    return out


def leaf_state(state: bytes) -> tuple[int, Balance] | None:
    """(account id, balance) of a leaf's `state` bytes (COMMITMENTS §2.2), or None."""
    try:
        r = _Reader(state)
        account, hi, lo, n = r.take(">QqQI")
        positions = []
        for _ in range(n):
            market, size = r.take(">Iq")
            r.raw(32)  # cost basis and funding index: in the leaf, not in entries
            positions.append((market, size))
        r.take(">I")
        if r.at != len(state):
            return None
        return account, Balance((hi << 64) | lo, tuple(positions))
    except WireError:
        return None


def balance_at(s: Page, sequence: int) -> Balance | None:
    if s.opening_sequence > sequence:
        return None
    last = [e for e in s.entries if e.sequence <= sequence]
    return last[-1].after if last else s.opening


def _order(s: Page, account_id: int) -> str | None:
    if s.account_id != account_id:
        return f"the statement is account {s.account_id}'s"
    if s.opening_sequence > s.since:
        return "opening after since"
    last = s.since
    for i, e in enumerate(s.entries):
        if not (e.sequence > s.since and e.sequence >= last and e.sequence <= s.head):
            return f"entry {i} out of order"
        last = e.sequence
    return None


def _arithmetic(s: Page) -> str | None:
    running = s.opening
    markets = [m for m, _ in running.positions]
    if markets != sorted(set(markets)) or any(size == 0 for _, size in running.positions):
        return "opening balance: bad positions"
    for i, e in enumerate(s.entries):
        collateral, positions = running.collateral, dict(running.positions)
        if e.kind in ("deposit", "withdrawal"):
            if e.amount <= 0 or e.market or e.price or e.quantity:
                return f"entry {i}: bad {e.kind} fields"
            collateral += e.amount if e.kind == "deposit" else -e.amount
        elif e.kind == "liquidationFee":
            if e.amount <= 0 or e.price or e.quantity:
                return f"entry {i}: bad liquidation fee fields"
            collateral -= e.amount
        elif e.kind == "funding":
            held = positions.get(e.market, 0)
            if e.quantity != held or held == 0:
                return f"entry {i}: funding on {e.quantity}, position is {held}"
            if e.amount != (e.quantity * e.price) // -100_000_000:  # −⌈q × p / 10⁸⌉
                return f"entry {i}: funding amount {e.amount}"
            collateral += e.amount
        elif e.kind == "optionSettlement":
            held = positions.get(e.market, 0)
            if e.quantity != held or held == 0 or e.price < 0:
                return f"entry {i}: settlement of {e.quantity}, position is {held}"
            if e.amount != (e.quantity * e.price) // 100_000_000:  # ⌊q × value / 10⁸⌋
                return f"entry {i}: settlement amount {e.amount}"
            collateral += e.amount
            positions.pop(e.market)
        else:
            if e.price <= 0 or e.quantity == 0 or e.amount < 0:
                return f"entry {i}: bad trade fields"
            cash = e.price * abs(e.quantity) // 100_000_000
            collateral += (-cash if e.quantity > 0 else cash) - e.amount
            size = positions.get(e.market, 0) + e.quantity
            if size:
                positions[e.market] = size
            else:
                positions.pop(e.market, None)
        expected = Balance(collateral, tuple(sorted(positions.items())))
        if expected != e.after:
            return f"entry {i} (sequence {e.sequence}, {e.kind}): balance {e.after}, expected {expected}"
        running = expected
    return None


def verify(s: Page, account_id: int, domain: Domain) -> list[dict]:
    """COMMITMENTS §7.4: one {"check", "pass", "detail"} per named check, in order."""
    out: list[dict] = []

    def record(name: str, failure: str | None) -> None:
        out.append({"check": name, "pass": failure is None, "detail": failure or "ok"})

    record("statement.order", _order(s, account_id))
    record("statement.arithmetic", _arithmetic(s))
    leaf = s.leaf
    if leaf is None:
        record("leaf.present", "no closed batch holds the account yet")
        for name in CHECKS[3:]:
            record(name, "not checked: no leaf")
        return out
    record("leaf.present", None)
    try:
        header = read_header(leaf.header_record)
    except RecordError as e:
        record("header.record", f"the header record does not read: {e}")
        for name in CHECKS[4:]:
            record(name, "not checked: no header")
        return out
    record("header.record", None)
    try:
        check_header(header, domain)
        record("header.signature", None)
    except ProofError as e:
        record("header.signature", str(e))
    state = leaf_state(leaf.state)
    if state is None:
        record("leaf.account", "the leaf's state bytes are not one state")
    elif state[0] != account_id:
        record("leaf.account", f"the leaf is account {state[0]}'s")
    elif leaf.tree_size != header["accountCount"]:
        record("leaf.account", "tree size is not the header's accountCount")
    else:
        record("leaf.account", None)
    data = hashlib.sha256(b"sealstream/v1/state" + leaf.salt + leaf.state).digest()
    ok = len(leaf.salt) == 32 and merkle.verify_inclusion(merkle.leaf_hash(data), leaf.leaf_index, leaf.tree_size,
                                                          list(leaf.proof), bytes.fromhex(header["stateRoot"][2:]))  # fmt: skip
    record("leaf.inclusion", None if ok else "the leaf and proof do not reach the header's stateRoot")
    at_header = balance_at(s, header["lastSequence"])
    record("statement.coverage", None if at_header is not None else "the statement opens after the header's last sequence")
    if at_header is not None and state is not None:
        record("statement.balance", None if at_header == state[1] else
               f"running balance {at_header} at sequence {header['lastSequence']} is not the leaf's {state[1]}")
    else:
        record("statement.balance", "not checked")
    return out
