import Client
import Foundation
import SealCrypto
import VenueTools
import Wire

/// An in-process trader speaking to a real host through the Client SDK.
final class Trader: @unchecked Sendable {
    let accountID: UInt64
    let name: String
    let connection: Connection
    let session: EnclaveSession

    /// Registers the account with a custody-signed deposit (unless `deposit` is false: an
    /// account the venue already holds), then opens a session.
    init(address: String, accountID: UInt64, name: String, deposit makeDeposit: Bool = true) throws {
        self.accountID = accountID
        self.name = name
        let venue = DemoKeys.venue()
        let key = DemoKeys.signingKey(.trader, name)
        let publicConnection = try Connection(address: address)
        let evidence = try EvidenceFetch.fetch(over: publicConnection)
        if makeDeposit {
            let deposit = DemoKeys.deposit(venueID: venue.venueID, accountID: accountID, accountKey: key.publicKey.bytes,
                                           amount: 1_000_000_000, depositID: Sodium.randomUInt64())
            try publicConnection.send(deposit.encode())
            let ack = try publicConnection.receive()
            guard ack.type == .publicAck else { throw TestFailure("deposit not acknowledged: \(ack.type)") }
        }
        // The engine margins orders at the oracle mark: make sure there is a fresh one.
        try Self.publishPrice(over: publicConnection, market: 1, price: 60_000_000_000)
        connection = try Connection(address: address)
        let (session, frame) = try EnclaveSession.open(enclaveKey: evidence.enclaveKeyBytes, accountID: accountID, accountKey: key)
        try connection.send(frame)
        let reply = try connection.receive()
        guard reply.type == .sessionAccepted else { throw TestFailure("session not accepted: \(reply.type)") }
        try session.confirm(try reply.body.withUnsafeBytes { try SessionAccepted.decode(body: $0) })
        self.session = session
    }

    /// All demo publishers sign `price` for `market`, now; returns the global sequence
    /// numbers of their acknowledgements.
    @discardableResult
    static func publishPrice(over connection: Connection, market: UInt32, price: Int64) throws -> [UInt64] {
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        var sequences: [UInt64] = []
        for publisher in DemoKeys.publisherNames {
            try connection.send(DemoKeys.price(market: market, price: price, confidence: 0, publishTime: now, publisher: publisher).encode())
            let reply = try connection.receive()
            guard reply.type == .publicAck else { throw TestFailure("price not acknowledged: \(reply.type)") }
            sequences.append(try reply.body.withUnsafeBytes { try PublicAck.decode(body: $0) }.globalSequence)
        }
        return sequences
    }

    /// Sends a limit order with `id` and returns its opened receipt.
    @discardableResult
    func order(_ id: String, market: UInt32 = 1) throws -> Receipt {
        try sealedOrder(id, market: market).receipt
    }

    /// Sends `order` (any market, side, price and size) and returns its opened receipt.
    func send(_ order: NewOrder) throws -> Receipt {
        let (_, frame) = try session.seal(.newOrder(order))
        try connection.send(frame)
        var reply = try connection.receive()
        while reply.type == .sealedEvent { reply = try connection.receive() }
        guard reply.type == .sealedReceipt else { throw TestFailure("expected a receipt, got \(reply.type)") }
        return try session.openReceipt(try reply.body.withUnsafeBytes { try SealedEnvelope.decode(body: $0) })
    }

    /// Like `order`, also returning the frame body sent (what the event log commits to).
    func sealedOrder(_ id: String, market: UInt32 = 1) throws -> (body: [UInt8], receipt: Receipt) {
        let request = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID(id), market: market, side: .buy,
                                                     price: 60_000_000_000, quantity: 10_000_000))
        let (_, frame) = try session.seal(request)
        try connection.send(frame)
        var reply = try connection.receive()
        while reply.type == .sealedEvent { reply = try connection.receive() }
        guard reply.type == .sealedReceipt else { throw TestFailure("expected a receipt, got \(reply.type)") }
        return (Array(frame[6...]), try session.openReceipt(try reply.body.withUnsafeBytes { try SealedEnvelope.decode(body: $0) }))
    }
}
