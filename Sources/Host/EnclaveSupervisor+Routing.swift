#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Wire

/// Routing between connections and the worker: routes, the batch of client frames
/// being built, the outbound batches' replies, the HTTP API's evidence requests.
extension EnclaveSupervisor {
    // MARK: - Connections

    func register(_ handler: IngressHandler) {
        eventLoop.preconditionInEventLoop()
        connections[handler.route] = handler
        metrics.connectionsOpen.add(1, ordering: .relaxed)
    }

    func unregister(_ handler: IngressHandler) {
        eventLoop.preconditionInEventLoop()
        guard connections.removeValue(forKey: handler.route) != nil else { return }
        metrics.connectionsOpen.subtract(1, ordering: .relaxed)
        // Tell the worker so it drops the sessions opened on this connection.
        if isUp, let channel {
            flushPending()
            let message = HostLinkMessage.routeClosed(route: handler.route).encode()
            channel.writeAndFlush(channel.allocator.buffer(bytes: message), promise: nil)
        }
    }

    /// The open connection on `route`, if any.
    func connection(route: UInt32) -> IngressHandler? { connections[route] }

    func allocateRoute() -> UInt32 {
        eventLoop.preconditionInEventLoop()
        repeat {
            nextRoute = nextRoute &+ 1
            if nextRoute >= Self.evidenceRoutes.lowerBound { nextRoute = 1 }
        } while nextRoute == 0 || connections[nextRoute] != nil
        return nextRoute
    }

    /// Asks the worker for evidence answering `nonce` on behalf of the HTTP API; the
    /// future holds the reply frame (evidence, or a refusal). Fails when no worker is up
    /// or too many requests are waiting. Call on the event loop.
    func requestEvidence(nonce: [UInt8]) -> EventLoopFuture<ByteBuffer> {
        eventLoop.preconditionInEventLoop()
        guard evidenceWaiters.count < Self.maxEvidenceInFlight else {
            return eventLoop.makeFailedFuture(EvidenceRequestError.busy)
        }
        repeat {
            nextEvidenceRoute = nextEvidenceRoute &+ 1
            if !Self.evidenceRoutes.contains(nextEvidenceRoute) { nextEvidenceRoute = Self.evidenceRoutes.lowerBound }
        } while evidenceWaiters[nextEvidenceRoute] != nil
        let route = nextEvidenceRoute
        let frame = EvidenceRequest(nonce: nonce).encode()
        guard frame.withUnsafeBytes({ forward(route: route, frame: $0) }) else {
            return eventLoop.makeFailedFuture(EvidenceRequestError.enclaveUnavailable)
        }
        let promise = eventLoop.makePromise(of: ByteBuffer.self)
        evidenceWaiters[route] = promise
        scheduleFlush()
        return promise.futureResult
    }

    func failEvidenceWaiters() {
        let waiters = evidenceWaiters
        evidenceWaiters = [:]
        for p in waiters.values { p.fail(EvidenceRequestError.enclaveUnavailable) }
    }

    // MARK: - Client → enclave

    /// Appends one complete client frame to the next batch. False when no worker is up, or
    /// this host is not the primary (a standby's worker is replaying: nothing reaches it).
    func forward(route: UInt32, frame: UnsafeRawBufferPointer) -> Bool {
        guard isUp, !refusesAsNotPrimary, journal?.isAvailable ?? true else { return false }
        beginTick()
        pending.writeInteger(route)
        pending.writeBytes(frame)
        pendingCount += 1
        if pending.readableBytes >= configuration.maxBatchBytes { flushPending() }
        return true
    }

    /// Why a frame `forward` refused is refused: `notPrimary` on a standby or a primary
    /// stepping down, `journalUnavailable` while a worker is up but the journal cannot be
    /// written, else `enclaveUnavailable`.
    var refusalReason: RefusalReason {
        if refusesAsNotPrimary { return .notPrimary }
        if isUp, journal?.isAvailable == false { return .journalUnavailable }
        return .enclaveUnavailable
    }

