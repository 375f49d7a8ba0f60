#!/usr/bin/env python3
"""Reference values for the Options module (docs/OPTIONS.md), generated once and committed.

Two references per value: the true result (mpmath, 50 digits, rounded to the nearest Q64
raw integer), which the documented error bounds are checked against, and the `exact`
output of scripts/options_reference.py, an integer implementation written from the
document alone, which the Swift module must equal bit for bit.

Every input is an exact Q64 number (an integer raw value, real value raw / 2^64) or an
exact integer (prices in micro-units); every expected value is the true mathematical
result at those exact inputs, computed with mpmath at 50 significant digits and rounded
to the nearest Q64 raw integer. The tests check the Swift fixed-point results against
these within the error bounds that docs/OPTIONS.md states.

Usage: python3 -m pip install mpmath==1.3.0 && scripts/gen-option-vectors.py
Writes Tests/OptionsTests/Resources/vectors.json. Deterministic (seeded), so a re-run
reproduces the committed file byte for byte.
"""
import json
import os
import random

import mpmath as mp

import options_reference as ref

mp.mp.dps = 50
Q = mp.mpf(2) ** 64
ONE_Q = 1 << 64
YEAR_NANOS = 365 * 86_400 * 10**9
rng = random.Random(15)


def raw(v):
    """Nearest Q64 raw integer of a real value, as a decimal string."""
    return str(int(mp.nint(v * Q)))


def saturated(v):
    """A Q64 raw string saturated to ±(2^127 − 1), as Black76 saturates theta."""
    r = int(mp.nint(v * Q))
    return str(max(-(2**127 - 1), min(2**127 - 1, r)))


def q64(x):
    """Real value of a Q64 raw integer."""
    return mp.mpf(x) / Q


def floor_ratio(n, d):
    return (n << 64) // d


