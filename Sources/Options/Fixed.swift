/// A signed binary fixed-point number with 64 fractional bits ("Q64"): the real value is
/// `raw / 2^64`. One unit in the last place (ulp) is 2^-64 ≈ 5.42 × 10^-20; the range is
/// ±2^63 ≈ ±9.2 × 10^18. Every operation rounds toward −∞ (floor) unless its name says
/// otherwise, so results never depend on the platform (docs/OPTIONS.md §2).
///
/// Why binary and why 64 bits: multiplications then divide by a power of two (a shift),
/// not by a decimal constant; 64 fractional bits keep every function's error far below
/// one micro-unit on prices up to 2^50 micro-units; Int128 storage leaves 63 integer bits.
/// Products and quotients go through 256-bit intermediates (`Wide`), so none overflows
/// inside the documented domains.
public struct Fixed: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// The value × 2^64.
    public var raw: Int128

    @inlinable public init(raw: Int128) { self.raw = raw }

    /// An integer, exactly.
    @inlinable public init(_ integer: Int64) { raw = Int128(integer) << 64 }

    /// ⌊numerator × 2^64 / denominator⌋: a decimal input such as 800,000 ppm is
    /// `Fixed(ratio: 800_000, 1_000_000)`. `denominator` ≠ 0.
    @inlinable public init(ratio numerator: Int128, _ denominator: Int128) {
        raw = Wide.mulDiv(numerator, Int128(1) << 64, denominator)
    }

    public static let fractionBits = 64
    public static let zero = Fixed(raw: 0)
    public static let one = Fixed(raw: Int128(1) << 64)
    public static let half = Fixed(raw: Int128(1) << 63)
    /// ln 2 rounded to nearest: 12786308645202655660 / 2^64.
    public static let ln2 = Fixed(raw: 12_786_308_645_202_655_660)
    /// √2 rounded down: 26087635650665564424 / 2^64.
    public static let sqrt2 = Fixed(raw: 26_087_635_650_665_564_424)
    /// 1/√(2π) rounded to nearest: 7359186146747302452 / 2^64.
    public static let invSqrt2Pi = Fixed(raw: 7_359_186_146_747_302_452)

    @inlinable public static func < (a: Fixed, b: Fixed) -> Bool { a.raw < b.raw }
    @inlinable public static func + (a: Fixed, b: Fixed) -> Fixed { Fixed(raw: a.raw + b.raw) }
    @inlinable public static func - (a: Fixed, b: Fixed) -> Fixed { Fixed(raw: a.raw - b.raw) }
    @inlinable public static prefix func - (a: Fixed) -> Fixed { Fixed(raw: -a.raw) }
    @inlinable public static func += (a: inout Fixed, b: Fixed) { a.raw += b.raw }
    @inlinable public static func -= (a: inout Fixed, b: Fixed) { a.raw -= b.raw }

    /// ⌊a × b⌋ at 2^-64 (the exact product, then floor).
    @inlinable public static func * (a: Fixed, b: Fixed) -> Fixed { Fixed(raw: Wide.mulShift(a.raw, b.raw)) }

    /// ⌊a / b⌋ at 2^-64. `b` ≠ 0 and the quotient within range.
    @inlinable public static func / (a: Fixed, b: Fixed) -> Fixed { Fixed(raw: Wide.mulDiv(a.raw, Int128(1) << 64, b.raw)) }

    /// ⌊a × n⌋ for an integer n (exact: no rounding).
    @inlinable public func times(_ n: Int64) -> Fixed { Fixed(raw: raw * Int128(n)) }

    /// The magnitude.
    @inlinable public var magnitude: Fixed { Fixed(raw: raw < 0 ? -raw : raw) }

    /// ⌊value⌋ as an integer.
    @inlinable public var floor: Int128 { raw >> 64 }
    /// ⌈value⌉ as an integer.
    @inlinable public var ceiling: Int128 { -((-raw) >> 64) }

    /// `value × scale` rounded down (`up == false`) or up: converts a Q64 amount into an
    /// integer count of 1/scale units (scale 1 for micro-units when the value already is in
    /// micro-units). Uses the exact product, so no double rounding.
    @inlinable public func scaled(by scale: Int128, roundingUp up: Bool) -> Int128 {
        up ? -Wide.mulDiv(-raw, scale, Int128(1) << 64) : Wide.mulDiv(raw, scale, Int128(1) << 64)
    }

    /// The decimal value to 20 fractional digits, truncated toward −∞ (for messages and tests).
    public var description: String {
        let whole = raw >> 64
        let fraction = Wide.mulDiv(raw - (whole << 64), 100_000_000_000_000_000_000, Int128(1) << 64)
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: 20 - digits.count) + digits
    }
}