    /// Coalesces everything forwarded during this event-loop tick into one batch.
    func scheduleFlush() {
        guard !flushScheduled, pendingCount > 0 else { return }
        flushScheduled = true
        eventLoop.execute { self.flushPending() }
    }

    /// Opens a `WakePacer` tick for data-path work done in this loop iteration.
    func beginTick() {
        guard pacer.interval > 0, pacer.beginTick(now: MonotonicClock.nanos()) else { return }
        eventLoop.execute { self.endTick() }
    }

    /// Runs after the iteration's I/O: sends the batch built so far, then sleeps if the
    /// pacer says so, so that the next iteration finds more to do. Nothing is held back
    /// by the sleep: every frame read has been forwarded and every reply routed and
    /// flushed before it.
    private func endTick() {
        flushPending()
        let sleep = pacer.endTick(now: MonotonicClock.nanos())
        guard sleep > 0 else { return }
        metrics.coalesceSleeps.add(1, ordering: .relaxed)
        metrics.coalesceSleepNanos.add(sleep, ordering: .relaxed)
        var left = timespec(tv_sec: Int(sleep / 1_000_000_000), tv_nsec: Int(sleep % 1_000_000_000))
        var request = left
        while nanosleep(&request, &left) != 0 && errno == EINTR { request = left }
    }

    func flushPending() {
        flushScheduled = false
        guard pendingCount > 0, let channel else { return }
        // The header `LinkBatchWriter` defines: length (bytes after it) ‖ kind ‖ count.
        pending.setInteger(UInt32(pending.readableBytes - 4), at: pending.readerIndex)
        pending.setInteger(pendingCount, at: pending.readerIndex + LinkBatchWriter.countOffset)
        let batch = pending
        resetPending()
        metrics.batchesToEnclave.add(1, ordering: .relaxed)
        channel.writeAndFlush(batch, promise: nil)
        // What the pipe did not take at once waits in the channel (metrics: queue depth).
        if let queued = try? channel.syncOptions?.getOption(.bufferedWritableBytes) {
            metrics.linkQueueDepth.observe(UInt64(max(0, queued)))
        }
    }

    func resetPending() {
        pending = ByteBufferAllocator().buffer(capacity: configuration.maxBatchBytes + 64 * 1024)
        pending.writeInteger(UInt32(0) as UInt32)
        pending.writeInteger(LinkKind.inboundBatch.rawValue)
        pending.writeInteger(UInt32(0) as UInt32)
        pendingCount = 0
    }

    // MARK: - Enclave → clients

    /// Routes every frame of one outbound batch, then flushes each touched connection once.
    func receivedBatch(_ body: ByteBuffer) throws {
        metrics.batchesFromEnclave.add(1, ordering: .relaxed)
        routingNanos = MonotonicClock.nanos()  // one clock read per batch, for receipt latency
        var body = body
        guard let count = body.readInteger(as: UInt32.self) else { throw WireError.truncated(needed: 4, available: 0) }
        var touched: [IngressHandler] = []
        for _ in 0..<count {
            guard let route = body.readInteger(as: UInt32.self) else { throw WireError.truncated(needed: 4, available: 0) }
            let header = try body.withUnsafeReadableBytes { try FrameParser.parseHeader($0, direction: .toClient) }
            guard let header, let frame = body.readSlice(length: header.totalLength) else {
                throw WireError.truncated(needed: 6, available: body.readableBytes)
            }
            if header.type == .enrollChallenge || header.type == .enrollGrant || header.type == .refusal {
                observeEnrollment(frame, route: route)
            }
            if let handler = connections[route] {
                handler.deliverReply(frame)
                if !handler.touchedThisBatch {
                    handler.touchedThisBatch = true
                    touched.append(handler)
                }
            } else if let waiter = evidenceWaiters.removeValue(forKey: route) {
                waiter.succeed(frame)
            } else {
                metrics.repliesUndeliverable.add(1, ordering: .relaxed)
            }
        }
        guard body.readableBytes == 0 else { throw WireError.invalidField("trailing bytes in outbound batch") }
        for handler in touched {
            handler.touchedThisBatch = false
            handler.flushIfNeeded()
            handler.resumeIfPossible()
        }
    }
}
