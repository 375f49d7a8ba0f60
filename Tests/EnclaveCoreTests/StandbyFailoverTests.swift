import Client
import Testing
import VenueTools
import Wire

/// A typed `notPrimary` refusal over a real socket (docs/PROTOCOL.md §2.14): the client
/// skips the standby for the next address; with no other address it backs off and asks
/// again (the standby may take over) until its attempts run out.
@Suite("Failover past a standby", .serialized)
struct StandbyFailoverTests {
    @Test func aStandbyAtTheFirstAddressIsSkipped() throws {
        let standby = try StandbyStub()
        let primary = try FakeHost(crashAt: 1_000, style: .notice)
        defer {
            standby.stop()
            primary.stop()
        }
        var lines: [String] = []
        let c = RecoveringConnection(addresses: [standby.address, primary.address], requirement: nil) { lines.append($0) }
        try c.connect()
        #expect(c.address == primary.address && c.stats.notPrimary == 1, "\(lines)")
        #expect(standby.received == [.evidenceRequest], "only the evidence request reached the standby")
        // The primary serves: a deposit is acknowledged there.
        let venue = DemoKeys.venue()
        let key = DemoKeys.signingKey(.trader, "standby-9")
        let deposit = DemoKeys.deposit(venueID: venue.venueID, accountID: 9, accountKey: key.publicKey.bytes,
                                       amount: 1_000_000, depositID: 90)
        let answer = try c.await(try c.submitPublic(frame: deposit.encode(), type: .deposit, reference: 90))
        guard case .acknowledged? = answer?.kind else {
            Issue.record("\(String(describing: answer?.kind))")
            return
        }
    }

    @Test func onlyAStandbyRunsOutOfAttemptsWithNotPrimary() throws {
        let standby = try StandbyStub()
        defer { standby.stop() }
        let policy = ReconnectPolicy(initialDelayMillis: 1, maxDelayMillis: 5, maxAttempts: 3)
        let c = RecoveringConnection(addresses: [standby.address], requirement: nil, policy: policy)
        #expect(throws: ClientError.recoveryFailed(attempts: 3, last: "\(ClientError.refused(.notPrimary))")) {
            try c.connect()
        }
        #expect(c.stats.notPrimary == 3)
    }
}
