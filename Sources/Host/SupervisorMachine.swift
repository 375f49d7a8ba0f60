#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Every decision the enclave supervisor makes, as a pure state machine: the shell
/// (`EnclaveSupervisor`) feeds it what happened, with the time, and carries out the actions
/// it returns, in order. No I/O, no clock, no process: the tests drive it event by event.
///
/// It decides the worker's life (launch, hello, recovery, up, crash, restart with
/// back-off, graceful stop, fatal stop), what clients learn of it (refused frames while no
/// worker serves, `Notice enclaveRestarted`), the link's back-pressure, and when a worker
/// message held behind journal records may go (docs/DURABILITY.md §3, via `ReleaseGate`).
struct SupervisorMachine<Held> {
    enum Phase: Equatable {
        case idle
        /// A worker is being launched (pid 0 until the launch completes) or has not said hello.
        case starting(pid: pid_t)
        /// Said hello; being fed the journal, not yet `recovered` (docs/DURABILITY.md §4).
        case recovering(pid: pid_t)
        case up(pid: pid_t)
        /// No worker: the last one crashed (or failed to launch); a restart is scheduled.
        case down
        case stopping
        case stopped
    }

    struct Settings: Equatable {
        /// First restart delay after a crash, in milliseconds; doubles per crash.
        var restartDelayMillis: Int64
        /// Largest restart delay, in milliseconds.
        var maxRestartDelayMillis: Int64
        /// How long a worker must have run for the back-off to start over.
        var healthyRun: TimeAmount = .seconds(30)
        /// How long a stopping worker gets to exit on EOF before it is killed, in milliseconds.
        var drainTimeoutMillis: Int64
        /// The host keeps a journal: a worker with a storage key is fed it before serving.
        var keepsJournal: Bool
    }

    enum Event {
        /// The host starts: launch the first worker.
        case start(now: NIODeadline)
        /// The transport launched a worker.
        case launched(pid: pid_t)
        /// The transport could not launch a worker.
        case launchFailed(now: NIODeadline)
        /// The worker `pid` said hello; `storageKey`: it has one (so it keeps a journal).
        case hello(pid: pid_t, storageKey: Bool)
        /// The worker answered `recovered`; `empty`: all four counters are zero.
        case recovered(empty: Bool)
        /// The worker refused the snapshot it was offered; `offered`: one was.
        case snapshotRejected(offered: Bool)
        /// The host must stop serving for good (a rejected or unreadable journal).
        case fatal
        /// The worker sent a `journal` message with records up to `sequence`.
        case journaled(upTo: UInt64)
        /// The worker sent a message that waits for its journal records to be durable.
        case output(Held)
        /// Journal records up to `sequence` are durable.
        case durable(upTo: UInt64)
        /// The link to the worker closed.
        case linkClosed
        /// The worker whose link closed has exited.
        case workerExited(now: NIODeadline)
        /// A restart delay ran out.
        case restartTimerFired(now: NIODeadline)
        /// Shutdown begins: clients are read no more.
        case shutdown
        /// Shutdown's drain ended (nothing in flight, or its deadline passed).
        case drained
        /// The stopping worker's grace period ran out.
        case killTimerFired
        /// The link's writability changed.
        case linkWritable(Bool)
    }

