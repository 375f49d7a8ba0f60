import Client
import Foundation
import Engine
import Testing
import VenueTools
import Wire

/// The SDK's reconnecting connection (docs/PROTOCOL.md §2.12) over a real socket against
/// a real worker that "crashes" on cue: deterministic, and with the same identity after
/// the restart, which the real worker has only once it derives its keys from the storage
/// key (docs/DURABILITY.md §1).
@Suite("Recovering connection against a crashing worker", .serialized)
struct RecoveringConnectionTests {
    static let usd: Int64 = 1_000_000
    let fast = ReconnectPolicy(initialDelayMillis: 5, maxDelayMillis: 20, maxAttempts: 5)

    func order(_ id: String) throws -> OrderRequest {
        .newOrder(NewOrder(clientOrderID: try ClientOrderID(id), market: 1, side: .buy, price: 59_000 * Self.usd, quantity: 100_000))
    }

    /// Registers account 7, posts a mark, opens its session; then five orders pipelined,
    /// the third swallowed by the crash.
    func tradeThroughACrash(_ host: FakeHost, replyTimeoutMillis: Int32 = 60_000) throws
        -> (RecoveringConnection, [RecoveringConnection.Answered?])
    {
        var lines: [String] = []
        // Unless the crash is a silent connection, no step of this test waits for a reply
        // timeout (the crash is a notice or a closed connection); a long one keeps a starved
        // machine from turning a slow reply into a resend that the counts below would see.
        let c = RecoveringConnection(address: host.address, requirement: nil, policy: fast,
                                     replyTimeoutMillis: replyTimeoutMillis) {
            lines.append($0)
        }
        try c.connect()
        let venue = DemoKeys.venue()
        let key = DemoKeys.signingKey(.trader, "fake-7")
        let deposit = DemoKeys.deposit(venueID: venue.venueID, accountID: 7, accountKey: key.publicKey.bytes,
                                       amount: 1_000_000 * Self.usd, depositID: 70)
        guard case .acknowledged? = try c.await(try c.submitPublic(frame: deposit.encode(), type: .deposit, reference: 70))?.kind
        else { throw ClientError.unexpectedFrame("deposit") }
        for p in DemoKeys.publisherNames {
            let t = UInt64(Date().timeIntervalSince1970 * 1e9)
            let price = DemoKeys.price(market: 1, price: 60_000 * Self.usd, confidence: 0, publishTime: t, publisher: p)
            _ = try c.await(try c.submitPublic(frame: price.encode(), type: .oraclePrice, reference: t))
        }
        try c.openSessions([(7, key)])
        let tickets = try (1...5).map { try c.submit(try order("o\($0)"), account: 7) }
        return (c, try tickets.map { try c.await($0) })
    }

    @Test(arguments: [FakeHost.CrashStyle.notice, .dropConnections])
    func everyRequestEndsOnceWithTheLostOnesResent(style: FakeHost.CrashStyle) throws {
        let host = try FakeHost(crashAt: 3, style: style)
        defer { host.stop() }
        let (c, answers) = try tradeThroughACrash(host)
        #expect(host.restarts == 1)
        for (i, answer) in answers.enumerated() {
            guard case .receipt(let r)? = answer?.kind else {
                Issue.record("order \(i + 1): \(String(describing: answer?.kind))")
                continue
            }
            let id = try ClientOrderID("o\(i + 1)")
            #expect(r.status == .accepted && r.clientOrderID == id)
        }
        #expect(answers.map { $0?.sends ?? 0 } == [1, 1, 2, 2, 2], "the swallowed one and those after it went again")
        #expect(c.stats.reconnects == 1 && c.stats.resends == 3)
        #expect(style == .notice ? c.stats.restartNotices == 1 : c.stats.connectionsLost == 1)
        #expect(c.evidence?.instanceID == String(format: "%016llx", 2), "evidence of the new worker")
        // The session was reopened: a new id, and it goes on working.
        guard case .receipt(let r)? = try c.await(try c.submit(try order("o6"), account: 7))?.kind else {
            throw ClientError.unexpectedFrame("o6")
        }
        #expect(r.status == .accepted)
    }

    /// A partitioned or stalled host keeps the TCP connection open and answers nothing: a
    /// connection silent for the reply timeout while requests wait is lost (PROTOCOL §2.12
    /// step 1), so the client reconnects and resends instead of giving the requests up.
    @Test func aSilentConnectionIsDroppedAndTheRequestsResent() throws {
        let host = try FakeHost(crashAt: 3, style: .silent)
        defer { host.stop() }
        let (c, answers) = try tradeThroughACrash(host, replyTimeoutMillis: 2_000)
        for (i, answer) in answers.enumerated() {
            guard case .receipt(let r)? = answer?.kind else {
                Issue.record("order \(i + 1): \(String(describing: answer?.kind))")
                continue
            }
            let id = try ClientOrderID("o\(i + 1)")
            #expect(r.status == .accepted && r.clientOrderID == id)
        }
        #expect(answers.map { $0?.sends ?? 0 } == [1, 1, 2, 2, 2], "the unanswered ones went again on a new connection")
        #expect(c.stats.connectionsLost == 1 && c.stats.reconnects == 1 && c.stats.restartNotices == 0)
        #expect(c.evidence?.instanceID == String(format: "%016llx", 2), "evidence of the new worker")
    }

    @Test func anotherIdentityAfterTheCrashStops() throws {
        let host = try FakeHost(crashAt: 3, style: .notice, keepIdentity: false)
        defer { host.stop() }
        #expect {
            _ = try tradeThroughACrash(host)
        } throws: { error in
            guard case ClientError.identityChanged = error else { return false }
            return true
        }
    }

    /// The liquidation drill goes on through a crash in the middle of the traders' buys:
    /// the connections that read again recover, the lost buys are resent, and it finishes.
    @Test func theDrillFinishesThroughACrash() throws {
        // Sealed requests: 1 is the maker's ask, 2... the traders' buys; the 4th dies.
        let host = try FakeHost(crashAt: 4, style: .notice)
        defer { host.stop() }
        var lines: [String] = []
        let summary = try LiquidationDrill.run(host: host.address, traders: 10, reconnectPolicy: fast) { lines.append($0) }
        #expect(host.restarts == 1)
        #expect(summary.traders == 10 && summary.lastSequence > 0)
        #expect(summary.recovery.restartsSeen == 1)
        #expect(summary.recovery.reconnects == 2, "the traders' and the public connection; the maker's reads no more")
        #expect(summary.recovery.resends >= 8, "the lost buy and those after it: \(lines)")
        #expect(lines.contains { $0.contains("recovered: enclave") })
    }
}
