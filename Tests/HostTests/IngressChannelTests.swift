import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing
import Wire

@testable import Host

/// A worker that is an `EmbeddedChannel`: the test reads the link messages the host writes
/// and writes the worker's, all on one `EmbeddedEventLoop`, with no process or socket.
final class EmbeddedWorker: EnclaveTransport, WorkerHandle, @unchecked Sendable {
    let loop: EmbeddedEventLoop
    private(set) var link: EmbeddedChannel?
    private(set) var terminated = 0
    private(set) var launches = 0
    var pid: pid_t? { 4242 }
    var label: String { "embedded worker" }

    init(loop: EmbeddedEventLoop) { self.loop = loop }

    func launch(
        on eventLoop: EventLoop, initialize: @escaping @Sendable (Channel, WorkerHandle) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<(Channel, WorkerHandle)> {
        let channel = EmbeddedChannel(loop: loop)
        link = channel
        launches += 1
        return initialize(channel, self)
            .flatMap { channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 1)) }
            .map { (channel, self) }
    }

    func terminate() { terminated += 1 }
    func waitForExit(on eventLoop: EventLoop) -> EventLoopFuture<String> { eventLoop.makeSucceededFuture("exited") }

    /// Writes one link message from the worker to the host.
    func send(_ message: [UInt8]) throws {
        try link!.writeInbound(link!.allocator.buffer(bytes: message))
    }

    /// Every link message the host has written so far, as (kind, body).
    func received() throws -> [(LinkKind, [UInt8])] {
        var out: [(LinkKind, [UInt8])] = []
        while var buffer = try link!.readOutbound(as: ByteBuffer.self) {
            while let length = buffer.readInteger(as: UInt32.self) {
                let kind = try #require(LinkKind(rawValue: buffer.readInteger(as: UInt8.self)!))
                out.append((kind, buffer.readBytes(length: Int(length) - 1)!))
            }
        }
        return out
    }
}

/// A host with one worker up, on one embedded loop: connections are `EmbeddedChannel`s
/// with the production pipeline (decoder and ingress handler).
struct EmbeddedHost {
    let loop = EmbeddedEventLoop()
    let worker: EmbeddedWorker
    let supervisor: EnclaveSupervisor
    let metrics = HostMetrics()
    let gate: ConnectionGate
    let directory: String

    init(maxInFlight: Int = 4096) throws {
        directory = NSTemporaryDirectory() + "ingress-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        worker = EmbeddedWorker(loop: loop)
        var configuration = HostConfiguration(dataDirectory: directory, enclavePath: "/nonexistent", venueConfigPath: "/x")
        configuration.maxInFlightPerConnection = maxInFlight
        let logger = Logger(label: "test")
        supervisor = EnclaveSupervisor(
            eventLoop: loop, configuration: configuration, transport: worker, metrics: metrics, logger: logger)
        gate = ConnectionGate(
            limits: .init(maxConnections: 16, reserved: 0, perAddress: 16), handshakeTimeout: .seconds(60),
            eventLoop: loop, supervisor: supervisor, metrics: metrics, logger: logger)
        let started = supervisor.start()
        loop.run()
        try worker.send(encodeLinkMessage(kind: .hello, body: Array(#"{"instanceID":"0a"}"#.utf8)))
        loop.run()
        try started.wait()
    }

    /// A connected client channel through the production pipeline, and its route.
    func connect() throws -> (EmbeddedChannel, UInt32) {
        let route = supervisor.allocateRoute()
        let ticket = try #require(gate.admit(route: route, address: "10.0.0.1"))
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(ClientFrameDecoder()),
            IngressHandler(ticket: ticket, supervisor: supervisor, metrics: metrics, maxInFlight: 4096))
        try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 5000)).wait()
        return (channel, route)
    }

    /// The frames a client has been written so far.
    static func replies(_ channel: EmbeddedChannel) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        while let b = try channel.readOutbound(as: ByteBuffer.self) {
            // The empty write that flushes before a close carries no frame.
            if b.readableBytes > 0 { out.append(Array(b.readableBytesView)) }
        }
        return out
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite("Ingress over EmbeddedChannel")
struct IngressChannelTests {
    static let evidence = EvidenceRequest(nonce: [UInt8](repeating: 7, count: 32)).encode()
    static let deposit = FrameParser.encode(type: .deposit, body: [UInt8](repeating: 2, count: Deposit.bodyLength))

    static func outbound(_ entries: [(UInt32, [UInt8])]) -> [UInt8] {
        var batch = LinkBatchWriter(kind: .outboundBatch)
        for (route, frame) in entries { batch.append(route: route, frame: frame) }
        return batch.finish()
    }