/// every quotient is taken of the full product, then rounded once toward −∞. A result
/// outside Int128 is a broken domain check upstream and traps.
public enum Wide {
    /// ⌊a × b / 2^64⌋.
    @inlinable @inline(__always)
    public static func mulShift(_ a: Int128, _ b: Int128) -> Int128 {
        // Four 64 × 64 products of the magnitudes' halves; the discarded low 64 bits only
        // decide whether a negative result moves one further down. Overflow-checked adds
        // trap when the result does not fit, as it never does inside the domains.
        let x = a.magnitude
        let y = b.magnitude
        let (x1, x0) = (UInt64(truncatingIfNeeded: x >> 64), UInt64(truncatingIfNeeded: x))
        let (y1, y0) = (UInt64(truncatingIfNeeded: y >> 64), UInt64(truncatingIfNeeded: y))
        let p00 = x0.multipliedFullWidth(by: y0)
        var q = UInt128(p00.high)
        if x1 != 0 || y1 != 0 {
            let p01 = x0.multipliedFullWidth(by: y1)
            let p10 = x1.multipliedFullWidth(by: y0)
            let p11 = x1.multipliedFullWidth(by: y1)
            precondition(p11.high == 0 && p11.low >> 63 == 0, "Q64 product out of range")
            q += UInt128(p01.high) << 64 | UInt128(p01.low)
            q += UInt128(p10.high) << 64 | UInt128(p10.low)
            q += UInt128(p11.low) << 64
        }
        precondition(q >> 127 == 0, "Q64 product out of range")
        // Below 2^127: the bit pattern is the value (no generic conversion check).
        let magnitude = Int128(bitPattern: q)
        if (a < 0) != (b < 0) {
            // Floor of a negative quotient: one more in magnitude when inexact.
            return -magnitude - (p00.low != 0 ? 1 : 0)
        }
        return magnitude
    }

    /// ⌊x × y / 2^64⌋ for x, y ≥ 0 whose high 64-bit halves multiply below 2^64 and whose
    /// quotient is below 2^127: `mulShift` on non-negative operands in its range (the normal
    /// CDF's series, whose operands are below 2^70), in three or four multiplies with
    /// wrapping adds (the bounds keep every sum below 2^128) and no sign handling.
    @inlinable @inline(__always)
    static func mulShiftSmall(_ x: UInt128, _ y: UInt128) -> UInt128 {
        let (x1, x0) = (UInt64(truncatingIfNeeded: x >> 64), UInt64(truncatingIfNeeded: x))
        let (y1, y0) = (UInt64(truncatingIfNeeded: y >> 64), UInt64(truncatingIfNeeded: y))
        let p00 = x0.multipliedFullWidth(by: y0)
        let p10 = x1.multipliedFullWidth(by: y0)
        let p01 = x0.multipliedFullWidth(by: y1)
        var q = UInt128(p00.high) &+ (UInt128(p10.high) << 64 | UInt128(p10.low))
        q &+= UInt128(p01.high) << 64 | UInt128(p01.low)
        q &+= UInt128(x1 &* y1) << 64
        return q
    }

    /// ⌊x × y / 2^64⌋ for x ≥ 0 with a quotient below 2^128 and 0 ≤ y < 2^64 (a fraction
    /// below 1): `mulShiftSmall` when y's high half is 0, whose two products with it
    /// (x0 × y1 and x1 × y1) are then 0, in two multiplies (the normal CDF's series
    /// multiplies every term by 1/(2n + 1) < 1/2).
    @inlinable @inline(__always)
    static func mulShiftFraction(_ x: UInt128, _ y: UInt64) -> UInt128 {
        let p00 = UInt64(truncatingIfNeeded: x).multipliedFullWidth(by: y)
        let p10 = UInt64(truncatingIfNeeded: x >> 64).multipliedFullWidth(by: y)
        return UInt128(p00.high) &+ (UInt128(p10.high) << 64 | UInt128(p10.low))
    }

    /// ⌊a × b / 2^64⌋ for 0 ≤ a < 2^127 and |b| < 2^63: `mulShift` for those operands
    /// (exp's Horner step, whose p is positive and whose |r| ≤ ln2/2), in two multiplies:
    /// a × |b| = a1 × |b| × 2^64 + a0 × |b| with a = a1 × 2^64 + a0; a negative product's
    /// floor is one further down when its low 64 bits are not 0.
    @inlinable @inline(__always)
    static func mulShiftSmallSigned(_ a: Int128, _ b: Int128) -> Int128 {
        let x = UInt128(bitPattern: a)
        let m = UInt64(truncatingIfNeeded: b < 0 ? 0 &- b : b)
        let p00 = UInt64(truncatingIfNeeded: x).multipliedFullWidth(by: m)
        let q = UInt128(UInt64(truncatingIfNeeded: x >> 64)) * UInt128(m) + UInt128(p00.high)
        precondition(q >> 127 == 0, "Q64 product out of range")
        let magnitude = Int128(bitPattern: q)
        return b < 0 ? -magnitude - (p00.low != 0 ? 1 : 0) : magnitude
    }

