/// exp, ln and √ on Q64 numbers with integer operations only (no libm, no floating
/// point). Each function's algorithm is specified step by step in docs/OPTIONS.md §3 so
/// that another implementation reproduces its output bit for bit; the error bounds
/// below are tested against 50-digit mpmath values (Tests/OptionsTests/Resources).
///
/// Inputs outside a function's domain are a programming error and trap: the public
/// entry points (`Black76`, `SVI`, `RealizedVolatility`, `PortfolioMargin`) check their
/// inputs and throw `OptionsError` first.
public enum FixedFunctions {
    /// Largest argument of `exp`: e^43 × 2^64 < 2^127.
    public static let expMax = Fixed(43)
    /// Below this `exp` returns 0 (e^-45 < 2^-64).
    public static let expMin = Fixed(-45)

    /// Taylor coefficients of e^r: ⌊2^64 / n!⌋, n = 0...17.
    @usableFromInline static let expCoefficients: [Int128] = {
        var c: [Int128] = []
        var factorial: Int128 = 1
        for n in 0...17 {
            if n > 0 { factorial *= Int128(n) }
            c.append((Int128(1) << 64) / factorial)
        }
        return c
    }()

    /// ⌊2^64 / (2n + 1)⌋, n = 0...60: the atanh series of `ln` and the normal CDF's series.
    @usableFromInline static let inverseOdd: [Int128] = (0...60).map { (Int128(1) << 64) / Int128(2 * $0 + 1) }

    /// e^x for x ≤ 43. Error: |exp(x) − e^x| ≤ 2^-58 × e^x + 2^-64 (docs/OPTIONS.md §3.1).
    ///
    /// x = k ln2 + r with k = ⌊(x + ⌊ln2/2⌋) / ln2⌋ (integer division on raw values, so
    /// |r| ≤ ln2/2); e^r by Horner over `expCoefficients`, each step floored; then shifted
    /// by k (a right shift floors).
    @inlinable
    public static func exp(_ x: Fixed) -> Fixed {
        precondition(x <= expMax, "exp argument above 43")
        if x < expMin { return .zero }
        let l = Fixed.ln2.raw
        let k = floorDivide(x.raw + (l >> 1), l)
        let r = x.raw - k * l
        var p = expCoefficients[17]
        for n in stride(from: 16, through: 0, by: -1) {
            p = expCoefficients[n] + Wide.mulShift(p, r)
        }
        return Fixed(raw: k >= 0 ? p << k : p >> -k)
    }

    /// ln x for x > 0. Error: |ln(x) − ln x| ≤ 2^-58 (docs/OPTIONS.md §3.2).
    ///
    /// x = m × 2^e with m in [1/√2, √2) (m = x shifted by e, a right shift flooring);
    /// s = ⌊(m − 1) / (m + 1)⌋; ln m = 2 s Σ s^(2n) / (2n + 1), n = 0...13, by Horner in
    /// z = ⌊s²⌋ over `inverseOdd`; ln x = e × ln2 + 2 × ⌊s × p⌋.
    @inlinable
    public static func ln(_ x: Fixed) -> Fixed {
        precondition(x.raw > 0, "ln of a non-positive number")
        var e = (128 - x.raw.leadingZeroBitCount) - 65
        var m = shift(x.raw, e)
        if m >= Fixed.sqrt2.raw {
            e += 1
            m = shift(x.raw, e)
        }
        let one = Fixed.one.raw
        let s = Wide.mulDiv(m - one, one, m + one)
        let z = Wide.mulShift(s, s)
        var p = inverseOdd[13]
        for n in stride(from: 12, through: 0, by: -1) {
            p = inverseOdd[n] + Wide.mulShift(p, z)
        }
        return Fixed(raw: Int128(e) * Fixed.ln2.raw + 2 * Wide.mulShift(s, p))
    }

    /// √x for x ≥ 0, rounded down exactly: raw = ⌊√(x.raw × 2^64)⌋ (error < 2^-64).
    @inlinable
    public static func sqrt(_ x: Fixed) -> Fixed {
        precondition(x.raw >= 0, "sqrt of a negative number")
        let n = UInt128(x.raw)
        return Fixed(raw: Int128(Wide.isqrt(high: n >> 64, low: n << 64)))
    }

    /// raw × 2^-e, the right shift flooring (e > 0), the left shift exact (e ≤ 0).
    @inlinable
    static func shift(_ raw: Int128, _ e: Int) -> Int128 { e >= 0 ? raw >> e : raw << -e }

    /// ⌊a / b⌋ for b > 0.
    @inlinable
    static func floorDivide(_ a: Int128, _ b: Int128) -> Int128 {
        let q = a / b
        return (a % b != 0 && a < 0) ? q - 1 : q
    }
}
