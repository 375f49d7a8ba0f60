"""An independent implementation of part of docs/OPTIONS.md §10, written from the documents
alone: the option mark (§10.2), the health of an account (§10.3), realized volatility from
the stream (§10.4), the settlement record at expiry (§10.5), the liquidation steps of an
account holding options (§10.6 with CONFIG M3-M4: the position chosen, size, reason,
bankruptcy and worst prices, health and triggering scenario of each decision; with CONFIG
M5-M6 its fills: the book against the resting order, the liquidation fee, the insurance
fund's take-or-decline, auto-deleveraging's ranking by cost basis, price and sizes, the
resting order a step meets kept or cancelled (the maker's open-order count), M2's rounds (a
later round holds only accounts the previous one changed); and every
account's collateral and positions after every event), margin calls (§10.10: who is evaluated, the probability, the
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
smile, so the smiles in force are the configured ones; at most one resting order at a time
(the generator's maker, cancelled after its taker), the only order a liquidation step's book
fill can meet. An account's state before an event is the one the
previous events' records left; the input's own fill (a taker against the one resting order the
generator keeps at a time) is taken from the records, all or nothing, at the maker's price (the
script does not re-run M1 for the input), so that every account's cost basis (M6) is known.
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


def tdiv(a, b):
    """a ÷ b truncated toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


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
                            "partial", "fundTook", "nobodyTook", "fundVerdicts", "inputFills", "bookContacts", "bookFills",
                            "adlRankings", "adlCandidates", "adlSteps", "adlFills", "leftOver", "silentEscalations",
                            "adlContested", "adlSplit", "bookPartial", "bookCancelledSelf", "bookCancelledBand",
                            "bookCancelledM1", "bookCancelledGreeks", "bookThenFund", "bookThenAdl", "laterRounds"), 0)
    greek_cache, array_cache = {}, {}
    if any(v and v[1] for v in state.values()):
        mismatches.append({"what": "positions before the first event: their cost basis (M6) is unknown"})
    basis = {}  # M6: account -> market -> cost basis (the fills that opened the current size)
    book = [None]  # the one resting order: account, market, side, price, remaining quantity
    contacted = []  # the makers a liquidation step's book met during the current event
    touched = set()  # the accounts the current M2 round's steps changed

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

    def positions_of(held):
        return [[m, q] for m, q in sorted(held.items()) if q != 0]

    def equity(acct, marks):
        """CONFIG: E = C + Σ notional(markᵢ, qᵢ), or None when a held market has no mark."""
        total = acct[0]
        for m, q in acct[1].items():
            if q != 0:
                if marks.get(m) is None:
                    return None
                total += (marks[m] * q) // 10**8
        return total

    def fill(cur, a, m, dq, price, fee=0):
        """One fill of account a: dq (> 0 bought) at price, its cash both ways, the fee paid, and
        M6's cost basis: a fill that adds adds its signed cash, one that shrinks the position
        scales it by new size ÷ old size, one that flips it leaves the fill's signed cash × new
        size ÷ fill quantity (divisions truncating toward zero)."""
        acct = cur.setdefault(a, [0, {}])
        cash = (price * abs(dq)) // 10**8
        signed = cash if dq > 0 else -cash
        acct[0] += -signed - fee
        q = acct[1].get(m, 0)
        new = q + dq
        held = basis.setdefault(a, {})
        cb = held.get(m, 0)
        if q == 0 or (q > 0) == (dq > 0):
            cb += signed
        elif abs(dq) <= abs(q):
            cb = tdiv(cb * new, q)
        else:
            cb = tdiv(signed * new, dq)
        acct[1][m] = new
        held[m] = cb
        if new == 0:
            del acct[1][m]
            held.pop(m, None)

    def within_band(price, m, marks):
        """CONFIG "Price band" (a perpetual: within priceBandBps of its mark) and §10.1 (an
        option: |price − option mark| × 10⁴ ≤ F × priceBandBps)."""
        bps = run["priceBandBps"]
        if m in options:
            return abs(price - marks[m]) * 10_000 <= marks[underlying] * bps
        return abs(price - marks[m]) * 10_000 <= marks[m] * bps

    def maker_passes_m1(cur, maker, m, dq, price, marks, perp_marks, option_marks, arrays, mk):
        """M1's check of a fill for the maker: one that adds risk (|q| grows or flips) must leave
        E ≥ initial, one that reduces it at a price worse than the mark E ≥ maintenance."""
        acct = cur.get(maker, [0, {}])
        q = acct[1].get(m, 0)
        new = q + dq
        adds = abs(new) > abs(q) or q * new < 0
        worse = (dq < 0 and price < marks[m]) or (dq > 0 and price > marks[m])
        if not adds and not worse:
            return True
        cash = (price * abs(dq)) // 10**8
        held = dict(acct[1])
        held[m] = new
        after = {"collateral": acct[0] + (cash if dq < 0 else -cash) - ceil_div(cash * run["fees"]["makerBps"], 10_000),
                 "positions": positions_of(held)}
        h = health(run, after, perp_marks, option_marks, arrays, None if mk is None else mk[1])
        return h is not None and h[0] >= (h[1] if adds else h[2])

    def execute(where, t, d, a, m, q, size, w, greek_step, cur, marks, perp_marks, option_marks, arrays, mk):
        """M5 (and §10.11 "Execution" for a Greek-limit step): the book (the resting order, M1's
        and §10.11's maker checks, the band, self-trade prevention), the liquidation fee, the
        insurance fund's take-over, then M6's auto-deleveraging (not for a Greek-limit step).
        Applies the fills to `cur` and returns them as [kind, price, quantity]."""
        close = -1 if q > 0 else 1  # the liquidated account's side: +1 buys
        rest, fills = size, []
        r = book[0]
        if r and r["market"] == m and r["side"] == -close and rest > 0 and (r["price"] <= w if close > 0 else r["price"] >= w):
            counts["bookContacts"] += 1
            f = min(rest, r["remaining"])
            contacted.append(r["account"])
            if r["account"] == a:
                book[0] = None
                counts["bookCancelledSelf"] += 1
            elif not within_band(r["price"], m, marks):
                book[0] = None
                counts["bookCancelledBand"] += 1
            elif not maker_passes_m1(cur, r["account"], m, -close * f, r["price"], marks, perp_marks, option_marks, arrays, mk):
                book[0] = None
                counts["bookCancelledM1"] += 1
            elif limits is not None and (m == underlying or m in options) and event_greeks(t) is not None and not judge(
                    positions_of(cur.get(r["account"], [0, {}])[1]), m, -close * f, event_greeks(t))[1]:
                book[0] = None
                counts["bookCancelledGreeks"] += 1
            else:
                cash = (r["price"] * f) // 10**8
                fill(cur, r["account"], m, -close * f, r["price"], ceil_div(cash * run["fees"]["makerBps"], 10_000))
                fill(cur, a, m, close * f, r["price"])
                fills.append([1, r["price"], f])
                touched.add(r["account"])
                r["remaining"] -= f
                rest -= f
                if r["remaining"] == 0:
                    book[0] = None
        # A partial book fill: the book took part of the step, the rest went on to the fund or ADL.
        counts["bookPartial"] += bool(fills) and rest > 0
        book_cash = sum((p * x) // 10**8 for _, p, x in fills)
        fee = 0
        if book_cash > 0:
            e_after = equity(cur[a], marks)
            fee = min(ceil_div(book_cash * liq["feeBps"], 10_000), max(0, e_after))
        cur[a][0] -= fee
        cur.setdefault(0, [0, {}])[0] += fee
        if rest > 0:
            # M5 step 2: the fund takes all of the rest at W when afterwards its E ≥ maintenance.
            fund = cur[0]
            held = dict(fund[1])
            held[m] = held.get(m, 0) - close * rest
            cash = (w * rest) // 10**8
            after = {"collateral": fund[0] + (cash if close > 0 else -cash), "positions": positions_of(held)}
            h = health(run, after, perp_marks, option_marks, arrays, None if mk is None else mk[1])
            counts["fundVerdicts"] += 1
            if h is not None and h[0] >= h[2]:
                fill(cur, 0, m, -close * rest, w)
                fill(cur, a, m, close * rest, w)
                fills.append([2, w, rest])
                touched.add(0)
                rest = 0
        if rest > 0 and not greek_step:
            # M6: opposite positions with pnl > 0 and E > 0, ranked by pnl × |notional| ÷ E.
            counts["adlRankings"] += 1
            ranked = []
            for b in sorted(cur):
                qb = cur[b][1].get(m, 0)
                if b in (0, a) or qb == 0 or (qb > 0) == (q > 0):
                    continue
                eb = equity(cur[b], marks)
                if eb is None or eb <= 0:
                    continue
                value = (marks[m] * qb) // 10**8
                pnl = value - basis.get(b, {}).get(m, 0)
                if pnl <= 0:
                    continue
                product = pnl * abs(value)
                ranked.append((-(2**127 - 1 if product > 2**127 - 1 else product // eb), b))
                counts["adlCandidates"] += 1
            counts["adlContested"] += len(ranked) > 1
            for _, b in sorted(ranked):
                if rest == 0:
                    break
                x = min(rest, abs(cur[b][1][m]))
                fill(cur, b, m, -close * x, w)
                fill(cur, a, m, close * x, w)
                fills.append([3, w, x])
                touched.add(b)
                rest -= x
        return fills, fee, rest

    def compare_execution(where, d, size, fills, fee, rest):
        counts["bookFills"] += sum(1 for f in fills if f[0] == 1)
        counts["adlFills"] += sum(1 for f in fills if f[0] == 3)
        counts["adlSteps"] += any(f[0] == 3 for f in fills)
        counts["adlSplit"] += sum(1 for f in fills if f[0] == 3) > 1
        counts["fundTook"] += any(f[0] == 2 for f in fills)
        counts["nobodyTook"] += size > 0 and not fills
        counts["leftOver"] += rest > 0
        kinds = [f[0] for f in fills]
        counts["bookThenFund"] += 1 in kinds and 2 in kinds
        counts["bookThenAdl"] += 1 in kinds and 3 in kinds
        expect(where + " fills", fills, d["fills"])
        expect(where + " liquidation fee", fee, d["fee"])
        expect(where + " size", size - rest, d["size"])

    def liquidations(e, ev, before, cur):
        """§10.6 over CONFIG M3-M6: each decision's choice, size, reason, prices, health and
        scenario recomputed from its pre-state, which must be the state the event's input and
        the earlier steps left; its fills recomputed (M5, M6) and applied to every account."""
        t = ev["time"]
        arrays, mk = full_arrays(t)
        perp_marks = {mid: (lambda x: None if x is None else x[0])(m.mark(t)) for mid, m in markets.items()}
        option_marks = {} if arrays is None else {
            m["id"]: arrays[3][i + 1][0] >> 64 for i, m in enumerate(sorted(options.values(), key=lambda m: m["id"]))}
        marks = {**perp_marks, **option_marks}
        stamps = {}
        # M2: round 1 checks accounts in ascending id; a later round checks, in ascending id,
        # only accounts a step of the previous round changed (the liquidated account, book
        # makers, the fund, deleveraged counterparties). One check's steps are consecutive, so
        # a decision of an account not above the previous check's starts the next round.
        allowed, last = None, None
        touched.clear()
        for k, d in enumerate(ev.get("decisions", [])):
            a = d["account"]
            if last is not None and a != last and (a < last or (allowed is not None and a not in allowed)):
                allowed = set(touched)
                touched.clear()
                counts["laterRounds"] += 1
                if a not in allowed:
                    mismatches.append({"what": "event %d decision %d: account %d in a later round (M2), unchanged by "
                                               "the previous round" % (e, k, a)})
            last = a
            touched.add(a)
            collateral, positions, _ = decode_state(d["preState"])
            where = "event %d decision %d (account %d)" % (e, k, a)
            mine = cur.get(a, [0, {}])
            expect(where + " pre-state (the input's and earlier steps' result)", [mine[0], positions_of(mine[1])],
                   [collateral, sorted(positions)])
            cur[a] = [collateral, {pm: pq for pm, pq in positions}]
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
                while True:
                    # §10.11: a Greek-limit step that closed nothing publishes no decision, but its
                    # market is in cooldown and the same check steps the next eligible position.
                    ours, size = escalation_step(positions, free, h, arrays, marks)
                    if ours is None:
                        break
                    m, q = ours["market"], next(pq for pm, pq in positions if pm == ours["market"])
                    w = ours["worst"]
                    executed = execute(where, t, d, a, m, q, size, w, True, cur, marks, perp_marks, option_marks, arrays, mk)
                    if executed[0]:
                        break
                    counts["silentEscalations"] += 1
                    stamps[a][m] = t
                    free = [p for p in free if p[0] != m]
                if ours is None:
                    mismatches.append({"what": where + ": an escalation step without an eligible position"})
                    continue
                expect(where + " escalation step", ours, {x: d[x] for x in ours})
                counts["escalations"] += 1
            else:
                if portfolio(run, positions) is not None:
                    def after_close(m, q):
                        rest = [p for p in positions if p[0] != m]
                        return health(run, {"collateral": collateral + (marks[m] * q) // 10**8, "positions": rest},
                                      perp_marks, option_marks, arrays, mk[1])[2]
                    m, q = min(free, key=lambda p: (after_close(*p), p[0]))
                else:
                    m, q = min(free, key=lambda p: (-((marks[p[0]] * abs(p[1])) // 10**8), p[0]))
                size, w = maintenance_step(where, d, m, q, h, marks)
                executed = execute(where, t, d, a, m, q, size, w, False, cur, marks, perp_marks, option_marks, arrays, mk)
            compare_execution(where, d, size, *executed)
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
            stamps[a][m] = t
            counts["steps"] += 1

    def maintenance_step(where, d, m, q, h, marks):
        """M3-M4: the step's market, side, prices and reason compared; returns (size, W)."""
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
        return size, w

    def model_event(e, ev, before):
        """The event's effect on every account's collateral and positions, from the state the
        previous event's records left: the input's fill (a taker against the one resting order,
        at the maker's price, maker and taker fees of §10.1 and CONFIG; the quantity, all or
        nothing, read from the records: the script does not re-run M1 for the input), the
        settlement (§10.5 step 3-4), funding (payers −⌈q × perUnit / 10⁸⌉, the residue to the
        fund), then the liquidation steps; afterwards every account must be what the event
        recorded (the liquidated, the book's makers, the fund and the ADL counterparties)."""
        t = ev["time"]
        cur = {a: [v[0], {m: q for m, q in v[1]}] for a, v in before.items() if v}
        order = ev.get("order")
        decisions = ev.get("decisions", [])
        decided = {d["account"] for d in decisions}
        r = book[0]
        if ev.get("cancel") is not None and r is not None and r["account"] == ev["cancel"]:
            book[0] = None
        if order is not None and not order["ioc"] and order["reason"] == 0:
            book[0] = {"account": order["account"], "market": order["market"], "side": order["side"], "price": order["price"],
                       "remaining": order["quantity"]}
        elif order is not None and order["reason"] == 0 and r is not None and r["market"] == order["market"] and (
                r["side"] == -order["side"] and (order["price"] >= r["price"] if order["side"] > 0 else order["price"] <= r["price"])):
            taker, maker, m, side = order["account"], r["account"], order["market"], order["side"]
            want = min(r["remaining"], order["quantity"])

            def moved(a, after):
                return dict(after).get(m, 0) - dict((before.get(a) or [0, []])[1]).get(m, 0)
            guesses = []
            if taker not in decided:
                guesses.append(side * moved(taker, (state.get(taker) or [0, []])[1]))
            if maker not in decided:
                guesses.append(-side * moved(maker, (state.get(maker) or [0, []])[1]))
            first = next((d for d in decisions if d["account"] == taker), None)
            if first is not None:
                guesses.append(side * moved(taker, decode_state(first["preState"])[1]))
            x = next((g for g in guesses if g in (0, want)), None)
            if x is None:
                mismatches.append({"what": "event %d: the input's fill is not read from the records" % e, "guesses": guesses})
                x = 0
            if x:
                cash = (r["price"] * x) // 10**8
                fill(cur, maker, m, -side * x, r["price"], ceil_div(cash * run["fees"]["makerBps"], 10_000))
                fill(cur, taker, m, side * x, r["price"], ceil_div(cash * run["fees"]["takerBps"], 10_000))
                counts["inputFills"] += 1
                r["remaining"] -= x
                if r["remaining"] == 0:
                    book[0] = None
        for st in ev.get("settlements", []):
            f = markets[underlying].mark(t)
            if f is None:
                continue
            s = settle(options[st["market"]], f[0], [])["valuePerUnit"]
            residue = 0
            for a, q in st["holders"]:
                amount = (q * s) // 10**8
                cur[a][0] += amount
                cur[a][1].pop(st["market"], None)
                basis.get(a, {}).pop(st["market"], None)
                residue -= amount
            cur.setdefault(0, [0, {}])[0] += residue
        for market, per_unit in ev.get("funding", []):
            residue = 0
            for a in sorted(cur):
                q = cur[a][1].get(market, 0)
                if q:
                    pay = -ceil_div(q * per_unit, 10**8)
                    cur[a][0] += pay
                    residue -= pay
            cur.setdefault(0, [0, {}])[0] += residue
        if decisions:
            contacted.clear()
            liquidations(e, ev, before, cur)
            for maker in sorted(set(contacted)):
                # M5 step 1 and M1: a maker the step met keeps its order (1 open) unless it was
                # filled in full or cancelled (outside the band, its own account, M1's or §10.11's
                # maker check); the engine's open-order count says which.
                ours = 1 if book[0] is not None and book[0]["account"] == maker else 0
                expect("event %d maker %d open orders after the liquidation" % (e, maker), ours,
                       (state.get(maker) or [0, [], 0])[2])
        for a in sorted(set(cur) | set(state)):
            ours, theirs = cur.get(a), state.get(a)
            ours = None if ours is None or ours == [0, {}] else [ours[0], positions_of(ours[1])]
            theirs = None if theirs is None or theirs[:2] == [0, []] else [theirs[0], sorted(theirs[1])]
            expect("event %d account %d after the event" % (e, a), ours, theirs)

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
            model_event(e, ev, before)
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
