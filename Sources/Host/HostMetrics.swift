import Synchronization
import Wire

/// The host's counters. Read by the metrics writer, written on the event loop; atomics so
/// any thread may read a consistent value of each counter.
public final class HostMetrics: Sendable {
    public let connectionsAccepted = Atomic<UInt64>(0)
    public let connectionsRefused = Atomic<UInt64>(0)
    public let connectionsOpen = Atomic<Int64>(0)
    /// Open connections on which the enclave accepted a session (docs/PROTOCOL.md §1.2).
    public let connectionsAuthenticated = Atomic<Int64>(0)
    public let framesIn = Atomic<UInt64>(0)
    public let bytesIn = Atomic<UInt64>(0)
    public let framesOut = Atomic<UInt64>(0)
    public let batchesToEnclave = Atomic<UInt64>(0)
    public let batchesFromEnclave = Atomic<UInt64>(0)
    /// Sleeps of the event loop to coalesce wake-ups (`--coalesce-micros`), and their total.
    public let coalesceSleeps = Atomic<UInt64>(0)
    public let coalesceSleepNanos = Atomic<UInt64>(0)
    /// Replies whose connection had closed: the client lost them (it sees no receipt).
    public let repliesUndeliverable = Atomic<UInt64>(0)
    /// Frames refused by the host because no enclave was running.
    public let framesRefusedEnclaveDown = Atomic<UInt64>(0)
    /// Frames refused by the host over a per-connection limit (evidence requests).
    public let framesRefusedOverLimit = Atomic<UInt64>(0)
    public let readPauses = Atomic<UInt64>(0)
    /// Times the enclave pipe went over its high watermark (all reading paused).
    public let linkSaturations = Atomic<UInt64>(0)
    public let enclaveStarts = Atomic<UInt64>(0)
    public let enclaveCrashes = Atomic<UInt64>(0)
    /// Frames in flight to the enclave and lost when it crashed (no reply was sent).
    public let framesLostInCrash = Atomic<UInt64>(0)
    public let enclaveUp = Atomic<Int64>(0)
    /// Liquidation decisions appended to outputs/decisions.jsonl.
    public let decisionsPublished = Atomic<UInt64>(0)
    /// Signed batch headers appended to outputs/batches.jsonl.
    public let batchesPublished = Atomic<UInt64>(0)
    /// Market data feed (docs/MARKETDATA.md §6): consumers connected now, consumers dropped
    /// for not reading fast enough, messages written, resyncs asked for.
    public let feedConsumers = Atomic<Int64>(0)
    public let feedConsumersDropped = Atomic<UInt64>(0)
    public let feedMessages = Atomic<UInt64>(0)
    public let feedResyncs = Atomic<UInt64>(0)
    /// Outputs from the enclave the host could not append (malformed or I/O error).
    public let publishErrors = Atomic<UInt64>(0)
    /// HTTP requests answered, and those answered with an error status.
    public let httpRequests = Atomic<UInt64>(0)
    public let httpErrors = Atomic<UInt64>(0)
    /// HTTP connections closed for not sending a complete request in time.
    public let httpRequestTimeouts = Atomic<UInt64>(0)
    /// Frames refused with `journalUnavailable` while the journal could not be written.
    public let framesRefusedJournalUnavailable = Atomic<UInt64>(0)
    /// Frames refused with `notPrimary`: on a standby, or a primary stepping down
    /// (docs/REPLICATION.md §8.1).
    public let framesRefusedNotPrimary = Atomic<UInt64>(0)
    /// 1 while the journal accepts and syncs records (or none is needed yet), 0 after a
    /// write or sync error until a retry succeeds (docs/DURABILITY.md §3).
    public let journalAvailable = Atomic<Int64>(1)
    /// Write and sync errors of the journal.
    public let journalErrors = Atomic<UInt64>(0)
    /// Snapshots a recovering worker refused (docs/DURABILITY.md §6.7).
    public let snapshotsRejected = Atomic<UInt64>(0)
    /// Record bytes received from the worker for the journal.
    public let journalBytes = Atomic<UInt64>(0)
    /// Sequence of the last record known to be on disk.
    public let journalDurableSequence = Atomic<UInt64>(0)
    /// The sync pacing interval a journal sync lane applied last, ns (docs/DURABILITY.md §3,
    /// *sync pacing*): the fixed value, or the adaptive one.
    public let journalSyncIntervalNanos = Atomic<UInt64>(0)
    /// The CPU pressure share adaptive pacing read last, in millionths; `UInt64.max` until it
    /// has one (fixed pacing, no PSI, or fewer than two readings).
    public let cpuPressurePPM = Atomic<UInt64>(.max)
    /// Journal records received from the worker and not yet durable (on disk and, with a
    /// replicated journal, acknowledged by the stream's quorum): what held outputs wait on.
    public let journalPendingRecords = Atomic<UInt64>(0)
    /// Torn tails cut at start-up, and the bytes and records they held.
    public let journalTailTruncations = Atomic<UInt64>(0)
    public let journalTailDroppedBytes = Atomic<UInt64>(0)
    public let journalTailDroppedRecords = Atomic<UInt64>(0)
    /// Of those, tails cut by the zero-page (power-loss) rule (docs/DURABILITY.md §3.3).
    public let journalTailZeroPages = Atomic<UInt64>(0)
    /// Segments begun from a preallocated spare; segments created inline because the
    /// filler had none ready; failed fills (disk full, I/O error) (docs/DURABILITY.md §3).
    public let journalSegmentsPreallocated = Atomic<UInt64>(0)
    public let journalSegmentFallbacks = Atomic<UInt64>(0)
    public let journalPreallocationErrors = Atomic<UInt64>(0)
    /// 1 while the enclave pipe is over its high watermark (all reading paused).
    public let linkSaturated = Atomic<Int64>(0)
    /// Key enrollment replies by result (docs/REPLICATION.md §11.6).
    public let keyEnrollments = KeyEnrollmentCounters()

