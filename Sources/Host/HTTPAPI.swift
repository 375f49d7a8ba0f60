import Commitments
import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Wire

/// The read-only HTTP API over the enclave's public outputs (docs/openapi.yaml, the
/// normative description; docs/COMMITMENTS.md §4). Runs on its own event loop so that a
/// slow request (an event proof over a long log) never delays order flow. Every answer
/// is public data checkable against the signed headers; every error is a typed
/// `HTTPAPIError` with its JSON body. Routing (`HTTPRoute`, `HTTPRequestTarget`) is pure.
final class HTTPAPIHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: one instance per channel, used only on that channel's event loop.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxListLimit = 1_000

    private let publisher: OutputPublisher
    private let metrics: HostMetrics
    /// Fresh evidence for a nonce from the worker (on the supervisor's loop).
    private let evidence: @Sendable ([UInt8]) -> EventLoopFuture<ByteBuffer>
    private var request: HTTPRequestHead?
    /// `/metrics`, `/healthz`, `/readyz` (docs/OPERATIONS.md); nil: not served.
    private let operations: HostOperations?
    /// False while this host is not the venue's primary (a standby, or a primary stepping
    /// down): every path but the operator's then answers `notPrimary`.
    private let serves: @Sendable () -> Bool

    init(publisher: OutputPublisher, metrics: HostMetrics, operations: HostOperations? = nil,
         serves: @escaping @Sendable () -> Bool = { true },
         evidence: @escaping @Sendable ([UInt8]) -> EventLoopFuture<ByteBuffer>) {
        self.publisher = publisher
        self.metrics = metrics
        self.operations = operations
        self.serves = serves
        self.evidence = evidence
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break  // No endpoint takes a body; it is ignored.
        case .end:
            guard let head = request else { return }
            request = nil
            switch route(method: head.method, uri: head.uri) {
            case .answer(let response): finish(context: context, head: head, response)
            case .evidence(let nonce): answerEvidence(context: context, head: head, nonce: nonce)
            }
        }
    }

    /// What a request gets: an answer now, or evidence from the worker for a nonce.
    enum Outcome {
        case answer(HTTPAPIResponse)
        case evidence([UInt8])
    }

    /// Routes one request (docs/openapi.yaml). Internal for tests.
    func route(method: HTTPMethod, uri: String) -> Outcome {
        do {
            let target = try HTTPRequestTarget(uri)
            guard let (route, index) = HTTPRoute.match(target.segments) else { throw HTTPAPIError.unknownPath }
            guard method == .GET || method == .HEAD else { throw HTTPAPIError.methodNotAllowed }
            guard route.servedByStandby || serves() else { throw HTTPAPIError.notPrimary }
            let query = try target.parameters(for: route)
            if route == .evidence {
                let expected = "64 hex digits (32 bytes), optionally 0x-prefixed"
                guard let hex = query["nonce"] else { throw HTTPAPIError.missingParameter("nonce", expected: expected) }
                guard hex.utf8.count == 64 || hex.utf8.count == 66, let nonce = Hex.decode(hex),
                      nonce.count == EvidenceRequest.bodyLength
                else { throw HTTPAPIError.badParameter("nonce", expected: expected) }
                return .evidence(nonce)
            }
            return .answer(try answer(route, index: index, query: query))
        } catch let error as HTTPAPIError {
            return .answer(HTTPAPIResponse(error))
        } catch {
            return .answer(HTTPAPIResponse(.unknownPath))  // unreachable: only HTTPAPIError is thrown
        }
    }

    private func answer(_ route: HTTPRoute, index: String?, query: [String: String])
        throws(HTTPAPIError) -> HTTPAPIResponse
    {
        switch route {
        case .root, .venue:
            return HTTPAPIResponse(body: VenuePage.html, contentType: "text/html; charset=utf-8")
        case .openAPI:
            return HTTPAPIResponse(body: Array(OpenAPIDocument.yaml.utf8), contentType: OpenAPIDocument.contentType)
        case .metrics, .healthz, .readyz:
            guard let operations, let (status, type, body) = operations.answer(path: Substring(route.template)) else {
                throw .unknownPath
            }
            return HTTPAPIResponse(status: status, body: body, contentType: type)
        case .batches:
            let from = try HTTPParameter.optional(query, "from", in: 0...UInt64(Int.max), default: 0,
                                                  expected: "a batch index (integer >= 0)")
            let limit = try HTTPParameter.optional(query, "limit", in: 1...UInt64(Self.maxListLimit), default: 100,
                                                   expected: "an integer 1...\(Self.maxListLimit)")
            return .json(Self.array(publisher.batchLines(from: Int(from), limit: Int(limit))))
        case .batch:
            guard let text = index, let i = HTTPParameter.integer(text, in: 0...UInt64(Int.max)) else {
                throw .badParameter("index", expected: "a batch index (integer >= 0)")
            }
            guard let line = publisher.batchLines(from: Int(i), limit: 1).first else {
                throw .notFound("no such batch")
            }
            return .json(line)
        case .decisions, .inputs, .funding, .marketData:
            let i = try HTTPParameter.required(query, "batch", in: 0...UInt64(Int.max),
                                               expected: "a batch index (integer >= 0)")
            let lines = switch route {
            case .decisions: publisher.decisionLines(batch: Int(i))
            case .inputs: publisher.inputLines(batch: Int(i))
            case .funding: publisher.fundingLines(batch: Int(i))
            default: publisher.marketDataLines(batch: Int(i))
            }
            guard let lines else { throw .notFound("no such batch") }
            return .json(Self.array(lines))
        case .events:
            let i = try HTTPParameter.required(query, "batch", in: 0...UInt64(Int.max),
                                               expected: "a batch index (integer >= 0)")
            guard let leaves = publisher.eventLeaves(batch: Int(i)) else { throw .notFound("no such batch") }
            return HTTPAPIResponse(body: leaves, contentType: "application/octet-stream")
        case .marketDataSnapshot:
            let market = try HTTPParameter.required(query, "market", in: UInt32.min...UInt32.max,
                                                    expected: "a u32 market id")
            guard let message = MarketFeed.snapshot(publisher: publisher, market: market) else {
                throw .notFound("no market data published for this market yet")
            }
            return .json(message)
        case .eventProof:
            let sequence = try HTTPParameter.required(query, "sequence", in: 1...UInt64.max,
                                                      expected: "a global sequence number (integer >= 1)")
            guard let p = publisher.eventProof(sequence: sequence),
                  let line = publisher.batchLines(from: p.batchIndex, limit: 1).first,
                  let header = try? JSONDecoder().decode(BatchRecord.self, from: Data(line))
            else { throw .notFound("no committed batch covers this sequence number yet") }
            // Encoded whole (keys sorted): the header re-encodes to the bytes of its line,
            // which `jsonLine()` also writes with sorted keys and no whitespace.
            let answer = EventProofAnswer(leafIndex: sequence - 1, leaf: EventProofAnswer.Leaf(p.leaf),
                                          proof: p.proof.map(\.hex), header: header)
            // Encoding integers, hex strings and arrays of them cannot fail; `[]` keeps it total.
            return .json(Array((try? JSONEncoder.records.encode(answer)) ?? Data("[]".utf8)))
        case .feed:
            _ = try HTTPParameter.markets(query)
            throw .upgradeRequired
        case .evidence:
            throw .unknownPath  // answered by `route` (asynchronously)
        }
    }

    private func finish(context: ChannelHandlerContext, head: HTTPRequestHead, _ response: HTTPAPIResponse) {
        metrics.httpRequests.add(1, ordering: .relaxed)
        if response.status >= 400 { metrics.httpErrors.add(1, ordering: .relaxed) }
        respond(context: context, head: head, response)
    }

    /// `GET /v1/evidence?nonce=HEX`: the worker's evidence answering the verifier's
    /// 32-byte nonce (docs/ATTESTATION.md). The host only relays it.
    private func answerEvidence(context: ChannelHandlerContext, head: HTTPRequestHead, nonce: [UInt8]) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        evidence(nonce).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            let response: HTTPAPIResponse
            switch result {
            case .success(let frame):
                let parsed = frame.withUnsafeReadableBytes { try? FrameParser.parseHeader($0, direction: .toClient) }
                if let header = parsed ?? nil, header.type == .evidence {
                    response = .json(Array(frame.readableBytesView.dropFirst(header.bodyOffset)))
                } else {
                    response = HTTPAPIResponse(.enclaveRefused)
                }
            case .failure(EvidenceRequestError.busy): response = HTTPAPIResponse(.enclaveBusy)
            case .failure: response = HTTPAPIResponse(.enclaveUnavailable)
            }
            handler.finish(context: context, head: head, response)
        }
    }

    /// Writes the response; HEAD gets the same head (with the GET body's length) and no
    /// body. Keep-alive follows the request (RFC 9112 §9.3): HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`, echoed; never
    /// after a request that asked for an upgrade.
    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, _ response: HTTPAPIResponse) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        // After a request with `Upgrade` the HTTP decoder parses nothing more (what follows
        // would be the upgraded protocol's), so a refused upgrade's answer closes.
        let keepAlive = head.isKeepAlive && !head.headers.contains(name: "upgrade")
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if head.version.major == 1, head.version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let status = HTTPResponseStatus(statusCode: response.status)
        let responseHead = HTTPResponseHead(version: head.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A refused WebSocket upgrade (a target other than a well-formed /v1/feed, or bad
        // upgrade headers) is reported here, and the request then arrives as plain HTTP
        // and gets its typed answer: not a reason to drop the connection.
        if error is NIOWebSocketUpgradeError { return }
        // A malformed HTTP request: drop this connection only.
        metrics.httpErrors.add(1, ordering: .relaxed)
        context.close(promise: nil)
    }

    static func array(_ lines: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (i, l) in lines.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += l
        }
        out.append(UInt8(ascii: "]"))
        return out
    }
}

