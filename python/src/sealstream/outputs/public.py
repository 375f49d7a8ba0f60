"""The checks of docs/COMMITMENTS.md §5.3 (19–27), written from the docs: the public inputs
(`inputs.jsonl`) against their event leaves and signatures, every mark recomputed from the
signed prices, each decision's execution, and the signed funding records and their
schedule. The Swift `OutputVerifier` (OutputVerifier+Inputs.swift) must name the same
checks and the same first reasons; `tests/test_live_host.py` runs both on one real epoch.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from .. import eip712
from .strict import (
    INT64,
    UINT32,
    PUBLISHED_INPUT_TYPES,
    UINT64,
    RecordError,
    _blank_or_object,
    _Object,
    read_decision,
    read_header,
    read_lines,
    read_signature,
)

PUBLIC_CHECKS = [
    "inputs.parse", "inputs.leaf", "inputs.signature", "inputs.admission", "marks.decisions",
    "marks.halted", "marks.options", "decisions.execution", "decisions.scenario", "funding.parse",
    "funding.records",
]  # fmt: skip

U64_MAX = 2**64 - 1
FUTURE_SKEW = 5_000_000_000  # PROTOCOL.md §2.9 stalePrice: 5 s ahead
PRICE_FIELDS = {"confidence", "enclaveTime", "kind", "market", "price", "publishTime", "publisher", "sequence", "signature"}
DEPOSIT_FIELDS = {"accountId", "accountKey", "amount", "depositId", "enclaveTime", "kind", "sequence", "signature"}
SMILE_FIELDS = {
    "a", "b", "enclaveTime", "expiry", "kind", "m", "publishTime", "publisher", "rho", "sequence", "sigma", "signature",
    "underlying",
}  # fmt: skip
INPUT_TYPES = {"oraclePrice": 4, "deposit": 5, "oracleSmile": 0x0A}  # kind → event leaf message type
FUNDING_MEMBERS = {
    "digest", "dueTime", "enclaveTime", "intervalNanos", "markPrice", "market", "perUnit", "rateBps", "sequence",
    "signature", "signer", "structHash", "venueId",
}  # fmt: skip
BOOK, FUND, ADL = 1, 2, 3


def read_input(line: bytes) -> dict:
    """One line of inputs.jsonl: `kind` first (it chooses the schema), then §5.1."""
    value = _blank_or_object(line)
    if not isinstance(value, dict):
        raise RecordError("wrongType", "$")
    if "kind" not in value:
        raise RecordError("missingField", "$.kind")
    kind = value["kind"]
    if not isinstance(kind, str):
        raise RecordError("wrongType", "$.kind")
    if kind == "oraclePrice":
        o = _Object(value, "$", PRICE_FIELDS)
        o.integer("confidence", UINT64)
        o.integer("enclaveTime", UINT64)
        o.integer("market", UINT32)
        o.integer("price", INT64)
        o.integer("publishTime", UINT64)
        o.hex("publisher")
        o.integer("sequence", UINT64)
        o.hex("signature", 64)
    elif kind == "deposit":
        o = _Object(value, "$", DEPOSIT_FIELDS)
        o.integer("accountId", UINT64)
        o.hex("accountKey")
        o.integer("amount", INT64)
        o.integer("depositId", UINT64)
        o.integer("enclaveTime", UINT64)
        o.integer("sequence", UINT64)
        o.hex("signature", 64)
    elif kind == "oracleSmile":
        o = _Object(value, "$", SMILE_FIELDS)
        o.integer("a", INT64)
        o.integer("b", INT64)
        o.integer("enclaveTime", UINT64)
        o.integer("expiry", UINT64)
        o.integer("m", INT64)
        o.integer("publishTime", UINT64)
        o.hex("publisher")
        o.integer("rho", INT64)
        o.integer("sequence", UINT64)
        o.integer("sigma", INT64)
        o.hex("signature", 64)
        o.integer("underlying", UINT32)
    else:
        raise RecordError("outOfRange", "$.kind")
    return value


def read_funding(line: bytes) -> dict:
    """One line of funding.jsonl (§4.3, §5.1)."""
    o = _Object(_blank_or_object(line), "$", FUNDING_MEMBERS)
    o.hex("digest")
    for name in ("dueTime", "enclaveTime", "intervalNanos"):
        o.integer(name, UINT64)
    o.integer("markPrice", INT64)
    o.integer("market", UINT32)
    o.integer("perUnit", INT64)
    o.integer("rateBps", INT64)
    o.integer("sequence", UINT64)
    read_signature(o)
    o.hex("signer", 20)
    o.hex("structHash")
    o.integer("venueId", UINT64)
    return o.d


def _hex(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def _key(s: str) -> bytes | None:
    """A configured Ed25519 key (32 bytes of hex), or None for one CONFIG.md's validation
    refuses: such a key matches no publisher and verifies no signature."""
    try:
        k = _hex(s)
    except ValueError:
        return None
    return k if len(k) == 32 else None


def _i64(v: int) -> bytes:
    return v.to_bytes(8, "big", signed=True)


def _u(v: int, n: int) -> bytes:
    return v.to_bytes(n, "big")


def _smile_fields(r: dict) -> bytes:
    return (_u(r["underlying"], 4) + _u(r["expiry"], 8) + b"".join(_i64(r[k]) for k in ("a", "b", "rho", "m", "sigma"))
            + _u(r["publishTime"], 8))  # fmt: skip


def input_body(r: dict) -> bytes:
    """The frame body the enclave received (PROTOCOL.md §2.6, §2.7, §2.17)."""
    if r["kind"] == "oraclePrice":
        return (_u(r["market"], 4) + _i64(r["price"]) + _u(r["confidence"], 8) + _u(r["publishTime"], 8)
                + _hex(r["publisher"]) + _hex(r["signature"]))  # fmt: skip
    if r["kind"] == "oracleSmile":
        return _smile_fields(r) + _hex(r["publisher"]) + _hex(r["signature"])
    return _u(r["accountId"], 8) + _hex(r["accountKey"]) + _i64(r["amount"]) + _u(r["depositId"], 8) + _hex(r["signature"])


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


class Oracle:
    """One market's price state, evaluated exactly when the engine evaluates it (§5.3)."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.keys = [_key(k) for k in cfg["publishers"]]
        self.quotes: list[tuple[int, int, int] | None] = [None] * len(self.keys)
        self.reference: int | None = None
        self.pending: tuple[int, int] | None = None
        self.tripped = False
        self.cache: tuple[int | None, str | None, int, int] | None = None  # mark, invalidity, at, until

    def _within(self, a: int, b: int) -> bool:
        return abs(a - b) * 10_000 <= b * self.cfg["maxDeviationBps"]

    def _evaluate(self, now: int) -> tuple[int | None, str | None, int]:
        usable, any_, fresh, positive, until = [], False, 0, 0, U64_MAX
        for q in self.quotes:
            if q is None:
                continue
            any_ = True
            price, confidence, publish = q
            age = now - publish if now >= publish else 0
            if age > self.cfg["stalenessNanos"]:
                continue
            fresh += 1
            if price <= 0:
                continue
            positive += 1
            if confidence * 10_000 > price * self.cfg["maxConfidenceBps"]:
                continue
            usable.append(price)
            until = min(until, min(U64_MAX, publish + self.cfg["stalenessNanos"]))
        need = self.cfg["minPublishers"]
        if len(usable) < need:
            reason = ("noPrice" if not any_ else "stale" if fresh == 0 else "tooFewPublishers" if fresh < need
                      else "nonPositive" if positive < need else "tooUncertain")  # fmt: skip
            return None, reason, until
        usable.sort()
        n = len(usable)
        median = usable[n // 2] if n % 2 else (usable[n // 2 - 1] + usable[n // 2]) // 2
        return median, None, until

    def _guard(self, median: int, now: int) -> None:
        if self.reference is not None and not self._within(median, self.reference):
            if self.pending is not None and self._within(median, self.pending[1]):
                if now - self.pending[0] >= self.cfg["jumpConfirmationNanos"]:
                    self.reference, self.pending, self.tripped = median, None, False
                else:
                    self.pending, self.tripped = (self.pending[0], median), True
            else:
                self.pending, self.tripped = (now, median), True
        else:
            self.reference, self.pending, self.tripped = median, None, False

    def record(self, r: dict, now: int) -> None:
        key = _hex(r["publisher"])
        if key not in self.keys:
            return
        i = self.keys.index(key)
        if self.quotes[i] is not None and r["publishTime"] <= self.quotes[i][2]:
            return
        self.quotes[i] = (r["price"], r["confidence"], r["publishTime"])
        median, invalidity, _ = self._evaluate(now)
        if invalidity is None:
            self._guard(median, now)
        self.cache = None

    def mark(self, now: int) -> tuple[int | None, str | None]:
        if self.cache is not None and self.cache[2] <= now <= self.cache[3]:
            return self.cache[0], self.cache[1]
        median, invalidity, until = self._evaluate(now)
        if invalidity is None:
            self._guard(median, now)
        invalidity = invalidity or ("deviation" if self.tripped else None)
        mark = median if invalidity is None else None
        self.cache = (mark, invalidity, now, until)
        return mark, invalidity


class _Check:
    def __init__(self) -> None:
        self.v: dict[str, Any] = {"pass": True}

    def fail(self, error: str, **where: Any) -> None:
        if self.v["pass"]:
            self.v = {"pass": False, "error": error, **where}

    def note(self, error: str | None) -> None:
        if error is not None:
            self.fail(error)


def verify_public(
    batches: bytes, decisions: bytes, events: bytes | None, inputs: bytes | None, config: dict | None,
    funding: bytes | None, signer: str, dom: dict, venue_id: int | None = None, market_data: bytes | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """{check: {"pass", "error"?, "line"?, "path"?}} for the eleven checks of §5.3 (19–24, 24a, 25, 25a, 26–27).

    `config` is the venue configuration as `sealstream.config.parse_venue_config` returns it
    (a dict is read again that way, so a `ConfigParseError` names what a hand-made one
    lacks). One that parses but fails docs/CONFIG.md's validation is not the configuration
    any enclave ran (the enclave refuses it): nothing is recomputed from it; checks 21, 22,
    23, 24, 24a and, with funding records, 27 fail with `config`, and 25 and 25a are made
    as without a configuration (docs/COMMITMENTS.md §5)."""
    c = {name: _Check() for name in PUBLIC_CHECKS}
    invalid = None
    if config is not None:
        from ..config import ConfigInvalid, parse_venue_config, validate_venue_config

        config = parse_venue_config(json.dumps(config).encode())
        try:
            validate_venue_config(config)
        except ConfigInvalid as e:
            invalid = e
    signer = signer.lower()
    headers = [h for _, h in read_lines(batches, read_header) if not isinstance(h, RecordError)]
    covered = headers[-1]["lastSequence"] if headers else 0
    parsed_decisions = [d for _, d in read_lines(decisions, read_decision) if not isinstance(d, RecordError)]
    usable = config if invalid is None else None
    _check_execution(parsed_decisions, usable["liquidation"]["feeBps"] if usable else None, c["decisions.execution"])
    for d in parsed_decisions:
        c["decisions.scenario"].note(scenario_fault(d, usable))
    funding_records = None
    if funding is not None:
        funding_records = _check_funding_records(funding, headers, covered, signer, dom, venue_id, c)
    if inputs is None:
        return {k: v.v for k, v in c.items()}

    records = []
    for line, r in read_lines(inputs, read_input):
        if isinstance(r, RecordError):
            c["inputs.parse"].fail(r.name, line=line, path=r.path)
        else:
            records.append(r)
    leaves = None
    if events is not None and len(events) % 49 == 0:
        leaves = [(int.from_bytes(events[i : i + 8], "big"), int.from_bytes(events[i + 8 : i + 16], "big"), events[i + 16],
                   events[i + 17 : i + 49]) for i in range(0, len(events), 49)]  # fmt: skip
    verified: dict[int, dict] = {}
    leaf = c["inputs.leaf"]
    if leaves is not None:
        previous = 0
        for r in records:
            if r["sequence"] <= previous:
                leaf.fail("order")
                continue
            previous = r["sequence"]
            if not 1 <= r["sequence"] <= len(leaves):
                leaf.fail("noLeaf")
                continue
            _, time, kind, body_hash = leaves[r["sequence"] - 1]
            if kind != INPUT_TYPES[r["kind"]]:
                leaf.fail("type")
            elif time != r["enclaveTime"]:
                leaf.fail("time")
            elif hashlib.sha256(input_body(r)).digest() != body_hash:
                leaf.fail("bodyHash")
            else:
                verified[r["sequence"]] = r
        published = {r["sequence"] for r in records}
        for i, (_, _, kind, _) in enumerate(leaves[: min(covered, len(leaves))]):
            if kind in PUBLISHED_INPUT_TYPES and i + 1 not in published:
                leaf.fail("missing")
                break
    else:
        leaf.fail("noEventsLog")
    if config is None:
        return {k: v.v for k, v in c.items()}
    if invalid is not None:
        configured = ["inputs.signature", "inputs.admission", "marks.decisions", "marks.halted", "marks.options"]
        for name in configured + (["funding.records"] if funding is not None else []):
            c[name].fail("config")
        return {k: v.v for k, v in c.items()}
    _check_signatures(records, config, c["inputs.signature"], c["inputs.admission"])
    _check_marks(headers, parsed_decisions, leaves or [], covered, verified, config, funding_records, c)
    from .option_marks import check_option_marks

    check_option_marks(parsed_decisions, market_data, leaves or [], covered, verified, config, Oracle, c["marks.options"])
    return {k: v.v for k, v in c.items()}


def _check_signatures(records: list[dict], config: dict, signature: _Check, admission: _Check) -> None:
    markets = {m["id"]: m for m in config["markets"]}
    custody_key = _key(config["custodyKey"])
    custody = VerifyKey(custody_key) if custody_key is not None else None
    last_publish: dict[tuple[int, bytes], int] = {}
    last_smile: dict[tuple[int, int, bytes], int] = {}
    options = config.get("options") or {"underlyings": [], "markets": []}
    deposit_ids: set[int] = set()
    account_keys: dict[int, str] = {}

    def valid(key: VerifyKey | None, message: bytes, sig: bytes) -> bool:
        if key is None:
            return False
        try:
            key.verify(message, sig)
            return True
        except (BadSignatureError, ValueError):
            return False

    for r in records:
        sig = _hex(r["signature"])
        if r["kind"] == "oraclePrice":
            market = markets.get(r["market"])
            if market is None:
                signature.fail("unknownMarket")
                continue
            publisher = _hex(r["publisher"])
            if publisher not in [_key(k) for k in market["oracle"]["publishers"]]:
                signature.fail("unknownPublisher")
                continue
            signed = (b"sealstream/v1/oracle-price" + _u(r["market"], 4) + _i64(r["price"]) + _u(r["confidence"], 8)
                      + _u(r["publishTime"], 8))  # fmt: skip
            signature.note(None if valid(VerifyKey(publisher), signed, sig) else "signature")
            now, publish = r["enclaveTime"], r["publishTime"]
            last = last_publish.get((r["market"], publisher), 0)
            too_old = now > publish and now - publish > market["oracle"]["stalenessNanos"]
            too_new = publish > now and publish - now > FUTURE_SKEW
            admission.note(None if publish > last and not too_old and not too_new else "stalePrice")
            last_publish[(r["market"], publisher)] = max(last, publish)
        elif r["kind"] == "oracleSmile":
            _check_smile(r, markets, options, last_smile, valid, signature, admission)
        else:
            signed = (b"sealstream/v1/deposit" + _u(config["venueID"], 8) + _u(r["accountId"], 8) + _hex(r["accountKey"])
                      + _i64(r["amount"]) + _u(r["depositId"], 8))  # fmt: skip
            signature.note(None if valid(custody, signed, sig) else "signature")
            known = account_keys.get(r["accountId"])
            admission.note("invalidAmount" if r["amount"] <= 0 else "duplicateDeposit" if r["depositId"] in deposit_ids
                           else "accountKeyMismatch" if known is not None and known != r["accountKey"] else None)  # fmt: skip
            deposit_ids.add(r["depositId"])
            if r["accountId"] != 0:  # the insurance fund registers no key (PROTOCOL §2.7)
                account_keys.setdefault(r["accountId"], r["accountKey"])


def _q(v: int) -> int:
    """Q(v, 10⁹) of docs/OPTIONS.md §2: ⌊v × 2⁶⁴ / 10⁹⌋."""
    return (v << 64) // 1_000_000_000


def svi_violation(a: int, b: int, rho: int, m: int, sigma: int) -> str | None:
    """The first failing check of docs/OPTIONS.md §5.2 for parameters in 10⁻⁹ units, or None."""
    one = 1 << 64
    a, b, rho, m, sigma = (_q(v) for v in (a, b, rho, m, sigma))
    if any(abs(p) > (1 << 20) * one for p in (a, b, rho, m, sigma)):
        return "parameterOutOfRange"
    if b < 0:
        return "negativeSlope"
    if abs(rho) >= one:
        return "correlationOutOfRange"
    if sigma <= 0:
        return "nonPositiveSigma"
    root = math.isqrt((one - ((rho * rho) >> 64)) << 64)
    if a + ((b * ((sigma * root) >> 64)) >> 64) < 0:
        return "negativeMinimumVariance"
    if (b * (one + abs(rho))) >> 64 > 2 * one:
        return "wingTooSteep"
    return None


def _check_smile(r, markets, options, last_smile, valid, signature: _Check, admission: _Check) -> None:
    """A smile record (PROTOCOL.md §2.17) judged once, in the enclave's order: unknownMarket,
    unknownExpiry, unknownPublisher, signature, invalidSmile, stalePrice. The first failing reason
    is its only failure (inputs.signature for unknownMarket, unknownPublisher and signature,
    inputs.admission for the others); only an admitted smile counts as its publisher's last."""
    listed = [m for m in options["markets"] if m["underlying"] == r["underlying"]]
    market = markets.get(r["underlying"])
    if market is None or not listed:
        signature.fail("unknownMarket")
        return
    if all(m["expiry"] != r["expiry"] for m in listed):
        admission.fail("unknownExpiry")
        return
    publisher = _hex(r["publisher"])
    if publisher not in [_key(k) for k in market["oracle"]["publishers"]]:
        signature.fail("unknownPublisher")
        return
    signed = b"sealstream/v1/oracle-smile" + _smile_fields(r)
    if not valid(VerifyKey(publisher), signed, _hex(r["signature"])):
        signature.fail("signature")
        return
    now, publish = r["enclaveTime"], r["publishTime"]
    key = (r["underlying"], r["expiry"], publisher)
    too_old = now > publish and now - publish > market["oracle"]["stalenessNanos"]
    too_new = publish > now and publish - now > FUTURE_SKEW
    if svi_violation(r["a"], r["b"], r["rho"], r["m"], r["sigma"]):
        admission.fail("invalidSmile")
    elif publish <= last_smile.get(key, 0) or too_old or too_new:
        admission.fail("stalePrice")
    else:
        last_smile[key] = publish


def _check_marks(headers, decisions, leaves, covered, verified, config, funding_records, c) -> None:
    oracles = {m["id"]: Oracle(m["oracle"]) for m in sorted(config["markets"], key=lambda m: m["id"])}
    underlying_of = {m["id"]: m["underlying"] for m in (config.get("options") or {}).get("markets", [])}
    by_sequence: dict[int, list[dict]] = {}
    for d in decisions:
        by_sequence.setdefault(d["sequence"], []).append(d)
    closes: dict[int, list[dict]] = {}
    for h in headers:
        closes.setdefault(h["lastSequence"], []).append(h)
    schedule = _Schedule(config, funding_records) if funding_records is not None else None
    for sequence in range(1, min(covered, len(leaves)) + 1):
        _, time, kind, _ = leaves[sequence - 1]
        if kind in (4, 5):  # a smile (0x0A) moves no perpetual's mark: evaluated like a sealed request
            r = verified.get(sequence)
            if r is None:
                if any(s >= sequence for s in by_sequence):
                    c["marks.decisions"].fail("incomplete")
                c["marks.halted"].fail("incomplete")
                if schedule is not None:
                    c["funding.records"].fail("incomplete")
                return
            if r["kind"] == "oraclePrice" and r["market"] in oracles:
                oracles[r["market"]].record(r, time)
        for o in oracles.values():
            o.mark(time)
        for d in by_sequence.get(sequence, []):
            if d["enclaveTime"] != time:
                c["marks.decisions"].fail("time")
                continue
            if d["market"] in underlying_of:  # an option: its underlying's mark valid, its own not recomputed
                mark, _ = oracles[underlying_of[d["market"]]].mark(time)
                reason = "halted" if mark is None else None
            else:
                mark, _ = oracles[d["market"]].mark(time) if d["market"] in oracles else (None, "noPrice")
                reason = "halted" if mark is None else None if mark == d["markPrice"] else "mark"
            for p in (d["scenario"] or {}).get("portfolios", []) if reason is None else []:
                o = oracles.get(p["underlying"])
                if o is None or o.mark(time)[0] != p["mark"]:
                    reason = "scenarioMark"
                    break
            c["marks.decisions"].note(reason)
        if schedule is not None:
            schedule.event(sequence, time, oracles, c["funding.records"])
        for h in closes.get(sequence, []):
            halted = [m for m, o in oracles.items() if copy.deepcopy(o).mark(h["enclaveTime"])[0] is None]
            c["marks.halted"].note(None if halted == h["haltedMarkets"] else "haltedMarkets")
    if schedule is not None:
        schedule.finish(c["funding.records"])


class _Schedule:
    def __init__(self, config: dict, records: list[dict]):
        self.due = [[m["id"], m["funding"]["intervalNanos"], m["funding"]["maxRateBps"], None]
                    for m in sorted(config["markets"], key=lambda m: m["id"])]  # fmt: skip
        self.pending: dict[int, list[dict]] = {}
        for r in records:
            self.pending.setdefault(r["sequence"], []).append(r)

    def event(self, sequence: int, time: int, oracles: dict, check: _Check) -> None:
        records = self.pending.pop(sequence, [])
        for d in self.due:
            market, interval, max_rate, nxt = d
            if nxt is None:
                d[3] = time + interval
                continue
            mark = oracles[market].mark(time)[0]
            if time < nxt or mark is None:
                continue
            found = next((r for r in records if r["market"] == market), None)
            if found is not None:
                records.remove(found)
                if (found["markPrice"], found["dueTime"], found["enclaveTime"], found["intervalNanos"]) != (mark, nxt, time, interval):
                    check.fail("mismatch")
                elif abs(found["rateBps"]) > abs(max_rate):
                    check.fail("rate")
                elif found["perUnit"] != _trunc_div(mark * found["rateBps"], 10_000):
                    check.fail("perUnit")
            else:
                check.fail("missing")
            d[3] = nxt + ((time - nxt) // interval + 1) * interval
        for _ in records:
            check.fail("unexpected")

    def finish(self, check: _Check) -> None:
        for sequence in sorted(self.pending):
            if sequence > 0 and self.pending[sequence]:
                check.fail("unexpected")


def _check_funding_records(data, headers, covered, signer, dom, venue_id, c) -> list[dict]:
    out = []
    separator = eip712.domain_separator(dom["chainId"], dom["verifyingContract"])
    expected_venue = venue_id if venue_id is not None else (headers[0]["venueId"] if headers else None)
    for line, r in read_lines(data, read_funding):
        if isinstance(r, RecordError):
            c["funding.parse"].fail(r.name, line=line, path=r.path)
            continue
        struct_hash = eip712.funding_hash(r)
        digest = eip712.digest(separator, struct_hash)
        try:
            recovered = eip712.recover_signer(digest, r["signature"])
        except ValueError:
            recovered = None
        check = c["funding.records"]
        if r["structHash"] != "0x" + struct_hash.hex() or r["digest"] != "0x" + digest.hex():
            check.fail("digest")
        elif recovered != signer or r["signer"] != signer:
            check.fail("signature")
        elif expected_venue is not None and r["venueId"] != expected_venue:
            check.fail("venue")
        elif not 1 <= r["sequence"] <= covered:
            check.fail("uncovered")
        out.append(r)
    return out


def _moved_price(mark: int, scan_bps: int, steps: int, buckets: int) -> int:
    """docs/OPTIONS.md §7.3: F + sign(j) × ⌈F × R × |j| / (N × 10^4)⌉, clamped to 1…2^50."""
    magnitude = -((-mark * scan_bps * abs(steps)) // (buckets * 10_000))
    return min(max(mark + (-magnitude if steps < 0 else magnitude), 1), 2**50)


def scenario_fault(d: dict, config: dict | None) -> str | None:
    """§5.3 check 25a `decisions.scenario`: the first rule the decision's scenario breaks."""
    options = (config or {}).get("options")
    option = next((m for m in options["markets"] if m["id"] == d["market"]), None) if options else None
    s = d["scenario"]
    if s is None:
        # An escalation (reason 3) is taken only on an account holding an option (OPTIONS §10.11).
        return None if option is None and d["reasonCode"] != 3 else "missing"
    parts = s["portfolios"]
    if s["linearRequirement"] < 0 or any(
        p["mark"] < 1 or p["scanBps"] < 1 or p["price"] < 1 or p["shortOptionContingency"] < 0
        or p["confidenceContingency"] < 0
        for p in parts
    ):  # fmt: skip
        return "range"
    total = s["linearRequirement"] + sum(
        max(p["loss"], 0) + p["shortOptionContingency"] + p["confidenceContingency"] for p in parts
    )
    if min(max(total, -(2**63)), 2**63 - 1) != d["maintenanceRequirement"]:
        return "maintenance"
    if not options:
        return None
    if option is not None and all(p["underlying"] != option["underlying"] for p in parts):
        return "underlying"
    for p in parts:
        u = next((u for u in options["underlyings"] if u["market"] == p["underlying"]), None)
        if u is None:
            return "underlying"
        m = u["margin"]
        n, index = m["priceBuckets"], p["scenario"]
        regular = 3 * (2 * n + 1)
        if index < regular:
            steps, shift = index // 3 - n, (0, m["volUpBps"], -m["volDownBps"])[index % 3]
        elif m["extremeMultiple"] > 0 and index < regular + 2:
            steps, shift = (-1 if index == regular else 1) * m["extremeMultiple"] * n, 0
        else:
            return "grid"
        if (p["moveSteps"], p["volShiftBps"]) != (steps, shift):
            return "grid"
        if not m["minScanBps"] <= p["scanBps"] <= m["maxScanBps"]:
            return "scan"
        if p["price"] != _moved_price(p["mark"], p["scanBps"], steps, n):
            return "price"
    return None


def _check_execution(decisions: list[dict], fee_bps: int | None, check: _Check) -> None:
    """§5.3 check 25: each decision's fills and fee against its own fields."""
    kinds = {"book": BOOK, "insuranceFund": FUND, "adl": ADL}
    for d in decisions:
        sums = {BOOK: 0, FUND: 0, ADL: 0}
        book_cash, reason, phase = 0, None, BOOK
        for f in d["fills"]:
            kind, price, quantity = kinds[f["kind"]], f["price"], f["quantity"]
            sums[kind] += quantity
            better = price <= d["worstPrice"] if d["isBuy"] else price >= d["worstPrice"]
            if quantity <= 0:
                reason = reason or "quantities"
            elif kind < phase or (phase != BOOK and kind != phase) or (kind == FUND and sums[FUND] != quantity):
                reason = reason or "order"
            elif (kind == BOOK and not better) or (kind != BOOK and price != d["worstPrice"]):
                reason = reason or "price"
            phase = kind
            if kind == BOOK:
                book_cash += _trunc_div(price * quantity, 100_000_000)
        if reason is None and (
            (sums[BOOK], sums[FUND], sums[ADL]) != (d["filledOnBook"], d["toInsuranceFund"], d["autoDeleveraged"])
            or d["filledOnBook"] + d["toInsuranceFund"] + d["autoDeleveraged"] != d["size"]
        ):
            reason = "quantities"
        if reason is None:
            cap = _trunc_div(book_cash * fee_bps + 9_999, 10_000) if fee_bps is not None else None
            fee = d["liquidationFee"]
            if fee < 0 or (d["filledOnBook"] == 0 and fee != 0) or (cap is not None and fee > cap):
                reason = "fee"
            elif d["reasonCode"] != 3 and d["equity"] >= d["maintenanceRequirement"]:  # 3: greek-limit
                reason = "notBelowMaintenance"
        check.note(reason)
