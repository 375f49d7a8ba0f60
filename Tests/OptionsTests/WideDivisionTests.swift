import Options
import TestSupport
import Testing

/// `Wide.divide` (algorithm D on 64-bit digits) returns what the standard library's
/// `dividingFullWidth` returns, on random operands of every size and on the cases where
/// the digit estimate needs its corrections (divisors just above a power of two, the
/// largest dividends).
@Suite struct WideDivisionTests {
    func check(_ high: UInt128, _ low: UInt128, _ m: UInt128) {
        let got = Wide.divide(high: high, low: low, by: m)
        let expected = m.dividingFullWidth((high: high, low: low))
        #expect(got.quotient == expected.quotient && got.remainder == expected.remainder, "(\(high), \(low)) / \(m)")
    }

    @Test func randomOperandsOfEverySize() {
        var rng = SplitMix64(seed: 128)
        func wide() -> UInt128 { UInt128(rng.next()) << 64 | UInt128(rng.next()) }
        for k in 0..<100_000 {
            let bits = 1 + k % 128
            let m = max(wide() >> (128 - bits), 1)
            let high = wide() % m
            check(high, wide(), m)
            check(m - 1, wide(), m)
        }
    }

    @Test func divisorsNearPowersOfTwoAndExtremeDividends() {
        var divisors: [UInt128] = [1, 2, 3, UInt128(UInt64.max), UInt128(UInt64.max) - 1, UInt128.max, UInt128.max - 1]
        for e in [63, 64, 65, 96, 126, 127] {
            let p = UInt128(1) << e
            divisors += [p, p + 1, p - 1, p + (UInt128(1) << 63), p | UInt128(UInt64.max), p + UInt128(UInt64.max) - 1]
        }
        let lows: [UInt128] = [0, 1, UInt128(UInt64.max), UInt128(UInt64.max) << 64, UInt128.max, UInt128.max - 1, UInt128(1) << 127]
        for m in divisors {
            for high in [0, 1, m / 2, m &- 2, m - 1] where high < m {
                for low in lows { check(high, low, m) }
            }
        }
    }
}
