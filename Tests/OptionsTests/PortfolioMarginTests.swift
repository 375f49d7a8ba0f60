import Engine
import Options
import TestSupport
import Testing

/// Portfolio margin against a brute-force re-evaluation written from docs/OPTIONS.md §7
/// alone, and perpetual-only portfolios against the engine's linear model.
@Suite struct PortfolioMarginTests {
    static let day: UInt64 = 86_400_000_000_000
    static let now: UInt64 = 1_000 * day
    static let mark: Int64 = 65_432_100_000
    static let smiles: [UInt64: SVIParameters] = [
        now + 7 * day: SVIParameters(nanoUnits: 2_000_000, b: 40_000_000, rho: -300_000_000, m: 0, sigma: 100_000_000),
        now + 30 * day: SVIParameters(nanoUnits: 8_000_000, b: 80_000_000, rho: -200_000_000, m: 0, sigma: 200_000_000),
    ]
    static let series: [OptionSeries] = [OptionKind.call, .put].flatMap { kind in
        [now + 7 * day, now + 30 * day].flatMap { expiry in
            [55_000_000_000, 65_000_000_000, 75_000_000_000].map { OptionSeries(kind: kind, strike: $0, expiry: expiry) }
        }
    }
    static let config = MarginConfig(
        priceBuckets: 8, minScanBps: 300, maxScanBps: 3_000, scanDeviationsMilli: 4_000, horizonNanos: day,
        volUpBps: 3_000, volDownBps: 2_000, extremeMultiple: 3, extremeCoverBps: 3_300,
        shortOptionMinimumBps: 100, initialRatioBps: 15_000)

    static func state(vol: Fixed = Fixed(ratio: 6, 10), confidence: Int64 = 20_000_000) -> UnderlyingState {
        UnderlyingState(mark: mark, confidence: confidence, now: now, realizedVolatility: vol, smiles: smiles)
    }

    /// ⌈a / d⌉ for d > 0, written out.
    static func ceil(_ a: Int128, _ d: Int128) -> Int128 { a >= 0 ? (a + d - 1) / d : -((-a) / d) }

    /// The requirement by straightforward re-evaluation: every scenario's price and
    /// volatility from the rules, every option priced afresh, no risk arrays.
    static func bruteForce(_ positions: [MarginPosition], state: UnderlyingState, config: MarginConfig) throws -> Int128 {
        let r = config.scanRangeBps(volatility: state.realizedVolatility)
        let n = Int64(config.priceBuckets)
        var moves: [(steps: Int64, vol: Int, extreme: Bool)] = []
        for j in -n...n { for v in [0, 1, -1] { moves.append((j, v, false)) } }
        if config.extremeMultiple > 0 { moves += [(-config.extremeMultiple * n, 0, true), (config.extremeMultiple * n, 0, true)] }
        let f = Int128(state.mark)
        func value(_ p: MarginPosition, price: Int64, vol: Int) throws -> Int128 {
            if p.instrument == 0 { return Int128(price) }
            let s = series[p.instrument - 1]
            let t = Black76.yearFraction(now: state.now, expiry: s.expiry)
            var sigma = try state.smiles[s.expiry]!.volatility(forward: state.mark, strike: s.strike, time: t)
            if vol > 0 { sigma = min(Fixed(raw: sigma.raw * Int128(10_000 + config.volUpBps) / 10_000), Fixed(16)) }
            if vol < 0 { sigma = Fixed(raw: sigma.raw * Int128(10_000 - config.volDownBps) / 10_000) }
            return Int128(try Black76.evaluate(s.kind, forward: price, strike: s.strike, volatility: sigma, time: t).priceMicros)
        }
        var worst = Int128.min
        for m in moves {
            let shift = ceil(f * Int128(r) * Int128(m.steps.magnitude), Int128(n) * 10_000)
            let price = Int64(min(max(m.steps < 0 ? f - shift : f + shift, 1), 1 << 50))
            var total: Int128 = 0
            for p in positions {
                total += Int128(p.size) * (try value(p, price: price, vol: m.vol) - (try value(p, price: state.mark, vol: 0)))
            }
            var loss = ceil(-total, 100_000_000)
            if m.extreme { loss = ceil(loss * Int128(config.extremeCoverBps), 10_000) }
            worst = max(worst, loss)
        }
        var shortSize: Int128 = 0
        var delta: Int128 = 0
        for p in positions {
            if p.instrument > 0 && p.size < 0 { shortSize += Int128(-p.size) }
            if p.instrument == 0 { delta += Int128(p.size) << 64; continue }
            let s = series[p.instrument - 1]
            let t = Black76.yearFraction(now: state.now, expiry: s.expiry)
            let sigma = try state.smiles[s.expiry]!.volatility(forward: state.mark, strike: s.strike, time: t)
            delta += Int128(p.size) * (try Black76.evaluate(s.kind, forward: state.mark, strike: s.strike, volatility: sigma, time: t)).delta.raw
        }
        let shortMinimum = ceil(shortSize * f * Int128(config.shortOptionMinimumBps), 1_000_000_000_000)
        let deltaUnits = ceil(delta < 0 ? -delta : delta, Int128(1) << 64)
        let confidence = ceil(deltaUnits * Int128(state.confidence), 100_000_000)
        return max(worst, 0) + shortMinimum + confidence
    }

