/// The portfolio-margin parameters of one underlying (docs/OPTIONS.md §7.1). Integers with
/// their units in the name; `validate()` checks every documented range.
public struct MarginConfig: Sendable, Equatable {
    /// N ≥ 1: price moves j × R / N for j = −N...N.
    public var priceBuckets: Int
    /// Bounds of the scan range R, bps of the mark: 1 ≤ min ≤ max ≤ 9,000.
    public var minScanBps: Int64
    public var maxScanBps: Int64
    /// R before clamping = ⌈σ_ewma × √horizon × scanDeviationsMilli × 10⌉ bps.
    public var scanDeviationsMilli: Int64
    /// The horizon over which the underlying may move before the venue can act, ns (> 0).
    public var horizonNanos: UInt64
    /// Volatility scenarios: σ × (10^4 + up) / 10^4 and σ × (10^4 − down) / 10^4.
    /// up in 0...100,000, down in 0...9,999.
    public var volUpBps: Int64
    public var volDownBps: Int64
    /// Extreme moves: ±extremeMultiple × R (vol unchanged), their loss counted at
    /// extremeCoverBps / 10^4. Multiple in 0...10 (0: none); cover in 0...10,000.
    public var extremeMultiple: Int64
    public var extremeCoverBps: Int64
    /// Short options: ⌈Q × F × shortOptionMinimumBps / 10^12⌉, Q the sum of |q| over short
    /// option positions; 0...10,000.
    public var shortOptionMinimumBps: Int64
    /// Initial = ⌈maintenance × initialRatioBps / 10^4⌉, 10,000...100,000.
    public var initialRatioBps: Int64

    public init(
        priceBuckets: Int, minScanBps: Int64, maxScanBps: Int64, scanDeviationsMilli: Int64, horizonNanos: UInt64,
        volUpBps: Int64, volDownBps: Int64, extremeMultiple: Int64, extremeCoverBps: Int64,
        shortOptionMinimumBps: Int64, initialRatioBps: Int64
    ) {
        self.priceBuckets = priceBuckets
        self.minScanBps = minScanBps
        self.maxScanBps = maxScanBps
        self.scanDeviationsMilli = scanDeviationsMilli
        self.horizonNanos = horizonNanos
        self.volUpBps = volUpBps
        self.volDownBps = volDownBps
        self.extremeMultiple = extremeMultiple
        self.extremeCoverBps = extremeCoverBps
        self.shortOptionMinimumBps = shortOptionMinimumBps
        self.initialRatioBps = initialRatioBps
    }

    /// Every field within its documented range, or `invalidMarginConfig(field)`.
    public func validate() throws(OptionsError) {
        func check(_ ok: Bool, _ field: String) throws(OptionsError) { if !ok { throw .invalidMarginConfig(field) } }
        try check((1...64).contains(priceBuckets), "priceBuckets")
        try check(minScanBps >= 1 && minScanBps <= maxScanBps, "minScanBps")
        try check(maxScanBps <= 9_000, "maxScanBps")
        try check((0...1_000_000).contains(scanDeviationsMilli), "scanDeviationsMilli")
        try check(horizonNanos > 0 && Int128(horizonNanos) <= Black76.nanosPerYear, "horizonNanos")
        try check((0...100_000).contains(volUpBps), "volUpBps")
        try check((0...9_999).contains(volDownBps), "volDownBps")
        try check((0...10).contains(extremeMultiple), "extremeMultiple")
        try check((0...10_000).contains(extremeCoverBps), "extremeCoverBps")
        try check((0...10_000).contains(shortOptionMinimumBps), "shortOptionMinimumBps")
        try check((10_000...100_000).contains(initialRatioBps), "initialRatioBps")
    }

    /// The scan range R in bps for an estimated volatility (docs/OPTIONS.md §7.2):
    /// clamp(⌈⌊σ × √h⌋ × scanDeviationsMilli × 10⌉, minScanBps, maxScanBps), h the
    /// horizon in years (`Black76.yearFraction`).
    public func scanRangeBps(volatility: Fixed) -> Int64 {
        let h = Black76.yearFraction(now: 0, expiry: horizonNanos)
        let deviation = volatility * FixedFunctions.sqrt(h)
        let bps = deviation.scaled(by: Int128(scanDeviationsMilli) * 10, roundingUp: true)
        return Int64(min(max(bps, Int128(minScanBps)), Int128(maxScanBps)))
    }

    /// Number of scenarios: (2N + 1) × 3, plus 2 extremes when extremeMultiple > 0.
    public var scenarioCount: Int { (2 * priceBuckets + 1) * 3 + (extremeMultiple > 0 ? 2 : 0) }
}

/// One scenario of the grid, in the order docs/OPTIONS.md §7.3 numbers them.
public struct Scenario: Sendable, Equatable {
    /// The underlying's price in this scenario, micro-units.
    public var price: Int64
    /// The signed move in units of R / N (j), or ±extremeMultiple × N for an extreme.
    public var moveSteps: Int64
    /// −1 (down), 0 (unchanged) or +1 (up).
    public var volShift: Int8
    /// Whether the loss counts at extremeCoverBps / 10^4.
    public var extreme: Bool
}
