#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore

/// The host's journal as the supervisor sees it (docs/DURABILITY.md §3): appends with one
/// `write(2)` per `journal` message, group commit on `JournalSync`'s thread, the durable
/// watermark, and the disk-full / I/O-error cycle (unavailable, retry every second,
/// resume). Confined to the event loop; sync outcomes hop onto it.
final class HostJournal: @unchecked Sendable {
    let store: JournalStore
    private var sync: JournalSync!
    private let eventLoop: EventLoop
    private let metrics: HostMetrics
    private let logger: Logger
    /// Everything up to here is on disk.
    private(set) var durable: JournalPosition
    /// Sequence of the last record accepted from the worker (written or held).
    private(set) var accepted: UInt64
    private(set) var isAvailable = true
    /// Written but not yet durable, by last sequence, with the monotonic ns of the write:
    /// written again after an error.
    private var unsynced: [(last: UInt64, bytes: [UInt8], written: UInt64)] = []
    /// Accepted but not written (while unavailable), and the last sequence in it.
    private var held: [UInt8] = []
    private var heldLast: UInt64 = 0
    private var generation: UInt64 = 0
    private var needsRewind = false
    private var retryScheduled = false
    /// Seconds between retries while unavailable.
    var retryInterval: TimeAmount = .seconds(1)
    /// Called with the durable sequence whenever it advances.
    var onDurable: ((UInt64) -> Void)?
    /// Called when availability changes.
    var onAvailability: ((Bool) -> Void)?

    /// Syncs with `store.syncLanes` syncs in flight at most, each lane paced by `pacing`
    /// (docs/DURABILITY.md §3, *sync pacing*).
    init(store: JournalStore, eventLoop: EventLoop, metrics: HostMetrics, logger: Logger,
         pacing: SyncPacing = .fixed(micros: 0)) {
        self.store = store
        self.eventLoop = eventLoop
        self.metrics = metrics
        self.logger = logger
        durable = store.position
        accepted = store.lastSequence
        metrics.journalDurableSequence.store(durable.sequence, ordering: .relaxed)
        sync = JournalSync(directory: store.directory, lanes: store.syncLanes, pacing: pacing)
        switch pacing {
        case .fixed(let micros): metrics.journalSyncIntervalNanos.store(UInt64(micros) * 1_000, ordering: .relaxed)
        case .adaptive: metrics.journalSyncIntervalNanos.store(AdaptivePacing.intervalNanos(share: nil), ordering: .relaxed)
        }
        sync.start(report: Self.reporter(self, eventLoop), paced: { [metrics] interval, pressure in
            metrics.journalSyncIntervalNanos.store(interval, ordering: .relaxed)
            if let pressure { metrics.cpuPressurePPM.store(UInt64((pressure * 1e6).rounded()), ordering: .relaxed) }
        })
        store.onPreallocated = { [metrics] in metrics.journalSegmentsPreallocated.add(1, ordering: .relaxed) }
        store.onFallback = { [metrics, logger] name in
            metrics.journalSegmentFallbacks.add(1, ordering: .relaxed)
            logger.warning("journal_segment_not_preallocated", metadata: ["segment": "\(name.fileName)"])
        }
        store.startPreallocating()
    }

    /// Ends the sync thread (after the sync in progress) and the preallocation filler.
    func stop() {
        sync.stop()
        store.stopPreallocating()
    }

    /// Everything accepted is on disk and nothing waits to be written.
    var isSettled: Bool { isAvailable && held.isEmpty && durable.sequence == accepted }

    /// Stores the records of one `journal` link message. Throws (writing nothing) when they
    /// are not whole valid records continuing the journal; I/O errors are handled here.
    @discardableResult
    func append(_ records: UnsafeRawBufferPointer) throws(JournalRecordError) -> UInt64 {
        let last = try store.check(records, after: accepted)
        accepted = last
        metrics.journalBytes.add(UInt64(records.count), ordering: .relaxed)
        guard isAvailable, held.isEmpty else {
            held.append(contentsOf: records)
            heldLast = last
            return last
        }
        do {
            try store.write(records, last: last)
            unsynced.append((last, Array(records), MonotonicClock.nanos()))
            requestSync()
        } catch {
            held.append(contentsOf: records)
            heldLast = last
            failed(error.description, errno: Self.errno(of: error))
        }
        return last
    }

