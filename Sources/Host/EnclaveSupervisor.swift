#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import NIOPosix
import Wire

/// Owns the enclave worker: spawns it, batches client frames into it, routes its replies
/// back to connections, restarts it when it dies, and stops it on shutdown.
///
/// Thread-safety: all state lives on one event loop (the host runs a single-threaded
/// group); every entry point asserts it. That makes the `@unchecked Sendable` sound.
final class EnclaveSupervisor: @unchecked Sendable {
    enum State: Equatable {
        case idle
        case starting(pid: pid_t)
        /// Said hello; being fed the journal, not yet `recovered` (docs/DURABILITY.md §4).
        case recovering(pid: pid_t)
        case up(pid: pid_t)
        /// Crashed; a restart is scheduled.
        case down
        case stopping
        case stopped
    }

    let eventLoop: EventLoop
    let logger: Logger
    private let configuration: HostConfiguration
    private let transport: EnclaveTransport
    private var worker: WorkerHandle?
    let metrics: HostMetrics
    private(set) var state: State = .idle
    private(set) var channel: Channel?
    private var connections: [UInt32: IngressHandler] = [:]
    private var nextRoute: UInt32 = 1
    private var pending: ByteBuffer
    private var pendingCount: UInt32 = 0
    private var flushScheduled = false
    private var linkWritable = true
    private var restartDelay: Int64
    private var startedAt = NIODeadline.now()
    private var firstStart: EventLoopPromise<Void>?
    private var stopPromise: EventLoopPromise<Void>?
    /// Restarts after crashes so far.
    private(set) var restarts: UInt64 = 0
    /// Latest hello document (public evidence without a nonce) from the worker.
    private(set) var helloJSON: [UInt8]?
    /// Appends the enclave's public outputs and serves them to the HTTP API.
    let publisher: OutputPublisher
    /// Evidence requests from the HTTP API in flight, by their reserved route.
    private var evidenceWaiters: [UInt32: EventLoopPromise<ByteBuffer>] = [:]
    private var nextEvidenceRoute = EnclaveSupervisor.evidenceRoutes.lowerBound
    /// Routes for the HTTP API's evidence requests; connections use the ones below.
    static let evidenceRoutes: Range<UInt32> = 0xF000_0000..<UInt32.max
    /// Most HTTP evidence requests in flight at once (each one is a TPM quote).
    static let maxEvidenceInFlight = 8
    /// Called on the event loop each time a worker becomes ready, with its pid.
    var onReady: ((pid_t) -> Void)?
    /// The journal, when the host keeps one (set before `start`).
    var journal: (any JournalBackend)? {
        didSet { journal?.onDurable = { [unowned self] sequence in self.journalDurable(upTo: sequence) } }
    }
    /// The worker's sealed snapshots, when the host keeps them (set before `start`).
    var snapshots: SnapshotStore?
    /// Snapshots a worker refused since this host started: never offered again.
    var rejectedSnapshots: Set<String> = []
    /// The snapshot the recovering worker was sent, if any.
    var snapshotInUse: StoredSnapshot?
    /// Set when a worker refused its snapshot: its exit is expected, and the next worker
    /// is offered the next older snapshot (or genesis), even during start-up.
    var snapshotRetry = false
    /// Worker messages held until the journal records before them are durable.
    var gate = ReleaseGate<HeldLinkMessage>()
    /// Counts hellos, so a feed scheduled for one worker never reaches the next.
    private(set) var helloCount: UInt64 = 0
    /// When the host saw the last worker exit unexpectedly (`enclave_recovered` reports the
    /// time since), and when it began feeding the current worker the journal.
    var lastCrashAt: NIODeadline?
    var replayStartedAt: NIODeadline?
    /// The current worker was served at `hello` (it has no storage key, or the host keeps
    /// no journal): the all-zero `recovered` it sends before its first batch is ignored.
    var servedAtHello = false
    /// Why the host must stop (a rejected journal); set once.
    private(set) var fatal: Error?
    /// Called on the event loop when `fatal` is set after start-up.
    var onFatal: ((Error) -> Void)?

