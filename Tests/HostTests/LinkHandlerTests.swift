import Foundation
import NIOCore
import NIOEmbedded
import Testing
import Wire

@testable import Host

/// `LinkHandler` behind the production `LinkMessageDecoder`, on an `EmbeddedChannel`.
@Suite("Link handler")
struct LinkHandlerTests {
    /// Records what the handler reports; closes the link while handling the first message,
    /// as a supervisor does when its write to a worker that just exited fails with EPIPE.
    final class Recorder: LinkEvents, WorkerHandle, @unchecked Sendable {
        enum Entry: Equatable { case message(LinkKind), violation, closed }
        var entries: [Entry] = []
        var closeOnFirstMessage: Channel?
        var pid: pid_t? { 1 }
        var label: String { "recorded worker" }

        func receivedLink(_ kind: LinkKind, _ body: ByteBuffer, worker: WorkerHandle) throws {
            entries.append(.message(kind))
            if let channel = closeOnFirstMessage {
                closeOnFirstMessage = nil
                channel.close(promise: nil)
            }
        }
        func linkProtocolViolation(_ error: Error, worker: WorkerHandle) { entries.append(.violation) }
        func linkWritabilityChanged(_ writable: Bool) {}
        func linkClosed(worker: WorkerHandle) { entries.append(.closed) }
        func terminate() {}
        func waitForExit(on eventLoop: EventLoop) -> EventLoopFuture<String> { eventLoop.makeSucceededFuture("") }
    }

    func channel(_ recorder: Recorder) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(LinkMessageDecoder()), LinkHandler(supervisor: recorder, worker: recorder))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// The worker's last message arrives in the same read as one whose handling closes the
    /// link: it is still delivered, and the end is reported after it (the race that made a
    /// refused snapshot look like a protocol violation).
    @Test func aCloseDuringAReadReportsTheEndAfterTheMessagesStillHeld() throws {
        let recorder = Recorder()
        let channel = try channel(recorder)
        recorder.closeOnFirstMessage = channel
        let bytes = encodeLinkMessage(kind: .hello, body: Array(#"{"instanceID":"0a"}"#.utf8))
            + SnapshotRejected(recordSequence: 7, reason: .doesNotOpen).encode()
        try channel.writeInbound(channel.allocator.buffer(bytes: bytes))
        (channel.eventLoop as! EmbeddedEventLoop).run()
        #expect(recorder.entries == [.message(.hello), .message(.snapshotRejected), .closed])
    }

    @Test func anOrdinaryEndIsReportedOnceAfterEveryMessage() throws {
        let recorder = Recorder()
        let channel = try channel(recorder)
        try channel.writeInbound(channel.allocator.buffer(bytes: SnapshotRejected(recordSequence: 3, reason: .malformed).encode()))
        _ = try channel.finish()
        (channel.eventLoop as! EmbeddedEventLoop).run()
        #expect(recorder.entries == [.message(.snapshotRejected), .closed])
    }
}
