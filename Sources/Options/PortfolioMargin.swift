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
        let result = positions.withUnsafeBufferPointer { held in
            Result { () throws(OptionsError) in try evaluate(held, arrays: arrays, config: config) }
        }
        return try result.get()
    }

    /// `evaluate` on positions in a caller's buffer (the engine's per-holder walk keeps
    /// them in a temporary allocation, no array per portfolio).
    public static func evaluate(
        _ positions: UnsafeBufferPointer<MarginPosition>, arrays: RiskArrays, config: MarginConfig
    ) throws(OptionsError) -> MarginResult {
        if positions.count > maxPositions { throw .invalidPosition(index: maxPositions) }
        let instruments = arrays.series.count + 1
        // One pass over the positions: the checks (the first invalid index throws), the
        // short-option quantity, the net delta and B = Σ |q| × max_s |D_s|, which bounds
        // every |A_s| and every partial sum of it. Bounded as below (|size| ≤ 2^53,
        // delta ≤ 2^64, |D| ≤ 2^51, at most 512 positions), so the wrapping products and
        // sums never wrap.
        // Σ |q| over short options ≤ 512 × 2^53 = 2^62: fits in 64 bits.
        var shortOptions: Int64 = 0
        var deltaRaw: Int128 = 0
        var bound: UInt128 = 0
        for i in positions.indices {
            let p = positions[i]
            guard p.size != 0, p.size.magnitude <= maxSize.magnitude, p.instrument >= 0, p.instrument < instruments
            else { throw .invalidPosition(index: i) }
            deltaRaw &+= Int128(p.size) &* arrays.deltas[p.instrument].raw
            if p.instrument > 0 && p.size < 0 { shortOptions &+= 0 &- p.size }
            let b = p.size.magnitude.multipliedFullWidth(by: arrays.maxAbsChanges[p.instrument])
            bound &+= UInt128(b.high) << 64 | UInt128(b.low)
        }
        let (worst, worstIndex) =
            bound <= UInt128(smallSumBound)
            ? worstLoss64(positions, arrays: arrays, config: config)
            : worstLoss128(positions, arrays: arrays, config: config)
        let shortMinimum = shortOptionContingency(shortOptions, mark: arrays.mark, bps: config.shortOptionMinimumBps)
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

    /// §7.5 step 3's short-option contingency ⌈Q × F × bps / 10^12⌉ (Q ≤ 2^62, F ≥ 1,
    /// bps ≥ 0): in 64 bits when Q × F × bps fits (a constant divisor becomes a multiply),
    /// else in 128 bits; the same integer either way.
    @inline(__always)
    static func shortOptionContingency(_ q: Int64, mark f: Int64, bps: Int64) -> Int128 {
        let (qf, o1) = q.multipliedReportingOverflow(by: f)
        let (product, o2) = qf.multipliedReportingOverflow(by: bps)
        if !o1 && !o2 { return Int128(ceilDivide64(product, 1_000_000_000_000)) }
        return ceilDivide(Int128(q) &* Int128(f) &* Int128(bps), 1_000_000_000_000)
    }

    /// §7.5 steps 1–2 for a portfolio whose bound is at most `smallSumBound` (positions
    /// checked), in 64-bit integers. A portfolio of one or two positions is summed and
    /// scanned in one pass over the scenarios (the rows' entries multiplied in registers);
    /// a larger one accumulates all but its last position over each instrument's
    /// contiguous row of D, then adds the last row in the scanning pass.
    @inline(__always)
    static func worstLoss64(
        _ held: UnsafeBufferPointer<MarginPosition>, arrays: RiskArrays, config: MarginConfig
    ) -> (worst: Int128, index: Int) {
        let count = arrays.scenarios.count
        // The extremes, when configured, are the last two scenarios (at least 3 regular
        // ones: N ≥ 1).
        let regular = config.extremeMultiple > 0 ? count - 2 : count
        let cover = config.extremeCoverBps
        return arrays.valueChanges.withUnsafeBufferPointer { changes in
            do {
                let base = changes.baseAddress!
                // |q × D| ≤ bound and every partial sum too: no product or sum wraps.
                switch held.count {
                case 0:
                    return scan(count: count, regular: regular, cover: cover) { _ in 0 }
                case 1:
                    let q = held[0].size
                    let row = base + held[0].instrument &* count
                    return scan(count: count, regular: regular, cover: cover) { q &* row[$0] }
                case 2:
                    let q0 = held[0].size
                    let row0 = base + held[0].instrument &* count
                    let q1 = held[1].size
                    let row1 = base + held[1].instrument &* count
                    return scan(count: count, regular: regular, cover: cover) { q0 &* row0[$0] &+ q1 &* row1[$0] }
                default:
                    return withUnsafeTemporaryAllocation(of: Int64.self, capacity: count) { sums in
                        let row0 = base + held[0].instrument &* count
                        let q0 = held[0].size
                        for s in 0..<count { sums[s] = q0 &* row0[s] }
                        for k in 1..<(held.count - 1) {
                            let q = held[k].size
                            let row = base + held[k].instrument &* count
                            for s in 0..<count { sums[s] &+= q &* row[s] }
                        }
                        let q = held[held.count - 1].size
                        let row = base + held[held.count - 1].instrument &* count
                        return scan(count: count, regular: regular, cover: cover) { sums[$0] &+ q &* row[$0] }
                    }
                }
            }
        }
    }

    /// The worst counted loss and its scenario, from A_s = `sum(s)`. Regular scenarios:
    /// the loss ⌈−A_s / 10^8⌉ exceeds the worst so far exactly when −A_s exceeds worst ×
    /// 10^8, so one division per new worst (not per scenario), and the first scenario
    /// with the largest loss is kept (ties go to the earlier one). Extremes count at
    /// cover / 10^4, replacing the worst only when strictly larger.
    @inline(__always)
    static func scan(count: Int, regular: Int, cover: Int64, _ sum: (Int) -> Int64) -> (worst: Int128, index: Int) {
        var worst = ceilDivide64(0 &- sum(0), 100_000_000)
        // −A_s > worst × 10^8 exactly when A_s < −worst × 10^8 (no negation per scenario).
        var below = 0 &- worst &* 100_000_000
        var worstIndex = 0
        for s in 1..<regular {
            let a = sum(s)
            if a < below {
                worst = ceilDivide64(0 &- a, 100_000_000)
                below = 0 &- worst &* 100_000_000
                worstIndex = s
            }
        }
        for s in regular..<count {
            let loss = ceilDivide64(ceilDivide64(0 &- sum(s), 100_000_000) &* cover, 10_000)
            if loss > worst {
                worst = loss
                worstIndex = s
            }
        }
        return (Int128(worst), worstIndex)
    }

    /// §7.5 steps 1–2 in 128-bit sums, for any checked portfolio: scenario by scenario,
    /// each sum in registers (faster here than rows summed into memory, measured at 8
    /// positions).
    static func worstLoss128(
        _ held: UnsafeBufferPointer<MarginPosition>, arrays: RiskArrays, config: MarginConfig
    ) -> (worst: Int128, index: Int) {
        let count = arrays.scenarios.count
        var worst = Int128.min
        var worstIndex = 0
        arrays.valueChanges.withUnsafeBufferPointer { changes in
            do {
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
        let result = positions.withUnsafeBufferPointer { held in
            Result { () throws(OptionsError) in try greeks(held, arrays: arrays) }
        }
        return try result.get()
    }

    /// `greeks` on positions in a caller's buffer.
    public static func greeks(
        _ positions: UnsafeBufferPointer<MarginPosition>, arrays: RiskArrays
    ) throws(OptionsError) -> PortfolioGreeks {
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
            // The perpetual's gamma, vega and theta are 0 (`RiskArrays.greeks`): each of its
            // terms below is ⌊0⌋ = 0.
            if p.instrument == 0 { continue }
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
    @inlinable @inline(__always)
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
