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
            let y = a * a
            var term = a
            var sum = a
            for n in 1...seriesTerms {
                term = Fixed(raw: Wide.mulShift((term * y).raw, FixedFunctions.inverseOdd[n]))
                if term.raw == 0 { break }
                sum += term
            }
            tail = Fixed.half - pdf(a) * sum
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
