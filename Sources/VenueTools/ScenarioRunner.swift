#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Client
import Commitments
import Engine
import SealCrypto
import Wire

/// Machine-readable result of a scenario run (`sealstream-client scenario --json`).
public struct ScenarioSummary: Codable, Equatable, Sendable {
    public var scenario: String
    public var enclaveInstance: String
    public var attestationMode: String
    public var simulated: Bool
    public var traders = 0
    public var sessionsOpened = 0
    public var ordersSent = 0
    public var cancelsSent = 0
    public var withdrawalsSent = 0
    /// Sealed receipts received and opened.
    public var receipts = 0
    public var accepted = 0
    /// Fills reported in receipts (this run's orders taking liquidity).
    public var fills = 0
    /// Sealed fill events pushed to this run's sessions (its resting orders filled).
    public var fillEvents = 0
    /// Engine rejections by reason label.
    public var rejected: [String: Int] = [:]
    public var notSequenced = 0
    /// Receipts of status `duplicate`: a resent request the worker had already sequenced.
    public var duplicates = 0
    /// Public refusals by reason label (sessions, deposits, prices, requests).
    public var refusals: [String: Int] = [:]
    public var depositsAcked = 0
    public var pricesAcked = 0
    /// Requests for which no answer arrived in time.
    public var missingReceipts = 0
    /// Every global sequence number this run was told about, ascending.
    public var globalSequences: [UInt64] = []
    public var elapsedMillis = 0
    /// With `--verify-inclusion`: sequenced requests whose inclusion in a signed batch
    /// was proven from the trader's own frame and receipt, and those that failed.
    public var inclusionProven = 0
    public var inclusionFailed = 0

    public init(scenario: String, enclaveInstance: String, attestationMode: String, simulated: Bool) {
        self.scenario = scenario
        self.enclaveInstance = enclaveInstance
        self.attestationMode = attestationMode
        self.simulated = simulated
    }
}

/// Runs a `Scenario` against a host: one connection and session per trader, a separate
/// connection for custody deposits and oracle prices.
public final class ScenarioRunner {
    struct Trader {
        let accountID: UInt64
        let key: Ed25519SigningKey
        var connection: Connection?
        var session: EnclaveSession?
    }

    public let address: String
    public let venue: VenueConfig
    public let replyTimeoutMillis: Int32
    /// The host's HTTP API, to prove each sequenced request's inclusion at the end.
    public let inclusionHTTP: String?
    /// The policy the enclave's evidence must pass before any session opens.
    public let requirement: AttestationRequirement?
    private let progress: (String) -> Void
    private var traders: [String: Trader] = [:]
    /// Frame body, global sequence number and enclave time of every sequenced request.
    private var sequenced: [(body: [UInt8], sequence: UInt64, time: UInt64)] = []

    public init(
        address: String, venue: VenueConfig, replyTimeoutMillis: Int32 = 10_000, inclusionHTTP: String? = nil,
        requirement: AttestationRequirement? = nil, progress: @escaping (String) -> Void = { _ in }
    ) {
        self.requirement = requirement
        self.address = address
        self.venue = venue
        self.replyTimeoutMillis = replyTimeoutMillis
        self.inclusionHTTP = inclusionHTTP
        self.progress = progress
    }