    /// docs/PROTOCOL.md §1.1 case 1: the frames before a malformed one are forwarded and
    /// answered, then the `Error` frame goes last and the connection closes.
    @Test("a malformed frame: the owed replies, then Error, then close")
    func malformedAfterGoodFrames() throws {
        let host = try EmbeddedHost()
        defer { host.cleanUp() }
        let (client, route) = try host.connect()
        // Two good frames and a frame of version 2, in one read, then more bytes.
        let malformed: [UInt8] = [0, 0, 0, 8, 2, 0x01, 0, 0, 0, 0, 0, 0]
        try client.writeInbound(client.allocator.buffer(bytes: Self.evidence + Self.deposit + malformed))
        try client.writeInbound(client.allocator.buffer(bytes: Self.deposit))
        host.loop.run()

        // Both good frames reached the worker in one batch; nothing after the bad one did.
        let sent = try host.worker.received()
        #expect(sent.map(\.0) == [.inboundBatch])
        let batch = try #require(sent.first?.1)
        #expect(batch == Array(Self.outbound([(route, Self.evidence), (route, Self.deposit)]).dropFirst(5)))
        // Replies are owed: no Error yet, and the connection stays open.
        #expect(try EmbeddedHost.replies(client).isEmpty)
        #expect(client.isActive)
        #expect(host.metrics.malformedCount(3) == 1)

        let first = Refusal(refused: .evidenceRequest, sessionID: 0, reference: 0, reason: .enclaveUnavailable).encode()
        try host.worker.send(Self.outbound([(route, first)]))
        host.loop.run()
        #expect(try EmbeddedHost.replies(client) == [first])
        #expect(client.isActive)

        let second = PublicAck(acknowledged: .deposit, reference: 1, globalSequence: 2, enclaveTime: 3).encode()
        try host.worker.send(Self.outbound([(route, second)]))
        host.loop.run()
        let error = ErrorMessage(code: 3, message: "unsupported_version").encode()
        #expect(try EmbeddedHost.replies(client) == [second, error])
        #expect(!client.isActive)
    }

    /// §1.1 case 2: a half-close with a partial frame left: the complete frames are
    /// answered, the partial one is counted as truncated, no `Error` frame, then close.
    @Test("a half-close answers the complete frames, counts the partial one, sends no Error")
    func halfCloseWithTail() throws {
        let host = try EmbeddedHost()
        defer { host.cleanUp() }
        let (client, route) = try host.connect()
        try client.writeInbound(client.allocator.buffer(bytes: Self.deposit + Self.deposit.prefix(10)))
        client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        host.loop.run()
        #expect(host.metrics.malformedCount(7) == 1)
        #expect(try host.worker.received().count == 1)
        #expect(client.isActive)
        let ack = PublicAck(acknowledged: .deposit, reference: 1, globalSequence: 2, enclaveTime: 3).encode()
        try host.worker.send(Self.outbound([(route, ack)]))
        host.loop.run()
        #expect(try EmbeddedHost.replies(client) == [ack])
        #expect(!client.isActive)
    }

    /// The handler's handshake deadline holds the handler strongly (a weak reference would
    /// slow every retain of it: issue 17). The cycle must end when the connection closes:
    /// here before the deadline, on a connection that never sent a frame.
    @Test("a connection closed before its handshake deadline releases its handler")
    func closedConnectionReleasesHandler() throws {
        let host = try EmbeddedHost()
        defer { host.cleanUp() }
        let (client, route) = try host.connect()
        weak var handler: IngressHandler?
        do { handler = try client.pipeline.syncOperations.handler(type: IngressHandler.self) }
        #expect(handler != nil)
        try client.close().wait()
        host.loop.run()
        #expect(host.supervisor.connection(route: route) == nil)
        #expect(handler == nil)
    }

    /// The deadline still sheds a connection that sends nothing (docs/PROTOCOL.md §1.2),
    /// and the handler goes with it.
    @Test("an idle connection is shed at its handshake deadline and its handler released")
    func idleConnectionShedAtDeadline() throws {
        let host = try EmbeddedHost()
        defer { host.cleanUp() }
        let (client, _) = try host.connect()
        weak var handler: IngressHandler?
        do { handler = try client.pipeline.syncOperations.handler(type: IngressHandler.self) }
        host.loop.advanceTime(by: .seconds(59))
        #expect(client.isActive)
        host.loop.advanceTime(by: .seconds(1))
        host.loop.run()
        #expect(!client.isActive)
        #expect(handler == nil)
    }

    /// docs/PROTOCOL.md §4.1: a malformed link message kills the worker; its exit is a
    /// crash (clients told, restart after the first delay of loop time).
    @Test("a bad link message kills the worker, and its exit takes the crash path")
    func badLinkMessage() throws {
        let host = try EmbeddedHost()
        defer { host.cleanUp() }
        let (client, _) = try host.connect()
        try host.worker.send([0, 0, 0, 1, 0x55])
        #expect(host.worker.terminated == 1)
        // The killed worker's link closes.
        try host.worker.link!.close().wait()
        host.loop.run()
        #expect(try EmbeddedHost.replies(client) == [Notice(code: .enclaveRestarted, value: 1).encode()])
        #expect(host.supervisor.restarts == 1)
        #expect(host.supervisor.pid == nil)
        #expect(host.worker.launches == 1)
        host.loop.advanceTime(by: .milliseconds(49))
        #expect(host.worker.launches == 1)
        host.loop.advanceTime(by: .milliseconds(1))
        #expect(host.worker.launches == 2)
    }
}
