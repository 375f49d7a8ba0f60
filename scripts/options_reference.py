"""An independent integer implementation of docs/OPTIONS.md §2-6, written from the document
alone: Q64 arithmetic, exp, ln, sqrt, phi, Phi, Black-76, SVI volatility and the EWMA.
Python integers are exact and `//` and `>>` floor, as the document's operations do.
scripts/gen-option-vectors.py records its outputs next to the mpmath values, and the
Swift tests require the Options module to agree bit for bit (the document is complete
enough to reimplement).
"""
from math import factorial, isqrt

ONE = 1 << 64
HALF = 1 << 63
LN2 = 12786308645202655660
SQRT2 = 26087635650665564424
INV_SQRT_2PI = 7359186146747302452
C = [ONE // factorial(n) for n in range(18)]
I = [ONE // (2 * n + 1) for n in range(61)]
Y = 365 * 86_400 * 10**9
MAX_RAW = 2**127 - 1


def mul(a, b):
    return (a * b) >> 64


def div(a, b):
    return (a << 64) // b


def ratio(n, d):
    return (n << 64) // d


def year_fraction(now, expiry):
    return 0 if expiry <= now else ratio(expiry - now, Y)


def exp(x):
    assert x <= 43 * ONE
    if x < -45 * ONE:
        return 0
    k = (x + LN2 // 2) // LN2
    r = x - k * LN2
    p = C[17]
    for n in range(16, -1, -1):
        p = C[n] + mul(p, r)
    return p << k if k >= 0 else p >> -k


def ln(x):
    assert x > 0
    e = x.bit_length() - 65
    m = x >> e if e >= 0 else x << -e
    if m >= SQRT2:
        e += 1
        m = x >> e if e >= 0 else x << -e
    s = div(m - ONE, m + ONE)
    z = mul(s, s)
    p = I[13]
    for n in range(12, -1, -1):
        p = I[n] + mul(p, z)
    return e * LN2 + 2 * mul(s, p)


def sqrt(x):
    return isqrt(x << 64)


def pdf(x):
    a = abs(x)
    if a >= 16 * ONE:
        return 0
    return mul(exp(-(mul(a, a) >> 1)), INV_SQRT_2PI)


def lower_tail(a):
    if a >= 9 * ONE:
        return 0
    if a < 3 * ONE:
        y, t, s = mul(a, a), a, a
        for n in range(1, 41):
            t = mul(mul(t, y), I[n])
            if t == 0:
                break
            s += t
        t = HALF - mul(pdf(a), s)
    else:
        f = 0
        for k in range(60, 0, -1):
            f = div(k * ONE, a + f)
        t = mul(pdf(a), div(ONE, a + f))
    return min(max(t, 0), HALF)


def cdf(x):
    t = lower_tail(abs(x))
    return ONE - t if x >= 0 else t


def black76(kind, f, k, sigma, t):
    """(price, delta, gamma, vega, theta) as Q64 raw integers, §4.2."""
    root_t = sqrt(t)
    s = mul(sigma, root_t)
    assert 1 <= f <= 2**50 and 1 <= k <= 2**50 and 0 <= sigma <= 16 * ONE and s <= 16 * ONE
    if s < 2**32:
        call_delta = ONE if f > k else (0 if f < k else HALF)
        value = max(f - k, 0) if kind == "call" else max(k - f, 0)
        return value << 64, call_delta if kind == "call" else call_delta - ONE, 0, 0, 0
    x = ln(f * ONE) - ln(k * ONE)
    if abs(x) >= 32 * s:
        d1 = 32 * ONE if x > 0 else -32 * ONE
    else:
        d1 = div(x, s) + (s >> 1)
    d2 = d1 - s
    n1, n2, phi = cdf(d1), cdf(d2), pdf(d1)
    price = f * n1 - k * n2 if kind == "call" else k * (ONE - n2) - f * (ONE - n1)
    price = max(price, 0)
    delta = n1 if kind == "call" else n1 - ONE
    gamma = (phi * 10**6 * ONE) // (f * s)
    vega = f * mul(phi, root_t)
    theta = max(-MAX_RAW, min(MAX_RAW, (-f * phi * sigma) // (2 * root_t)))
    return price, delta, gamma, vega, theta


def svi_volatility(a, b, rho, m, sigma, f, k, t):
    """Raw SVI parameters already Q64; §5.1."""
    if t == 0:
        return 0
    d = ln(k * ONE) - ln(f * ONE) - m
    w = max(a + mul(b, mul(rho, d) + sqrt(mul(d, d) + mul(sigma, sigma))), 0)
    assert w <= mul(256 * ONE, t)
    return sqrt(div(w, t))


def ewma(half_life, min_interval, variance, ticks):
    """The variance after feeding (price, time) ticks, §6."""
    last = None
    for p, t in ticks:
        if last is None:
            last = (p, t)
            continue
        p0, t0 = last
        dt = t - t0
        r = ln(p * ONE) - ln(p0 * ONE)
        tau = max(dt, min_interval)
        q = mul(r, r)
        cap = -((-256 * ONE * tau) // Y)
        sample = 256 * ONE if q >= cap else (q * Y) // tau
        lam = 0 if dt // half_life >= 64 else exp(-mul(LN2, ratio(dt, half_life)))
        variance = mul(lam, variance) + mul(ONE - lam, sample)
        last = (p, t)
    return variance


def ceil_div(a, d):
    return -((-a) // d)


def scan_range_bps(cfg, vol):
    """§7.2."""
    dev = mul(vol, sqrt(year_fraction(0, cfg["horizonNanos"])))
    bps = ceil_div(dev * cfg["scanDeviationsMilli"] * 10, ONE)
    return min(max(bps, cfg["minScanBps"]), cfg["maxScanBps"])


def scenarios(cfg, f, r):
    """§7.3: (price, volShift, extreme) in order."""
    n = cfg["priceBuckets"]

    def moved(j):
        shift = ceil_div(f * r * abs(j), n * 10_000)
        return min(max(f + shift if j >= 0 else f - shift, 1), 2**50)

    out = [(moved(j), v, False) for j in range(-n, n + 1) for v in (0, 1, -1)]
    x = cfg["extremeMultiple"]
    if x > 0:
        out += [(moved(-x * n), 0, True), (moved(x * n), 0, True)]
    return out


def risk_arrays(cfg, state, series):
    """§7.4: per instrument (perpetual first) the value changes, delta and Greeks."""
    f = state["mark"]
    r = scan_range_bps(cfg, state["vol"])
    grid = scenarios(cfg, f, r)
    changes = [[p - f for p, _, _ in grid]]
    deltas = [ONE]
    greeks = [(f << 64, ONE, 0, 0, 0)]
    for kind, k, expiry in series:
        t = year_fraction(state["now"], expiry)
        sigma = svi_volatility(*state["smiles"][expiry], f, k, t)
        up = min(sigma * (10_000 + cfg["volUpBps"]) // 10_000, 16 * ONE)
        down = sigma * (10_000 - cfg["volDownBps"]) // 10_000
        base = black76(kind, f, k, sigma, t)
        deltas.append(base[1])
        greeks.append(base)
        v0 = base[0] >> 64
        changes.append([(black76(kind, p, k, sigma if v == 0 else (up if v > 0 else down), t)[0] >> 64) - v0
                        for p, v, _ in grid])
    return grid, changes, deltas, greeks


def margin(cfg, state, grid, changes, deltas, positions):
    """§7.5: (maintenance, initial, worstLoss, worstScenario, shortOption, confidence)."""
    worst, index = None, 0
    for s, (_, _, extreme) in enumerate(grid):
        a = sum(q * changes[i][s] for i, q in positions)
        loss = ceil_div(-a, 10**8)
        if extreme:
            loss = ceil_div(loss * cfg["extremeCoverBps"], 10_000)
        if worst is None or loss > worst:
            worst, index = loss, s
    shorts = sum(-q for i, q in positions if i > 0 and q < 0)
    short_min = ceil_div(shorts * state["mark"] * cfg["shortOptionMinimumBps"], 10**12)
    delta = sum(q * deltas[i] for i, q in positions)
    confidence = ceil_div(ceil_div(abs(delta), ONE) * state["confidence"], 10**8)
    maintenance = max(worst, 0) + short_min + confidence
    return maintenance, ceil_div(maintenance * cfg["initialRatioBps"], 10_000), worst, index, short_min, confidence


def portfolio_greeks(greeks, positions):
    """§7.7: (delta, gamma, vega, theta) of a portfolio from per-instrument Greeks."""
    money = 10**8 * ONE
    delta = sum(q * greeks[i][1] for i, q in positions) >> 64
    gamma = sum((q * greeks[i][2]) // ONE for i, q in positions)
    vega = sum((q * greeks[i][3]) // money for i, q in positions)
    theta = sum((q * greeks[i][4]) // money for i, q in positions)
    return delta, gamma, vega, theta


def margin_call(buffer, delta, mark, vol, horizon):
    """§7.8: the probability of reaching maintenance within the horizon, Q64 raw."""
    h = year_fraction(0, horizon)
    if buffer <= 0:
        return ONE
    s = mul(vol, sqrt(h))
    if delta == 0 or s < 2**32:
        return 0
    e = abs(delta)
    if buffer > (2**50 * e) // 10**8:
        return 0
    move = ceil_div(buffer * 10**8, e)
    barrier = mark - move if delta > 0 else mark + move
    if barrier <= 0 or barrier > 2**50:
        return 0
    dist = abs(ln(barrier * ONE) - ln(mark * ONE))
    z = 32 * ONE if dist >= 32 * s else div(dist, s)
    return min(ONE, 2 * cdf(-z))
