import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The host's two listeners: the order port and the HTTP API. A host on the replicated
/// journal binds them as a standby, before it leads, and answers `notPrimary` on them
/// until its takeover; the same listeners then serve (docs/REPLICATION.md §8.1, §8.3).
struct HostListeners {
    let server: Channel
    let http: Channel?
    /// The order port's bound port (the configured one, or the one port 0 picked).
    let port: Int
    /// `HOST:PORT` of the HTTP API; nil with `--http off`.
    let httpAddress: String?

    func close() async {
        try? await server.close()
        try? await http?.close()
    }
}

extension HostService {
    /// Binds the order port on `group` and the HTTP API on `httpGroup` (its own thread: a
    /// slow proof request must not delay order flow). Throws when either cannot be bound;
    /// the order port is closed again then.
    func bindListeners(group: EventLoopGroup, httpGroup: EventLoopGroup, loop: EventLoop,
                       supervisor: EnclaveSupervisor) async throws -> HostListeners {
        let configuration = self.configuration
        let metrics = self.metrics
        let gate = ConnectionGate(
            limits: .init(maxConnections: configuration.maxConnections, reserved: configuration.reservedConnections,
                          perAddress: configuration.maxConnectionsPerAddress),
            handshakeTimeout: .milliseconds(configuration.handshakeTimeoutMillis), eventLoop: loop,
            supervisor: supervisor, metrics: metrics, logger: logger)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 4)
            // A client's half-close ends its requests, not its replies (IngressHandler).
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            // Replies to a client that does not read pile up to 1 MiB, then the host
            // stops reading its requests until it drains below 256 KiB.
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelOption(
                ChannelOptions.recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 64 * 1024, maximum: 1024 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    metrics.connectionsAccepted.add(1, ordering: .relaxed)
                    let route = supervisor.allocateRoute()
                    let address = channel.remoteAddress?.ipAddress ?? "unknown"
                    guard let ticket = gate.admit(route: route, address: address) else {
                        channel.close(promise: nil)
                        return
                    }
                    let handler = IngressHandler(
                        ticket: ticket, supervisor: supervisor, metrics: metrics,
                        maxInFlight: configuration.maxInFlightPerConnection)
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ClientFrameDecoder()), handler)
                }
            }
            .bind(host: configuration.listenHost, port: configuration.listenPort)
            .get()
        let port = server.localAddress?.port ?? configuration.listenPort
        guard let httpHost = configuration.httpHost else {
            return HostListeners(server: server, http: nil, port: port, httpAddress: nil)
        }
        let publisher = supervisor.publisher
        // A standby, or a primary stepping down, serves only the operator's paths.
        let serves: @Sendable () -> Bool = {
            metrics.replication.role.load(ordering: .relaxed) == LeadershipLease.Role.primary.rawValue
        }
        let operations = HostOperations(metrics: metrics, configuration: configuration)
        do {
            let feed = MarketFeed(loop: httpGroup.next(), publisher: publisher, metrics: metrics,
                                  bufferLimit: configuration.feedBufferBytes)
            feed.start()
            let http = try await ServerBootstrap(group: httpGroup)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [MarketFeed.upgrader(feed, serves: serves)],
                                            completionHandler: { _ in }),
                        withErrorHandling: true
                    ).flatMapThrowing {
                        // A half-sent or idle request cannot hold a connection for ever.
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPRequestDeadline(timeout: .milliseconds(configuration.httpRequestTimeoutMillis),
                                                metrics: metrics),
                            name: "deadline")
                        try channel.pipeline.syncOperations.addHandler(HTTPAPIHandler(
                            publisher: publisher, metrics: metrics, operations: operations, serves: serves,
                            evidence: { nonce in loop.flatSubmit { supervisor.requestEvidence(nonce: nonce) } }),
                            name: "api")
                    }
                }
                .bind(host: httpHost, port: configuration.httpPort)
                .get()
            let httpAddress = http.localAddress?.port.map { "\(httpHost):\($0)" }
            return HostListeners(server: server, http: http, port: port, httpAddress: httpAddress)
        } catch {
            try? await server.close()
            throw error
        }
    }
}
