import Commitments
import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The WebSocket market data feed (docs/MARKETDATA.md §6): every consumer gets a snapshot
/// per market it follows, then each batch's header and updates as the batch is published.
/// Lives on the HTTP API's event loop: the order path only hands it each batch (one
/// `execute`), never waits for it. A consumer whose socket does not keep up is dropped
/// when more than `bufferLimit` bytes wait for it (`FeedConsumerBudget`).
public final class MarketFeed: @unchecked Sendable {
    // @unchecked: every mutable member is used only on `loop`.
    struct Consumer {
        let channel: Channel
        /// Followed markets; nil: all.
        let markets: Set<UInt32>?
        var budget: FeedConsumerBudget
    }

    let loop: EventLoop
    let publisher: OutputPublisher
    let metrics: HostMetrics
    let bufferLimit: Int
    private var consumers: [ObjectIdentifier: Consumer] = [:]

    public init(loop: EventLoop, publisher: OutputPublisher, metrics: HostMetrics, bufferLimit: Int) {
        self.loop = loop
        self.publisher = publisher
        self.metrics = metrics
        self.bufferLimit = bufferLimit
    }

    /// Hooks the feed to the publisher: each appended batch hops to the feed's loop.
    public func start() {
        publisher.onPublished { [self] batch in loop.execute { self.publish(batch) } }
    }

    var consumerCount: Int { consumers.count }

    /// A consumer joined (on `loop`): it gets the snapshots first.
    func add(_ channel: Channel, markets: Set<UInt32>?) {
        loop.preconditionInEventLoop()
        consumers[ObjectIdentifier(channel)] = Consumer(channel: channel, markets: markets, budget: FeedConsumerBudget(limit: bufferLimit))
        metrics.feedConsumers.store(Int64(consumers.count), ordering: .relaxed)
        sendSnapshots(to: channel, markets: markets)
    }

    func remove(_ channel: Channel) {
        loop.preconditionInEventLoop()
        if consumers.removeValue(forKey: ObjectIdentifier(channel)) != nil {
            metrics.feedConsumers.store(Int64(consumers.count), ordering: .relaxed)
        }
    }

    /// The latest published line of each followed market, each with its header and proof.
    func sendSnapshots(to channel: Channel, markets: Set<UInt32>?) {
        send(Self.snapshots(publisher: publisher, markets: markets).map { ByteBuffer(bytes: $0) }, to: channel)
    }

    /// Snapshot messages of `markets` (all markets that have data when nil), ascending.
    static func snapshots(publisher: OutputPublisher, markets: Set<UInt32>?) -> [[UInt8]] {
        let ids = (markets.map(Array.init) ?? publisher.marketsWithData).sorted()
        return ids.compactMap { snapshot(publisher: publisher, market: $0) }
    }

    /// The snapshot message of one market, or nil before it has data.
    static func snapshot(publisher: OutputPublisher, market: UInt32) -> [UInt8]? {
        guard let latest = publisher.latestMarketData(market: market),
              let header = publisher.batchLines(from: latest.batch, limit: 1).first,
              let head = latest.lines[latest.leafIndex].withUnsafeBytes({ try? OutputPublisher.MarketDataHead.scan($0) })
        else { return nil }
        let tree = MarketDataTree.tree(latest.lines)
        return MarketFeedMessage.line(.init(
            batchIndex: UInt64(latest.batch), leafIndex: latest.leafIndex, leafCount: latest.lines.count, market: market,
            marketSequence: head.marketSequence, bytes: latest.lines[latest.leafIndex],
            proof: tree.inclusionProof(index: latest.leafIndex)), header: header)
    }

    /// One batch to every consumer: its header, then the updates of the markets each follows.
    /// Each message is encoded once and its buffer shared by every consumer's frames (a
    /// frame's payload is written as it is, never copied per consumer).
    func publish(_ batch: OutputPublisher.PublishedBatch) {
        guard !consumers.isEmpty else { return }
        let header = ByteBuffer(bytes: MarketFeedMessage.header(batch.headerLine))
        let tree = MarketDataTree.tree(batch.lines.map(\.bytes))
        let updates = batch.lines.enumerated().map { i, l in
            (l.market, ByteBuffer(bytes: MarketFeedMessage.line(.init(
                batchIndex: batch.batchIndex, leafIndex: i, leafCount: batch.lines.count, market: l.market,
                marketSequence: l.marketSequence, bytes: l.bytes, proof: tree.inclusionProof(index: i)), header: nil)))
        }
        let all = [header] + updates.map(\.1)
        for key in Array(consumers.keys) {
            guard let c = consumers[key] else { continue }
            if let markets = c.markets {
                send([header] + updates.filter { markets.contains($0.0) }.map(\.1), to: c.channel)
            } else {
                send(all, to: c.channel)
            }
        }
    }

    /// Writes text messages in order, or drops the consumer at the first that its budget
    /// cannot take (the ones before it still go out, then the close frame). The messages
    /// of one call are written together and flushed once, at the end (one `writev` per
    /// consumer per batch rather than one per message). Before a message the budget cannot
    /// take, what was written is flushed first: the socket may take it at once, and a
    /// message the socket took must not count against the next (docs/MARKETDATA.md §6).
    func send(_ messages: [ByteBuffer], to channel: Channel) {
        let key = ObjectIdentifier(channel)
        var unflushed = false
        for (i, message) in messages.enumerated() {
            guard consumers[key] != nil else { return }
            let size = message.readableBytes
            if consumers[key]?.budget.offer(size) != .write {
                if unflushed {
                    // Write promises the socket fulfils complete here, on this loop, and
                    // their callbacks return the bytes to the budget before the retry.
                    channel.flush()
                    unflushed = false
                }
                guard consumers[key]?.budget.offer(size) == .write else {
                    metrics.feedMessages.add(UInt64(i), ordering: .relaxed)
                    if consumers[key] != nil { drop(key, channel) }
                    return
                }
            }
            let promise = loop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { [self] _ in consumers[key]?.budget.written(size) }
            channel.write(WebSocketFrame(fin: true, opcode: .text, data: message), promise: promise)
            unflushed = true
        }
        if unflushed { channel.flush() }
        metrics.feedMessages.add(UInt64(messages.count), ordering: .relaxed)
    }

