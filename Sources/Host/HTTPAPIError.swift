import Foundation

/// Every error the HTTP API answers (docs/openapi.yaml, `ErrorBody`): a status and a
/// JSON body `{"code": …, "error": …, "parameter"?: …}` (keys sorted). `code` is stable
/// and names the case; `error` is for people and may change; `parameter` names the
/// query parameter (or `index` for the path's) at fault.
public enum HTTPAPIError: Error, Equatable, Sendable {
    /// The request target is not a path with an optional query, or holds a malformed
    /// percent-escape (`%` not followed by two hex digits) or one that decodes to bytes
    /// that are not UTF-8. 400.
    case badRequestTarget
    /// A required query parameter is absent. 400.
    case missingParameter(String, expected: String)
    /// A parameter's value is not of its documented type or range. 400.
    case badParameter(String, expected: String)
    /// A query parameter appears more than once. 400.
    case duplicateParameter(String)
    /// A query parameter the route does not take. 400.
    case unknownParameter(String)
    /// No route has this path. 404.
    case unknownPath
    /// The route exists but what it names does not (yet). 404.
    case notFound(String)
    /// A method other than GET or HEAD on a route. 405, with `Allow: GET, HEAD`.
    case methodNotAllowed
    /// `GET /v1/feed` without a WebSocket upgrade. 426, with `Upgrade: websocket`.
    case upgradeRequired
    /// The worker answered the evidence request with something other than evidence. 502.
    case enclaveRefused
    /// Already 8 evidence requests wait for the worker. 503.
    case enclaveBusy
    /// No worker is running to answer an evidence request. 503.
    case enclaveUnavailable
    /// This host is not the venue's primary (a standby, or a primary stepping down): it
    /// serves only `/metrics`, `/healthz`, `/readyz` and `/openapi.yaml`
    /// (docs/REPLICATION.md §8.1). 503.
    case notPrimary

    /// The HTTP status code.
    public var status: Int {
        switch self {
        case .badRequestTarget, .missingParameter, .badParameter, .duplicateParameter, .unknownParameter: 400
        case .unknownPath, .notFound: 404
        case .methodNotAllowed: 405
        case .upgradeRequired: 426
        case .enclaveRefused: 502
        case .enclaveBusy, .enclaveUnavailable, .notPrimary: 503
        }
    }

    /// The stable `code` of the body.
    public var code: String {
        switch self {
        case .badRequestTarget: "badRequestTarget"
        case .missingParameter: "missingParameter"
        case .badParameter: "badParameter"
        case .duplicateParameter: "duplicateParameter"
        case .unknownParameter: "unknownParameter"
        case .unknownPath: "unknownPath"
        case .notFound: "notFound"
        case .methodNotAllowed: "methodNotAllowed"
        case .upgradeRequired: "upgradeRequired"
        case .enclaveRefused: "enclaveRefused"
        case .enclaveBusy: "enclaveBusy"
        case .enclaveUnavailable: "enclaveUnavailable"
        case .notPrimary: "notPrimary"
        }
    }

    /// The parameter at fault, if any.
    public var parameter: String? {
        switch self {
        case .missingParameter(let name, _), .badParameter(let name, _), .duplicateParameter(let name),
             .unknownParameter(let name): name
        default: nil
        }
    }

    /// A sentence for people.
    public var message: String {
        switch self {
        case .badRequestTarget: "the request target is not a path with a well-formed percent-encoded query"
        case .missingParameter(let name, let expected): "\(name) is required: \(expected)"
        case .badParameter(let name, let expected): "\(name) must be \(expected)"
        case .duplicateParameter(let name): "\(name) is given more than once"
        case .unknownParameter(let name): "this path takes no parameter \(name)"
        case .unknownPath: "unknown path; see /openapi.yaml"
        case .notFound(let what): what
        case .methodNotAllowed: "only GET and HEAD"
        case .upgradeRequired: "the feed is a WebSocket: send an RFC 6455 upgrade (docs/MARKETDATA.md §6)"
        case .enclaveRefused: "the enclave refused the evidence request"
        case .enclaveBusy: "too many evidence requests in flight; retry"
        case .enclaveUnavailable: "no enclave worker is running"
        case .notPrimary: "this host is not the venue's primary (a standby); ask the primary"
        }
    }

    private struct Body: Encodable {
        var code: String
        var error: String
        var parameter: String?
    }

    /// The JSON body: keys sorted, `parameter` absent when there is none.
    public var body: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding three strings cannot fail; the fallback keeps the type total.
        return Array((try? encoder.encode(Body(code: code, error: message, parameter: parameter)))
            ?? Data(#"{"code":"unknownPath","error":"unknown path"}"#.utf8))
    }
}