    public func run(_ scenario: Scenario, name: String) throws -> ScenarioSummary {
        let start = monotonicNanos()
        let publicConnection = try Connection(address: address)
        let evidence = try EvidenceFetch.fetch(over: publicConnection, requirement: requirement)
        progress("enclave \(evidence.instanceID) mode=\(evidence.mode.rawValue) isolation=\(evidence.isolation.rawValue)"
                 + (evidence.mode.isSimulated ? " (SIMULATED)" : ""))
        var summary = ScenarioSummary(
            scenario: name, enclaveInstance: evidence.instanceID, attestationMode: evidence.mode.rawValue,
            simulated: evidence.mode.isSimulated)
        let enclaveKey = evidence.enclaveKeyBytes

        for (line, step) in scenario.steps {
            switch step {
            case .trader(let name, let accountID):
                traders[name] = Trader(accountID: accountID, key: DemoKeys.signingKey(.trader, name))
                summary.traders += 1
            case .deposit(let name, let amount):
                let t = traders[name]!
                let deposit = DemoKeys.deposit(venueID: venue.venueID, accountID: t.accountID, accountKey: t.key.publicKey.bytes,
                                               amount: amount, depositID: Sodium.randomUInt64())
                try publicConnection.send(deposit.encode())
                try awaitPublic(on: publicConnection, type: .deposit, reference: deposit.depositID, summary: &summary, line: line)
            case .price(let symbol, let price, let confidence, let publisher):
                guard let market = venue.markets.first(where: { $0.symbol == symbol }) else {
                    throw ScenarioError.unknownSymbol(line: line, symbol: symbol)
                }
                let message = DemoKeys.price(market: market.id, price: price, confidence: confidence,
                                             publishTime: realtimeNanos(), publisher: publisher)
                try publicConnection.send(message.encode())
                try awaitPublic(on: publicConnection, type: .oraclePrice, reference: message.publishTime, summary: &summary, line: line)
            case .order(let name, let symbol, let side, let type, let tif, let reduceOnly, let price, let quantity, let id):
                guard let market = venue.markets.first(where: { $0.symbol == symbol }) else {
                    throw ScenarioError.unknownSymbol(line: line, symbol: symbol)
                }
                let orderID = try ClientOrderID(id ?? "\(name)-\(line)")
                let order = NewOrder(clientOrderID: orderID, market: market.id, side: side, type: type, timeInForce: tif,
                                     reduceOnly: reduceOnly, price: price, quantity: quantity)
                summary.ordersSent += 1
                try sendRequest(.newOrder(order), trader: name, enclaveKey: enclaveKey, summary: &summary, line: line)
            case .cancel(let name, let id):
                summary.cancelsSent += 1
                try sendRequest(.cancel(try ClientOrderID(id)), trader: name, enclaveKey: enclaveKey, summary: &summary, line: line)
            case .withdraw(let name, let amount):
                summary.withdrawalsSent += 1
                try sendRequest(.withdraw(id: try ClientOrderID("\(name)-w\(line)"), amount: amount), trader: name,
                                enclaveKey: enclaveKey, summary: &summary, line: line)
            case .wait(let ms):
                usleep(UInt32(ms) * 1000)
            }
        }
        // Fill events for resting orders may still be in flight: collect them briefly.
        for name in traders.keys.sorted() {
            guard let connection = traders[name]?.connection, let session = traders[name]?.session else { continue }
            while let frame = try? connection.receive(timeoutMillis: 100), frame.type == .sealedEvent {
                _ = try session.openEvent(try Reply.decode(frame.body, SealedEnvelope.decode))
                summary.fillEvents += 1
            }
        }
        summary.globalSequences.sort()
        if let http = inclusionHTTP { try proveInclusion(http: http, evidence: evidence, summary: &summary) }
        summary.elapsedMillis = Int((monotonicNanos() - start) / 1_000_000)
        return summary
    }

    /// Checks every sequenced request against the signed event log, as a trader would:
    /// its own frame body and receipt, the host's proof, the signer from the evidence.
    private func proveInclusion(http: String, evidence: Evidence, summary: inout ScenarioSummary) throws {
        guard let signer = EthereumAddress(hex: evidence.signer), let contract = EthereumAddress(hex: evidence.verifyingContract) else {
            throw ClientError.evidence("signer or verifying contract is not an address")
        }
        let domain = EIP712Domain(name: "Sealstream", version: "1", chainId: evidence.chainId, verifyingContract: contract)
        for (body, sequence, time) in sequenced {
            // The batch covering the last requests may still be open: wait for it.
            var answer = try HTTPFetch.get(http, path: "/v1/events/proof?sequence=\(sequence)")
            let deadline = monotonicNanos() + 5_000_000_000
            while answer.status == 404 && monotonicNanos() < deadline {
                usleep(20_000)
                answer = try HTTPFetch.get(http, path: "/v1/events/proof?sequence=\(sequence)")
            }
            do {
                try EventInclusion.verify(frameBody: body, globalSequence: sequence, enclaveTime: time, answer: answer.body,
                                          signer: signer, domain: domain)
                summary.inclusionProven += 1
            } catch {
                summary.inclusionFailed += 1
                progress("sequence \(sequence): inclusion NOT proven: \(error)")
            }
        }
    }

