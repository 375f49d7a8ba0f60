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
        /// Traders whose 0.1 BTC buy filled (the ones the move liquidates).
        public var filled: Int
        /// Global sequence number of the last event of the drill.
        public var lastSequence: UInt64
        public var seconds: Double
    }

    static let usd: Int64 = 1_000_000
    static let btc: Int64 = 100_000_000

    public static func run(
        host: String, traders: Int, requirement: AttestationRequirement? = nil, makerID: UInt64 = 9_000,
        firstTraderID: UInt64 = 10_000
    ) throws -> Summary {
        let start = Date()
        let venue = DemoKeys.venue()
        let publicConnection = try Connection(address: host)
        let evidence = try EvidenceFetch.fetch(over: publicConnection, requirement: requirement)
        let label = Hex.encode(Array(Sodium.randomBytes(4)))
        func key(_ id: UInt64) -> Ed25519SigningKey { DemoKeys.signingKey(.trader, "drill-\(label)-\(id)") }

        // Deposits, pipelined: a deep-pocketed maker and the traders.
        let ids = (0..<UInt64(traders)).map { firstTraderID + $0 }
        var frames: [UInt8] = []
        for id in [makerID] + ids {
            let amount = id == makerID ? 100_000_000 * usd : 400 * usd
            frames += DemoKeys.deposit(venueID: venue.venueID, accountID: id, accountKey: key(id).publicKey.bytes,
                                       amount: amount, depositID: Sodium.randomUInt64()).encode()
        }
        try publicConnection.send(frames)
        for _ in 0...traders { try expect(try publicConnection.receive(), .publicAck, "deposit") }
        _ = try publishPrice(publicConnection, 60_000 * usd)

        let makerConnection = try Connection(address: host)
        let maker = try openSessions([makerID], key: key, enclaveKey: evidence.enclaveKeyBytes, on: makerConnection)[0]
        // Twice what the traders buy: bids resting from earlier trading may take some of it.
        let ask = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("drill-ask"), market: 1, side: .sell,
                                                 price: 60_000 * usd, quantity: Int64(traders) * btc / 5))
        try makerConnection.send(try maker.seal(ask).frame)
        try requireAccepted(try receipt(makerConnection, maker), "maker ask")

        // Traders, 100 sessions per connection, each buying 0.1 BTC immediately.
        var offset = 0
        var filled = 0
        while offset < ids.count {
            let group = Array(ids[offset..<min(ids.count, offset + 100)])
            offset += group.count
            let connection = try Connection(address: host)
            let sessions = try openSessions(group, key: key, enclaveKey: evidence.enclaveKeyBytes, on: connection)
            var orders: [UInt8] = []
            for s in sessions {
                orders += try s.seal(.newOrder(NewOrder(clientOrderID: try ClientOrderID("drill-buy"), market: 1, side: .buy,
                                                        timeInForce: .immediateOrCancel, price: 60_000 * usd, quantity: btc / 10))).frame
            }
            try connection.send(orders)
            for s in sessions {
                let r = try receipt(connection, s)
                try requireAccepted(r, "trader buy")
                if let report = try? OrderReport.decode(r.detail), report.fills.reduce(0, { $0 + $1.quantity }) == btc / 10 {
                    filled += 1
                }
            }
        }
        // The move: every publisher signs 57,000 (5% down, inside the deviation limit).
        let last = try publishPrice(publicConnection, 57_000 * usd)
        return Summary(traders: traders, filled: filled, lastSequence: last, seconds: Date().timeIntervalSince(start))
    }

    static func publishPrice(_ connection: Connection, _ price: Int64) throws -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let t = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        var last: UInt64 = 0
        for p in DemoKeys.publisherNames {
            try connection.send(DemoKeys.price(market: 1, price: price, confidence: 0, publishTime: t, publisher: p).encode())
            let reply = try connection.receive()
            try expect(reply, .publicAck, "price")
            last = try Reply.decode(reply.body, PublicAck.decode).globalSequence
        }
        return last
    }

    static func openSessions(
        _ ids: [UInt64], key: (UInt64) -> Ed25519SigningKey, enclaveKey: [UInt8], on connection: Connection
    ) throws -> [EnclaveSession] {
        var pending: [UInt64: EnclaveSession] = [:]
        var frames: [UInt8] = []
        var order: [UInt64] = []
        for id in ids {
            let (s, f) = try EnclaveSession.open(enclaveKey: enclaveKey, accountID: id, accountKey: key(id))
            pending[s.sessionID] = s
            order.append(s.sessionID)
            frames += f
        }
        try connection.send(frames)
        for _ in ids {
            let reply = try connection.receive()
            try expect(reply, .sessionAccepted, "session")
            let accepted = try Reply.decode(reply.body, SessionAccepted.decode)
            guard let s = pending[accepted.sessionID] else { throw ClientError.unexpectedFrame("unknown session accepted") }
            try s.confirm(accepted)
        }
        return order.map { pending[$0]! }
    }

    static func receipt(_ connection: Connection, _ session: EnclaveSession) throws -> Receipt {
        while true {
            let frame = try connection.receive()
            if frame.type == .sealedEvent { continue }
            try expect(frame, .sealedReceipt, "receipt")
            return try session.openReceipt(try Reply.decode(frame.body, SealedEnvelope.decode))
        }
    }

    static func expect(_ frame: (type: MessageType, body: [UInt8]), _ type: MessageType, _ what: String) throws {
        guard frame.type == type else { throw ClientError.unexpectedFrame("\(what): got \(frame.type)") }
    }

    static func requireAccepted(_ r: Receipt, _ what: String) throws {
        guard r.status == .accepted else { throw ClientError.unexpectedFrame("\(what) not accepted: \(r.status)") }
    }
}
