import Options
import Testing

/// What portfolio margin must do beyond matching the reference: widen with realized
/// volatility within bounds, net perpetuals against options, count extremes at their
/// cover, and refuse bad input by name (docs/OPTIONS.md §7).
@Suite struct MarginBehaviourTests {
    typealias P = PortfolioMarginTests
    static let straddle = [MarginPosition(instrument: 2, size: -100_000_000), MarginPosition(instrument: 5, size: -100_000_000)]

    static func margin(_ positions: [MarginPosition], vol: Fixed, config: MarginConfig = P.config) throws -> MarginResult {
        let arrays = try RiskArrays(state: P.state(vol: vol), series: P.series, config: config)
        return try PortfolioMargin.evaluate(positions, arrays: arrays, config: config)
    }

    @Test func scanRangeWidensWithRealizedVolatilityWithinBounds() throws {
        // R = ⌈σ × √(1 day) × 4 × 10^4⌉ bps: σ = 0.6 gives ⌈0.6 × 0.05234 × 4 × 10^4⌉ = 1,257.
        #expect(P.config.scanRangeBps(volatility: Fixed(ratio: 6, 10)) == 1_257)
        #expect(P.config.scanRangeBps(volatility: Fixed(ratio: 1, 100)) == 300)
        #expect(P.config.scanRangeBps(volatility: Fixed(5)) == 3_000)
        var previous: Int128 = 0
        for tenths: Int128 in [1, 3, 6, 9, 12, 20, 40] {
            let m = try Self.margin(Self.straddle, vol: Fixed(ratio: tenths, 10)).maintenance
            #expect(m >= previous, "maintenance fell as volatility rose to \(tenths)/10")
            previous = m
        }
        let calm = try Self.margin(Self.straddle, vol: Fixed(ratio: 1, 10)).maintenance
        let spike = try Self.margin(Self.straddle, vol: Fixed(2)).maintenance
        #expect(spike > calm * 2)
    }

    @Test func perpetualsNetAgainstOptions() throws {
        // A short call hedged with its delta in the perpetual needs less than the call alone.
        let arrays = try RiskArrays(state: P.state(), series: P.series, config: P.config)
        let call = MarginPosition(instrument: 2, size: -1_000_000_000)
        let naked = try PortfolioMargin.evaluate([call], arrays: arrays, config: P.config)
        let hedge = Int64((arrays.deltas[2].raw * 1_000_000_000) >> 64)
        let hedged = try PortfolioMargin.evaluate(
            [call, MarginPosition(instrument: 0, size: hedge)], arrays: arrays, config: P.config)
        #expect(hedged.maintenance * 4 < naked.maintenance * 3)
        #expect(hedged.netDelta.magnitude < Fixed(1_000_000) && naked.netDelta < Fixed(-100_000_000))
        // The confidence contingency follows the net delta.
        #expect(hedged.confidenceContingency < naked.confidenceContingency)
    }

    @Test func extremeMovesCountAtTheirCover() throws {
        // A far out-of-the-money short put: the regular grid barely reaches it, the
        // extreme down move (3 R) does, at 33 %.
        var config = P.config
        (config.minScanBps, config.maxScanBps) = (1_000, 1_000)
        let put = [MarginPosition(instrument: 7 + 3, size: -100_000_000)]
        let arrays = try RiskArrays(state: P.state(), series: P.series, config: config)
        let with = try PortfolioMargin.evaluate(put, arrays: arrays, config: config)
        #expect(arrays.scenarios[with.worstScenario].extreme)
        #expect(arrays.scenarios[with.worstScenario].moveSteps == -3 * 8)
        config.extremeCoverBps = 0
        let without = try PortfolioMargin.evaluate(put, arrays: arrays, config: config)
        #expect(!arrays.scenarios[without.worstScenario].extreme && without.worstLoss < with.worstLoss)
    }

    @Test func longOptionsNeedNoMoreThanTheirPremiumAtRisk() throws {
        let arrays = try RiskArrays(state: P.state(), series: P.series, config: P.config)
        let long = try PortfolioMargin.evaluate([MarginPosition(instrument: 2, size: 100_000_000)], arrays: arrays, config: P.config)
        let t = Black76.yearFraction(now: P.now, expiry: P.series[1].expiry)
        let sigma = try P.smiles[P.series[1].expiry]!.volatility(forward: P.mark, strike: P.series[1].strike, time: t)
        let premium = try Black76.evaluate(.call, forward: P.mark, strike: P.series[1].strike, volatility: sigma, time: t)
        #expect(long.worstLoss <= Int128(premium.priceMicros) && long.shortOptionContingency == 0)
    }

