import Wire

/// The public identity a client pins: the batch signer's address, the enclave's X25519
/// key, and (from verified evidence) the measurement, config hash and attestation mode.
/// A restarted worker of the same epoch, or the standby that took over from the primary
/// on another host, has the same identity (docs/DURABILITY.md §1, docs/PROTOCOL.md
/// §2.14); only the evidence's `instanceID` differs. Any other identity is another epoch
/// or another venue.
public struct EnclaveIdentityPin: Equatable, Sendable, CustomStringConvertible {
    /// secp256k1 signer address, 20 bytes.
    public var signer: [UInt8]
    /// The enclave's order-flow X25519 public key, 32 bytes.
    public var enclaveKey: [UInt8]
    /// The enclave image measurement, lowercase hex ("" when the pin was made without it).
    public var measurement: String
    /// SHA-256 of the venue configuration, lowercase hex ("" when unknown).
    public var configHash: String
    /// The attestation mode (`software`, `swtpm`, `tpm`; "" when unknown).
    public var mode: String

    public init(
        signer: [UInt8], enclaveKey: [UInt8], measurement: String = "", configHash: String = "", mode: String = ""
    ) {
        self.signer = signer
        self.enclaveKey = enclaveKey
        self.measurement = measurement.lowercased()
        self.configHash = configHash.lowercased()
        self.mode = mode
    }

    /// The names of the fields in which `other` differs from this identity, in a fixed
    /// order (`signer`, `enclaveKey`, `measurement`, `configHash`, `mode`); empty when
    /// they are the same identity. A field this pin leaves empty is not compared.
    public func differences(from other: EnclaveIdentityPin) -> [String] {
        var d: [String] = []
        if signer != other.signer { d.append("signer") }
        if enclaveKey != other.enclaveKey { d.append("enclaveKey") }
        if !measurement.isEmpty && measurement != other.measurement { d.append("measurement") }
        if !configHash.isEmpty && configHash != other.configHash { d.append("configHash") }
        if !mode.isEmpty && mode != other.mode { d.append("mode") }
        return d
    }

    public var description: String {
        "signer 0x\(Hex.encode(signer)), enclave key \(Hex.encode(enclaveKey))"
            + (measurement.isEmpty ? "" : ", measurement \(measurement.prefix(16))…")
            + (configHash.isEmpty ? "" : ", config \(configHash.prefix(16))…")
            + (mode.isEmpty ? "" : ", mode \(mode)")
    }
}

/// The reconnecting session layer of one client connection, as a pure state machine
/// (docs/PROTOCOL.md §2.12). The shell (`RecoveringConnection`) feeds it what happened
/// (`Event`) and carries out what it returns (`Action`); it holds no socket, clock or
/// key, so every path is testable without a host.
///
/// It keeps every request that has no final answer, in submission order (tickets), and
/// the key its last copy was sent under. On a restart notice, a lost connection or an
/// `enclaveUnavailable` answer it forgets the sessions, backs off (`ReconnectPolicy`),
/// reconnects if needed, asks for fresh evidence and requires the pinned identity. Answers
/// that still arrive before the evidence (replies keep request order) resolve their
/// requests; whatever is unanswered when the evidence arrives died with the old worker.
/// It then reopens every session and resends every request still unanswered, in ticket
/// order, each under a new session sequence number (same client order id).
///
/// With several host addresses (docs/PROTOCOL.md §2.14) it also fails over: a lost
/// connection, a refused connect, unavailable evidence, a `notPrimary` refusal or an
/// enclave of another identity moves it to the next address (round robin), where it
/// verifies the evidence and requires the pinned identity before anything is resent.
public struct SessionRecovery: Sendable {
    /// A request's place in submission order; also its name towards the caller.
    public typealias Ticket = UInt64

    /// What a sent copy of a request is answered by.
    public enum RequestKey: Hashable, Sendable {
        /// A sealed request: its session and session sequence number.
        case sealed(sessionID: UInt64, sequence: UInt64)
        /// A public message: its type and reference (deposit id, publish time).
        case publicMessage(type: MessageType, reference: UInt64)
    }

    /// An answer to a sent request, as far as recovery cares.
    public enum Answer: Equatable, Sendable {
        case receipt(Receipt.Status)
        case acknowledged
        case refused(RefusalReason)
    }

    public enum Event: Equatable, Sendable {
        /// Begin: connect and verify the first evidence (its identity becomes the pin,
        /// unless one was given).
        case start
        case connected
        case connectFailed(ClientError)
        /// Evidence that parsed, answered our nonce and passed the policy.
        case evidenceVerified(EnclaveIdentityPin)
        /// No evidence this time (refused `enclaveUnavailable` or `tooManyRequests`, timed out).
        case evidenceUnavailable(ClientError)
        /// Evidence that fails the policy: not retried.
        case evidenceRejected(ClientError)
        /// The caller wants a session for `account` on this connection.
        case addSession(account: UInt64)
        case sessionOpened(account: UInt64)
        case sessionRefused(account: UInt64, reason: RefusalReason)
        /// The caller submits a request (`account` nil for a public message).
        case submit(Ticket, account: UInt64?)
        /// The shell sent a copy of `ticket` under `key`.
        case sent(Ticket, key: RequestKey)
        case answer(RequestKey, Answer)
        /// An answer the shell could not even attribute (a receipt of a session it no
        /// longer holds): counted as stray.
        case unmatchedAnswer
        /// `Notice enclaveRestarted`: every session on the connection is gone.
        case restartNotice
        /// The socket failed or closed.
        case connectionLost(ClientError)
        /// A `wait` action's time has passed.
        case waited
        /// The shell will not resend `ticket` (first sent longer ago than the resend
        /// horizon): it ends without an answer, outcome unknown.
        case abandon(Ticket)
    }