    private static func reporter(_ journal: HostJournal, _ loop: EventLoop) -> @Sendable (JournalSync.Outcome) -> Void {
        let box = WeakBox(journal)
        return { outcome in loop.execute { box.value?.handle(outcome) } }
    }

    /// The sync thread must not keep the journal alive.
    private final class WeakBox: @unchecked Sendable {
        weak var value: HostJournal?
        init(_ value: HostJournal) { self.value = value }
    }

    private func requestSync() {
        let (files, created) = store.takeDirty()
        sync.request(.init(generation: generation, position: store.position, files: files, directory: created))
    }

    private func handle(_ outcome: JournalSync.Outcome) {
        switch outcome {
        case .synced(let gen, let position, let seconds):
            record(seconds)
            guard gen == generation, position.sequence >= durable.sequence else { return }
            if position.sequence > durable.sequence {
                metrics.journalGroupRecords.observe(position.sequence - durable.sequence)
            }
            durable = position
            let now = MonotonicClock.nanos()
            var covered = 0
            while covered < unsynced.count, unsynced[covered].last <= position.sequence {
                metrics.journalDurableWait.observe(now &- unsynced[covered].written)
                covered += 1
            }
            unsynced.removeFirst(covered)
            metrics.journalDurableSequence.store(position.sequence, ordering: .relaxed)
            if !isAvailable, !needsRewind {
                if held.isEmpty, unsynced.isEmpty {
                    isAvailable = true
                    metrics.journalAvailable.store(1, ordering: .relaxed)
                    logger.notice("journal_available", metadata: ["durable_sequence": "\(position.sequence)"])
                    onAvailability?(true)
                } else if !held.isEmpty, unsynced.isEmpty {
                    // Records arrived while the retry's sync ran: write them now.
                    retry()
                }
            }
            onDurable?(position.sequence)
        case .failed(let gen, let errno, let path, let seconds):
            record(seconds)
            guard gen == generation else { return }
            failed("sync of \(path) failed", errno: errno)
        }
    }

    private func record(_ seconds: Double) {
        metrics.journalFsync.observe(UInt64((seconds * 1e9).rounded()))
    }

    /// A write or sync failed: everything past the durable position is written again by
    /// the retry, after the files are cut back to it.
    private func failed(_ what: String, errno: Int32) {
        metrics.journalErrors.add(1, ordering: .relaxed)
        generation += 1
        needsRewind = true
        held = unsynced.flatMap(\.bytes) + held
        heldLast = accepted
        unsynced = []
        logger.error("journal_unavailable", metadata: [
            "errno": "\(errno)", "error": "\(String(cString: strerror(errno)))", "what": "\(what)",
            "durable_sequence": "\(durable.sequence)", "held_bytes": "\(held.count)",
        ])
        if isAvailable {
            isAvailable = false
            metrics.journalAvailable.store(0, ordering: .relaxed)
            onAvailability?(false)
        }
        scheduleRetry()
    }

    private func scheduleRetry() {
        guard !retryScheduled else { return }
        retryScheduled = true
        eventLoop.scheduleTask(in: retryInterval) { self.retry() }
    }

    /// Cuts back to the durable position and writes what is held; availability returns
    /// when its sync succeeds. Internal so a test can run it at a moment it chooses.
    func retry() {
        retryScheduled = false
        guard !isAvailable else { return }
        do {
            if needsRewind {
                try store.rewind(to: durable)
                needsRewind = false
            }
            if !held.isEmpty {
                try store.write(held, last: heldLast)
                unsynced.append((heldLast, held, MonotonicClock.nanos()))
                held = []
            }
            requestSync()
        } catch {
            metrics.journalErrors.add(1, ordering: .relaxed)
            logger.warning("journal_retry_failed", metadata: ["error": "\(error)"])
            scheduleRetry()
        }
    }

    private static func errno(of error: JournalStoreError) -> Int32 {
        if case .io(_, let e) = error { return e }
        return EIO
    }
}