    private func session(for name: String, enclaveKey: [UInt8], summary: inout ScenarioSummary, line: Int) throws -> (Connection, EnclaveSession) {
        var t = traders[name]!
        if let c = t.connection, let s = t.session { return (c, s) }
        let connection = try t.connection ?? Connection(address: address)
        let (session, frame) = try EnclaveSession.open(enclaveKey: enclaveKey, accountID: t.accountID, accountKey: t.key)
        try connection.send(frame)
        while true {
            let reply = try connection.receive(timeoutMillis: replyTimeoutMillis)
            switch reply.type {
            case .sessionAccepted:
                try session.confirm(try Reply.decode(reply.body, SessionAccepted.decode))
                summary.sessionsOpened += 1
                t.connection = connection
                t.session = session
                traders[name] = t
                return (connection, session)
            case .refusal:
                let r = try Reply.decode(reply.body, Refusal.decode)
                summary.refusals[r.reason.label, default: 0] += 1
                throw ScenarioError.step(line: line, message: "session for \(name) refused: \(r.reason.label)")
            case .notice:
                throw ClientError.enclaveRestarted
            default:
                throw ClientError.unexpectedFrame("\(reply.type) while opening a session")
            }
        }
    }

    private func sendRequest(_ request: OrderRequest, trader name: String, enclaveKey: [UInt8], summary: inout ScenarioSummary, line: Int) throws {
        let (connection, session) = try self.session(for: name, enclaveKey: enclaveKey, summary: &summary, line: line)
        let (sequence, frame) = try session.seal(request)
        try connection.send(frame)
        while true {
            guard let reply = try receiveOrTimeout(connection) else {
                summary.missingReceipts += 1
                progress("line \(line): no receipt for sequence \(sequence)")
                return
            }
            switch reply.type {
            case .sealedEvent:
                _ = try session.openEvent(try Reply.decode(reply.body, SealedEnvelope.decode))
                summary.fillEvents += 1
                continue
            case .sealedReceipt:
                let envelope = try Reply.decode(reply.body, SealedEnvelope.decode)
                guard envelope.sessionID == session.sessionID, envelope.sequence == sequence else {
                    throw ClientError.unexpectedFrame("receipt for sequence \(envelope.sequence), expected \(sequence)")
                }
                let receipt = try session.openReceipt(envelope)
                guard receipt.clientOrderID == request.clientOrderID else {
                    throw ClientError.unexpectedFrame("receipt echoes a different client order id")
                }
                summary.receipts += 1
                // A duplicate's sequence number is the original's, whose leaf commits to
                // the original ciphertext, not this one.
                if receipt.status == .accepted || receipt.status == .rejected {
                    sequenced.append((Array(frame[6...]), receipt.globalSequence, receipt.enclaveTime))
                }
                switch receipt.status {
                case .accepted:
                    summary.accepted += 1
                    summary.globalSequences.append(receipt.globalSequence)
                    if let report = try? OrderReport.decode(receipt.detail) { summary.fills += report.fills.count }
                case .rejected:
                    summary.rejected[receipt.reason?.label ?? "unknown", default: 0] += 1
                    summary.globalSequences.append(receipt.globalSequence)
                case .notSequenced:
                    summary.notSequenced += 1
                case .duplicate:
                    summary.duplicates += 1
                }
                return
            case .refusal:
                let r = try Reply.decode(reply.body, Refusal.decode)
                summary.refusals[r.reason.label, default: 0] += 1
                return
            case .notice:
                throw ClientError.enclaveRestarted
            default:
                throw ClientError.unexpectedFrame("\(reply.type) while waiting for a receipt")
            }
        }
    }

    /// The next frame, or nil if none arrived within the reply timeout.
    private func receiveOrTimeout(_ connection: Connection) throws(ClientError) -> (type: MessageType, body: [UInt8])? {
        do {
            return try connection.receive(timeoutMillis: replyTimeoutMillis)
        } catch {
            if case .timeout = error { return nil }
            throw error
        }
    }

    private func awaitPublic(on connection: Connection, type: MessageType, reference: UInt64, summary: inout ScenarioSummary, line: Int) throws {
        while true {
            guard let reply = try receiveOrTimeout(connection) else {
                summary.missingReceipts += 1
                return
            }
            switch reply.type {
            case .publicAck:
                let ack = try Reply.decode(reply.body, PublicAck.decode)
                guard ack.acknowledged == type, ack.reference == reference else { continue }
                if type == .deposit { summary.depositsAcked += 1 } else { summary.pricesAcked += 1 }
                summary.globalSequences.append(ack.globalSequence)
                return
            case .refusal:
                let r = try Reply.decode(reply.body, Refusal.decode)
                summary.refusals[r.reason.label, default: 0] += 1
                progress("line \(line): \(type) refused: \(r.reason.label)")
                return
            case .notice:
                throw ClientError.enclaveRestarted
            default:
                throw ClientError.unexpectedFrame("\(reply.type) while waiting for an acknowledgement")
            }
        }
    }
}

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func realtimeNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
