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
    /// Sealed margin calls (docs/OPTIONS.md §10.10) pushed to this run's sessions.
    public var marginCalls = 0
    /// Engine rejections by reason label.
    public var rejected: [String: Int] = [:]
    public var notSequenced = 0
    /// Receipts of status `duplicate` (a resent request the worker had already sequenced,
    /// answered with the original's global sequence, not listed in `globalSequences`),
    /// plus resent deposits refused `duplicateDeposit`.
    public var duplicates = 0
    /// Public refusals by reason label (sessions, deposits, prices, requests).
    public var refusals: [String: Int] = [:]
    public var depositsAcked = 0
    public var pricesAcked = 0
    /// Signed smiles acknowledged (`smile` lines).
    public var smilesAcked = 0
    /// Requests for which no answer arrived in time.
    public var missingReceipts = 0
    /// Every global sequence number this run was told about, ascending.
    public var globalSequences: [UInt64] = []
    public var elapsedMillis = 0
    /// With `--verify-inclusion`: sequenced requests whose inclusion in a signed batch
    /// was proven from the trader's own frame and receipt, and those that failed.
    public var inclusionProven = 0
    public var inclusionFailed = 0
    /// What the connections did to survive enclave restarts and lost connections.
    public var recovery = RecoverySummary()

    public init(scenario: String, enclaveInstance: String, attestationMode: String, simulated: Bool) {
        self.scenario = scenario
        self.enclaveInstance = enclaveInstance
        self.attestationMode = attestationMode
        self.simulated = simulated
    }
}

/// Runs a `Scenario` against a host: one connection and session per trader, a separate
/// connection for custody deposits and oracle prices. Every connection recovers from an
/// enclave restart or a lost connection (docs/PROTOCOL.md §2.12): it re-verifies the same
/// identity, reopens its session and resends what had no answer.
public final class ScenarioRunner {
    struct Trader {
        let accountID: UInt64
        let key: Ed25519SigningKey
        var connection: RecoveringConnection?
    }

    /// `HOST:PORT[,HOST:PORT...]`: the hosts to fail over between (docs/PROTOCOL.md §2.14).
    public let address: String
    public let venue: VenueConfig
    public let replyTimeoutMillis: Int32
    /// The hosts' HTTP APIs (`HOST:PORT[,HOST:PORT...]`), to prove each sequenced
    /// request's inclusion at the end: the first that answers serves the proofs.
    public let inclusionHTTP: String?
    /// The policy the enclave's evidence must pass before any session opens.
    public let requirement: AttestationRequirement?
    /// How connections back off while the enclave is away.
    public let reconnectPolicy: ReconnectPolicy
    private let progress: (String) -> Void
    /// Called with every final answer (or its absence), in the order they arrive:
    /// `scenario --receipts-out` writes them, `scripts/chaos.sh` checks them.
    public var onAnswer: ((AnswerRecord) -> Void)?
    private var traders: [String: Trader] = [:]
    private var pin: EnclaveIdentityPin?
    private var publicConnections: [RecoveringConnection] = []
    /// Frame body, global sequence number and enclave time of every sequenced request.
    private var sequenced: [(body: [UInt8], sequence: UInt64, time: UInt64)] = []

    public init(
        address: String, venue: VenueConfig, replyTimeoutMillis: Int32 = 10_000, inclusionHTTP: String? = nil,
        requirement: AttestationRequirement? = nil, reconnectPolicy: ReconnectPolicy = .standard,
        progress: @escaping (String) -> Void = { _ in }
    ) {
        self.requirement = requirement
        self.address = address
        self.venue = venue
        self.replyTimeoutMillis = replyTimeoutMillis
        self.inclusionHTTP = inclusionHTTP
        self.reconnectPolicy = reconnectPolicy
        self.progress = progress
    }

    /// New connections start at the host the public connection last found primary.
    private var preferred: String?

    private func makeConnection(_ label: String) throws -> RecoveringConnection {
        let addresses = try HostAddresses.parse(address)
        return RecoveringConnection(
            addresses: preferred.map { HostAddresses.rotated(addresses, startingAt: $0) } ?? addresses,
            requirement: requirement, pin: pin, policy: reconnectPolicy,
            replyTimeoutMillis: replyTimeoutMillis) { [progress] in progress("\(label): \($0)") }
    }

