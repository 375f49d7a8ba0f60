import Logging
import NIOCore

/// The shell around `ConnectionAdmission` (docs/PROTOCOL.md §1.2): decides on each
/// accepted connection, closes what it sheds, counts every shed connection by reason,
/// and logs a summary of them at most once a second.
///
/// Thread-safety: used only on the host's single event loop (asserted), which makes the
/// `@unchecked Sendable` sound.
final class ConnectionGate: @unchecked Sendable {
    enum Admission {
        /// Must send a well-formed frame within the handshake timeout.
        case normal
        /// Must have a session accepted within the handshake timeout.
        case probation
    }

    private var book: ConnectionAdmission
    private let eventLoop: EventLoop
    private let supervisor: EnclaveSupervisor
    private let metrics: HostMetrics
    private let logger: Logger
    /// How long a new connection has to send a valid frame (or, on probation, to have a
    /// session accepted) before it is closed.
    let handshakeTimeout: TimeAmount
    private var shedSinceSummary = [UInt64](repeating: 0, count: ShedReason.allCases.count)
    private var summaryScheduled = false

    init(limits: ConnectionAdmission.Limits, handshakeTimeout: TimeAmount, eventLoop: EventLoop,
         supervisor: EnclaveSupervisor, metrics: HostMetrics, logger: Logger) {
        self.book = ConnectionAdmission(limits: limits)
        self.handshakeTimeout = handshakeTimeout
        self.eventLoop = eventLoop
        self.supervisor = supervisor
        self.metrics = metrics
        self.logger = logger
    }

    /// Decides on a connection just accepted from `address` that will use `route`; its
    /// ticket carries the deadline. Nil: refused (counted; the caller closes it). An idle
    /// connection evicted to make room is closed here.
    func admit(route: UInt32, address: String) -> GateTicket? {
        eventLoop.preconditionInEventLoop()
        let decision = book.admit(route: route, address: address)
        switch decision {
        case .refuse(let reason):
            metrics.connectionsRefused.add(1, ordering: .relaxed)
            count(reason)
            return nil
        case .admit(let probation, let victim):
            if let victim {
                count(.evictedIdle)
                supervisor.connection(route: victim)?.shed(.evictedIdle)
            }
            publishGauges()
            return GateTicket(route: route, admission: probation ? .probation : .normal, gate: self)
        }
    }

    func sentValidFrame(route: UInt32) {
        book.sentValidFrame(route: route)
    }

    func authenticated(route: UInt32) {
        book.authenticated(route: route)
        publishGauges()
    }

    func removed(route: UInt32) {
        book.removed(route: route)
        publishGauges()
    }

    /// Counts one shed connection (the connection closes itself, or was refused).
    func count(_ reason: ShedReason) {
        metrics.countShed(reason)
        shedSinceSummary[reason.rawValue] += 1
        guard !summaryScheduled else { return }
        summaryScheduled = true
        eventLoop.scheduleTask(in: .seconds(1)) { self.logSummary() }
    }

    private func logSummary() {
        summaryScheduled = false
        var metadata: Logger.Metadata = [
            "open": "\(book.total)", "unauthenticated": "\(book.unauthenticated)",
        ]
        for reason in ShedReason.allCases where shedSinceSummary[reason.rawValue] > 0 {
            metadata[reason.label] = "\(shedSinceSummary[reason.rawValue])"
        }
        shedSinceSummary = shedSinceSummary.map { _ in 0 }
        logger.notice("connections shed", metadata: metadata)
    }

    private func publishGauges() {
        metrics.connectionsAuthenticated.store(Int64(book.authenticated), ordering: .relaxed)
    }
}

/// One connection's standing with the gate: its handshake deadline, whether it has sent a
/// well-formed frame, whether a session was accepted on it (docs/PROTOCOL.md §1.2).
///
/// Thread-safety: used only on the host's event loop, like the gate.
final class GateTicket: @unchecked Sendable {
    let route: UInt32
    let admission: ConnectionGate.Admission
    private let gate: ConnectionGate
    private var deadline: Scheduled<Void>?
    private(set) var sentValidFrame = false
    private(set) var authenticated = false
    private var left = false

    init(route: UInt32, admission: ConnectionGate.Admission, gate: ConnectionGate) {
        self.route = route
        self.admission = admission
        self.gate = gate
    }

    /// Starts the handshake deadline; at it, `expired` gets the reason to shed the
    /// connection, unless the connection did what its admission asks.
    func start(on eventLoop: EventLoop, expired: @escaping @Sendable (ShedReason) -> Void) {
        deadline = eventLoop.scheduleTask(in: gate.handshakeTimeout) { [weak self] in
            guard let self else { return }
            switch admission {
            case .normal where !sentValidFrame: expired(.handshakeTimeout)
            case .probation where !authenticated: expired(.probationTimeout)
            default: break
            }
        }
    }

    /// A complete well-formed frame arrived (cheap to call for every frame).
    func validFrame() {
        guard !sentValidFrame else { return }
        sentValidFrame = true
        gate.sentValidFrame(route: route)
        if admission == .normal { deadline?.cancel() }
    }

    /// The enclave accepted a session on the connection.
    func sessionAccepted() {
        guard !authenticated else { return }
        authenticated = true
        gate.authenticated(route: route)
        deadline?.cancel()
    }

    /// The connection is being shed for `reason`: counted (an eviction was counted by
    /// the gate when it decided).
    func shedding(_ reason: ShedReason) {
        if reason != .evictedIdle { gate.count(reason) }
    }

    /// The connection closed (idempotent).
    func leave() {
        deadline?.cancel()
        guard !left else { return }
        left = true
        gate.removed(route: route)
    }
}
