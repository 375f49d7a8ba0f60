import Options
import Testing

/// exp, ln, √, φ and Φ against the committed mpmath values, within the bounds that
/// docs/OPTIONS.md §3 states (in ulps of 2^-64; the expected values are themselves
/// rounded to nearest, hence the extra ulp in each bound).
@Suite struct FixedFunctionsTests {
    @Test func expWithinRelativeBound() {
        let vectors = Vectors.pairs("exp")
        #expect(vectors.count > 700)
        for (x, expected) in vectors {
            let got = FixedFunctions.exp(Fixed(raw: x)).raw
            // 2^-58 relative plus 2^-64 absolute, plus the reference's own rounding.
            #expect(distance(got, expected) <= (expected >> 58) + 2, "exp(\(Fixed(raw: x)))")
        }
    }

    @Test func lnWithinAbsoluteBound() {
        for (x, expected) in Vectors.pairs("ln") {
            let got = FixedFunctions.ln(Fixed(raw: x)).raw
            #expect(distance(got, expected) <= 64 + 1, "ln(\(Fixed(raw: x)))")
        }
    }

    @Test func sqrtIsTheExactFloor() {
        for (x, expected) in Vectors.pairs("sqrt") {
            let r = FixedFunctions.sqrt(Fixed(raw: x)).raw
            #expect(distance(r, expected) <= 1, "sqrt(\(Fixed(raw: x)))")
            // r² ≤ x × 2^64 < (r + 1)², in 256 bits: compare r² >> 64 with x and the remainder.
            let n = UInt128(x).multipliedFullWidth(by: 1 << 64)
            let lower = UInt128(r).multipliedFullWidth(by: UInt128(r))
            let upper = UInt128(r + 1).multipliedFullWidth(by: UInt128(r + 1))
            #expect(lower.high < n.high || (lower.high == n.high && lower.low <= n.low))
            #expect(upper.high > n.high || (upper.high == n.high && upper.low > n.low))
        }
    }

    @Test func pdfWithinAbsoluteBound() {
        for (x, expected) in Vectors.pairs("pdf") {
            let got = Normal.pdf(Fixed(raw: x)).raw
            #expect(distance(got, expected) <= 16 + 1, "pdf(\(Fixed(raw: x)))")
        }
    }

    @Test func cdfWithinAbsoluteBoundAndSymmetric() {
        let vectors = Vectors.pairs("cdf")
        #expect(vectors.count > 800)
        for (x, expected) in vectors {
            let got = Normal.cdf(Fixed(raw: x)).raw
            #expect(distance(got, expected) <= 256 + 1, "cdf(\(Fixed(raw: x)))")
            #expect(got + Normal.cdf(Fixed(raw: -x)).raw == Fixed.one.raw)
        }
    }

    @Test func cdfIsMonotone() {
        // Across both switch points (3 and 9), in steps of 2^-8, and finely around each.
        var points = (-2560...2560).map { Int128($0) << 56 }
        for c: Int64 in [-9, -3, 3, 9] {
            points += (-64...64).map { Fixed(c).raw + Int128($0) << 20 }
        }
        points.sort()
        for (a, b) in zip(points, points.dropFirst()) {
            #expect(Normal.cdf(Fixed(raw: a)) <= Normal.cdf(Fixed(raw: b)), "cdf decreased at \(Fixed(raw: b))")
        }
    }

    @Test func expEdges() {
        #expect(FixedFunctions.exp(.zero) == .one)
        #expect(FixedFunctions.exp(Fixed(raw: Fixed(-45).raw - 1)) == .zero)
        #expect(FixedFunctions.exp(Fixed(43)).raw > 0)
        #expect(FixedFunctions.ln(.one) == .zero)
    }

    @Test(arguments: [(7, 3, 2), (-7, 3, -3), (7, -3, -3), (-7, -3, 2), (6, 3, 2), (-6, 3, -2), (0, -5, 0)])
    func mulDivFloors(_ a: Int, _ b: Int, _ expected: Int) {
        #expect(Wide.mulDiv(Int128(a), 1, Int128(b)) == Int128(expected))
    }

    @Test func mulShiftFloorsNegativeProducts() {
        let third = Fixed(ratio: 1, 3)
        #expect((third * Fixed(-1)).raw == -third.raw)
        #expect(Wide.mulShift(-1, 1) == -1)
        #expect(Wide.mulShift(1, 1) == 0)
        #expect(Wide.mulShift(-(Int128(1) << 64), 5) == -5)
    }
}
