import Foundation
import Options
import Testing

/// The probability of reaching maintenance (docs/OPTIONS.md §7.8) against mpmath within
/// its bound and bit for bit against the reference implementation, and its edge cases.
@Suite struct MarginCallTests {
    static let hour: UInt64 = 3_600_000_000_000

    @Test func matchesReferenceValues() throws {
        let cases = Vectors.document["marginCall"] as! [[String: Any]]
        #expect(cases.count == 300)
        for c in cases {
            func n(_ key: String) -> Int64 { (c[key] as! NSNumber).int64Value }
            let vol = Fixed(ratio: Int128(n("volatilityPpm")), 1_000_000)
            let horizon = UInt64(n("horizonNanos"))
            let p = try MarginCall.probability(
                buffer: Int128(n("buffer")), netDelta: Int128(n("delta")), mark: n("mark"), volatility: vol,
                horizonNanos: horizon)
            #expect(p.raw == Int128(c["exact"] as! String)!)
            // 2^-54 plus the ln error carried through 1/s: 2^-56 / s (§7.8).
            let s = vol * FixedFunctions.sqrt(Black76.yearFraction(now: 0, expiry: horizon))
            let bound = Int128(1 << 10) + Wide.mulDiv(1, Int128(1) << 72, s.raw) + 2
            #expect(distance(p.raw, Int128(c["probability"] as! String)!) <= bound, "\(c)")
        }
    }

    @Test func edgesAndMonotonicity() throws {
        func p(_ buffer: Int128, _ delta: Int128, vol: Fixed = Fixed(ratio: 8, 10)) throws -> Fixed {
            try MarginCall.probability(buffer: buffer, netDelta: delta, mark: 65_432_100_000, volatility: vol, horizonNanos: Self.hour)
        }
        #expect(try p(0, 100_000_000) == .one && p(-5, 0) == .one)
        #expect(try p(1_000, 0) == .zero && p(1_000, 100_000_000, vol: .zero) == .zero)
        // A long whose buffer exceeds its whole position's value cannot reach maintenance.
        #expect(try p(65_432_100_001, 100_000_000) == .zero)
        // An hour at 80 %: a 1 % adverse move is reached with probability ≈ 2 Φ(−1/0.85) ≈ 0.24.
        let onePercent = try p(654_321_000, 100_000_000)
        #expect(onePercent > Fixed(ratio: 23, 100) && onePercent < Fixed(ratio: 25, 100))
        // More volatility, less buffer, more delta: more likely; the sign of delta picks the side.
        #expect(try p(654_321_000, 100_000_000, vol: Fixed(2)) > onePercent)
        #expect(try p(300_000_000, 100_000_000) > onePercent)
        #expect(try p(654_321_000, 200_000_000) > onePercent)
        let short = try p(654_321_000, -100_000_000)
        // The same move up is a shorter log distance: slightly more likely for a short.
        #expect(short > onePercent && distance(short.raw, onePercent.raw) < Fixed(ratio: 1, 100).raw)
        #expect(throws: OptionsError.invalidPosition(index: 0)) { try p(1, (Int128(1) << 62) + 1) }
        #expect(throws: OptionsError.priceOutOfRange(0)) {
            try MarginCall.probability(buffer: 1, netDelta: 1, mark: 0, volatility: .one, horizonNanos: 1)
        }
    }
}