    init(eventLoop: EventLoop, configuration: HostConfiguration, transport: EnclaveTransport, metrics: HostMetrics, logger: Logger) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.transport = transport
        self.metrics = metrics
        self.logger = logger
        self.publisher = OutputPublisher(dataDirectory: configuration.dataDirectory, metrics: metrics)
        self.restartDelay = configuration.restartDelayMillis
        pending = ByteBufferAllocator().buffer(capacity: configuration.maxBatchBytes + 64 * 1024)
        resetPending()
    }

    /// Set once shutdown begins: clients are no longer read from.
    private var draining = false

    /// True when the host should read more client frames.
    var acceptsInput: Bool {
        if draining { return false }
        if case .up = state { return linkWritable }
        // While down or recovering, reads continue so frames get an immediate `enclaveUnavailable`.
        if case .recovering = state { return true }
        return state == .down
    }

    var pid: pid_t? {
        switch state {
        case .starting(let pid), .recovering(let pid), .up(let pid): pid
        default: nil
        }
    }

    /// Total frames in the enclave without a reply, over all connections.
    var totalInFlight: Int { connections.values.reduce(0) { $0 + $1.inFlight } }

    // MARK: - Lifecycle

    /// Starts the first worker; the future fails if it exits before saying hello.
    func start() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let promise = self.eventLoop.makePromise(of: Void.self)
            self.firstStart = promise
            self.spawn()
            return promise.futureResult
        }
    }

    private func spawn() {
        eventLoop.preconditionInEventLoop()
        state = .starting(pid: 0)
        startedAt = .now()
        transport.launch(on: eventLoop) { channel, handle in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(LinkHandler(supervisor: self, worker: handle))
            }
        }.whenComplete { result in
            switch result {
            case .success(let (channel, handle)):
                if self.state == .stopping || self.state == .stopped {
                    // Shutdown began while this worker was starting: it never serves.
                    handle.terminate()
                    return
                }
                self.channel = channel
                self.worker = handle
                if case .starting = self.state { self.state = .starting(pid: handle.pid ?? 0) }
                self.metrics.enclaveStarts.add(1, ordering: .relaxed)
                self.logger.info("enclave spawned", metadata: ["worker": "\(handle.label)"])
            case .failure(let error):
                self.logger.error("enclave spawn failed", metadata: ["error": "\(error)"])
                if let p = self.firstStart {
                    self.firstStart = nil
                    self.state = .stopped
                    p.fail(error)
                } else {
                    self.scheduleRestart()
                }
            }
        }
    }

    /// Graceful stop: wait (bounded) for in-flight frames, then close the worker's stdin
    /// so it exits on EOF; resolves when it has exited.
    func shutdown() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.draining = true
            for handler in self.connections.values {
                handler.send(frame: Notice(code: .shuttingDown, value: 0).encode())
            }
            let deadline = NIODeadline.now() + .milliseconds(self.configuration.drainTimeoutMillis)
            return self.waitForDrain(until: deadline).flatMap { self.stopWorker() }
        }
    }

    private func waitForDrain(until deadline: NIODeadline) -> EventLoopFuture<Void> {
        flushPending()
        guard case .up = state, totalInFlight > 0, NIODeadline.now() < deadline else {
            if totalInFlight > 0 {
                logger.warning("drain timeout; frames still in flight", metadata: ["in_flight": "\(totalInFlight)"])
            }
            return eventLoop.makeSucceededVoidFuture()
        }
        return eventLoop.scheduleTask(in: .milliseconds(10)) {}.futureResult.flatMap { self.waitForDrain(until: deadline) }
    }

    private func stopWorker() -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        state = .stopping
        guard let channel, let worker else {
            state = .stopped
            promise.succeed()
            return promise.futureResult
        }
        stopPromise = promise
        channel.close(mode: .output, promise: nil)
        // A worker that ignores EOF is killed after the drain timeout.
        eventLoop.scheduleTask(in: .milliseconds(configuration.drainTimeoutMillis)) {
            if self.state == .stopping { worker.terminate() }
        }
        return promise.futureResult
    }

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
        if case .up = state, let channel {
            flushPending()
            var buffer = channel.allocator.buffer(capacity: 9)
            buffer.writeInteger(UInt32(5))
            buffer.writeInteger(LinkKind.routeClosed.rawValue)
            buffer.writeInteger(handler.route)
            channel.writeAndFlush(buffer, promise: nil)
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

    private func failEvidenceWaiters() {
        let waiters = evidenceWaiters
        evidenceWaiters = [:]
        for p in waiters.values { p.fail(EvidenceRequestError.enclaveUnavailable) }
    }

    // MARK: - Client → enclave

    /// Appends one complete client frame to the next batch. False when no worker is up.
    func forward(route: UInt32, frame: UnsafeRawBufferPointer) -> Bool {
        guard case .up = state, journal?.isAvailable ?? true else { return false }
        pending.writeInteger(route)
        pending.writeBytes(frame)
        pendingCount += 1
        if pending.readableBytes >= configuration.maxBatchBytes { flushPending() }
        return true
    }

    /// Why a frame `forward` refused is refused: `journalUnavailable` while a worker is up
    /// but the journal cannot be written, else `enclaveUnavailable`.
    var refusalReason: RefusalReason {
        if case .up = state, journal?.isAvailable == false { return .journalUnavailable }
        return .enclaveUnavailable
    }

    /// Coalesces everything forwarded during this event-loop tick into one batch.
    func scheduleFlush() {
        guard !flushScheduled, pendingCount > 0 else { return }
        flushScheduled = true
        eventLoop.execute { self.flushPending() }
    }

    func flushPending() {
        flushScheduled = false
        guard pendingCount > 0, let channel else { return }
        pending.setInteger(UInt32(pending.readableBytes - 4), at: pending.readerIndex)
        pending.setInteger(pendingCount, at: pending.readerIndex + 5)
        let batch = pending
        resetPending()
        metrics.batchesToEnclave.add(1, ordering: .relaxed)
        channel.writeAndFlush(batch, promise: nil)
    }

    private func resetPending() {
        pending = ByteBufferAllocator().buffer(capacity: configuration.maxBatchBytes + 64 * 1024)
        pending.writeInteger(UInt32(0) as UInt32)
        pending.writeInteger(LinkKind.inboundBatch.rawValue)
        pending.writeInteger(UInt32(0) as UInt32)
        pendingCount = 0
    }

    // MARK: - Enclave → clients

    func linkWritabilityChanged(_ writable: Bool) {
        linkWritable = writable
        if !writable { metrics.linkSaturations.add(1, ordering: .relaxed) }
        if writable { resumeAll() }
    }

    func receivedHello(_ json: ByteBuffer, worker: WorkerHandle) {
        guard case .starting = state else {
            // A hello after shutdown began (or a second hello) is not a worker we serve.
            if state == .stopping || state == .stopped { worker.terminate() }
            return
        }
        let pid = worker.pid ?? 0
        helloCount += 1
        servedAtHello = false
        helloJSON = Array(json.readableBytesView)
        let hello = try? JSONDecoder().decode(Hello.self, from: Data(helloJSON!))
        // A worker with a storage key keeps a journal and waits to be fed it; its outputs
        // epoch starts once the previous worker's held outputs are all released.
        if journal != nil, hello?.storageKey != nil {
            state = .recovering(pid: pid)
            beginRecovery(worker: worker, hello: helloCount)
            return
        }
        startOutputEpoch(hello)
        servedAtHello = true
        becomeUp(worker: worker)
    }

    struct Hello: Decodable {
        var instanceID: String
        var storageKey: String?
        var signer: String?
    }

    /// Opens the outputs of the worker that said `hello` (continued or archived, cut back to
    /// the last published header: docs/COMMITMENTS.md §4).
    func startOutputEpoch(_ hello: Hello?) {
        do {
            guard let hello, let helloJSON else { throw PublishError.malformed("hello is not evidence") }
            let start = try publisher.startEpoch(instanceID: hello.instanceID, signer: hello.signer, evidenceJSON: helloJSON)
            logger.info("output_epoch_started", metadata: [
                "continued": "\(start.continued)", "published_batches": "\(start.batches)",
                "trimmed_event_bytes": "\(start.trimmedEventBytes)", "trimmed_decision_lines": "\(start.trimmedDecisionLines)",
                "trimmed_decision_bytes": "\(start.trimmedDecisionBytes)", "trimmed_header_bytes": "\(start.trimmedHeaderBytes)",
            ])
        } catch {
            // Trading can go on; the outputs of this epoch are lost, loudly.
            metrics.publishErrors.add(1, ordering: .relaxed)
            logger.error("cannot start output epoch", metadata: ["error": "\(error)"])
        }
    }

    /// Stops serving for good (the worker rejected the journal, or it cannot be read): the
    /// worker is killed and not restarted, and the host exits with `error`.
    func stopFatally(_ error: Error, worker: WorkerHandle) {
        guard fatal == nil else { return }
        fatal = error
        logger.critical("host_stopping", metadata: ["error": "\(error)"])
        state = .stopping
        worker.terminate()
        if let p = firstStart {
            firstStart = nil
            p.fail(error)
        } else {
            onFatal?(error)
        }
    }

    /// The worker serves: clients' frames go to it from now on.
    func becomeUp(worker: WorkerHandle) {
        let pid = worker.pid ?? 0
        state = .up(pid: pid)
        metrics.enclaveUp.store(1, ordering: .relaxed)
        writeEvidenceSnapshot()
        logger.info("enclave ready", metadata: ["worker": "\(worker.label)", "restarts": "\(restarts)"])
        onReady?(pid)
        if let p = firstStart {
            firstStart = nil
            p.succeed()
        }
        resumeAll()
    }

    /// Appends one public output message (event leaves, decision lines or a signed
    /// header) to `DATA/outputs/`. A blocking append on the loop: the page cache takes
    /// it, and outputs are a small fraction of the frames.
    func receivedOutput(_ kind: LinkKind, _ body: ByteBuffer) {
        do {
            try body.withUnsafeReadableBytes { (raw) throws(PublishError) in
                switch kind {
                case .eventLeaves: try publisher.appendEventLeaves(raw)
                case .decisions: try publisher.appendDecisions(raw)
                case .batchHeader: try publisher.appendBatch(raw)
                default: break
                }
            }
        } catch {
            metrics.publishErrors.add(1, ordering: .relaxed)
            logger.error("cannot publish enclave output", metadata: ["kind": "\(kind)", "error": "\(error)"])
        }
    }

    func receivedStats(_ stats: EnclaveStats) {
        metrics.enclaveStats.withLock { $0 = stats }
    }

    /// Routes every frame of one outbound batch, then flushes each touched connection once.
    func receivedBatch(_ body: ByteBuffer) throws {
        metrics.batchesFromEnclave.add(1, ordering: .relaxed)
        var body = body
        guard let count = body.readInteger(as: UInt32.self) else { throw WireError.truncated(needed: 4, available: 0) }
        var touched: [IngressHandler] = []
        for _ in 0..<count {
            guard let route = body.readInteger(as: UInt32.self) else { throw WireError.truncated(needed: 4, available: 0) }
            let header = try body.withUnsafeReadableBytes { try FrameParser.parseHeader($0, direction: .toClient) }
            guard let header, let frame = body.readSlice(length: header.totalLength) else {
                throw WireError.truncated(needed: 6, available: body.readableBytes)
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

    /// The worker sent something that is not valid link protocol: it is broken. Kill it;
    /// the EOF that follows takes the crash path.
    func linkProtocolViolation(_ error: Error, worker: WorkerHandle) {
        logger.error("enclave link protocol violation; killing worker", metadata: ["worker": "\(worker.label)", "error": "\(error)"])
        worker.terminate()
    }

    /// The worker's link closed: it exited (or is about to). Reap it off the loop.
    func linkClosed(worker: WorkerHandle) {
        eventLoop.preconditionInEventLoop()
        channel = nil
        self.worker = nil
        metrics.enclaveUp.store(0, ordering: .relaxed)
        // A closed channel never reports writability again: reset it, or every client
        // would stay paused behind a link that no longer exists.
        linkWritable = true
        let stopping = state == .stopping || state == .stopped
        if !stopping {
            // Nothing can be forwarded from here until a new worker says hello: frames
            // read meanwhile are refused at once instead of queued for a dead pipe.
            state = .down
            pendingCount = 0
            resetPending()
            // A dead worker's counters are not the next worker's (a graceful stop keeps
            // the final ones for the last metrics file).
            metrics.enclaveStats.withLock { $0 = nil }
        }
        worker.waitForExit(on: eventLoop).whenComplete { result in
            let how = (try? result.get()) ?? "unknown"
            if stopping {
                self.failEvidenceWaiters()
                self.logger.info("enclave stopped", metadata: ["worker": "\(worker.label)", "exit": "\(how)"])
                self.state = .stopped
                self.stopPromise?.succeed()
                self.stopPromise = nil
            } else {
                self.enclaveCrashed(worker: worker, how: how)
            }
        }
    }

    private func enclaveCrashed(worker: WorkerHandle, how: String) {
        if snapshotRetry {
            // The worker refused its snapshot and exited: start the next with an older one.
            snapshotRetry = false
            logger.warning("snapshot_retry", metadata: ["worker": "\(worker.label)", "exit": "\(how)"])
            state = .down
            eventLoop.scheduleTask(in: .milliseconds(configuration.restartDelayMillis)) {
                if self.state == .down { self.spawn() }
            }
            return
        }
        metrics.enclaveCrashes.add(1, ordering: .relaxed)
        if let p = firstStart {
            firstStart = nil
            state = .stopped
            logger.error("enclave exited during start-up", metadata: ["worker": "\(worker.label)", "exit": "\(how)"])
            p.fail(EnclaveStartError.exitedDuringStartup(how))
            return
        }
        // Everything in flight died with the worker. Say so to every client: their
        // sessions are gone and unanswered requests were not sequenced by the next worker.
        var lost = evidenceWaiters.count
        failEvidenceWaiters()
        for handler in connections.values { lost += handler.forgetInFlight() }
        metrics.framesLostInCrash.add(UInt64(lost), ordering: .relaxed)
        restarts += 1
        lastCrashAt = .now()
        logger.error("enclave crashed; restarting", metadata: [
            "worker": "\(worker.label)", "exit": "\(how)", "in_flight_lost": "\(lost)", "restarts": "\(restarts)",
            "delay_ms": "\(restartDelay)",
        ])
        state = .down
        let notice = Notice(code: .enclaveRestarted, value: restarts).encode()
        for handler in connections.values { handler.send(frame: notice) }
        resumeAll()
        scheduleRestart()
    }

    private func scheduleRestart() {
        // A worker that ran for 30 s was healthy: start the back-off over.
        if NIODeadline.now() - startedAt > .seconds(30) { restartDelay = configuration.restartDelayMillis }
        let delay = restartDelay
        restartDelay = min(restartDelay * 2, configuration.maxRestartDelayMillis)
        state = .down
        // Connections paused while the worker was starting must learn it is down.
        resumeAll()
        eventLoop.scheduleTask(in: .milliseconds(delay)) {
            if self.state == .down { self.spawn() }
        }
    }

    private func resumeAll() {
        for handler in connections.values { handler.resumeIfPossible() }
    }

    /// `DATA/enclave.json`: the current worker's public identity, for operators and the
    /// `attestation inspect` command. Public data only.
    private func writeEvidenceSnapshot() {
        guard let helloJSON else { return }
        let path = configuration.dataDirectory + "/enclave.json"
        do {
            try DataFiles.atomicWrite(Data(helloJSON), to: path)
        } catch {
            logger.warning("cannot write evidence snapshot", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }
}

/// Why the first worker did not come up.
public enum EnclaveStartError: Error, CustomStringConvertible {
    case exitedDuringStartup(String)

    public var description: String {
        switch self {
        case .exitedDuringStartup(let how): "enclave worker \(how) before it was ready; see its log lines above"
        }
    }
}

/// Reads link messages from the worker's stdout.
final class LinkHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private let supervisor: EnclaveSupervisor
    private let worker: WorkerHandle
    private var cumulation: ByteBuffer?
    private var broken = false

    init(supervisor: EnclaveSupervisor, worker: WorkerHandle) {
        self.supervisor = supervisor
        self.worker = worker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !broken else { return }
        var incoming = unwrapInboundIn(data)
        if cumulation == nil { cumulation = incoming } else { cumulation!.writeBuffer(&incoming) }
        do {
            while var buffer = cumulation {
                let header = try buffer.withUnsafeReadableBytes { try LinkParser.parseHeader($0) }
                guard let header else { break }
                buffer.moveReaderIndex(forwardBy: 5)
                let body = buffer.readSlice(length: header.bodyLength)!
                cumulation = buffer
                try supervisor.receivedLink(header.kind, body, worker: worker)
            }
        } catch {
            broken = true
            supervisor.linkProtocolViolation(error, worker: worker)
            return
        }
        if let c = cumulation, c.readableBytes == 0 { cumulation = nil } else { cumulation?.discardReadBytes() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        supervisor.linkWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        supervisor.linkClosed(worker: worker)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// Why the HTTP API got no evidence.
enum EvidenceRequestError: Error {
    case enclaveUnavailable
    case busy
}
