"""An independent implementation of part of docs/OPTIONS.md §10, written from the documents
alone: the option mark (§10.2), the health of an account (§10.3), realized volatility from
the stream (§10.4) and the settlement record at expiry (§10.5), with the marks and their
aggregated confidence of docs/COMMITMENTS.md "Recomputing the marks" and the linear rules of
docs/CONFIG.md. The option math of §2-§7 is scripts/options_reference.py (itself written
from the document alone).

    python3 scripts/options_engine_reference.py RUN.json

RUN.json is what an engine did (Tests/EngineTests/OptionsEngineConformanceTests.swift
writes it): the venue's parameters, every recorded-or-not oracle price with its event's
enclave time, and checkpoints with the engine's own answers (marks, the underlying's
variance and confidence, each account's collateral, positions and health, settlements).
The script recomputes every answer from the inputs and prints one JSON line
{"compared": N, "mismatches": [...]}; the exit status is 1 when any answer differs.

Scope (what the generator keeps within, asserted here): configured smiles only (no signed
feed), prices that never leave the deviation guard's limit and never go stale, so a mark is
the median of the counted prices (no guard state, no cache expiry to model).
"""
import json
import sys

import options_reference as o

ONE = o.ONE
MAX_PRICE = 2**50
SECOND = 10**9


