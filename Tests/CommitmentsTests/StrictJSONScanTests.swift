import StrictJSON
import Testing
import TestSupport

/// `StrictJSON.members(named:in:)` checks what it skips exactly as `parse` checks what it
/// builds: the same texts accepted, the same error for the others, and the named members
/// equal to the parsed ones.
@Suite("Strict JSON scan (docs/COMMITMENTS.md §5.1)")
struct StrictJSONScanTests {
    static let kept = ["a", "batchIndex", "é", "k"]

    /// Scans `text` and parses it; records a disagreement. Returns the parse's error, if any.
    @discardableResult
    static func agree(_ text: [UInt8], _ note: @autoclosure () -> String = "") -> StrictJSONError? {
        let parsed = Result { () throws(StrictJSONError) in try StrictJSON.parse(text) }
        let scanned = text.withUnsafeBufferPointer { b in
            Result { () throws(StrictJSONError) in try StrictJSON.members(named: kept, in: UnsafeRawBufferPointer(b)) }
        }
        switch (parsed, scanned) {
        case (.success(.object(let members)), .success(let found?)):
            let named = members.filter { m in kept.contains { Array($0.utf8) == Array(m.name.utf8) } }
            #expect(found == named, "\(note()) \(String(decoding: text, as: UTF8.self))")
        case (.success(.object), .success(nil)):
            Issue.record("an object scanned as no object: \(note()) \(String(decoding: text, as: UTF8.self))")
        case (.success(let value), .success(let found)):
            #expect(found == nil, "a \(value.typeName) scanned as an object: \(String(decoding: text, as: UTF8.self))")
        case (.failure(let p), .failure(let s)):
            #expect(p == s, "\(note()) \(String(decoding: text, as: UTF8.self))")
            return p
        case (.success, .failure(let s)):
            Issue.record("parse accepts, scan refuses (\(s)): \(note()) \(String(decoding: text, as: UTF8.self))")
        case (.failure(let p), .success):
            Issue.record("parse refuses (\(p)), scan accepts: \(note()) \(String(decoding: text, as: UTF8.self))")
        }
        return nil
    }

