/// Raw SVI parameters of one expiry's implied-volatility smile (Gatheral 2004): total
/// implied variance at log-moneyness k = ln(K/F) is
///
///     w(k) = a + b (ρ (k − m) + √((k − m)² + σ²))
///
/// and the implied volatility at strike K for time T (years) is √(w / T). All five are
/// Q64; a feed carries them as integers in units of 10^-9 (`init(nanoUnits:)`). The
/// normative algorithm and checks are in docs/OPTIONS.md §5.
public struct SVIParameters: Sendable, Equatable {
    /// Level of total variance (year × variance units).
    public var a: Fixed
    /// Slope of the wings, ≥ 0.
    public var b: Fixed
    /// Skew, in (−1, 1).
    public var rho: Fixed
    /// Horizontal shift, log-moneyness.
    public var m: Fixed
    /// Curvature at the vertex, > 0.
    public var sigma: Fixed

    /// Largest magnitude of any parameter: 2^20.
    public static let maxMagnitude = Fixed(1 << 20)

    public init(a: Fixed, b: Fixed, rho: Fixed, m: Fixed, sigma: Fixed) {
        self.a = a
        self.b = b
        self.rho = rho
        self.m = m
        self.sigma = sigma
    }

    /// From a feed's integers in units of 10^-9, each converted as ⌊v × 2^64 / 10^9⌋.
    public init(nanoUnits a: Int64, b: Int64, rho: Int64, m: Int64, sigma: Int64) {
        func q(_ v: Int64) -> Fixed { Fixed(ratio: Int128(v), 1_000_000_000) }
        self.init(a: q(a), b: q(b), rho: q(rho), m: q(m), sigma: q(sigma))
    }

    /// The checks of docs/OPTIONS.md §5.2, in this order; the first that fails is
    /// thrown. They are the minimal no-arbitrage conditions of a single slice (no
    /// calendar or butterfly check across slices).
    public func validate() throws(OptionsError) {
        for p in [a, b, rho, m, sigma] where p.magnitude > Self.maxMagnitude {
            throw .invalidSVI(.parameterOutOfRange)
        }
        guard b >= .zero else { throw .invalidSVI(.negativeSlope) }
        guard rho.magnitude < .one else { throw .invalidSVI(.correlationOutOfRange) }
        guard sigma > .zero else { throw .invalidSVI(.nonPositiveSigma) }
        // The smile's minimum, rounded down, so a borderline slice is refused.
        let minimum = a + b * (sigma * FixedFunctions.sqrt(Fixed.one - rho * rho))
        guard minimum >= .zero else { throw .invalidSVI(.negativeMinimumVariance) }
        // Lee's moment formula: the wings of total variance grow at most with slope 2.
        guard b * (Fixed.one + rho.magnitude) <= Fixed(2) else { throw .invalidSVI(.wingTooSteep) }
    }

    /// w(k) for log-moneyness k (|k| ≤ 2^20), each product floored in the order written:
    /// d = k − m, r = √(⌊d²⌋ + ⌊σ²⌋), w = a + ⌊b × (⌊ρ × d⌋ + r)⌋. May be negative for
    /// parameters that fail `validate()`.
    public func totalVariance(logMoneyness k: Fixed) -> Fixed {
        let d = k - m
        let r = FixedFunctions.sqrt(d * d + sigma * sigma)
        return a + b * (rho * d + r)
    }

    /// Implied volatility at `strike` for the underlying at `forward` (micro-units) and
    /// `time` years to expiry: k = ln K − ln F, w = max(w(k), 0), σ = √⌊w / T⌋. At T = 0
    /// the volatility is 0 (Black-76 then prices intrinsic value). Throws when the price
    /// is out of range or σ exceeds 16.
    public func volatility(forward: Int64, strike: Int64, time: Fixed) throws(OptionsError) -> Fixed {
        guard forward >= 1, forward <= Black76.maxPrice else { throw .priceOutOfRange(forward) }
        guard strike >= 1, strike <= Black76.maxPrice else { throw .priceOutOfRange(strike) }
        guard time >= .zero, time <= Black76.maxTime else { throw .timeOutOfRange(time) }
        if time == .zero { return .zero }
        let k = FixedFunctions.ln(Fixed(strike)) - FixedFunctions.ln(Fixed(forward))
        let w = max(totalVariance(logMoneyness: k), .zero)
        // σ > 16 exactly when w / T > 256; checked before dividing so the quotient fits.
        guard w <= Fixed(256) * time else { throw .volatilityOutOfRange(Fixed(16)) }
        return FixedFunctions.sqrt(w / time)
    }
}

