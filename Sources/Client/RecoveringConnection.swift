#if canImport(Glibc)
import Glibc
#endif
import Attestation
import SealCrypto
import Wire

/// A client connection that survives enclave restarts and lost connections: the I/O
/// shell of `SessionRecovery` (docs/PROTOCOL.md §2.12). It holds sessions for any number
/// of accounts and public messages; every request is a ticket that ends in exactly one
/// final answer (`outcomeUnknown` when too old to resend), however many times it had to be
/// resent. Blocking, single-threaded.
public final class RecoveringConnection {
    public typealias Ticket = SessionRecovery.Ticket

    /// The final answer to one request.
    public struct Answered: Sendable {
        public enum Kind: Sendable {
            case receipt(Receipt)
            case acknowledged(PublicAck)
            case refused(Refusal)
            /// Sent before a disruption, never answered, and first sent longer ago than
            /// `ReconnectPolicy.resendHorizonMillis`: it may or may not have been
            /// sequenced, and resending it could execute it twice. Look it up instead.
            case outcomeUnknown
        }

        public var kind: Kind
        /// The body of the frame that was answered (session id ‖ sequence ‖ ciphertext,
        /// or the public message): what the event log commits to when it was sequenced.
        public var frameBody: [UInt8]
        /// The bodies of the copies sent before the answered one, oldest first (empty
        /// unless resent): a `duplicate` receipt's global sequence names the leaf of one
        /// of these, the copy the worker sequenced before the restart.
        public var earlierBodies: [[UInt8]] = []
        /// Copies sent; more than 1 means it was resent after a disruption.
        public var sends: Int
    }

    enum Request {
        case sealed(account: UInt64, OrderRequest)
        case publicMessage(type: MessageType, reference: UInt64, frame: [UInt8])
    }

    /// The host addresses, in the order given: the first is tried first, then round robin.
    public let addresses: [String]
    /// The address of the current (or next) connection.
    public var address: String { machine.address }
    public let requirement: AttestationRequirement?
    public let replyTimeoutMillis: Int32
    /// The last verified evidence (the first, or the one after the latest recovery).
    public internal(set) var evidence: Evidence?
    /// Sealed fill events pushed to this connection's sessions.
    public internal(set) var fillEvents = 0
    /// Called for each pushed fill event, with the account it belongs to.
    public var onFillEvent: ((UInt64, FillEvent) -> Void)?
    /// Sealed margin calls (docs/OPTIONS.md §10.10) pushed to this connection's sessions.
    public internal(set) var marginCalls = 0
    /// Called for each pushed margin call, with the account it belongs to.
    public var onMarginCall: ((UInt64, MarginCallEvent) -> Void)?
    var machine: SessionRecovery
    var connection: Connection?
    var keys: [UInt64: Ed25519SigningKey] = [:]
    var sessions: [UInt64: EnclaveSession] = [:]
    var opening: [UInt64: EnclaveSession] = [:]
    var requests: [Ticket: Request] = [:]
    var bodies: [Ticket: [UInt8]] = [:]
    /// Bodies of the copies sent before the current one.
    var earlierBodies: [Ticket: [[UInt8]]] = [:]
    /// When each unanswered request was first sent (monotonic milliseconds).
    var firstSent: [Ticket: UInt64] = [:]
    let resendHorizonMillis: UInt64
    var results: [Ticket: Answered] = [:]
    var nextTicket: Ticket = 1
    var queue: [SessionRecovery.Action] = []
    /// Why recovery stopped; every later call throws it.
    var failure: ClientError?
    /// Nonces of evidence requests not yet answered, oldest first.
    var evidenceNonces: [[UInt8]] = []
    let log: (String) -> Void

    /// `pin`: require this identity (e.g. from evidence another connection verified);
    /// nil pins the first evidence this connection verifies.
    public convenience init(
        address: String, requirement: AttestationRequirement?, pin: EnclaveIdentityPin? = nil,
        policy: ReconnectPolicy = .standard, replyTimeoutMillis: Int32 = 10_000,
        log: @escaping (String) -> Void = { _ in }
    ) {
        self.init(addresses: [address], requirement: requirement, pin: pin, policy: policy,
                  replyTimeoutMillis: replyTimeoutMillis, log: log)
    }

