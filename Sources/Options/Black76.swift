/// A European option's kind.
public enum OptionKind: UInt8, Sendable, Hashable, CaseIterable {
    case call = 1
    case put = 2
}

/// Price and Greeks of one option per whole base unit of the underlying (a position of
/// signed size q in base units of 10^-8 is worth q/10^8 of these). All Q64, unrounded
/// beyond what docs/OPTIONS.md §4 states; `priceMicros` is the price rounded down.
public struct OptionGreeks: Sendable, Equatable {
    /// Premium, quote micro-units per whole base unit, ≥ 0.
    public var price: Fixed
    /// ∂price/∂F, dimensionless: in [0, 1] for a call, [−1, 0] for a put.
    public var delta: Fixed
    /// ∂delta/∂F per quote unit (10^6 micro-units) of the underlying's price.
    public var gamma: Fixed
    /// ∂price/∂σ, micro-units per 1.0 of volatility (100 vol points).
    public var vega: Fixed
    /// ∂price/∂t as calendar time passes, micro-units per year of 365 days (≤ 0).
    public var theta: Fixed

    /// The premium in whole micro-units, rounded down.
    public var priceMicros: Int64 { Int64(price.floor) }
}

/// Black-76 on the underlying's mark as the forward, undiscounted (rate 0: premiums and
/// margin settle in the same currency at the same time, as on a futures-style venue).
/// docs/OPTIONS.md §4 is the normative algorithm.
public enum Black76 {
    /// Largest forward or strike, micro-units: 2^50.
    public static let maxPrice: Int64 = 1 << 50
    /// Largest volatility and largest total standard deviation σ√T.
    public static let maxVolatility = Fixed(16)
    /// Longest time to expiry, years.
    public static let maxTime = Fixed(100)
    /// σ√T below this (2^-32) prices as zero volatility: intrinsic value.
    public static let minTotalDeviation = Fixed(raw: Int128(1) << 32)
    /// Nanoseconds in a year of 365 days.
    public static let nanosPerYear: Int128 = 365 * 86_400 * 1_000_000_000

    /// Years to expiry from enclave time: ⌊nanos × 2^64 / (365 × 86,400 × 10^9)⌋; 0 at
    /// or after expiry.
    public static func yearFraction(now: UInt64, expiry: UInt64) -> Fixed {
        expiry <= now ? .zero : Fixed(ratio: Int128(expiry - now), nanosPerYear)
    }

    /// Price and Greeks of a European `kind` option with `strike` on `forward` (both
    /// micro-units per whole base unit), volatility σ (annualized, 1.0 = 100 %) and `time`
    /// to expiry in years.
    public static func evaluate(
        _ kind: OptionKind, forward: Int64, strike: Int64, volatility: Fixed, time: Fixed
    ) throws(OptionsError) -> OptionGreeks {
        try compute(kind, forward: forward, strike: strike, volatility: volatility, time: time, greeks: true)
    }

    /// The premium alone (Q64 micro-units), identical to `evaluate(...).price` without the
    /// Greeks' work: what the scenario grid needs.
    public static func price(
        _ kind: OptionKind, forward: Int64, strike: Int64, volatility: Fixed, time: Fixed
    ) throws(OptionsError) -> Fixed {
        try compute(kind, forward: forward, strike: strike, volatility: volatility, time: time, greeks: false).price
    }

    /// `x` is ln(F) − ln(K) (§4.2 step 2) and `rootTime` is `FixedFunctions.sqrt(time)`
    /// when the caller has them already, as the scenario grid does (one √T per series,
    /// not per scenario): the same values, so the same result.
    static func compute(
        _ kind: OptionKind, forward: Int64, strike: Int64, volatility: Fixed, time: Fixed, greeks: Bool,
        logRatio: Fixed? = nil, rootTime: Fixed? = nil
    ) throws(OptionsError) -> OptionGreeks {
        guard forward >= 1, forward <= maxPrice else { throw .priceOutOfRange(forward) }
        guard strike >= 1, strike <= maxPrice else { throw .priceOutOfRange(strike) }
        guard volatility >= .zero, volatility <= maxVolatility else { throw .volatilityOutOfRange(volatility) }
        guard time >= .zero, time <= maxTime else { throw .timeOutOfRange(time) }
        let rootT = rootTime ?? FixedFunctions.sqrt(time)
        let s = volatility * rootT
        guard s <= maxVolatility else { throw .volatilityOutOfRange(s) }
        let f = Int128(forward)
        let k = Int128(strike)
        if s < minTotalDeviation { return intrinsic(kind, f, k) }

        let x = logRatio ?? FixedFunctions.ln(Fixed(forward)) - FixedFunctions.ln(Fixed(strike))
        // Beyond 32 deviations both Φ(d1) and Φ(d2) are saturated (|d2| ≥ 32 − 8 > 9).
        let d1: Fixed
        if x.magnitude.raw >= 32 * s.raw {
            d1 = x.raw > 0 ? Fixed(32) : Fixed(-32)
        } else {
            d1 = x / s + Fixed(raw: s.raw >> 1)
        }
        let d2 = d1 - s
        let n1 = Normal.cdf(d1)
        let n2 = Normal.cdf(d2)

        // F × Φ(d1) − K × Φ(d2) in raw units is exact: F and K are integers.
        var price: Int128
        switch kind {
        case .call: price = f * n1.raw - k * n2.raw
        case .put: price = k * (Fixed.one - n2).raw - f * (Fixed.one - n1).raw
        }
        price = max(price, 0)
        let delta = kind == .call ? n1 : n1 - Fixed.one
        if !greeks { return OptionGreeks(price: Fixed(raw: price), delta: delta, gamma: .zero, vega: .zero, theta: .zero) }
        let phi = Normal.pdf(d1)
        let gamma = Fixed(raw: Wide.mulDiv(phi.raw, 1_000_000 << 64, f * s.raw))
        let vega = Fixed(raw: f * (phi * rootT).raw)
        let theta = Fixed(raw: saturatingMulDiv(-f * phi.raw, volatility.raw, 2 * rootT.raw))
        return OptionGreeks(price: Fixed(raw: price), delta: delta, gamma: gamma, vega: vega, theta: theta)
    }

    /// Zero time or volatility: the intrinsic value; delta 1 (call) in the money, 0 out of
    /// it, 1/2 at the money (put: the call's − 1); gamma, vega and theta 0.
    static func intrinsic(_ kind: OptionKind, _ f: Int128, _ k: Int128) -> OptionGreeks {
        let callDelta: Fixed = f > k ? .one : (f < k ? .zero : .half)
        let value = kind == .call ? max(f - k, 0) : max(k - f, 0)
        return OptionGreeks(
            price: Fixed(raw: value << 64), delta: kind == .call ? callDelta : callDelta - .one,
            gamma: .zero, vega: .zero, theta: .zero)
    }

    /// ⌊a × b / d⌋ (d > 0), saturated to ±(2^127 − 1) raw when it does not fit.
    static func saturatingMulDiv(_ a: Int128, _ b: Int128, _ d: Int128) -> Int128 {
        let p = a.magnitude.multipliedFullWidth(by: b.magnitude)
        let limit = UInt128(Int128.max)
        if p.high >= d.magnitude || d.magnitude.dividingFullWidth(p).quotient >= limit {
            return (a < 0) != (b < 0) ? -Int128.max : Int128.max
        }
        return Wide.mulDiv(a, b, d)
    }
}
