/// The tokens of RFC 8259 as §5.1 reads them, shared by `parse` and the scan. Each loop
/// works on a local cursor and stores `at` once (before any throw, so an error's offset is
/// where the reader stopped): the scan reads every byte of a market data line through here.
extension Parser {
    @inline(__always)
    mutating func skipSpace() {
        let n = text.count
        var i = at
        while i < n {
            let c = text[i]
            guard c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 else { break }
            i += 1
        }
        at = i
    }

    mutating func literal(_ word: StaticString, _ path: String) throws(StrictJSONError) {
        let n = word.utf8CodeUnitCount
        guard at + n <= text.count else { throw syntax(path) }
        for i in 0..<n where text[at + i] != word.utf8Start[i] { throw syntax(path) }
        at += n
    }

    /// Past the number at `at`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; only the
    /// integer part alone, and not `-0`, is canonical. A digit after a leading `0` ends the
    /// number (the caller then finds it out of place: `syntax`, or `trailingData` at the top
    /// level). Returns where the integer part ends.
    @inline(__always)
    mutating func scanNumber(path: String) throws(StrictJSONError) -> (integerEnd: Int, canonical: Bool) {
        let n = text.count
        let start = at
        var i = at
        func isDigit(_ i: Int) -> Bool { i < n && text[i] &- 0x30 < 10 }
        if text[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else {
            at = i
            throw syntax(path)
        }
        if text[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            i = digitsEnd(from: i + 1)
        }
        let integerEnd = i
        if i < n, text[i] == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else {
                at = i
                throw syntax(path)
            }
            i = digitsEnd(from: i + 1)
        }
        if i < n, text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E") {
            i += 1
            if i < n, text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else {
                at = i
                throw syntax(path)
            }
            i = digitsEnd(from: i + 1)
        }
        at = i
        let negativeZero = integerEnd - start == 2 && text[start] == UInt8(ascii: "-")
            && text[start + 1] == UInt8(ascii: "0")
        return (integerEnd, i == integerEnd && !negativeZero)
    }

    /// Past the string whose opening quote is at `at`, appending its decoded UTF-8 to
    /// `scratch` when `decode`. Checks every escape and the UTF-8 of every non-ASCII
    /// character, so a string read only to be skipped is read as strictly as one kept.
    /// Returns whether the string holds an escape (else its bytes are its UTF-8).
    @inline(__always)
    @discardableResult
    mutating func scanString(path: String, decode: Bool) throws(StrictJSONError) -> Bool {
        let n = text.count
        var i = at + 1  // past the opening quote
        var escaped = false
        while true {
            // A run of printable ASCII other than the quote and the backslash, copied at once.
            let run = i
            while i + 8 <= n {
                let k = Self.plainStringBytes(text.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += k
                if k < 8 { break }
            }
            if i + 8 > n {
                while i < n {
                    let c = text[i]
                    if c < 0x20 || c >= 0x80 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { break }
                    i += 1
                }
            }
            if decode, i > run { appendText(run..<i) }
            guard i < n else {
                at = i
                throw syntax(path)
            }
            let c = text[i]
            if c == UInt8(ascii: "\"") {
                at = i + 1
                return escaped
            }
            at = i
            if c == UInt8(ascii: "\\") {
                escaped = true
                try escape(path: path, decode: decode)
            } else if c < 0x20 {
                throw syntax(path)
            } else {
                let length = try utf8SequenceLength()
                if decode { appendText(i..<(i + length)) }
                at += length
            }
            i = at
        }
    }

    /// The end of the run of digits from `i`.
    @inline(__always)
    func digitsEnd(from i: Int) -> Int {
        let n = text.count
        var i = i
        while i + 8 <= n {
            let k = Self.digits(text.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += k
            if k < 8 { return i }
        }
        while i < n, text[i] &- 0x30 < 10 { i += 1 }
        return i
    }

    // Eight bytes at a time (SWAR, on bytes loaded little-endian): each function returns how
    // many leading bytes of `word` (in memory order) belong to the run, 8 when all do. A
    // borrow or carry between bytes only flows upward, from a byte that already ends the
    // run, so the lowest flagged byte is exact.

    /// Leading bytes that are ASCII digits.
    @inline(__always)
    static func digits(_ word: UInt64) -> Int {
        let x = UInt64(littleEndian: word)
        // High bit set: a byte ≥ 0x3a (x + 0x46), < 0x30 (x − 0x30), or ≥ 0x80 (x).
        let flags = ((x &+ 0x4646_4646_4646_4646) | (x &- 0x3030_3030_3030_3030) | x) & 0x8080_8080_8080_8080
        return flags.trailingZeroBitCount >> 3
    }

    /// Leading bytes that are printable ASCII other than `"` and `\`: what a string holds
    /// between escapes and non-ASCII characters.
    @inline(__always)
    static func plainStringBytes(_ word: UInt64) -> Int {
        let x = UInt64(littleEndian: word)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = x ^ (ones &* 0x22)
        let backslash = x ^ (ones &* 0x5c)
        // High bit set: a zero byte of `quote` or `backslash`, a byte < 0x20, or ≥ 0x80.
        let flags = ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash | (x &- ones &* 0x20) | x)
            & 0x8080_8080_8080_8080
        return flags.trailingZeroBitCount >> 3
    }

    /// Past the escape whose backslash is at `at`, appending what it stands for when `decode`.
    mutating func escape(path: String, decode: Bool) throws(StrictJSONError) {
        at += 1
        guard at < text.count else { throw syntax(path) }
        let e = text[at]
        at += 1
        let byte: UInt8
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): byte = e
        case UInt8(ascii: "b"): byte = 0x08
        case UInt8(ascii: "f"): byte = 0x0c
        case UInt8(ascii: "n"): byte = 0x0a
        case UInt8(ascii: "r"): byte = 0x0d
        case UInt8(ascii: "t"): byte = 0x09
        case UInt8(ascii: "u"):
            let scalar = try escapedScalar(path: path)
            if decode { UTF8.encode(scalar) { scratch.append($0) } }
            return
        default: throw syntax(path)
        }
        if decode { scratch.append(byte) }
    }

    /// Appends `text[range]` to `scratch`.
    mutating func appendText(_ range: Range<Int>) {
        guard let base = text.baseAddress else { return }
        (base + range.lowerBound).withMemoryRebound(to: UInt8.self, capacity: range.count) {
            scratch.append(contentsOf: UnsafeBufferPointer(start: $0, count: range.count))
        }
    }

    /// The length of the UTF-8 sequence of one non-ASCII scalar at `at`: RFC 3629 §4's
    /// well-formed sequences (no overlong form, no surrogate, nothing past U+10FFFF).
    /// Anything else is `invalidUTF8` at `$` (`parse` checks the whole text first; the
    /// scan meets non-ASCII bytes only here, as anywhere else they break the grammar).
    func utf8SequenceLength() throws(StrictJSONError) -> Int {
        func continuation(_ i: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xbf) -> Bool {
            at + i < text.count && text[at + i] >= low && text[at + i] <= high
        }
        switch text[at] {
        case 0xc2...0xdf: if continuation(1) { return 2 }
        case 0xe0: if continuation(1, 0xa0) && continuation(2) { return 3 }
        case 0xe1...0xec, 0xee...0xef: if continuation(1) && continuation(2) { return 3 }
        case 0xed: if continuation(1, 0x80, 0x9f) && continuation(2) { return 3 }
        case 0xf0: if continuation(1, 0x90) && continuation(2) && continuation(3) { return 4 }
        case 0xf1...0xf3: if continuation(1) && continuation(2) && continuation(3) { return 4 }
        case 0xf4: if continuation(1, 0x80, 0x8f) && continuation(2) && continuation(3) { return 4 }
        default: break
        }
        throw StrictJSONError(.invalidUTF8, path: "$", offset: 0)
    }

    /// The scalar of `\uXXXX` (the `\u` already read), joining a surrogate pair. A lone
    /// surrogate (a high one not followed by `\u` and a low one, or a low one alone) is
    /// no Unicode scalar and is refused as `syntax` (docs/COMMITMENTS.md §5.1).
    mutating func escapedScalar(path: String) throws(StrictJSONError) -> Unicode.Scalar {
        let high = try hex4(path: path)
        if (0xd800..<0xdc00).contains(high), at + 1 < text.count, text[at] == UInt8(ascii: "\\"),
            text[at + 1] == UInt8(ascii: "u")
        {
            at += 2
            let low = try hex4(path: path)
            guard (0xdc00..<0xe000).contains(low) else { throw syntax(path) }
            return Unicode.Scalar(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))!
        }
        guard let scalar = Unicode.Scalar(high) else { throw syntax(path) }
        return scalar
    }

    mutating func hex4(path: String) throws(StrictJSONError) -> UInt32 {
        guard at + 4 <= text.count else { throw syntax(path) }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = text[at]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw syntax(path)
            }
            v = v << 4 | d
            at += 1
        }
        return v
    }
}