    /// ⌊a × b / d⌋ for d ≠ 0 (floor of the exact rational, whatever the signs).
    @inlinable
    public static func mulDiv(_ a: Int128, _ b: Int128, _ d: Int128) -> Int128 {
        precondition(d != 0, "division by zero")
        let p = a.magnitude.multipliedFullWidth(by: b.magnitude)
        let m = d.magnitude
        precondition(p.high < m, "quotient out of range")
        let (q, r) = divide(high: p.high, low: p.low, by: m)
        let top = UInt128(1) << 127
        if ((a < 0) != (b < 0)) != (d < 0) {
            // −(q + r/m): floor adds one to the magnitude when inexact.
            precondition(q < top || (q == top && r == 0), "quotient out of range")
            let magnitude = q + (r != 0 ? 1 : 0)
            return magnitude == top ? .min : -Int128(bitPattern: magnitude)
        }
        precondition(q < top, "quotient out of range")
        return Int128(bitPattern: q)
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
            let (q, _) = divide(high: high, low: low, by: x)
            let y = (x + q) >> 1
            if y >= x { return x }
            x = y
        }
    }

    /// (high × 2^128 + low) / m and its remainder, for high < m (so the quotient fits):
    /// what `m.dividingFullWidth((high, low))` returns, with the hardware's 128-by-64-bit
    /// division for each 64-bit digit (Knuth's algorithm D with two-digit divisors)
    /// instead of the generic algorithm's calls into the 128-bit division routine. Every
    /// Q64 quotient (`/`, `mulDiv`, √'s Newton step) goes through here; the normal CDF's
    /// continued fraction takes 60 of them.
    @inlinable
    public static func divide(high: UInt128, low: UInt128, by m: UInt128) -> (quotient: UInt128, remainder: UInt128) {
        precondition(high < m, "quotient out of range")
        let m1 = UInt64(truncatingIfNeeded: m >> 64)
        if m1 == 0 {
            // A one-digit divisor: high < m < 2^64, so two digit divisions.
            let m0 = UInt64(truncatingIfNeeded: m)
            let (q1, r1) = m0.dividingFullWidth((high: UInt64(truncatingIfNeeded: high), low: UInt64(truncatingIfNeeded: low >> 64)))
            let (q0, r0) = m0.dividingFullWidth((high: r1, low: UInt64(truncatingIfNeeded: low)))
            return (UInt128(q1) << 64 | UInt128(q0), UInt128(r0))
        }
        // Normalized (top bit of the divisor set), the dividend shifted alike: high < m keeps
        // its top two digits below the divisor, so each quotient digit fits in 64 bits.
        let shift = m1.leadingZeroBitCount
        let v = m << shift
        let top = shift == 0 ? high : high << shift | low >> (128 - shift)
        let bottom = low << shift
        let (v1, v0) = (UInt64(truncatingIfNeeded: v >> 64), UInt64(truncatingIfNeeded: v))
        let (q1, r1) = divideDigit(
            UInt64(truncatingIfNeeded: top >> 64), UInt64(truncatingIfNeeded: top), UInt64(truncatingIfNeeded: bottom >> 64),
            v1, v0)
        let (q0, r0) = divideDigit(
            UInt64(truncatingIfNeeded: r1 >> 64), UInt64(truncatingIfNeeded: r1), UInt64(truncatingIfNeeded: bottom), v1, v0)
        return (UInt128(q1) << 64 | UInt128(q0), r0 >> shift)
    }

    /// One step of algorithm D: the digit ⌊(a2, a1, a0) / (v1, v0)⌋ and the remainder, for
    /// (a2, a1) < (v1, v0) and v1 ≥ 2^63 (64-bit digits, most significant first).
    @inlinable
    static func divideDigit(_ a2: UInt64, _ a1: UInt64, _ a0: UInt64, _ v1: UInt64, _ v0: UInt64) -> (UInt64, UInt128) {
        // The estimate from the top digits (a2 ≤ v1); r̂ ≥ 2^64 ends the refinement.
        var q: UInt64
        var r: UInt64
        var rOverflow = false
        if a2 < v1 {
            (q, r) = v1.dividingFullWidth((high: a2, low: a1))
        } else {
            q = .max
            (r, rOverflow) = a1.addingReportingOverflow(v1)
        }
        // Knuth's test: while q̂ × v0 > r̂ × 2^64 + a0 the estimate is too large (at most
        // twice); after it, q̂ is the digit or one more.
        while !rOverflow {
            let p = q.multipliedFullWidth(by: v0)
            guard p.high > r || (p.high == r && p.low > a0) else { break }
            q -= 1
            (r, rOverflow) = r.addingReportingOverflow(v1)
        }
        func product(_ q: UInt64) -> (UInt64, UInt64, UInt64) {
            let p0 = q.multipliedFullWidth(by: v0)
            let p1 = q.multipliedFullWidth(by: v1)
            let (middle, carry) = p0.high.addingReportingOverflow(p1.low)
            return (p1.high &+ (carry ? 1 : 0), middle, p0.low)
        }
        var p = product(q)
        if (p.0, p.1, p.2) > (a2, a1, a0) {
            q -= 1
            p = product(q)
        }
        // The remainder is below the divisor (< 2^128): the low 128 bits of the difference.
        return (q, (UInt128(a1) << 64 | UInt128(a0)) &- (UInt128(p.1) << 64 | UInt128(p.2)))
    }
}
