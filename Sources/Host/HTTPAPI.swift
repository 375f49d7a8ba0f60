import Commitments
import Foundation
import NIOCore
import NIOHTTP1
import Wire

/// The read-only HTTP API over the enclave's public outputs (docs/COMMITMENTS.md §4).
/// Runs on its own event loop so that a slow request (an event proof over a long log)
/// never delays order flow. Every answer is public data checkable against the signed
/// headers; errors are JSON `{"error": …}` with a 4xx status.
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

    init(publisher: OutputPublisher, metrics: HostMetrics, operations: HostOperations? = nil,
         evidence: @escaping @Sendable ([UInt8]) -> EventLoopFuture<ByteBuffer>) {
        self.publisher = publisher
        self.metrics = metrics
        self.operations = operations
        self.evidence = evidence
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break  // No endpoint takes a body; it is ignored.
        case .end:
            guard let head = request else { return }
            request = nil
            let (path, query) = Self.split(head.uri)
            if head.method == .GET, path == "/v1/evidence" {
                answerEvidence(context: context, head: head, nonce: query["nonce"])
                return
            }
            if head.method == .GET, path == "/venue" || path == "/" {
                finish(context: context, head: head, status: .ok, body: VenuePage.html, contentType: "text/html; charset=utf-8")
                return
            }
            if head.method == .GET, let operations, let (status, type, body) = operations.answer(path: path) {
                finish(context: context, head: head, status: status, body: body, contentType: type)
                return
            }
            let (status, body) = answer(head)
            finish(context: context, head: head, status: status, body: body)
        }
    }

    private func finish(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, body: [UInt8],
                        contentType: String = "application/json") {
        metrics.httpRequests.add(1, ordering: .relaxed)
        if status.code >= 400 { metrics.httpErrors.add(1, ordering: .relaxed) }
        respond(context: context, head: head, status: status, body: body, contentType: contentType)
    }

    /// `GET /v1/evidence?nonce=HEX`: the worker's evidence answering the verifier's
    /// 32-byte nonce (docs/ATTESTATION.md). The host only relays it.
    private func answerEvidence(context: ChannelHandlerContext, head: HTTPRequestHead, nonce: String?) {
        guard let hex = nonce, let bytes = Hex.decode(hex), bytes.count == EvidenceRequest.bodyLength else {
            let (status, body) = error(.badRequest, "nonce=HEX (32 bytes) is required")
            return finish(context: context, head: head, status: status, body: body)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        evidence(bytes).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = bound.value
            var status = HTTPResponseStatus.ok
            var body: [UInt8]
            switch result {
            case .success(let frame):
                let parsed = frame.withUnsafeReadableBytes { try? FrameParser.parseHeader($0, direction: .toClient) }
                if let header = parsed ?? nil, header.type == .evidence {
                    body = Array(frame.readableBytesView.dropFirst(header.bodyOffset))
                } else {
                    (status, body) = handler.error(.badGateway, "the enclave refused the evidence request")
                }
            case .failure(EvidenceRequestError.busy):
                (status, body) = handler.error(.serviceUnavailable, "too many evidence requests in flight; retry")
            case .failure:
                (status, body) = handler.error(.serviceUnavailable, "no enclave worker is running")
            }
            handler.finish(context: context, head: head, status: status, body: body)
        }
    }

    /// Routes one request. Internal for tests.
    func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, [UInt8]) {
        guard head.method == .GET else { return error(.methodNotAllowed, "only GET") }
        let (path, query) = Self.split(head.uri)
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        switch (parts.count, parts.first, parts.dropFirst().first) {
        case (2, "v1", "batches"):
            let from = query["from"].flatMap { Int($0) } ?? 0
            let limit = query["limit"].flatMap { Int($0) } ?? 100
            guard from >= 0, (1...Self.maxListLimit).contains(limit) else {
                return error(.badRequest, "from >= 0 and 1 <= limit <= \(Self.maxListLimit)")
            }
            return (.ok, Self.array(publisher.batchLines(from: from, limit: limit)))
        case (3, "v1", "batches"):
            guard let index = Int(parts[2]), index >= 0 else { return error(.badRequest, "batch index must be a number") }
            guard let line = publisher.batchLines(from: index, limit: 1).first else { return error(.notFound, "no such batch") }
            return (.ok, line)
        case (2, "v1", "decisions"):
            guard let index = query["batch"].flatMap({ Int($0) }), index >= 0 else {
                return error(.badRequest, "batch=INDEX is required")
            }
            guard let lines = publisher.decisionLines(batch: index) else { return error(.notFound, "no such batch") }
            return (.ok, Self.array(lines))
        case (2, "v1", "marketdata"):
            guard let index = query["batch"].flatMap({ Int($0) }), index >= 0 else {
                return error(.badRequest, "batch=INDEX is required")
            }
            guard let lines = publisher.marketDataLines(batch: index) else { return error(.notFound, "no such batch") }
            return (.ok, Self.array(lines))
        case (3, "v1", "marketdata") where parts[2] == "snapshot":
            guard let market = query["market"].flatMap({ UInt32($0) }) else { return error(.badRequest, "market=ID is required") }
            guard let message = MarketFeed.snapshot(publisher: publisher, market: market) else {
                return error(.notFound, "no market data published for this market yet")
            }
            return (.ok, message)
        case (2, "v1", "evidence"):
            return error(.methodNotAllowed, "only GET")
        case (3, "v1", "events") where parts[2] == "proof":
            guard let sequence = query["sequence"].flatMap({ UInt64($0) }), sequence > 0 else {
                return error(.badRequest, "sequence=N (N >= 1) is required")
            }
            guard let p = publisher.eventProof(sequence: sequence),
                  let header = publisher.batchLines(from: p.batchIndex, limit: 1).first
            else { return error(.notFound, "no committed batch covers this sequence number yet") }
            // The header goes in verbatim (the signed record as published), not re-encoded.
            struct WithoutHeader: Encodable {
                var leafIndex: UInt64
                var leaf: EventProofAnswer.Leaf
                var proof: [String]
            }
            let answer = WithoutHeader(leafIndex: sequence - 1, leaf: EventProofAnswer.Leaf(p.leaf), proof: p.proof.map(\.hex))
            var out = Array(try! JSONEncoder.records.encode(answer))
            out.removeLast()  // "}"
            out += Array(#","header":"#.utf8) + header + [UInt8(ascii: "}")]
            return (.ok, out)
        default:
            return error(.notFound, "unknown path; see docs/COMMITMENTS.md")
        }
    }

    private func error(_ status: HTTPResponseStatus, _ message: String) -> (HTTPResponseStatus, [UInt8]) {
        (status, Array((try? JSONEncoder.records.encode(["error": message])) ?? Data()))
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, body: [UInt8],
                         contentType: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A malformed HTTP request: drop this connection only.
        metrics.httpErrors.add(1, ordering: .relaxed)
        context.close(promise: nil)
    }

    static func split(_ uri: String) -> (path: Substring, query: [String: String]) {
        guard let q = uri.firstIndex(of: "?") else { return (Substring(uri), [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { query[String(kv[0])] = String(kv[1]) }
        }
        return (uri[..<q], query)
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