    @Test func portfolioGreeksAreTheSumOfEachPositionsGreeks() throws {
        let arrays = try RiskArrays(state: P.state(), series: P.series, config: P.config)
        let positions = [
            MarginPosition(instrument: 0, size: 250_000_000), MarginPosition(instrument: 2, size: -300_000_000),
            MarginPosition(instrument: 9, size: 700_000_000), MarginPosition(instrument: 2, size: 100_000_000),
        ]
        var delta: Int128 = 0
        var vega: Int128 = 0
        for p in positions where p.instrument > 0 {
            let s = P.series[p.instrument - 1]
            let t = Black76.yearFraction(now: P.now, expiry: s.expiry)
            let sigma = try P.smiles[s.expiry]!.volatility(forward: P.mark, strike: s.strike, time: t)
            let g = try Black76.evaluate(s.kind, forward: P.mark, strike: s.strike, volatility: sigma, time: t)
            delta += Int128(p.size) * g.delta.raw
            vega += Wide.mulDiv(Int128(p.size), g.vega.raw, Int128(100_000_000) << 64)
        }
        let greeks = try PortfolioMargin.greeks(positions, arrays: arrays)
        #expect(greeks.delta == (delta + (Int128(250_000_000) << 64)) >> 64)
        #expect(greeks.vega == vega && greeks.vega > 0)
        // Offsetting positions in one series cancel: delta exactly (one rounding), the others
        // to within the per-position floor (at most one unit each, always down).
        let flat = try PortfolioMargin.greeks(
            [MarginPosition(instrument: 3, size: 5), MarginPosition(instrument: 3, size: -5)], arrays: arrays)
        #expect(flat.delta == 0)
        #expect((-2...0).contains(flat.gamma) && (-2...0).contains(flat.vega) && (-2...0).contains(flat.theta))
        #expect(throws: OptionsError.invalidPosition(index: 0)) {
            try PortfolioMargin.greeks([MarginPosition(instrument: 0, size: 0)], arrays: arrays)
        }
    }

    @Test func tiesGoToTheFirstScenario() throws {
        // A perpetual loses the same in the three volatility scenarios of its worst move:
        // the first of them (volatility unchanged) is reported. N = 8, no extreme counted.
        var config = P.config
        config.extremeCoverBps = 0
        let arrays = try RiskArrays(state: P.state(), series: P.series, config: config)
        let long = try PortfolioMargin.evaluate([MarginPosition(instrument: 0, size: 100_000_000)], arrays: arrays, config: config)
        let short = try PortfolioMargin.evaluate([MarginPosition(instrument: 0, size: -100_000_000)], arrays: arrays, config: config)
        #expect(long.worstScenario == 0 && arrays.scenarios[0].moveSteps == -8)
        #expect(short.worstScenario == 3 * 16 && arrays.scenarios[48].moveSteps == 8 && arrays.scenarios[48].volShift == 0)
        // Moves round away from the mark on both sides, so the two losses are equal.
        #expect(long.worstLoss == short.worstLoss)
    }

    @Test func refusesBadInputByName() throws {
        let arrays = try RiskArrays(state: P.state(), series: P.series, config: P.config)
        #expect(throws: OptionsError.invalidPosition(index: 1)) {
            try PortfolioMargin.evaluate([MarginPosition(instrument: 0, size: 1), MarginPosition(instrument: 0, size: 0)],
                                         arrays: arrays, config: P.config)
        }
        #expect(throws: OptionsError.invalidPosition(index: 0)) {
            try PortfolioMargin.evaluate([MarginPosition(instrument: 99, size: 1)], arrays: arrays, config: P.config)
        }
        let unknown = OptionSeries(kind: .call, strike: 1_000_000, expiry: P.now + 1)
        #expect(throws: OptionsError.missingSmile(expiry: P.now + 1)) {
            try RiskArrays(state: P.state(), series: [unknown], config: P.config)
        }
        var bad = P.config
        bad.maxScanBps = 9_001
        #expect(throws: OptionsError.invalidMarginConfig("maxScanBps")) { try bad.validate() }
        bad = P.config
        bad.initialRatioBps = 9_999
        #expect(throws: OptionsError.invalidMarginConfig("initialRatioBps")) {
            try RiskArrays(state: P.state(), series: [], config: bad)
        }
        #expect(throws: OptionsError.confidenceOutOfRange(-1)) {
            try RiskArrays(state: P.state(confidence: -1), series: [], config: P.config)
        }
    }
}
