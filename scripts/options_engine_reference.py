"""An independent implementation of part of docs/OPTIONS.md §10, written from the documents
alone: the option mark (§10.2), the health of an account (§10.3), realized volatility from
the stream (§10.4), the settlement record at expiry (§10.5), the liquidation steps of an
account holding options (§10.6 with CONFIG M3-M4: the position chosen, size, reason,
bankruptcy and worst prices, health and triggering scenario of each decision, and the
state each step leaves), margin calls (§10.10: who is evaluated, the probability, the
hysteresis and every field of a call), the Greek-limit admission check and the maker's
check at its fill (§10.11) and the per-account Greeks book after every event (§10.12),
with the marks and their aggregated confidence of docs/COMMITMENTS.md "Recomputing the
marks" and the linear rules of docs/CONFIG.md. The option math of §2-§7 is
scripts/options_reference.py (itself written from the document alone).

    python3 scripts/options_engine_reference.py RUN.json

RUN.json is what an engine did (Tests/EngineTests/OptionsEngineConformanceTests.swift
writes it): the venue's parameters, every event (oracle prices recorded or not, orders with
their outcome, cancels) with its enclave time, what it changed in each account (collateral,
positions, open orders, cooldown stamps) and the engine's answers after it (Greeks book,
margin calls, decisions with their pre-state, funding, settlements), and checkpoints with
more of the engine's answers (marks, the underlying's variance and confidence, each
account's health).
The script recomputes every answer from the inputs and prints one JSON line
{"compared": N, "mismatches": [...]}; the exit status is 1 when any answer differs.

Scope (what the generator keeps within, asserted here): configured smiles only (no signed
feed), prices that never leave the deviation guard's limit and never go stale, so a mark is
the median of the counted prices (no guard state, no cache expiry to model); no signed
smile, so the smiles in force are the configured ones; no escalation (no `escalationBps`),
so every decision is a maintenance step. An account's state before an event is the one the
previous events' records left (the script does not re-execute matching).
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



def greeks_at(run, f, variance, now):
    """§10.2's per-instrument Greeks (perpetual first) at now rounded down to the second, or
    None when §7.4 refuses the state: the checks of risk_arrays without its scenarios (every
    scenario prices at σ, σ_up or σ_down, each of which must pass §4.1)."""
    assert o.sqrt(variance) <= 16 * ONE
    t0 = now // SECOND * SECOND
    smiles = q64_smiles(run)
    cfg = run["margin"]
    out = [(f << 64, ONE, 0, 0, 0)]
    for m in sorted(run["options"], key=lambda m: m["id"]):
        t = o.year_fraction(t0, m["expiry"])
        sigma = o.svi_volatility(*smiles[m["expiry"]], f, m["strike"], t)
        up = min(sigma * (10_000 + cfg["volUpBps"]) // 10_000, 16 * ONE)
        down = sigma * (10_000 - cfg["volDownBps"]) // 10_000
        for v in (up, down):
            o.black76(m["kind"], f, m["strike"], v, t)
        out.append(o.black76(m["kind"], f, m["strike"], sigma, t))
    return out


def portfolio(run, positions):
    """§10.3's portfolio on the underlying: [(instrument, q)], or None without an option."""
    instrument = {m["id"]: i + 1 for i, m in enumerate(sorted(run["options"], key=lambda m: m["id"]))}
    if not any(m in instrument for m, _ in positions):
        return None
    return [(instrument[m], q) if m in instrument else (0, q) for m, q in positions
            if m in instrument or m == run["underlying"]]


def decode_state(hexed):
    """COMMITMENTS §2.2's account state bytes: (collateral, [[market, size]], open orders)."""
    b = bytes.fromhex(hexed)
    collateral = int.from_bytes(b[8:24], "big", signed=True)
    n = int.from_bytes(b[24:28], "big")
    positions = [[int.from_bytes(b[28 + 44 * i:32 + 44 * i], "big"), int.from_bytes(b[32 + 44 * i:40 + 44 * i], "big", signed=True)]
                 for i in range(n)]
    return collateral, positions, int.from_bytes(b[28 + 44 * n:32 + 44 * n], "big")