    public func run(_ scenario: Scenario, name: String) throws -> ScenarioSummary {
        let start = monotonicNanos()
        let publicConnection = try makeConnection("public")
        let evidence = try publicConnection.connect()
        publicConnections = [publicConnection]
        pin = publicConnection.pin
        progress("enclave \(evidence.instanceID) mode=\(evidence.mode.rawValue) isolation=\(evidence.isolation.rawValue)"
                 + (evidence.mode.isSimulated ? " (SIMULATED)" : ""))
        var summary = ScenarioSummary(
            scenario: name, enclaveInstance: evidence.instanceID, attestationMode: evidence.mode.rawValue,
            simulated: evidence.mode.isSimulated)

        for (line, step) in scenario.steps {
            switch step {
            case .trader(let name, let accountID):
                traders[name] = Trader(accountID: accountID, key: DemoKeys.signingKey(.trader, name))
                summary.traders += 1
            case .deposit(let name, let amount):
                let t = traders[name]!
                let deposit = DemoKeys.deposit(venueID: venue.venueID, accountID: t.accountID, accountKey: t.key.publicKey.bytes,
                                               amount: amount, depositID: Sodium.randomUInt64())
                let ticket = try publicConnection.submitPublic(frame: deposit.encode(), type: .deposit, reference: deposit.depositID)
                try awaitPublic(ticket, on: publicConnection, type: .deposit, request: "deposit:\(deposit.depositID)",
                                summary: &summary, line: line)
            case .price(let symbol, let price, let confidence, let publisher):
                guard let market = venue.markets.first(where: { $0.symbol == symbol }) else {
                    throw ScenarioError.unknownSymbol(line: line, symbol: symbol)
                }
                let message = DemoKeys.price(market: market.id, price: price, confidence: confidence,
                                             publishTime: realtimeNanos(), publisher: publisher)
                let ticket = try publicConnection.submitPublic(frame: message.encode(), type: .oraclePrice,
                                                               reference: message.publishTime)
                try awaitPublic(ticket, on: publicConnection, type: .oraclePrice, request: "price:\(message.publishTime)",
                                summary: &summary, line: line)
            case .smile(let symbol, let a, let b, let rho, let m, let sigma, let publisher):
                guard let option = venue.options?.markets.first(where: { $0.symbol == symbol }) else {
                    throw ScenarioError.unknownSymbol(line: line, symbol: symbol)
                }
                let message = DemoKeys.smile(underlying: option.underlying, expiry: option.expiry, a: a, b: b, rho: rho, m: m,
                                             sigma: sigma, publishTime: realtimeNanos(), publisher: publisher)
                let ticket = try publicConnection.submitPublic(frame: message.encode(), type: .oracleSmile,
                                                               reference: message.publishTime)
                try awaitPublic(ticket, on: publicConnection, type: .oracleSmile, request: "smile:\(message.publishTime)",
                                summary: &summary, line: line)
            case .order(let name, let symbol, let side, let type, let tif, let reduceOnly, let price, let quantity, let id):
                guard let market = Scenario.tradedMarket(symbol, in: venue) else {
                    throw ScenarioError.unknownSymbol(line: line, symbol: symbol)
                }
                let orderID = try ClientOrderID(id ?? "\(name)-\(line)")
                let order = NewOrder(clientOrderID: orderID, market: market, side: side, type: type, timeInForce: tif,
                                     reduceOnly: reduceOnly, price: price, quantity: quantity)
                summary.ordersSent += 1
                try sendRequest(.newOrder(order), trader: name, summary: &summary, line: line)
            case .cancel(let name, let id):
                summary.cancelsSent += 1
                try sendRequest(.cancel(try ClientOrderID(id)), trader: name, summary: &summary, line: line)
            case .withdraw(let name, let amount):
                summary.withdrawalsSent += 1
                try sendRequest(.withdraw(id: try ClientOrderID("\(name)-w\(line)"), amount: amount), trader: name,
                                summary: &summary, line: line)
            case .wait(let ms):
                usleep(UInt32(ms) * 1000)
            }
        }
        // Fill events for resting orders may still be in flight: collect them briefly.
        var connections = [publicConnection]
        for name in traders.keys.sorted() {
            guard let connection = traders[name]?.connection else { continue }
            try connection.collectEvents(timeoutMillis: 100)
            summary.fillEvents += connection.fillEvents
            summary.marginCalls += connection.marginCalls
            connections.append(connection)
        }
        for c in connections {
            summary.recovery.reconnects += c.stats.reconnects
            summary.recovery.resends += c.stats.resends
            summary.recovery.connectionsLost += c.stats.connectionsLost
            summary.recovery.restartsSeen = max(summary.recovery.restartsSeen, c.stats.restartNotices)
            summary.recovery.failovers += c.stats.failovers
            summary.recovery.identityRefusals += c.stats.identityRefusals
            summary.recovery.notPrimary += c.stats.notPrimary
        }
        summary.globalSequences.sort()
        if let http = inclusionHTTP {
            try proveInclusion(http: http, evidence: publicConnection.evidence ?? evidence, summary: &summary)
        }
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
        var hosts = try HostAddresses.parse(http)
        /// The first HTTP API that answers (not a refused connect, not a 5xx) serves.
        func get(_ path: String) throws -> HTTPFetch.Response {
            var last: Error = ClientError.addressInvalid(http)
            for _ in hosts {
                do {
                    let answer = try HTTPFetch.get(hosts[0], path: path)
                    if answer.status < 500 { return answer }
                    last = ClientError.protocolViolation("HTTP \(answer.status) from \(hosts[0])")
                } catch {
                    last = error
                }
                hosts = Array(hosts.dropFirst() + hosts.prefix(1))
            }
            throw last
        }
        for (body, sequence, time) in sequenced {
            // The batch covering the last requests may still be open: wait for it.
            var answer = try get("/v1/events/proof?sequence=\(sequence)")
            let deadline = monotonicNanos() + 5_000_000_000
            while answer.status == 404 && monotonicNanos() < deadline {
                usleep(20_000)
                answer = try get("/v1/events/proof?sequence=\(sequence)")
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

    /// The trader's connection, with its session open (recovering as needed).
    private func connection(for name: String, summary: inout ScenarioSummary) throws -> RecoveringConnection {
        var t = traders[name]!
        if let c = t.connection { return c }
        preferred = publicConnections.first?.address
        let c = try makeConnection(name)
        try c.connect()
        try c.openSessions([(t.accountID, t.key)])
        summary.sessionsOpened += 1
        t.connection = c
        traders[name] = t
        return c
    }

    private func sendRequest(_ request: OrderRequest, trader name: String, summary: inout ScenarioSummary, line: Int) throws {
        let connection = try self.connection(for: name, summary: &summary)
        let ticket = try connection.submit(request, account: traders[name]!.accountID)
        let answer = try connection.await(ticket)
        let operation = switch request {
        case .newOrder: "order"
        case .cancel: "cancel"
        case .withdraw: "withdraw"
        }
        onAnswer?(.of(answer, client: name, request: (operation == "cancel" ? "cancel:" : "") + "\(request.clientOrderID)",
                      operation: operation, messageType: .sealedRequest))
        guard let answer else {
            summary.missingReceipts += 1
            progress("line \(line): no receipt")
            return
        }
        if answer.sends > 1 { summary.recovery.resentRequests += 1 }
        switch answer.kind {
        case .receipt(let receipt):
            guard receipt.clientOrderID == request.clientOrderID else {
                throw ClientError.unexpectedFrame("receipt echoes a different client order id")
            }
            summary.receipts += 1
            // A duplicate's sequence number is the original's, whose leaf commits to
            // the original ciphertext, not this one.
            if receipt.status == .accepted || receipt.status == .rejected {
                sequenced.append((answer.frameBody, receipt.globalSequence, receipt.enclaveTime))
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
                progress("line \(line): duplicate of global sequence \(receipt.globalSequence) (sequenced before a restart)")
            }
        case .refused(let r):
            summary.refusals[r.reason.label, default: 0] += 1
        case .acknowledged:
            throw ClientError.unexpectedFrame("public acknowledgement of a sealed request")
        case .outcomeUnknown:
            summary.missingReceipts += 1
            summary.recovery.abandoned += 1
            progress("line \(line): outcome unknown (unanswered before a restart, too old to resend)")
        }
    }

    private func awaitPublic(
        _ ticket: RecoveringConnection.Ticket, on connection: RecoveringConnection, type: MessageType,
        request: String, summary: inout ScenarioSummary, line: Int
    ) throws {
        let answer = try connection.await(ticket)
        let operation = switch type {
        case .deposit: "deposit"
        case .oracleSmile: "smile"
        default: "price"
        }
        onAnswer?(.of(answer, client: "public", request: request, operation: operation, messageType: type))
        guard let answer else {
            summary.missingReceipts += 1
            return
        }
        if answer.sends > 1 { summary.recovery.resentRequests += 1 }
        switch answer.kind {
        case .acknowledged(let ack):
            switch type {
            case .deposit: summary.depositsAcked += 1
            case .oracleSmile: summary.smilesAcked += 1
            default: summary.pricesAcked += 1
            }
            summary.globalSequences.append(ack.globalSequence)
        case .refused(let r):
            // A resent deposit refused as a duplicate was sequenced before the restart.
            if r.reason == .duplicateDeposit && answer.sends > 1 {
                summary.duplicates += 1
                return
            }
            summary.refusals[r.reason.label, default: 0] += 1
            progress("line \(line): \(type) refused: \(r.reason.label)")
        case .receipt:
            throw ClientError.unexpectedFrame("sealed receipt for a public message")
        case .outcomeUnknown:
            summary.missingReceipts += 1
            summary.recovery.abandoned += 1
            progress("line \(line): \(type) outcome unknown (unanswered before a restart, too old to resend)")
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
