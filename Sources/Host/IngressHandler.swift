import NIOCore
import Wire

/// One client connection. Finds frame boundaries (never opens a sealed body), forwards
/// complete frames to the enclave through the supervisor, writes back the replies routed
/// to it, and stops reading when too many of its frames are in flight.
///
/// Thread-safety: every method runs on the single host event loop (asserted), which is
/// what makes the `@unchecked Sendable` sound.
final class IngressHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let route: UInt32
    private let supervisor: EnclaveSupervisor
    private let metrics: HostMetrics
    private let maxInFlight: Int
    private var context: ChannelHandlerContext?
    private var cumulation: ByteBuffer?
    private var failed = false
    /// Frames forwarded to the enclave that have no reply yet.
    private(set) var inFlight = 0
    /// Evidence requests among them.
    private var evidenceInFlight = 0
    static let maxEvidenceInFlight = 4
    private var pendingRead = false
    private var needsFlush = false
    /// Set by the supervisor while routing one outbound batch, so each connection is
    /// flushed and resumed once per batch, not once per frame.
    var touchedThisBatch = false

    init(route: UInt32, supervisor: EnclaveSupervisor, metrics: HostMetrics, maxInFlight: Int) {
        self.route = route
        self.supervisor = supervisor
        self.metrics = metrics
        self.maxInFlight = maxInFlight
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        supervisor.register(self)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !failed, let rest = cumulation, rest.readableBytes > 0 {
            // The peer closed inside a frame: count it like any other malformed input.
            metrics.countMalformed(.truncated(needed: 6, available: rest.readableBytes))
        }
        supervisor.unregister(self)
        self.context = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var incoming = unwrapInboundIn(data)
        if cumulation == nil {
            cumulation = incoming
        } else {
            cumulation!.writeBuffer(&incoming)
        }
        guard drainOrFail(context: context) else { return }
        if let c = cumulation, c.readerIndex > 64 * 1024 { cumulation!.discardReadBytes() }
        supervisor.scheduleFlush()
    }

    /// Drains what it can; on a malformed frame, fails the connection and returns false.
    private func drainOrFail(context: ChannelHandlerContext) -> Bool {
        do {
            try drainFrames(context: context)
        } catch let error as WireError {
            fail(context: context, error: error)
            return false
        } catch {
            context.close(promise: nil)
            return false
        }
        if let c = cumulation, c.readableBytes == 0 { cumulation = nil }
        return true
    }

    /// Forwards complete buffered frames until the in-flight limit; the rest waits in
    /// `cumulation` until replies free capacity (`resumeIfPossible`).
    private func drainFrames(context: ChannelHandlerContext) throws {
        while inFlight < maxInFlight, var buffer = cumulation, buffer.readableBytes > 0 {
            let header = try buffer.withUnsafeReadableBytes { try FrameParser.parseHeader($0, direction: .fromClient) }
            guard let header else { return }
            metrics.framesIn.add(1, ordering: .relaxed)
            metrics.bytesIn.add(UInt64(header.totalLength), ordering: .relaxed)
            // Evidence and credential activation each cost a TPM operation.
            let costly = header.type == .evidenceRequest || header.type == .activateCredential
            let overLimit = costly && evidenceInFlight >= Self.maxEvidenceInFlight
            let forwarded = !overLimit && buffer.withUnsafeReadableBytes { raw in
                supervisor.forward(route: route, frame: UnsafeRawBufferPointer(rebasing: raw[0..<header.totalLength]))
            }
            if overLimit {
                // Evidence is expensive to make (a TPM quote, later) and large: a client
                // gets a few at a time, not a flood.
                refuse(header: header, buffer: buffer, reason: .tooManyRequests, context: context)
            } else if forwarded {
                inFlight += 1
                if costly { evidenceInFlight += 1 }
            } else {
                refuse(header: header, buffer: buffer, reason: .enclaveUnavailable, context: context)
            }
            buffer.moveReaderIndex(forwardBy: header.totalLength)
            cumulation = buffer
        }
    }

    /// Answers a frame the host will not forward (no enclave, or over a limit) at once,
    /// so the client never waits on a frame nobody will answer.
    private func refuse(header: FrameHeader, buffer: ByteBuffer, reason: RefusalReason, context: ChannelHandlerContext) {
        var sessionID: UInt64 = 0
        var reference: UInt64 = 0
        if header.type == .sealedRequest || header.type == .sessionOpen {
            sessionID = buffer.getInteger(at: buffer.readerIndex + header.bodyOffset, as: UInt64.self) ?? 0
        }
        if header.type == .sealedRequest {
            reference = buffer.getInteger(at: buffer.readerIndex + header.bodyOffset + 8, as: UInt64.self) ?? 0
        }
        if reason == .enclaveUnavailable {
            metrics.framesRefusedEnclaveDown.add(1, ordering: .relaxed)
        } else {
            metrics.framesRefusedOverLimit.add(1, ordering: .relaxed)
        }
        let refusal = Refusal(refused: header.type, sessionID: sessionID, reference: reference, reason: reason)
        write(frame: refusal.encode(), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    /// Outbound `read` interception: the back-pressure valve.
    func read(context: ChannelHandlerContext) {
        // Stop reading when: too much of ours is in the enclave, the enclave link is
        // saturated or draining, or this client is not reading its replies (its
        // outbound buffer is above the high watermark).
        if inFlight >= maxInFlight || !supervisor.acceptsInput || !context.channel.isWritable {
            if !pendingRead { metrics.readPauses.add(1, ordering: .relaxed) }
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { resumeIfPossible() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: - Called by the supervisor

    /// True when `frame` (a refusal) answers an evidence or activation request.
    private func refusesCostlyRequest(_ frame: ByteBuffer) -> Bool {
        // After the length (4), version and type: the refusal body starts with the refused type.
        let refused = frame.getInteger(at: frame.readerIndex + 4 + WireProtocol.headerBytes, as: UInt8.self)
        return refused == MessageType.evidenceRequest.rawValue || refused == MessageType.activateCredential.rawValue
    }

    /// Delivers one reply frame from the enclave (a slice of the batch buffer).
    func deliverReply(_ frame: ByteBuffer) {
        // Sealed events are pushed, not answers: they do not free in-flight capacity.
        let type = frame.getInteger(at: frame.readerIndex + 5, as: UInt8.self)
        if type != MessageType.sealedEvent.rawValue, inFlight > 0 { inFlight -= 1 }
        if evidenceInFlight > 0,
           type == MessageType.evidence.rawValue || type == MessageType.credentialActivated.rawValue
            || type == MessageType.refusal.rawValue && refusesCostlyRequest(frame) {
            evidenceInFlight -= 1
        }
        guard let context else {
            metrics.repliesUndeliverable.add(1, ordering: .relaxed)
            return
        }
        context.write(wrapOutboundOut(frame), promise: nil)
        metrics.framesOut.add(1, ordering: .relaxed)
        needsFlush = true
    }

    /// Sends a host-originated frame (notice) outside the request/reply accounting.
    func send(frame: [UInt8]) {
        guard let context else { return }
        write(frame: frame, context: context)
        flushIfNeeded()
    }

    /// The enclave died: nothing in flight will be answered.
    func forgetInFlight() -> Int {
        defer {
            inFlight = 0
            evidenceInFlight = 0
        }
        return inFlight
    }

    func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    /// Forwards frames held back by the in-flight limit, then re-issues a held read if
    /// the valve is open again.
    func resumeIfPossible() {
        guard let context, !failed else { return }
        if cumulation != nil && inFlight < maxInFlight {
            guard drainOrFail(context: context) else { return }
            supervisor.scheduleFlush()
            flushIfNeeded()
        }
        guard pendingRead, inFlight <= maxInFlight / 2, supervisor.acceptsInput, context.channel.isWritable else { return }
        pendingRead = false
        context.read()
    }

    func close() { context?.close(promise: nil) }

    private func write(frame: [UInt8], context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: frame.count)
        buffer.writeBytes(frame)
        context.write(wrapOutboundOut(buffer), promise: nil)
        metrics.framesOut.add(1, ordering: .relaxed)
        needsFlush = true
    }

    /// A malformed frame ends this connection only: typed error frame, then close.
    private func fail(context: ChannelHandlerContext, error: WireError) {
        failed = true
        cumulation = nil
        metrics.countMalformed(error)
        supervisor.logger.notice("malformed frame; closing connection", metadata: [
            "route": "\(route)", "reason": "\(error.label)",
        ])
        var buffer = context.channel.allocator.buffer(capacity: 64)
        buffer.writeBytes(ErrorMessage(code: error.code, message: error.label).encode())
        metrics.framesOut.add(1, ordering: .relaxed)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