    public enum Action: Equatable, Sendable {
        /// Sleep this long, then feed `.waited`.
        case wait(milliseconds: UInt32)
        /// Open a new connection; feed `.connected` or `.connectFailed`.
        case connect
        /// Ask for evidence for a fresh nonce and verify it against the policy.
        case fetchEvidence
        /// Open a new session for `account` (new id, new ephemeral key); feed
        /// `.sessionOpened` or `.sessionRefused`.
        case openSession(account: UInt64)
        /// Send (or resend) `ticket` now: seal it under its account's current session with
        /// the next sequence number; feed `.sent` with the key.
        case send(Ticket)
        /// `ticket` has its final answer, the one just fed in, after `sends` copies
        /// (more than 1: it was resent).
        case resolved(Ticket, sends: Int)
        /// The enclave at the current address has another identity: say so (log, count);
        /// nothing is sent to it. The machine has moved on to the next address.
        case refusedIdentity(ClientError)
        /// Stop: recovery is impossible (another identity, exhausted attempts, a session
        /// the restarted enclave will not reopen).
        case fail(ClientError)
    }

    /// What recovery did, for summaries.
    public struct Stats: Equatable, Sendable, Codable {
        public var restartNotices = 0
        public var connectionsLost = 0
        /// Recoveries completed: evidence re-verified and every session reopened.
        public var reconnects = 0
        /// Copies of requests sent again after a disruption.
        public var resends = 0
        /// Requests answered `duplicate`: sequenced before, not executed again.
        public var duplicates = 0
        /// Attempts that failed and were retried after a back-off.
        public var failedAttempts = 0
        /// Requests given up unanswered, too old to resend safely (outcome unknown).
        public var abandoned = 0
        /// Answers that matched no request sent on this connection (counted, ignored).
        public var strayAnswers = 0
        /// Recoveries that completed at another address than the one lost (failovers).
        public var failovers = 0
        /// Hosts refused because their enclave had another identity (several addresses).
        public var identityRefusals = 0
        /// Refusals `notPrimary`: a host that is not the primary (a standby), skipped.
        public var notPrimary = 0
        public init() {}
    }

    enum Phase: Equatable {
        case idle
        case ready
        /// Backing off before attempt `attempt`.
        case waiting
        case connecting
        case fetchingEvidence
        /// Waiting for these accounts' sessions to be accepted.
        case reopening(Set<UInt64>)
        case failed
    }

    struct Pending: Equatable {
        let ticket: Ticket
        let account: UInt64?
        var key: RequestKey?
        var sends = 0
    }

    public let policy: ReconnectPolicy
    /// The host addresses, in the order given (at least one); the machine only names them.
    public let addresses: [String]
    /// The address the current (or next) connection goes to.
    public internal(set) var addressIndex = 0
    /// The address the last completed recovery (or the first connection) was at.
    var readyAddressIndex = 0
    /// Failed attempts at distinct addresses before the first verified evidence.
    var startFailures = 0
    /// Whether, before the first verified evidence, an address answered `notPrimary` or
    /// accepted a connection that was then lost: a venue host is there (kept once set).
    var startMetVenue = false
    public internal(set) var pin: EnclaveIdentityPin?
    public internal(set) var stats = Stats()
    var phase: Phase = .idle
    /// Failed attempts in the current recovery.
    var attempt = 0
    var needsConnect = true
    /// The first evidence was verified and the first sessions opened.
    var established = false
    /// The current disruption lost the sessions (not only a journal hold).
    var reconnecting = false
    var needsEvidence = true
    /// Accounts with a session on this connection, in the order they were added.
    var accounts: [UInt64] = []
    var openAccounts: Set<UInt64> = []
    /// Unanswered requests, ascending by ticket.
    var pending: [Pending] = []
    var byKey: [RequestKey: Ticket] = [:]
    var random: UInt64

    /// `pin`: the identity to require (from evidence verified earlier); nil pins the
    /// first verified evidence. `seed` seeds the jitter. `addresses`: the hosts to fail
    /// over between, tried first to last, round robin (at least one).
    public init(
        policy: ReconnectPolicy = .standard, pin: EnclaveIdentityPin? = nil, seed: UInt64, addresses: [String] = [""]
    ) {
        precondition(!addresses.isEmpty, "at least one host address")
        self.policy = policy
        self.addresses = addresses
        self.pin = pin
        random = seed
    }

    public var isReady: Bool { phase == .ready }
    /// The address to connect to now.
    public var address: String { addresses[addressIndex] }
    /// More than one address: failures move on to the next one.
    var failsOver: Bool { addresses.count > 1 }
    public var isFailed: Bool { phase == .failed }
    /// Tickets without a final answer, ascending.
    public var unanswered: [Ticket] { pending.map(\.ticket) }
    /// How many times `ticket` has been sent (0 if unknown or not yet sent).
    public func sends(of ticket: Ticket) -> Int { pending.first { $0.ticket == ticket }?.sends ?? 0 }
}
