/// The estimated probability that an account reaches its maintenance requirement within a
/// horizon, from the realized volatility (docs/OPTIONS.md §7.8): what a margin call will
/// carry. A first-order, closed-form estimate in Q64:
///
/// the buffer B = equity − maintenance (micro-units) is consumed at the rate of the net
/// delta Δ (base units of 10^-8), so the account reaches maintenance when the underlying
/// moves against Δ by m = ⌈B × 10^8 / |Δ|⌉ micro-units, to the barrier P_b = F − m for a
/// positive Δ, F + m for a negative one. With ℓ = |ln P_b − ln F| and s = σ √h (h the
/// horizon in years), a driftless Brownian log-price touches the barrier within h with
/// probability 2 Φ(−ℓ / s) (the reflection principle).
///
/// Limits, stated: gamma is ignored (a short-gamma book loses faster than its delta says),
/// and maintenance itself moves with the price; the estimate ranks accounts for margin
/// calls, it does not decide liquidations.
public enum MarginCall {
    /// Largest |net delta|: 2^62 base units of 10^-8 (512 positions of 2^53).
    public static let maxDelta: Int128 = 1 << 62

    /// The probability, Q64 in [0, 1]. `buffer` in micro-units, `netDelta` in base units of
    /// 10^-8 (|Δ| ≤ 2^62, else `invalidPosition(index: 0)`), `mark` 1...2^50, `volatility`
    /// 0...16, the horizon at most 100 years:
    /// - B ≤ 0: 1 (the account is already at or below maintenance);
    /// - Δ = 0, σ √h < 2^-32, m > 2^50, or a barrier outside 1...2^50: 0;
    /// - otherwise z = ℓ ⊘ s (32 if ℓ ≥ 32 s) and min(1, 2 × Φ(−z)).
    public static func probability(
        buffer: Int128, netDelta: Int128, mark: Int64, volatility: Fixed, horizonNanos: UInt64
    ) throws(OptionsError) -> Fixed {
        switch try stage(buffer: buffer, netDelta: netDelta, mark: mark, volatility: volatility, horizonNanos: horizonNanos) {
        case .decided(let p): return p
        case .deviations(let z): return probability(deviations: z)
        }
    }

    /// Where §7.8 stands before its last step: decided by steps 1–3, or the number of
    /// deviations z of step 4 (0...32, Q64) still to be turned into 2 Φ(−z).
    public enum Stage: Sendable, Equatable {
        case decided(Fixed)
        case deviations(Fixed)
    }

    /// §7.8's last step: min(1, 2 × Φ(−z)).
    public static func probability(deviations z: Fixed) -> Fixed { min(.one, Normal.cdf(-z).times(2)) }

    /// What §7.8 takes from the underlying alone, the same for every account at one event:
    /// the checked mark, σ and horizon, `s = σ ⊗ √h` and `ln F`. Computing them once per
    /// underlying and event instead of once per account (the √ is a Newton iteration of
    /// 256-bit divisions) changes no result: `stage(buffer:netDelta:underlying:)` is exactly
    /// `stage(buffer:netDelta:mark:volatility:horizonNanos:)`, refusals in the same order.
    public struct Underlying: Sendable, Equatable {
        public let mark: Int64
        public let volatility: Fixed
        let deviation: Fixed
        let lnMark: Fixed

        /// The checks of §7.8 on F, σ and the horizon, in its order.
        public init(mark: Int64, volatility: Fixed, horizonNanos: UInt64) throws(OptionsError) {
            guard mark >= 1, mark <= Black76.maxPrice else { throw .priceOutOfRange(mark) }
            guard volatility >= .zero, volatility <= Black76.maxVolatility else {
                throw .volatilityOutOfRange(volatility)
            }
            let h = Black76.yearFraction(now: 0, expiry: horizonNanos)
            guard h <= Black76.maxTime else { throw .timeOutOfRange(h) }
            self.mark = mark
            self.volatility = volatility
            deviation = volatility * FixedFunctions.sqrt(h)
            lnMark = FixedFunctions.ln(Fixed(mark))
        }
    }

    /// §7.8 up to z (the checks and steps 1–4 but the last), so that a caller comparing
    /// probabilities with a level can skip Φ where z alone settles it.
    public static func stage(
        buffer: Int128, netDelta: Int128, mark: Int64, volatility: Fixed, horizonNanos: UInt64
    ) throws(OptionsError) -> Stage {
        try stage(
            buffer: buffer, netDelta: netDelta,
            underlying: Underlying(mark: mark, volatility: volatility, horizonNanos: horizonNanos))
    }

    /// §7.8 up to z for one account, the underlying's part computed beforehand.
    public static func stage(buffer: Int128, netDelta: Int128, underlying u: Underlying) throws(OptionsError) -> Stage {
        let exposure = netDelta < 0 ? -netDelta : netDelta
        guard exposure <= maxDelta else { throw .invalidPosition(index: 0) }
        if buffer <= 0 { return .decided(.one) }
        // Step 2's test of s after step 3's: every one of them decides 0, so the order
        // changes no result.
        if netDelta == 0 { return .decided(.zero) }
        // m > 2^50 (B × 10^8 > 2^50 × |Δ|) is beyond every price the venue can mark: 0.
        if buffer > Int128(Black76.maxPrice) * exposure / 100_000_000 { return .decided(.zero) }
        let move = -Wide.mulDiv(-buffer, 100_000_000, exposure)
        let barrier = netDelta > 0 ? Int128(u.mark) - move : Int128(u.mark) + move
        if barrier <= 0 || barrier > Int128(Black76.maxPrice) { return .decided(.zero) }
        let s = u.deviation
        if s < Black76.minTotalDeviation { return .decided(.zero) }
        let distance = (FixedFunctions.ln(Fixed(Int64(barrier))) - u.lnMark).magnitude
        return .deviations(distance.raw >= 32 * s.raw ? Fixed(32) : distance / s)
    }
}
