import Journal
import Logging
import NIOCore
import SealCrypto

/// The replicated journal (docs/REPLICATION.md): every record the worker sends is written
/// to the local segment files (`HostJournal`, synced as before) and published to the
/// venue's JetStream stream; a record is durable when both the local sync and the stream's
/// quorum ack cover it. Publishing is asynchronous with a bounded window; each message
/// carries a message id and the expected last sequence, so a second writer is refused by
/// the server (the fence). Confined to the event loop; replies hop onto it.
final class NATSJournal: JournalBackend, @unchecked Sendable {
    /// Most bytes of records in one stream message (a single larger record goes alone).
    static let maxMessageBytes = 1 << 20
    /// Milliseconds libnats waits for a publish reply before reporting a timeout.
    static let ackWaitMillis: Int64 = 2_000

    let local: HostJournal
    let connection: JetStreamConnection
    let stream: String
    let subject: String
    private let eventLoop: EventLoop
    private let metrics: HostMetrics
    private let logger: Logger
    private var window: ReplicationWindow
    private var retryScheduled = false
    private var reported: UInt64
    /// Seconds between retries while NATS cannot be reached.
    var retryInterval: TimeAmount = .seconds(1)
    var onDurable: ((UInt64) -> Void)?
    var onAvailability: ((Bool) -> Void)?
    /// The stream's last sequence when `open` read it (the local copy holds 1 through it).
    var openedStreamSequence: UInt64 = 0
    /// Id of the journal's last message when `open` read it (`StreamChain.origin`: none).
    var openedLastID = StreamChain.origin
    /// `DATA/journal-verified`, advanced as the quorum acknowledges records.
    var mark: StreamMark?
    /// The leadership lease, on a host that took over (docs/REPLICATION.md §7): nothing is
    /// published or released once it is no longer valid.
    var lease: LeadershipLease?
    /// Called once when this host must stop leading: its lease ran out before a publish or
    /// release, or the stream fenced it.
    var onLeaseEnded: ((String) -> Void)?
    /// Set by `halt`: nothing more is published or released, ever.
    private(set) var halted = false

    init(local: HostJournal, connection: JetStreamConnection, stream: String, subject: String, lastStreamSequence: UInt64,
         lastID: String, windowSize: Int = 256, eventLoop: EventLoop, metrics: HostMetrics, logger: Logger)
    {
        self.local = local
        self.connection = connection
        self.stream = stream
        self.subject = subject
        self.eventLoop = eventLoop
        self.metrics = metrics
        self.logger = logger
        window = ReplicationWindow(windowSize: windowSize, lastStreamSequence: lastStreamSequence,
                                   durable: local.durable.sequence, lastID: lastID)
        reported = local.durable.sequence
        metrics.replication.durableSequence.store(reported, ordering: .relaxed)
        let box = WeakBox(self)
        connection.onAck { ack in eventLoop.execute { box.value?.received(ack) } }
        local.onDurable = { [unowned self] _ in self.report() }
        local.onAvailability = { [unowned self] _ in
            // The gauge is 0 while either the local copy or the replication is unavailable.
            metrics.journalAvailable.store(self.isAvailable ? 1 : 0, ordering: .relaxed)
            self.onAvailability?(self.isAvailable)
        }
    }

    /// libnats' threads must not keep the journal alive.
    private final class WeakBox: @unchecked Sendable {
        weak var value: NATSJournal?
        init(_ value: NATSJournal) { self.value = value }
    }

    var store: JournalStore { local.store }

    var accepted: UInt64 { local.accepted }

    var durable: JournalPosition {
        JournalPosition(segment: nil, size: 0, sequence: min(local.durable.sequence, window.durable))
    }

    var isAvailable: Bool { !halted && local.isAvailable && window.state == .available }

    var isSettled: Bool { isAvailable && local.isSettled && window.durable == local.accepted }

    /// True once another writer appended to the stream: this host never publishes again.
    var isFenced: Bool { if case .fenced = window.state { true } else { false } }

    /// Ends the local copy's background work and closes the connection. The journal's
    /// state belongs to its event loop: called from another thread, it runs there and
    /// waits, so an ack or a retry being applied on the loop never meets a half-closed
    /// journal. Safe to call twice.
    func stop() {
        guard !eventLoop.inEventLoop else { return stopOnLoop() }
        try? eventLoop.submit { self.stopOnLoop() }.wait()
    }

    private func stopOnLoop() {
        mark?.advance(to: window.durable, force: true)
        local.stop()
        connection.close()
    }

    /// Stops publishing and releasing for good (a primary stepping down).
    func halt() {
        guard !halted else { return }
        let wasAvailable = isAvailable
        halted = true
        metrics.journalAvailable.store(0, ordering: .relaxed)
        if wasAvailable { onAvailability?(false) }
    }

    /// False (and the host told, once) when a lease exists and is no longer valid.
    private func leaseAllows() -> Bool {
        guard !halted else { return false }
        guard let lease, !lease.isValid else { return true }
        halt()
        onLeaseEnded?("the lease ran out before a publish or release")
        return false
    }

