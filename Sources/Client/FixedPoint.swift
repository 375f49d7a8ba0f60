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
}
