"""Plaintexts of docs/PROTOCOL.md §2.3–2.7 and §2.11: order requests, receipts, engine
reports, fill events and margin calls, and the signed public messages (deposits, oracle
prices, oracle smiles of §2.17).

Units: prices in quote micro-units (10⁻⁶) per whole base unit, quantities in base units
of 10⁻⁸, amounts and fees in quote micro-units; times in Unix ns.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from .errors import WireError

DEPOSIT_DOMAIN = b"sealstream/v1/deposit"
PRICE_DOMAIN = b"sealstream/v1/oracle-price"
SMILE_DOMAIN = b"sealstream/v1/oracle-smile"
SESSION_AUTH_DOMAIN = b"sealstream/v1/session-auth"

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Side(IntEnum):
    BUY = 0
    SELL = 1


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1


class TimeInForce(IntEnum):
    GTC = 0
    IOC = 1
    POST_ONLY = 2


class ReceiptStatus(IntEnum):
    ACCEPTED = 0
    REJECTED = 1
    NOT_SEQUENCED = 2
    DUPLICATE = 3

    @property
    def label(self) -> str:
        return {0: "accepted", 1: "rejected", 2: "notSequenced", 3: "duplicate"}[self.value]


REJECT_REASONS = {
    1: "malformedRequest", 2: "unknownMarket", 3: "invalidQuantity", 4: "invalidPrice", 5: "unknownOrder",
    6: "duplicateClientOrderID", 7: "unknownAccount", 8: "priceNotOnTick", 9: "quantityNotOnStep",
    10: "insufficientMargin", 11: "priceUnavailable", 12: "postOnlyWouldCross", 13: "reduceOnlyWouldIncrease",
    14: "orderTooLarge", 15: "invalidAmount", 16: "priceOutsideBand", 17: "tooManyOpenOrders",
    18: "greekLimitExceeded",
}  # fmt: skip

KIND_NEW_ORDER, KIND_CANCEL, KIND_WITHDRAW = 1, 2, 3


def _id_bytes(client_order_id: str | bytes) -> bytes:
    b = client_order_id.encode() if isinstance(client_order_id, str) else bytes(client_order_id)
    if not 1 <= len(b) <= 36:
        raise WireError(f"client order id of {len(b)} bytes (1–36)", "client_order_id")
    return b


def _read_id(r: "_Reader", n: int, *, allow_empty: bool = False) -> bytes:
    # A client order id on the wire is 1–36 bytes (§2.5); only a receipt for a request
    # that did not decode carries none (id_len 0).
    if not (allow_empty and n == 0) and not 1 <= n <= 36:
        raise WireError(f"client order id of {n} bytes (1–36)", "client_order_id")
    return r.take(n)


def _i64(value: int, name: str) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise WireError(f"{name} outside i64", name)
    return value


def new_order(
    client_order_id: str | bytes,
    market: int,
    side: Side,
    price: int,
    quantity: int,
    order_type: OrderType = OrderType.LIMIT,
    time_in_force: TimeInForce = TimeInForce.GTC,
    reduce_only: bool = False,
) -> bytes:
    """OrderRequest kind 1. `price` quote micro-units per base unit (for a market order the
    worst acceptable price), `quantity` base units of 10⁻⁸."""
    cid = _id_bytes(client_order_id)
    return (
        bytes([KIND_NEW_ORDER, len(cid)]) + cid
        + struct.pack(">IBBBBqq", market, side, order_type, time_in_force, 1 if reduce_only else 0,
                      _i64(price, "price"), _i64(quantity, "quantity"))
    )  # fmt: skip


def cancel(client_order_id: str | bytes) -> bytes:
    """OrderRequest kind 2: cancel the account's order with this client order id."""
    cid = _id_bytes(client_order_id)
    return bytes([KIND_CANCEL, len(cid)]) + cid


def withdraw(request_id: str | bytes, amount: int) -> bytes:
    """OrderRequest kind 3: withdraw `amount` quote micro-units; `request_id` is echoed and deduplicated."""
    cid = _id_bytes(request_id)
    return bytes([KIND_WITHDRAW, len(cid)]) + cid + struct.pack(">q", _i64(amount, "amount"))


