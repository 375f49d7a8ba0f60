import Client
import Testing

/// The runtime of the client generated from docs/openapi.yaml, without a host: the HTTP
/// answer reader, the hold of each answer to the operation's documented answers, the
/// strict `ErrorBody`, and the checks made before anything is sent.
@Suite("Generated API client")
struct GeneratedAPIClientTests {
    func answer(_ head: String, _ body: String = "") -> [UInt8] { Array((head + "\r\n\r\n" + body).utf8) }

    let batch = APIOperation(id: "getBatch", path: "/v1/batches/7", query: [], answers: [
        200: .init(mediaType: "application/json", errorBody: false),
        404: .init(mediaType: "application/json", errorBody: true),
    ])

    @Test func readsContentLengthAndChunkedBodies() throws {
        let plain = try HTTPAnswer.parse(answer("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2", "{}"),
                                         operation: "t")
        #expect(plain.status == 200 && plain.mediaType == "application/json" && plain.body == Array("{}".utf8))
        let chunked = try HTTPAnswer.parse(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", "2;x=y\r\n{\"\r\n1\r\n}\r\n0\r\n\r\n"),
                                           operation: "t")
        #expect(chunked.body == Array("{\"}".utf8) && chunked.mediaType == nil)
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Length: 3", "{}"),          // shorter than announced
        ("HTTP/1.1 200 OK\r\nContent-Length: 1", "{}"),          // longer
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2", "{}"),
        ("HTTP/1.1 20 OK", ""), ("HTTP/2 200 OK", ""), ("HTTP/1.1 2000 OK", ""), ("garbage", ""),
        ("HTTP/1.1 200 OK\r\nno colon here", ""),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", "2\r\n{}\r\n"),        // no last chunk
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", "zz\r\n{}\r\n0\r\n\r\n"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", "0\r\n\r\nextra"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip", ""),
    ])
    func refusesMalformedAnswers(head: String, body: String) {
        #expect(throws: APIClientError.self) { try HTTPAnswer.parse(answer(head, body), operation: "t") }
        do { _ = try HTTPAnswer.parse(answer(head, body), operation: "t") } catch {
            guard case .malformedAnswer(let op, _) = error else { Issue.record("\(error)"); return }
            #expect(op == "t")
        } 
    }

    @Test func holdsAnswersToTheDocument() throws {
        let ok = try SealstreamAPI.check(answer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2", "{}"), for: batch)
        #expect(ok.body == Array("{}".utf8))
        // A status the document does not give getBatch, and a documented status with another media type.
        #expect(throws: APIClientError.undocumentedAnswer(operation: "getBatch", status: 500, mediaType: "application/json")) {
            try SealstreamAPI.check(answer("HTTP/1.1 500 Oops\r\nContent-Type: application/json\r\nContent-Length: 2", "{}"), for: batch)
        }
        #expect(throws: APIClientError.undocumentedAnswer(operation: "getBatch", status: 200, mediaType: "text/html")) {
            try SealstreamAPI.check(answer("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2", "{}"), for: batch)
        }
        let body = #"{"code":"notFound","error":"batch 7 is not published"}"#
        #expect(throws: APIClientError.refused(operation: "getBatch", status: 404, code: .notFound, error: "batch 7 is not published",
                                               parameter: nil)) {
            try SealstreamAPI.check(answer("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)", body),
                                    for: batch)
        }
    }

    @Test(arguments: [
        #"{"code":"notFound","error":"x","code":"notFound"}"#,   // duplicate key
        #"{"code":"teapot","error":"x"}"#,                        // not a documented code
        #"{"code":"notFound"}"#,                                   // error missing
        #"{"code":"notFound","error":"x","extra":"y"}"#,          // additionalProperties: false
        #"{"code":"notFound","error":1}"#, "[]",
    ])
    func errorBodiesAreReadStrictly(body: String) {
        do {
            _ = try SealstreamAPI.check(answer("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)", body),
                                        for: batch)
            Issue.record("accepted \(body)")
        } catch {
            guard case .malformedAnswer = error else { Issue.record("\(error)"); return }
        }
    }

    @Test func argumentsAreCheckedBeforeAnythingIsSent() {
        // Port 9 on loopback: nothing listens; an argument error must come first.
        let api = SealstreamAPI(address: "127.0.0.1:9")
        #expect(throws: APIClientError.invalidArgument(name: "nonce", reason: "does not match ^(0x)?[0-9a-fA-F]{64}$")) {
            try api.getEvidence(nonce: "abcd")
        }
        #expect(throws: APIClientError.invalidArgument(name: "limit", reason: "above 1000")) { try api.listBatches(limit: 1001) }
        #expect(throws: APIClientError.invalidArgument(name: "index", reason: "below 0")) { try api.getBatch(index: -1) }
        #expect(APIOperation.escape("a b/ü&=") == "a%20b%2F%C3%BC%26%3D")
        let op = APIOperation(id: "x", path: "/p", query: [("a", "1"), ("b", nil), ("c", "x y")], answers: [:])
        #expect(op.target == "/p?a=1&c=x%20y")
    }
}
