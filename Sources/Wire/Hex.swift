/// The project's one hex codec, for keys, hashes, nonces and addresses in JSON, configs
/// and logs of public values. Never used on secrets. Lower-case out; either case in.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Two lower-case digits a byte, no prefix.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes `bytes` as `encode` spells them (two lower-case digits a byte, no prefix) at
    /// `p`, which must have room for `2 × bytes.count`; returns that count. For writers that
    /// compose a line in place without a String per value (the batch close's decision lines).
    @inline(__always)
    public static func write(_ bytes: UnsafeRawBufferPointer, to p: UnsafeMutablePointer<UInt8>) -> Int {
        let d: StaticString = "0123456789abcdef"
        let t = d.utf8Start
        for (k, b) in bytes.enumerated() {
            p[2 * k] = t[Int(b >> 4)]
            p[2 * k + 1] = t[Int(b & 0x0f)]
        }
        return 2 * bytes.count
    }

    /// Decodes hex digits of either case after an optional `0x` (configs, command lines);
    /// nil on odd length or a non-hex character.
    public static func decode(_ string: String) -> [UInt8]? { decode(string, allowingPrefix: true) }

    /// Decodes hex digits of either case; nil on odd length or a non-hex character.
    /// A leading `0x` is skipped when `allowingPrefix` and is an error otherwise
    /// (evidence and policy fields, which carry bare digits).
    public static func decode(_ string: some StringProtocol, allowingPrefix: Bool) -> [UInt8]? {
        var utf8 = Substring(string).utf8
        if allowingPrefix, utf8.starts(with: "0x".utf8) { utf8 = utf8.dropFirst(2) }
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = utf8.startIndex
        while i != utf8.endIndex {
            let j = utf8.index(after: i)
            guard let hi = value(utf8[i]), let lo = value(utf8[j]) else { return nil }
            out.append(hi << 4 | lo)
            i = utf8.index(after: j)
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