    enum Action {
        /// Launch a worker through the transport.
        case launch
        /// Take the launched worker as the current one (its channel and handle).
        case adoptWorker
        /// Kill the worker just launched: shutdown began while it was starting.
        case discardLaunchedWorker
        /// Kill the current worker.
        case terminateWorker
        /// Feed the worker that said hello number `hello` its journal (and snapshot).
        case beginRecovery(hello: UInt64)
        /// Open the outputs epoch of the worker that said hello.
        case startOutputEpoch
        /// The worker serves: publish its identity, report it ready, log.
        case workerUp
        /// Resolve the first start successfully, or with why it failed.
        case firstStartSucceeded
        case firstStartFailed(StartFailure)
        /// The host stops for good after start-up (the exit path of a fatal error).
        case reportFatal
        /// Wake every connection: the link or the worker changed.
        case resumeConnections
        /// Forget the dead link: its channel, handle, unsent batch and the worker's counters
        /// (a graceful stop keeps the final counters and is `true` here).
        case forgetLink(stopping: Bool)
        /// Wait for the worker to exit, then report `workerExited`.
        case awaitExit
        /// The worker exited as asked: fail the evidence waiters, resolve the stop.
        case stopped
        /// The worker crashed (counted). `restarts` is the crash count so far, when clients
        /// must be told (drop in-flight frames, send `Notice enclaveRestarted`); nil when it
        /// died during start-up or refusing its snapshot.
        case crashed(restarts: UInt64?)
        /// Call back with `restartTimerFired` after this many milliseconds.
        case scheduleRestart(afterMillis: Int64)
        /// Send `Notice shuttingDown` to every connection, then drain and report `drained`.
        case drain
        /// Close the link's output, so the worker exits on EOF.
        case closeLinkOutput
        /// Call back with `killTimerFired` after this many milliseconds.
        case scheduleKill(afterMillis: Int64)
        /// A worker message that may go now (its journal records are durable).
        case dispatch(Held)
        /// The link message just received is not allowed now: a protocol violation.
        case refuseMessage
        /// Count a link saturation (the link stopped being writable).
        case countLinkSaturation

        var isRefusal: Bool { if case .refuseMessage = self { true } else { false } }
    }

    /// Why the first worker did not come up.
    enum StartFailure: Equatable {
        case launchFailed
        case exited
        case fatal
    }

    let settings: Settings
    private(set) var phase: Phase = .idle
    /// The delay the next crash restart waits, in milliseconds.
    private(set) var restartDelay: Int64
    private var startedAt = NIODeadline.uptimeNanoseconds(0)
    /// The first start has not resolved yet.
    private(set) var awaitingFirstStart = false
    /// Restarts after crashes so far.
    private(set) var restarts: UInt64 = 0
    /// Counts hellos, so a feed scheduled for one worker never reaches the next.
    private(set) var helloCount: UInt64 = 0
    /// The current worker was served at hello: the all-zero `recovered` it sends before its
    /// first batch is ignored (docs/DURABILITY.md §4).
    private(set) var servedAtHello = false
    /// The worker refused its snapshot: its exit is expected and the next worker is offered
    /// the next older snapshot (or genesis), even during start-up.
    private(set) var snapshotRetry = false
    /// A fatal error stopped the host; set once.
    private(set) var isFatal = false
    /// Shutdown began: clients are not read.
    private(set) var draining = false
    private(set) var linkWritable = true
    /// A worker is adopted and its link not yet closed.
    private(set) var hasWorker = false
    /// The exit being awaited is the one shutdown asked for.
    private var exitExpected = false
    /// Worker messages held until the journal records before them are durable.
    private(set) var gate = ReleaseGate<Held>()

    init(settings: Settings) {
        self.settings = settings
        restartDelay = settings.restartDelayMillis
    }

    var pid: pid_t? {
        switch phase {
        case .starting(let pid), .recovering(let pid), .up(let pid): pid
        default: nil
        }
    }

    var isUp: Bool { if case .up = phase { true } else { false } }
    var isRecovering: Bool { if case .recovering = phase { true } else { false } }
    var isStopping: Bool { phase == .stopping || phase == .stopped }

    /// True when the host should read more client frames: while a worker serves and the
    /// link takes more, and while none does (so frames are refused at once).
    var acceptsInput: Bool {
        if draining { return false }
        switch phase {
        case .up: return linkWritable
        case .recovering, .down: return true
        default: return false
        }
    }
}

extension SupervisorMachine {
    /// Takes one event; returns what the shell must do, in order.
    mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .start(let now):
            awaitingFirstStart = true
            return launch(now: now)

        case .launched(let pid):
            if isStopping { return [.discardLaunchedWorker] }
            if case .starting = phase { phase = .starting(pid: pid) }
            hasWorker = true
            return [.adoptWorker]

        case .launchFailed(let now):
            if awaitingFirstStart {
                awaitingFirstStart = false
                phase = .stopped
                return [.firstStartFailed(.launchFailed)]
            }
            return restartWithBackoff(now: now)

        case .hello(let pid, let storageKey):
            guard case .starting = phase else {
                // A hello after shutdown began (or a second hello) is not a worker we serve.
                return isStopping ? [.terminateWorker] : []
            }
            helloCount += 1
            servedAtHello = false
            if settings.keepsJournal && storageKey {
                // Fed the journal first; its outputs epoch starts when the feed begins.
                phase = .recovering(pid: pid)
                return [.beginRecovery(hello: helloCount)]
            }
            servedAtHello = true
            return [.startOutputEpoch] + becomeUp(pid: pid)