def ceil_div(a, d):
    return -((-a) // d)


class Market:
    """One perpetual's latest publisher prices (COMMITMENTS "Recomputing the marks")."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.latest = {}  # publisher -> (price, confidence, publishTime)

    def record(self, publisher, price, confidence, publish_time):
        """Step 1: replaces the publisher's price when its publish time is newer."""
        last = self.latest.get(publisher)
        if last is not None and publish_time <= last[2]:
            return False
        self.latest[publisher] = (price, confidence, publish_time)
        return True

    def mark(self, t):
        """(mark, c) at t, or None: median of the counted prices, c the median of their
        confidences (even count: the mean rounded toward +inf), clamped to 2^50."""
        oracle = self.cfg["oracle"]
        counted = [(p, c) for p, c, pt in self.latest.values()
                   if max(t - pt, 0) <= oracle["stalenessNanos"] and p > 0
                   and c * 10_000 <= p * oracle["maxConfidenceBps"]]
        if len(counted) < oracle["minPublishers"]:
            return None
        prices = sorted(p for p, _ in counted)
        confs = sorted(c for _, c in counted)
        n = len(counted)
        if n % 2:
            return prices[n // 2], min(confs[n // 2], MAX_PRICE)
        return (prices[n // 2 - 1] + prices[n // 2]) // 2, min(ceil_div(confs[n // 2 - 1] + confs[n // 2], 2), MAX_PRICE)


class Estimator:
    """§10.4 over §6: samples the underlying's mark at recorded prices when it changed."""

    def __init__(self, cfg):
        ppm = o.ratio(cfg["initialVolatilityPpm"], 10**6)
        self.variance = o.mul(ppm, ppm)
        self.half_life = cfg["halfLifeNanos"]
        self.min_interval = cfg["minIntervalNanos"]
        self.last = None

    def sample(self, price, t):
        if self.last is not None and self.last[0] == price:
            return
        if self.last is not None and t <= self.last[1]:
            return  # outOfOrderTick: nothing changes
        if self.last is not None:
            self.variance = o.ewma(self.half_life, self.min_interval, self.variance, [self.last, (price, t)])
        self.last = (price, t)


def q64_smiles(run):
    return {s["expiry"]: tuple(o.ratio(s[k], 10**9) for k in ("a", "b", "rho", "m", "sigma")) for s in run["smiles"]}


def arrays_at(run, f, c, variance, now):
    """§10.2: the underlying's risk arrays at now rounded down to the second."""
    series = [(m["kind"], m["strike"], m["expiry"]) for m in sorted(run["options"], key=lambda m: m["id"])]
    state = {"mark": f, "confidence": c, "vol": o.sqrt(variance), "now": now // SECOND * SECOND,
             "smiles": q64_smiles(run)}
    return o.risk_arrays(run["margin"], state, series)


def health(run, account, perp_marks, option_marks, arrays, confidence):
    """§10.3: (equity, initial, maintenance), or None when a held market has no mark."""
    underlying = run["underlying"]
    instrument = {m["id"]: i + 1 for i, m in enumerate(sorted(run["options"], key=lambda m: m["id"]))}
    tiers = {p["id"]: p for p in run["perps"]}
    equity, initial, maintenance = account["collateral"], 0, 0
    holds_option = any(m in instrument for m, _ in account["positions"])
    portfolio = []
    for market, q in account["positions"]:
        mark = option_marks.get(market) if market in instrument else perp_marks.get(market)
        if mark is None:
            return None
        equity += (mark * q) // 10**8
        if market in instrument:
            portfolio.append((instrument[market], q))
        elif market == underlying and holds_option:
            portfolio.append((0, q))
        else:
            initial += ceil_div(abs(q) * mark * tiers[market]["initialBps"], 10**12)
            maintenance += ceil_div(abs(q) * mark * tiers[market]["maintenanceBps"], 10**12)
    if holds_option:
        grid, changes, deltas, _ = arrays
        state = {"mark": perp_marks[underlying], "confidence": confidence}
        m, i, *_ = o.margin(run["margin"], state, grid, changes, deltas, portfolio)
        maintenance += m
        initial += i
    return equity, initial, maintenance



SETTLEMENT_FIELDS = ("settlementPrice", "valuePerUnit", "residue", "paid", "received", "positions")


def settle(option, f, holders):
    """§10.5 steps 2-4 and the record's amounts."""
    k = option["strike"]
    s = max(f - k, 0) if option["kind"] == "call" else max(k - f, 0)
    cash = [(q * s) // 10**8 for _, q in holders if q != 0]
    sat = 2**63 - 1
    return {"settlementPrice": f, "valuePerUnit": s, "residue": -sum(cash),
            "paid": min(sum(-x for x in cash if x < 0), sat), "received": min(sum(x for x in cash if x > 0), sat),
            "positions": len(cash)}


def main(path):
    with open(path) as fh:
        run = json.load(fh)
    markets = {p["id"]: Market(p) for p in run["perps"]}
    estimator = Estimator(run["vol"])
    underlying = run["underlying"]
    options = {m["id"]: m for m in run["options"]}
    events = run["events"]
    checks = sorted(run["checks"], key=lambda c: c["after"])
    mismatches, compared = [], 0

    def expect(what, ours, theirs):
        nonlocal compared
        compared += 1
        if ours != theirs:
            mismatches.append({"what": what, "reference": ours, "engine": theirs})

    e = 0
    settled = set()
    for check in checks:
        while e <= check["after"]:
            ev = events[e]
            price = ev.get("price")
            if price is not None and price["market"] in markets:
                m = markets[price["market"]]
                if m.record(price["publisher"], price["price"], price["confidence"], price["publishTime"]):
                    if price["market"] == underlying:
                        now_mark = m.mark(ev["time"])
                        if now_mark is not None:
                            estimator.sample(now_mark[0], ev["time"])
            for st in ev.get("settlements", []):
                # §10.5: the first event at or after the expiry with the underlying's mark valid.
                option = options[st["market"]]
                f = markets[underlying].mark(ev["time"])
                ours = None if f is None or ev["time"] < option["expiry"] else settle(option, f[0], st["holders"])
                expect("event %d settlement %d" % (e, st["market"]), ours, {k: st[k] for k in SETTLEMENT_FIELDS})
                settled.add(st["market"])
            e += 1
        for mid, option in options.items():
            if mid not in settled and option["expiry"] <= check["now"] and markets[underlying].mark(check["now"]):
                mismatches.append({"what": "check %d: market %d past its expiry not settled" % (check["index"], mid)})
        now = check["now"]
        tag = "check %d (event %d)" % (check["index"], check["after"])
        perp_marks, conf = {}, None
        for mid, m in markets.items():
            mk = m.mark(now)
            perp_marks[mid] = None if mk is None else mk[0]
            if mid == underlying and mk is not None:
                conf = mk[1]
            expect(tag + " mark %d" % mid, perp_marks[mid], check["marks"].get(str(mid)))
        expect(tag + " variance", str(estimator.variance), check["variance"])
        expect(tag + " confidence", conf, check.get("confidence"))
        arrays, option_marks = None, {}
        if perp_marks[underlying] is not None:
            try:
                arrays = arrays_at(run, perp_marks[underlying], conf, estimator.variance, now)
            except AssertionError:
                arrays = None  # §7.4 refuses the tick (σ > 16 near an expiry): no option mark
        if arrays is not None:
            for i, m in enumerate(sorted(options.values(), key=lambda m: m["id"])):
                option_marks[m["id"]] = arrays[3][i + 1][0] >> 64
        for mid in options:
            expect(tag + " option mark %d" % mid, option_marks.get(mid), check["marks"].get(str(mid)))
        for account in check["accounts"]:
            h = health(run, account, perp_marks, option_marks, arrays, conf) if arrays or not any(
                p[0] in options for p in account["positions"]) else None
            theirs = account.get("health")
            expect(tag + " account %d health" % account["id"], None if h is None else list(h),
                   None if theirs is None else [theirs["equity"], theirs["initial"], theirs["maintenance"]])
            what_if = account.get("whatIf")
            if what_if is not None:
                # M1's hypothetical state: the market at newSize (0 closes it), cash moved.
                market, size = what_if["market"], what_if["newSize"]
                positions = [p for p in account["positions"] if p[0] != market] + ([[market, size]] if size else [])
                state = {"collateral": account["collateral"] + what_if["collateralDelta"], "positions": positions}
                h = health(run, state, perp_marks, option_marks, arrays, conf) if arrays or not any(
                    p[0] in options for p in positions) else None
                theirs = what_if.get("health")
                expect(tag + " account %d what-if %d at %d" % (account["id"], market, size), None if h is None else list(h),
                       None if theirs is None else [theirs["equity"], theirs["initial"], theirs["maintenance"]])
    print(json.dumps({"compared": compared, "mismatches": mismatches}))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
