/// Fixed-point arithmetic for the engine: Int64 values, Int128 intermediates, and the
/// rounding direction named at every call site. No floating point anywhere in state.
public enum FixedMath {
    /// Base-quantity scale: quantities are in units of 10^-8 of the base asset.
    public static let quantityScale: Int128 = 100_000_000
    /// Basis points per whole.
    public static let bps: Int128 = 10_000

    public enum Rounding: Sendable {
        /// Toward negative infinity.
        case down
        /// Toward positive infinity.
        case up
    }

    /// a × b / d with the stated rounding; d > 0. Traps on Int64 overflow of the result,
    /// which the configuration limits (prices, sizes, collateral) rule out.
    @inlinable
    public static func mulDiv(_ a: Int128, _ b: Int128, _ d: Int128, _ rounding: Rounding) -> Int128 {
        precondition(d > 0)
        let p = a * b
        // Most products (a fill's notional, a fee) fit in 64 bits, where division is one
        // instruction instead of a call into the 128-bit runtime routine.
        if let p64 = Int64(exactly: p), let d64 = Int64(exactly: d) { return Int128(divide(p64, d64, rounding)) }
        return divide(p, d, rounding)
    }

    /// p / d rounded as stated; d > 0. Swift's division truncates toward zero, so a
    /// non-zero remainder moves the quotient one step in the requested direction.
    /// Inlined, so a constant `d` becomes a multiply.
    @inlinable @inline(__always)
    static func divide<T: FixedWidthInteger & SignedInteger>(_ p: T, _ d: T, _ rounding: Rounding) -> T {
        var q = p / d
        if p % d != 0 {
            switch rounding {
            case .down: if p < 0 { q -= 1 }
            case .up: if p > 0 { q += 1 }
            }
        }
        return q
    }

    /// Quote value (micro-units) of `quantity` base units at `price`, rounded as stated.
    @inlinable @inline(__always)
    public static func notional(price: Int64, quantity: Int64, _ rounding: Rounding) -> Int128 {
        // The common case, a product that fits in 64 bits, divides in one instruction.
        let (high, low) = price.multipliedFullWidth(by: quantity)
        if high == (Int64(bitPattern: low) < 0 ? -1 : 0) {
            return Int128(divide(Int64(bitPattern: low), 100_000_000, rounding))
        }
        return mulDiv(Int128(price), Int128(quantity), quantityScale, rounding)
    }

    /// `value` × `bps` / 10,000, rounded as stated.
    @inlinable @inline(__always)
    public static func applyBps(_ value: Int128, _ bps: Int64, _ rounding: Rounding) -> Int128 {
        // A fee on a fill's notional: the product fits in 64 bits and the divisor is a
        // constant, which the compiler turns into a multiply.
        if let v = Int64(exactly: value) {
            let (p, overflow) = v.multipliedReportingOverflow(by: bps)
            if !overflow { return Int128(divide(p, 10_000, rounding)) }
        }
        return mulDiv(value, Int128(bps), Self.bps, rounding)
    }

    /// Clamps an Int128 into Int64 (saturating); for reporting values that may exceed it.
    @inlinable
    public static func saturating(_ v: Int128) -> Int64 {
        if v > Int128(Int64.max) { return .max }
        if v < Int128(Int64.min) { return .min }
        return Int64(v)
    }
}
