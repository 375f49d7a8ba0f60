import SealCrypto

/// A counter that only goes up and survives restarts of the worker and of the machine:
/// the rollback protection of docs/DURABILITY.md §5. In the TPM modes it is the TPM NV
/// counter at index 0x01500023 (the worker executable's `TPMQuoteSource`); `software`
/// mode has none. Used from the worker's one thread.
public protocol MonotonicCounter: AnyObject {
    /// The counter's current value. Throws when the counter cannot be reached or is not
    /// the counter it claims to be (never a guessed value).
    func read() throws -> UInt64
    /// Adds one to the counter, durably, and returns the new value. When this returns the
    /// increment survives a crash and a power loss; when it throws, the counter may or may
    /// not have moved (read it to know).
    func increment() throws -> UInt64
}

/// The TPM counter as one epoch sees it (docs/DURABILITY.md §5.1): its value minus the
/// `base` it had when the epoch's storage key was created, so the epoch's counter starts
/// at 0 however many increments the TPM's counter had before (earlier epochs, other
/// software, a redefined index). Close records carry these relative values.
public final class EpochCounter: MonotonicCounter {
    /// The counter's value is below the epoch's base: it was replaced by one that went
    /// backwards, which a TPM counter never does. Treated as a rollback.
    public struct BelowBase: Error, CustomStringConvertible {
        /// The TPM counter's value and the epoch's base.
        public let value: UInt64
        public let base: UInt64
        public var description: String {
            "the TPM NV counter is at \(value), below this epoch's base \(base): it is not the epoch's counter"
        }
    }

    private let counter: any MonotonicCounter
    /// The TPM counter's value when the storage key was created (or enrolled).
    public let base: UInt64
    /// Added to every relative value: 0, except for a key enrolled from a primary
    /// (docs/REPLICATION.md §11.7), whose epoch's counter continues at the primary's.
    public let offset: UInt64

    public init(_ counter: any MonotonicCounter, base: UInt64, offset: UInt64 = 0) {
        self.counter = counter
        self.base = base
        self.offset = offset
    }

    public func read() throws -> UInt64 { try relative(counter.read()) }

    public func increment() throws -> UInt64 { try relative(counter.increment()) }

    private func relative(_ value: UInt64) throws -> UInt64 {
        guard value >= base else { throw BelowBase(value: value, base: base) }
        return value - base + offset
    }

    /// The tag that binds `base` to the storage key in the storage key file:
    /// SHA-256("sealstream/v1/counter-base" ‖ K ‖ base as 8 bytes big-endian), 32 bytes.
    /// The host, which has no K, cannot make a file claim another base.
    public static func baseTag(storageKey: SecretBytes, base: UInt64) -> [UInt8] {
        var h = SHA256()
        h.update(Array("sealstream/v1/counter-base".utf8))
        storageKey.withUnsafeBytes { h.update($0) }
        h.update((0..<8).map { UInt8(truncatingIfNeeded: base >> (56 - 8 * $0)) })
        return h.finalize()
    }

    /// The tag of an enrolled key file (docs/REPLICATION.md §11.7): SHA-256(
    /// "sealstream/v1/counter-base" ‖ K ‖ base ‖ offset ‖ enrolledRecordSequence), each
    /// 8 bytes big-endian, 32 bytes.
    public static func enrolledTag(storageKey: SecretBytes, base: UInt64, offset: UInt64, recordSequence: UInt64) -> [UInt8] {
        var h = SHA256()
        h.update(Array("sealstream/v1/counter-base".utf8))
        storageKey.withUnsafeBytes { h.update($0) }
        for v in [base, offset, recordSequence] { h.update((0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) }) }
        return h.finalize()
    }
}
