#if canImport(Glibc)
import Glibc
#endif
import Client
import Foundation
import SealCrypto
import Testing
import VenueTools

/// Clients that fail over by themselves (docs/PROTOCOL.md §2.14), with real processes.
/// There is no standby here: a second host started on the first one's data directory
/// (same storage key, so the same enclave identity; the journal recovers the state) at
/// another port stands in for the standby that took over.
@Suite("Client failover", .serialized)
struct FailoverTests {
    static let orders = 30

    /// A trader that deposits, posts a mark and sends `orders` orders 100 ms apart.
    static func scenario(in directory: URL) throws -> URL {
        var text = "trader fo account=61\ndeposit fo 1000000\n"
            + "price BTC-PERP 60000 publisher=pyth-a\nprice BTC-PERP 60001 publisher=pyth-b\n"
        for i in 0..<orders { text += "order fo buy BTC-PERP 0.001 @ 59000 id=fo-\(i)\nwait 100ms\n" }
        let file = directory.appendingPathComponent("failover.txt")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Kills the host and its worker with SIGKILL: the machine is gone.
    static func killMachine(_ host: HostProcess) {
        let worker = host.enclavePid
        kill(host.pid, SIGKILL)
        if worker > 0 { kill(worker, SIGKILL) }
        host.process.waitUntilExit()
    }

    /// Waits (up to 60 s) until `receipts` holds `n` order answers: the run is mid-way.
    static func waitForOrders(_ n: Int, in receipts: URL) throws {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let text = (try? String(contentsOf: receipts, encoding: .utf8)) ?? ""
            if text.split(separator: "\n").filter({ $0.contains("\"operation\":\"order\"") }).count >= n { return }
            usleep(20_000)
        }
        throw TestFailure("no \(n) order answers in \(receipts.path)")
    }

