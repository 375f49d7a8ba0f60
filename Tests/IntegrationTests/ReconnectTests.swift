#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Client
import Foundation
import SealCrypto
import Testing
import VenueTools
import Wire

/// Clients through a `kill -9` of the worker (docs/PROTOCOL.md §2.12): they reconnect,
/// re-verify the same identity, reopen sessions and resend what had no answer.
///
/// A restarted worker keeps its identity only once it derives its keys from the storage
/// key (docs/DURABILITY.md §1); until then these tests check the other half of the rule:
/// the client stops with `identityChanged` instead of trusting another epoch. The worker's
/// state survives only with the journal; the flows here tolerate an empty worker.
@Suite("Reconnecting clients", .serialized)
struct ReconnectTests {
    static let usd: Int64 = 1_000_000

    static func pin(_ e: Evidence) -> EnclaveIdentityPin { EnclaveIdentityPin(signer: e.signerBytes, enclaveKey: e.enclaveKeyBytes) }

    /// Kills the worker and waits until the host has started the next one.
    static func killWorker(_ host: HostProcess) throws {
        let pid = host.enclavePid
        let starts = host.enclaveStarts
        try #require(pid > 0 && kill(pid, SIGKILL) == 0)
        let deadline = Date().addingTimeInterval(15)
        while (host.enclaveStarts <= starts || host.enclavePid == pid) && Date() < deadline { usleep(20_000) }
        try #require(host.enclaveStarts > starts, "the host did not restart the worker")
    }

    /// Registers `account` (again, after a restart without a journal) and posts a fresh mark.
    static func register(_ host: HostProcess, account: UInt64, key: Ed25519SigningKey) throws {
        let c = try Connection(address: host.address)
        let deposit = DemoKeys.deposit(venueID: DemoKeys.venue().venueID, accountID: account, accountKey: key.publicKey.bytes,
                                       amount: 1_000_000 * usd, depositID: Sodium.randomUInt64())
        try c.send(deposit.encode())
        try #require(try c.receive().type == .publicAck)
        try Trader.publishPrice(over: c, market: 1, price: 60_000 * usd)
    }

    static func buy(_ id: String) throws -> OrderRequest {
        .newOrder(NewOrder(clientOrderID: try ClientOrderID(id), market: 1, side: .buy, price: 59_000 * usd, quantity: 100_000))
    }

