import Wire

/// What the worker did, counted. Logged by the enclave on exit and on request; the
/// numbers are public (they reveal no more than the host sees).
public struct EnclaveCounters: Sendable, Equatable {
    public var framesIn: UInt64 = 0
    public var sessionsOpened: UInt64 = 0
    public var requestsRejectedByEngine: UInt64 = 0
    public var requestsNotSequenced: UInt64 = 0
    public var evidenceServed: UInt64 = 0
    public var liquidations: UInt64 = 0
    /// Resent new orders and withdrawals answered `duplicate` (docs/DURABILITY.md §7).
    public var duplicates: UInt64 = 0
    /// Statement requests answered (docs/PROTOCOL.md §2.16), whatever their status.
    public var statementsServed: UInt64 = 0
    /// Margin-call events sealed to sessions (docs/OPTIONS.md §10.10): one per open session
    /// of a called account, as many as the host saw (calls to accounts without an open
    /// session are not counted, they reached nobody).
    public var marginCallEventsSealed: UInt64 = 0
    /// Batch closes put off because the TPM NV counter could not be incremented.
    public var counterFailures: UInt64 = 0
    /// Snapshots forked, and the last and longest `fork()` pause of the event path, µs
    /// (docs/DURABILITY.md §6.6): recorded by the shell, which times the fork.
    public var snapshotsTaken: UInt64 = 0
    public var snapshotPauseMicrosLast: UInt64 = 0
    public var snapshotPauseMicrosMax: UInt64 = 0

    /// Records one snapshot's fork pause, µs.
    public mutating func recordSnapshotPause(micros: UInt64) {
        snapshotsTaken += 1
        snapshotPauseMicrosLast = micros
        snapshotPauseMicrosMax = max(snapshotPauseMicrosMax, micros)
    }
    /// Refusals by `RefusalReason.rawValue`.
    public private(set) var refusals: [UInt64] = Array(repeating: 0, count: 32)

    public init() {}

    public mutating func countRefusal(_ reason: RefusalReason) {
        refusals[Int(reason.rawValue)] += 1
    }

    public func refusals(_ reason: RefusalReason) -> UInt64 { refusals[Int(reason.rawValue)] }

    public var totalRefusals: UInt64 { refusals.reduce(0, +) }
}