    /// Starts `sealstream-client scenario` on a helper thread; returns a wait for its result.
    static func startClient(_ arguments: [String]) throws -> () -> (status: Int32, stdout: String, stderr: String)? {
        let client = try Binaries.path("sealstream-client")
        let result = Box<(status: Int32, stdout: String, stderr: String)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            result.value = try? runCommand(client, arguments)
            done.signal()
        }
        return {
            guard done.wait(timeout: .now() + 120) == .success else { return nil }
            return result.value
        }
    }

    /// The primary dies mid-run; the same enclave identity comes up at the second
    /// address: the client fails over by itself, re-verifies, resends, and every order is
    /// receipted exactly once (checked against the published event log by `chaos-check`).
    @Test(.timeLimit(.minutes(3))) func aClientFailsOverToTheSameEnclaveAtTheNextAddress() throws {
        let first = try HostProcess(label: "failover")
        first.keepsWorkDirectory = true
        defer { try? FileManager.default.removeItem(at: first.workDirectory) }
        let second = "127.0.0.1:\(try freeLoopbackPort())"
        let secondHTTP = "127.0.0.1:\(try freeLoopbackPort())"
        let receipts = first.workDirectory.appendingPathComponent("receipts.jsonl")
        let wait = try Self.startClient([
            "scenario", try Self.scenario(in: first.workDirectory).path, "--host", "\(first.address),\(second)",
            "--venue", Binaries.venueConfig, "--json", "--receipts-out", receipts.path,
            // Proofs at the end from whichever HTTP API answers: the first is gone by then.
            "--verify-inclusion", "\(first.httpAddress),\(secondHTTP)",
        ] + (try Binaries.softwarePolicyArguments(in: first.workDirectory)))
        try Self.waitForOrders(3, in: receipts)  // some orders receipted, more to come
        Self.killMachine(first)
        let next = try HostProcess(label: "failover", workDirectory: first.workDirectory, listen: second, http: secondHTTP)
        next.keepsWorkDirectory = true
        // Preallocated segments (the default, docs/DURABILITY.md §3): the killed host left its
        // active segment partly written, full size with zeros after the last record; the
        // restart reads them as free space: nothing cut, no bytes reported dropped. That
        // every receipted order survived is what the checks below (chaos-check) show.
        let opened = try #require(next.logEvents.first { $0["event"] == "journal_opened" }, "\(next.log)")
        #expect(opened["preallocate"] == "true" && opened["segments"] == "1", "\(opened)")
        #expect(!next.logEvents.contains { $0["event"] == "journal_tail_truncated" }, "\(next.log)")
        let segment = next.dataDirectory.appendingPathComponent("journal/00000000000000000001.seg").path
        let size = (try FileManager.default.attributesOfItem(atPath: segment))[.size] as? Int
        #expect(size == 64 << 20, "the first segment was preallocated at start-up, not appended")
        let run = try #require(wait(), "the client did not finish")
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try JSONDecoder().decode(ScenarioSummary.self, from: Data(run.stdout.utf8))
        #expect(summary.ordersSent == Self.orders && summary.missingReceipts == 0, "\(run.stderr)")
        #expect(summary.accepted + summary.duplicates == Self.orders && summary.rejected.isEmpty, "\(summary.rejected)")
        #expect(summary.inclusionProven == summary.accepted && summary.inclusionFailed == 0,
                "proven \(summary.inclusionProven), failed \(summary.inclusionFailed) of \(summary.accepted)")
        #expect(summary.recovery.failovers >= 1 && summary.recovery.identityRefusals == 0, "\(run.stderr)")
        #expect(run.stderr.contains("at \(second) has the same identity"), "\(run.stderr)")
        // Exactly one answer per order id, each naming its own leaf or an earlier copy's.
        let answers = try String(contentsOf: receipts, encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(AnswerRecord.self, from: Data($0.utf8)) }
        let orderAnswers = answers.filter { $0.operation == "order" }
        #expect(orderAnswers.count == Self.orders, "\(answers.map(\.request))")
        #expect(Set(orderAnswers.map(\.request)).count == Self.orders, "one answer per client order id")
        #expect(orderAnswers.allSatisfy { $0.kind == "receipt" }, "\(orderAnswers.map(\.kind))")
        #expect(next.stop() == 0)
        let check = try runCommand(try Binaries.path("sealstream-client"),
                                   ["chaos-check", "--data-dir", next.dataDirectory.path, receipts.path])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("violations 0"), "\(check.stdout)")
        #expect(try Self.sealedRequestLeaves(next.dataDirectory) == Self.orders, "one leaf per order: none executed twice")
    }

    /// Leaves of message type 3 (sealed requests) in `outputs/events.log` (COMMITMENTS.md §2.1).
    static func sealedRequestLeaves(_ data: URL) throws -> Int {
        let log = [UInt8]((try? Data(contentsOf: data.appendingPathComponent("outputs/events.log"))) ?? Data())
        try #require(log.count % 49 == 0)
        return stride(from: 0, to: log.count, by: 49).filter { log[$0 + 16] == 3 }.count
    }

    /// The SDK with orders in flight when the primary machine dies: every one ends in one
    /// receipt from the new primary at the second address (accepted, or `duplicate` if the
    /// old one had sequenced it), one leaf each; a copy of an order answered before the
    /// crash is `duplicate` with the original's global sequence number.
    @Test(.timeLimit(.minutes(3))) func aPipelinedTraderFailsOverAndNothingExecutesTwice() throws {
        let first = try HostProcess(label: "failover-sdk")
        first.keepsWorkDirectory = true
        defer { try? FileManager.default.removeItem(at: first.workDirectory) }
        let second = "127.0.0.1:\(try freeLoopbackPort())"
        let key = DemoKeys.signingKey(.trader, "failover-33")
        try ReconnectTests.register(first, account: 33, key: key)
        let policy = ReconnectPolicy(initialDelayMillis: 50, maxDelayMillis: 500, maxAttempts: 40)
        let trader = RecoveringConnection(addresses: [first.address, second], requirement: nil, policy: policy)
        let before = try trader.connect()
        try trader.openSessions([(33, key)])
        let original = try #require(try trader.await(try trader.submit(try ReconnectTests.buy("sdk-0"), account: 33)))
        guard case .receipt(let originalReceipt) = original.kind else { throw TestFailure("\(original.kind)") }
        #expect(originalReceipt.status == .accepted)
        let tickets = try (1...20).map { try trader.submit(try ReconnectTests.buy("sdk-\($0)"), account: 33) }
        Self.killMachine(first)
        let next = try HostProcess(label: "failover-sdk", workDirectory: first.workDirectory, listen: second)
        next.keepsWorkDirectory = true
        var sequences: Set<UInt64> = [originalReceipt.globalSequence]
        for t in tickets {
            let answer = try #require(try trader.await(t), "ticket \(t) unanswered")
            guard case .receipt(let r) = answer.kind else { throw TestFailure("ticket \(t): \(answer.kind)") }
            #expect([.accepted, .duplicate].contains(r.status), "ticket \(t): \(r.status)")
            sequences.insert(r.globalSequence)
        }
        #expect(sequences.count == 21, "each order names its own event")
        let copy = try #require(try trader.await(try trader.submit(try ReconnectTests.buy("sdk-0"), account: 33)))
        guard case .receipt(let again) = copy.kind else { throw TestFailure("\(copy.kind)") }
        #expect(again.status == .duplicate && again.globalSequence == originalReceipt.globalSequence)
        #expect(trader.address == second && trader.stats.failovers == 1 && trader.stats.identityRefusals == 0)
        #expect(trader.evidence?.instanceID != before.instanceID, "fresh evidence from the new primary")
        #expect(next.stop() == 0)
        #expect(try Self.sealedRequestLeaves(next.dataDirectory) == 21, "one leaf per order: none executed twice")
    }

    /// A host whose enclave is another identity (another data directory, so another
    /// storage key and signer) at the second address is refused: the client says so,
    /// sends it nothing, and stops once its attempts run out.
    @Test(.timeLimit(.minutes(3))) func aHostWithAnotherIdentityIsRefused() throws {
        let first = try HostProcess(label: "failover-a")
        let other = try HostProcess(label: "failover-b")
        let receipts = first.workDirectory.appendingPathComponent("receipts.jsonl")
        let wait = try Self.startClient([
            "scenario", try Self.scenario(in: first.workDirectory).path, "--host", "\(first.address),\(other.address)",
            "--venue", Binaries.venueConfig, "--json", "--receipts-out", receipts.path,
        ] + (try Binaries.softwarePolicyArguments(in: first.workDirectory)))
        try Self.waitForOrders(3, in: receipts)  // the first host took orders
        Self.killMachine(first)
        let run = try #require(wait(), "the client did not finish")
        #expect(run.status != 0)
        #expect(run.stderr.contains("refused the host at \(other.address): its enclave is another identity"), "\(run.stderr)")
        #expect(run.stderr.contains("signer, enclaveKey"), "\(run.stderr)")
        #expect(!run.stderr.contains("recovered:"), "\(run.stderr)")
        #expect(other.stop() == 0)
        // Nothing reached the other enclave: no deposit, price, session or order.
        let log = other.dataDirectory.appendingPathComponent("outputs/events.log")
        let leaves = (try? Data(contentsOf: log))?.count ?? 0
        #expect(leaves == 0, "the other enclave sequenced \(leaves / 49) events")
    }
}
