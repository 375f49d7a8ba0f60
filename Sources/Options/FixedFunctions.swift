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
    /// `inverseOdd[n]` for n ≥ 1 (below 2^63: its high half is 0) as a 64-bit fraction, for
    /// `Wide.mulShiftFraction`; index 0 unused (0).
    @usableFromInline static let inverseOddFraction: [UInt64] = inverseOdd.enumerated().map { n, v in
        n == 0 ? 0 : UInt64(v)
    }

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
        // Read once (each access of the lazily initialized table checks its initializer).
        let c = expCoefficients
        var p = c[17]
        // p stays positive (each coefficient exceeds |r| times the tail after it) and
        // |r| ≤ ln2/2 < 2^63: `Wide.mulShiftSmallSigned` is `Wide.mulShift` for these.
        for n in stride(from: 16, through: 0, by: -1) {
            p = c[n] + Wide.mulShiftSmallSigned(p, r)
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

/// The standard normal density and distribution function on Q64 numbers, integer
/// operations only (docs/OPTIONS.md §3.4–3.5).
public enum Normal {
    /// Beyond this |x| the density is 0 (e^-128 is far below 2^-64).
    public static let pdfCutoff = Fixed(16)
    /// From this |x| on, Φ(−|x|) is taken as 0: Φ(−9) ≈ 1.13 × 10^-19 ≈ 2.1 ulp.
    public static let cdfSaturation = Fixed(9)
    /// Below this |x| the series; from it on the continued fraction.
    public static let seriesLimit = Fixed(3)
    /// Terms of the series (after the first) and of the continued fraction.
    public static let seriesTerms = 40
    public static let fractionTerms = 60

    /// φ(x) = e^(−x²/2) / √(2π): h = ⌊⌊x²⌋ / 2⌋, φ = ⌊exp(−h) × invSqrt2Pi⌋; 0 for |x| ≥ 16.
    /// Error ≤ 2^-60 absolute.
    @inlinable
    public static func pdf(_ x: Fixed) -> Fixed {
        let a = x.magnitude
        if a >= pdfCutoff { return .zero }
        let h = Fixed(raw: (a * a).raw >> 1)
        return FixedFunctions.exp(-h) * Fixed.invSqrt2Pi
    }

    /// Φ(x), the standard normal distribution function. Error ≤ 2^-56 absolute
    /// (≈ 1.4 × 10^-17). Exactly symmetric: Φ(x) + Φ(−x) = 1 in raw units, because both
    /// come from the same lower tail T = Φ(−|x|).
    @inlinable
    public static func cdf(_ x: Fixed) -> Fixed {
        let t = lowerTail(x.magnitude)
        return x.raw >= 0 ? Fixed.one - t : t
    }

    /// T(a) = Φ(−a) for a ≥ 0, clamped to [0, 1/2].
    ///
    /// - a ≥ 9: 0.
    /// - a < 3: Marsaglia's series Φ(a) − 1/2 = φ(a) S, S = a + a³/3 + a⁵/(3·5) + …:
    ///   t₀ = a, tₙ = ⌊⌊tₙ₋₁ × y⌋ × inverseOdd[n]⌋ with y = ⌊a²⌋, n = 1...40 (stopping
    ///   early once a term is 0, which changes nothing); T = 1/2 − ⌊φ(a) × S⌋.
    /// - otherwise Laplace's continued fraction for the Mills ratio,
    ///   R = 1/(a + 1/(a + 2/(a + 3/(a + …)))), evaluated backwards from f = 0:
    ///   f = ⌊k / (a + f)⌋ for k = 60...1, R = ⌊1 / (a + f)⌋; T = ⌊φ(a) × R⌋.
    @inlinable
    public static func lowerTail(_ a: Fixed) -> Fixed {
        if a >= cdfSaturation { return .zero }
        var tail: Fixed
        if a < seriesLimit {
            let y = UInt128(bitPattern: (a * a).raw)
            var term = UInt128(bitPattern: a.raw)
            var sum = term
            // Read once: each access of the lazily initialized table checks its initializer.
            let inverseOdd = FixedFunctions.inverseOddFraction
            // Every operand is ≥ 0 and small (a < 3, y < 9, t < 21, I[n] < 1/2 for n ≥ 1),
            // so each ⊗ is the floor of an unsigned product: `Wide.mulShiftSmall`, inlined,
            // the same integers as `Fixed.*` without its signs, range checks and call; the
            // product by I[n] < 2^63 in two multiplies (`Wide.mulShiftFraction`).
            for n in 1...seriesTerms {
                term = Wide.mulShiftFraction(Wide.mulShiftSmall(term, y), inverseOdd[n])
                if term == 0 { break }
                sum += term
            }
            tail = Fixed.half - pdf(a) * Fixed(raw: Int128(bitPattern: sum))
        } else {
            var f = Fixed.zero
            for k in stride(from: fractionTerms, through: 1, by: -1) {
                f = Fixed(Int64(k)) / (a + f)
            }
            tail = pdf(a) * (Fixed.one / (a + f))
        }
        return min(max(tail, .zero), .half)
    }
}
