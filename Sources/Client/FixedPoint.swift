/// Exact decimal → fixed-point conversion for human-written amounts.
public enum FixedPoint {
    /// Price scale: quote micro-units per whole base unit.
    public static let priceDecimals = 6
    /// Quantity scale: base units of 10^-8.
    public static let quantityDecimals = 8

    /// Parses "12.345" into 12345 × 10^(decimals-3). Refuses more fractional digits than
    /// `decimals` (no silent rounding), signs other than a leading '-', and overflow.
    public static func parse(_ text: String, decimals: Int) -> Int64? {
        var s = Substring(text)
        var negative = false
        if s.hasPrefix("-") { negative = true; s = s.dropFirst() }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCII), whole.allSatisfy(\.isNumber) else {
            return nil
        }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.count <= decimals, fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        guard let w = Int64(whole) else { return nil }
        let padded = fraction + String(repeating: "0", count: decimals - fraction.count)
        let f = padded.isEmpty ? 0 : Int64(padded) ?? 0
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let (m, o1) = w.multipliedReportingOverflow(by: scale)
        let (v, o2) = m.addingReportingOverflow(f)
        guard !o1, !o2 else { return nil }
        return negative ? -v : v
    }

    /// A smile parameter of docs/SCENARIOS.md, strictly: `-?[0-9]+(\.[0-9]{1,9})?` (ASCII
    /// digits; no `+`, exponent, separator, space or bare `.`), read as an exact integer of
    /// 10⁻⁹ units that must lie in the Int64 range (`-0` is 0); nil for anything else.
    public static func parseNanoUnits(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        var i = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { i = 1 }
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        let wholeStart = i
        while i < bytes.count, isDigit(bytes[i]) { i += 1 }
        guard i > wholeStart else { return nil }
        var digits = Array(bytes[wholeStart..<i])
        var fraction = 0
        if i < bytes.count {
            guard bytes[i] == UInt8(ascii: "."), i + 1 < bytes.count else { return nil }
            i += 1
            let start = i
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
            fraction = i - start
            guard i == bytes.count, (1...9).contains(fraction) else { return nil }
            digits += bytes[start..<i]
        }
        digits += Array(repeating: UInt8(ascii: "0"), count: 9 - fraction)
        // Accumulate toward the sign so Int64.min (−9223372036.854775808) is in range.
        var v: Int64 = 0
        for d in digits {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (r, o2) = negative ? m.subtractingReportingOverflow(Int64(d - 48)) : m.addingReportingOverflow(Int64(d - 48))
            guard !o1, !o2 else { return nil }
            v = r
        }
        return v
    }
}