/// One answer of the HTTP API before it is written: status, body, content type and any
/// extra headers (`Allow` on a 405, `Upgrade` on a 426).
struct HTTPAPIResponse: Equatable {
    var status: Int = 200
    var body: [UInt8]
    var contentType: String
    var headers: [(String, String)] = []

    init(status: Int = 200, body: [UInt8], contentType: String) {
        (self.status, self.body, self.contentType) = (status, body, contentType)
    }

    init(status: HTTPResponseStatus, body: [UInt8], contentType: String) {
        self.init(status: Int(status.code), body: body, contentType: contentType)
    }

    /// The error's status and JSON body, with the headers its status calls for.
    init(_ error: HTTPAPIError) {
        self.init(status: error.status, body: error.body, contentType: "application/json")
        switch error {
        case .methodNotAllowed: headers = [("Allow", "GET, HEAD")]
        case .upgradeRequired: headers = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        default: break
        }
    }

    /// A 200 JSON answer.
    static func json(_ body: [UInt8]) -> HTTPAPIResponse {
        HTTPAPIResponse(body: body, contentType: "application/json")
    }

    static func == (a: Self, b: Self) -> Bool {
        a.status == b.status && a.body == b.body && a.contentType == b.contentType
            && a.headers.map(\.0) == b.headers.map(\.0) && a.headers.map(\.1) == b.headers.map(\.1)
    }
}