def sat64(x):
    return max(-2**63, min(2**63 - 1, x))


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
    state = {int(k): v for k, v in run.get("start", {}).items()}
    limits, call_rule = run.get("greekLimits"), run.get("marginCall")
    memory = {}  # §10.10: account -> enclave time of its last call (absent: armed)
    resting = None  # the last accepted resting order: (account, market, quantity)
    counts = dict.fromkeys(("greeks", "verdicts", "refused", "makerRefused", "evaluations", "calls", "steps", "escalations",
                            "partial", "fundTook", "nobodyTook", "fundVerdicts"), 0)
    greek_cache, array_cache = {}, {}

    def event_greeks(t):
        """Per-instrument Greeks at t (None: no mark or refused), cached per state."""
        mk = markets[underlying].mark(t)
        if mk is None:
            return None
        key = (mk[0], estimator.variance, t // SECOND)
        if key not in greek_cache:
            try:
                greek_cache[key] = greeks_at(run, mk[0], estimator.variance, t)
            except AssertionError:
                greek_cache[key] = None
        return greek_cache[key]

    def judge(positions, market, delta_q, g):
        """§10.11: (judged, accepted) for moving `market` by delta_q from positions."""
        before = portfolio(run, positions)
        after_positions = [[m, q + delta_q if m == market else q] for m, q in positions]
        if not any(m == market for m, _ in positions):
            after_positions.append([market, delta_q])
        after = portfolio(run, [p for p in after_positions if p[1] != 0])
        if before is None and after is None:
            return False, True
        d0, g0, _, _ = o.portfolio_greeks(g, before or [])
        d1, g1, _, _ = o.portfolio_greeks(g, after or [])
        ok = (abs(d1) <= limits["maxAbsDelta"] and abs(g1) <= limits["maxAbsGamma"]) or (abs(d1) <= abs(d0) and abs(g1) <= abs(g0))
        return True, ok

    def full_arrays(t):
        mk = markets[underlying].mark(t)
        if mk is None:
            return None, None
        key = (mk[0], mk[1], estimator.variance, t // SECOND)
        if key not in array_cache:
            try:
                array_cache[key] = arrays_at(run, mk[0], mk[1], estimator.variance, t)
            except AssertionError:
                array_cache[key] = None
        return array_cache[key], mk

    def margin_calls(e, ev, recorded, before):
        """§10.10's pass after the event: the calls it makes, memory updated."""
        t = ev["time"]
        evaluated = set(int(a) for a in ev.get("changed", {}))
        for market, per_unit in ev.get("funding", []):
            # A funding payment at a non-zero per-unit amount writes every holder, even
            # when the holder's amount rounds to 0.
            if per_unit != 0:
                evaluated |= {a for a, v in list(before.items()) + list(state.items())
                              if v and any(m == market for m, _ in v[1])}
        if recorded == underlying:
            evaluated |= {a for a, v in state.items() if v and portfolio(run, v[1]) is not None
                          and any(m in options for m, _ in v[1])}
        evaluated.discard(0)
        out = []
        for a in sorted(evaluated):
            acct = state.get(a)
            if not acct or not any(m in options for m, _ in acct[1]):
                memory.pop(a, None)
                continue
            arrays, mk = full_arrays(t)
            perp_marks = {mid: (lambda x: None if x is None else x[0])(m.mark(t)) for mid, m in markets.items()}
            option_marks = {} if arrays is None else {
                m["id"]: arrays[3][i + 1][0] >> 64 for i, m in enumerate(sorted(options.values(), key=lambda m: m["id"]))}
            if arrays is None:
                continue
            h = health(run, {"collateral": acct[0], "positions": acct[1]}, perp_marks, option_marks, arrays, mk[1])
            if h is None:
                continue
            vol = o.sqrt(estimator.variance)
            if vol > 16 * ONE:
                continue
            counts["evaluations"] += 1
            buffer = h[0] - h[2]
            d, gm, vg, _ = o.portfolio_greeks(arrays[3], portfolio(run, acct[1]))
            p = o.margin_call(buffer, d, mk[0], vol, call_rule["horizonNanos"])
            ppm = p * 10**6 >> 64
            level, last = call_rule["levelPpm"], memory.get(a)
            trigger = None
            if last is None:
                if ppm >= level:
                    trigger = 1
            elif ppm < level - call_rule["hysteresisPpm"]:
                memory.pop(a)
            elif ppm >= level and call_rule["repeatNanos"] > 0 and t - last >= call_rule["repeatNanos"]:
                trigger = 2
            if trigger is not None:
                memory[a] = t
                counts["calls"] += 1
                out.append({"account": a, "trigger": trigger, "ppm": ppm, "distance": sat64(buffer), "equity": sat64(h[0]),
                            "maintenance": sat64(h[2]), "time": t,
                            "exposures": [[underlying, True, mk[0], vol * 10**6 >> 64, ppm, sat64(d), sat64(gm), sat64(vg)]]})
        return out

    liq = run.get("liquidation")
    escalation = limits is not None and limits.get("escalationBps", 0) > 0

    def escalated(greeks):
        bps = limits["escalationBps"]
        return abs(greeks[0]) > limits["maxAbsDelta"] * bps // 10_000 or abs(greeks[1]) > limits["maxAbsGamma"] * bps // 10_000

    def liquidations(e, ev, before):
        """§10.6 over CONFIG M3-M4: each decision's choice, size, reason, prices, health and
        scenario recomputed from its pre-state; consecutive steps of one account chain."""
        t = ev["time"]
        arrays, mk = full_arrays(t)
        perp_marks = {mid: (lambda x: None if x is None else x[0])(m.mark(t)) for mid, m in markets.items()}
        option_marks = {} if arrays is None else {
            m["id"]: arrays[3][i + 1][0] >> 64 for i, m in enumerate(sorted(options.values(), key=lambda m: m["id"]))}
        marks = {**perp_marks, **option_marks}
        stamps, expected_next = {}, {}
        # The fund's state before the event's steps: known when the input was a price and
        # nothing paid it (no funding, no settlement residue) before the liquidations.
        fund = before.get(0)[:2] if (before.get(0) and ev.get("price") and not ev.get("funding")
                                     and not ev.get("settlements")) else None
        for k, d in enumerate(ev.get("decisions", [])):
            a = d["account"]
            collateral, positions, _ = decode_state(d["preState"])
            where = "event %d decision %d (account %d)" % (e, k, a)
            if a in expected_next:
                expect(where + " pre-state after the previous step", expected_next[a], [collateral, positions])
            if a not in stamps:
                stamps[a] = {m: st for m, st in (before.get(a) or [0, [], 0, []])[3]}
            acct = {"collateral": collateral, "positions": positions}
            h = health(run, acct, perp_marks, option_marks, arrays, None if mk is None else mk[1])
            if h is None:
                mismatches.append({"what": where + ": a step on an account without health"})
                continue
            expect(where + " equity, maintenance", [sat64(h[0]), sat64(h[2])], [d["equity"], d["maintenance"]])
            free = [(m, q) for m, q in positions if t - stamps[a].get(m, -10**30) >= liq["cooldownNanos"]]
            # Below maintenance a maintenance step (M3); at or above it only an escalation
            # (§10.11), never before a maintenance step of the same account.
            expect(where + " kind", "maintenance" if h[0] < h[2] else "greek-limit",
                   "greek-limit" if d["reason"] == 3 else "maintenance")
            if d["reason"] == 3:
                ours, size = escalation_step(positions, free, h, arrays, marks)
                if ours is None:
                    mismatches.append({"what": where + ": an escalation step without an eligible position"})
                    continue
                expect(where + " escalation step", ours, {x: d[x] for x in ours})
                check_size(where, d, size, ours["worst"])
                counts["escalations"] += 1
            elif portfolio(run, positions) is not None:
                def after_close(m, q):
                    rest = [p for p in positions if p[0] != m]
                    return health(run, {"collateral": collateral + (marks[m] * q) // 10**8, "positions": rest},
                                  perp_marks, option_marks, arrays, mk[1])[2]
                chosen = min(free, key=lambda p: (after_close(*p), p[0]))
            else:
                chosen = min(free, key=lambda p: (-((marks[p[0]] * abs(p[1])) // 10**8), p[0]))
            if d["reason"] == 3:
                m, q = ours["market"], next(pq for pm, pq in positions if pm == ours["market"])
            else:
                m, q = chosen
                size = maintenance_step(where, d, m, q, h, marks)
            fund = fund_take(where, d, fund, m, q, size, perp_marks, option_marks, arrays, mk)
            sc = None
            pf = portfolio(run, positions)
            if pf is not None:
                cfg = run["margin"]
                grid, changes, deltas, _ = arrays
                mt, it, worst, index, short, conf = o.margin(cfg, {"mark": mk[0], "confidence": mk[1]}, grid, changes, deltas, pf)
                n = cfg["priceBuckets"]
                if index < 3 * (2 * n + 1):
                    j, shift = index // 3 - n, (0, cfg["volUpBps"], -cfg["volDownBps"])[index % 3]
                else:
                    j, shift = (-1 if index == 3 * (2 * n + 1) else 1) * cfg["extremeMultiple"] * n, 0
                r = o.scan_range_bps(cfg, o.sqrt(estimator.variance))
                linear = h[2] - mt
                sc = {"linear": sat64(linear), "portfolios": [[underlying, mk[0], r, index, j, shift, grid[index][0], sat64(worst),
                                                               sat64(short), sat64(conf)]]}
                expect(where + " scenario adds up", h[2], linear + max(worst, 0) + short + conf)
            expect(where + " scenario", sc, d["scenario"])
            # The step's result: the position moved by what closed, the cash of its fills, the fee.
            cash = sum((f[1] * f[2]) // 10**8 for f in d["fills"])
            nxt = [[pm, pq - (d["size"] if pq > 0 else -d["size"]) if pm == m else pq] for pm, pq in positions]
            expected_next[a] = [collateral + (cash if q > 0 else -cash) - d["fee"], [p for p in nxt if p[1] != 0]]
            stamps[a][m] = t
            counts["steps"] += 1
        adl = any(f[0] == 3 for d in ev.get("decisions", []) for f in d["fills"])
        for a, (c, ps) in expected_next.items():
            after = state.get(a)
            if after is not None and not adl:  # an ADL counterparty (unnamed) changes too
                expect("event %d account %d after its steps" % (e, a), [c, ps], after[:2])

    def fund_take(where, d, fund, m, q, size, perp_marks, option_marks, arrays, mk):
        """M5 step 2: after the book (and the fee it earns the fund), the fund takes all of
        the rest at W when its own health afterwards is priced and at or above maintenance,
        else nothing. Returns the fund's state after the step (None: unknown)."""
        if fund is None:
            return None
        book = sum(f[2] for f in d["fills"] if f[0] == 1)
        took = sum(f[2] for f in d["fills"] if f[0] == 2)
        collateral = fund[0] + d["fee"]
        rest = size - book
        if rest <= 0:
            return [collateral, fund[1]]
        sign = 1 if q > 0 else -1  # the fund buys what a long sells
        held = dict((pm, pq) for pm, pq in fund[1])
        held[m] = held.get(m, 0) + sign * rest
        after = {"collateral": collateral - sign * ((d["worst"] * rest) // 10**8),
                 "positions": [[pm, pq] for pm, pq in sorted(held.items()) if pq != 0]}
        h = health(run, after, perp_marks, option_marks, arrays, None if mk is None else mk[1])
        ok = h is not None and h[0] >= h[2]
        counts["fundVerdicts"] += 1
        expect(where + " the fund takes the rest", rest if ok else 0, took)
        return [after["collateral"], after["positions"]] if ok else [collateral, fund[1]]

    def check_size(where, d, size, w):
        """M5: the fills add up to the size closed, the fund and ADL take at W; the fund takes
        all the rest or nothing, so the step closes the size M3 (or §10.11) chose unless the
        fund declined (fund_take judges that where the fund's state is known) and ADL, whose
        ranking the script does not model, took less."""
        fills = d["fills"]
        expect(where + " fills add up", d["size"], sum(f[2] for f in fills))
        expect(where + " fund and ADL at W", [], [f for f in fills if f[0] != 1 and f[1] != w])
        if any(f[0] == 2 for f in fills) or not fills:
            counts["fundTook" if fills else "nobodyTook"] += 1
        if any(f[0] == 2 for f in fills):
            expect(where + " size", size, d["size"])
        else:
            expect(where + " closes at most the size", True, d["size"] <= size)

    def maintenance_step(where, d, m, q, h, marks):
        lot = run["lots"][str(m)]
        if (marks[m] * abs(q)) // 10**8 <= liq["partialThreshold"]:
            size = abs(q)
        else:
            size = max(1, abs(q) * liq["maxCloseBps"] // (10_000 * lot)) * lot
        reason = 1 if size >= abs(q) else 2
        counts["partial"] += reason == 2
        size = min(size, abs(q))
        tick = run["ticks"][str(m)]
        if q > 0:
            b = marks[m] - (h[0] * 10**8) // abs(q)
            w = ceil_div(b, tick) * tick
        else:
            b = marks[m] + (h[0] * 10**8) // abs(q)
            w = (b // tick) * tick
        w = max(w, tick)
        ours = {"market": m, "side": -1 if q > 0 else 1, "mark": marks[m], "bankruptcy": sat64(b), "worst": sat64(w),
                "reason": reason}
        expect(where + " step", ours, {x: d[x] for x in ours})
        check_size(where, d, size, w)
        return size

    def escalation_step(positions, free, h, arrays, marks):
        """§10.11 "Escalation": (the step's market, side, prices and reason; its size)."""
        g = arrays[3]

        def greeks_after(m, dq):
            moved = [[pm, pq + dq if pm == m else pq] for pm, pq in positions]
            rest = [(0 if pm == underlying else inst[pm], pq) for pm, pq in moved
                    if pq != 0 and (pm == underlying or pm in options)]
            return o.portfolio_greeks(g, rest)[:2]

        inst = {mm["id"]: i + 1 for i, mm in enumerate(sorted(options.values(), key=lambda mm: mm["id"]))}
        da, ga = limits["maxAbsDelta"], limits["maxAbsGamma"]
        eligible = [(m, q) for m, q in free if m == underlying or m in options]
        if not eligible:
            return None, None

        def score(p):
            dd, gg = greeks_after(p[0], -p[1])
            return max(abs(dd) * ga, abs(gg) * da), p[0]
        m, q = min(eligible, key=score)
        lot = run["lots"][str(m)]
        sign = 1 if q > 0 else -1
        size = abs(q)
        for k in range(1, abs(q) // lot + 1):
            dd, gg = greeks_after(m, -sign * k * lot)
            if abs(dd) <= da and abs(gg) <= ga:
                size = k * lot
                break
        tick = run["ticks"][str(m)]
        w = ceil_div(marks[m], tick) * tick if q > 0 else marks[m] // tick * tick
        b = marks[m] - (h[0] * 10**8) // abs(q) if q > 0 else marks[m] + (h[0] * 10**8) // abs(q)
        return {"market": m, "side": -sign, "mark": marks[m], "bankruptcy": sat64(b), "worst": max(w, tick), "reason": 3}, size

    for check in checks:
        while e <= check["after"]:
            ev = events[e]
            price = ev.get("price")
            recorded = None
            if price is not None and price["market"] in markets:
                m = markets[price["market"]]
                if m.record(price["publisher"], price["price"], price["confidence"], price["publishTime"]):
                    recorded = price["market"]
                    if price["market"] == underlying:
                        now_mark = m.mark(ev["time"])
                        if now_mark is not None:
                            estimator.sample(now_mark[0], ev["time"])
            order = ev.get("order")
            if order is not None and limits is not None:
                # §10.11 at admission (the state before the event); engine reasons before the
                # check (1-9, 11-17) leave it unjudged, after it only M1's (10).
                g = event_greeks(ev["time"])
                account = state.get(order["account"])
                market = order["market"]
                on_u = market == underlying or market in options
                if g is not None and account is not None and on_u and order["reason"] in (0, 10, 18):
                    judged, ok = judge(account[1], market, order["side"] * order["quantity"], g)
                    if judged:
                        counts["verdicts"] += 1
                        counts["refused"] += not ok
                        expect("event %d order by %d on %d: greek-limit refusal" % (e, order["account"], market),
                               not ok, order["reason"] == 18)
                if order["ioc"] and resting is not None and resting[1] == market and g is not None and on_u:
                    # The maker judged again at its fill (the whole quantity: the book is empty
                    # but for it): refused, it is cancelled and nobody's position moves.
                    maker = state.get(resting[0])
                    judged, ok = judge(maker[1], market, -min(resting[2], order["quantity"]), g)
                    if judged and not ok and order["reason"] == 0:
                        counts["makerRefused"] += 1
                        moved = [a for a, v in ev.get("changed", {}).items() if v[1] != state[int(a)][1]]
                        expect("event %d: maker %d refused by the limits, positions moved" % (e, resting[0]), [], moved)
                resting = (order["account"], market, order["quantity"]) if not order["ioc"] and order["reason"] == 0 else None
            for st in ev.get("settlements", []):
                # §10.5: the first event at or after the expiry with the underlying's mark valid.
                option = options[st["market"]]
                f = markets[underlying].mark(ev["time"])
                ours = None if f is None or ev["time"] < option["expiry"] else settle(option, f[0], st["holders"])
                expect("event %d settlement %d" % (e, st["market"]), ours, {k: st[k] for k in SETTLEMENT_FIELDS})
                settled.add(st["market"])
            before = dict(state)
            for a, v in ev.get("changed", {}).items():
                state[int(a)] = v
            if ev.get("decisions"):
                liquidations(e, ev, before)
            if state:
                # §10.12: every account's book entry after the event equals §7.7 from scratch.
                g = event_greeks(ev["time"])
                for a in sorted(state):
                    pf = portfolio(run, state[a][1]) if state[a] else None
                    ours = None
                    if pf is not None:
                        ours = [[underlying]] if g is None else [[underlying] + [str(x) for x in o.portfolio_greeks(g, pf)]]
                    theirs = ev.get("greeks", {}).get(str(a))
                    counts["greeks"] += ours is not None
                    expect("event %d account %d greeks" % (e, a), ours, theirs)
                    if a != 0 and pf is not None and g is not None and escalation and escalated(o.portfolio_greeks(g, pf)):
                        # §10.11: an escalated account at or above maintenance with an
                        # eligible position (not in cooldown) is stepped at this event.
                        arrays, mk = full_arrays(ev["time"])
                        perp_marks = {mid: (lambda x: None if x is None else x[0])(m.mark(ev["time"])) for mid, m in markets.items()}
                        option_marks = {m["id"]: arrays[3][i + 1][0] >> 64
                                        for i, m in enumerate(sorted(options.values(), key=lambda m: m["id"]))}
                        h = health(run, {"collateral": state[a][0], "positions": state[a][1]}, perp_marks, option_marks, arrays, mk[1])
                        stamps = dict((m, st) for m, st in state[a][3])
                        free = [m for m, _ in state[a][1] if (m == underlying or m in options)
                                and ev["time"] - stamps.get(m, -10**30) >= liq["cooldownNanos"]]
                        if h is not None and h[0] >= h[2] and free:
                            mismatches.append({"what": "event %d account %d: escalated, not stepped" % (e, a)})
            if call_rule is not None:
                calls = margin_calls(e, ev, recorded, before)
                for c in calls:
                    c["sequence"] = ev["sequence"]
                expect("event %d margin calls" % e, calls, ev.get("calls", []))
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
            if h is not None and h[0] < h[2] and account["id"] in state:
                stamps = dict((m, st) for m, st in state[account["id"]][3])
                if any(now - stamps.get(m, -10**30) >= liq["cooldownNanos"] for m, _ in account["positions"]):
                    mismatches.append({"what": tag + " account %d below maintenance, not liquidated" % account["id"]})
            expect(tag + " account %d health" % account["id"], None if h is None else list(h),
                   None if theirs is None else [theirs["equity"], theirs["initial"], theirs["maintenance"]])
            what_if = account.get("whatIf")
            if what_if is not None:
                # M1's hypothetical state: the market at newSize (0 closes it), cash moved.
                market, size = what_if["market"], what_if["newSize"]
                positions = [p for p in account["positions"] if p[0] != market] + ([[market, size]] if size else [])
                hypo = {"collateral": account["collateral"] + what_if["collateralDelta"], "positions": positions}
                h = health(run, hypo, perp_marks, option_marks, arrays, conf) if arrays or not any(
                    p[0] in options for p in positions) else None
                theirs = what_if.get("health")
                expect(tag + " account %d what-if %d at %d" % (account["id"], market, size), None if h is None else list(h),
                       None if theirs is None else [theirs["equity"], theirs["initial"], theirs["maintenance"]])
    print(json.dumps({"compared": compared, "counts": counts, "mismatches": mismatches}))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
