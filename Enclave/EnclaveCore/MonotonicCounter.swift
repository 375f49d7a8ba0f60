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