    /// The scenario front end keeps going through a worker kill: its prices (accepted by
    /// an empty worker too) are all answered, and its summary counts the recovery.
    @Test(.timeLimit(.minutes(2))) func theScenarioClientRidesThroughAWorkerKill() throws {
        let host = try HostProcess(label: "reconnect-scenario")
        let before = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        let file = host.workDirectory.appendingPathComponent("prices.txt")
        let steps = 24
        try (0..<steps).map { "price BTC-PERP \(60_000 + $0)\nwait 150ms\n" }.joined().write(to: file, atomically: true, encoding: .utf8)
        let arguments = ["scenario", file.path, "--host", host.address, "--venue", Binaries.venueConfig, "--json"]
            + (try Binaries.softwarePolicyArguments(in: host.workDirectory))
        let client = try Binaries.path("sealstream-client")
        let result = Box<(status: Int32, stdout: String, stderr: String)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            result.value = try? runCommand(client, arguments)
            done.signal()
        }
        usleep(1_000_000)
        try Self.killWorker(host)
        let after = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        #expect(done.wait(timeout: .now() + 90) == .success)
        let run = try #require(result.value)
        if Self.pin(after) == Self.pin(before) {
            #expect(run.status == 0, "\(run.stderr)")
            let summary = try JSONDecoder().decode(ScenarioSummary.self, from: Data(run.stdout.utf8))
            #expect(summary.recovery.restartsSeen == 1 && summary.recovery.reconnects >= 1, "\(run.stderr)")
            #expect(summary.missingReceipts == 0)
            // A resent price the new worker had already sequenced (journal) is stale.
            #expect(summary.pricesAcked + summary.refusals["stalePrice", default: 0] == steps)
        } else {
            // Another identity is another epoch: a clear stop, not a silent switch.
            #expect(run.status != 0)
            #expect(run.stderr.contains("another identity (another epoch)"), "\(run.stderr)")
            #expect(run.stderr.contains("enclave restarted"), "\(run.stderr)")
        }
        #expect(host.stop() == 0)
    }

    /// The SDK through a worker kill with orders in flight and orders sent while the worker
    /// is down: every one ends in exactly one final answer, those refused or lost are
    /// resent under the new session, and the evidence was fetched again.
    @Test(.timeLimit(.minutes(2))) func aTraderResendsWhatDiedWithTheWorker() throws {
        let host = try HostProcess(label: "reconnect-sdk")
        let key = DemoKeys.signingKey(.trader, "reconnect-31")
        try Self.register(host, account: 31, key: key)
        var lines: [String] = []
        let trader = RecoveringConnection(address: host.address, requirement: nil) { lines.append($0) }
        let before = try trader.connect()
        try trader.openSessions([(31, key)])
        let warm = try trader.await(try trader.submit(try Self.buy("warm"), account: 31))
        guard case .receipt(let r)? = warm?.kind else { throw TestFailure("no receipt before the kill") }
        #expect(r.status == .accepted && warm?.sends == 1)

        var tickets = try (0..<20).map { try trader.submit(try Self.buy("in-flight-\($0)"), account: 31) }
        try Self.killWorker(host)
        tickets += try (0..<5).map { try trader.submit(try Self.buy("while-down-\($0)"), account: 31) }
        let after = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        guard Self.pin(after) == Self.pin(before) else {
            // Those answered before the kill come back; then recovery stops.
            #expect(throws: ClientError.self) { for t in tickets { _ = try trader.await(t) } }
            #expect(lines.contains { $0.contains("another identity") }, "\(lines)")
            #expect(host.stop() == 0)
            return
        }
        try Self.register(host, account: 31, key: key)  // no-op for state once the journal lands
        for t in tickets {
            let answer = try #require(try trader.await(t), "ticket \(t) unanswered")
            guard case .receipt(let receipt) = answer.kind else { throw TestFailure("ticket \(t): \(answer.kind)") }
            #expect([.accepted, .duplicate].contains(receipt.status), "ticket \(t): \(receipt.status)")
        }
        #expect(trader.stats.restartNotices == 1 && trader.stats.reconnects == 1)
        #expect(trader.stats.resends >= 5, "the five sent while the worker was down go again")
        #expect(trader.evidence?.instanceID != before.instanceID, "fresh evidence from the new worker")
        #expect(host.stop() == 0)
    }

    /// Whether this build's host keeps a journal (docs/DURABILITY.md §3): its evidence
    /// names a storage key and `DATA/journal/` exists once it runs.
    static let hostJournals: Bool = {
        guard let host = try? HostProcess(label: "journal-probe"),
              let evidence = try? EvidenceFetch.fetch(over: try Connection(address: host.address))
        else { return false }
        defer { host.stop() }
        var isDirectory: ObjCBool = false
        let journal = host.dataDirectory.appendingPathComponent("journal").path
        return evidence.storageKey != nil && FileManager.default.fileExists(atPath: journal, isDirectory: &isDirectory)
            && isDirectory.boolValue
    }()

    /// The durable check: an order sequenced before the kill, sent again with the same
    /// client order id after it, is answered `duplicate` with the original's global
    /// sequence number, and is not executed twice.
    @Test(.enabled(if: ReconnectTests.hostJournals, "needs the worker's journal (docs/DURABILITY.md)"), .timeLimit(.minutes(2)))
    func aResentOrderIsADuplicateAfterARestart() throws {
        let host = try HostProcess(label: "reconnect-durable")
        let key = DemoKeys.signingKey(.trader, "reconnect-32")
        try Self.register(host, account: 32, key: key)
        let trader = RecoveringConnection(address: host.address, requirement: nil)
        try trader.connect()
        try trader.openSessions([(32, key)])
        let first = try #require(try trader.await(try trader.submit(try Self.buy("durable-1"), account: 32)))
        guard case .receipt(let original) = first.kind else { throw TestFailure("\(first.kind)") }
        #expect(original.status == .accepted)
        try Self.killWorker(host)
        let again = try #require(try trader.await(try trader.submit(try Self.buy("durable-1"), account: 32)))
        guard case .receipt(let duplicate) = again.kind else { throw TestFailure("\(again.kind)") }
        #expect(duplicate.status == .duplicate)
        #expect(duplicate.globalSequence == original.globalSequence && duplicate.enclaveTime == original.enclaveTime)
        #expect(duplicate.clientOrderID == original.clientOrderID && duplicate.detail.isEmpty)
        #expect(trader.stats.reconnects == 1 && trader.stats.duplicates == 1)
        // A new id after the restart is executed: the worker is the same venue, continued.
        let fresh = try #require(try trader.await(try trader.submit(try Self.buy("durable-2"), account: 32)))
        guard case .receipt(let next) = fresh.kind else { throw TestFailure("\(fresh.kind)") }
        #expect(next.status == .accepted && next.globalSequence > original.globalSequence)
        #expect(host.stop() == 0)
    }
}
