/// An option series on the underlying: European, cash-settled at `expiry`.
public struct OptionSeries: Sendable, Hashable {
    public var kind: OptionKind
    /// Micro-units per whole base unit.
    public var strike: Int64
    /// Enclave time, ns.
    public var expiry: UInt64

    public init(kind: OptionKind, strike: Int64, expiry: UInt64) {
        self.kind = kind
        self.strike = strike
        self.expiry = expiry
    }
}

/// What one underlying's margin depends on at one tick.
public struct UnderlyingState: Sendable {
    /// The oracle mark, micro-units per whole base unit (the forward of every option).
    public var mark: Int64
    /// The oracle's confidence (half-width), micro-units, ≥ 0.
    public var confidence: Int64
    /// Enclave time, ns.
    public var now: UInt64
    /// The EWMA estimate of annualized volatility (`RealizedVolatility.volatility`).
    public var realizedVolatility: Fixed
    /// The implied-volatility smile of each listed expiry.
    public var smiles: [UInt64: SVIParameters]

    public init(mark: Int64, confidence: Int64, now: UInt64, realizedVolatility: Fixed, smiles: [UInt64: SVIParameters]) {
        self.mark = mark
        self.confidence = confidence
        self.now = now
        self.realizedVolatility = realizedVolatility
        self.smiles = smiles
    }
}

/// Each instrument's value change per whole base unit in every scenario, computed once
/// per tick per underlying (docs/OPTIONS.md §7.3–7.4) and shared by every portfolio on it.
/// Instrument 0 is the perpetual; instrument i + 1 is `series[i]`.
public struct RiskArrays: Sendable {
    public let mark: Int64
    public let confidence: Int64
    public let scanRangeBps: Int64
    public let scenarios: [Scenario]
    public let series: [OptionSeries]
    /// D[instrument × scenarios.count + s] = V_s − V_0, integer micro-units per whole
    /// base unit; V = the price rounded down.
    public let valueChanges: [Int64]
    /// max_s |D[instrument × scenarios.count + s]| per instrument: a portfolio's
    /// Σ |size| × this bounds every |A_s| of docs/OPTIONS.md §7.5, which lets
    /// `PortfolioMargin.evaluate` sum in 64 bits when the bound fits (same integers).
    public let maxAbsChanges: [UInt64]
    /// Black-76 delta at the current state per instrument (the perpetual's is 1).
    public let deltas: [Fixed]
    /// Black-76 price and Greeks at the current state per instrument; the perpetual's are
    /// price F, delta 1, and gamma, vega, theta 0.
    public let greeks: [OptionGreeks]
    /// The implied volatility σ(K) of §7.4 per instrument at the current mark (the
    /// perpetual's is 0).
    public let volatilities: [Fixed]

    public init(state: UnderlyingState, series: [OptionSeries], config: MarginConfig) throws(OptionsError) {
        try config.validate()
        let f = state.mark
        guard f >= 1, f <= Black76.maxPrice else { throw .priceOutOfRange(f) }
        guard state.confidence >= 0, state.confidence <= Black76.maxPrice else {
            throw .confidenceOutOfRange(state.confidence)
        }
        guard state.realizedVolatility >= .zero, state.realizedVolatility <= Black76.maxVolatility else {
            throw .volatilityOutOfRange(state.realizedVolatility)
        }
        let r = config.scanRangeBps(volatility: state.realizedVolatility)
        let scenarios = Self.scenarios(mark: f, rangeBps: r, config: config)
        var changes = scenarios.map { $0.price - f }
        // ln of each scenario's price, once per tick rather than once per series.
        let logPrices = scenarios.map { FixedFunctions.ln(Fixed($0.price)) }
        var deltas = [Fixed.one]
        var greeks = [OptionGreeks(price: Fixed(f), delta: .one, gamma: .zero, vega: .zero, theta: .zero)]
        var volatilities = [Fixed.zero]
        changes.reserveCapacity(scenarios.count * (series.count + 1))
        for option in series {
            let time = Black76.yearFraction(now: state.now, expiry: option.expiry)
            guard let smile = state.smiles[option.expiry] else { throw .missingSmile(expiry: option.expiry) }
            try smile.validate()
            let sigma = try smile.volatility(forward: f, strike: option.strike, time: time)
            let up = min(Fixed(raw: Wide.mulDiv(sigma.raw, 10_000 + Int128(config.volUpBps), 10_000)), Black76.maxVolatility)
            let down = Fixed(raw: Wide.mulDiv(sigma.raw, 10_000 - Int128(config.volDownBps), 10_000))
            let base = try Black76.evaluate(option.kind, forward: f, strike: option.strike, volatility: sigma, time: time)
            deltas.append(base.delta)
            greeks.append(base)
            volatilities.append(sigma)
            let logStrike = FixedFunctions.ln(Fixed(option.strike))
            // √T once per series (Black-76 would take the same root in every scenario).
            let rootTime = FixedFunctions.sqrt(time)
            for (i, s) in scenarios.enumerated() {
                let vol = s.volShift == 0 ? sigma : (s.volShift > 0 ? up : down)
                let p = try Black76.compute(
                    option.kind, forward: s.price, strike: option.strike, volatility: vol, time: time, greeks: false,
                    logRatio: logPrices[i] - logStrike, rootTime: rootTime)
                changes.append(Int64(p.price.floor) - base.priceMicros)
            }
        }
        mark = f
        confidence = state.confidence
        scanRangeBps = r
        self.scenarios = scenarios
        self.series = series
        valueChanges = changes
        let count = scenarios.count
        maxAbsChanges = (0...series.count).map { i in
            changes[(i * count)..<((i + 1) * count)].reduce(UInt64(0)) { max($0, $1.magnitude) }
        }
        self.deltas = deltas
        self.greeks = greeks
        self.volatilities = volatilities
    }

    /// The grid in its normative order: j = −N...N, each with vol unchanged, up, down;
    /// then the extremes −X·N and +X·N (vol unchanged) when X > 0.
    static func scenarios(mark f: Int64, rangeBps r: Int64, config: MarginConfig) -> [Scenario] {
        let n = Int64(config.priceBuckets)
        var out: [Scenario] = []
        for j in -n...n {
            let p = movedPrice(mark: f, rangeBps: r, steps: j, buckets: n)
            for v: Int8 in [0, 1, -1] { out.append(Scenario(price: p, moveSteps: j, volShift: v, extreme: false)) }
        }
        if config.extremeMultiple > 0 {
            for j in [-config.extremeMultiple * n, config.extremeMultiple * n] {
                let p = movedPrice(mark: f, rangeBps: r, steps: j, buckets: n)
                out.append(Scenario(price: p, moveSteps: j, volShift: 0, extreme: true))
            }
        }
        return out
    }

    /// F + sign(j) × ⌈F × R × |j| / (N × 10^4)⌉ (moves round away from the mark),
    /// clamped to [1, 2^50].
    public static func movedPrice(mark f: Int64, rangeBps r: Int64, steps j: Int64, buckets n: Int64) -> Int64 {
        let magnitude = -Wide.mulDiv(-Int128(f) * Int128(r), Int128(j.magnitude), Int128(n) * 10_000)
        let p = Int128(f) + (j < 0 ? -magnitude : magnitude)
        return Int64(min(max(p, 1), Int128(Black76.maxPrice)))
    }
}