/// An exponentially weighted estimate of the underlying's annualized variance from its
/// oracle marks in enclave time, for ticks at irregular intervals (docs/OPTIONS.md §6).
///
/// On a tick at `time` with mark P, after a previous one at t₀ with mark P₀:
/// Δ = time − t₀ (ns), r = ln P − ln P₀, τ = max(Δ, minInterval) (ns),
/// sample = min(⌊⌊r²⌋ × Y / τ⌋, 256) with Y = 365 × 86,400 × 10^9, λ = 2^(−Δ / halfLife) (0 once Δ ≥ 64 half-lives),
/// v ← ⌊λ × v⌋ + ⌊(1 − λ) × sample⌋. So the weight of a past return halves every
/// `halfLife` of enclave time whatever the tick spacing, and a burst of ticks closer than
/// `minInterval` cannot annualize one return into an absurd variance. Error: each update
/// adds at most 2^-54 × (1 + sample) to |v − v_exact|, earlier errors decaying by λ; so
/// after n updates at most n × 2^-45 (docs/OPTIONS.md §6).
public struct RealizedVolatility: Sendable, Equatable {
    /// Half-life of a return's weight, enclave nanoseconds (> 0).
    public let halfLifeNanos: UInt64
    /// Shortest interval a return is annualized over, nanoseconds (> 0).
    public let minIntervalNanos: UInt64
    /// The current estimate of annualized variance σ², Q64, in [0, 256].
    public private(set) var variance: Fixed
    /// The last accepted tick, nil before the first.
    public private(set) var last: (price: Int64, time: UInt64)?

    /// Variance cap: a volatility of 16 (1,600 %).
    public static let maxVariance = Fixed(256)

    public init(halfLifeNanos: UInt64, minIntervalNanos: UInt64, initialVariance: Fixed) throws(OptionsError) {
        guard halfLifeNanos > 0, halfLifeNanos <= 1 << 62 else { throw .invalidMarginConfig("halfLifeNanos") }
        guard minIntervalNanos > 0, minIntervalNanos <= 1 << 62 else { throw .invalidMarginConfig("minIntervalNanos") }
        guard initialVariance >= .zero, initialVariance <= Self.maxVariance else {
            throw .invalidMarginConfig("initialVariance")
        }
        self.halfLifeNanos = halfLifeNanos
        self.minIntervalNanos = minIntervalNanos
        variance = initialVariance
    }

    /// An estimator in a saved state (an engine snapshot): the configuration as `init`
    /// checks it, then `variance` in 0...256 and the last accepted tick, if any.
    public init(
        halfLifeNanos: UInt64, minIntervalNanos: UInt64, variance: Fixed, last: (price: Int64, time: UInt64)?
    ) throws(OptionsError) {
        try self.init(halfLifeNanos: halfLifeNanos, minIntervalNanos: minIntervalNanos, initialVariance: variance)
        if let last {
            guard last.price >= 1, last.price <= Black76.maxPrice else { throw .priceOutOfRange(last.price) }
            self.last = last
        }
    }

    /// The estimate as a volatility: √v, rounded down.
    public var volatility: Fixed { FixedFunctions.sqrt(variance) }

    /// Takes one oracle mark. The first only seeds the estimator. A tick not after the
    /// last accepted one, or a price outside 1...2^50, is refused and changes nothing.
    public mutating func update(price: Int64, time: UInt64) throws(OptionsError) {
        guard price >= 1, price <= Black76.maxPrice else { throw .priceOutOfRange(price) }
        guard let previous = last else {
            last = (price, time)
            return
        }
        guard time > previous.time else { throw .outOfOrderTick(last: previous.time, got: time) }
        let elapsed = time - previous.time
        let r = FixedFunctions.ln(Fixed(price)) - FixedFunctions.ln(Fixed(previous.price))
        let interval = Int128(max(elapsed, minIntervalNanos))
        let squared = r * r
        // min(⌊r² × Y / τ⌋, 256) with Y the nanoseconds of a year: one rounding, and the
        // cap compared before dividing so the quotient fits.
        let sample: Fixed
        // ⌊r² Y / τ⌋ ≥ 256 exactly when r² ≥ ⌈256 × 2^64 × τ / Y⌉ (raw units).
        if squared.raw >= -Wide.mulDiv(-Self.maxVariance.raw, interval, Black76.nanosPerYear) {
            sample = Self.maxVariance
        } else {
            sample = Fixed(raw: Wide.mulDiv(squared.raw, Black76.nanosPerYear, interval))
        }
        let lambda = Self.decay(elapsed: elapsed, halfLife: halfLifeNanos)
        variance = lambda * variance + (Fixed.one - lambda) * sample
        last = (price, time)
    }

    /// 2^(−elapsed / halfLife) = exp(−⌊ln2 × ⌊elapsed × 2^64 / halfLife⌋⌋); 0 from 64
    /// half-lives on.
    static func decay(elapsed: UInt64, halfLife: UInt64) -> Fixed {
        if elapsed / halfLife >= 64 { return .zero }
        let u = Fixed(ratio: Int128(elapsed), Int128(halfLife))
        return FixedFunctions.exp(-(Fixed.ln2 * u))
    }

    public static func == (a: RealizedVolatility, b: RealizedVolatility) -> Bool {
        a.halfLifeNanos == b.halfLifeNanos && a.minIntervalNanos == b.minIntervalNanos && a.variance == b.variance
            && a.last?.price == b.last?.price && a.last?.time == b.last?.time
    }
}
