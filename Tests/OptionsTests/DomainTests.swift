import Options
import TestSupport
import Testing

/// Every input the entry points accept is computed without a trap (an overflow inside the
/// enclave would stop the venue): random and extreme values across each documented domain
/// (docs/OPTIONS.md §4.1, §5, §7), and the largest portfolios and sizes §7.5 allows.
@Suite struct DomainTests {
    @Test func black76AcceptsItsWholeDomain() throws {
        var rng = SplitMix64(seed: 1_515)
        let prices: [Int64] = [1, 2, 999, 1_000_000, 65_432_100_000, (1 << 50) - 1, 1 << 50]
        let vols: [Fixed] = [.zero, Fixed(raw: 1), Fixed(raw: 1 << 33), Fixed(ratio: 1, 1_000), .one, Fixed(16)]
        let times: [Fixed] = [.zero, Fixed(raw: 1), Black76.yearFraction(now: 0, expiry: 1), Fixed(ratio: 1, 365), .one, Fixed(100)]
        var evaluated = 0
        for f in prices {
            for k in prices {
                for v in vols {
                    for t in times where (v * FixedFunctions.sqrt(t)) <= Fixed(16) {
                        for kind in OptionKind.allCases {
                            let g = try Black76.evaluate(kind, forward: f, strike: k, volatility: v, time: t)
                            #expect(g.price.raw >= 0 && g.gamma.raw >= 0 && g.vega.raw >= 0 && g.theta.raw <= 0)
                            evaluated += 1
                        }
                    }
                }
            }
        }
        for _ in 0..<1_500 {
            let f = Int64(rng.next() % (1 << 50)) + 1
            let k = Int64(rng.next() % (1 << 50)) + 1
            let t = Fixed(raw: Int128(rng.next() % (100 << 32)) << 32)
            let v = Fixed(raw: Int128(rng.next() % (16 << 32)) << 32)
            guard v * FixedFunctions.sqrt(t) <= Fixed(16) else { continue }
            let g = try Black76.evaluate(rng.next() % 2 == 0 ? .call : .put, forward: f, strike: k, volatility: v, time: t)
            #expect(g.price.raw >= 0)
            evaluated += 1
        }
        #expect(evaluated > 1_500)
    }

    @Test func sviAcceptsEveryValidSliceAndStrike() throws {
        var rng = SplitMix64(seed: 16)
        var checked = 0
        for _ in 0..<800 {
            func nano(_ range: Int64) -> Int64 { Int64(rng.next() % UInt64(2 * range + 1)) - range }
            let smile = SVIParameters(
                nanoUnits: nano(2_000_000_000), b: abs(nano(1_000_000_000)), rho: nano(999_999_999),
                m: nano(3_000_000_000), sigma: abs(nano(2_000_000_000)) + 1)
            guard (try? smile.validate()) != nil else { continue }
            let f = Int64(rng.next() % (1 << 50)) + 1
            let k = Int64(rng.next() % (1 << 50)) + 1
            let t = Black76.yearFraction(now: 0, expiry: rng.next() % (100 * 31_536_000_000_000_000))
            do {
                let vol = try smile.volatility(forward: f, strike: k, time: t)
                #expect(vol >= .zero && vol <= Fixed(16))
            } catch OptionsError.volatilityOutOfRange {
                // σ above 16 for this strike and time: refused by name, as documented.
            }
            checked += 1
        }
        #expect(checked > 100)
    }

    @Test(arguments: [Int64(1), 2, 65_432_100_000, 1 << 50])
    func marginAcceptsExtremeMarksConfigsAndPortfolios(_ mark: Int64) throws {
        let config = MarginConfig(
            priceBuckets: 64, minScanBps: 9_000, maxScanBps: 9_000, scanDeviationsMilli: 1_000_000,
            horizonNanos: 31_536_000_000_000_000, volUpBps: 100_000, volDownBps: 9_999, extremeMultiple: 10,
            extremeCoverBps: 10_000, shortOptionMinimumBps: 10_000, initialRatioBps: 100_000)
        let now: UInt64 = 1 << 40
        let smile = SVIParameters(nanoUnits: 10_000_000, b: 100_000_000, rho: -500_000_000, m: 0, sigma: 100_000_000)
        // One year out, so the smile stays below σ = 16 even 35 log-units from the money
        // (a smile above it at a listed strike refuses the tick, §7.4); one series expired.
        let year = now + 31_536_000_000_000_000
        let series = [OptionSeries(kind: .call, strike: 1, expiry: year),
                      OptionSeries(kind: .put, strike: 1 << 50, expiry: year),
                      OptionSeries(kind: .put, strike: mark, expiry: now)]
        let state = UnderlyingState(
            mark: mark, confidence: 1 << 50, now: now, realizedVolatility: Fixed(16), smiles: [year: smile, now: smile])
        let arrays = try RiskArrays(state: state, series: series, config: config)
        #expect(arrays.scenarios.count == config.scenarioCount && arrays.scanRangeBps == 9_000)
        // 512 positions of the largest size, all short, all long, and mixed.
        for sign: Int64 in [-1, 1, 0] {
            let positions = (0..<PortfolioMargin.maxPositions).map { i in
                MarginPosition(instrument: i % 4, size: (sign == 0 ? (i % 2 == 0 ? 1 : -1) : sign) * PortfolioMargin.maxSize)
            }
            let r = try PortfolioMargin.evaluate(positions, arrays: arrays, config: config)
            #expect(r.maintenance >= 0 && r.initial >= r.maintenance)
            _ = try PortfolioMargin.greeks(positions, arrays: arrays)
        }
        #expect(throws: OptionsError.invalidPosition(index: 512)) {
            try PortfolioMargin.evaluate(Array(repeating: MarginPosition(instrument: 0, size: 1), count: 513), arrays: arrays, config: config)
        }
    }
}
