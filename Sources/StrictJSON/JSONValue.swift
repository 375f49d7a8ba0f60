/// A JSON document read strictly (docs/COMMITMENTS.md §5.1): objects keep their members
/// in document order and never hold two members of one name; numbers are integers in
/// canonical decimal form. A pure module with no dependencies, so that the enclave's
/// trusted computing base may link it and every reader of untrusted JSON can share it.
public indirect enum JSONValue: Equatable, Sendable {
    /// Members in document order; names are unique.
    case object([JSONMember])
    case array([JSONValue])
    case string(String)
    /// Canonical decimal text: `-?(0|[1-9][0-9]*)`, never `-0`. Kept as text so that no
    /// range is assumed here; the reader converts it to the type the field has.
    case integer(String)
    case bool(Bool)
    case null

    /// The JSON type's name, for errors: `object`, `array`, `string`, `integer`, `boolean`, `null`.
    public var typeName: String {
        switch self {
        case .object: "object"
        case .array: "array"
        case .string: "string"
        case .integer: "integer"
        case .bool: "boolean"
        case .null: "null"
        }
    }
}

/// One member of a JSON object.
public struct JSONMember: Equatable, Sendable {
    public var name: String
    public var value: JSONValue

    public init(name: String, value: JSONValue) {
        self.name = name
        self.value = value
    }
}

/// Why a JSON text was refused, and where: `path` is the JSON path of the offending value
/// (`$`, `$.signature.r`, `$.proof[3]`), `offset` the byte offset in the text (0-based).
public struct StrictJSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The closed set of reasons; the raw values are the names docs/COMMITMENTS.md §5.1
    /// and the contract tests' vectors use.
    public enum Kind: String, Sendable, CaseIterable {
        /// Not UTF-8.
        case invalidUTF8
        /// Not RFC 8259 JSON: a stray character, a leading zero, `+`, `NaN`, an unknown
        /// escape, a control character in a string, an unterminated value.
        case syntax
        /// A complete value followed by anything but whitespace.
        case trailingData
        /// Arrays and objects nested deeper than `StrictJSON.maxDepth`.
        case tooDeep
        /// An object with two members of the same name (at the second one).
        case duplicateKey
        /// A number with a fraction or an exponent, or `-0`.
        case nonCanonicalNumber
    }

    public var kind: Kind
    public var path: String
    public var offset: Int

    public init(_ kind: Kind, path: String, offset: Int) {
        self.kind = kind
        self.path = path
        self.offset = offset
    }

    public var description: String { "\(path): \(kind.rawValue) (byte \(offset))" }
}

/// JSON path steps, rendered as docs/COMMITMENTS.md §5.1 says: `.name` for a member whose
/// name is an ASCII identifier, `["name"]` (JSON-escaped) for any other, `[i]` for an
/// array element.
public enum JSONPath {
    public static func member(_ base: String, _ name: String) -> String {
        var identifier = !name.isEmpty
        for (i, c) in name.utf8.enumerated() {
            let letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f
            let digit = c >= 0x30 && c <= 0x39
            if !(letter || (digit && i > 0)) { identifier = false }
        }
        if identifier { return base + "." + name }
        var quoted = "[\""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                quoted += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return base + quoted + "\"]"
    }

    public static func element(_ base: String, _ index: Int) -> String { base + "[\(index)]" }
}
