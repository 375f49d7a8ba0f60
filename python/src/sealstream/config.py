"""The venue configuration read strictly and validated, written from docs/CONFIG.md alone
("Strict parsing (normative)", "Order of the rules", "Options (normative)") as a second
implementation beside the Swift `VenueConfig.parseStrict` / `validate()`.

`parse_venue_config(data)` returns the configuration as a dict, every optional member
that has a default filled in (`commitments`, `marketData`, `enrollment`,
`dedupeWindowNanos`, `enclaveLanes`), or raises `ConfigParseError`: a JSON fault first
(COMMITMENTS §5.1), then the first unknown key, missing field or wrong type.
`validate_venue_config(config)` raises `ConfigInvalid` for the first rule of the
documented order that fails. Both implementations run the shared table
`Tests/vectors/venue-config.json`.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .errors import SealstreamError
from .outputs.public import svi_violation
from .outputs.strict import RecordError, member_path, strict_loads

__all__ = ["ConfigParseError", "ConfigInvalid", "parse_venue_config", "validate_venue_config", "load_venue_config"]

U64, U32, I64 = (0, 2**64 - 1), (0, 2**32 - 1), (-(2**63), 2**63 - 1)
_PHRASE = {U64: "an unsigned 64-bit integer", U32: "an unsigned 32-bit integer", I64: "a signed 64-bit integer"}
YEAR_NANOS = 365 * 86_400 * 10**9


class ConfigParseError(SealstreamError):
    """A file refused by strict parsing: `kind` is `json` (then `reason` is the
    StrictJSONError kind: `duplicateKey`, `nonCanonicalNumber`, `syntax`, …), `unknownKey`,
    `missingField` or `wrongType` (then `reason` is `expected …`); `path` the JSON path."""

    def __init__(self, kind: str, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.kind, self.path, self.reason = kind, path, reason


class ConfigInvalid(SealstreamError):
    """A parsed file that breaks a rule of docs/CONFIG.md: `rule` names the rule of the
    documented order (`fees`, `markets.tickStep`, `options`, …), `path` the JSON path of
    the value, `str(e)` the message (normative words for `options`)."""

    def __init__(self, rule: str, path: str, message: str):
        super().__init__(message)
        self.rule, self.path = rule, path


# ------------------------------------------------------------------ strict parsing


class _Members:
    """One object: its first unknown member (document order) is refused before anything else."""

    def __init__(self, value: Any, path: str, keys: tuple[str, ...]):
        if not isinstance(value, dict):
            raise ConfigParseError("wrongType", path, "expected an object")
        for name in value:
            if name not in keys:
                raise ConfigParseError("unknownKey", member_path(path, name), "unknown key")
        self.d, self.path = value, path

    def _get(self, name: str, default: Any = None, optional: bool = False) -> tuple[Any, str, bool]:
        p = member_path(self.path, name)
        if name not in self.d:
            if optional:
                return default, p, False
            raise ConfigParseError("missingField", p, "missing required field")
        return self.d[name], p, True

    def integer(self, name: str, bounds: tuple[int, int], default: int | None = None) -> int:
        v, p, present = self._get(name, default, default is not None)
        if not present:
            return v
        if isinstance(v, bool) or not isinstance(v, int) or not bounds[0] <= v <= bounds[1]:
            raise ConfigParseError("wrongType", p, f"expected {_PHRASE[bounds]}")
        return v

    def string(self, name: str, default: str | None = None, one_of: tuple[str, ...] | None = None) -> str:
        v, p, present = self._get(name, default, default is not None)
        if not present:
            return v
        if not isinstance(v, str):
            raise ConfigParseError("wrongType", p, "expected a string")
        if one_of is not None and v not in one_of:
            raise ConfigParseError("wrongType", p, "expected one of " + ", ".join(f'"{n}"' for n in one_of))
        return v

    def boolean(self, name: str, default: bool | None = None) -> bool:
        v, p, present = self._get(name, default, default is not None)
        if present and not isinstance(v, bool):
            raise ConfigParseError("wrongType", p, "expected a boolean")
        return v

    def array(self, name: str, item: Callable[[Any, str], Any], optional: bool = False) -> list | None:
        v, p, present = self._get(name, None, optional)
        if not present:
            return None
        if not isinstance(v, list):
            raise ConfigParseError("wrongType", p, "expected an array")
        return [item(x, f"{p}[{i}]") for i, x in enumerate(v)]

    def object(self, name: str, read: Callable[[Any, str], dict], optional: bool = False) -> dict | None:
        v, p, present = self._get(name, None, optional)
        return read(v, p) if present else None


def _string(v: Any, p: str) -> str:
    if not isinstance(v, str):
        raise ConfigParseError("wrongType", p, "expected a string")
    return v


def _read(keys: tuple[str, ...], fields: Callable[[_Members], dict]) -> Callable[[Any, str], dict]:
    return lambda v, p: fields(_Members(v, p, keys))


_TIER = _read(("name", "initialBps", "maintenanceBps"), lambda o: {
    "name": o.string("name"), "initialBps": o.integer("initialBps", I64), "maintenanceBps": o.integer("maintenanceBps", I64)})
_FEES = _read(("makerBps", "takerBps"), lambda o: {"makerBps": o.integer("makerBps", I64), "takerBps": o.integer("takerBps", I64)})
_LIQUIDATION = _read(("partialThreshold", "maxCloseBps", "cooldownNanos", "feeBps", "insuranceFund"), lambda o: {
    "partialThreshold": o.integer("partialThreshold", I64), "maxCloseBps": o.integer("maxCloseBps", I64),
    "cooldownNanos": o.integer("cooldownNanos", U64), "feeBps": o.integer("feeBps", I64),
    "insuranceFund": o.integer("insuranceFund", I64)})
_RISK = _read(("priceBandBps", "maxOpenOrdersPerAccount"), lambda o: {
    "priceBandBps": o.integer("priceBandBps", I64), "maxOpenOrdersPerAccount": o.integer("maxOpenOrdersPerAccount", I64)})
_ORACLE = _read(("publishers", "minPublishers", "stalenessNanos", "maxConfidenceBps", "maxDeviationBps",
                 "jumpConfirmationNanos"), lambda o: {
    "publishers": o.array("publishers", _string), "minPublishers": o.integer("minPublishers", I64),
    "stalenessNanos": o.integer("stalenessNanos", U64), "maxConfidenceBps": o.integer("maxConfidenceBps", I64),
    "maxDeviationBps": o.integer("maxDeviationBps", I64), "jumpConfirmationNanos": o.integer("jumpConfirmationNanos", U64)})
_FUNDING = _read(("intervalNanos", "maxRateBps"), lambda o: {
    "intervalNanos": o.integer("intervalNanos", U64), "maxRateBps": o.integer("maxRateBps", I64)})
_MARKET = _read(("id", "symbol", "tickSize", "stepSize", "tier", "oracle", "funding"), lambda o: {
    "id": o.integer("id", U32), "symbol": o.string("symbol"), "tickSize": o.integer("tickSize", I64),
    "stepSize": o.integer("stepSize", I64), "tier": o.string("tier"), "oracle": o.object("oracle", _ORACLE),
    "funding": o.object("funding", _FUNDING)})
_COMMITMENTS = _read(("chainId", "verifyingContract", "batchMaxEvents", "batchMaxNanos", "closeOnOracleTick"), lambda o: {
    "chainId": o.integer("chainId", U64, 31337), "verifyingContract": o.string("verifyingContract", "0x" + "0" * 40),
    "batchMaxEvents": o.integer("batchMaxEvents", I64, 4096), "batchMaxNanos": o.integer("batchMaxNanos", U64, 100_000_000),
    "closeOnOracleTick": o.boolean("closeOnOracleTick", True)})
_MARKET_DATA = _read(("policy", "depthLevels", "delayNanos", "sizeRounding"), lambda o: {
    "policy": o.string("policy", "lit", ("lit", "delayed", "trades-only")), "depthLevels": o.integer("depthLevels", I64, 10),
    "delayNanos": o.integer("delayNanos", U64, 0), "sizeRounding": o.integer("sizeRounding", I64, 1)})
_ENROLLMENT = _read(("ekRoots", "swtpmEKRoots"), lambda o: {
    "ekRoots": o.array("ekRoots", _string, optional=True) or [],
    "swtpmEKRoots": o.array("swtpmEKRoots", _string, optional=True) or []})

_MARGIN_FIELDS = ("priceBuckets", "minScanBps", "maxScanBps", "scanDeviationsMilli", "horizonNanos", "volUpBps",
                  "volDownBps", "extremeMultiple", "extremeCoverBps", "shortOptionMinimumBps", "initialRatioBps")  # fmt: skip
_MARGIN = _read(_MARGIN_FIELDS, lambda o: {n: o.integer(n, U64 if n == "horizonNanos" else I64) for n in _MARGIN_FIELDS})
_REALIZED = _read(("halfLifeNanos", "minIntervalNanos", "initialVolatilityPpm"), lambda o: {
    "halfLifeNanos": o.integer("halfLifeNanos", U64), "minIntervalNanos": o.integer("minIntervalNanos", U64),
    "initialVolatilityPpm": o.integer("initialVolatilityPpm", I64)})
_SMILE = _read(("expiry", "a", "b", "rho", "m", "sigma"), lambda o: {
    "expiry": o.integer("expiry", U64), **{n: o.integer(n, I64) for n in ("a", "b", "rho", "m", "sigma")}})


def _greek_limits(o: _Members) -> dict:
    out = {"maxAbsDelta": o.integer("maxAbsDelta", I64), "maxAbsGamma": o.integer("maxAbsGamma", I64)}
    if "escalationBps" in o.d:
        out["escalationBps"] = o.integer("escalationBps", I64)
    return out


_GREEK_LIMITS = _read(("maxAbsDelta", "maxAbsGamma", "escalationBps"), _greek_limits)


def _underlying(o: _Members) -> dict:
    out = {"market": o.integer("market", U32), "margin": o.object("margin", _MARGIN),
           "realizedVolatility": o.object("realizedVolatility", _REALIZED), "smiles": o.array("smiles", _SMILE)}  # fmt: skip
    limits = o.object("greekLimits", _GREEK_LIMITS, optional=True)
    if limits is not None:
        out["greekLimits"] = limits
    return out


_UNDERLYING = _read(("market", "margin", "realizedVolatility", "smiles", "greekLimits"), _underlying)
_OPTION_MARKET = _read(("id", "symbol", "underlying", "kind", "strike", "expiry", "contractSize", "tickSize"), lambda o: {
    "id": o.integer("id", U32), "symbol": o.string("symbol"), "underlying": o.integer("underlying", U32),
    "kind": o.string("kind", one_of=("call", "put")), "strike": o.integer("strike", I64),
    "expiry": o.integer("expiry", U64), "contractSize": o.integer("contractSize", I64), "tickSize": o.integer("tickSize", I64)})
_MARGIN_CALL = _read(("levelPpm", "hysteresisPpm", "horizonNanos", "repeatNanos"), lambda o: {
    "levelPpm": o.integer("levelPpm", I64), "hysteresisPpm": o.integer("hysteresisPpm", I64),
    "horizonNanos": o.integer("horizonNanos", U64), "repeatNanos": o.integer("repeatNanos", U64)})


def _options(o: _Members) -> dict:
    out = {"underlyings": o.array("underlyings", _UNDERLYING), "markets": o.array("markets", _OPTION_MARKET)}
    call = o.object("marginCall", _MARGIN_CALL, optional=True)
    if call is not None:
        out["marginCall"] = call
    return out


_OPTIONS = _read(("underlyings", "markets", "marginCall"), _options)
_TOP_KEYS = ("venueID", "name", "custodyKey", "marginTiers", "fees", "liquidation", "risk", "markets", "commitments",
             "marketData", "enrollment", "dedupeWindowNanos", "enclaveLanes", "options")  # fmt: skip


def parse_venue_config(data: bytes) -> dict:
    """The file's configuration, read as docs/CONFIG.md "Strict parsing" says, defaults
    filled in; `ConfigParseError` for the first fault (JSON faults before any other)."""
    try:
        root = strict_loads(data)
    except RecordError as e:
        raise ConfigParseError("json", e.path, e.name) from None
    o = _Members(root, "$", _TOP_KEYS)
    out = {
        "venueID": o.integer("venueID", U64), "name": o.string("name"), "custodyKey": o.string("custodyKey"),
        "marginTiers": o.array("marginTiers", _TIER), "fees": o.object("fees", _FEES),
        "liquidation": o.object("liquidation", _LIQUIDATION), "risk": o.object("risk", _RISK),
        "markets": o.array("markets", _MARKET),
        "commitments": o.object("commitments", _COMMITMENTS, optional=True) or _COMMITMENTS({}, "$.commitments"),
        "marketData": o.object("marketData", _MARKET_DATA, optional=True) or _MARKET_DATA({}, "$.marketData"),
        "enrollment": o.object("enrollment", _ENROLLMENT, optional=True) or {"ekRoots": [], "swtpmEKRoots": []},
        "dedupeWindowNanos": o.integer("dedupeWindowNanos", U64, 30_000_000_000),
        "enclaveLanes": o.integer("enclaveLanes", I64, 1),
    }  # fmt: skip
    options = o.object("options", _OPTIONS, optional=True)
    if options is not None:
        out["options"] = options
    return out


# ------------------------------------------------------------------ validation

_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}\Z")  # CONFIG.md: either case, an optional 0x
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}\Z")


def _require(ok: bool, rule: str, path: str, message: str) -> None:
    if not ok:
        raise ConfigInvalid(rule, path, message)


def _invalid(path: str, reason: str) -> ConfigInvalid:
    return ConfigInvalid("options", path, f"{path}: {reason}")


def validate_venue_config(c: dict) -> None:
    """docs/CONFIG.md's rules in their documented order; the first failing raises
    `ConfigInvalid`. `c` is what `parse_venue_config` returned."""
    m = c["commitments"]
    _require(bool(_ADDRESS.match(m["verifyingContract"])), "commitments.verifyingContract",
             "$.commitments.verifyingContract", "commitments.verifyingContract must be 0x + 40 hex digits")
    _require(1 <= m["batchMaxEvents"] <= 1_000_000, "commitments.batchMaxEvents", "$.commitments.batchMaxEvents",
             "commitments.batchMaxEvents must be 1...1000000")
    _require(10**6 <= m["batchMaxNanos"] <= 60 * 10**9, "commitments.batchMaxNanos", "$.commitments.batchMaxNanos",
             "commitments.batchMaxNanos must be 1 ms...60 s")
    d = c["marketData"]
    _require(1 <= d["depthLevels"] <= 100, "marketData.depthLevels", "$.marketData.depthLevels",
             "marketData.depthLevels must be 1...100")
    _require(d["sizeRounding"] >= 1, "marketData.sizeRounding", "$.marketData.sizeRounding",
             "marketData.sizeRounding must be >= 1")
    delay_ok = 10**6 <= d["delayNanos"] <= 3_600 * 10**9 if d["policy"] == "delayed" else d["delayNanos"] == 0
    _require(delay_ok, "marketData.delayNanos", "$.marketData.delayNanos",
             "marketData.delayNanos must be 1 ms...1 h with the delayed policy, else 0")
    _require(c["dedupeWindowNanos"] <= 3_600 * 10**9, "dedupeWindowNanos", "$.dedupeWindowNanos",
             "dedupeWindowNanos must be 0...3600 s")
    _require(1 <= c["enclaveLanes"] <= 8, "enclaveLanes", "$.enclaveLanes", "enclaveLanes must be 1...8")
    _require(bool(_KEY.match(c["custodyKey"])), "custodyKey", "$.custodyKey", "custodyKey must be 32 bytes of hex")
    _require(len(c["markets"]) > 0, "markets", "$.markets", "markets must not be empty")
    tiers: set[str] = set()
    for i, t in enumerate(c["marginTiers"]):
        p = f"$.marginTiers[{i}]"
        _require(t["name"] not in tiers, "marginTiers.duplicate", f"{p}.name", f"duplicate margin tier {t['name']}")
        tiers.add(t["name"])
        _require(0 < t["maintenanceBps"] < t["initialBps"] <= 10_000, "marginTiers.bps", p,
                 f"tier {t['name']}: need 0 < maintenance < initial <= 10000 bps")
    f = c["fees"]
    _require(0 <= f["makerBps"] <= 1_000 and 0 <= f["takerBps"] <= 1_000, "fees", "$.fees", "fees must be 0...1000 bps")
    q = c["liquidation"]
    _require(q["partialThreshold"] >= 0 and 1 <= q["maxCloseBps"] <= 10_000 and 0 <= q["feeBps"] <= 1_000
             and q["insuranceFund"] >= 0, "liquidation", "$.liquidation", "liquidation parameters out of range")  # fmt: skip
    r = c["risk"]
    _require(1 <= r["priceBandBps"] <= 5_000 and 1 <= r["maxOpenOrdersPerAccount"] <= 100_000, "risk", "$.risk",
             "risk: priceBandBps 1...5000, maxOpenOrdersPerAccount 1...100000")
    ids: set[int] = set()
    for i, k in enumerate(c["markets"]):
        p, s, o = f"$.markets[{i}]", k["symbol"], k["oracle"]
        _require(k["id"] not in ids, "markets.duplicateId", f"{p}.id", f"duplicate market id {k['id']}")
        ids.add(k["id"])
        _require(k["tier"] in tiers, "markets.tier", f"{p}.tier", f"market {s}: unknown tier {k['tier']}")
        _require(k["tickSize"] > 0 and k["stepSize"] > 0, "markets.tickStep", p, f"market {s}: tick and step must be > 0")
        _require(len(o["publishers"]) > 0, "markets.publishers", f"{p}.oracle.publishers", f"market {s}: no publishers")
        _require(1 <= o["minPublishers"] <= len(o["publishers"]), "markets.minPublishers", f"{p}.oracle.minPublishers",
                 f"market {s}: minPublishers must be 1...{len(o['publishers'])}")
        for j, key in enumerate(o["publishers"]):
            _require(bool(_KEY.match(key)), "markets.publisherKey", f"{p}.oracle.publishers[{j}]",
                     f"market {s}: publisher {j} must be 32 bytes of hex")
        _require(o["stalenessNanos"] > 0 and o["maxConfidenceBps"] > 0 and o["maxDeviationBps"] > 0,
                 "markets.oracleLimits", f"{p}.oracle", f"market {s}: oracle limits must be > 0")
        g = k["funding"]
        _require(1 <= g["intervalNanos"] <= 366 * 86_400 * 10**9 and 0 <= g["maxRateBps"] <= 10_000, "markets.funding",
                 f"{p}.funding", f"market {s}: funding interval 1 ns...366 days, max rate 0...10000 bps")
    if "options" in c:
        _validate_options(c["options"], c["markets"])


_MARGIN_RANGES = {
    "scanDeviationsMilli": (0, 10**6), "horizonNanos": (1, YEAR_NANOS), "volUpBps": (0, 100_000),
    "volDownBps": (0, 9_999), "extremeMultiple": (0, 10), "extremeCoverBps": (0, 10_000),
    "shortOptionMinimumBps": (0, 10_000), "initialRatioBps": (10_000, 100_000),
}  # fmt: skip


def _margin_fault(g: dict) -> str | None:
    """The first field of OPTIONS §7.1 that fails, in that table's order."""
    if not 1 <= g["priceBuckets"] <= 64:
        return "priceBuckets"
    if g["minScanBps"] < 1 or g["minScanBps"] > g["maxScanBps"]:
        return "minScanBps"
    if g["maxScanBps"] > 9_000:
        return "maxScanBps"
    return next((n for n, (lo, hi) in _MARGIN_RANGES.items() if not lo <= g[n] <= hi), None)