class _Reader:
    def __init__(self, data: bytes, what: str):
        self.data, self.at, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise WireError(f"{self.what} truncated", self.what)
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def end(self) -> None:
        if self.at != len(self.data):
            raise WireError(f"{len(self.data) - self.at} trailing bytes in {self.what}", self.what)


@dataclass(frozen=True)
class Fill:
    market: int
    side: Side
    price: int  # quote micro-units per base unit
    quantity: int  # base units of 10⁻⁸
    fee: int  # quote micro-units
    maker: bool
    maker_order_id: int  # global sequence of the event that placed the resting order


@dataclass(frozen=True)
class OrderReport:
    fills: list[Fill]
    resting: int  # base units of 10⁻⁸
    cancelled: int  # base units of 10⁻⁸
    self_trade_cancelled: list[bytes] = field(default_factory=list)


def _side(value: int) -> Side:
    if value > 1:
        raise WireError(f"side {value} (0 buy, 1 sell)", "side")
    return Side(value)


def _flag(value: int, name: str) -> bool:
    if value > 1:
        raise WireError(f"{name} {value} is not 0 or 1", name)
    return bool(value)


def decode_order_report(data: bytes) -> OrderReport | None:
    """Engine detail (§2.5), or None when empty."""
    if not data:
        return None
    r = _Reader(data, "detail")
    (version,) = r.unpack(">B")
    if version != 1:
        raise WireError(f"order report version {version}", "detail")
    (count,) = r.unpack(">H")
    fills = []
    for _ in range(count):
        market, side, price, qty, fee, maker, maker_id = r.unpack(">IBqqqBQ")
        fills.append(Fill(market, _side(side), price, qty, fee, _flag(maker, "maker"), maker_id))
    resting, cancelled, n = r.unpack(">qqH")
    ids = []
    for _ in range(n):
        (k,) = r.unpack(">B")
        ids.append(_read_id(r, k))
    r.end()
    return OrderReport(fills, resting, cancelled, ids)


@dataclass(frozen=True)
class Receipt:
    """An opened SealedReceipt (§2.5)."""

    status: ReceiptStatus
    global_sequence: int
    enclave_time: int  # Unix ns
    reason: int
    client_order_id: bytes
    report: OrderReport | None

    @property
    def reason_label(self) -> str:
        return REJECT_REASONS.get(self.reason, "none" if self.reason == 0 else f"reason{self.reason}")


def decode_receipt(plaintext: bytes) -> Receipt:
    r = _Reader(plaintext, "receipt")
    status, gseq, etime, reason, id_len = r.unpack(">BQQHB")
    cid = _read_id(r, id_len, allow_empty=True)
    (detail_len,) = r.unpack(">H")
    detail = r.take(detail_len)
    r.end()
    if status > 3:
        raise WireError(f"receipt status {status}", "status")
    if reason != 0 and reason not in REJECT_REASONS:
        raise WireError(f"reject reason {reason}", "reason")
    return Receipt(ReceiptStatus(status), gseq, etime, reason, cid, decode_order_report(detail))


@dataclass(frozen=True)
class FillEvent:
    """An opened SealedEvent (§2.11): one of your resting orders filled."""

    kind: int
    client_order_id: bytes
    market: int
    side: Side  # the maker's (your) side
    price: int
    quantity: int
    fee: int  # maker fee, quote micro-units, rounded up
    maker_order_id: int
    global_sequence: int
    enclave_time: int


def decode_fill_event(plaintext: bytes) -> FillEvent:
    r = _Reader(plaintext, "event")
    kind, id_len = r.unpack(">BB")
    if kind != 1:
        raise WireError(f"event kind {kind}", "kind")
    cid = _read_id(r, id_len)
    market, side, price, qty, fee, maker_id, gseq, etime = r.unpack(">IBqqqQQQ")
    r.end()
    return FillEvent(kind, cid, market, _side(side), price, qty, fee, maker_id, gseq, etime)


