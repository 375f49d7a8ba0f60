/// True when `needle` (non-empty) occurs anywhere in `haystack`. Linear in the haystack
/// for needles whose first byte is rare: fit for scanning memory and files for a marker.
public func occurs(_ needle: [UInt8], in haystack: some RandomAccessCollection<UInt8>) -> Bool {
    guard let first = needle.first, haystack.count >= needle.count else { return false }
    var i = haystack.startIndex
    let last = haystack.index(haystack.endIndex, offsetBy: -needle.count)
    while i <= last {
        if haystack[i] == first && haystack[i..<haystack.index(i, offsetBy: needle.count)].elementsEqual(needle) {
            return true
        }
        haystack.formIndex(after: &i)
    }
    return false
}

/// 256-bit big-endian a − b, for a ≥ b (32 bytes each): group-order arithmetic in
/// signature tests (the high-s twin n − s).
public func uint256Subtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    var borrow = 0
    for i in (0..<32).reversed() {
        var d = Int(a[i]) - Int(b[i]) - borrow
        borrow = d < 0 ? 1 : 0
        if d < 0 { d += 256 }
        out[i] = UInt8(d)
    }
    return out
}

/// 256-bit big-endian a + b (32 bytes each), truncated to 32 bytes.
public func uint256Add(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    var carry = 0
    for i in (0..<32).reversed() {
        let sum = Int(a[i]) + Int(b[i]) + carry
        out[i] = UInt8(sum & 0xff)
        carry = sum >> 8
    }
    return out
}
