import StrictJSON

/// The members of one JSON object of a known shape, with typed readers that name the
/// JSON path of whatever is wrong. Construction refuses any member not in `keys`, in
/// document order, so the first unknown key is the one reported.
struct Members {
    let path: String
    private var values: [String: JSONValue] = [:]

    init(_ value: JSONValue, _ path: String, keys: Set<String>) throws(VenueConfigParseError) {
        guard case .object(let members) = value else { throw .wrongType(path: path, expected: "an object") }
        self.path = path
        for m in members {
            guard keys.contains(m.name) else { throw .unknownKey(path: JSONPath.member(path, m.name)) }
            values[m.name] = m.value
        }
    }

    /// The value of a required member, read by `read` at its path.
    func required<T>(
        _ key: String, _ read: (JSONValue, String) throws(VenueConfigParseError) -> T
    ) throws(VenueConfigParseError) -> T {
        guard let v = values[key] else { throw .missingField(path: JSONPath.member(path, key)) }
        return try read(v, JSONPath.member(path, key))
    }

    /// The value of an optional member, or nil when it is absent (`null` is a wrong type).
    func optional<T>(
        _ key: String, _ read: (JSONValue, String) throws(VenueConfigParseError) -> T
    ) throws(VenueConfigParseError) -> T? {
        guard let v = values[key] else { return nil }
        return try read(v, JSONPath.member(path, key))
    }

    func object<T>(
        _ key: String, _ read: (JSONValue, String) throws(VenueConfigParseError) -> T
    ) throws(VenueConfigParseError) -> T { try required(key, read) }

    /// A required array member, each element read by `element` at its own path.
    func array<T>(
        _ key: String, _ element: (JSONValue, String) throws(VenueConfigParseError) -> T
    ) throws(VenueConfigParseError) -> [T] {
        try required(key) { v, p throws(VenueConfigParseError) in
            guard case .array(let items) = v else { throw .wrongType(path: p, expected: "an array") }
            var out: [T] = []
            out.reserveCapacity(items.count)
            for (i, item) in items.enumerated() { out.append(try element(item, JSONPath.element(p, i))) }
            return out
        }
    }

    func string(_ key: String) throws(VenueConfigParseError) -> String { try required(key, Self.string) }
    func u64(_ key: String) throws(VenueConfigParseError) -> UInt64 { try required(key, Self.u64) }
    func u32(_ key: String) throws(VenueConfigParseError) -> UInt32 { try required(key, Self.u32) }
    func i64(_ key: String) throws(VenueConfigParseError) -> Int64 { try required(key, Self.i64) }
    func int(_ key: String) throws(VenueConfigParseError) -> Int { try required(key, Self.int) }

    static func string(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> String {
        guard case .string(let s) = v else { throw .wrongType(path: p, expected: "a string") }
        return s
    }

    static func bool(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> Bool {
        guard case .bool(let b) = v else { throw .wrongType(path: p, expected: "a boolean") }
        return b
    }

    /// An integer field: a canonical JSON integer (StrictJSON refused the rest) in `T`'s range.
    static func integer<T: FixedWidthInteger>(
        _ v: JSONValue, _ p: String, _ expected: String
    ) throws(VenueConfigParseError) -> T {
        guard case .integer(let text) = v, let n = T(text) else { throw .wrongType(path: p, expected: expected) }
        return n
    }

    static func u64(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> UInt64 {
        try integer(v, p, "an unsigned 64-bit integer")
    }
    static func u32(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> UInt32 {
        try integer(v, p, "an unsigned 32-bit integer")
    }
    static func i64(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> Int64 {
        try integer(v, p, "a signed 64-bit integer")
    }
    static func int(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> Int {
        try integer(v, p, "a signed 64-bit integer")
    }
}
