/// Exact 256-bit intermediates for Q64 arithmetic: every product is formed in full and
/// every quotient is taken of the full product, then rounded once toward −∞. A result
/// outside Int128 is a broken domain check upstream and traps.
public enum Wide {
    /// ⌊a × b / 2^64⌋.
    @inlinable
    public static func mulShift(_ a: Int128, _ b: Int128) -> Int128 {
        let p = a.magnitude.multipliedFullWidth(by: b.magnitude)
        // The magnitude shifted right by 64 must fit in 127 bits.
        precondition(p.high >> 63 == 0, "Q64 product out of range")
        let q = (p.high << 64) | (p.low >> 64)
        if (a < 0) != (b < 0) {
            // Floor of a negative quotient: one more in magnitude when inexact.
            let inexact = p.low & UInt128(UInt64.max) != 0
            return -Int128(q) - (inexact ? 1 : 0)
        }
        return Int128(q)
    }

    /// ⌊a × b / d⌋ for d ≠ 0 (floor of the exact rational, whatever the signs).
    @inlinable
    public static func mulDiv(_ a: Int128, _ b: Int128, _ d: Int128) -> Int128 {
        precondition(d != 0, "division by zero")
        let p = a.magnitude.multipliedFullWidth(by: b.magnitude)
        let m = d.magnitude
        precondition(p.high < m, "quotient out of range")
        let (q, r) = m.dividingFullWidth((high: p.high, low: p.low))
        let top = UInt128(1) << 127
        if ((a < 0) != (b < 0)) != (d < 0) {
            // −(q + r/m): floor adds one to the magnitude when inexact.
            precondition(q < top || (q == top && r == 0), "quotient out of range")
            let magnitude = q + (r != 0 ? 1 : 0)
            return magnitude == top ? .min : -Int128(magnitude)
        }
        precondition(q < top, "quotient out of range")
        return Int128(q)
    }

    /// ⌊√n⌋ for the 256-bit n = high × 2^128 + low, exactly (Newton's integer iteration
    /// from a power of two above the root; it decreases monotonically to the floor).
    @inlinable
    public static func isqrt(high: UInt128, low: UInt128) -> UInt128 {
        if high == 0 && low < 2 { return low }
        let bits = high != 0 ? 256 - high.leadingZeroBitCount : 128 - low.leadingZeroBitCount
        // 2^⌈bits/2⌉ ≥ √n; it is at most 2^128 only when n ≥ 2^254, outside every caller's domain.
        precondition((bits + 1) / 2 <= 126, "isqrt out of range")
        var x = UInt128(1) << ((bits + 1) / 2)
        while true {
            // n / x < 2^128 because x ≥ √n > high.
            let (q, _) = x.dividingFullWidth((high: high, low: low))
            let y = (x + q) >> 1
            if y >= x { return x }
            x = y
        }
    }
}