def _validate_options(o: dict, perpetuals: list[dict]) -> None:
    perp_ids = [m["id"] for m in perpetuals]
    seen: set[int] = set()
    smiles: dict[int, set[int]] = {}
    for i, u in enumerate(o["underlyings"]):
        p = f"$.options.underlyings[{i}]"
        if u["market"] not in perp_ids:
            raise _invalid(f"{p}.market", "not a perpetual market id")
        if u["market"] in seen:
            raise _invalid(f"{p}.market", "duplicate underlying")
        seen.add(u["market"])
        field = _margin_fault(u["margin"])
        if field is not None:
            raise _invalid(f"{p}.margin.{field}", "out of range")
        v = u["realizedVolatility"]
        for name, lo, hi in (("initialVolatilityPpm", 0, 16_000_000), ("halfLifeNanos", 1, 2**62),
                             ("minIntervalNanos", 1, 2**62)):  # fmt: skip
            if not lo <= v[name] <= hi:
                raise _invalid(f"{p}.realizedVolatility.{name}", "out of range")
        expiries = smiles.setdefault(u["market"], set())
        for k, s in enumerate(u["smiles"]):
            if s["expiry"] in expiries:
                raise _invalid(f"{p}.smiles[{k}].expiry", "duplicate expiry")
            expiries.add(s["expiry"])
            why = svi_violation(s["a"], s["b"], s["rho"], s["m"], s["sigma"])
            if why is not None:
                raise _invalid(f"{p}.smiles[{k}]", f"invalid SVI ({why})")
        limits = u.get("greekLimits")
        if limits is not None:
            for name, lo, hi in (("maxAbsDelta", 1, 2**62), ("maxAbsGamma", 1, 2**62),
                                 ("escalationBps", 10_000, 1_000_000)):  # fmt: skip
                if name in limits and not lo <= limits[name] <= hi:
                    raise _invalid(f"{p}.greekLimits.{name}", "out of range")
    ids = set(perp_ids)
    series: set[tuple] = set()
    per_underlying: dict[int, int] = {}
    for i, m in enumerate(o["markets"]):
        p = f"$.options.markets[{i}]"
        if m["id"] in ids:
            raise _invalid(f"{p}.id", f"duplicate market id {m['id']}")
        ids.add(m["id"])
        if m["underlying"] not in seen:
            raise _invalid(f"{p}.underlying", f"no options.underlyings entry for market {m['underlying']}")
        if not 1 <= m["strike"] <= 2**50:
            raise _invalid(f"{p}.strike", "must be 1...2^50")
        if m["contractSize"] <= 0:
            raise _invalid(f"{p}.contractSize", "must be > 0")
        if m["tickSize"] <= 0:
            raise _invalid(f"{p}.tickSize", "must be > 0")
        if m["expiry"] % 10**9 != 0:
            raise _invalid(f"{p}.expiry", "must be a whole second (a multiple of 1000000000 ns)")
        if m["expiry"] > 100 * YEAR_NANOS:
            raise _invalid(f"{p}.expiry", "must be at most 100 years of enclave time (3153600000000000000 ns)")
        if m["expiry"] not in smiles[m["underlying"]]:
            raise _invalid(f"{p}.expiry", "no smile for this expiry in the underlying's smiles")
        key = (m["underlying"], m["kind"], m["strike"], m["expiry"])
        if key in series:
            raise _invalid(p, "duplicate series (underlying, kind, strike, expiry)")
        series.add(key)
        per_underlying[m["underlying"]] = per_underlying.get(m["underlying"], 0) + 1
        if per_underlying[m["underlying"]] > 511:
            raise _invalid(p, "more than 511 option markets on one underlying")
    call = o.get("marginCall")
    if call is not None:
        if len(o["underlyings"]) > 1454:
            raise _invalid("$.options.marginCall", "more than 1454 option underlyings (a call must fit one frame)")
        for name, lo, hi in (("levelPpm", 1, 10**6), ("hysteresisPpm", 0, call["levelPpm"] - 1),
                             ("horizonNanos", 1, YEAR_NANOS), ("repeatNanos", 0, 2**62)):  # fmt: skip
            if not lo <= call[name] <= hi:
                raise _invalid(f"$.options.marginCall.{name}", "out of range")


def load_venue_config(data: bytes) -> dict:
    """`parse_venue_config` then `validate_venue_config`: the configuration the enclave would start on."""
    config = parse_venue_config(data)
    validate_venue_config(config)
    return config
