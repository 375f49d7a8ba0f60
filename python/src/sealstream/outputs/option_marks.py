"""`marks.options` of docs/COMMITMENTS.md §5.3 (check 24a), written from the documents alone: every
option mark the outputs publish, and the volatility and Greeks beside it, recomputed from the signed
prices and smiles with the integer arithmetic of docs/OPTIONS.md §2-7 (§2-6 and §7.4's refusals).
Python integers are exact, and `//` and `>>` floor as the document's operations do.
"""

from __future__ import annotations

import copy
from math import factorial, isqrt

ONE = 1 << 64
HALF = 1 << 63
LN2 = 12786308645202655660
SQRT2 = 26087635650665564424
INV_SQRT_2PI = 7359186146747302452
C = [ONE // factorial(n) for n in range(18)]
I = [ONE // (2 * n + 1) for n in range(61)]  # noqa: E741
Y = 365 * 86_400 * 10**9
MAX_PRICE = 2**50
REASON_CODES = {"noPrice": 1, "stale": 2, "nonPositive": 3, "tooUncertain": 4, "tooFewPublishers": 5, "deviation": 6}


class Refused(Exception):
    """§7.4 refuses the underlying's state: its options have no mark (`noPrice`)."""


def _mul(a: int, b: int) -> int:
    return (a * b) >> 64


def _div(a: int, b: int) -> int:
    return (a << 64) // b


def _ratio(n: int, d: int) -> int:
    return (n << 64) // d


def _year_fraction(now: int, expiry: int) -> int:
    return 0 if expiry <= now else _ratio(expiry - now, Y)


def _exp(x: int) -> int:
    if x < -45 * ONE:
        return 0
    k = (x + LN2 // 2) // LN2
    r = x - k * LN2
    p = C[17]
    for n in range(16, -1, -1):
        p = C[n] + _mul(p, r)
    return p << k if k >= 0 else p >> -k


def _ln(x: int) -> int:
    e = x.bit_length() - 65
    m = x >> e if e >= 0 else x << -e
    if m >= SQRT2:
        e += 1
        m = x >> e if e >= 0 else x << -e
    s = _div(m - ONE, m + ONE)
    z = _mul(s, s)
    p = I[13]
    for n in range(12, -1, -1):
        p = I[n] + _mul(p, z)
    return e * LN2 + 2 * _mul(s, p)


def _sqrt(x: int) -> int:
    return isqrt(x << 64)


def _pdf(x: int) -> int:
    a = abs(x)
    return 0 if a >= 16 * ONE else _mul(_exp(-(_mul(a, a) >> 1)), INV_SQRT_2PI)


def _cdf(x: int) -> int:
    a = abs(x)
    if a >= 9 * ONE:
        t = 0
    elif a < 3 * ONE:
        y, term, s = _mul(a, a), a, a
        for n in range(1, 41):
            term = _mul(_mul(term, y), I[n])
            if term == 0:
                break
            s += term
        t = HALF - _mul(_pdf(a), s)
    else:
        f = 0
        for k in range(60, 0, -1):
            f = _div(k * ONE, a + f)
        t = _mul(_pdf(a), _div(ONE, a + f))
    t = min(max(t, 0), HALF)
    return ONE - t if x >= 0 else t


def _black76(kind: str, f: int, k: int, sigma: int, t: int) -> tuple[int, int, int, int, int]:
    """Black-76 (§4) as (⌊price⌋ micro-units, delta, gamma, vega, theta Q64 raw), refusing s = σ√T > 16 (§4.1)."""
    root_t = _sqrt(t)
    s = _mul(sigma, root_t)
    if not (1 <= f <= MAX_PRICE and 1 <= k <= MAX_PRICE and 0 <= sigma <= 16 * ONE) or s > 16 * ONE:
        raise Refused
    if s < 2**32:
        call_delta = ONE if f > k else (0 if f < k else HALF)
        value = max(f - k, 0) if kind == "call" else max(k - f, 0)
        return value, call_delta if kind == "call" else call_delta - ONE, 0, 0, 0
    x = _ln(f * ONE) - _ln(k * ONE)
    d1 = (32 * ONE if x > 0 else -32 * ONE) if abs(x) >= 32 * s else _div(x, s) + (s >> 1)
    n1, n2, phi = _cdf(d1), _cdf(d1 - s), _pdf(d1)
    price = f * n1 - k * n2 if kind == "call" else k * (ONE - n2) - f * (ONE - n1)
    delta = n1 if kind == "call" else n1 - ONE
    gamma = (phi * 10**6 * ONE) // (f * s)
    vega = f * _mul(phi, root_t)
    theta = max(-(2**127 - 1), min(2**127 - 1, (-f * phi * sigma) // (2 * root_t)))
    return max(price, 0) >> 64, delta, gamma, vega, theta


def _price(kind: str, f: int, k: int, sigma: int, t: int) -> int:
    """⌊Black-76 price⌋ in micro-units (§4)."""
    return _black76(kind, f, k, sigma, t)[0]


def _scaled(x: int, n: int) -> int:
    """⌊x × n / 2⁶⁴⌋ of a Q64 raw value, saturated to the i64 range."""
    return max(-(2**63), min(2**63 - 1, (x * n) >> 64))


def _svi_volatility(p: tuple[int, ...], f: int, k: int, t: int) -> int:
    """§5.1, parameters already Q64; σ > 16 is refused."""
    if t == 0:
        return 0
    a, b, rho, m, sigma = p
    d = _ln(k * ONE) - _ln(f * ONE) - m
    w = max(a + _mul(b, _mul(rho, d) + _sqrt(_mul(d, d) + _mul(sigma, sigma))), 0)
    if w > _mul(256 * ONE, t):
        raise Refused
    return _sqrt(_div(w, t))


def _q(v: int) -> int:
    return (v << 64) // 1_000_000_000


class _Underlying:
    """One underlying's estimator (§6, §10.4), volatility feed (§10.9) and series (§10.2)."""

    def __init__(self, u: dict, series: list[dict], oracle: dict):
        from .public import _hex

        self.margin = u["margin"]
        rv = u["realizedVolatility"]
        self.half_life, self.min_interval = rv["halfLifeNanos"], rv["minIntervalNanos"]
        sigma0 = _ratio(rv["initialVolatilityPpm"], 10**6)
        self.variance = _mul(sigma0, sigma0)
        self.last: tuple[int, int] | None = None
        self.series = series  # every option market on the underlying, ascending id
        self.expiries = sorted({m["expiry"] for m in series})
        configured = {s["expiry"]: s for s in u.get("smiles", [])}
        self.configured = {e: self._params(configured[e]) if e in configured else None for e in self.expiries}
        self.keys = [_hex(k) for k in oracle["publishers"]]
        self.staleness = oracle["stalenessNanos"]
        self.last_publish = {e: [0] * len(self.keys) for e in self.expiries}
        self.in_force: dict[int, tuple[tuple[int, ...], int]] = {}  # expiry → (Q64 parameters, publish time)

    @staticmethod
    def _params(s: dict) -> tuple[int, ...]:
        return tuple(_q(s[k]) for k in ("a", "b", "rho", "m", "sigma"))

    def sample(self, price: int, time: int) -> None:
        """§6 update; a refusal changes nothing."""
        if not 1 <= price <= MAX_PRICE:
            return
        if self.last is None:
            self.last = (price, time)
            return
        p0, t0 = self.last
        if time <= t0:
            return
        dt = time - t0
        r = _ln(price * ONE) - _ln(p0 * ONE)
        tau = max(dt, self.min_interval)
        q = _mul(r, r)
        sample = 256 * ONE if q >= -((-256 * ONE * tau) // Y) else (q * Y) // tau
        lam = 0 if dt // self.half_life >= 64 else _exp(-_mul(LN2, _ratio(dt, self.half_life)))
        self.variance = _mul(lam, self.variance) + _mul(ONE - lam, sample)
        self.last = (price, time)

    def record_smile(self, r: dict) -> None:
        from .public import _hex, svi_violation

        publisher = _hex(r["publisher"])
        if r["expiry"] not in self.last_publish or publisher not in self.keys:
            return
        if svi_violation(r["a"], r["b"], r["rho"], r["m"], r["sigma"]):
            return
        p = self.keys.index(publisher)
        if r["publishTime"] <= self.last_publish[r["expiry"]][p]:
            return
        self.last_publish[r["expiry"]][p] = r["publishTime"]
        current = self.in_force.get(r["expiry"])
        if current is None or r["publishTime"] >= current[1]:
            self.in_force[r["expiry"]] = (self._params(r), r["publishTime"])

    def _smile(self, expiry: int, now: int) -> tuple[int, ...] | None:
        signed = self.in_force.get(expiry)
        if now >= expiry:
            return self.configured[expiry] or (signed[0] if signed else None)
        if signed is None:
            return self.configured[expiry]
        stale = now > signed[1] and now - signed[1] > self.staleness
        return None if stale else signed[0]

    def marks(self, f: int, now: int) -> list[tuple[int, dict]]:
        """(⌊V₀⌋, the line's `option.greeks`) of every series at mark f (§10.2, MARKETDATA §2.1), or Refused (§7.4)."""
        if not 1 <= f <= MAX_PRICE:
            raise Refused
        t_now = now - now % 1_000_000_000
        out = []
        for m in self.series:
            params = self._smile(m["expiry"], now)
            if params is None:
                raise Refused
            a, b, rho, mm, sigma = params
            t = _year_fraction(t_now, m["expiry"])
            vol = _svi_volatility(params, f, m["strike"], t)
            up = min(vol * (10_000 + self.margin["volUpBps"]) // 10_000, 16 * ONE)
            if _mul(up, _sqrt(t)) > 16 * ONE:  # the up-volatility scenarios of §7.4
                raise Refused
            price, delta, gamma, vega, theta = _black76(m["kind"], f, m["strike"], vol, t)
            out.append((price, {
                "delta": _scaled(delta, 10**8), "gamma": _scaled(gamma, 10**8), "impliedVolatilityPpm": _scaled(vol, 10**6),
                "realizedVolatilityPpm": _scaled(_sqrt(self.variance), 10**6), "theta": _scaled(theta, 1),
                "vega": _scaled(vega, 1)}))  # fmt: skip
        return out


def check_option_marks(decisions, market_data, leaves, covered, verified, config, oracle_class, check) -> None:
    """The replay of COMMITMENTS §5.3 "Recomputing the option marks" into `check` (a `_Check`)."""
    from .public import svi_violation  # noqa: F401  (the validity rules of §5.2)
    from .strict import RecordError, read_lines, read_market_data

    options = config.get("options")
    if not options:
        return
    markets = {m["id"]: m for m in config["markets"]}
    option_markets = {m["id"]: m for m in options["markets"]}
    oracles = {i: oracle_class(markets[i]["oracle"]) for i in sorted(markets)}
    underlyings = {}
    for u in options["underlyings"]:
        series = sorted((m for m in options["markets"] if m["underlying"] == u["market"]), key=lambda m: m["id"])
        underlyings[u["market"]] = _Underlying(u, series, markets[u["market"]]["oracle"])
    points: dict[int, list[tuple[str, dict]]] = {}
    for d in decisions:
        if d["market"] in option_markets:
            points.setdefault(d["sequence"], []).append(("decision", d))
    settlements: dict[int, tuple[int, int]] = {}
    for _, r in read_lines(market_data or b"", read_market_data):
        if isinstance(r, RecordError):
            continue
        m, o = option_markets.get(r["market"]), r.get("option")
        if m is None:
            if o is not None:
                check.fail("unknownMarket")
            continue
        if o is None or any(o[k] != m[k] for k in ("underlying", "kind", "strike", "expiry", "contractSize")):
            check.fail("terms")
            continue
        points.setdefault(r["lastSequence"], []).append(("line", r))
        if o.get("settlement") is not None and r["market"] not in settlements:
            settlements[r["market"]] = (o["settlement"]["sequence"], o["settlement"]["settlementPrice"])

    def option_mark(market: int, now: int) -> tuple[int | None, int | None, str | None, dict | None]:
        """(F, mark, invalidity, greeks) of an option market at `now`, the underlying evaluated on a copy."""
        m = option_markets[market]
        f, why = copy.deepcopy(oracles[m["underlying"]]).mark(now)
        if f is None:
            return None, None, why, None
        u = underlyings[m["underlying"]]
        try:
            mark, greeks = u.marks(f, now)[[s["id"] for s in u.series].index(market)]
            return f, mark, None, greeks
        except Refused:
            return f, None, "noPrice", None

    settled: set[int] = set()
    end = min(covered, len(leaves))
    for sequence in range(1, end + 1):
        _, time, kind, _ = leaves[sequence - 1]
        r = verified.get(sequence) if kind != 3 else None
        if kind != 3 and r is None:
            if any(s >= sequence for s in points) or any(s >= sequence for s, _ in settlements.values()):
                check.fail("incomplete")
            return
        recorded = False
        if r is not None and r["kind"] == "oraclePrice" and r["market"] in oracles:
            o = oracles[r["market"]]
            before = copy.deepcopy(o.quotes)
            o.record(r, time)
            recorded = o.quotes != before
        for o in oracles.values():
            o.mark(time)
        if recorded and r["market"] in underlyings:
            mark, _ = oracles[r["market"]].mark(time)
            u = underlyings[r["market"]]
            if mark is not None and (u.last is None or mark != u.last[0]):
                u.sample(mark, time)
        if r is not None and r["kind"] == "oracleSmile" and r["underlying"] in underlyings:
            underlyings[r["underlying"]].record_smile(r)
        for what, p in points.get(sequence, []):
            if what == "decision":
                _, mark, _, _ = option_mark(p["market"], time)
                check.note("halted" if mark is None else None if mark == p["markPrice"] else "mark")
            else:
                f, mark, why, greeks = option_mark(p["market"], p["stateTime"])
                expected = (mark, 0) if mark is not None else (0, REASON_CODES[why])
                if (p["markPrice"], p["priceInvalidity"]) != expected:
                    check.fail("mark")
                elif p["option"]["underlyingMark"] != (f or 0):
                    check.fail("underlyingMark")
                elif p["option"].get("greeks") != greeks:
                    check.fail("greeks")
        for market in sorted(option_markets):
            if market in settled or option_markets[market]["expiry"] > time:
                continue
            f, _ = copy.deepcopy(oracles[option_markets[market]["underlying"]]).mark(time)
            if f is None:
                continue
            settled.add(market)
            if market in settlements and settlements[market] != (sequence, f):
                check.fail("settlement")
    for market, (s, _) in sorted(settlements.items(), key=lambda kv: (kv[1][0], kv[0])):
        if market not in settled and s <= end:
            check.fail("settlement")
