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
