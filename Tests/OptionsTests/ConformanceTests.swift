import Foundation
import Options
import Testing

/// Bit-for-bit agreement with scripts/options_reference.py, an integer implementation
/// written from docs/OPTIONS.md alone (its outputs are committed in vectors.json): the
/// document specifies every rounding, so another implementation reproduces each result
/// exactly, not merely within the error bounds.
@Suite struct ConformanceTests {
    @Test(arguments: ["exp", "ln", "sqrt", "pdf", "cdf"])
    func functionsMatchTheReferenceExactly(_ name: String) {
        let cases = Vectors.exact(name)
        #expect(cases.count > 250)
        for (x, expected) in cases {
            let input = Fixed(raw: x)
            let got: Fixed
            switch name {
            case "exp": got = FixedFunctions.exp(input)
            case "ln": got = FixedFunctions.ln(input)
            case "sqrt": got = FixedFunctions.sqrt(input)
            case "pdf": got = Normal.pdf(input)
            default: got = Normal.cdf(input)
            }
            #expect(got.raw == expected, "\(name)(\(x))")
        }
    }

    @Test func black76MatchesTheReferenceExactly() throws {
        for c in Vectors.black76 {
            let sigma = Fixed(ratio: Int128(c.volatilityPpm), 1_000_000)
            let time = Black76.yearFraction(now: 0, expiry: c.nanos)
            let g = try Black76.evaluate(c.kind, forward: c.forward, strike: c.strike, volatility: sigma, time: time)
            #expect([g.price.raw, g.delta.raw, g.gamma.raw, g.vega.raw, g.theta.raw] == c.exact, "\(c)")
        }
    }

    @Test func sviAndEWMAMatchTheReferenceExactly() throws {
        for c in Vectors.svi {
            let time = Black76.yearFraction(now: 0, expiry: c.nanos)
            #expect(try c.parameters.volatility(forward: c.forward, strike: c.strike, time: time).raw == c.exact)
        }
        for c in Vectors.ewma {
            var e = try RealizedVolatility(
                halfLifeNanos: c.halfLifeNanos, minIntervalNanos: c.minIntervalNanos,
                initialVariance: Fixed(raw: c.initialVariance))
            for tick in c.ticks { try e.update(price: tick.price, time: tick.time) }
            #expect(e.variance.raw == c.exact)
        }
    }
}

extension ConformanceTests {
    @Test func portfolioMarginMatchesTheReferenceExactly() throws {
        let sets = Vectors.document["margin"] as! [[String: Any]]
        #expect(sets.count == 3)
        for set in sets {
            func int(_ v: Any) -> Int64 { (v as! NSNumber).int64Value }
            let c = set["config"] as! [String: Any]
            let config = MarginConfig(
                priceBuckets: Int(int(c["priceBuckets"]!)), minScanBps: int(c["minScanBps"]!),
                maxScanBps: int(c["maxScanBps"]!), scanDeviationsMilli: int(c["scanDeviationsMilli"]!),
                horizonNanos: UInt64(int(c["horizonNanos"]!)), volUpBps: int(c["volUpBps"]!),
                volDownBps: int(c["volDownBps"]!), extremeMultiple: int(c["extremeMultiple"]!),
                extremeCoverBps: int(c["extremeCoverBps"]!), shortOptionMinimumBps: int(c["shortOptionMinimumBps"]!),
                initialRatioBps: int(c["initialRatioBps"]!))
            var smiles: [UInt64: SVIParameters] = [:]
            for s in set["smiles"] as! [[NSNumber]] {
                let v = s.map(\.int64Value)
                smiles[UInt64(v[0])] = SVIParameters(nanoUnits: v[1], b: v[2], rho: v[3], m: v[4], sigma: v[5])
            }
            let series = (set["series"] as! [[Any]]).map {
                OptionSeries(kind: ($0[0] as! String) == "call" ? .call : .put, strike: int($0[1]), expiry: UInt64(int($0[2])))
            }
            let state = UnderlyingState(
                mark: int(set["mark"]!), confidence: int(set["confidence"]!), now: UInt64(int(set["now"]!)),
                realizedVolatility: Fixed(ratio: Int128(int(set["volatilityPpm"]!)), 1_000_000), smiles: smiles)
            let arrays = try RiskArrays(state: state, series: series, config: config)
            for portfolio in set["portfolios"] as! [[String: Any]] {
                let positions = (portfolio["positions"] as! [[NSNumber]]).map {
                    MarginPosition(instrument: $0[0].intValue, size: $0[1].int64Value)
                }
                let r = try PortfolioMargin.evaluate(positions, arrays: arrays, config: config)
                let got = [r.maintenance, r.initial, r.worstLoss, Int128(r.worstScenario), r.shortOptionContingency,
                           r.confidenceContingency]
                #expect(got == (portfolio["expected"] as! [String]).map { Int128($0)! }, "\(positions)")
                let g = try PortfolioMargin.greeks(positions, arrays: arrays)
                #expect([g.delta, g.gamma, g.vega, g.theta] == (portfolio["greeks"] as! [String]).map { Int128($0)! })
            }
        }
    }
}
