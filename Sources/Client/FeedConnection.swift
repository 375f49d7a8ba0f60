/// A blocking consumer of the market data feed (docs/MARKETDATA.md §6): the I/O shell over
/// `WebSocketClientCodec` and `FeedTracker`. Answers pings, and after a gap asks for a
/// resync on its own. Used by one thread at a time (it may be handed to another).
public final class FeedConnection: @unchecked Sendable {
    /// The TCP connection (under TLS when opened with `tls`).
    public let connection: Connection
    private let tls: TLSStream?
    private var codec = WebSocketClientCodec()
    public private(set) var tracker: FeedTracker
    /// Set once the host sent a close frame.
    public private(set) var closed = false

    /// Opens `GET /v1/feed` on the HTTP API at `http` (`HOST:PORT`), for `markets` (nil: all):
    /// over `ws:`, or with `tls` over `wss:` (a TLS-terminating proxy in front of the host,
    /// docs/MARKETDATA.md §6), the certificate verified against that trust and checked to
    /// name HOST; a failed check throws `ClientError.tls` before anything is sent.
    public init(
        http: String, markets: [UInt32]? = nil, tracker: FeedTracker = FeedTracker(), tls trust: TLSTrust? = nil
    ) throws(ClientError) {
        connection = try Connection(address: http)
        if let trust {
            tls = try TLSStream(over: connection, serverName: connection.host, trust: trust)
        } else {
            tls = nil
        }
        self.tracker = tracker
        let query = markets.map { "?markets=" + $0.map(String.init).joined(separator: ",") } ?? ""
        try send(codec.handshake(host: http, path: "/v1/feed" + query))
    }

    /// Reads once (blocking up to `timeoutMillis`, nil: forever) and returns what arrived.
    /// `autoResync`: a gap is answered with a resync request at once.
    public func next(timeoutMillis: Int32? = 10_000, autoResync: Bool = true) throws(ClientError) -> [FeedTracker.Event] {
        var events: [FeedTracker.Event] = []
        for text in try messages(timeoutMillis: timeoutMillis) {
            for e in tracker.receive(text) {
                if case .gap = e, autoResync { try resync() }
                events.append(e)
            }
        }
        return events
    }

    /// Reads once and returns the text messages that arrived, unread by the tracker (for
    /// callers that keep their own); pings are answered, a close frame sets `closed`.
    public func messages(timeoutMillis: Int32? = 10_000) throws(ClientError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        let bytes = if let tls { try tls.receive(timeoutMillis: timeoutMillis) } else {
            try connection.receiveRaw(timeoutMillis: timeoutMillis)
        }
        for frame in try codec.receive(bytes) {
            switch frame.opcode {
            case .ping: try send(WebSocketClientCodec.encode(.pong, frame.payload))
            case .close: closed = true
            case .text: out.append(frame.payload)
            default: break
            }
        }
        return out
    }

    /// Asks for a fresh snapshot of every followed market.
    public func resync() throws(ClientError) {
        try send(WebSocketClientCodec.encode(.text, FeedTracker.resyncRequest))
    }

    private func send(_ bytes: [UInt8]) throws(ClientError) {
        if let tls { try tls.send(bytes) } else { try connection.send(bytes) }
    }
}
