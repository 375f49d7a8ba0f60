import NIOCore
import NIOHTTP1

/// Closes an HTTP API connection that takes longer than `timeout` to send a complete
/// request, counted from its accept or from the end of the previous response
/// (docs/PROTOCOL.md §1.2). Half-sent, trickled and idle keep-alive connections go; a
/// connection waiting for its answer stays. Counted in `http_request_timeouts_total`.
///
/// Thread-safety: one instance per channel, used only on its event loop.
final class HTTPRequestDeadline: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeout: TimeAmount
    private let metrics: HostMetrics
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount, metrics: HostMetrics) {
        self.timeout = timeout
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            // A whole request is in: the answer may take its time.
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context: context) }
        context.write(data, promise: promise)
    }

    private func arm(context: ChannelHandlerContext) {
        deadline?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.deadline = nil
            handler.metrics.httpRequestTimeouts.add(1, ordering: .relaxed)
            context.close(promise: nil)
        }
    }
}
