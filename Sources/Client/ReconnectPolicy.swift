/// How long a client waits between attempts to get back to the enclave after a restart
/// or a lost connection (docs/PROTOCOL.md §2.12): bounded, exponential, jittered.
///
/// Attempt `n` (0 for the first after a disruption) waits a base of
/// `min(maxDelayMillis, initialDelayMillis × 2ⁿ)` milliseconds, jittered uniformly into
/// `[base / 2, base]` ("equal jitter", so clients of one host do not come back in step).
/// After `maxAttempts` failed attempts in a row the client stops with
/// `ClientError.recoveryFailed`. The defaults (100 ms, 2 s, 10 attempts) give up after
/// 6.5-13.1 s of waiting; a successful recovery starts the count over.
///
/// A request first sent more than `resendHorizonMillis` ago is not resent: the worker
/// remembers client order ids only for its dedupe window (docs/DURABILITY.md §7, 30 s by
/// default), so a later copy could execute twice. It ends with an unknown outcome instead.
public struct ReconnectPolicy: Equatable, Sendable {
    /// Base delay of the first attempt, milliseconds (≥ 1).
    public var initialDelayMillis: UInt32
    /// Cap on the base delay, milliseconds (≥ `initialDelayMillis`).
    public var maxDelayMillis: UInt32
    /// Failed attempts in a row before giving up (≥ 1).
    public var maxAttempts: Int
    /// Oldest first send, milliseconds before now, that may still be resent; keep it
    /// below the venue's dedupe window minus the worker's recovery time.
    public var resendHorizonMillis: UInt32

    public init(
        initialDelayMillis: UInt32 = 100, maxDelayMillis: UInt32 = 2_000, maxAttempts: Int = 10,
        resendHorizonMillis: UInt32 = 20_000
    ) {
        precondition(initialDelayMillis >= 1 && maxDelayMillis >= initialDelayMillis && maxAttempts >= 1)
        self.initialDelayMillis = initialDelayMillis
        self.maxDelayMillis = maxDelayMillis
        self.maxAttempts = maxAttempts
        self.resendHorizonMillis = resendHorizonMillis
    }

    public static let standard = ReconnectPolicy()

    /// The base delay of attempt `attempt` (0-based), milliseconds, before jitter.
    public func baseDelayMillis(attempt: Int) -> UInt32 {
        var d = UInt64(initialDelayMillis)
        for _ in 0..<min(attempt, 32) where d < UInt64(maxDelayMillis) { d *= 2 }
        return UInt32(min(d, UInt64(maxDelayMillis)))
    }

    /// The jittered delay of attempt `attempt`, milliseconds, in
    /// `[base / 2, base]`; `random` is any uniformly random 64-bit value.
    public func delayMillis(attempt: Int, random: UInt64) -> UInt32 {
        let base = baseDelayMillis(attempt: attempt)
        let half = base / 2
        return half + UInt32(random % UInt64(base - half + 1))
    }
}
