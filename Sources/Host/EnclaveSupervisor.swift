#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import NIOPosix
import Wire

/// Owns the enclave worker: spawns it, batches client frames into it, routes its replies
/// back to connections, restarts it when it dies, and stops it on shutdown. The shell of
/// `SupervisorMachine`, which makes every decision: this class feeds it events and carries
/// out the actions it returns (`run`).
///
/// Thread-safety: all state lives on one event loop (the host runs a single-threaded
/// group); every entry point asserts it. That makes the `@unchecked Sendable` sound.
final class EnclaveSupervisor: LinkEvents, @unchecked Sendable {
    let eventLoop: EventLoop
    let logger: Logger
    let configuration: HostConfiguration
    private let transport: EnclaveTransport
    private(set) var worker: WorkerHandle?
    let metrics: HostMetrics
    /// The decisions: worker life, restart back-off, back-pressure, the release gate.
    var machine: SupervisorMachine<HeldLinkMessage>
    private(set) var channel: Channel?
    var connections: [UInt32: IngressHandler] = [:]
    var nextRoute: UInt32 = 1
    var pending: ByteBuffer
    var pendingCount: UInt32 = 0
    /// Monotonic ns when the outbound batch being routed was taken up (receipt latency).
    var routingNanos: UInt64 = 0
    var flushScheduled = false
    /// Coalesces the event loop's wake-ups (`WakePacer`; `--coalesce-micros`).
    var pacer: WakePacer
    private var firstStart: EventLoopPromise<Void>?
    private var stopPromise: EventLoopPromise<Void>?
    /// Latest hello document (public evidence without a nonce) from the worker.
    private(set) var helloJSON: [UInt8]?
    /// Appends the enclave's public outputs and serves them to the HTTP API.
    let publisher: OutputPublisher
    /// Evidence requests from the HTTP API in flight, by their reserved route.
    var evidenceWaiters: [UInt32: EventLoopPromise<ByteBuffer>] = [:]
    var nextEvidenceRoute = EnclaveSupervisor.evidenceRoutes.lowerBound
    /// Routes for the HTTP API's evidence requests; connections use the ones below.
    static let evidenceRoutes: Range<UInt32> = 0xF000_0000..<UInt32.max
    /// Most HTTP evidence requests in flight at once (each one is a TPM quote).
    static let maxEvidenceInFlight = 8
    /// Called on the event loop each time a worker becomes ready, with its pid.
    var onReady: ((pid_t) -> Void)?
    /// The journal, when the host keeps one (set before `start`).
    var journal: (any JournalBackend)? {
        didSet {
            // A standby's takeover swaps one journal for another mid-recovery: the machine stays.
            if (oldValue == nil) != (journal == nil) {
                machine = SupervisorMachine(settings: Self.settings(configuration, keepsJournal: journal != nil))
            }
            journal?.onDurable = { [unowned self] sequence in self.journalDurable(upTo: sequence) }
        }
    }
    /// Set on a host of the replicated journal (docs/REPLICATION.md §7-8) before `start`:
    /// its worker follows the stream until this host holds the lease, then takes over.
    var standby: StandbyState?
    /// The worker's sealed snapshots, when the host keeps them (set before `start`).
    var snapshots: SnapshotStore?
    /// Snapshots a worker refused since this host started: never offered again.
    var rejectedSnapshots: Set<String> = []
    /// The snapshot the recovering worker was sent, if any.
    var snapshotInUse: StoredSnapshot?
    /// Worker messages held until the journal records before them are durable.
    var gate: ReleaseGate<HeldLinkMessage> { machine.gate }
    /// Restarts after crashes so far.
    var restarts: UInt64 { machine.restarts }
    /// Counts hellos, so a feed scheduled for one worker never reaches the next.
    var helloCount: UInt64 { machine.helloCount }
    /// When the host saw the last worker exit unexpectedly (`enclave_recovered` reports the
    /// time since), and when it began feeding the current worker the journal.
    var lastCrashAt: NIODeadline?
    var replayStartedAt: NIODeadline?
    /// Why the host must stop (a rejected journal); set once.
    private(set) var fatal: Error?
    /// Called on the event loop when `fatal` is set after start-up.
    var onFatal: ((Error) -> Void)?
    /// The worker that asked for its key file over the link, and how far it got
    /// (docs/DURABILITY.md §4.1).
    var storageKeyLink: (worker: String, step: StorageKeyLinkStep)?

