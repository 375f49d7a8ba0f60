import Options
import Testing

/// SVI smiles and the EWMA realized-volatility estimator (docs/OPTIONS.md §5–6).
@Suite struct VolatilityTests {
    @Test func sviVolatilityMatchesReference() throws {
        let cases = Vectors.svi
        #expect(cases.count > 100)
        for c in cases {
            try c.parameters.validate()
            let time = Black76.yearFraction(now: 0, expiry: c.nanos)
            let vol = try c.parameters.volatility(forward: c.forward, strike: c.strike, time: time)
            // 2^-50 relative plus 2^-54 absolute (§5.3).
            #expect(distance(vol.raw, c.volatility) <= (c.volatility >> 50) + (1 << 10), "\(c.strike) \(c.nanos)")
        }
    }

    @Test func sviChecksEachConditionInOrder() {
        func p(_ a: Int64, _ b: Int64, _ rho: Int64, _ m: Int64, _ sigma: Int64) -> SVIParameters {
            SVIParameters(nanoUnits: a, b: b, rho: rho, m: m, sigma: sigma)
        }
        let cases: [(SVIParameters, SVIViolation)] = [
            (p(0, -1, 0, 0, 100_000_000), .negativeSlope),
            (p(0, 100_000_000, 1_000_000_000, 0, 100_000_000), .correlationOutOfRange),
            (p(0, 100_000_000, -1_000_000_000, 0, 100_000_000), .correlationOutOfRange),
            (p(0, 100_000_000, 0, 0, 0), .nonPositiveSigma),
            // a + b σ √(1 − ρ²) = −0.02 + 0.1 × 0.1 = −0.01.
            (p(-20_000_000, 100_000_000, 0, 0, 100_000_000), .negativeMinimumVariance),
            // b (1 + |ρ|) = 1.5 × 1.5 = 2.25 > 2.
            (p(0, 1_500_000_000, 500_000_000, 0, 100_000_000), .wingTooSteep),
            (SVIParameters(a: Fixed(1 << 21), b: .zero, rho: .zero, m: .zero, sigma: .one), .parameterOutOfRange),
        ]
        for (parameters, violation) in cases {
            #expect(throws: OptionsError.invalidSVI(violation)) { try parameters.validate() }
        }
        // The boundary cases pass: minimum exactly representable at 0 and b (1 + |ρ|) = 2.
        #expect(throws: Never.self) { try p(0, 100_000_000, 0, 0, 100_000_000).validate() }
        #expect(throws: Never.self) { try p(0, 1_000_000_000, 0, 0, 100_000_000).validate() }
    }

    @Test func sviAtExpiryIsZeroAndTooHighIsRefused() throws {
        let smile = SVIParameters(nanoUnits: 40_000_000, b: 100_000_000, rho: -300_000_000, m: 0, sigma: 200_000_000)
        #expect(try smile.volatility(forward: 1_000_000, strike: 1_000_000, time: .zero) == .zero)
        // w(0) ≈ 0.06 over one second: σ ≈ 1,375 > 16.
        let second = Black76.yearFraction(now: 0, expiry: 1_000_000_000)
        #expect(throws: OptionsError.volatilityOutOfRange(Fixed(16))) {
            try smile.volatility(forward: 1_000_000, strike: 1_000_000, time: second)
        }
    }

    @Test func ewmaMatchesExactRecurrence() throws {
        for c in Vectors.ewma {
            var estimator = try RealizedVolatility(
                halfLifeNanos: c.halfLifeNanos, minIntervalNanos: c.minIntervalNanos,
                initialVariance: Fixed(raw: c.initialVariance))
            for tick in c.ticks { try estimator.update(price: tick.price, time: tick.time) }
            // n updates: n × 2^-45 (§6).
            let bound = Int128(c.ticks.count) << 19
            #expect(distance(estimator.variance.raw, c.variance) <= bound, "half-life \(c.halfLifeNanos)")
        }
    }

    @Test func ewmaDecayComposesOverIrregularSpacing() throws {
        let hour: UInt64 = 3_600_000_000_000
        func run(_ times: [UInt64]) throws -> Fixed {
            var e = try RealizedVolatility(halfLifeNanos: hour, minIntervalNanos: 1_000_000, initialVariance: Fixed.one)
            for t in times { try e.update(price: 50_000_000_000, time: t) }
            return e.variance
        }
        // Unchanged prices: the variance halves per half-life, however the ticks fall.
        let one = try run([0, hour])
        let three = try run([0, hour / 4, hour / 2 + 7, hour])
        #expect(distance(one.raw, Fixed.half.raw) <= 64)
        #expect(distance(three.raw, Fixed.half.raw) <= 64)
        #expect(try run([0, 64 * hour]) == .zero)
    }

    @Test func ewmaConvergesToTheDiffusionVariance() throws {
        // Returns of ±1 % every minute: σ² = 10^-4 × 525,600 minutes a year ≈ 52.6.
        var e = try RealizedVolatility(halfLifeNanos: 600_000_000_000, minIntervalNanos: 1_000_000, initialVariance: .zero)
        var price: Int64 = 1_000_000_000
        for i in 0...2_000 {
            price = i % 2 == 0 ? 1_000_000_000 : 1_010_000_000
            try e.update(price: price, time: UInt64(i) * 60_000_000_000)
        }
        let r = FixedFunctions.ln(Fixed(ratio: 101, 100))
        let expected = (r * r).times(525_600)
        #expect(distance(e.variance.raw, expected.raw) <= expected.raw >> 20)
    }

    @Test func ewmaRefusesBadTicksAndChangesNothing() throws {
        var e = try RealizedVolatility(halfLifeNanos: 1_000, minIntervalNanos: 1_000, initialVariance: Fixed(ratio: 1, 4))
        try e.update(price: 100, time: 10)
        try e.update(price: 200, time: 20)
        let before = e
        #expect(throws: OptionsError.outOfOrderTick(last: 20, got: 20)) { try e.update(price: 300, time: 20) }
        #expect(throws: OptionsError.outOfOrderTick(last: 20, got: 5)) { try e.update(price: 300, time: 5) }
        #expect(throws: OptionsError.priceOutOfRange(0)) { try e.update(price: 0, time: 30) }
        #expect(e == before)
        // A doubling within 10 ns annualizes over minInterval and is capped at 256.
        #expect(e.variance <= RealizedVolatility.maxVariance)
        #expect(throws: OptionsError.invalidMarginConfig("halfLifeNanos")) {
            try RealizedVolatility(halfLifeNanos: 0, minIntervalNanos: 1, initialVariance: .zero)
        }
    }
}
