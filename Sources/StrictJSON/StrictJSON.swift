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
        return try text.withUnsafeBufferPointer { (buffer) throws(StrictJSONError) -> JSONValue in
            var parser = Parser(text: UnsafeRawBufferPointer(buffer))
            let value = try parser.document()
            if let first = parser.firstNonFatal { throw first }
            return value
        }
    }
}

/// The reader behind `StrictJSON.parse` (which builds every value) and
/// `StrictJSON.members(named:in:)` (which checks most values without building them:
/// StrictJSON+Scan.swift). Both modes share the lexing (Parser+Lexing.swift: numbers,
/// strings with their escapes and UTF-8, literals, whitespace) and the check of repeated
/// member names (Parser+Names.swift).
struct Parser {
    let text: UnsafeRawBufferPointer
    var at = 0
    /// The first duplicate key or non-canonical number; reported only if the grammar holds.
    var firstNonFatal: StrictJSONError?
    /// Decoded string bytes: the string being read, and the member names that had to be
    /// decoded (Parser+Names.swift).
    var scratch: [UInt8] = []
    /// The member names of the objects being read, innermost object last: the first
    /// `nameCount` elements (slots past it are reused, not removed).
    var nameStack: [Name] = []
    var nameCount = 0

    init(text: UnsafeRawBufferPointer) { self.text = text }

    mutating func document() throws(StrictJSONError) -> JSONValue {
        skipSpace()
        let value = try self.value(path: "$", depth: 1)
        skipSpace()
        guard at == text.count else { throw StrictJSONError(.trailingData, path: "$", offset: at) }
        return value
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

    mutating func object(path: String, depth: Int) throws(StrictJSONError) -> JSONValue {
        guard depth <= StrictJSON.maxDepth else { throw StrictJSONError(.tooDeep, path: path, offset: at) }
        at += 1
        var members: [JSONMember] = []
        skipSpace()
        if at < text.count, text[at] == UInt8(ascii: "}") {
            at += 1
            return .object(members)
        }
        var names = ObjectNames(scratchBase: scratch.count, stackBase: nameCount)
        while true {
            skipSpace()
            guard at < text.count, text[at] == UInt8(ascii: "\"") else { throw syntax(path) }
            let nameOffset = at
            let (decoded, repeated) = try memberName(path: path, decode: true, &names)
            let name = String(decoding: scratch[decoded.start..<(decoded.start + decoded.count)], as: UTF8.self)
            let memberPath = JSONPath.member(path, name)
            if repeated { note(.duplicateKey, memberPath, nameOffset) }
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
                end(names)
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

    mutating func number(path: String) throws(StrictJSONError) -> JSONValue {
        let start = at
        let number = try scanNumber(path: path)
        if !number.canonical { note(.nonCanonicalNumber, path, start) }
        return .integer(String(decoding: UnsafeRawBufferPointer(rebasing: text[start..<number.integerEnd]), as: UTF8.self))
    }

    mutating func string(path: String) throws(StrictJSONError) -> String {
        let start = scratch.count
        try scanString(path: path, decode: true)
        defer { scratch.removeLast(scratch.count - start) }
        return String(decoding: scratch[start...], as: UTF8.self)
    }
}
