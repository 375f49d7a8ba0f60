#if canImport(Glibc)
import Glibc
#endif
import Client
import Engine
import Foundation
import SealCrypto
import Wire

/// A liquidation drill on the demo venue through a real host: many traders buy 0.1 BTC
/// at 60,000 with 400 USD each (15x), then one signed price move to 57,000 takes every
/// one of them below maintenance in the same event, so one batch commits to all their
/// decisions. Used by the contract tests (a 1,024-decision batch) and the demo.
public enum LiquidationDrill {
    public struct Summary: Codable, Sendable {
        public var traders: Int
        /// Traders whose 0.1 BTC buy filled (the ones the move liquidates); a buy answered
        /// `duplicate` after a restart was sequenced before it, and is not counted here.
        public var filled: Int
        /// Global sequence number of the last event of the drill.
        public var lastSequence: UInt64
        public var seconds: Double
        /// Receipts of status `duplicate`, resent deposits refused `duplicateDeposit` and resent
        /// prices refused `stalePrice`: requests the worker had sequenced before a restart.
        public var duplicates = 0
        /// How the connections got back to the enclave after restarts (PROTOCOL.md §2.12).
        public var recovery = RecoverySummary()
    }

    static let usd: Int64 = 1_000_000
    static let btc: Int64 = 100_000_000

