/// The publishing state of the replicated journal (docs/REPLICATION.md §3): which stream
/// messages are waiting, in flight, or acknowledged; the durable watermark; the fence.
/// Pure: the NATS journal feeds it records and replies and publishes what it returns.
struct ReplicationWindow {
    /// One stream message: a run of whole journal records.
    struct Message: Equatable {
        /// Message id (`Nats-Msg-Id`): the decimal sequence of its first record, `-`, and the
        /// first 16 hex digits of the SHA-256 of its payload (so only a resend of the same
        /// bytes is a duplicate).
        let id: String
        /// Sequence of its last record.
        let last: UInt64
        let bytes: [UInt8]
        /// `Sealstream-Previous`: the id of the message before it in this host's journal.
        let previous: String
        /// The stream sequence it must be stored at; `Nats-Expected-Last-Sequence` is this
        /// minus one (`Nats-Expected-Last-Subject-Sequence: 0` for 1).
        let streamSequence: UInt64
        /// The attempt it was last published in (`Sealstream-Attempt`).
        var attempt: UInt64 = 0
        var acked = false
    }

    enum State: Equatable {
        /// Publishing; replies come in.
        case available
        /// A publish failed: nothing is published but the probe, every second, until one
        /// succeeds. `error` is the first failure's text.
        case retrying(error: String)
        /// Another writer appended to the stream: this host never publishes again.
        case fenced(expected: UInt64, detail: String)
    }

    /// What a reply changed.
    struct Outcome: Equatable {
        /// Records up to here are acknowledged by a quorum, when this reply advanced it.
        var durable: UInt64?
        /// Messages to publish now, in order.
        var publish: [Message] = []
        /// Availability changed to this.
        var availability: Bool?
        /// The first failure of a run of failures, or the fence.
        var newState: State?
    }

    /// Most messages in flight at once.
    let windowSize: Int
    private(set) var state: State = .available
    private(set) var attempt: UInt64 = 1
    /// Messages not yet acknowledged in order (acked ones at the front are removed).
    private var queue = FIFOQueue<Message>()
    /// Messages at the front of `queue` published in the current attempt.
    private var sent = 0
    /// Stream sequence of the last message enqueued.
    private(set) var lastStreamSequence: UInt64
    /// Id of the last message enqueued (at first, the last message of the journal read).
    private(set) var lastID: String
    /// Records up to here are acknowledged.
    private(set) var durable: UInt64

    /// `lastStreamSequence`: the stream's last sequence when the host opened it (every
    /// message up to it read back); `durable`: its last record; `lastID`: the id of the
    /// journal's last message (`StreamChain.origin` for an empty stream).
    init(windowSize: Int, lastStreamSequence: UInt64, durable: UInt64, lastID: String = StreamChain.origin) {
        self.windowSize = windowSize
        self.lastStreamSequence = lastStreamSequence
        self.lastID = lastID
        self.durable = durable
    }

    /// Messages waiting or in flight.
    var pendingCount: Int { queue.count }

    /// Queues the records of one link message, cut into `runs` (each a run of whole records
    /// ending with record `last`); returns what to publish now.
    mutating func enqueue(_ runs: [(id: String, last: UInt64, bytes: [UInt8])]) -> [Message] {
        for run in runs {
            lastStreamSequence += 1
            queue.append(Message(id: run.id, last: run.last, bytes: run.bytes, previous: lastID,
                                 streamSequence: lastStreamSequence))
            lastID = run.id
        }
        return pump()
    }

    /// The next messages to publish while available: up to the window, in order.
    private mutating func pump() -> [Message] {
        guard case .available = state else { return [] }
        var out: [Message] = []
        // The first message of an empty stream goes alone (its check is per subject, against
        // what the leader has applied); the rest are checked against its proposals.
        let limit = queue.first?.streamSequence == 1 ? 1 : windowSize
        while sent < limit, sent < queue.count {
            queue[sent].attempt = attempt
            out.append(queue[sent])
            sent += 1
        }
        return out
    }

    /// A publish reply. A stored reply is believed whatever attempt it answers (the server
    /// stored that message at that sequence); a failure counts only for the current attempt.
    mutating func stored(id: String, sequence: UInt64) -> Outcome {
        var outcome = Outcome()
        // Once fenced, nothing more is acknowledged.
        if case .fenced = state { return outcome }
        guard let index = indexOf(id) else { return outcome }
        guard queue[index].streamSequence == sequence else {
            // Stored elsewhere than we asked for: someone else writes this stream.
            return fence(expected: queue[index].streamSequence - 1, detail: "message \(id) stored at \(sequence)")
        }
        queue[index].acked = true
        var advanced = false
        while let front = queue.first, front.acked {
            durable = front.last
            queue.popFirst()
            sent = max(0, sent - 1)
            advanced = true
        }
        if advanced { outcome.durable = durable }
        if case .retrying = state {
            state = .available
            outcome.availability = true
            outcome.newState = .available
        }
        outcome.publish = pump()
        return outcome
    }

    /// A publish failed (refused, timed out, or not even queued).
    mutating func failed(id: String, attempt failedAttempt: UInt64, wrongLastSequence: Bool, detail: String) -> Outcome {
        if case .fenced = state { return Outcome() }
        guard failedAttempt == attempt, let index = indexOf(id) else { return Outcome() }
        if wrongLastSequence, index == 0 {
            // Every message before it is stored, so the stream's last sequence is not the one
            // this host's last stored message left: another writer appended.
            return fence(expected: queue[index].streamSequence - 1, detail: detail)
        }
        // A failed probe: stay retrying.
        guard case .available = state else { return Outcome() }
        // Later messages in flight fail too (their expected sequence cannot match): ignored,
        // as they belong to this attempt.
        attempt += 1
        sent = 0
        state = .retrying(error: detail)
        return Outcome(availability: false, newState: state)
    }

    /// The retry timer: while retrying, the oldest unacknowledged message is published
    /// again (same id, same expected sequence) as a probe.
    mutating func retry() -> [Message] {
        guard case .retrying = state, !queue.isEmpty else { return [] }
        attempt += 1
        queue[0].attempt = attempt
        sent = 1
        return [queue[0]]
    }

    private mutating func fence(expected: UInt64, detail: String) -> Outcome {
        if case .fenced = state { return Outcome() }
        let wasAvailable = state == .available
        state = .fenced(expected: expected, detail: detail)
        return Outcome(availability: wasAvailable ? false : nil, newState: state)
    }

    /// The offset in `queue` of message `id`.
    private func indexOf(_ id: String) -> Int? {
        guard let first = Self.firstRecord(of: id) else { return nil }
        // Ids increase along the queue by first record: binary search.
        var lo = 0
        var hi = queue.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let m = Self.firstRecord(of: queue[mid].id)!
            if m == first { return queue[mid].id == id ? mid : nil }
            if m < first { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }

    /// The first record a message id names (the digits before `-`).
    static func firstRecord(of id: String) -> UInt64? {
        guard let dash = id.firstIndex(of: "-") else { return nil }
        return UInt64(id[..<dash])
    }
}
