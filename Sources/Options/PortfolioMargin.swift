/// One position in a portfolio on one underlying.
public struct MarginPosition: Sendable, Equatable {
    /// 0: the perpetual; i + 1: `RiskArrays.series[i]`.
    public var instrument: Int
    /// Signed size in base units of 10^-8 (> 0 long), 1 ≤ |size| ≤ 2^53.
    public var size: Int64

    public init(instrument: Int, size: Int64) {
        self.instrument = instrument
        self.size = size
    }
}

/// A portfolio's requirement and what produced it (docs/OPTIONS.md §7.5). Money in
/// quote micro-units.
public struct MarginResult: Sendable, Equatable {
    /// max(worst scenario loss, 0) + short-option contingency + confidence contingency.
    public var maintenance: Int128
    /// ⌈maintenance × initialRatioBps / 10^4⌉.
    public var initial: Int128
    /// The largest counted scenario loss (negative: the portfolio gains in every scenario).
    public var worstLoss: Int128
    /// Index into `RiskArrays.scenarios` of the worst scenario (the first on ties).
    public var worstScenario: Int
    public var shortOptionContingency: Int128
    public var confidenceContingency: Int128
    /// Σ size × delta, Q64, in base units of 10^-8.
    public var netDelta: Fixed
}

/// A portfolio's Greeks on one underlying (docs/OPTIONS.md §7.7), each the sum over
/// positions of that position's Greek, rounded down per position.
public struct PortfolioGreeks: Sendable, Equatable {
    /// Net delta in base units of 10^-8: ⌊Σ q × delta / 2^64⌋ (one rounding).
    public var delta: Int128
    /// Change of that delta, base units of 10^-8, per quote unit (10^6 micro-units) of
    /// the underlying: Σ ⌊q × gamma / 2^64⌋.
    public var gamma: Int128
    /// Micro-units per 1.0 of volatility: Σ ⌊q × vega / (10^8 × 2^64)⌋.
    public var vega: Int128
    /// Micro-units per year: Σ ⌊q × theta / (10^8 × 2^64)⌋.
    public var theta: Int128
}

/// Scenario portfolio margin, a pure function of the positions and the tick's risk arrays.
public enum PortfolioMargin {
    /// Most positions in one portfolio.
    public static let maxPositions = 512
    /// Largest |size|: 2^53 base units of 10^-8.
    public static let maxSize: Int64 = 1 << 53

    public static func evaluate(
        _ positions: [MarginPosition], arrays: RiskArrays, config: MarginConfig
    ) throws(OptionsError) -> MarginResult {
        if positions.count > maxPositions { throw .invalidPosition(index: maxPositions) }
        let instruments = arrays.series.count + 1
        // One pass over the positions: the checks (the first invalid index throws), the
        // short-option quantity, the net delta and B = Σ |q| × max_s |D_s|, which bounds
        // every |A_s| and every partial sum of it. Bounded as below (|size| ≤ 2^53,
        // delta ≤ 2^64, |D| ≤ 2^51, at most 512 positions), so the wrapping products and
        // sums never wrap.
        var shortOptions: Int128 = 0
        var deltaRaw: Int128 = 0
        var bound: UInt128 = 0
        for i in positions.indices {
            let p = positions[i]
            guard p.size != 0, p.size.magnitude <= maxSize.magnitude, p.instrument >= 0, p.instrument < instruments
            else { throw .invalidPosition(index: i) }
            deltaRaw &+= Int128(p.size) &* arrays.deltas[p.instrument].raw
            if p.instrument > 0 && p.size < 0 { shortOptions &+= Int128(p.size.magnitude) }
            let b = p.size.magnitude.multipliedFullWidth(by: arrays.maxAbsChanges[p.instrument])
            bound &+= UInt128(b.high) << 64 | UInt128(b.low)
        }
        let (worst, worstIndex) =
            bound <= UInt128(smallSumBound)
            ? worstLoss64(positions, arrays: arrays, config: config)
            : worstLoss128(positions, arrays: arrays, config: config)
        let shortMinimum = ceilDivide(
            shortOptions &* Int128(arrays.mark) &* Int128(config.shortOptionMinimumBps), 1_000_000_000_000)
        // ⌈⌈|Δ| / 2^64⌉ × c / 10^8⌉: the net delta in whole base units of 10^-8 (rounded up),
        // then valued at the confidence.
        let deltaUnits = -((-deltaRaw.magnitudeInt) >> 64)
        let confidence = ceilDivide(deltaUnits &* Int128(arrays.confidence), 100_000_000)
        let maintenance = max(worst, 0) + shortMinimum + confidence
        let initial = ceilDivide(maintenance &* Int128(config.initialRatioBps), 10_000)
        return MarginResult(
            maintenance: maintenance, initial: initial, worstLoss: worst, worstScenario: worstIndex,
            shortOptionContingency: shortMinimum, confidenceContingency: confidence, netDelta: Fixed(raw: deltaRaw))
    }

