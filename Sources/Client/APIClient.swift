import Foundation

/// A client of the host's read-only HTTP API (docs/openapi.yaml). Its operations are
/// generated from the document (`GeneratedAPI.swift`, by `scripts/gen-api-client.py`); this
/// file is the runtime they share: one blocking HTTP/1.1 `GET` per call (`Connection:
/// close`), and the answer held to what the document says the operation answers.
public struct SealstreamAPI: Sendable {
    /// The HTTP listener, `HOST:PORT` (the host's `--http`).
    public let address: String
    /// Seconds to wait for a whole answer.
    public let timeoutSeconds: Int
    /// Largest answer accepted, bytes.
    public let maxAnswerBytes: Int

    public init(address: String, timeoutSeconds: Int = 10, maxAnswerBytes: Int = 64 << 20) {
        (self.address, self.timeoutSeconds, self.maxAnswerBytes) = (address, timeoutSeconds, maxAnswerBytes)
    }

    /// Sends the operation's request and checks the answer against its documented answers:
    /// a status the operation does not document, or another media type than documented, is
    /// `undocumentedAnswer`; a documented error (`ErrorBody`) is `refused`.
    func perform(_ operation: APIOperation) throws(APIClientError) -> APIResponse {
        let raw: [UInt8]
        do {
            let connection = try Connection(address: address)
            let request = "GET \(operation.target) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n"
            try connection.send(Array(request.utf8))
            raw = try connection.readToEnd(limit: maxAnswerBytes, timeoutSeconds: timeoutSeconds)
        } catch {
            throw .transport(operation: operation.id, error)
        }
        return try Self.check(raw, for: operation)
    }

    /// The pure half of `perform`: reads the answer's bytes and holds them to the operation's
    /// documented answers.
    public static func check(_ raw: [UInt8], for operation: APIOperation) throws(APIClientError) -> APIResponse {
        let response = try HTTPAnswer.parse(raw, operation: operation.id)
        guard let answer = operation.answers[response.status] else {
            throw .undocumentedAnswer(operation: operation.id, status: response.status, mediaType: response.mediaType)
        }
        guard answer.mediaType == response.mediaType else {
            throw .undocumentedAnswer(operation: operation.id, status: response.status, mediaType: response.mediaType)
        }
        if answer.errorBody { throw try APIErrorBody.refusal(response, operation: operation.id) }
        return response
    }
}

/// One operation's request and what the document says it answers.
public struct APIOperation: Sendable {
    public struct Answer: Sendable {
        /// The documented media type (nil: no body).
        public let mediaType: String?
        /// The body is an `ErrorBody`.
        public let errorBody: Bool

        public init(mediaType: String?, errorBody: Bool) { (self.mediaType, self.errorBody) = (mediaType, errorBody) }
    }

    public let id: String
    /// The path, its parameters already percent-encoded.
    public let path: String
    /// Query parameters in document order; nil values are left out.
    public let query: [(String, String?)]
    /// Status → what the document says comes with it.
    public let answers: [Int: Answer]

    public init(id: String, path: String, query: [(String, String?)], answers: [Int: Answer]) {
        (self.id, self.path, self.query, self.answers) = (id, path, query, answers)
    }

    /// The request target: the path and the query, percent-encoded.
    public var target: String {
        let pairs = query.compactMap { name, value in value.map { Self.escape(name) + "=" + Self.escape($0) } }
        return pairs.isEmpty ? path : path + "?" + pairs.joined(separator: "&")
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    public static func escape(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// The parameter's `pattern` from the document (an ECMA regular expression of the subset
    /// the document uses, which Swift's `Regex` reads the same way).
    public static func require(_ value: String, matches pattern: String, name: String) throws(APIClientError) {
        let matches: Bool
        do { matches = try Regex(pattern).firstMatch(in: value) != nil } catch {
            throw .invalidArgument(name: name, reason: "the document's pattern \(pattern) does not compile")
        }
        guard matches else { throw .invalidArgument(name: name, reason: "does not match \(pattern)") }
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

/// A documented, successful answer.
public struct APIResponse: Sendable {
    public let status: Int
    /// The media type of `Content-Type`, without parameters, lower-cased (nil: none).
    public let mediaType: String?
    public let body: [UInt8]
}

/// Everything a generated operation can throw.
public enum APIClientError: Error, Equatable, CustomStringConvertible {
    /// A parameter outside its schema (checked before anything is sent).
    case invalidArgument(name: String, reason: String)
    /// Connecting, sending or reading failed.
    case transport(operation: String, ClientError)
    /// The bytes are not an HTTP/1.1 answer this client reads.
    case malformedAnswer(operation: String, String)
    /// A status, or a media type for it, that the document does not give the operation.
    case undocumentedAnswer(operation: String, status: Int, mediaType: String?)
    /// A documented error: the `ErrorBody`'s code, sentence and parameter.
    case refused(operation: String, status: Int, code: APIErrorCode, error: String, parameter: String?)

    public var description: String {
        switch self {
        case .invalidArgument(let name, let reason): "parameter \(name): \(reason)"
        case .transport(let op, let e): "\(op): \(e)"
        case .malformedAnswer(let op, let why): "\(op): malformed HTTP answer: \(why)"
        case .undocumentedAnswer(let op, let status, let media):
            "\(op): status \(status) with \(media ?? "no body") is not an answer docs/openapi.yaml gives it"
        case .refused(let op, let status, let code, let error, let parameter):
            "\(op): \(status) \(code.rawValue)\(parameter.map { " (parameter \($0))" } ?? ""): \(error)"
        }
    }
}