    @discardableResult
    func append(_ records: UnsafeRawBufferPointer) throws(JournalRecordError) -> UInt64 {
        let last = try local.append(records)
        publish(window.enqueue(Self.runs(records)))
        return last
    }

    /// Cuts checked records into stream messages of at most `maxMessageBytes` at record
    /// boundaries, each with its message id.
    static func runs(_ records: UnsafeRawBufferPointer) -> [(id: String, last: UInt64, bytes: [UInt8])] {
        var out: [(id: String, last: UInt64, bytes: [UInt8])] = []
        var start = 0
        var offset = 0
        var first: UInt64 = 0
        var last: UInt64 = 0
        func cut() {
            let bytes = Array(UnsafeRawBufferPointer(rebasing: records[start..<offset]))
            out.append((messageID(first: first, payload: bytes), last, bytes))
        }
        while offset < records.count {
            // Checked by `HostJournal.append` before: whole records.
            guard let frame = try? JournalFrame.parse(UnsafeRawBufferPointer(rebasing: records[offset...])) else { break }
            if offset > start, offset + frame.length - start > maxMessageBytes {
                cut()
                start = offset
            }
            if offset == start { first = frame.sequence }
            last = frame.sequence
            offset += frame.length
        }
        if offset > start { cut() }
        return out
    }

    /// `Nats-Msg-Id` of a message whose first record is `first` (docs/REPLICATION.md §2).
    static func messageID(first: UInt64, payload: some Sequence<UInt8>) -> String {
        let digest = SHA256.hash(payload)
        return "\(first)-" + digest.prefix(8).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    private func publish(_ messages: [ReplicationWindow.Message]) {
        guard !messages.isEmpty, leaseAllows() else { return }
        for message in messages {
            var failure: JetStreamError?
            message.bytes.withUnsafeBytes { raw in
                do throws(JetStreamError) {
                    try connection.publish(subject: subject, data: raw, id: message.id, previous: message.previous,
                                           attempt: message.attempt,
                                           expectedLast: message.streamSequence - 1, maxWaitMillis: Self.ackWaitMillis)
                } catch {
                    failure = error
                }
            }
            if let failure {
                apply(window.failed(id: message.id, attempt: message.attempt, wrongLastSequence: false,
                                    detail: "publish not queued: \(failure)"))
            } else {
                metrics.replication.published.add(1, ordering: .relaxed)
            }
        }
    }

    private func received(_ ack: JetStreamAck) {
        switch ack {
        case .stored(let id, _, let sequence, let duplicate):
            if duplicate { metrics.replication.duplicates.add(1, ordering: .relaxed) }
            apply(window.stored(id: id, sequence: sequence))
        case .failed(let id, let attempt, let error):
            metrics.replication.failures.add(1, ordering: .relaxed)
            if case .retrying = window.state {
                logger.warning("journal_retry_failed", metadata: ["stream": "\(stream)", "error": "\(error)"])
            }
            apply(window.failed(id: id, attempt: attempt, wrongLastSequence: error.isWrongLastSequence,
                                detail: error.description))
        }
    }

    private func apply(_ outcome: ReplicationWindow.Outcome) {
        switch outcome.newState {
        case .fenced(let expected, let detail):
            metrics.replication.fenced.store(1, ordering: .relaxed)
            metrics.replication.fences.add(1, ordering: .relaxed)
            metrics.journalAvailable.store(0, ordering: .relaxed)
            logger.critical("journal_fenced", metadata: [
                "stream": "\(stream)", "expected_last_sequence": "\(expected)", "error": "\(detail)",
                "durable_sequence": "\(durable.sequence)",
            ])
            halt()
            onLeaseEnded?("fenced: another writer appended to the stream")
        case .retrying(let error):
            metrics.journalErrors.add(1, ordering: .relaxed)
            metrics.journalAvailable.store(0, ordering: .relaxed)
            logger.error("journal_unavailable", metadata: [
                "what": "replication", "stream": "\(stream)", "error": "\(error)",
                "durable_sequence": "\(durable.sequence)", "pending_messages": "\(window.pendingCount)",
            ])
            scheduleRetry()
        case .available:
            metrics.journalAvailable.store(local.isAvailable ? 1 : 0, ordering: .relaxed)
            logger.notice("journal_available", metadata: [
                "what": "replication", "stream": "\(stream)", "durable_sequence": "\(window.durable)",
            ])
        case nil: break
        }
        if outcome.availability != nil { onAvailability?(isAvailable) }
        publish(outcome.publish)
        if outcome.durable != nil { report() }
    }

    private func scheduleRetry() {
        guard !retryScheduled else { return }
        retryScheduled = true
        eventLoop.scheduleTask(in: retryInterval) {
            self.retryScheduled = false
            guard case .retrying = self.window.state else { return }
            self.publish(self.window.retry())
            self.scheduleRetry()
        }
    }

    /// Reports the durable sequence (local sync and quorum ack) when it advanced.
    private func report() {
        metrics.replication.durableSequence.store(window.durable, ordering: .relaxed)
        mark?.advance(to: window.durable)
        guard leaseAllows() else { return }
        let now = durable.sequence
        guard now > reported else { return }
        reported = now
        onDurable?(now)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
