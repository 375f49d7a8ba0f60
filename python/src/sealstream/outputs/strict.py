"""Strict reading and verification of published outputs, docs/COMMITMENTS.md §5, written
from the doc as a second implementation beside the Swift `OutputVerifier`.

§5.1 (records): Python's json module with hooks — object_pairs_hook keeps repeated
names so they can be refused, parse_float / parse_int / parse_constant mark `6.0`,
`6e0`, `-0` and `NaN` — then each record is checked against its schema. §5.2 (checks):
`verify_outputs` returns one verdict per named check, with the first failure's reason.
Both implementations run the shared table `vectors/outputs.json`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from ..errors import SealstreamError

from ..eip712 import REASON_NAMES

MAX_DEPTH = 64
_WS = " \t\r\n"
UINT8, UINT32, UINT64 = (0, 2**8 - 1), (0, 2**32 - 1), (0, 2**64 - 1)
INT64 = (-(2**63), 2**63 - 1)
MESSAGE_TYPES = (0x03, 0x04, 0x05, 0x0A)
# Leaf types whose input is published in inputs.jsonl (COMMITMENTS §4.1).
PUBLISHED_INPUT_TYPES = (0x04, 0x05)
EVENT_LEAF_BYTES = 49


class RecordError(SealstreamError):
    """A record refused: `name` as in §5.1, `path` the JSON path of the value."""

    def __init__(self, name: str, path: str = "$"):
        super().__init__(f"{path}: {name}")
        self.name, self.path = name, path


# ------------------------------------------------------------------ §5.1 JSON


class _Marked:
    """A value json accepted but §5.1 refuses; reported in document order."""

    def __init__(self, kind: str):
        self.kind = kind


class _Pairs(list):
    """An object's members in document order, repeats kept."""


def _number_int(text: str) -> Any:
    return _Marked("nonCanonicalNumber") if text == "-0" else int(text)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_Pairs,
    parse_float=lambda text: _Marked("nonCanonicalNumber"),
    parse_int=_number_int,
    parse_constant=lambda text: _Marked("syntax"),  # NaN, Infinity: not JSON
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def member_path(base: str, name: str) -> str:
    if _IDENTIFIER.match(name) and name.isascii():
        return f"{base}.{name}"
    escaped = "".join(
        "\\" + c if c in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x20 else c for c in name
    )
    return f'{base}["{escaped}"]'