    /// A connection that fails over between `addresses` (docs/PROTOCOL.md §2.14): the
    /// first is tried first; after a loss, a refusal `notPrimary` or an enclave of another
    /// identity, the next, round robin, with the back-off of `policy`.
    public init(
        addresses: [String], requirement: AttestationRequirement?, pin: EnclaveIdentityPin? = nil,
        policy: ReconnectPolicy = .standard, replyTimeoutMillis: Int32 = 10_000,
        log: @escaping (String) -> Void = { _ in }
    ) {
        precondition(!addresses.isEmpty, "at least one host address")
        self.addresses = addresses
        self.requirement = requirement
        self.replyTimeoutMillis = replyTimeoutMillis
        self.log = log
        resendHorizonMillis = UInt64(policy.resendHorizonMillis)
        machine = SessionRecovery(policy: policy, pin: pin, seed: Sodium.randomUInt64(), addresses: addresses)
    }

    /// What recovery did so far.
    public var stats: SessionRecovery.Stats { machine.stats }
    /// The identity every recovery must find again.
    public var pin: EnclaveIdentityPin? { machine.pin }

    /// Connects and verifies the enclave's evidence; returns it.
    @discardableResult
    public func connect() throws -> Evidence {
        feed(.start)
        try run { machine.isReady }
        return evidence!
    }

    /// Opens a session for each account (pipelined) and waits until all are accepted.
    public func openSessions(_ accounts: [(id: UInt64, key: Ed25519SigningKey)]) throws {
        for (id, key) in accounts {
            keys[id] = key
            feed(.addSession(account: id))
        }
        try run { machine.isReady && accounts.allSatisfy { sessions[$0.id] != nil } }
    }

    /// The current session of `account` (a new one after each recovery).
    public func session(for account: UInt64) -> EnclaveSession? { sessions[account] }

    /// Sends a sealed request for `account` (or queues it while recovering).
    public func submit(_ request: OrderRequest, account: UInt64) throws -> Ticket {
        precondition(keys[account] != nil, "open a session for account \(account) first")
        return try submit(.sealed(account: account, request), account: account)
    }

    /// Sends a public message (deposit, price) answered by a `PublicAck` with `reference`.
    public func submitPublic(frame: [UInt8], type: MessageType, reference: UInt64) throws -> Ticket {
        try submit(.publicMessage(type: type, reference: reference, frame: frame), account: nil)
    }

    private func submit(_ request: Request, account: UInt64?) throws -> Ticket {
        let ticket = nextTicket
        nextTicket += 1
        requests[ticket] = request
        feed(.submit(ticket, account: account))
        try run { true }
        return ticket
    }

    /// Waits for the final answer to `ticket` (an answer, or `outcomeUnknown` once it is
    /// too old to resend); nil only for a ticket with no answer to come (already taken).
    /// A silent connection does not end the wait: it is lost and recovered (`run`).
    public func await(_ ticket: Ticket) throws -> Answered? {
        try run { results[ticket] != nil }
        return results.removeValue(forKey: ticket)
    }

    /// Reads pushed frames (fill events) for up to `timeoutMillis` of silence.
    public func collectEvents(timeoutMillis: Int32) throws {
        guard machine.isReady, let connection else { return }
        while true {
            guard let frame = try? connection.receive(timeoutMillis: timeoutMillis) else { return }
            try dispatch(frame)
            try run { true }
        }
    }

    // MARK: the loop

    func feed(_ event: SessionRecovery.Event) {
        let reconnects = machine.stats.reconnects
        queue += machine.handle(event)
        if machine.stats.reconnects > reconnects {
            log("recovered: enclave \(evidence?.instanceID ?? "?") at \(address) has the same identity; "
                + "\(sessions.count) sessions reopened, "
                + "\(machine.unanswered.count) unanswered requests to resend")
        }
    }

    /// Carries out queued actions and reads frames until `done` (or a reply timeout
    /// while ready with nothing unanswered, which ends the wait with `done` still false).
    /// A connection silent for the reply timeout while a request or a session open waits
    /// is lost: a partitioned or stalled host keeps its TCP connection open and answers
    /// nothing (docs/PROTOCOL.md §2.12 step 1), so the client reconnects (with several
    /// addresses, at the next) and resends within the resend horizon.
    private func run(until done: () -> Bool) throws {
        if let failure { throw failure }
        while true {
            while !queue.isEmpty { try execute(queue.removeFirst()) }
            if done() { return }
            guard let connection else { preconditionFailure("no connection outside recovery") }
            let frame: (type: MessageType, body: [UInt8])
            do {
                frame = try connection.receive(timeoutMillis: replyTimeoutMillis)
            } catch {
                if case .timeout = error, machine.isReady {
                    if machine.unanswered.isEmpty && opening.isEmpty { return }
                    lost(.timeout(waitingFor: "answers to \(machine.unanswered.count) requests and "
                                  + "\(opening.count) session opens from \(address) for \(replyTimeoutMillis) ms"))
                    continue
                }
                lost(error)
                continue
            }
            try dispatch(frame)
        }
    }
}
