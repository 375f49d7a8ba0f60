import Commitments
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Host

/// The HTTP API's routing without a socket: request targets, typed parameters, the
/// route table and the handler's answers (docs/openapi.yaml).
@Suite("HTTP API routing")
struct HTTPRouteTests {
    @Test("Paths and queries are percent-decoded; `+` is a space in the query only")
    func percentDecoding() throws {
        let t = try HTTPRequestTarget("/v1/%62atches?fr%6Fm=1&x=a+b%2Bc")
        #expect(t.segments == ["v1", "batches"])
        #expect(t.query.map(\.name) == ["from", "x"] && t.query.map(\.value) == ["1", "a b+c"])
        #expect(try HTTPRequestTarget("/a+b").segments == ["a+b"])
        #expect(try HTTPRequestTarget("/").segments == [])
        #expect(try HTTPRequestTarget("/v1/batches/").segments == ["v1", "batches", ""])
        // An encoded slash stays inside its segment.
        #expect(try HTTPRequestTarget("/v1/batches/1%2F2").segments == ["v1", "batches", "1/2"])
    }

    @Test("Malformed escapes, invalid UTF-8 and targets not starting with / are badRequestTarget",
          arguments: ["/v1/batches?from=%", "/v1/batches?from=%4", "/v1/%zzbatches", "/%ff", "*", "http://h/v1/batches"])
    func badTargets(_ uri: String) {
        #expect(throws: HTTPAPIError.badRequestTarget) { try HTTPRequestTarget(uri) }
    }

    @Test("Routes match exactly; unknown, duplicate and missing parameters are typed")
    func routing() throws {
        #expect(HTTPRoute.match([])?.route == .root)
        #expect(HTTPRoute.match(["v1", "batches", "7"])?.index == "7")
        #expect(HTTPRoute.match(["v1", "batches", ""]) == nil)
        #expect(HTTPRoute.match(["v1", "batches", "1", "2"]) == nil)
        #expect(HTTPRoute.match(["v1", "events"])?.route == .events)
        #expect(HTTPRoute.match(["v1", "event"]) == nil && HTTPRoute.match(["v1", "events", "proofs"]) == nil)
        #expect(HTTPRoute.match(["v1", "events", ""]) == nil, "no trailing slash")
        #expect(HTTPRoute.match(["v1", "batches", "{index}"])?.route == .batch, "a literal template is just an index")
        for route in HTTPRoute.allCases where route != .batch {
            #expect(HTTPRoute.match(try HTTPRequestTarget(route.template).segments)?.route == route)
        }
        let t = try HTTPRequestTarget("/v1/batches?from=1&from=2")
        #expect(throws: HTTPAPIError.duplicateParameter("from")) { try t.parameters(for: .batches) }
        #expect(throws: HTTPAPIError.unknownParameter("x")) { try HTTPRequestTarget("/metrics?x=1").parameters(for: .metrics) }
    }

    @Test("Integers are canonical decimal within range",
          arguments: [("0", UInt64?(0)), ("7", 7), ("18446744073709551615", .max), ("18446744073709551616", nil), ("07", nil),
                      ("+7", nil), ("-1", nil), ("1.0", nil), ("", nil), (" 1", nil), ("1e3", nil), ("٣", nil)])
    func integers(_ text: String, _ expected: UInt64?) {
        #expect(HTTPParameter.integer(text, in: UInt64.min...UInt64.max) == expected)
    }

    @Test("markets= is a non-empty list of canonical u32 ids")
    func marketsList() throws {
        #expect(try HTTPParameter.markets([:]) == nil)
        #expect(try HTTPParameter.markets(["markets": "1,2,2"]) == [1, 2])
        for bad in ["", "1,", ",1", "01", "4294967296", "a"] {
            #expect(throws: HTTPAPIError.self) { try HTTPParameter.markets(["markets": bad]) }
        }
    }