    @Test func randomPortfoliosMatchTheBruteForceReference() throws {
        let arrays = try RiskArrays(state: Self.state(), series: Self.series, config: Self.config)
        #expect(arrays.scenarios.count == Self.config.scenarioCount)
        var rng = SplitMix64(seed: 15)
        for _ in 0..<40 {
            let positions = (0..<Int(1 + rng.next() % 5)).map { _ in
                MarginPosition(instrument: Int(rng.next() % UInt64(Self.series.count + 1)),
                               size: Int64(rng.next() % 2_000_000_000) - 1_000_000_000 | 1)
            }
            let result = try PortfolioMargin.evaluate(positions, arrays: arrays, config: Self.config)
            #expect(result.maintenance == (try Self.bruteForce(positions, state: Self.state(), config: Self.config)))
            #expect(result.initial == Self.ceil(result.maintenance * 15_000, 10_000))
        }
    }

    /// §7.5 steps 1–2 written out in 128 bits: every A_s, every counted loss, the largest
    /// and the first scenario reaching it.
    static func plainWorst(_ positions: [MarginPosition], arrays: RiskArrays, config: MarginConfig) -> (Int128, Int) {
        let count = arrays.scenarios.count
        var losses: [Int128] = []
        for s in 0..<count {
            var a: Int128 = 0
            for p in positions { a += Int128(p.size) * Int128(arrays.valueChanges[p.instrument * count + s]) }
            var loss = ceil(-a, 100_000_000)
            if arrays.scenarios[s].extreme { loss = ceil(loss * Int128(config.extremeCoverBps), 10_000) }
            losses.append(loss)
        }
        let worst = losses.max()!
        return (worst, losses.firstIndex(of: worst)!)
    }