def _depth(v: Any) -> int:
    if isinstance(v, _Pairs):
        return 1 + max((_depth(x) for _, x in v), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(v: Any) -> bool:
    """json decodes an unpaired `\\uD800`-`\\uDFFF` escape to a lone surrogate (a pair
    becomes one code point); §5.1 rule 3 refuses it as `syntax`, before rule 4."""
    if isinstance(v, str):
        return _LONE_SURROGATE.search(v) is not None
    if isinstance(v, _Pairs):
        return any(_has_lone_surrogate(n) or _has_lone_surrogate(x) for n, x in v)
    if isinstance(v, list):
        return any(_has_lone_surrogate(x) for x in v)
    return False


def _finish(v: Any, path: str) -> Any:
    """Plain values; the first repeated name or marked value in document order raises."""
    if isinstance(v, _Marked):
        raise RecordError(v.kind, path)
    if isinstance(v, _Pairs):
        out: dict[str, Any] = {}
        for name, x in v:
            p = member_path(path, name)
            if name in out:
                raise RecordError("duplicateKey", p)
            out[name] = _finish(x, p)
        return out
    if isinstance(v, list):
        return [_finish(x, f"{path}[{i}]") for i, x in enumerate(v)]
    return v


def strict_loads(data: bytes) -> Any:
    """One JSON text, §5.1: invalidUTF8, then grammar (syntax, trailingData, tooDeep),
    then the first duplicateKey / nonCanonicalNumber in document order."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError("invalidUTF8") from None
    start = len(text) - len(text.lstrip(_WS))
    try:
        value, end = _DECODER.raw_decode(text, start)
    except RecursionError:
        raise RecordError("tooDeep") from None
    except json.JSONDecodeError:
        raise RecordError("syntax") from None
    if _has_lone_surrogate(value):
        raise RecordError("syntax")
    if text[end:].strip(_WS):
        raise RecordError("trailingData")
    if _depth(value) > MAX_DEPTH:
        raise RecordError("tooDeep")
    return _finish(value, "$")


class _Object:
    """Schema reading: unknown members first (document order), then fields as asked."""

    def __init__(self, value: Any, path: str, fields: set[str]):
        if not isinstance(value, dict):
            raise RecordError("wrongType", path)
        for name in value:
            if name not in fields:
                raise RecordError("unknownField", member_path(path, name))
        self.d, self.path = value, path

    def value(self, name: str) -> tuple[Any, str]:
        p = member_path(self.path, name)
        if name not in self.d:
            raise RecordError("missingField", p)
        return self.d[name], p

    def integer(self, name: str, bounds: tuple[int, int]) -> int:
        return _integer(*self.value(name), bounds)

    def boolean(self, name: str) -> bool:
        v, p = self.value(name)
        if not isinstance(v, bool):
            raise RecordError("wrongType", p)
        return v

    def name(self, name: str, allowed: tuple[str, ...]) -> str:
        v, p = self.value(name)
        if not isinstance(v, str):
            raise RecordError("wrongType", p)
        if v not in allowed:
            raise RecordError("outOfRange", p)
        return v

    def hex(self, name: str, size: int = 32) -> str:
        return _hex(*self.value(name), size)

    def hex_list(self, name: str) -> list[str]:
        v, p = self.value(name)
        if not isinstance(v, list):
            raise RecordError("wrongType", p)
        return [_hex(x, f"{p}[{i}]", 32) for i, x in enumerate(v)]

    def ascending(self, name: str) -> list[int]:
        v, p = self.value(name)
        if not isinstance(v, list):
            raise RecordError("wrongType", p)
        out: list[int] = []
        for i, x in enumerate(v):
            n = _integer(x, f"{p}[{i}]", UINT32)
            if out and n <= out[-1]:
                raise RecordError("notAscending", f"{p}[{i}]")
            out.append(n)
        return out

    def fills(self, name: str) -> list[dict]:
        """A decision's fills: objects of `kind` (book, insuranceFund, adl), `price`, `quantity`."""
        v, p = self.value(name)
        if not isinstance(v, list):
            raise RecordError("wrongType", p)
        for i, x in enumerate(v):
            f = _Object(x, f"{p}[{i}]", {"kind", "price", "quantity"})
            f.name("kind", ("book", "insuranceFund", "adl"))
            f.integer("price", INT64)
            f.integer("quantity", INT64)
        return v

    def scenario(self, name: str) -> dict | None:
        """A decision's triggering scenario: null, or {linearRequirement, portfolios}, at least
        one portfolio, each read like a record, `underlying` strictly ascending (§5.1)."""
        v, p = self.value(name)
        if v is None:
            return None
        o = _Object(v, p, {"linearRequirement", "portfolios"})
        o.integer("linearRequirement", INT64)
        items, lp = o.value("portfolios")
        if not isinstance(items, list):
            raise RecordError("wrongType", lp)
        if not items:
            raise RecordError("outOfRange", lp)
        last = None
        for i, x in enumerate(items):
            e = _Object(x, f"{lp}[{i}]", SCENARIO_MEMBERS)
            for n in ("confidenceContingency", "loss", "mark", "moveSteps", "price", "scanBps"):
                e.integer(n, INT64)
            e.integer("scenario", UINT32)
            e.integer("shortOptionContingency", INT64)
            u = e.integer("underlying", UINT32)
            if last is not None and u <= last:
                raise RecordError("notAscending", f"{e.path}.underlying")
            last = u
            e.integer("volShiftBps", INT64)
        return v

    def object(self, name: str, fields: set[str]) -> "_Object":
        return _Object(*self.value(name), fields)


def _integer(v: Any, path: str, bounds: tuple[int, int]) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise RecordError("wrongType", path)
    if not bounds[0] <= v <= bounds[1]:
        raise RecordError("outOfRange", path)
    return v


def _hex(v: Any, path: str, size: int) -> str:
    if not isinstance(v, str):
        raise RecordError("wrongType", path)
    if not re.fullmatch(f"0x[0-9a-f]{{{2 * size}}}", v):
        raise RecordError("badHex", path)
    return v


HEADER_MEMBERS = {
    "accountCount", "batchIndex", "decisionCount", "decisionsRoot", "digest", "enclaveTime",
    "eventsConsistency", "eventsRoot", "firstSequence", "haltedMarkets", "headerHash",
    "lastSequence", "marketDataRoot", "previousHeaderHash", "signature", "signer", "stateRoot", "venueId",
}  # fmt: skip
DECISION_MEMBERS = {
    "account", "autoDeleveraged", "bankruptcyPrice", "batchIndex", "enclaveTime", "equity",
    "filledOnBook", "fills", "isBuy", "leafIndex", "liquidationFee", "maintenanceRequirement", "markPrice",
    "market", "marksHash", "proof",
    "reason", "reasonCode", "scenario", "sequence", "side", "size", "stateHash", "structHash", "toInsuranceFund",
    "venueId", "worstPrice",
}  # fmt: skip
SCENARIO_MEMBERS = {
    "confidenceContingency", "loss", "mark", "moveSteps", "price", "scanBps", "scenario", "shortOptionContingency",
    "underlying", "volShiftBps",
}  # fmt: skip


def _blank_or_object(line: bytes) -> Any:
    if line.strip(b" \t\r") == b"":
        raise RecordError("blankLine")
    return strict_loads(line)


def read_header(line: bytes) -> dict:
    """One line of batches.jsonl (without its newline), fields read in alphabetical order."""
    o = _Object(_blank_or_object(line), "$", HEADER_MEMBERS)
    o.integer("accountCount", UINT64)
    o.integer("batchIndex", UINT64)
    o.integer("decisionCount", UINT64)
    o.hex("decisionsRoot")
    o.hex("digest")
    o.integer("enclaveTime", UINT64)
    c = o.object("eventsConsistency", {"fromSize", "proof"})
    c.integer("fromSize", UINT64)
    c.hex_list("proof")
    o.hex("eventsRoot")
    o.integer("firstSequence", UINT64)
    o.ascending("haltedMarkets")
    o.hex("headerHash")
    o.integer("lastSequence", UINT64)
    o.hex("marketDataRoot")
    o.hex("previousHeaderHash")
    read_signature(o)
    o.hex("signer", 20)
    o.hex("stateRoot")
    o.integer("venueId", UINT64)
    return o.d


def read_signature(o: "_Object") -> None:
    """The `signature` member every signed record has: {r, s, v}, v 27 or 28."""
    g = o.object("signature", {"r", "s", "v"})
    g.hex("r")
    g.hex("s")
    if g.integer("v", UINT8) not in (27, 28):
        raise RecordError("outOfRange", "$.signature.v")


def read_decision(line: bytes) -> dict:
    """One line of decisions.jsonl (without its newline)."""
    o = _Object(_blank_or_object(line), "$", DECISION_MEMBERS)
    o.hex("account")
    for name in ("autoDeleveraged", "bankruptcyPrice"):
        o.integer(name, INT64)
    o.integer("batchIndex", UINT64)
    o.integer("enclaveTime", UINT64)
    o.integer("equity", INT64)
    o.integer("filledOnBook", INT64)
    o.fills("fills")
    is_buy = o.boolean("isBuy")
    o.integer("leafIndex", UINT64)
    o.integer("liquidationFee", INT64)
    o.integer("maintenanceRequirement", INT64)
    o.integer("markPrice", INT64)
    o.integer("market", UINT32)
    o.hex("marksHash")
    o.hex_list("proof")
    reason = o.name("reason", tuple(REASON_NAMES.values()))
    code = o.integer("reasonCode", UINT8)
    if code not in REASON_NAMES:
        raise RecordError("outOfRange", "$.reasonCode")
    o.scenario("scenario")
    o.integer("sequence", UINT64)
    side = o.name("side", ("buy", "sell"))
    o.integer("size", INT64)
    o.hex("stateHash")
    o.hex("structHash")
    o.integer("toInsuranceFund", INT64)
    o.integer("venueId", UINT64)
    o.integer("worstPrice", INT64)
    if REASON_NAMES[code] != reason:
        raise RecordError("mismatch", "$.reason")
    if side != ("buy" if is_buy else "sell"):
        raise RecordError("mismatch", "$.side")
    return o.d


MARKET_DATA_MEMBERS = {
    "asks", "batchIndex", "bids", "firstSequence", "fundingRateBps", "halted", "lastSequence",
    "leafIndex", "markPrice", "market", "marketSequence", "nextFundingTime", "openInterest", "option",
    "oracle", "policy", "priceInvalidity", "stateTime", "trades", "venueId",
}  # fmt: skip


def _levels(o: _Object, name: str) -> list[list[int]]:
    v, p = o.value(name)
    if not isinstance(v, list):
        raise RecordError("wrongType", p)
    out = []
    for i, pair in enumerate(v):
        at = f"{p}[{i}]"
        if not isinstance(pair, list):
            raise RecordError("wrongType", at)
        if len(pair) != 2:
            raise RecordError("outOfRange", at)
        out.append([_integer(pair[0], f"{at}[0]", INT64), _integer(pair[1], f"{at}[1]", INT64)])
    return out


def _objects(o: _Object, name: str, fields: set[str], read: Callable[["_Object"], None]) -> None:
    v, p = o.value(name)
    if not isinstance(v, list):
        raise RecordError("wrongType", p)
    for i, item in enumerate(v):
        read(_Object(item, f"{p}[{i}]", fields))


def _quote(q: _Object) -> None:
    q.integer("confidence", UINT64)
    q.integer("price", INT64)
    q.integer("publishTime", UINT64)
    q.integer("publisher", UINT32)


def _trade(t: _Object) -> None:
    t.name("aggressor", ("buy", "sell"))
    t.integer("enclaveTime", UINT64)
    t.integer("price", INT64)
    t.integer("sequence", UINT64)
    t.integer("size", INT64)


OPTION_MEMBERS = {
    "contractSize", "expiry", "greeks", "kind", "settled", "settlement", "strike", "underlying", "underlyingMark",
}  # fmt: skip
GREEKS_MEMBERS = {"delta", "gamma", "impliedVolatilityPpm", "realizedVolatilityPpm", "theta", "vega"}
SETTLEMENT_MEMBERS = {
    "enclaveTime", "paid", "positions", "received", "residue", "sequence", "settlementPrice", "valuePerUnit",
}  # fmt: skip


def _settlement(o: _Object) -> dict | None:
    """`option.settlement` (docs/MARKETDATA.md §2.2), if present."""
    if "settlement" not in o.d:
        return None
    r = o.object("settlement", SETTLEMENT_MEMBERS)
    r.integer("enclaveTime", UINT64)
    for name in ("paid", "positions", "received", "residue"):
        r.integer(name, (0, INT64[1]))
    r.integer("sequence", UINT64)
    r.integer("settlementPrice", (1, INT64[1]))
    r.integer("valuePerUnit", (0, INT64[1]))
    return r.d


def _greeks(o: _Object) -> None:
    """`option.greeks` (docs/MARKETDATA.md §2.1), if present, each value in its range."""
    if "greeks" not in o.d:
        return
    r = o.object("greeks", GREEKS_MEMBERS)
    r.integer("delta", (-(10**8), 10**8))
    r.integer("gamma", (0, INT64[1]))
    r.integer("impliedVolatilityPpm", (0, 16_000_000))
    r.integer("realizedVolatilityPpm", (0, 16_000_000))
    r.integer("theta", (INT64[0], 0))
    r.integer("vega", (0, INT64[1]))


def _option(o: _Object) -> dict | None:
    """An option market's `option` member (docs/MARKETDATA.md §2.1), if present."""
    if "option" not in o.d:
        return None
    r = o.object("option", OPTION_MEMBERS)
    r.integer("contractSize", (1, INT64[1]))
    r.integer("expiry", UINT64)
    _greeks(r)
    r.name("kind", ("call", "put"))
    r.boolean("settled")
    _settlement(r)
    r.integer("strike", (1, INT64[1]))
    r.integer("underlying", UINT32)
    r.integer("underlyingMark", (0, INT64[1]))
    return r.d


def _check_settlement(d: dict) -> None:
    """The settlement's cross-field rules (docs/MARKETDATA.md §2), after every field."""
    t = d["settlement"]
    if not d["settled"]:
        raise RecordError("mismatch", "$.option.settled")
    if t["enclaveTime"] < d["expiry"]:
        raise RecordError("mismatch", "$.option.settlement.enclaveTime")
    f, k = t["settlementPrice"], d["strike"]
    if t["valuePerUnit"] != max(f - k if d["kind"] == "call" else k - f, 0):
        raise RecordError("mismatch", "$.option.settlement.valuePerUnit")
    if t["paid"] != INT64[1] and t["residue"] != t["paid"] - t["received"]:
        raise RecordError("mismatch", "$.option.settlement.residue")


def read_market_data(line: bytes) -> dict:
    """One line of marketdata.jsonl (docs/MARKETDATA.md §2), fields in alphabetical order."""
    o = _Object(_blank_or_object(line), "$", MARKET_DATA_MEMBERS)
    _levels(o, "asks")
    o.integer("batchIndex", UINT64)
    _levels(o, "bids")
    o.integer("firstSequence", UINT64)
    o.integer("fundingRateBps", INT64)
    halted = o.boolean("halted")
    o.integer("lastSequence", UINT64)
    o.integer("leafIndex", UINT64)
    mark = o.integer("markPrice", INT64)
    o.integer("market", UINT32)
    o.integer("marketSequence", UINT64)
    o.integer("nextFundingTime", UINT64)
    o.integer("openInterest", INT64)
    option = _option(o)
    _objects(o, "oracle", {"confidence", "price", "publishTime", "publisher"}, _quote)
    o.name("policy", ("lit", "delayed", "trades-only"))
    invalidity = o.integer("priceInvalidity", UINT8)
    if invalidity > 6:
        raise RecordError("outOfRange", "$.priceInvalidity")
    o.integer("stateTime", UINT64)
    _objects(o, "trades", {"aggressor", "enclaveTime", "price", "sequence", "size"}, _trade)
    o.integer("venueId", UINT64)
    if halted != (invalidity != 0):
        raise RecordError("mismatch", "$.halted")
    if halted and mark != 0:
        raise RecordError("mismatch", "$.markPrice")
    if option is not None:
        for name, empty in (("oracle", []), ("fundingRateBps", 0), ("nextFundingTime", 0)):
            if o.d[name] != empty:
                raise RecordError("mismatch", f"$.{name}")
        if option["underlyingMark"] == 0 and not halted:
            raise RecordError("mismatch", "$.option.underlyingMark")
        if "greeks" in option and halted:
            raise RecordError("mismatch", "$.option.greeks")
        if "settlement" in option:
            _check_settlement(option)
    return o.d


def read_lines(data: bytes, parse: Callable[[bytes], dict]) -> list[tuple[int, Any]]:
    """(1-based line, record or RecordError) for every line; an unterminated last line
    that is otherwise valid is `missingNewline`."""
    out: list[tuple[int, Any]] = []
    parts = data.split(b"\n")
    terminated = [True] * (len(parts) - 1) + [False]
    if parts[-1] == b"":
        parts, terminated = parts[:-1], terminated[:-1]
    for n, (line, ended) in enumerate(zip(parts, terminated), start=1):
        try:
            record = parse(line)
            if not ended:
                raise RecordError("missingNewline")
            out.append((n, record))
        except RecordError as e:
            out.append((n, e))
    return out