    @Test("Error bodies are JSON with a stable code, a message and the parameter at fault")
    func errorBodies() throws {
        let body = HTTPAPIError.badParameter("limit", expected: "an integer 1...1000").body
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: String])
        #expect(object == ["code": "badParameter", "error": "limit must be an integer 1...1000", "parameter": "limit"])
        let notFound = try #require(try JSONSerialization.jsonObject(with: Data(HTTPAPIError.unknownPath.body)) as? [String: String])
        #expect(notFound["code"] == "unknownPath" && notFound["parameter"] == nil)
    }

    func handler() throws -> (HTTPAPIHandler, URL) {
        let (publisher, dir) = try OutputPublisherTests.publisher(events: 3)
        let loop = EmbeddedEventLoop()
        let handler = HTTPAPIHandler(publisher: publisher, metrics: HostMetrics(), evidence: { _ in
            loop.makeFailedFuture(EvidenceRequestError.enclaveUnavailable)
        })
        return (handler, dir)
    }

    @Test("A standby answers every path but the operator's with 503 notPrimary; the same handler serves once primary")
    func standbyAnswersNotPrimary() throws {
        let (publisher, dir) = try OutputPublisherTests.publisher(events: 3)
        defer { try? FileManager.default.removeItem(at: dir) }
        let loop = EmbeddedEventLoop()
        let metrics = HostMetrics()
        let cfg = HostConfiguration(dataDirectory: dir.path, enclavePath: "", venueConfigPath: "")
        let h = HTTPAPIHandler(
            publisher: publisher, metrics: metrics, operations: HostOperations(metrics: metrics, configuration: cfg),
            serves: { metrics.replication.role.load(ordering: .relaxed) == 1 },
            evidence: { _ in loop.makeFailedFuture(EvidenceRequestError.enclaveUnavailable) })
        let nonce = String(repeating: "ab", count: 32)
        let refused = ["/", "/venue", "/v1/batches", "/v1/batches/0", "/v1/decisions?batch=0",
                       "/v1/events/proof?sequence=1", "/v1/marketdata?batch=0", "/v1/marketdata/snapshot?market=1",
                       "/v1/feed", "/v1/evidence?nonce=\(nonce)", "/v1/batches?bogus=1"]
        for uri in refused {
            let r = try #require(answer(h, .GET, uri), "\(uri)")
            #expect(r.status == 503, "\(uri)")
            let body = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String])
            #expect(body["code"] == "notPrimary", "\(uri)")
        }
        // Unknown paths and other methods keep their answers.
        #expect(answer(h, .GET, "/nope")?.status == 404)
        #expect(answer(h, .POST, "/v1/batches")?.status == 405)
        // The operator's paths and the document are served.
        #expect(answer(h, .GET, "/metrics")?.status == 200)
        #expect(answer(h, .GET, "/openapi.yaml")?.status == 200)
        #expect(answer(h, .GET, "/healthz")?.status == 200)
        let ready = try #require(answer(h, .GET, "/readyz"))
        #expect(ready.status == 503 && String(decoding: ready.body, as: UTF8.self).contains(#""failed":["primary""#))
        #expect(HTTPRoute.allCases.filter(\.servedByStandby) == [.openAPI, .metrics, .healthz, .readyz])
        // Takeover: the same handler serves the outputs.
        metrics.replication.role.store(1, ordering: .relaxed)
        #expect(answer(h, .GET, "/v1/batches")?.status == 200)
        #expect(answer(h, .GET, "/v1/batches/0")?.status == 200)
    }

    func answer(_ h: HTTPAPIHandler, _ method: HTTPMethod = .GET, _ uri: String) -> HTTPAPIResponse? {
        if case .answer(let r) = h.route(method: method, uri: uri) { return r }
        return nil
    }

    @Test("The handler answers every route's errors with their status, code and headers")
    func handlerErrors() throws {
        let (h, dir) = try handler()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(HTTPMethod, String, Int, String)] = [
            (.GET, "/v1/batches?limit=0", 400, "badParameter"),
            (.GET, "/v1/batches?limit=1001", 400, "badParameter"),
            (.GET, "/v1/batches?from=-1", 400, "badParameter"),
            (.GET, "/v1/batches?from=9223372036854775808", 400, "badParameter"),
            (.GET, "/v1/batches/abc", 400, "badParameter"),
            (.GET, "/v1/batches/1", 404, "notFound"),
            (.GET, "/v1/batches/", 404, "unknownPath"),
            (.GET, "/v1/decisions", 400, "missingParameter"),
            (.GET, "/v1/decisions?batch=0&batch=0", 400, "duplicateParameter"),
            (.GET, "/v1/inputs", 400, "missingParameter"),
            (.GET, "/v1/inputs?batch=01", 400, "badParameter"),
            (.GET, "/v1/inputs?batch=-1", 400, "badParameter"),
            (.GET, "/v1/inputs?batch=9223372036854775808", 400, "badParameter"),
            (.GET, "/v1/inputs?batch=0&batch=0", 400, "duplicateParameter"),
            (.GET, "/v1/inputs?batch=0&sequence=1", 400, "unknownParameter"),
            (.GET, "/v1/inputs?batch=1", 404, "notFound"),
            (.GET, "/v1/funding", 400, "missingParameter"),
            (.GET, "/v1/funding?batch=x", 400, "badParameter"),
            (.GET, "/v1/funding?market=1", 400, "unknownParameter"),
            (.GET, "/v1/funding?batch=1", 404, "notFound"),
            (.PUT, "/v1/funding?batch=0", 405, "methodNotAllowed"),
            (.GET, "/v1/marketdata?batch=0&extra=1", 400, "unknownParameter"),
            (.GET, "/v1/marketdata/snapshot?market=4294967296", 400, "badParameter"),
            (.GET, "/v1/marketdata/snapshot?market=1", 404, "notFound"),
            (.GET, "/v1/events/proof?sequence=0", 400, "badParameter"),
            (.GET, "/v1/events/proof?sequence=4", 404, "notFound"),
            (.GET, "/v1/evidence", 400, "missingParameter"),
            (.GET, "/v1/evidence?nonce=abcd", 400, "badParameter"),
            (.GET, "/v1/feed", 426, "upgradeRequired"),
            (.GET, "/v1/feed?markets=x", 400, "badParameter"),
            (.POST, "/v1/batches", 405, "methodNotAllowed"),
            (.DELETE, "/nope", 404, "unknownPath"),
            (.GET, "/v1/batches?from=%g0", 400, "badRequestTarget"),
        ]
        for (method, uri, status, code) in cases {
            let r = try #require(answer(h, method, uri), "\(uri)")
            let body = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String]
            #expect(r.status == status && body?["code"] == code && r.contentType == "application/json", "\(method) \(uri)")
        }
        #expect(answer(h, .PUT, "/healthz")?.headers.first { $0.0 == "Allow" }?.1 == "GET, HEAD")
        #expect(answer(h, .GET, "/v1/feed")?.headers.first { $0.0 == "Upgrade" }?.1 == "websocket")
        guard case .evidence(let nonce) = h.route(method: .GET, uri: "/v1/evidence?nonce=0x" + String(repeating: "Ab", count: 32))
        else { Issue.record("a good nonce goes to the worker"); return }
        #expect(nonce == [UInt8](repeating: 0xab, count: 32))
    }

    @Test("The handler serves records, the proof answer as one encoded object, and this document")
    func handlerAnswers() throws {
        let (h, dir) = try handler()
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = try #require(answer(h, "/v1/%62atches?from=0&limit=1000"))
        let records = try JSONDecoder().decode([BatchRecord].self, from: Data(list.body))
        #expect(list.status == 200 && records.count == 1)
        #expect(answer(h, .HEAD, "/v1/batches/0")?.status == 200)
        #expect(answer(h, "/v1/decisions?batch=0")?.body == Array("[]".utf8))
        #expect(answer(h, "/v1/inputs?batch=0")?.body == Array("[]".utf8) && answer(h, "/v1/funding?batch=0")?.status == 200)
        let proof = try #require(answer(h, "/v1/events/proof?sequence=2"))
        #expect(proof.status == 200)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(proof.body)) as? [String: Any])
        #expect(Set(object.keys) == ["header", "leaf", "leafIndex", "proof"] && object["leafIndex"] as? Int == 1)
        let header = try JSONDecoder().decode(BatchRecord.self, from: JSONSerialization.data(withJSONObject: object["header"]!))
        #expect(header.lastSequence == 3)
        let doc = try #require(answer(h, "/openapi.yaml"))
        #expect(doc.contentType == "application/yaml" && doc.body == Array(OpenAPIDocument.yaml.utf8))
        #expect(answer(h, "/venue")?.contentType == "text/html; charset=utf-8" && answer(h, "/")?.status == 200)
    }

    func answer(_ h: HTTPAPIHandler, _ uri: String) -> HTTPAPIResponse? { answer(h, .GET, uri) }
}
