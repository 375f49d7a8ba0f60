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