    @Test func returnsTheNamedMembersInDocumentOrder() throws {
        let text = Array(#"{"k":{"x":[1,{"y":null}]},"b":[true,false,"s\"]"],"a":-7,"\u00e9":"\u00e9"}"#.utf8)
        let found = try text.withUnsafeBufferPointer { b throws(StrictJSONError) in
            try StrictJSON.members(named: ["a", "é", "k", "absent"], in: UnsafeRawBufferPointer(b))
        }
        #expect(found == [
            JSONMember(name: "k", value: .object([JSONMember(name: "x", value: .array([.integer("1"), .object([JSONMember(name: "y", value: .null)])]))])),
            JSONMember(name: "a", value: .integer("-7")),
            JSONMember(name: "é", value: .string("é")),
        ])
        #expect(Self.agree(text) == nil)
    }

    /// Names compare code unit by code unit (RFC 8259 §8.3, as Python compares them), not
    /// by Swift's canonical equivalence: `é` and `e` + U+0301 are two names.
    @Test func canonicallyEquivalentNamesAreDistinct() throws {
        for text in ["{\"\u{e9}\":1,\"e\u{301}\":2}", #"{"x":{"\u00e9":1,"e\u0301":2}}"#, #"{"é":1,"\u00e9":2}"#] {
            let error = Self.agree(Array(text.utf8))
            #expect((error?.kind == .duplicateKey) == text.hasSuffix(#"\u00e9":2}"#), "\(text)")
        }
        let value = try StrictJSON.parse(Array("{\"\u{e9}\":1,\"e\u{301}\":2}".utf8))
        guard case .object(let members) = value else { throw StrictJSONError(.syntax, path: "$", offset: 0) }
        #expect(members.map { Array($0.name.unicodeScalars) } == [["\u{e9}"], ["e", "\u{301}"]])
    }

    @Test(arguments: [#"[]"#, #"[{"a":1}]"#, #""a""#, "0", "-12", "true", " null "])
    func aValidTextThatIsNoObjectHasNoMembers(_ text: String) throws {
        let found = try Array(text.utf8).withUnsafeBufferPointer { b throws(StrictJSONError) in
            try StrictJSON.members(named: ["a"], in: UnsafeRawBufferPointer(b))
        }
        #expect(found == nil)
    }

    /// The table of StrictJSONTests and more faults, in skipped and in kept members: each
    /// is refused with the error `parse` names.
    @Test(arguments: [
        #"{"a":1,"a":1}"#, #"{"x":{"b":[1,{"c":2,"c":3}]}}"#, #"{"a b":1,"a b":2}"#, #"{"x":1,"\u0078":2}"#,
        #"{"x":6.0}"#, #"{"a":6.0}"#, #"{"x":6e0}"#, #"{"x":[1,-0]}"#, #"{"a":[1,-0]}"#, #"{"x":-0.0}"#, #"{"x":1E+2}"#,
        #"{"x":01}"#, #"{"x":+1}"#, #"{"x":Infinity}"#, #"{"x":NaN}"#, #"{"x":.5}"#, #"{"x":1.}"#, #"{"x":-}"#,
        #"{"a":1} x"#, #"{"a":1}}"#, #"{"a":1},"#, #"{"a":1"#, #"{"a" 1}"#, #"{"a":}"#, #"{,}"#, #"{"a":1,}"#, #"{a:1}"#,
        #"{"x":[1,]}"#, #"{"x":[,1]}"#, #"{"x":[1 2]}"#, #"{"x":tru}"#, #"{"x":nul}"#, #"{"x":True}"#,
        #"{"x":"\udaa4x"}"#, #"{"x":"\udc00"}"#, #"{"x":"\ud800\u0041"}"#, #"{"a":1,"a":"\ud800"}"#, #"{"\ud800":1}"#,
        #"{"x":"\x"}"#, #"{"x":"\u12G4"}"#, #"{"x":"\u12"}"#, #"{"x":"\"}"#, "{\"x\":\"tab\tin\"}", #"{"x":'s'}"#,
        // A grammar fault after a duplicate, and a duplicate after a non-canonical number.
        #"{"a":1,"a":2,"b":}"#, #"{"x":1.5,"x":2}"#, #"{"x":{"y":1,"y":2},"z":1.5}"#,
        "", " ", "{", "}", "[", "\"", "{\"a\":1}\u{0}",
    ])
    func refusesAsParseDoes(_ text: String) {
        #expect(Self.agree(Array(text.utf8)) != nil, "accepted \(text)")
    }

    @Test func tooDeepAsParseSays() {
        for depth in [63, 64, 65, 200] {
            let nested = String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1)
            let error = Self.agree(Array(#"{"x":\#(nested)}"#.utf8), "depth \(depth)")
            #expect((error?.kind == .tooDeep) == (depth > 64), "depth \(depth)")
            let objects = String(repeating: #"{"o":"#, count: depth - 1) + "1" + String(repeating: "}", count: depth - 1)
            Self.agree(Array(#"{"x":\#(objects)}"#.utf8), "objects \(depth)")
            Self.agree(Array(#"{"a":\#(objects)}"#.utf8), "kept objects \(depth)")
        }
    }

    /// An object of many members checks its names in a set: a duplicate is still found,
    /// wherever it is, and names that only share a prefix are not duplicates.
    @Test func manyMembersDuplicateAnywhere() {
        let names = (0..<40).map { "n\($0)" }
        func object(_ names: [String]) -> [UInt8] {
            Array(("{" + names.map { "\"\($0)\":\($0.count)" }.joined(separator: ",") + "}").utf8)
        }
        #expect(Self.agree(object(names)) == nil)
        #expect(Self.agree(Array(#"{"x":\#(String(decoding: object(names), as: UTF8.self))}"#.utf8)) == nil)
        for (first, second) in [(0, 1), (3, 16), (5, 17), (16, 17), (20, 39), (0, 39)] {
            var withDuplicate = names
            withDuplicate[second] = names[first]
            #expect(Self.agree(object(withDuplicate), "\(first) \(second)")?.kind == .duplicateKey)
            let nested = Array(#"{"x":[\#(String(decoding: object(withDuplicate), as: UTF8.self))]}"#.utf8)
            #expect(Self.agree(nested, "nested \(first) \(second)")?.kind == .duplicateKey)
        }
    }

    @Test func invalidUTF8Anywhere() {
        let prefix = Array(#"{"a":1,"s":""#.utf8), suffix = Array(#"","n":[1.5]}"#.utf8)
        // Overlong, surrogate, past U+10FFFF, lone continuation, truncated sequences.
        for bad: [UInt8] in [[0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80],
                             [0xf5, 0x80, 0x80, 0x80], [0x80], [0xbf], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xff]] {
            let error = Self.agree(prefix + bad + suffix, "\(bad)")
            #expect(error?.kind == .invalidUTF8, "\(bad)")
            Self.agree(prefix + bad, "\(bad) at the end")
            Self.agree(Array(#"{"x":"#.utf8) + bad + Array("}".utf8), "\(bad) outside a string")
        }
        for good: [UInt8] in [[0xc2, 0x80], [0xdf, 0xbf], [0xe0, 0xa0, 0x80], [0xed, 0x9f, 0xbf], [0xee, 0x80, 0x80],
                              [0xf0, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf]] {
            #expect(Self.agree(prefix + good + Array(#""}"#.utf8), "\(good)") == nil)
            #expect(Self.agree(Array(#"{"a":""#.utf8) + good + Array(#""}"#.utf8), "\(good)") == nil)
        }
    }

    /// Random documents (every JSON type, escapes, non-ASCII, whitespace, nesting, kept
    /// and skipped members), each also cut, spliced and altered: the scan and the parser
    /// agree on all of them.
    @Test func randomDocumentsAndTheirMutations() {
        var rng = SplitMix64(seed: 0x5CA2_2026)
        var accepted = 0, refused = 0
        var kinds = Set<StrictJSONError.Kind>()
        for round in 0..<3_000 {
            var generator = RandomJSON(rng: rng)
            let document = Array(generator.object(depth: 1, topLevel: true).utf8)
            rng = generator.rng
            #expect(Self.agree(document, "round \(round)") == nil, "round \(round)")
            for _ in 0..<6 {
                let mutated = Self.mutate(document, &rng)
                if let error = Self.agree(mutated, "round \(round) mutated") {
                    refused += 1
                    kinds.insert(error.kind)
                } else {
                    accepted += 1
                }
            }
        }
        #expect(accepted > 1_000 && refused > 5_000, "\(accepted) accepted, \(refused) refused")
        #expect(kinds == Set(StrictJSONError.Kind.allCases), "every kind of error was met: \(kinds)")
    }

    static func mutate(_ text: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var out = text
        let at = Int(rng.next() % UInt64(out.count + 1))
        let pieces: [[UInt8]] = [
            Array("\"a\":1,".utf8), Array("\"k\":2,".utf8), Array(",\"x\":0".utf8), Array("1.5".utf8), Array("-0".utf8),
            Array("e5".utf8), Array("\\u0061".utf8), Array("\\ud800".utf8), Array("\\q".utf8), [0xff], [0xc3], [0xe2, 0x82],
            Array("[".utf8), Array("]".utf8), Array("{".utf8), Array("}".utf8), Array(",".utf8), Array(":".utf8),
            Array("\"".utf8), Array("\\".utf8), Array(" ".utf8), Array("0".utf8), Array("null".utf8), [0x01],
            Array(String(repeating: "[", count: 70).utf8),
        ]
        switch rng.next() % 5 {
        case 0:
            out.insert(contentsOf: pieces[Int(rng.next() % UInt64(pieces.count))], at: at)
        case 1:
            if at < out.count { out.remove(at: at) }
        case 2:
            if at < out.count { out[at] = pieces[Int(rng.next() % UInt64(pieces.count))].first! }
        case 3:
            out = Array(out[..<at])  // a torn line
        default:
            // A member of the same name as another (the first `"` after `at` starts a name or a string).
            if let quote = out[at...].firstIndex(of: UInt8(ascii: "\"")),
                let end = out[(quote + 1)...].firstIndex(of: UInt8(ascii: "\"")),
                let brace = out[..<quote].lastIndex(of: UInt8(ascii: "{"))
            {
                out.insert(contentsOf: out[quote...end] + Array(":0,".utf8), at: brace + 1)
            }
        }
        return out
    }
}

/// A generator of valid strict JSON: canonical integers, every literal, strings with every
/// escape, surrogate pairs and raw non-ASCII, nested arrays and objects with distinct
/// names (some written with escapes), whitespace between tokens.
struct RandomJSON {
    var rng: SplitMix64

    mutating func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }

    mutating func space() -> String { ["", "", "", " ", "\n", "\t ", "\r\n  "][pick(7)] }

    mutating func value(depth: Int) -> String {
        switch pick(depth > 6 ? 4 : 6) {
        case 0: return integer()
        case 1: return ["true", "false", "null"][pick(3)]
        case 2, 3: return string(decoded: randomText())
        case 4: return array(depth: depth + 1)
        default: return object(depth: depth + 1, topLevel: false)
        }
    }

    mutating func integer() -> String {
        switch pick(4) {
        case 0: return "0"
        case 1: return String(Int64.random(in: -1_000...1_000, using: &rng))
        case 2: return String(UInt64.random(in: 0...UInt64.max, using: &rng))
        default: return "-" + String(UInt64.random(in: 1...UInt64.max, using: &rng)) + "123456789"
        }
    }

    mutating func randomText() -> String {
        let alphabet: [String] = ["a", "b", "z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{8}", "\u{c}", "\r", "\u{1}",
                                  "é", "中", "😀", "\u{7f}", "\u{ffff}", "]", "}", ","]
        return (0..<pick(8)).map { _ in alphabet[pick(alphabet.count)] }.joined()
    }

    /// `decoded` as a JSON string, each character written plainly or escaped at random.
    mutating func string(decoded: String) -> String {
        var out = "\""
        for scalar in decoded.unicodeScalars {
            let mustEscape = scalar == "\"" || scalar == "\\" || scalar.value < 0x20
            if !mustEscape && pick(4) != 0 {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "/" where pick(2) == 0: out += "\\/"
            case "\n" where pick(2) == 0: out += "\\n"
            case "\t" where pick(2) == 0: out += "\\t"
            case "\u{8}" where pick(2) == 0: out += "\\b"
            case "\u{c}" where pick(2) == 0: out += "\\f"
            case "\r" where pick(2) == 0: out += "\\r"
            default:
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16, uppercase: pick(2) == 0)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            }
        }
        return out + "\""
    }

    mutating func array(depth: Int) -> String {
        let elements = (0..<pick(5)).map { _ in space() + value(depth: depth) + space() }
        return "[" + space() + elements.joined(separator: ",") + "]"
    }

    mutating func object(depth: Int, topLevel: Bool) -> String {
        let pool = ["a", "b", "k", "é", "batchIndex", "market", "trades", "x", "a b", "\"q", "", "日本", "n1", "n2", "n3"]
        var names: [String] = []
        for _ in 0..<pick(topLevel ? 12 : 6) {
            let name = pick(5) == 0 ? randomText() : pool[pick(pool.count)]
            if !names.contains(where: { Array($0.utf8) == Array(name.utf8) }) { names.append(name) }
        }
        let members = names.map { space() + string(decoded: $0) + space() + ":" + space() + value(depth: depth) + space() }
        return space() + "{" + members.joined(separator: ",") + space() + "}" + space()
    }
}