    // Histograms (docs/OPERATIONS.md §2): bounds are part of the metric's contract.
    /// Request frame read → its enclave reply written to the connection, ns.
    public let receiptLatency = MetricHistogram(
        bounds: MetricHistogram.seconds([0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1, 0.25, 0.5, 1, 2.5, 5]), unitsPerExposed: 1e9)
    /// Enclave time from a batch's first input to its close (header `enclaveTime`), ns.
    public let batchClose = MetricHistogram(
        bounds: MetricHistogram.seconds([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10]),
        unitsPerExposed: 1e9)
    /// Bytes waiting in the enclave pipe after each batch write, bytes.
    public let linkQueueDepth = MetricHistogram(
        bounds: [0, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20, 16 << 20, 32 << 20],
        unitsPerExposed: 1)
    /// Duration of each group-commit sync of the journal, ns.
    public let journalFsync = MetricHistogram(
        bounds: MetricHistogram.seconds([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5, 1, 2.5]), unitsPerExposed: 1e9)
    /// For each `journal` message: from its `write(2)` to the event loop learning that a
    /// sync covering it succeeded (what a reply held for it waits, at least), ns.
    public let journalDurableWait = MetricHistogram(
        bounds: MetricHistogram.seconds([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5, 1, 2.5]), unitsPerExposed: 1e9)
    /// Records made durable by each sync that advanced the durable position (the group).
    public let journalGroupRecords = MetricHistogram(
        bounds: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536], unitsPerExposed: 1)

    // What the published outputs say (set by OutputPublisher on the link's loop).
    /// Markets listed in the last published header's `haltedMarkets`.
    public let haltedMarkets = Atomic<Int64>(0)
    /// Host Unix time (ns) when the last header was published in this run; 0: none yet.
    public let lastBatchPublishedUnixNanos = Atomic<UInt64>(0)
    /// The last published header's `enclaveTime` (Unix ns); 0: none yet.
    public let lastBatchEnclaveTime = Atomic<UInt64>(0)
    /// Enclave time (Unix ns) of the last oracle price event leaf published; 0: none yet.
    public let lastOraclePriceEnclaveTime = Atomic<UInt64>(0)
    /// Host monotonic ns when the first event leaf not yet covered by a header arrived; 0: none.
    public let unbatchedSinceNanos = Atomic<UInt64>(0)
    /// `publishErrors` when the last header was published: more now means outputs are stuck.
    public let publishErrorsAtLastBatch = Atomic<UInt64>(0)
    /// Host monotonic ns of the last connection shed for capacity (readiness; 0: never).
    public let lastShedNanos = Atomic<UInt64>(0)

    /// Malformed frames by `WireError.code` (index), each of which closed a connection.
    private let malformed = Mutex<[UInt64]>(Array(repeating: 0, count: 16))
    /// Connections refused or closed without malformed input, by `ShedReason` (index).
    private let shed = Mutex<[UInt64]>(Array(repeating: 0, count: ShedReason.allCases.count))
    /// The current worker's latest counters (cleared when the worker dies).
    public let enclaveStats = Mutex<EnclaveStats?>(nil)
    /// The replicated journal's counters (docs/REPLICATION.md §6); zero without one.
    public let replication = ReplicationMetrics()

    public init() {}

    public func countMalformed(_ error: WireError) {
        malformed.withLock { $0[Int(error.code)] += 1 }
    }

    public func malformedCount(_ code: UInt16) -> UInt64 { malformed.withLock { $0[Int(code)] } }

    public func countShed(_ reason: ShedReason) {
        shed.withLock { $0[reason.rawValue] += 1 }
        if reason.isCapacity { lastShedNanos.store(MonotonicClock.nanos(), ordering: .relaxed) }
    }

    public func shedCount(_ reason: ShedReason) -> UInt64 { shed.withLock { $0[reason.rawValue] } }

    public var malformedTotal: UInt64 { malformed.withLock { $0.reduce(0, +) } }
}

extension WireError {
    /// One representative per case, for metric labels.
    static let allLabels: [WireError] = [
        .badLength(0), .frameTooLarge(limit: 0, actual: 0), .unsupportedVersion(0), .unknownMessageType(0),
        .badBodyLength(type: 0, expected: "", actual: 0), .invalidField(""), .truncated(needed: 0, available: 0),
    ]
}

extension ShedReason {
    /// Shed because the connection pool was full (`/readyz` reports "shedding"), not for
    /// one connection's or one address's own behaviour.
    var isCapacity: Bool {
        switch self {
        case .connectionLimit, .evictedIdle, .probationTimeout: true
        case .handshakeTimeout, .perAddressLimit: false
        }
    }
}