MARGIN_CALL_KIND = 2
MARGIN_CALL_HEADER, MARGIN_CALL_EXPOSURE = 48, 45
PPM = 1_000_000


class MarginCallTrigger(IntEnum):
    CROSSED = 1  # the probability reached the level while the account was armed
    REPEATED = 2  # still at or above it `repeatNanos` after the last call


@dataclass(frozen=True)
class MarginCallExposure:
    """One option underlying of the venue in a margin call (§2.11 kind 2)."""

    underlying: int  # the perpetual market id
    exposed: bool  # holds an option on it; else every field below is 0
    mark: int  # quote micro-units per whole base unit
    volatility_ppm: int  # sigma_ewma, annualized, millionths
    probability_ppm: int  # docs/OPTIONS.md §7.8 on this portfolio, millionths
    delta: int  # base units of 1e-8
    gamma: int  # base units of 1e-8 of delta per quote unit of price
    vega: int  # quote micro-units per 1.0 of volatility


@dataclass(frozen=True)
class MarginCallEvent:
    """An opened SealedEvent of kind 2 (§2.11; docs/OPTIONS.md §10.10): your account may
    reach its maintenance requirement within the venue's horizon."""

    trigger: MarginCallTrigger
    probability_ppm: int  # 0…1,000,000
    distance: int  # equity − maintenance, quote micro-units (saturated i64)
    equity: int
    maintenance: int
    global_sequence: int  # the event at which the call was made
    enclave_time: int
    exposures: tuple[MarginCallExposure, ...]

    @property
    def probability(self) -> float:
        """For display only: the probability as a fraction."""
        return self.probability_ppm / PPM


def decode_margin_call_event(plaintext: bytes, underlyings: int | None = None) -> MarginCallEvent:
    """Strict (PROTOCOL.md §2.11 kind 2): a known trigger, probabilities ≤ 10⁶, `count` ≥ 1 (and equal to
    `underlyings` when the caller knows the venue's number of option underlyings), underlying ids strictly
    ascending, `exposed` 0 or 1, every field of an unexposed underlying 0, nothing after the exposures."""
    # Each rule is applied as soon as the field it judges is read (§2.11), so a short
    # plaintext whose earlier fields break a rule is refused for that rule, not as truncated.
    r = _Reader(plaintext, "margin call")
    (kind,) = r.unpack(">B")
    if kind != MARGIN_CALL_KIND:
        raise WireError(f"event kind {kind}", "kind")
    (trigger,) = r.unpack(">B")
    if trigger not in (1, 2):
        raise WireError(f"margin call trigger {trigger}", "trigger")
    (prob,) = r.unpack(">I")
    if prob > PPM:
        raise WireError(f"probability {prob} ppm above 1000000", "probability_ppm")
    distance, equity, maintenance, gseq, etime, count = r.unpack(">qqqQQH")
    if count < 1 or (underlyings is not None and count != underlyings):
        raise WireError(f"margin call count {count}", "count")
    exposures: list[MarginCallExposure] = []
    for _ in range(count):
        underlying, flag = r.unpack(">IB")
        if flag > 1:
            raise WireError(f"exposed flag {flag}", "exposed")
        mark, vol, p = r.unpack(">qII")
        if p > PPM:
            raise WireError(f"probability {p} ppm above 1000000", "probability_ppm")
        delta, gamma, vega = r.unpack(">qqq")
        if exposures and exposures[-1].underlying >= underlying:
            raise WireError(f"underlying {underlying} not after {exposures[-1].underlying}", "underlying")
        if flag == 0 and (mark, vol, p, delta, gamma, vega) != (0, 0, 0, 0, 0, 0):
            raise WireError(f"underlying {underlying} not exposed but its fields are not 0", "exposed")
        exposures.append(MarginCallExposure(underlying, flag == 1, mark, vol, p, delta, gamma, vega))
    r.end()
    return MarginCallEvent(MarginCallTrigger(trigger), prob, distance, equity, maintenance, gseq, etime, tuple(exposures))


