/// What the supervisor needs of a journal (docs/DURABILITY.md §3): accept the worker's
/// records, say when they are durable, say when it cannot take more. Two backends: the
/// local segment files (`HostJournal`, `--journal on`) and the replicated journal on
/// NATS JetStream (`NATSJournal`, `--journal nats://…`, docs/REPLICATION.md), which keeps
/// a local copy in the same segment files for feeding a restarted worker.
protocol JournalBackend: AnyObject, Sendable {
    /// The segment files recovery feeds a worker from.
    var store: JournalStore { get }
    /// Everything up to `durable.sequence` is durable (only the sequence is meaningful to
    /// callers).
    var durable: JournalPosition { get }
    /// Sequence of the last record accepted from the worker (durable, written or held).
    var accepted: UInt64 { get }
    /// False while records cannot be made durable (client frames are then refused).
    var isAvailable: Bool { get }
    /// Every record accepted is durable and nothing is held.
    var isSettled: Bool { get }
    /// Called with the durable sequence whenever it advances.
    var onDurable: ((UInt64) -> Void)? { get set }
    /// Called when availability changes.
    var onAvailability: ((Bool) -> Void)? { get set }
    /// Stores the records of one `journal` link message; throws (storing nothing) when they
    /// are not whole valid records continuing the journal.
    @discardableResult
    func append(_ records: UnsafeRawBufferPointer) throws(JournalRecordError) -> UInt64
    /// Ends background work.
    func stop()
}

extension HostJournal: JournalBackend {}