    /// Below this bound on Σ |q| × max_s |D_s| every A_s, every partial sum of it and
    /// every ⌈−A_s / 10^8⌉ × 10^8 fits in 64 bits, so `worstLoss64` computes §7.5 steps 1–2
    /// in 64-bit integers: the same integers as `worstLoss128`.
    static let smallSumBound: Int64 = 1 << 62

    /// §7.5 steps 1–2 for a portfolio whose bound is at most `smallSumBound` (positions
    /// checked): A_s accumulated position by position over each instrument's contiguous
    /// row of D, in 64 bits, then the scan for the worst.
    @inline(__always)
    static func worstLoss64(
        _ positions: [MarginPosition], arrays: RiskArrays, config: MarginConfig
    ) -> (worst: Int128, index: Int) {
        let count = arrays.scenarios.count
        return withUnsafeTemporaryAllocation(of: Int64.self, capacity: count) { sums in
            arrays.valueChanges.withUnsafeBufferPointer { changes in
                let base = changes.baseAddress!
                // |q × D| ≤ bound and every partial sum too: no product or sum wraps.
                guard let first = positions.first else {
                    for s in 0..<count { sums[s] = 0 }
                    return
                }
                let row0 = base + first.instrument &* count
                for s in 0..<count { sums[s] = first.size &* row0[s] }
                for k in 1..<positions.count {
                    let p = positions[k]
                    let row = base + p.instrument &* count
                    for s in 0..<count { sums[s] &+= p.size &* row[s] }
                }
            }
            // The extremes, when configured, are the last two scenarios. The ceiling is
            // monotone, so the worst regular loss is ⌈max(−A) / 10^8⌉, one division; the
            // first scenario with that loss (the scan in scenario order keeps the first on
            // ties) is the first whose −A exceeds (loss − 1) × 10^8, at or before the first
            // maximum. At least 3 regular scenarios (N ≥ 1).
            let regular = config.extremeMultiple > 0 ? count - 2 : count
            var top = 0 &- sums[0]
            var topIndex = 0
            for s in 1..<regular where 0 &- sums[s] > top {
                top = 0 &- sums[s]
                topIndex = s
            }
            var worst = ceilDivide64(top, 100_000_000)
            let below = (worst &- 1) &* 100_000_000
            var worstIndex = 0
            while worstIndex < topIndex && 0 &- sums[worstIndex] <= below { worstIndex &+= 1 }
            for s in regular..<count {
                // An extreme counts at cover / 10^4; ties go to the earlier scenario.
                let loss = ceilDivide64(ceilDivide64(0 &- sums[s], 100_000_000) &* config.extremeCoverBps, 10_000)
                if loss > worst {
                    worst = loss
                    worstIndex = s
                }
            }
            return (Int128(worst), worstIndex)
        }
    }

    /// §7.5 steps 1–2 in 128-bit sums, for any checked portfolio: scenario by scenario,
    /// each sum in registers (faster here than rows summed into memory, measured at 8
    /// positions).
    static func worstLoss128(
        _ positions: [MarginPosition], arrays: RiskArrays, config: MarginConfig
    ) -> (worst: Int128, index: Int) {
        let count = arrays.scenarios.count
        var worst = Int128.min
        var worstIndex = 0
        arrays.valueChanges.withUnsafeBufferPointer { changes in
            positions.withUnsafeBufferPointer { held in
                // A_s = Σ size × D_s, exact: |size| ≤ 2^53, |D| ≤ 2^51 and at most 512
                // positions keep |A| below 2^113, so wrapping arithmetic never wraps.
                func sum(_ s: Int) -> Int128 {
                    var a: Int128 = 0
                    for p in held {
                        let product = p.size.multipliedFullWidth(by: changes[p.instrument &* count &+ s])
                        a &+= Int128(product.high) << 64 | Int128(product.low)
                    }
                    return a
                }
                // As in `worstLoss64`.
                let regular = config.extremeMultiple > 0 ? count - 2 : count
                var bound = Int128.min
                for s in 0..<regular {
                    let v = -sum(s)
                    if s == 0 || v > bound {
                        worst = ceilDivide(v, 100_000_000)
                        worstIndex = s
                        bound = worst &* 100_000_000
                    }
                }
                for s in regular..<count {
                    let loss = ceilDivide(ceilDivide(-sum(s), 100_000_000) &* Int128(config.extremeCoverBps), 10_000)
                    if loss > worst {
                        worst = loss
                        worstIndex = s
                    }
                }
            }
        }
        return (worst, worstIndex)
    }

