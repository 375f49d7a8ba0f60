#if canImport(Glibc)
import Glibc
#endif
import Client
import Foundation
import SealCrypto
import TestSupport
import Testing
import VenueTools
import Wire

/// A standby listens from its start and answers `notPrimary` (docs/PROTOCOL.md §2.9,
/// docs/REPLICATION.md §8.1), with real processes on a real three-node JetStream cluster:
/// a client given the standby's address first is moved on to the primary; once the
/// primary is killed, the same standby address serves the client after the takeover.
@Suite("Not primary", .serialized)
struct NotPrimaryTests {
    /// The standby's order port and HTTP API answer before the takeover: typed refusals on
    /// every client frame and every non-operator path; health, readiness and metrics work.
    static func checkStandbyAnswers(_ standby: HostProcess) throws -> (orders: String, http: String) {
        let info = try standby.hostInfo()
        #expect(info["role"] as? String == "standby" && info["listen"] == nil && info["http"] == nil)
        let orders = try #require(info["standbyListen"] as? String, "\(info)")
        let http = try #require(info["standbyHttp"] as? String, "\(info)")
        // Every frame, in order, gets the host refusal notPrimary with its reference.
        let c = try Connection(address: orders)
        try c.send(EvidenceRequest(nonce: Sodium.randomBytes(32)).encode())
        let deposit = DemoKeys.deposit(venueID: DemoKeys.venue().venueID, accountID: 9,
                                       accountKey: [UInt8](repeating: 1, count: 32), amount: 1, depositID: 4242)
        try c.send(deposit.encode())
        for (type, reference) in [(MessageType.evidenceRequest, UInt64(0)), (.deposit, 4242)] {
            let reply = try c.receive(timeoutMillis: 5_000)
            #expect(reply.type == .refusal)
            let refusal = try reply.body.withUnsafeBytes { try Refusal.decode(body: $0) }
            #expect(refusal.reason == .notPrimary && refusal.refused == type && refusal.reference == reference,
                    "\(refusal)")
        }
        // The HTTP API: the operator's paths answer, the rest is a typed 503.
        let nonce = String(repeating: "00", count: 32)
        for path in ["/v1/batches", "/v1/evidence?nonce=\(nonce)", "/v1/events/proof?sequence=1"] {
            let answer = try HTTPFetch.get(http, path: path)
            let body = String(decoding: answer.body, as: UTF8.self)
            #expect(answer.status == 503 && body.contains(#""code":"notPrimary""#), "\(path)")
        }
        #expect(try HTTPFetch.get(http, path: "/healthz").status == 200)
        let ready = try HTTPFetch.get(http, path: "/readyz")
        #expect(ready.status == 503 && String(decoding: ready.body, as: UTF8.self).contains(#""failed":["primary""#))
        let metrics = String(decoding: try HTTPFetch.get(http, path: "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("sealstream_host_frames_refused_not_primary_total 2\n"), "\(metrics)")
        #expect(metrics.contains("sealstream_host_frames_in_total 2\n"))
        // Logged at debug, at most once a second: the first refusal, not the second.
        let lines = standby.logEvents.filter { $0["event"] == "frames refused: not primary" }
        #expect(lines.count == 1 && lines.first?["frames"] == "1" && lines.first?["role"] == "standby", "\(lines)")
        #expect(metrics.contains("sealstream_host_enclave_batches_out_total 0\n"),
                "nothing reached the standby's worker")
        return (orders, http)
    }

