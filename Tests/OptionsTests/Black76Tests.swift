import Options
import TestSupport
import Testing

/// Black-76 prices and Greeks against the committed mpmath values within the bounds of
/// docs/OPTIONS.md §4.3, and the put-call parity identity.
@Suite struct Black76Tests {
    static func inputs(_ c: Vectors.Black76Case) -> (sigma: Fixed, time: Fixed) {
        (Fixed(ratio: Int128(c.volatilityPpm), 1_000_000), Black76.yearFraction(now: 0, expiry: c.nanos))
    }

    @Test func pricesAndGreeksWithinBounds() throws {
        let cases = Vectors.black76
        #expect(cases.count > 1000)
        for c in cases {
            let (sigma, time) = Self.inputs(c)
            let g = try Black76.evaluate(c.kind, forward: c.forward, strike: c.strike, volatility: sigma, time: time)
            let f = Int128(c.forward)
            let rootT = FixedFunctions.sqrt(time)
            let s = sigma * rootT
            // Price: (F + K) × 2^-56 micro-units; delta: 2^-55.
            #expect(distance(g.price.raw, c.price) <= (f + Int128(c.strike)) << 8, "price \(c)")
            #expect(distance(g.delta.raw, c.delta) <= 1 << 9, "delta \(c)")
            // Gamma: 2^-40 × 10^6 / (F s) + 2 ulp.
            let gammaScale = Wide.mulDiv(Int128(1_000_000) << 64, 1 << 64, f * s.raw)
            #expect(distance(g.gamma.raw, c.gamma) <= (gammaScale >> 40) + 2, "gamma \(c)")
            // Vega: 2^-50 × F √T + 2 ulp.
            #expect(distance(g.vega.raw, c.vega) <= ((f * rootT.raw) >> 50) + 2, "vega \(c)")
            // Theta: 2^-50 × F σ / (2 √T) + 2 ulp (the scale taken in whole units, so it
            // cannot overflow; a saturated value is expected saturated).
            let thetaScale = f * sigma.raw / (2 * rootT.raw)
            #expect(distance(g.theta.raw, c.theta) <= (thetaScale << 14) + 2, "theta \(c)")
        }
    }

    @Test func putCallParityIsExact() throws {
        var rng = SplitMix64(seed: 15)
        for _ in 0..<400 {
            let f = Int64(rng.next() % 100_000_000_000) + 1
            let k = Int64(rng.next() % 200_000_000_000) + 1
            let sigma = Fixed(ratio: Int128(rng.next() % 3_000_000), 1_000_000)
            let time = Black76.yearFraction(now: 0, expiry: rng.next() % (2 * 31_536_000_000_000_000))
            let call = try Black76.evaluate(.call, forward: f, strike: k, volatility: sigma, time: time)
            let put = try Black76.evaluate(.put, forward: f, strike: k, volatility: sigma, time: time)
            // C − P = F − K in raw units unless a negative price was clamped to 0, and then
            // within the clamp; in whole micro-units, exactly or within 1.
            if call.price.raw > 0 && put.price.raw > 0 {
                #expect(call.price.raw - put.price.raw == Int128(f - k) << 64, "F=\(f) K=\(k)")
                #expect(call.priceMicros - put.priceMicros == f - k)
            } else {
                #expect(abs(call.priceMicros - put.priceMicros - (f - k)) <= 1)
            }
            #expect(call.delta - put.delta == .one)
            #expect(call.gamma == put.gamma && call.vega == put.vega && call.theta == put.theta)
        }
    }

    @Test func pricesAreNonNegativeAndAtLeastIntrinsicWithinBound() throws {
        for c in Vectors.black76 {
            let (sigma, time) = Self.inputs(c)
            let g = try Black76.evaluate(c.kind, forward: c.forward, strike: c.strike, volatility: sigma, time: time)
            let alone = try Black76.price(c.kind, forward: c.forward, strike: c.strike, volatility: sigma, time: time)
            #expect(alone == g.price)
            let intrinsic = c.kind == .call ? max(c.forward - c.strike, 0) : max(c.strike - c.forward, 0)
            #expect(g.price.raw >= 0)
            // Time value is never negative beyond the price bound.
            #expect(g.price.raw >= (Int128(intrinsic) << 64) - ((Int128(c.forward) + Int128(c.strike)) << 8), "\(c)")
        }
    }
}
