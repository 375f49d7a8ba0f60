/// A strict RFC 8259 reader (docs/COMMITMENTS.md §5.1). Refuses what lenient readers
/// disagree on: a repeated member name (Foundation keeps the first, Python and
/// JavaScript the last), numbers that are not canonical integers (`6.0`, `6e0`, `-0`),
/// and anything after the value. Errors are checked in a fixed order so that every
/// implementation names the same one: invalid UTF-8 first, then grammar (`syntax`,
/// `trailingData`, `tooDeep`), then the first `duplicateKey` or `nonCanonicalNumber`
/// in document order.
public enum StrictJSON {
    /// Deepest nesting of arrays and objects accepted (the top-level value is depth 1).
    public static let maxDepth = 64

    /// Parses one JSON text. Whitespace (space, tab, CR, LF) may surround any token.
    public static func parse(_ bytes: some Collection<UInt8>) throws(StrictJSONError) -> JSONValue {
        let text = Array(bytes)
        guard String(validating: text, as: UTF8.self) != nil else { throw StrictJSONError(.invalidUTF8, path: "$", offset: 0) }
        var parser = Parser(text: text)
        let value = try parser.document()
        if let first = parser.firstNonFatal { throw first }
        return value
    }
}

private struct Parser {
    let text: [UInt8]
    var at = 0
    /// The first duplicate key or non-canonical number; reported only if the grammar holds.
    var firstNonFatal: StrictJSONError?

    init(text: [UInt8]) { self.text = text }

    mutating func document() throws(StrictJSONError) -> JSONValue {
        skipSpace()
        let value = try self.value(path: "$", depth: 1)
        skipSpace()
        guard at == text.count else { throw StrictJSONError(.trailingData, path: "$", offset: at) }
        return value
    }

    mutating func skipSpace() {
        while at < text.count, text[at] == 0x20 || text[at] == 0x09 || text[at] == 0x0a || text[at] == 0x0d { at += 1 }
    }

    func syntax(_ path: String) -> StrictJSONError { StrictJSONError(.syntax, path: path, offset: at) }

    mutating func note(_ kind: StrictJSONError.Kind, _ path: String, _ offset: Int) {
        if firstNonFatal == nil { firstNonFatal = StrictJSONError(kind, path: path, offset: offset) }
    }

    mutating func value(path: String, depth: Int) throws(StrictJSONError) -> JSONValue {
        guard at < text.count else { throw syntax(path) }
        switch text[at] {
        case UInt8(ascii: "{"): return try object(path: path, depth: depth)
        case UInt8(ascii: "["): return try array(path: path, depth: depth)
        case UInt8(ascii: "\""): return .string(try string(path: path))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number(path: path)
        case UInt8(ascii: "t"): try literal("true", path); return .bool(true)
        case UInt8(ascii: "f"): try literal("false", path); return .bool(false)
        case UInt8(ascii: "n"): try literal("null", path); return .null
        default: throw syntax(path)
        }
    }

    mutating func literal(_ word: StaticString, _ path: String) throws(StrictJSONError) {
        let n = word.utf8CodeUnitCount
        guard at + n <= text.count else { throw syntax(path) }
        for i in 0..<n where text[at + i] != word.utf8Start[i] { throw syntax(path) }
        at += n
    }

    mutating func object(path: String, depth: Int) throws(StrictJSONError) -> JSONValue {
        guard depth <= StrictJSON.maxDepth else { throw StrictJSONError(.tooDeep, path: path, offset: at) }
        at += 1
        var members: [JSONMember] = []
        var names = Set<String>()
        skipSpace()
        if at < text.count, text[at] == UInt8(ascii: "}") {
            at += 1
            return .object(members)
        }
        while true {
            skipSpace()
            guard at < text.count, text[at] == UInt8(ascii: "\"") else { throw syntax(path) }
            let nameOffset = at
            let name = try string(path: path)
            let memberPath = JSONPath.member(path, name)
            if !names.insert(name).inserted { note(.duplicateKey, memberPath, nameOffset) }
            skipSpace()
            guard at < text.count, text[at] == UInt8(ascii: ":") else { throw syntax(memberPath) }
            at += 1
            skipSpace()
            let value = try self.value(path: memberPath, depth: depth + 1)
            members.append(JSONMember(name: name, value: value))
            skipSpace()
            guard at < text.count else { throw syntax(path) }
            if text[at] == UInt8(ascii: ",") {
                at += 1
            } else if text[at] == UInt8(ascii: "}") {
                at += 1
                return .object(members)
            } else {
                throw syntax(path)
            }
        }
    }

    mutating func array(path: String, depth: Int) throws(StrictJSONError) -> JSONValue {
        guard depth <= StrictJSON.maxDepth else { throw StrictJSONError(.tooDeep, path: path, offset: at) }
        at += 1
        var elements: [JSONValue] = []
        skipSpace()
        if at < text.count, text[at] == UInt8(ascii: "]") {
            at += 1
            return .array(elements)
        }
        while true {
            skipSpace()
            elements.append(try value(path: JSONPath.element(path, elements.count), depth: depth + 1))
            skipSpace()
            guard at < text.count else { throw syntax(path) }
            if text[at] == UInt8(ascii: ",") {
                at += 1
            } else if text[at] == UInt8(ascii: "]") {
                at += 1
                return .array(elements)
            } else {
                throw syntax(path)
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; only the integer part alone, and
    /// not `-0`, is canonical. A digit after a leading `0` ends the number (the caller
    /// then finds it out of place: `syntax`, or `trailingData` at the top level).
    mutating func number(path: String) throws(StrictJSONError) -> JSONValue {
        let start = at
        func isDigit(_ i: Int) -> Bool { i < text.count && text[i] >= 0x30 && text[i] <= 0x39 }
        if text[at] == UInt8(ascii: "-") { at += 1 }
        guard isDigit(at) else { throw syntax(path) }
        if text[at] == UInt8(ascii: "0") {
            at += 1
        } else {
            while isDigit(at) { at += 1 }
        }
        let integerEnd = at
        if at < text.count, text[at] == UInt8(ascii: ".") {
            at += 1
            guard isDigit(at) else { throw syntax(path) }
            while isDigit(at) { at += 1 }
        }
        if at < text.count, text[at] == UInt8(ascii: "e") || text[at] == UInt8(ascii: "E") {
            at += 1
            if at < text.count, text[at] == UInt8(ascii: "+") || text[at] == UInt8(ascii: "-") { at += 1 }
            guard isDigit(at) else { throw syntax(path) }
            while isDigit(at) { at += 1 }
        }
        let digits = String(decoding: text[start..<integerEnd], as: UTF8.self)
        if at != integerEnd || digits == "-0" { note(.nonCanonicalNumber, path, start) }
        return .integer(digits)
    }

    mutating func string(path: String) throws(StrictJSONError) -> String {
        at += 1  // the opening quote
        var out: [UInt8] = []
        while true {
            guard at < text.count else { throw syntax(path) }
            let c = text[at]
            switch c {
            case UInt8(ascii: "\""):
                at += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                at += 1
                guard at < text.count else { throw syntax(path) }
                let e = text[at]
                at += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): appendScalar(try escapedScalar(path: path), to: &out)
                default: throw syntax(path)
                }
            case 0..<0x20: throw syntax(path)
            default:
                out.append(c)
                at += 1
            }
        }
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

    func appendScalar(_ s: Unicode.Scalar, to out: inout [UInt8]) {
        out.append(contentsOf: String(Character(s)).utf8)
    }
}