    @Test(.timeLimit(.minutes(4))) func aClientMovesFromTheStandbyToThePrimaryAndBackAfterTheTakeover() throws {
        let cluster = try TestCluster()
        let (primary, standby, work) = try StandbyFailoverTests.pair(cluster, standbyArguments: ["--log-level", "debug"])
        defer { try? FileManager.default.removeItem(at: work) }
        let (standbyOrders, standbyHTTP) = try Self.checkStandbyAnswers(standby)

        // The commands that do not fail over (evidence, load, statement) skip the standby.
        let probed = try HostAddresses.evidenceFromPrimary([standbyOrders, primary.address])
        #expect(probed.connection.address == primary.address)
        #expect(throws: ClientError.refused(.notPrimary)) { try HostAddresses.evidenceFromPrimary([standbyOrders]) }

        // The standby's address first: the client skips it at once and trades on the primary.
        let key = DemoKeys.signingKey(.trader, "not-primary-44")
        try ReconnectTests.register(primary, account: 44, key: key)
        let policy = ReconnectPolicy(initialDelayMillis: 50, maxDelayMillis: 500, maxAttempts: 60)
        let trader = RecoveringConnection(addresses: [standbyOrders, primary.address], requirement: nil, policy: policy)
        let before = try trader.connect()
        #expect(trader.address == primary.address && trader.stats.notPrimary == 1, "\(trader.stats)")
        try trader.openSessions([(44, key)])
        var sequences: Set<UInt64> = []
        for i in 0..<5 {
            let ticket = try trader.submit(try ReconnectTests.buy("np-\(i)"), account: 44)
            let answer = try #require(try trader.await(ticket))
            guard case .receipt(let r) = answer.kind else { throw TestFailure("\(answer.kind)") }
            #expect(r.status == .accepted)
            sequences.insert(r.globalSequence)
        }

        // The primary machine dies; the standby takes over on the listeners it already had.
        FailoverTests.killMachine(primary)
        let killed = Date()
        let tickets = try (5..<15).map { try trader.submit(try ReconnectTests.buy("np-\($0)"), account: 44) }
        for (i, t) in tickets.enumerated() {
            defer {
                if i == 0 {
                    let ms = Int(Date().timeIntervalSince(killed) * 1000)
                    print("notPrimary failover: primary killed → first receipt at the standby's address \(ms) ms")
                }
            }
            let answer = try #require(try trader.await(t), "ticket \(t) unanswered")
            guard case .receipt(let r) = answer.kind else { throw TestFailure("ticket \(t): \(answer.kind)") }
            #expect(r.status == .accepted, "ticket \(t): \(r.status)")
            sequences.insert(r.globalSequence)
        }
        #expect(sequences.count == 15, "each order names its own event")
        #expect(trader.address == standbyOrders && trader.stats.failovers == 1 && trader.stats.identityRefusals == 0,
                "\(trader.stats)")
        #expect(trader.evidence?.signer == before.signer && trader.evidence?.instanceID != before.instanceID)
        // The same listeners now serve: host.json names them as `listen` and `http`.
        #expect(standby.waitForListen(seconds: 5))
        #expect(standby.address == standbyOrders && standby.httpAddress == standbyHTTP)
        #expect((try standby.hostInfo())["role"] as? String == "primary")
        #expect((try standby.hostInfo())["standbyListen"] == nil)
        #expect(try HTTPFetch.get(standbyHTTP, path: "/v1/batches").status == 200)
        #expect(try HTTPFetch.get(standbyHTTP, path: "/readyz").status == 200)
        #expect(standby.log.contains("\"standby_listening\""), "\(standby.log)")
        #expect(standby.stop() == 0)
        #expect(try FailoverTests.sealedRequestLeaves(standby.dataDirectory) == 15, "one leaf per order")
    }

    /// A primary paused past its lease (SIGSTOP: the partition) while a new client
    /// connects (the kernel completes the handshake into the listen backlog) and asks for
    /// evidence: on resuming it steps down before that frame reaches its worker, and
    /// answers it `notPrimary`; the client at both addresses trades on the new primary.
    @Test(.timeLimit(.minutes(4))) func aPrimaryResumedPastItsLeaseAnswersNotPrimary() throws {
        let cluster = try TestCluster()
        let (primary, standby, work) = try StandbyFailoverTests.pair(cluster)
        defer { try? FileManager.default.removeItem(at: work) }
        kill(primary.pid, SIGSTOP)
        #expect(standby.waitForListen(seconds: 20), "\(standby.log)")
        let late = try Connection(address: primary.address)
        try late.send(EvidenceRequest(nonce: Sodium.randomBytes(32)).encode())
        let resumed = Date()
        kill(primary.pid, SIGCONT)
        // A host stepping down tells its connections `shuttingDown` (§2.12); whether that
        // notice comes before the answer depends on when the event loop accepted this
        // connection, so it may precede the refusal, which must follow.
        var reply = try late.receive(timeoutMillis: 10_000)
        if reply.type == .notice {
            let notice = try reply.body.withUnsafeBytes { try Notice.decode(body: $0) }
            #expect(notice.code == .shuttingDown, "\(notice)")
            reply = try late.receive(timeoutMillis: 10_000)
        }
        #expect(reply.type == .refusal, "\(reply.type)")
        let refusal = try reply.body.withUnsafeBytes { try Refusal.decode(body: $0) }
        #expect(refusal.reason == .notPrimary && refusal.refused == .evidenceRequest, "\(refusal)")
        primary.process.waitUntilExit()
        #expect(primary.process.terminationStatus != 0)
        #expect(primary.log.contains("stepped_down"), "\(primary.log)")
        // It does not wait out the drain timeout (5 s) for outputs its halted journal will
        // never make durable (docs/REPLICATION.md §7); it used to, every time.
        let exitedAfter = Date().timeIntervalSince(resumed)
        #expect(exitedAfter < 5, "exited \(exitedAfter) s after SIGCONT")
        // Given both addresses, the old primary's first, a client trades on the new one.
        let key = DemoKeys.signingKey(.trader, "not-primary-45")
        try ReconnectTests.register(standby, account: 45, key: key)
        let policy = ReconnectPolicy(initialDelayMillis: 50, maxDelayMillis: 500, maxAttempts: 20)
        let trader = RecoveringConnection(addresses: [primary.address, standby.address], requirement: nil,
                                          policy: policy)
        _ = try trader.connect()
        try trader.openSessions([(45, key)])
        let answer = try #require(try trader.await(try trader.submit(try ReconnectTests.buy("np-late"), account: 45)))
        guard case .receipt(let r) = answer.kind else { throw TestFailure("\(answer.kind)") }
        #expect(r.status == .accepted && trader.address == standby.address)
        #expect(standby.stop() == 0)
    }
}