        case .recovered(let empty):
            // A worker served at hello answers its first batch with an all-zero `recovered`.
            if isUp, servedAtHello, empty { return [] }
            guard case .recovering(let pid) = phase else { return [.refuseMessage] }
            return becomeUp(pid: pid)

        case .snapshotRejected(let offered):
            guard isRecovering, offered else { return [.refuseMessage] }
            snapshotRetry = true
            return []

        case .fatal:
            guard !isFatal else { return [] }
            isFatal = true
            phase = .stopping
            if awaitingFirstStart {
                awaitingFirstStart = false
                return [.terminateWorker, .firstStartFailed(.fatal)]
            }
            return [.terminateWorker, .reportFatal]

        case .journaled(let last):
            gate.journaled(upTo: last)
            return []

        case .output(let message):
            return gate.admit(message).map { [.dispatch($0)] } ?? []

        case .durable(let sequence):
            return gate.synced(upTo: sequence).map { .dispatch($0) }

        case .linkClosed:
            hasWorker = false
            // A closed link never reports writability again: clients must not stay paused.
            linkWritable = true
            exitExpected = isStopping
            // Nothing can be forwarded until a new worker says hello: frames read meanwhile
            // are refused at once instead of queued for a dead pipe.
            if !exitExpected { phase = .down }
            return [.forgetLink(stopping: exitExpected), .awaitExit]

        case .workerExited(let now):
            if exitExpected {
                phase = .stopped
                return [.stopped]
            }
            return crashed(now: now)

        case .restartTimerFired(let now):
            guard phase == .down else { return [] }
            return launch(now: now)

        case .shutdown:
            draining = true
            return [.drain]

        case .drained:
            phase = .stopping
            guard hasWorker else {
                phase = .stopped
                return [.stopped]
            }
            // A worker that ignores EOF is killed after the drain timeout.
            return [.closeLinkOutput, .scheduleKill(afterMillis: settings.drainTimeoutMillis)]

        case .killTimerFired:
            return phase == .stopping ? [.terminateWorker] : []

        case .linkWritable(let writable):
            linkWritable = writable
            return writable ? [.resumeConnections] : [.countLinkSaturation]
        }
    }

    private mutating func launch(now: NIODeadline) -> [Action] {
        phase = .starting(pid: 0)
        startedAt = now
        return [.launch]
    }

    private mutating func becomeUp(pid: pid_t) -> [Action] {
        phase = .up(pid: pid)
        var actions: [Action] = [.workerUp]
        if awaitingFirstStart {
            awaitingFirstStart = false
            actions.append(.firstStartSucceeded)
        }
        actions.append(.resumeConnections)
        return actions
    }

    /// The worker died without being asked to.
    private mutating func crashed(now: NIODeadline) -> [Action] {
        if snapshotRetry {
            // It refused its snapshot and exited: the next one gets an older snapshot, at
            // once (the first delay), and the back-off is untouched.
            snapshotRetry = false
            phase = .down
            return [.scheduleRestart(afterMillis: settings.restartDelayMillis)]
        }
        if awaitingFirstStart {
            awaitingFirstStart = false
            phase = .stopped
            return [.crashed(restarts: nil), .firstStartFailed(.exited)]
        }
        restarts += 1
        return [.crashed(restarts: restarts)] + restartWithBackoff(now: now)
    }

    /// Schedules the next launch: the delay doubles per crash up to the maximum, and starts
    /// over after a worker that ran for `healthyRun`.
    private mutating func restartWithBackoff(now: NIODeadline) -> [Action] {
        if now - startedAt > settings.healthyRun { restartDelay = settings.restartDelayMillis }
        let delay = restartDelay
        restartDelay = min(restartDelay * 2, settings.maxRestartDelayMillis)
        phase = .down
        // Connections paused while the worker was starting must learn it is down.
        return [.resumeConnections, .scheduleRestart(afterMillis: delay)]
    }
}

extension SupervisorMachine.Action: Equatable where Held: Equatable {}
extension SupervisorMachine.Event: Equatable where Held: Equatable {}
