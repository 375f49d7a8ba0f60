#if canImport(Glibc)
import Glibc
#endif
import Commitments
import StrictJSON

/// Why a published record could not be read (docs/COMMITMENTS.md §5.1). Every case names
/// the JSON path of the offending value (`$` for the whole line); `name` is the error's
/// name in the doc and in the shared vectors (`contracts/tests/vectors/outputs.json`).
public enum RecordError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An empty line, or one of only whitespace.
    case blankLine
    /// The file's last line does not end with a newline (a torn write).
    case missingNewline
    /// The line is not strict JSON (duplicate key, non-canonical number, syntax, …).
    case json(StrictJSONError)
    /// A member the record does not define.
    case unknownField(path: String)
    /// A member the record defines is absent.
    case missingField(path: String)
    /// A value of the wrong JSON type (`expected`: object, array, string, integer, boolean).
    case wrongType(path: String, expected: String)
    /// An integer outside its field's range, or a name or code outside its defined set.
    case outOfRange(path: String)
    /// Not `0x` followed by exactly 2n lower-case hex digits for an n-byte field.
    case badHex(path: String)
    /// An element of `haltedMarkets` not greater than the one before it.
    case notAscending(path: String)
    /// A redundant field (`side`, `reason`) disagrees with the hashed one (`isBuy`, `reasonCode`).
    case mismatch(path: String)

    /// The error's name: `blankLine`, `missingNewline`, a `StrictJSONError.Kind`, or the case name.
    public var name: String {
        switch self {
        case .blankLine: "blankLine"
        case .missingNewline: "missingNewline"
        case .json(let e): e.kind.rawValue
        case .unknownField: "unknownField"
        case .missingField: "missingField"
        case .wrongType: "wrongType"
        case .outOfRange: "outOfRange"
        case .badHex: "badHex"
        case .notAscending: "notAscending"
        case .mismatch: "mismatch"
        }
    }

    /// JSON path of the offending value.
    public var path: String {
        switch self {
        case .blankLine, .missingNewline: "$"
        case .json(let e): e.path
        case .unknownField(let p), .missingField(let p), .wrongType(let p, _), .outOfRange(let p), .badHex(let p),
            .notAscending(let p), .mismatch(let p):
            p
        }
    }

    public var description: String {
        if case .wrongType(_, let expected) = self { return "\(path): \(name) (expected \(expected))" }
        return "\(path): \(name)"
    }
}

/// A record error and the 1-based line it is on.
public struct RecordLineError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var error: RecordError

    public init(line: Int, error: RecordError) {
        self.line = line
        self.error = error
    }

    public var description: String { "line \(line): \(error)" }
}

/// JSON-lines files (`batches.jsonl`, `decisions.jsonl`): one record per line, each line
/// ended by `\n`, no blank lines.
public enum JSONLines {
    /// Parses every line with `parse`, in order. Checks per line: the record itself
    /// (`blankLine` for an empty or whitespace-only line), then `missingNewline` for an
    /// unterminated last line. An empty file holds no records. `progress`, when given, is
    /// called after each line with its number and the file's number of lines.
    public static func read<R>(
        _ bytes: [UInt8], _ parse: (ArraySlice<UInt8>) throws(RecordError) -> R,
        progress: ((_ line: Int, _ lines: Int) -> Void)? = nil
    ) -> [(line: Int, result: Result<R, RecordError>)] {
        var out: [(line: Int, result: Result<R, RecordError>)] = []
        var start = 0
        var number = 0
        let lines = progress == nil ? 0 : lineCount(bytes)
        while start < bytes.count {
            number += 1
            defer { progress?(number, lines) }
            let end = bytes[start...].firstIndex(of: 0x0a)
            let line = bytes[start..<(end ?? bytes.count)]
            do throws(RecordError) {
                let record = try parse(line)
                if end == nil { throw .missingNewline }
                out.append((number, .success(record)))
            } catch {
                out.append((number, .failure(error)))
            }
            start = (end ?? bytes.count) + 1
        }
        return out
    }

    /// Lines in `bytes`: its newlines, plus one for an unterminated last line (memchr:
    /// progress must not slow the read it reports on).
    static func lineCount(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { raw -> Int in
            guard var p = raw.baseAddress else { return 0 }
            let end = p + raw.count
            var n = 0
            while p < end, let hit = memchr(p, 0x0a, end - p) {
                n += 1
                p = UnsafeRawPointer(hit) + 1
            }
            return n + (raw.last.map { $0 == 0x0a ? 0 : 1 } ?? 0)
        }
    }

    /// The strict JSON object of one line, or the line's first error (§5.1 order).
    static func object(_ line: ArraySlice<UInt8>) throws(RecordError) -> JSONValue {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }) { throw .blankLine }
        do { return try StrictJSON.parse(line) } catch { throw .json(error) }
    }
}
