import Wire

/// The primary enclave's outstanding enrollment challenges (docs/REPLICATION.md §11.4):
/// each is single-use and expires `lifetimeNanos` of enclave time after it was issued.
/// At most `capacity` are outstanding; expired ones are dropped when a new one is issued.
/// Pure: the caller passes the enclave time.
public struct ChallengeBook: Sendable {
    public static let defaultLifetimeNanos: UInt64 = 30_000_000_000
    public static let defaultCapacity = 16

    struct Entry: Sendable {
        let challenge: [UInt8]
        let standbyNonce: [UInt8]
        let issuedAt: UInt64
    }

    public let lifetimeNanos: UInt64
    public let capacity: Int
    private var entries: [Entry] = []

    public init(lifetimeNanos: UInt64 = defaultLifetimeNanos, capacity: Int = defaultCapacity) {
        self.lifetimeNanos = lifetimeNanos
        self.capacity = capacity
    }

    /// Challenges outstanding (some may have expired and not yet been dropped).
    public var count: Int { entries.count }

    /// Records `challenge` (32 bytes, drawn by the caller) for `standbyNonce` at `now`.
    public mutating func issue(challenge: [UInt8], standbyNonce: [UInt8], now: UInt64) throws(EnrollmentRefusal) {
        entries.removeAll { now &- $0.issuedAt > lifetimeNanos || now < $0.issuedAt }
        guard entries.count < capacity else { throw .tooManyChallenges }
        entries.append(Entry(challenge: challenge, standbyNonce: standbyNonce, issuedAt: now))
    }

    /// Removes `challenge` (single use, whatever follows) and returns its standby nonce:
    /// `unknownChallenge` if it was never issued or already taken, `challengeExpired` if
    /// more than `lifetimeNanos` have passed since it was issued.
    public mutating func take(challenge: [UInt8], now: UInt64) throws(EnrollmentRefusal) -> [UInt8] {
        guard let i = entries.firstIndex(where: { $0.challenge == challenge }) else { throw .unknownChallenge }
        let entry = entries.remove(at: i)
        guard now >= entry.issuedAt, now - entry.issuedAt <= lifetimeNanos else { throw .challengeExpired }
        return entry.standbyNonce
    }
}
