import Client
import Commitments
import Foundation
import Testing

/// The HTTP API on a real host's socket (docs/openapi.yaml): keep-alive and pipelining
/// for HTTP/1.1 and HTTP/1.0, HEAD, percent-decoded targets, typed JSON errors, the
/// served document. (Schemathesis covers the answers' schemas: scripts/api-tests.sh.)
@Suite("HTTP API on a real host", .serialized)
struct HTTPAPITests {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// Splits raw bytes into responses, by `Content-Length`; `heads[i]` marks a HEAD answer
    /// (no body whatever the length says).
    static func responses(_ raw: [UInt8], heads: [Bool]) throws -> [Response] {
        var out: [Response] = []
        var at = 0
        for isHead in heads {
            let rest = raw[at...]
            let end = try #require(rest.firstRange(of: Array("\r\n\r\n".utf8)), "response \(out.count + 1) is missing")
            let lines = String(decoding: raw[at..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
            let status = try #require(Int(lines.first?.split(separator: " ").dropFirst().first ?? ""))
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                let kv = line.split(separator: ":", maxSplits: 1)
                if kv.count == 2 { headers[kv[0].lowercased()] = kv[1].trimmingCharacters(in: .whitespaces) }
            }
            let length = isHead ? 0 : Int(headers["content-length"] ?? "0") ?? 0
            #expect(end.upperBound + length <= raw.count, "response \(out.count + 1) is cut short")
            out.append(Response(status: status, headers: headers, body: Array(raw[end.upperBound..<min(raw.count, end.upperBound + length)])))
            at = end.upperBound + length
        }
        #expect(at == raw.count, "nothing follows the last response")
        return out
    }

    /// Sends `requests` in one write on one connection and reads until the host closes it.
    static func exchange(_ address: String, _ requests: [String]) throws -> [UInt8] {
        let connection = try Connection(address: address)
        try connection.send(Array(requests.joined().utf8))
        return try connection.readToEnd(limit: 16 << 20, timeoutSeconds: 10)
    }

    @Test func keepAliveHeadPercentDecodingAndTypedErrors() throws {
        let host = try HostProcess(label: "http-api")
        let http = host.httpAddress
        let trader = try Trader(address: host.address, accountID: 41, name: "http")
        let sequence = try trader.order("o").globalSequence
        let deadline = Date().addingTimeInterval(10)
        while try HTTPFetch.get(http, path: "/v1/events/proof?sequence=\(sequence)").status != 200, Date() < deadline {
            usleep(20_000)
        }

        // HTTP/1.1: four pipelined requests on one connection, answered in order; the
        // connection stays open until the one that says `Connection: close`.
        let raw = try Self.exchange(http, [
            "GET /v1/%62atches/0 HTTP/1.1\r\nHost: h\r\n\r\n",
            "HEAD /v1/batches/0 HTTP/1.1\r\nHost: h\r\n\r\n",
            "DELETE /v1/batches/0 HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /v1/batches?limit=0 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        ])
        let r = try Self.responses(raw, heads: [false, true, false, false])
        #expect(r.map(\.status) == [200, 200, 405, 400])
        let record = try JSONDecoder().decode(BatchRecord.self, from: Data(r[0].body))
        #expect(record.batchIndex == 0)
        #expect(r[1].headers["content-length"] == String(r[0].body.count), "HEAD: the GET's length, no body")
        #expect(r[2].headers["allow"] == "GET, HEAD")
        let error = try #require(try JSONSerialization.jsonObject(with: Data(r[3].body)) as? [String: String])
        #expect(error["code"] == "badParameter" && error["parameter"] == "limit")
        #expect(r[3].headers["connection"] == "close" && r[0].headers["connection"] == nil)

        // HTTP/1.0: kept open only when asked, and then said so.
        let old = try Self.responses(try Self.exchange(http, [
            "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            "GET /v1/evidence?nonce=zz HTTP/1.0\r\n\r\n",
            "GET /healthz HTTP/1.0\r\n\r\n",
        ]), heads: [false, false])
        #expect(old.map(\.status) == [200, 400] && old[0].headers["connection"]?.lowercased() == "keep-alive")

        // The event proof's header is the published record, byte for byte.
        let proof = try HTTPFetch.get(http, path: "/v1/events/proof?sequence=\(sequence)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(proof.body)) as? [String: Any])
        let index = try #require((object["header"] as? [String: Any])?["batchIndex"] as? Int)
        let published = try HTTPFetch.get(http, path: "/v1/batches/\(index)").body
        let text = String(decoding: proof.body, as: UTF8.self)
        #expect(text.hasPrefix(#"{"header":"# + String(decoding: published, as: UTF8.self) + ","))

        // A refused feed upgrade (malformed markets) is answered as HTTP with the typed error,
        // and the connection closes (the HTTP decoder parses nothing after an upgrade request).
        let refused = try Self.responses(try Self.exchange(http, [
            "GET /v1/feed?markets=1,x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            "GET /v1/feed HTTP/1.1\r\nHost: h\r\n\r\n",
        ]), heads: [false])
        #expect(refused.map(\.status) == [400] && refused[0].headers["connection"] == "close")
        let plain = try Self.responses(try Self.exchange(http, ["GET /v1/feed HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"]),
                                       heads: [false])
        #expect(plain.map(\.status) == [426] && plain[0].headers["upgrade"] == "websocket")

        // The served document is docs/openapi.yaml.
        let doc = try HTTPFetch.get(http, path: "/openapi.yaml")
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml")
        let bytes = Array(try Data(contentsOf: file))
        #expect(doc.status == 200 && doc.body == bytes)
        #expect(host.stop() == 0)
    }
}