def decode_session_event(plaintext: bytes) -> FillEvent | MarginCallEvent:
    """A SealedEvent's plaintext by its kind byte: 1 a fill, 2 a margin call."""
    if not plaintext:
        raise WireError("empty event", "kind")
    if plaintext[0] == MARGIN_CALL_KIND:
        return decode_margin_call_event(plaintext)
    return decode_fill_event(plaintext)


# ------------------------------------------------------------ public messages


def deposit_message(venue_id: int, account_id: int, account_key: bytes, amount: int, deposit_id: int) -> bytes:
    """What the custody key signs (§2.7)."""
    return DEPOSIT_DOMAIN + struct.pack(">QQ", venue_id, account_id) + account_key + struct.pack(">qQ", amount, deposit_id)


def deposit_body(account_id: int, account_key: bytes, amount: int, deposit_id: int, signature: bytes) -> bytes:
    """Deposit (0x05) body: `account_id ‖ account_key ‖ amount i64 ‖ deposit_id ‖ signature`."""
    if len(account_key) != 32 or len(signature) != 64:
        raise WireError("account key 32 bytes, signature 64", "deposit")
    return struct.pack(">Q", account_id) + account_key + struct.pack(">qQ", amount, deposit_id) + signature


def price_message(market: int, price: int, confidence: int, publish_time: int) -> bytes:
    """What an oracle publisher signs (§2.6)."""
    return PRICE_DOMAIN + struct.pack(">IqQQ", market, price, confidence, publish_time)


def price_body(market: int, price: int, confidence: int, publish_time: int, publisher: bytes, signature: bytes) -> bytes:
    """OraclePrice (0x04) body."""
    if len(publisher) != 32 or len(signature) != 64:
        raise WireError("publisher key 32 bytes, signature 64", "price")
    return struct.pack(">IqQQ", market, price, confidence, publish_time) + publisher + signature


def _smile_fields(underlying: int, expiry: int, svi: tuple[int, int, int, int, int], publish_time: int) -> bytes:
    if len(svi) != 5:
        raise WireError("SVI parameters are (a, b, rho, m, sigma)", "smile")
    try:
        return struct.pack(">IQqqqqqQ", underlying, expiry, *svi, publish_time)
    except struct.error as e:
        raise WireError(f"smile field out of range: {e}", "smile") from e


def smile_message(underlying: int, expiry: int, svi: tuple[int, int, int, int, int], publish_time: int) -> bytes:
    """What an oracle publisher signs for a smile (§2.17): `svi` = (a, b, rho, m, sigma),
    raw SVI parameters each an integer in units of 10⁻⁹ (docs/OPTIONS.md §5); `expiry`
    and `publish_time` Unix ns; `underlying` the perpetual's market id."""
    return SMILE_DOMAIN + _smile_fields(underlying, expiry, svi, publish_time)


def smile_body(underlying: int, expiry: int, svi: tuple[int, int, int, int, int], publish_time: int, publisher: bytes,
               signature: bytes) -> bytes:
    """OracleSmile (0x0A) body, 156 bytes."""
    if len(publisher) != 32 or len(signature) != 64:
        raise WireError("publisher key 32 bytes, signature 64", "smile")
    return _smile_fields(underlying, expiry, svi, publish_time) + publisher + signature


def session_auth_transcript(enclave_key: bytes, client_key: bytes, session_id: int, account_id: int) -> bytes:
    """What the account key signs to open a session (§2.3)."""
    return SESSION_AUTH_DOMAIN + enclave_key + client_key + struct.pack(">QQ", session_id, account_id)


@dataclass(frozen=True)
class Acceptance:
    """The sealed part of SessionAccepted (§2.4)."""

    account_id: int
    enclave_time: int
    account_commitment: bytes  # how the account appears in liquidation decisions


def decode_acceptance(plaintext: bytes) -> Acceptance:
    if len(plaintext) != 48:
        raise WireError("acceptance plaintext must be 48 bytes", "sealed")
    a, t = struct.unpack_from(">QQ", plaintext)
    return Acceptance(a, t, plaintext[16:])
