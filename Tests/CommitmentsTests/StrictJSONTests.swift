import Commitments
import OutputVerification
import StrictJSON
import Testing

@Suite("Strict JSON (docs/COMMITMENTS.md §5.1)")
struct StrictJSONTests {
    /// The same table as contracts/tests/test_vectors.py's `test_strict_json`.
    @Test(arguments: [
        (#"{"a":1,"a":1}"#, "duplicateKey", "$.a"),
        (#"{"a":{"b":[1,{"c":2,"c":3}]}}"#, "duplicateKey", "$.a.b[1].c"),
        (#"{"a b":1,"a b":2}"#, "duplicateKey", #"$["a b"]"#),
        (#"{"a":6.0}"#, "nonCanonicalNumber", "$.a"),
        (#"{"a":6e0}"#, "nonCanonicalNumber", "$.a"),
        (#"{"a":[1,-0]}"#, "nonCanonicalNumber", "$.a[1]"),
        (#"{"a":01}"#, "syntax", nil),
        (#"{"a":+1}"#, "syntax", nil),
        (#"{"a":Infinity}"#, "syntax", "$.a"),
        (#"{"a":1} x"#, "trailingData", nil),
        (String(repeating: "[", count: 65) + String(repeating: "]", count: 65), "tooDeep", nil),
        // Lone surrogates are no Unicode scalars (found by the venue-config fuzz target).
        (#"{"a":"\udaa4x"}"#, "syntax", nil),
        (#"{"a":"\udc00"}"#, "syntax", nil),
        (#"{"a":"\ud800\u0041"}"#, "syntax", nil),
        (#"{"a":1,"a":"\ud800"}"#, "syntax", nil),
        (#"{"\ud800":1}"#, "syntax", nil),
    ] as [(String, String, String?)])
    func refused(_ text: String, _ kind: String, _ path: String?) {
        do {
            _ = try StrictJSON.parse(Array(text.utf8))
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.kind.rawValue == kind, "\(text)")
            if let path { #expect(error.path == path, "\(text)") }
        }
    }

    @Test func invalidUTF8IsRefusedFirst() {
        do {
            _ = try StrictJSON.parse([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x2c, 0x7d])
            Issue.record("accepted")
        } catch {
            #expect(error.kind == .invalidUTF8 && error.path == "$")
        }
    }

    @Test func grammarErrorsComeBeforeDuplicates() throws {
        // A duplicate early and a syntax error late: the syntax error is the one named.
        do {
            _ = try StrictJSON.parse(Array(#"{"a":1,"a":2,"b":}"#.utf8))
            Issue.record("accepted")
        } catch {
            #expect(error.kind == .syntax)
        }
    }

    @Test func acceptsWhitespaceEscapesAndIntegers() throws {
        let v = try StrictJSON.parse(Array(" {\"a\" : [ 1 , -2 , 0 ], \"s\":\"\\u0041\\n\\ud83d\\ude00\"}\r\n".utf8))
        #expect(v == .object([
            JSONMember(name: "a", value: .array([.integer("1"), .integer("-2"), .integer("0")])),
            JSONMember(name: "s", value: .string("A\n😀")),
        ]))
    }

    @Test func recordErrorsNameTheirPathAndLine() {
        let results = JSONLines.read(Array("{}\n\n{\"a\":1}".utf8)) { line throws(RecordError) in
            try BatchRecord(jsonLine: line)
        }
        let errors = results.map { r -> String in
            if case .failure(let e) = r.result { return "\(r.line) \(e.name) \(e.path)" }
            return "\(r.line) ok"
        }
        #expect(errors == ["1 missingField $.accountCount", "2 blankLine $", "3 unknownField $.a"])
    }
}

@Suite("Strict records: truncation")
struct StrictRecordTruncationTests {
    /// A torn write never yields a record: every proper prefix of a valid header line is
    /// refused (a cut inside a number would otherwise read as a smaller number).
    @Test func everyPrefixOfAHeaderLineIsRefused() throws {
        let epoch = (OutputVectors.shared.root["epochs"] as! [String: Any])["base"] as! [String: String]
        let line = Array(epoch["batches"]!.split(separator: "\n")[1].utf8)
        _ = try BatchRecord(jsonLine: line)
        for n in 0..<line.count {
            #expect(throws: RecordError.self, "prefix of \(n) bytes") { try BatchRecord(jsonLine: line[..<n]) }
        }
    }
}
