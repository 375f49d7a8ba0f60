/// The HTTP API's route table and request-target parsing: pure, no I/O
/// (docs/openapi.yaml is the normative description; `OpenAPIAgreementTests` checks that
/// every route here is in the document with the same query parameters, and back).
public enum HTTPRoute: String, CaseIterable, Sendable {
    case root = "/"
    case venue = "/venue"
    case openAPI = "/openapi.yaml"
    case metrics = "/metrics"
    case healthz = "/healthz"
    case readyz = "/readyz"
    case batches = "/v1/batches"
    case batch = "/v1/batches/{index}"
    case decisions = "/v1/decisions"
    case inputs = "/v1/inputs"
    case funding = "/v1/funding"
    case events = "/v1/events"
    case eventProof = "/v1/events/proof"
    case marketData = "/v1/marketdata"
    case marketDataSnapshot = "/v1/marketdata/snapshot"
    case evidence = "/v1/evidence"
    case feed = "/v1/feed"

    /// Answered by a host that is not the primary (a standby): the operator's paths and
    /// the document. Every other route answers `notPrimary` there (docs/REPLICATION.md §8.1).
    public var servedByStandby: Bool {
        switch self {
        case .metrics, .healthz, .readyz, .openAPI: true
        default: false
        }
    }

    /// The path template, as in docs/openapi.yaml.
    public var template: String { rawValue }

    /// The query parameters the route takes; any other is `unknownParameter`.
    public var queryParameters: Set<String> {
        switch self {
        case .batches: ["from", "limit"]
        case .decisions, .inputs, .funding, .marketData, .events: ["batch"]
        case .eventProof: ["sequence"]
        case .marketDataSnapshot: ["market"]
        case .evidence: ["nonce"]
        case .feed: ["markets"]
        default: []
        }
    }

    /// The route of percent-decoded path `segments` (empty for `/`) and the `{index}`
    /// path parameter's text, or nil for an unknown path. Exact: no trailing slash, no
    /// empty segment.
    public static func match(_ segments: [String]) -> (route: HTTPRoute, index: String?)? {
        if segments == ["v1", "batches"] { return (.batches, nil) }
        if segments.count == 3, segments[0] == "v1", segments[1] == "batches", !segments[2].isEmpty {
            return (.batch, segments[2])
        }
        let path = "/" + segments.joined(separator: "/")
        guard let route = HTTPRoute(rawValue: path), route != .batch else { return nil }
        return (route, nil)
    }
}

/// A request target (`origin-form`, RFC 9112 §3.2.1) split into percent-decoded path
/// segments and query parameters. `+` in the query is a space (form encoding).
public struct HTTPRequestTarget: Equatable, Sendable {
    /// Decoded path segments; `/` has none, `/a/` has `["a", ""]`.
    public var segments: [String]
    /// Decoded name and value pairs in request order (duplicates kept: the route refuses them).
    public var query: [(name: String, value: String)]

    public static func == (a: Self, b: Self) -> Bool {
        a.segments == b.segments && a.query.map(\.name) == b.query.map(\.name)
            && a.query.map(\.value) == b.query.map(\.value)
    }

    /// Parses `uri`; `badRequestTarget` unless it starts with `/` and every
    /// percent-escape is well formed and decodes to UTF-8.
    public init(_ uri: String) throws(HTTPAPIError) {
        let raw = Substring(uri)
        guard raw.first == "/" else { throw .badRequestTarget }
        let pathPart = raw.prefix { $0 != "?" && $0 != "#" }
        var queryPart: Substring = ""
        if let q = raw.firstIndex(of: "?") { queryPart = raw[raw.index(after: q)...].prefix { $0 != "#" } }
        var segments: [String] = []
        for s in pathPart.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            segments.append(try Self.decode(s, plusIsSpace: false))
        }
        if segments == [""] { segments = [] }
        self.segments = segments
        var query: [(String, String)] = []
        for pair in queryPart.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query.append((try Self.decode(kv[0], plusIsSpace: true),
                          kv.count == 2 ? try Self.decode(kv[1], plusIsSpace: true) : ""))
        }
        self.query = query
    }

    /// Percent-decodes `s` (RFC 3986 §2.1), strictly.
    static func decode(_ s: Substring, plusIsSpace: Bool) throws(HTTPAPIError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let c = it.next() {
            switch c {
            case UInt8(ascii: "%"):
                guard let h = it.next().flatMap(Self.hexValue), let l = it.next().flatMap(Self.hexValue) else {
                    throw .badRequestTarget
                }
                bytes.append(h << 4 | l)
            case UInt8(ascii: "+") where plusIsSpace: bytes.append(UInt8(ascii: " "))
            default: bytes.append(c)
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .badRequestTarget }
        return text
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The query as a dictionary for `route`: `unknownParameter` for a name the route does
    /// not take, `duplicateParameter` for one given twice.
    public func parameters(for route: HTTPRoute) throws(HTTPAPIError) -> [String: String] {
        var out: [String: String] = [:]
        for (name, value) in query {
            guard route.queryParameters.contains(name) else { throw .unknownParameter(name) }
            guard out.updateValue(value, forKey: name) == nil else { throw .duplicateParameter(name) }
        }
        return out
    }
}

/// Typed reading of parameter values: canonical decimal integers only (digits, no sign,
/// no leading zero, no fraction), as the records' integers (docs/COMMITMENTS.md §5.1).
public enum HTTPParameter {
    /// The canonical decimal integer `text` in `range`, else nil.
    public static func integer<T: FixedWidthInteger & UnsignedInteger>(_ text: String, in range: ClosedRange<T>) -> T? {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              utf8.first != UInt8(ascii: "0") || utf8.count == 1,
              let value = T(text), range.contains(value)
        else { return nil }
        return value
    }

    /// A required integer parameter.
    public static func required<T: FixedWidthInteger & UnsignedInteger>(
        _ query: [String: String], _ name: String, in range: ClosedRange<T>, expected: String
    ) throws(HTTPAPIError) -> T {
        guard let text = query[name] else { throw .missingParameter(name, expected: expected) }
        guard let value = integer(text, in: range) else { throw .badParameter(name, expected: expected) }
        return value
    }

    /// An optional integer parameter with a default.
    public static func optional<T: FixedWidthInteger & UnsignedInteger>(
        _ query: [String: String], _ name: String, in range: ClosedRange<T>, default value: T, expected: String
    ) throws(HTTPAPIError) -> T {
        guard let text = query[name] else { return value }
        guard let parsed = integer(text, in: range) else { throw .badParameter(name, expected: expected) }
        return parsed
    }

    /// `markets=M1,M2,…`: a non-empty comma-separated list of u32 market ids; nil when absent.
    public static func markets(_ query: [String: String]) throws(HTTPAPIError) -> Set<UInt32>? {
        guard let list = query["markets"] else { return nil }
        var out = Set<UInt32>()
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            guard let id = integer(String(part), in: UInt32.min...UInt32.max) else {
                throw .badParameter("markets", expected: "a comma-separated list of u32 market ids")
            }
            out.insert(id)
        }
        return out
    }
}
