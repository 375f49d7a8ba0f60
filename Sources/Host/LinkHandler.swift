import NIOCore
import Wire

/// Hands the supervisor each link message from the worker's stdout, as
/// `LinkMessageDecoder` (in front of it) finds them, and reports the link's writability and
/// its end.
///
/// Thread-safety: runs on the supervisor's event loop, like the supervisor itself.
final class LinkHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = LinkMessage

    private let supervisor: EnclaveSupervisor
    private let worker: WorkerHandle
    /// Set once the worker broke the link protocol: it is being killed, nothing more is read.
    private var broken = false

    init(supervisor: EnclaveSupervisor, worker: WorkerHandle) {
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

    func channelInactive(context: ChannelHandlerContext) {
        supervisor.linkClosed(worker: worker)
        context.fireChannelInactive()
    }
}