def function_vectors():
    out = {"exp": [], "ln": [], "sqrt": [], "pdf": [], "cdf": []}
    # exp: a grid over [-46, 43] plus random fractions; around the range-reduction steps.
    xs = [int(mp.nint(mp.mpf(v) / 4 * Q)) for v in range(-184, 173)]
    xs += [rng.randrange(-46 << 64, 43 << 64) for _ in range(300)]
    xs += [k * 12786308645202655660 // 2 + d for k in range(-20, 21) for d in (-1, 0, 1)]
    xs += [0, 1, -1, 43 << 64]
    for x in sorted(set(xs)):
        out["exp"].append([str(x), raw(mp.exp(q64(x))), str(ref.exp(x))])
    # ln: powers of two and their neighbours, around 1 and √2, log-uniform random values.
    xs = [1, 2, 3, (1 << 126) - 1]
    xs += [(1 << e) + d for e in range(0, 126, 5) for d in (-1, 0, 1) if (1 << e) + d > 0]
    xs += [26087635650665564424 + d for d in (-2, -1, 0, 1, 2)] + [(1 << 64) + d for d in (-3, -1, 1, 3)]
    xs += [rng.randrange(1, 1 << rng.randrange(2, 127)) for _ in range(400)]
    for x in sorted(set(xs)):
        out["ln"].append([str(x), raw(mp.log(q64(x))), str(ref.ln(x))])
    # sqrt: exact floor is checked as an identity in the tests; these check the scale.
    xs = [0, 1, 2, 4, 1 << 64, 2 << 64, (1 << 127) - 1] + [rng.randrange(0, 1 << rng.randrange(1, 127)) for _ in range(300)]
    for x in sorted(set(xs)):
        out["sqrt"].append([str(x), raw(mp.sqrt(q64(x))), str(ref.sqrt(x))])
    # pdf and cdf: [-17, 17], dense around the algorithm's switch points 3 and 9.
    xs = [int(mp.nint(mp.mpf(v) / 16 * Q)) for v in range(-272, 273)]
    xs += [rng.randrange(-17 << 64, 17 << 64) for _ in range(300)]
    xs += [(c << 64) + d for c in (-9, -3, 3, 9) for d in (-(1 << 40), -1, 0, 1, 1 << 40)]
    for x in sorted(set(xs)):
        out["pdf"].append([str(x), raw(mp.npdf(q64(x))), str(ref.pdf(x))])
        out["cdf"].append([str(x), raw(mp.ncdf(q64(x))), str(ref.cdf(x))])
    return out


def black76(kind, f, k, sigma, t):
    f, k = mp.mpf(f), mp.mpf(k)
    s = sigma * mp.sqrt(t)
    d1 = (mp.log(f / k)) / s + s / 2
    d2 = d1 - s
    phi = mp.npdf(d1)
    if kind == "call":
        price, delta = f * mp.ncdf(d1) - k * mp.ncdf(d2), mp.ncdf(d1)
    else:
        price, delta = k * mp.ncdf(-d2) - f * mp.ncdf(-d1), mp.ncdf(d1) - 1
    gamma = phi / (f * s) * 10**6
    vega = f * phi * mp.sqrt(t)
    theta = -f * phi * sigma / (2 * mp.sqrt(t))
    return price, delta, gamma, vega, theta


def black76_vectors():
    out = []
    forwards = [1_000_000, 2_500_000_000, 65_432_100_000, 1 << 50]
    moneyness = [mp.mpf(v) for v in ("0.1", "0.5", "0.8", "0.95", "1", "1.05", "1.25", "2", "10")]
    vols_ppm = [1_000, 100_000, 500_000, 800_000, 2_000_000, 15_000_000]
    times = [1_000_000_000, 60 * 10**9, 86_400 * 10**9, 30 * 86_400 * 10**9, YEAR_NANOS, 5 * YEAR_NANOS]
    cases = []
    for f in forwards:
        for m in moneyness:
            k = max(1, min(1 << 50, int(mp.nint(f * m))))
            for v in vols_ppm:
                for t in times:
                    cases.append((f, k, v, t))
    rng.shuffle(cases)
    for f, k, v, t in cases[:700]:
        sigma_raw = floor_ratio(v, 10**6)
        t_raw = floor_ratio(t, YEAR_NANOS)
        sigma, time = q64(sigma_raw), q64(t_raw)
        if sigma * mp.sqrt(time) > 16 or sigma * mp.sqrt(time) < mp.mpf(2) ** -32:
            continue
        for kind in ("call", "put"):
            price, delta, gamma, vega, theta = black76(kind, f, k, sigma, time)
            exact = ref.black76(kind, f, k, sigma_raw, t_raw)
            out.append({
                "exact": [str(v) for v in exact],
                "kind": kind, "forward": f, "strike": k, "volatilityPpm": v, "nanos": t,
                "price": raw(price), "delta": raw(delta), "gamma": raw(gamma), "vega": raw(vega), "theta": saturated(theta),
            })
    return out


def svi_vectors():
    """Implied volatility at strikes from raw SVI parameters given in units of 10^-9."""
    smiles = [
        (40_000_000, 100_000_000, -300_000_000, 0, 200_000_000),
        (10_000_000, 400_000_000, 500_000_000, 100_000_000, 50_000_000),
        (1_000_000, 50_000_000, 0, -200_000_000, 1_000_000_000),
        (0, 900_000_000, -999_000_000, 0, 10_000_000),
    ]
    out = []
    for a, b, rho, m, sig in smiles:
        pa, pb, prho, pm, psig = (q64(((v << 64) // 10**9)) for v in (a, b, rho, m, sig))
        for f in (65_432_100_000, 2_500_000_000):
            for km in ("0.3", "0.7", "0.9", "1", "1.1", "1.5", "3"):
                k = int(mp.nint(f * mp.mpf(km)))
                for nanos in (86_400 * 10**9, 30 * 86_400 * 10**9, YEAR_NANOS):
                    t = q64(floor_ratio(nanos, YEAR_NANOS))
                    x = mp.log(mp.mpf(k) / f) - pm
                    w = pa + pb * (prho * x + mp.sqrt(x * x + psig * psig))
                    vol = mp.sqrt(max(w, 0) / t)
                    if vol > 16:
                        continue
                    exact = ref.svi_volatility(*(((v << 64) // 10**9) for v in (a, b, rho, m, sig)), f, k,
                                               floor_ratio(nanos, YEAR_NANOS))
                    out.append({"exact": str(exact), "a": a, "b": b, "rho": rho, "m": m, "sigma": sig, "forward": f, "strike": k,
                                "nanos": nanos, "volatility": raw(vol)})
    return out


def ewma_vectors():
    """The realized-volatility recurrence of docs/OPTIONS.md §6 in exact real arithmetic."""
    out = []
    for seed, half_life, min_interval in ((1, 600 * 10**9, 10**6), (2, 3_600 * 10**9, 10**9), (3, 60 * 10**9, 10**8)):
        r = random.Random(seed)
        v = mp.mpf(1) / 4
        price, time = 65_432_100_000, 10**12
        ticks = [(price, time)]
        for _ in range(200):
            time += r.choice((10**5, 10**7, 10**9, 5 * 10**9, 60 * 10**9, 900 * 10**9))
            price = max(1, price + r.randrange(-price // 200, price // 200 + 1))
            ticks.append((price, time))
        for (p0, t0), (p1, t1) in zip(ticks, ticks[1:]):
            dt = t1 - t0
            ret = mp.log(mp.mpf(p1) / p0)
            tau = mp.mpf(max(dt, min_interval)) / YEAR_NANOS
            sample = min(ret * ret / tau, 256)
            lam = mp.mpf(2) ** (-mp.mpf(dt) / half_life)
            v = lam * v + (1 - lam) * sample
        out.append({"halfLifeNanos": half_life, "minIntervalNanos": min_interval, "initialVariance": raw(mp.mpf(1) / 4),
                    "ticks": [[p, t] for p, t in ticks], "variance": raw(v),
                    "exact": str(ref.ewma(half_life, min_interval, ONE_Q // 4, ticks))})
    return out


def margin_vectors():
    """Portfolio margin (§7) by the reference implementation: a state, a grid of series,
    seeded portfolios and their requirements."""
    day = 86_400 * 10**9
    now = 1_000 * day
    smiles = {now + 7 * day: (2_000_000, 40_000_000, -300_000_000, 0, 100_000_000),
              now + 30 * day: (8_000_000, 80_000_000, -200_000_000, 0, 200_000_000)}
    series = [(kind, strike, expiry) for kind in ("call", "put") for expiry in sorted(smiles)
              for strike in (55_000_000_000, 65_000_000_000, 75_000_000_000)]
    cfg = {"priceBuckets": 6, "minScanBps": 300, "maxScanBps": 3_000, "scanDeviationsMilli": 4_000,
           "horizonNanos": day, "volUpBps": 3_000, "volDownBps": 2_000, "extremeMultiple": 3,
           "extremeCoverBps": 3_300, "shortOptionMinimumBps": 100, "initialRatioBps": 15_000}
    out = []
    for vol_ppm, mark in ((600_000, 65_432_100_000), (2_500_000, 61_234_567_891), (50_000, 70_000_000_001)):
        state = {"mark": mark, "confidence": 20_000_000, "now": now, "vol": floor_ratio(vol_ppm, 10**6),
                 "smiles": {e: tuple((v << 64) // 10**9 for v in p) for e, p in smiles.items()}}
        grid, changes, deltas, greeks = ref.risk_arrays(cfg, state, series)
        portfolios = []
        for _ in range(30):
            positions = [(rng.randrange(len(series) + 1), rng.choice((-1, 1)) * rng.randrange(1, 2_000_000_000))
                         for _ in range(rng.randrange(1, 7))]
            result = ref.margin(cfg, state, grid, changes, deltas, positions)
            portfolios.append({"positions": positions, "expected": [str(v) for v in result],
                               "greeks": [str(v) for v in ref.portfolio_greeks(greeks, positions)]})
        out.append({"config": cfg, "mark": mark, "confidence": 20_000_000, "now": now, "volatilityPpm": vol_ppm,
                    "smiles": [[e, *p] for e, p in sorted(smiles.items())],
                    "series": [[kind, strike, expiry] for kind, strike, expiry in series], "portfolios": portfolios})
    return out


def margin_call_vectors():
    """§7.8: probability of reaching maintenance, true (mpmath) and by the reference."""
    out = []
    r = random.Random(78)
    for _ in range(300):
        mark = r.choice((1_000_000, 65_432_100_000, 2**50 // 3))
        delta = r.choice((-1, 1)) * r.randrange(1, 5_000_000_000)
        buffer = r.randrange(1, max(2, mark * abs(delta) // 10**8 // r.choice((10, 50, 500))))
        vol_ppm = r.randrange(10_000, 3_000_000)
        horizon = r.choice((60 * 10**9, 3_600 * 10**9, 86_400 * 10**9, 7 * 86_400 * 10**9))
        vol_raw = floor_ratio(vol_ppm, 10**6)
        s = q64(vol_raw) * mp.sqrt(q64(floor_ratio(horizon, YEAR_NANOS)))
        move = -((-buffer * 10**8) // abs(delta))
        barrier = mark - move if delta > 0 else mark + move
        if barrier <= 0 or barrier > 2**50:
            continue
        truth = min(1, 2 * mp.ncdf(-abs(mp.log(mp.mpf(barrier) / mark)) / s))
        out.append({"buffer": buffer, "delta": delta, "mark": mark, "volatilityPpm": vol_ppm, "horizonNanos": horizon,
                    "probability": raw(truth),
                    "exact": str(ref.margin_call(buffer, delta, mark, vol_raw, horizon))})
    return out


def main():
    doc = {
        "generator": "scripts/gen-option-vectors.py (mpmath %s, 50 digits)" % mp.__version__,
        "format": "Q64 raw integers as decimal strings: value = raw / 2^64; prices in micro-units",
        **function_vectors(),
        "black76": black76_vectors(),
        "svi": svi_vectors(),
        "ewma": ewma_vectors(),
        "margin": margin_vectors(),
        "marginCall": margin_call_vectors(),
    }
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "Tests", "OptionsTests", "Resources", "vectors.json")
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=0, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    main()