    init(eventLoop: EventLoop, configuration: HostConfiguration, transport: EnclaveTransport, metrics: HostMetrics, logger: Logger) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.transport = transport
        self.metrics = metrics
        self.logger = logger
        self.publisher = OutputPublisher(dataDirectory: configuration.dataDirectory, metrics: metrics)
        self.machine = SupervisorMachine(settings: Self.settings(configuration, keepsJournal: false))
        pending = ByteBufferAllocator().buffer(capacity: configuration.maxBatchBytes + 64 * 1024)
        pacer = WakePacer(intervalMicros: configuration.coalesceMicros)
        resetPending()
    }

    static func settings(_ c: HostConfiguration, keepsJournal: Bool) -> SupervisorMachine<HeldLinkMessage>.Settings {
        .init(restartDelayMillis: c.restartDelayMillis, maxRestartDelayMillis: c.maxRestartDelayMillis,
              drainTimeoutMillis: c.drainTimeoutMillis, keepsJournal: keepsJournal)
    }

    /// True when the host should read more client frames.
    /// A host that answers `notPrimary` reads on (its worker starting, replaying or
    /// stopping), so every frame gets that answer at once.
    var acceptsInput: Bool { machine.acceptsInput || refusesAsNotPrimary }

    var pid: pid_t? { machine.pid }

    /// True while a worker serves client frames.
    var isUp: Bool { machine.isUp }

    /// Total frames in the enclave without a reply, over all connections.
    var totalInFlight: Int { connections.values.reduce(0) { $0 + $1.inFlight } }

    // MARK: - Lifecycle

    /// Starts the first worker; the future fails if it exits before saying hello.
    func start() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let promise = self.eventLoop.makePromise(of: Void.self)
            self.firstStart = promise
            self.handle(.start(now: .now()))
            return promise.futureResult
        }
    }

    /// Graceful stop: wait (bounded) for in-flight frames, then close the worker's stdin
    /// so it exits on EOF; resolves when it has exited.
    func shutdown() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let promise = self.eventLoop.makePromise(of: Void.self)
            self.stopPromise = promise
            self.handle(.shutdown)
            return promise.futureResult
        }
    }

    /// Completes `shutdown()` once the worker's last outputs are out of the release gate:
    /// a stopped worker's final batch header may still wait there for its records to be
    /// durable (a slow fsync, a quorum ack), and whoever waits on `shutdown()` (the last
    /// metrics write, the lease release) must come after it. Stops waiting at `deadline`
    /// (a journal that cannot write releases nothing more).
    private func settleThenStop(deadline: NIODeadline) {
        guard stopPromise != nil else { return }
        // A journal halted for good (a primary that stepped down, or was fenced) makes
        // nothing durable again, so nothing held will be released: no point waiting.
        let halted = (journal as? NATSJournal).map { $0.halted || $0.isFenced } ?? false
        if halted || (gate.isEmpty && (journal?.isSettled ?? true)) || NIODeadline.now() >= deadline {
            stopPromise?.succeed()
            stopPromise = nil
            return
        }
        eventLoop.scheduleTask(in: .milliseconds(5)) { self.settleThenStop(deadline: deadline) }
    }

    /// Feeds the machine one event and carries out its actions. `worker` is the worker the
    /// event is about (a hello's, a fatal message's), when not the current one.
    func handle(
        _ event: SupervisorMachine<HeldLinkMessage>.Event, worker: WorkerHandle? = nil, error: Error? = nil, exit: String? = nil
    ) {
        eventLoop.preconditionInEventLoop()
        perform(machine.handle(event), worker: worker, error: error, exit: exit)
    }

    /// Carries out actions the machine returned, in order.
    func perform(
        _ actions: [SupervisorMachine<HeldLinkMessage>.Action], worker: WorkerHandle? = nil, error: Error? = nil,
        exit: String? = nil
    ) {
        for action in actions { run(action, worker: worker ?? self.worker, error: error, exit: exit) }
    }

    private func run(_ action: SupervisorMachine<HeldLinkMessage>.Action, worker: WorkerHandle?, error: Error?, exit: String?) {
        switch action {
        case .launch: launch()
        case .adoptWorker, .discardLaunchedWorker: break  // carried out in `launch`, which holds the new handle
        case .terminateWorker: worker?.terminate()
        case .beginRecovery(let hello):
            if let worker { beginRecovery(worker: worker, hello: hello) }
        case .startOutputEpoch: startOutputEpoch(helloJSON.flatMap { try? JSONDecoder().decode(Hello.self, from: Data($0)) })
        case .workerUp:
            metrics.enclaveUp.store(1, ordering: .relaxed)
            writeEvidenceSnapshot()
            logger.info("enclave ready", metadata: ["worker": "\(worker?.label ?? "?")", "restarts": "\(restarts)"])
            onReady?(pid ?? 0)
        case .firstStartSucceeded:
            firstStart?.succeed()
            firstStart = nil
        case .firstStartFailed(let why):
            let failure: Error = switch why {
            case .launchFailed, .fatal: error ?? EnclaveStartError.exitedDuringStartup("failed")
            case .exited: EnclaveStartError.exitedDuringStartup(exit ?? "exited")
            }
            firstStart?.fail(failure)
            firstStart = nil
        case .reportFatal:
            if let fatal { onFatal?(fatal) }
        case .resumeConnections: resumeAll()
        case .forgetLink(let stopping):
            channel = nil
            self.worker = nil
            metrics.enclaveUp.store(0, ordering: .relaxed)
            if !stopping {
                pendingCount = 0
                resetPending()
                // A dead worker's counters are not the next worker's (a graceful stop keeps
                // the final ones for the last metrics file).
                metrics.enclaveStats.withLock { $0 = nil }
            }
        case .awaitExit:
            guard let worker else { return }
            // The exit is seen on a pool thread, the link's last bytes (a stopping worker's
            // final batch) on this loop: read the link to its end first, or for 2 s at most.
            let link = worker.label == self.worker?.label ? channel : nil
            worker.waitForExit(on: eventLoop).whenComplete { result in
                let how = (try? result.get()) ?? "unknown"
                let exited = { self.handle(.workerExited(now: .now()), worker: worker, exit: how) }
                guard let link, link.isActive else { return exited() }
                let timeout = self.eventLoop.scheduleTask(in: .seconds(2)) { link.close(promise: nil) }
                link.closeFuture.whenComplete { _ in
                    timeout.cancel()
                    exited()
                }
            }
        case .stopped:
            failEvidenceWaiters()
            logger.info("enclave stopped", metadata: ["worker": "\(worker?.label ?? "none")", "exit": "\(exit ?? "-")"])
            settleThenStop(deadline: .now() + .milliseconds(configuration.drainTimeoutMillis))
        case .crashed(let restarts):
            crashed(worker: worker, how: exit ?? "unknown", restarts: restarts)
        case .scheduleRestart(let delay):
            eventLoop.scheduleTask(in: .milliseconds(delay)) { self.handle(.restartTimerFired(now: .now())) }
        case .drain:
            for handler in connections.values {
                handler.send(frame: Notice(code: .shuttingDown, value: 0).encode())
            }
            let deadline = NIODeadline.now() + .milliseconds(configuration.drainTimeoutMillis)
            waitForDrain(until: deadline).whenComplete { _ in self.handle(.drained) }
        case .closeLinkOutput:
            channel?.close(mode: .output, promise: nil)
        case .scheduleKill(let delay):
            let target = worker
            eventLoop.scheduleTask(in: .milliseconds(delay)) { self.handle(.killTimerFired, worker: target) }
        case .dispatch(let message):
            do {
                try dispatch(message)
            } catch {
                linkProtocolViolation(error, worker: message.worker)
            }
        case .refuseMessage: break  // the caller throws (`receivedLink`)
        case .countLinkSaturation: metrics.linkSaturations.add(1, ordering: .relaxed)
        }
    }

    private func launch() {
        transport.launch(on: eventLoop) { channel, handle in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers(
                    ByteToMessageHandler(LinkMessageDecoder()), LinkHandler(supervisor: self, worker: handle))
            }
        }.whenComplete { result in
            switch result {
            case .success(let (channel, handle)):
                for action in self.machine.handle(.launched(pid: handle.pid ?? 0)) {
                    switch action {
                    case .discardLaunchedWorker:
                        // Shutdown began while this worker was starting: it never serves.
                        handle.terminate()
                    case .adoptWorker:
                        self.channel = channel
                        self.worker = handle
                        self.metrics.enclaveStarts.add(1, ordering: .relaxed)
                        self.logger.info("enclave spawned", metadata: ["worker": "\(handle.label)"])
                    default:
                        self.run(action, worker: handle, error: nil, exit: nil)
                    }
                }
            case .failure(let error):
                self.logger.error("enclave spawn failed", metadata: ["error": "\(error)"])
                self.handle(.launchFailed(now: .now()), error: error)
            }
        }
    }

    private func waitForDrain(until deadline: NIODeadline) -> EventLoopFuture<Void> {
        flushPending()
        guard isUp, totalInFlight > 0, NIODeadline.now() < deadline else {
            if totalInFlight > 0 {
                logger.warning("drain timeout; frames still in flight", metadata: ["in_flight": "\(totalInFlight)"])
            }
            return eventLoop.makeSucceededVoidFuture()
        }
        return eventLoop.scheduleTask(in: .milliseconds(10)) {}.futureResult.flatMap { self.waitForDrain(until: deadline) }
    }

    // MARK: - Enclave → clients

    func linkWritabilityChanged(_ writable: Bool) {
        handle(.linkWritable(writable))
        metrics.linkSaturated.store(machine.linkWritable ? 0 : 1, ordering: .relaxed)
    }

    func receivedHello(_ json: ByteBuffer, worker: WorkerHandle) {
        // A hello after shutdown began (or a second hello) is not a worker we serve: the
        // machine ignores it (or kills it); the document is kept only from a starting one.
        if case .starting = machine.phase {
            helloJSON = Array(json.readableBytesView)
        }
        let hello = helloJSON.flatMap { try? JSONDecoder().decode(Hello.self, from: Data($0)) }
        handle(.hello(pid: worker.pid ?? 0, storageKey: hello?.storageKey != nil), worker: worker)
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
                "trimmed_input_lines": "\(start.trimmedInputLines)",
                "trimmed_funding_lines": "\(start.trimmedFundingLines)",
            ])
        } catch {
            // Trading can go on; the outputs of this epoch are lost, loudly.
            metrics.publishErrors.add(1, ordering: .relaxed)
            logger.error("cannot start output epoch", metadata: ["error": "\(error)"])
        }
    }

    /// Stops serving for good (the worker rejected the journal, or it cannot be read): the
    /// worker is killed and not restarted, and the host exits with `error`.
    func stopFatally(_ error: Error, worker: WorkerHandle?) {
        guard fatal == nil else { return }
        fatal = error
        logger.critical("host_stopping", metadata: ["error": "\(error)"])
        handle(.fatal, worker: worker, error: error)
    }

    /// Appends one public output message (event leaves, decision lines or a signed
    /// header) to `DATA/outputs/`. A blocking append on the loop: the page cache takes
    /// it, and outputs are a small fraction of the frames.
    func receivedOutput(_ kind: LinkKind, _ body: ByteBuffer) {
        do {
            try body.withUnsafeReadableBytes { (raw) throws(PublishError) in
                switch kind {
                case .eventLeaves: try publisher.appendEventLeaves(raw)
                case .publicInputs: try publisher.appendPublicInputs(raw)
                case .funding: try publisher.appendFunding(raw)
                case .decisions: try publisher.appendDecisions(raw)
                case .marketData: try publisher.appendMarketData(raw)
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

    /// The worker sent something that is not valid link protocol: it is broken. Kill it;
    /// the EOF that follows takes the crash path.
    func linkProtocolViolation(_ error: Error, worker: WorkerHandle) {
        logger.error("enclave link protocol violation; killing worker", metadata: ["worker": "\(worker.label)", "error": "\(error)"])
        worker.terminate()
    }

    /// The worker's link closed: it exited (or is about to). Reap it off the loop.
    func linkClosed(worker: WorkerHandle) {
        handle(.linkClosed, worker: worker)
        // The machine resets writability with the link: so does the gauge.
        metrics.linkSaturated.store(machine.linkWritable ? 0 : 1, ordering: .relaxed)
    }

    /// The worker died unasked (`restarts` set) or during start-up (nil).
    private func crashed(worker: WorkerHandle?, how: String, restarts: UInt64?) {
        metrics.enclaveCrashes.add(1, ordering: .relaxed)
        let label = worker?.label ?? "?"
        guard let restarts else {
            logger.error("enclave exited during start-up", metadata: ["worker": "\(label)", "exit": "\(how)"])
            return
        }
        // Everything in flight died with the worker. Say so to every client: their
        // sessions are gone and unanswered requests were not sequenced by the next worker.
        var lost = evidenceWaiters.count
        failEvidenceWaiters()
        for handler in connections.values { lost += handler.forgetInFlight() }
        metrics.framesLostInCrash.add(UInt64(lost), ordering: .relaxed)
        lastCrashAt = .now()
        logger.error("enclave crashed; restarting", metadata: [
            "worker": "\(label)", "exit": "\(how)", "in_flight_lost": "\(lost)", "restarts": "\(restarts)",
            "delay_ms": "\(machine.restartDelay)",
        ])
        let notice = Notice(code: .enclaveRestarted, value: restarts).encode()
        for handler in connections.values { handler.send(frame: notice) }
    }

    func resumeAll() {
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

/// Why the HTTP API got no evidence.
enum EvidenceRequestError: Error {
    case enclaveUnavailable
    case busy
}
