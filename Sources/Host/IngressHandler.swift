import NIOCore
import Wire

/// One client connection, behind a `ClientFrameDecoder` that finds the frame boundaries
/// (never opening a sealed body). Forwards complete frames to the enclave through the
/// supervisor, writes back the replies routed to it in request order (host refusals
/// included), and stops reading when too many of its frames are in flight. It closes only
/// once every reply it owes is written (docs/PROTOCOL.md §1.1), and enforces its admission
/// deadline (§1.2). A `WireError` from the decoder is the malformed frame that ends it.
///
/// Thread-safety: every method runs on the single host event loop (asserted), which is
/// what makes the `@unchecked Sendable` sound.
final class IngressHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ClientFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let route: UInt32
    private let supervisor: EnclaveSupervisor
    private let metrics: HostMetrics
    private let maxInFlight: Int
    /// Its standing with the connection gate: the handshake deadline (§1.2).
    private let ticket: GateTicket
    private var context: ChannelHandlerContext?
    /// Complete frames read but not yet forwarded: held back by the in-flight limit.
    private var waiting = CircularBuffer<ClientFrame>()
    /// Set when the connection stops reading for good; it closes once nothing is owed.
    private var ending: Ending?
    /// Set once the close has begun (the Error frame, if any, is written).
    private var closing = false
    /// Frames in the enclave and host answers held behind them, in request order.
    private var replies = ReplyOrder()
    /// Frames forwarded to the enclave that have no reply yet.
    var inFlight: Int { replies.inFlight }
    /// Evidence requests among them.
    private var evidenceInFlight = 0
    static let maxEvidenceInFlight = 4
    private var pendingRead = false
    /// Monotonic ns of the latest read from the client (metrics: receipt latency).
    private var readAt: UInt64 = 0
    /// `readAt` belongs to the socket read in progress.
    private var readTimed = false
    private var needsFlush = false
    /// Set by the supervisor while routing one outbound batch, so each connection is
    /// flushed and resumed once per batch, not once per frame.
    var touchedThisBatch = false

    /// Why a connection stopped reading (docs/PROTOCOL.md §1, "Closing").
    enum Ending {
        /// A malformed frame: an `Error` frame follows every owed reply, then the close.
        case malformed(WireError)
        /// The client half-closed its side: the host closes once every owed reply is written.
        case inputClosed
        /// The host sheds the connection (§1.2): it closes once every owed reply is written.
        case shed(ShedReason)
    }

    init(ticket: GateTicket, supervisor: EnclaveSupervisor, metrics: HostMetrics, maxInFlight: Int) {
        self.route = ticket.route
        self.ticket = ticket
        self.supervisor = supervisor
        self.metrics = metrics
        self.maxInFlight = maxInFlight
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        ticket.leave()  // also covers a channel that never became active
    }

    func channelActive(context: ChannelHandlerContext) {
        supervisor.register(self)
        // A strong capture, not `[weak self]`: a weak reference gives the handler a side
        // table, and every retain and release of it (several per frame and per reply) then
        // takes the runtime's slow path (issue 17). The cycle through the ticket's deadline
        // ends when the deadline fires or is cancelled: on the first valid frame, or at
        // `leave()`, which `channelInactive` and `handlerRemoved` both call.
        ticket.start(on: context.eventLoop) { reason in self.shed(reason) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        waiting.removeAll()
        ticket.leave()
        supervisor.unregister(self)
        self.context = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // Half-close (or the first half of a close): read nothing more, but forward
            // the complete frames already here and answer them before closing.
            if ending == nil { ending = .inputClosed }
            finishIfSettled()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Frames the decoder finds at channelInactive arrive too late to be forwarded.
        guard ending == nil, context.channel.isActive else { return }
        // One clock read per socket read, not per frame: the decoder hands over the frames
        // of one read one by one, and `channelReadComplete` ends the read.
        if !readTimed {
            readAt = MonotonicClock.nanos()
            readTimed = true
            supervisor.checkLease(now: readAt)
        }
        waiting.append(unwrapInboundIn(data))
        drainFrames(context: context)
        supervisor.scheduleFlush()
    }

    /// Forwards waiting frames until the in-flight limit; the rest wait until replies free
    /// capacity (`resumeIfPossible`).
    private func drainFrames(context: ChannelHandlerContext) {
        while inFlight < maxInFlight, let frame = waiting.popFirst() {
            let header = frame.header
            let buffer = frame.bytes
            ticket.validFrame()
            metrics.framesIn.add(1, ordering: .relaxed)
            metrics.bytesIn.add(UInt64(header.totalLength), ordering: .relaxed)
            // Evidence, credential activation and key enrollment each cost a TPM operation.
            let costly = header.type == .evidenceRequest || header.type == .activateCredential
                || header.type == .enrollChallengeRequest || header.type == .enrollRequest
            let overLimit = costly && evidenceInFlight >= Self.maxEvidenceInFlight
            let forwarded = !overLimit && buffer.withUnsafeReadableBytes { raw in
                supervisor.forward(route: route, frame: raw)
            }
            if overLimit {
                // Evidence is expensive to make (a TPM quote, later) and large: a client
                // gets a few at a time, not a flood.
                refuse(header: header, buffer: buffer, reason: .tooManyRequests, context: context)
            } else if forwarded {
                replies.forwardedOne(readAt: readAt)
                if costly { evidenceInFlight += 1 }
            } else {
                refuse(header: header, buffer: buffer, reason: supervisor.refusalReason, context: context)
            }
        }
    }

    /// Answers a frame the host will not forward (no enclave, or over a limit), behind the
    /// replies to this connection's earlier frames, so the client never waits on a frame
    /// nobody will answer and replies keep the order of requests.
    private func refuse(header: FrameHeader, buffer: ByteBuffer, reason: RefusalReason, context: ChannelHandlerContext) {
        if reason == .enclaveUnavailable {
            metrics.framesRefusedEnclaveDown.add(1, ordering: .relaxed)
        } else if reason == .journalUnavailable {
            metrics.framesRefusedJournalUnavailable.add(1, ordering: .relaxed)
        } else if reason == .notPrimary {
            supervisor.countNotPrimary()
        } else {
            metrics.framesRefusedOverLimit.add(1, ordering: .relaxed)
        }
        let refusal = Refusal(hostRefusing: header, frame: buffer, reason: reason)
        if let frame = replies.hostAnswer(refusal.encode()) { write(frame: frame, context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readTimed = false
        flushIfNeeded()
        finishIfSettled()
        context.fireChannelReadComplete()
    }

    /// Outbound `read` interception: the back-pressure valve.
    func read(context: ChannelHandlerContext) {
        // Stop reading when: the connection is ending, too much of ours is in the
        // enclave, the enclave link is saturated or draining, or this client is not
        // reading its replies (its outbound buffer is above the high watermark).
        // Frames held back by the in-flight limit count as a pause even when the connection
        // is ending: the decoder may have read past them to the malformed frame that ends it.
        if inFlight >= maxInFlight || !supervisor.acceptsInput || !context.channel.isWritable {
            if !pendingRead { metrics.readPauses.add(1, ordering: .relaxed) }
            pendingRead = true
        } else if ending == nil {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { resumeIfPossible() }
        context.fireChannelWritabilityChanged()
    }

    /// A `WireError` from the decoder: `truncated` is a partial frame at the end of input
    /// (counted; no reply is possible), any other is a malformed frame that ends the
    /// connection after the replies owed (§1). Bytes the decoder refuses after it are
    /// ignored: reading has stopped. Any other error is a socket error: close at once.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        switch error {
        case let error as WireError:
            if case .truncated = error {
                // A shed connection drops its unread bytes without counting them.
                if case .shed = ending {} else { metrics.countMalformed(error) }
            } else {
                fail(error: error)
            }
        case ByteToMessageDecoderError.dataReceivedInErrorState:
            break
        default:
            context.close(promise: nil)
        }
    }

    // MARK: - Called by the supervisor

    /// True when `frame` (a refusal) answers an evidence or activation request.
    private func refusesCostlyRequest(_ frame: ByteBuffer) -> Bool {
        // After the length (4), version and type: the refusal body starts with the refused type.
        let refused = frame.getInteger(at: frame.readerIndex + 4 + WireProtocol.headerBytes, as: UInt8.self)
        return refused == MessageType.evidenceRequest.rawValue || refused == MessageType.activateCredential.rawValue
            || refused == MessageType.enrollChallengeRequest.rawValue || refused == MessageType.enrollRequest.rawValue
    }

    /// Delivers one reply frame from the enclave (a slice of the batch buffer), then any
    /// host answers that were waiting for it.
    func deliverReply(_ frame: ByteBuffer) {
        // Sealed events are pushed, not answers: they do not free in-flight capacity.
        let type = frame.getInteger(at: frame.readerIndex + 5, as: UInt8.self)
        let released = type == MessageType.sealedEvent.rawValue ? [] : replies.enclaveAnswered()
        if type == MessageType.sessionAccepted.rawValue { ticket.sessionAccepted() }
        if evidenceInFlight > 0,
           type == MessageType.evidence.rawValue || type == MessageType.credentialActivated.rawValue
            || type == MessageType.enrollChallenge.rawValue || type == MessageType.enrollGrant.rawValue
            || type == MessageType.refusal.rawValue && refusesCostlyRequest(frame) {
            evidenceInFlight -= 1
        }
        guard let context else {
            metrics.repliesUndeliverable.add(UInt64(1 + released.count), ordering: .relaxed)
            return
        }
        context.write(wrapOutboundOut(frame), promise: nil)
        metrics.framesOut.add(1, ordering: .relaxed)
        if type != MessageType.sealedEvent.rawValue, replies.lastAnswerReadAt > 0 {
            metrics.receiptLatency.observe(supervisor.routingNanos &- replies.lastAnswerReadAt)
        }
        needsFlush = true
        for held in released { write(frame: held, context: context) }
    }

    /// Sends a host-originated frame (notice) outside the request/reply accounting.
    func send(frame: [UInt8]) {
        guard let context, !closing else { return }
        write(frame: frame, context: context)
        flushIfNeeded()
    }

    /// The enclave died: nothing in flight will be answered. Host answers held behind
    /// those frames go out now. Returns how many frames were lost.
    func forgetInFlight() -> Int {
        evidenceInFlight = 0
        let (lost, released) = replies.forgetForwarded()
        if let context {
            for held in released { write(frame: held, context: context) }
            flushIfNeeded()
        }
        return lost
    }

    func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    /// Forwards frames held back by the in-flight limit, re-issues a held read if the
    /// valve is open again, and closes an ending connection once nothing is owed.
    func resumeIfPossible() {
        guard let context, !closing else { return }
        if !waiting.isEmpty && inFlight < maxInFlight {
            drainFrames(context: context)
            supervisor.scheduleFlush()
            flushIfNeeded()
        }
        finishIfSettled()
        guard ending == nil, pendingRead, inFlight <= maxInFlight / 2, supervisor.acceptsInput,
              context.channel.isWritable else { return }
        pendingRead = false
        context.read()
    }

    func close() { context?.close(promise: nil) }

    /// The host drops this connection: reading stops and it closes once every reply it is
    /// owed has been written (at once for an idle one); docs/PROTOCOL.md §1.2.
    func shed(_ reason: ShedReason) {
        guard ending == nil else { return }
        ticket.shedding(reason)
        supervisor.logger.debug("shedding connection", metadata: ["route": "\(route)", "reason": "\(reason.label)"])
        ending = .shed(reason)
        finishIfSettled()
    }

    private func write(frame: [UInt8], context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: frame.count)
        buffer.writeBytes(frame)
        context.write(wrapOutboundOut(buffer), promise: nil)
        metrics.framesOut.add(1, ordering: .relaxed)
        needsFlush = true
    }

    /// A malformed frame ends this connection only: reading stops, the complete frames
    /// before it are answered, then a typed error frame is sent and the connection closed.
    private func fail(error: WireError) {
        guard ending == nil else { return }
        ending = .malformed(error)
        metrics.countMalformed(error)
        supervisor.logger.notice("malformed frame; closing connection", metadata: [
            "route": "\(route)", "reason": "\(error.label)", "replies_owed": "\(inFlight + replies.heldCount + waiting.count)",
        ])
        // The frames before it may still sit in the supervisor's batch.
        supervisor.scheduleFlush()
        finishIfSettled()
    }

    /// Closes an ending connection once every reply it is owed has been written: after a
    /// malformed frame with the `Error` frame last; after a half-close or a shed once the
    /// complete frames read before it are forwarded and answered (the decoder counts a
    /// partial frame left as truncated).
    private func finishIfSettled() {
        guard let ending, !closing, let context, replies.isSettled else { return }
        if !waiting.isEmpty {
            // Complete frames held back by the in-flight limit are forwarded first.
            drainFrames(context: context)
            supervisor.scheduleFlush()
            guard waiting.isEmpty, replies.isSettled, !closing else { return }
        }
        closing = true
        let channel = context.channel
        switch ending {
        case .malformed(let error):
            var buffer = channel.allocator.buffer(capacity: 64)
            buffer.writeBytes(ErrorMessage(code: error.code, message: error.label).encode())
            metrics.framesOut.add(1, ordering: .relaxed)
            needsFlush = false
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        case .inputClosed, .shed:
            needsFlush = false
            context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }
}