    public static func run(
        host: String, traders: Int, requirement: AttestationRequirement? = nil, makerID: UInt64 = 9_000,
        firstTraderID: UInt64 = 10_000, reconnectPolicy: ReconnectPolicy = .standard, progress: ProgressReporter? = nil,
        log: @escaping (String) -> Void = { _ in }
    ) throws -> Summary {
        let start = Date()
        var connections: [RecoveringConnection] = []
        var pin: EnclaveIdentityPin?
        var duplicates = 0
        func connect(_ label: String) throws -> RecoveringConnection {
            let addresses = try HostAddresses.parse(host)
            let c = RecoveringConnection(
                addresses: connections.first.map { HostAddresses.rotated(addresses, startingAt: $0.address) } ?? addresses,
                requirement: requirement, pin: pin, policy: reconnectPolicy
            ) {
                log("\(label): \($0)")
            }
            try c.connect()
            pin = c.pin
            connections.append(c)
            return c
        }
        let venue = DemoKeys.venue()
        let publicConnection = try connect("public")
        let label = Hex.encode(Array(Sodium.randomBytes(4)))
        func key(_ id: UInt64) -> Ed25519SigningKey { DemoKeys.signingKey(.trader, "drill-\(label)-\(id)") }

        // Deposits, pipelined: a deep-pocketed maker and the traders.
        let ids = (0..<UInt64(traders)).map { firstTraderID + $0 }
        var tickets: [RecoveringConnection.Ticket] = []
        for id in [makerID] + ids {
            let amount = id == makerID ? 100_000_000 * usd : 400 * usd
            let deposit = DemoKeys.deposit(venueID: venue.venueID, accountID: id, accountKey: key(id).publicKey.bytes,
                                           amount: amount, depositID: Sodium.randomUInt64())
            tickets.append(try publicConnection.submitPublic(frame: deposit.encode(), type: .deposit, reference: deposit.depositID))
        }
        for (i, t) in tickets.enumerated() {
            defer { progress?.update(phase: "deposits", done: i + 1, total: tickets.count, unit: "deposits") }
            let answer = try publicConnection.await(t)
            if case .refused(let r) = answer?.kind, r.reason == .duplicateDeposit, answer!.sends > 1 {
                duplicates += 1  // sequenced before a restart
                continue
            }
            guard case .acknowledged = answer?.kind else { throw ClientError.unexpectedFrame("deposit: \(describe(answer))") }
        }
        duplicates += try publishPrice(publicConnection, 60_000 * usd).duplicates

        let makerConnection = try connect("maker")
        try makerConnection.openSessions([(makerID, key(makerID))])
        // Twice what the traders buy: bids resting from earlier trading may take some of it.
        let ask = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("drill-ask"), market: 1, side: .sell,
                                                 price: 60_000 * usd, quantity: Int64(traders) * btc / 5))
        let askReceipt = try receipt(makerConnection, try makerConnection.submit(ask, account: makerID))
        if askReceipt.status == .duplicate { duplicates += 1 } else { try requireAccepted(askReceipt, "maker ask") }

        // Traders, 100 sessions per connection, each buying 0.1 BTC immediately.
        var offset = 0
        var filled = 0
        var answered = 0
        while offset < ids.count {
            let group = Array(ids[offset..<min(ids.count, offset + 100)])
            offset += group.count
            let connection = try connect("traders \(group[0])…")
            try connection.openSessions(group.map { ($0, key($0)) })
            var buys: [RecoveringConnection.Ticket] = []
            for id in group {
                let buy = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("drill-buy"), market: 1, side: .buy,
                                                         timeInForce: .immediateOrCancel, price: 60_000 * usd, quantity: btc / 10))
                buys.append(try connection.submit(buy, account: id))
            }
            for t in buys {
                let r = try receipt(connection, t)
                answered += 1
                progress?.update(phase: "orders", done: answered, total: ids.count, unit: "traders")
                if r.status == .duplicate {
                    duplicates += 1
                    continue
                }
                try requireAccepted(r, "trader buy")
                if let report = try? OrderReport.decode(r.detail), report.fills.reduce(0, { $0 + $1.quantity }) == btc / 10 {
                    filled += 1
                }
            }
        }
        // The move: every publisher signs 57,000 (5% down, inside the deviation limit).
        let (last, resentPrices) = try publishPrice(publicConnection, 57_000 * usd)
        duplicates += resentPrices
        var recovery = RecoverySummary()
        for c in connections {
            recovery.reconnects += c.stats.reconnects
            recovery.resends += c.stats.resends
            recovery.connectionsLost += c.stats.connectionsLost
            recovery.restartsSeen = max(recovery.restartsSeen, c.stats.restartNotices)
            recovery.failovers += c.stats.failovers
            recovery.identityRefusals += c.stats.identityRefusals
            recovery.notPrimary += c.stats.notPrimary
        }
        return Summary(traders: traders, filled: filled, lastSequence: last, seconds: Date().timeIntervalSince(start),
                       duplicates: duplicates, recovery: recovery)
    }

    /// Every demo publisher signs `price` for market 1 now (again, newer, when another
    /// source's price for that publisher got in first). Returns the global sequence of
    /// the last one acknowledged and how many were resends that the worker had sequenced
    /// before a restart (refused `stalePrice`: their publish time is no longer newer than
    /// the publisher's last; docs/PROTOCOL.md §2.12 step 6).
    static func publishPrice(_ connection: RecoveringConnection, _ price: Int64) throws -> (last: UInt64, duplicates: Int) {
        var last: UInt64 = 0
        var duplicates = 0
        for p in DemoKeys.publisherNames {
            // Another source (the load generator) may sign for the same publisher: a price
            // not newer than its last is refused stalePrice on a first send too, and is
            // signed again with a fresh time (a few times at most).
            for attempt in 1...5 {
                let t = realtimeNanos()
                let message = DemoKeys.price(market: 1, price: price, confidence: 0, publishTime: t, publisher: p)
                let answer = try connection.await(try connection.submitPublic(frame: message.encode(), type: .oraclePrice, reference: t))
                if case .refused(let r) = answer?.kind, r.reason == .stalePrice {
                    if answer!.sends > 1 {
                        duplicates += 1  // sequenced before a restart
                        break
                    }
                    if attempt < 5 { continue }
                }
                guard case .acknowledged(let ack) = answer?.kind else { throw ClientError.unexpectedFrame("price: \(describe(answer))") }
                last = ack.globalSequence
                break
            }
        }
        return (last, duplicates)
    }

    static func receipt(_ connection: RecoveringConnection, _ ticket: RecoveringConnection.Ticket) throws -> Receipt {
        let answer = try connection.await(ticket)
        guard case .receipt(let r) = answer?.kind else { throw ClientError.unexpectedFrame("receipt: \(describe(answer))") }
        return r
    }

    static func describe(_ answer: RecoveringConnection.Answered?) -> String {
        switch answer?.kind {
        case nil: "no answer in time"
        case .receipt(let r): "receipt \(r.status)"
        case .acknowledged: "acknowledgement"
        case .refused(let r): "refused \(r.reason.label)"
        case .outcomeUnknown: "outcome unknown (unanswered before a restart, too old to resend)"
        }
    }

    static func requireAccepted(_ r: Receipt, _ what: String) throws {
        guard r.status == .accepted else { throw ClientError.unexpectedFrame("\(what) not accepted: \(r.status)") }
    }
}
