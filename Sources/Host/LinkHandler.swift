import NIOCore
import Wire

/// What a worker's link reports, in the order the worker sent it: the supervisor in
/// production, a recorder in the tests.
protocol LinkEvents: AnyObject {
    /// One whole link message; a thrown error is a protocol violation.
    func receivedLink(_ kind: LinkKind, _ body: ByteBuffer, worker: WorkerHandle) throws
    func linkProtocolViolation(_ error: Error, worker: WorkerHandle)
    func linkWritabilityChanged(_ writable: Bool)
    /// The link ended; called after every message the worker sent on it.
    func linkClosed(worker: WorkerHandle)
}

/// Hands the supervisor each link message from the worker's stdout, as
/// `LinkMessageDecoder` (in front of it) finds them, and reports the link's writability and
/// its end.
///
/// Thread-safety: runs on the supervisor's event loop, like the supervisor itself.
final class LinkHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = LinkMessage

    private let supervisor: LinkEvents
    private let worker: WorkerHandle
    /// Set once the worker broke the link protocol: it is being killed, nothing more is read.
    private var broken = false

    init(supervisor: LinkEvents, worker: WorkerHandle) {
        self.supervisor = supervisor
        self.worker = worker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !broken else { return }
        let message = unwrapInboundIn(data)
        do {
            try supervisor.receivedLink(message.kind, message.body, worker: worker)
        } catch {
            violation(error)
        }
    }

    /// A malformed link message (a typed `WireError` from the decoder) means a broken
    /// worker: it is killed, and the EOF that follows takes the crash path. A worker that
    /// exits inside a message (`truncated` at end of input) is already on that path. Any
    /// other error is the pipe's own: close it.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        switch error {
        case WireError.truncated: break
        case let error as WireError: violation(error)
        case ByteToMessageDecoderError.dataReceivedInErrorState: break
        default: context.close(promise: nil)
        }
    }

    private func violation(_ error: Error) {
        guard !broken else { return }
        broken = true
        supervisor.linkProtocolViolation(error, worker: worker)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        supervisor.linkWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    /// The end is reported on the next turn of the loop, not now. When the link closes
    /// while a read is being handled (the supervisor's write to a worker that just exited
    /// fails with EPIPE and closes the channel), `ByteToMessageHandler` passes
    /// `channelInactive` on first and delivers the messages it still holds afterwards, in
    /// the same call stack. Those are the worker's last words (`snapshotRejected`,
    /// `journalRejected`): reporting the end now would have the supervisor take them for a
    /// dead worker's protocol violation.
    func channelInactive(context: ChannelHandlerContext) {
        context.eventLoop.execute { self.supervisor.linkClosed(worker: self.worker) }
        context.fireChannelInactive()
    }
}
