import Options
import Testing

/// Greeks against central finite differences of the price function (docs/OPTIONS.md
/// §4.2), and the documented edge cases: expiry, zero and huge volatility, deep in and
/// out of the money, refused inputs.
@Suite struct GreeksTests {
    static let forward: Int64 = 65_432_100_000
    static let ppm: Int128 = 1_000_000

    static func price(
        _ kind: OptionKind, f: Int64 = forward, k: Int64, sigma: Fixed, time: Fixed
    ) throws -> OptionGreeks {
        try Black76.evaluate(kind, forward: f, strike: k, volatility: sigma, time: time)
    }

    /// |a − b| ≤ relative × |b| + absolute, all Q64 raw.
    static func close(_ a: Int128, _ b: Int128, relativeShift: Int, absolute: Int128) -> Bool {
        distance(a, b) <= ((b < 0 ? -b : b) >> relativeShift) + absolute
    }

    @Test(arguments: [
        (OptionKind.call, 60_000_000_000, 500_000, 30), (.put, 60_000_000_000, 500_000, 30),
        (.call, 65_432_100_000, 800_000, 7), (.put, 70_000_000_000, 800_000, 90),
        (.call, 80_000_000_000, 1_200_000, 365), (.put, 50_000_000_000, 300_000, 180),
    ])
    func greeksMatchFiniteDifferences(_ kind: OptionKind, _ strike: Int64, _ volPpm: Int64, _ days: UInt64) throws {
        let sigma = Fixed(ratio: Int128(volPpm), Self.ppm)
        let time = Black76.yearFraction(now: 0, expiry: days * 86_400_000_000_000)
        let g = try Self.price(kind, k: strike, sigma: sigma, time: time)

        // Delta and gamma: F ± h, h = F / 10^4.
        let h = Self.forward / 10_000
        let up = try Self.price(kind, f: Self.forward + h, k: strike, sigma: sigma, time: time)
        let down = try Self.price(kind, f: Self.forward - h, k: strike, sigma: sigma, time: time)
        let fdDelta = (up.price.raw - down.price.raw) / Int128(2 * h)
        #expect(Self.close(g.delta.raw, fdDelta, relativeShift: 16, absolute: 1 << 40), "delta \(g.delta) fd")
        let fdGamma = (up.delta.raw - down.delta.raw) * 1_000_000 / Int128(2 * h)
        #expect(Self.close(g.gamma.raw, fdGamma, relativeShift: 14, absolute: 1 << 30), "gamma \(g.gamma)")

        // Vega: σ ± 10^-4.
        let dv = Fixed(ratio: 1, 10_000)
        let vUp = try Self.price(kind, k: strike, sigma: sigma + dv, time: time)
        let vDown = try Self.price(kind, k: strike, sigma: sigma - dv, time: time)
        let fdVega = (vUp.price.raw - vDown.price.raw) * 10_000 / 2
        #expect(Self.close(g.vega.raw, fdVega, relativeShift: 16, absolute: 1 << 64), "vega \(g.vega)")

        // Theta: price falls as time to expiry shrinks; T ± one hour, per year.
        let hour = Black76.yearFraction(now: 0, expiry: 3_600_000_000_000)
        let tUp = try Self.price(kind, k: strike, sigma: sigma, time: time + hour)
        let tDown = try Self.price(kind, k: strike, sigma: sigma, time: time - hour)
        let fdTheta = -Wide.mulDiv(tUp.price.raw - tDown.price.raw, 1 << 64, 2 * hour.raw)
        #expect(Self.close(g.theta.raw, fdTheta, relativeShift: 12, absolute: 1 << 64), "theta \(g.theta)")
    }

    @Test(arguments: [OptionKind.call, .put])
    func atExpiryIsIntrinsic(_ kind: OptionKind) throws {
        for (k, callDelta) in [(60_000_000_000, Fixed.one), (65_432_100_000, .half), (70_000_000_000, .zero)] {
            let g = try Self.price(kind, k: Int64(k), sigma: Fixed(1), time: .zero)
            let intrinsic = kind == .call ? max(Self.forward - Int64(k), 0) : max(Int64(k) - Self.forward, 0)
            #expect(g.price == Fixed(intrinsic))
            #expect(g.delta == (kind == .call ? callDelta : callDelta - .one))
            #expect(g.gamma == .zero && g.vega == .zero && g.theta == .zero)
        }
        // After expiry the year fraction is 0 as well.
        #expect(Black76.yearFraction(now: 10, expiry: 5) == .zero)
    }

    @Test func tinyVolatilityIsIntrinsicAndOneSecondIsNearlySo() throws {
        let tiny = Fixed(raw: 1 << 20)
        let g = try Self.price(.call, k: 60_000_000_000, sigma: tiny, time: .one)
        #expect(g.price == Fixed(5_432_100_000) && g.gamma == .zero)
        // One second to expiry at the money: F σ √T / √(2π) ≈ 65,432.1 × 0.8 × 1.78e-4 × 0.3989.
        let second = Black76.yearFraction(now: 0, expiry: 1_000_000_000)
        let atm = try Self.price(.call, k: Self.forward, sigma: Fixed(ratio: 8, 10), time: second)
        #expect((3_700_000...3_730_000).contains(atm.priceMicros), "\(atm.priceMicros)")
        #expect(distance(atm.delta.raw, Fixed.half.raw) < Fixed(ratio: 1, 10_000).raw)
    }

    @Test func hugeVolatilityAndDeepMoneyness() throws {
        // σ √T = 16: the call is worth almost the whole forward, the put almost the strike.
        let huge = try Self.price(.call, k: Self.forward, sigma: Fixed(16), time: .one)
        #expect(huge.priceMicros > Self.forward - Self.forward / 1_000_000_000 * 2)
        // Deep in the money: call = F − K to the micro-unit, put 0; deep out: both ends.
        let deep = try Self.price(.call, k: Self.forward / 1_000, sigma: Fixed(ratio: 1, 2), time: .one)
        #expect(deep.priceMicros == Self.forward - Self.forward / 1_000 || deep.priceMicros == Self.forward - Self.forward / 1_000 - 1)
        #expect(deep.delta == .one)
        let otm = try Self.price(.put, k: Self.forward / 1_000, sigma: Fixed(ratio: 1, 2), time: .one)
        #expect(otm.priceMicros == 0 && otm.delta == .zero)
    }

    @Test func refusedInputsNameTheValue() {
        #expect(throws: OptionsError.priceOutOfRange(0)) { try Self.price(.call, f: 0, k: 1, sigma: .one, time: .one) }
        #expect(throws: OptionsError.priceOutOfRange((1 << 50) + 1)) {
            try Self.price(.call, k: (1 << 50) + 1, sigma: .one, time: .one)
        }
        #expect(throws: OptionsError.volatilityOutOfRange(Fixed(-1))) {
            try Self.price(.put, k: 1, sigma: Fixed(-1), time: .one)
        }
        #expect(throws: OptionsError.timeOutOfRange(Fixed(101))) {
            try Self.price(.put, k: 1, sigma: .one, time: Fixed(101))
        }
        // σ ≤ 16 but σ √T = 20 > 16.
        #expect(throws: OptionsError.volatilityOutOfRange(Fixed(20))) {
            try Self.price(.call, k: 1, sigma: Fixed(10), time: Fixed(4))
        }
    }
}