    /// Closes a consumer that did not read fast enough: 1008 policy violation.
    private func drop(_ key: ObjectIdentifier, _ channel: Channel) {
        consumers[key] = nil
        metrics.feedConsumers.store(Int64(consumers.count), ordering: .relaxed)
        metrics.feedConsumersDropped.add(1, ordering: .relaxed)
        var reason = channel.allocator.buffer(capacity: 2)
        reason.write(webSocketErrorCode: .policyViolation)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: reason), promise: nil)
        channel.close(promise: nil)
    }
}

/// One feed consumer's WebSocket: registers with the feed, answers pings and
/// `{"op":"resync"}` (a fresh snapshot of every followed market), closes on close. Any
/// other client message (another text, a binary or fragmented one) is refused with a
/// close frame 1008 (docs/MARKETDATA.md §6, docs/asyncapi.yaml).
final class MarketFeedHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: one instance per channel, used only on that channel's event loop.
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let feed: MarketFeed
    private let markets: Set<UInt32>?

    init(feed: MarketFeed, markets: Set<UInt32>?) {
        self.feed = feed
        self.markets = markets
    }

    func handlerAdded(context: ChannelHandlerContext) {
        feed.add(context.channel, markets: markets)
    }

    func channelInactive(context: ChannelHandlerContext) {
        feed.remove(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // RFC 6455 §5.1: a client masks every frame, and a server closes on one that is not
        // (NIO's decoder passes it through).
        guard frame.maskKey != nil else { return close(context, .protocolError) }
        switch frame.opcode {
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            // RFC 6455 §5.5.1: a close frame is answered with one before the connection
            // closes (docs/MARKETDATA.md §6: status 1000, whatever the client sent).
            close(context, .normalClosure)
        case .text where frame.fin && frame.unmaskedData.readableBytesView.elementsEqual(Self.resyncRequest):
            feed.metrics.feedResyncs.add(1, ordering: .relaxed)
            feed.sendSnapshots(to: context.channel, markets: markets)
        case .pong:
            break
        default:
            // Strict: the only text a client sends is the resync request, byte for byte.
            close(context, .policyViolation)
        }
    }

    /// Leaves the feed, sends a close frame with `code`, then closes the connection.
    private func close(_ context: ChannelHandlerContext, _ code: WebSocketErrorCode) {
        feed.remove(context.channel)
        var reason = context.channel.allocator.buffer(capacity: 2)
        reason.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: reason)
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in context.close(promise: nil) }
    }

    /// The one text message a client may send (docs/MARKETDATA.md §6).
    static let resyncRequest = Array(#"{"op":"resync"}"#.utf8)

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        feed.remove(context.channel)
        context.close(promise: nil)
    }
}

extension MarketFeed {
    /// Kernel send buffer of a feed connection: small, so a consumer that stops reading
    /// shows in the feed's own budget within a few batches rather than after megabytes.
    static let socketSendBuffer = 64 * 1024

    /// Upgrades `GET /v1/feed[?markets=1,2]` to the feed; other paths stay HTTP. While
    /// `serves` is false (a standby) nothing is upgraded: the request gets the API's
    /// `notPrimary` answer.
    static func upgrader(_ feed: MarketFeed, serves: @escaping @Sendable () -> Bool = { true })
        -> NIOWebSocketServerUpgrader
    {
        NIOWebSocketServerUpgrader(
            maxFrameSize: 1 << 12,
            shouldUpgrade: { channel, head in
                let ok = head.method == .GET && isFeedRequest(uri: head.uri) && serves()
                return channel.eventLoop.makeSucceededFuture(ok ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, head in
                let markets = (try? feedMarkets(uri: head.uri)) ?? nil  // checked by isFeedRequest
                // A feed connection is no longer an HTTP request with a deadline: the HTTP
                // handlers go before the first feed message is written through them.
                return channel.pipeline.removeHandler(name: "deadline")
                    .flatMap { channel.pipeline.removeHandler(name: "api") }
                    .flatMap { channel.setOption(ChannelOptions.socketOption(.so_sndbuf), value: socketSendBuffer) }
                    .flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(MarketFeedHandler(feed: feed, markets: markets))
                    }
            })
    }
}

extension MarketFeed {
    /// The followed markets of a feed request target: nil for every market; throws
    /// unless the target is `/v1/feed` with only a well-formed `markets` list, so a
    /// refused upgrade is answered as HTTP with the typed error (docs/openapi.yaml).
    static func feedMarkets(uri: String) throws(HTTPAPIError) -> Set<UInt32>? {
        let target = try HTTPRequestTarget(uri)
        guard HTTPRoute.match(target.segments)?.route == .feed else { throw .unknownPath }
        return try HTTPParameter.markets(try target.parameters(for: .feed))
    }

    /// True when `feedMarkets` accepts the target (nil, every market, included).
    static func isFeedRequest(uri: String) -> Bool {
        do {
            _ = try feedMarkets(uri: uri)
            return true
        } catch {
            return false
        }
    }
}

// The feed upgrade removes both from a connection that becomes a feed.
extension HTTPRequestDeadline: RemovableChannelHandler {}
extension HTTPAPIHandler: RemovableChannelHandler {}