    /// `evaluate` sums in 64 bits when Σ |q| × max_s |D_s| ≤ 2^62 and in 128 bits above:
    /// both give §7.5's worst loss and first worst scenario, just below, at and above the
    /// bound, at the largest sizes, and for the empty portfolio.
    @Test func worstLossAndScenarioMatchAPlainScanOnBothSidesOfThe64BitBound() throws {
        let arrays = try RiskArrays(state: Self.state(), series: Self.series, config: Self.config)
        let limit = Int128(1) << 62
        var portfolios: [[MarginPosition]] = [[]]
        for i in 0...Self.series.count {
            let m = Int128(arrays.maxAbsChanges[i])
            #expect(m == (0..<arrays.scenarios.count).map { Int128(arrays.valueChanges[i * arrays.scenarios.count + $0].magnitude) }.max()!)
            guard m > 0 else { continue }
            for q in [limit / m - 1, limit / m, limit / m + 1, Int128(PortfolioMargin.maxSize)] {
                let size = Int64(min(q, Int128(PortfolioMargin.maxSize)))
                portfolios.append([MarginPosition(instrument: i, size: size)])
                portfolios.append([MarginPosition(instrument: i, size: -size)])
            }
        }
        var rng = SplitMix64(seed: 62)
        for _ in 0..<300 {
            portfolios.append((0..<Int(1 + rng.next() % 8)).map { _ in
                let scale = Int64(1) << (rng.next() % 48)
                return MarginPosition(instrument: Int(rng.next() % UInt64(Self.series.count + 1)),
                                      size: (Int64(rng.next() % UInt64(scale)) + 1) * (rng.next() % 2 == 0 ? 1 : -1))
            })
        }
        var below = 0, above = 0
        for positions in portfolios {
            let bound = positions.reduce(Int128(0)) { $0 + Int128($1.size.magnitude) * Int128(arrays.maxAbsChanges[$1.instrument]) }
            if bound <= limit { below += 1 } else { above += 1 }
            let r = try PortfolioMargin.evaluate(positions, arrays: arrays, config: Self.config)
            let (worst, index) = Self.plainWorst(positions, arrays: arrays, config: Self.config)
            #expect(r.worstLoss == worst && r.worstScenario == index, "\(positions)")
        }
        #expect(below > 50 && above > 50, "both paths taken: \(below) below, \(above) above")
    }

    /// §7.7 by its definition with 256-bit `Wide.mulDiv` per position, against `greeks`
    /// (two 64-bit products per Greek), for sizes from 1 to ±2^53.
    @Test func portfolioGreeksMatchTheirDefinitionAtEverySize() throws {
        let arrays = try RiskArrays(state: Self.state(), series: Self.series, config: Self.config)
        let one = Int128(1) << 64
        var rng = SplitMix64(seed: 77)
        for k in 0..<400 {
            let positions = (0..<Int(1 + rng.next() % 6)).map { _ in
                let scale = Int64(1) << (rng.next() % 54)
                let size = k < 20 ? PortfolioMargin.maxSize : Int64(rng.next() % UInt64(scale)) + 1
                return MarginPosition(instrument: Int(rng.next() % UInt64(Self.series.count + 1)),
                                      size: rng.next() % 2 == 0 ? size : -size)
            }
            var delta: Int128 = 0, gamma: Int128 = 0, vega: Int128 = 0, theta: Int128 = 0
            for p in positions {
                let g = arrays.greeks[p.instrument]
                let q = Int128(p.size)
                delta += q * g.delta.raw
                gamma += Wide.mulDiv(q, g.gamma.raw, one)
                vega += Wide.mulDiv(q, g.vega.raw, 100_000_000 * one)
                theta += Wide.mulDiv(q, g.theta.raw, 100_000_000 * one)
            }
            let got = try PortfolioMargin.greeks(positions, arrays: arrays)
            #expect([got.delta, got.gamma, got.vega, got.theta] == [delta >> 64, gamma, vega, theta], "\(positions)")
        }
    }

    @Test(arguments: [(Int64(100_000_000), Int64(500)), (-250_000_000, 500), (123_456_789, 500), (-987_654_321, 333)])
    func perpetualsAloneMatchTheEngineLinearModel(_ size: Int64, _ bps: Int64) throws {
        // R = the maintenance fraction, no extremes, no confidence: the worst move is ±R.
        var config = Self.config
        (config.minScanBps, config.maxScanBps, config.extremeMultiple) = (bps, bps, 0)
        let arrays = try RiskArrays(state: Self.state(confidence: 0), series: [], config: config)
        let pm = try PortfolioMargin.evaluate([MarginPosition(instrument: 0, size: size)], arrays: arrays, config: config)
        let linear = Margin.requirement(price: Self.mark, quantity: size, bps: bps)
        // Equal when F × R is a multiple of 10^4 (the move is a whole micro-unit); otherwise
        // the move rounds away from the mark and PM exceeds it by at most ⌈|q| / 10^8⌉ (§7.6).
        if Int128(Self.mark) * Int128(bps) % 10_000 == 0 {
            #expect(pm.maintenance == linear)
        } else {
            #expect(pm.maintenance >= linear && pm.maintenance - linear <= Self.ceil(Int128(size.magnitude), 100_000_000))
        }
    }
}