    /// ⌈a / d⌉ for d > 0 in 64 bits (a constant divisor becomes a multiply).
    @inline(__always)
    static func ceilDivide64(_ a: Int64, _ d: Int64) -> Int64 {
        let q = a / d
        return a % d > 0 ? q &+ 1 : q
    }

    /// The portfolio's Greeks at the tick's state, from the risk arrays' per-instrument
    /// Greeks; positions are checked as in `evaluate`.
    public static func greeks(_ positions: [MarginPosition], arrays: RiskArrays) throws(OptionsError) -> PortfolioGreeks {
        if positions.count > maxPositions { throw .invalidPosition(index: maxPositions) }
        var total = PortfolioGreeks(delta: 0, gamma: 0, vega: 0, theta: 0)
        let money = Int128(100_000_000) << 64
        for (i, p) in positions.enumerated() {
            guard p.size != 0, p.size.magnitude <= maxSize.magnitude, p.instrument >= 0,
                p.instrument < arrays.greeks.count
            else { throw .invalidPosition(index: i) }
            let g = arrays.greeks[p.instrument]
            let q = p.size
            // |q| ≤ 2^53 and |delta| ≤ 2^64: the product and a sum of 512 fit, no wrap.
            total.delta &+= Int128(q) &* g.delta.raw
            // ⌊q × x / 2^64⌋ exactly (an arithmetic shift is the floor), and ⌊⌊y / 2^64⌋ /
            // 10^8⌋ = ⌊y / (10^8 × 2^64)⌋: the same integers as `Wide.mulDiv(q, x, 2^64)` and
            // `Wide.mulDiv(q, x, 10^8 × 2^64)` without a 256-by-128-bit division (the engine
            // evaluates every holder at every tick).
            total.gamma += shiftedProduct(q, g.gamma.raw)
            total.vega += floorDivide(shiftedProduct(q, g.vega.raw), money >> 64)
            total.theta += floorDivide(shiftedProduct(q, g.theta.raw), money >> 64)
        }
        total.delta >>= 64
        return total
    }

    /// ⌊q × x / 2^64⌋ exactly, for |q| ≤ 2^53. With x = h × 2^64 + l (h signed, l the
    /// unsigned low half), q × x = q × h × 2^64 + q × l, and the first term is a multiple
    /// of 2^64, so the floor is q × h + ⌊q × l / 2^64⌋: two 64-by-64-bit products, each
    /// exact in 128 bits (|q × h| < 2^117, |q × l| < 2^117), instead of a 256-bit one.
    @inline(__always)
    static func shiftedProduct(_ q: Int64, _ x: Int128) -> Int128 {
        let high = Int64(truncatingIfNeeded: x >> 64)
        let low = UInt64(truncatingIfNeeded: x)
        let ql = q.multipliedFullWidth(by: Int64(bitPattern: low))
        // q × l with l unsigned: the signed product of q and l's bit pattern, plus q × 2^64
        // when l's top bit is set (that pattern read l − 2^64).
        let signed = Int128(ql.high) << 64 | Int128(ql.low)
        let product = low >> 63 == 0 ? signed : signed &+ (Int128(q) << 64)
        return Int128(q) &* Int128(high) &+ (product >> 64)
    }

    /// ⌊a / d⌋ for d > 0 (toward −∞); 64-bit division when both fit (the common case:
    /// a 128-bit division is a library call, and a tick takes two per option position).
    @inline(__always)
    static func floorDivide(_ a: Int128, _ d: Int128) -> Int128 {
        if let a64 = Int64(exactly: a), let d64 = Int64(exactly: d) {
            let q = a64 / d64
            return Int128(a64 % d64 < 0 ? q - 1 : q)
        }
        let q = a / d
        return a % d < 0 ? q - 1 : q
    }

    /// ⌈a / d⌉ for d > 0; 64-bit division when a fits (the common case, a constant divisor).
    @inlinable
    static func ceilDivide(_ a: Int128, _ d: Int64) -> Int128 {
        if let a64 = Int64(exactly: a) {
            let q = a64 / d
            return Int128(a64 % d > 0 ? q + 1 : q)
        }
        let q = a / Int128(d)
        return a % Int128(d) > 0 ? q + 1 : q
    }
}

extension Int128 {
    @usableFromInline var magnitudeInt: Int128 { self < 0 ? -self : self }
}

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
