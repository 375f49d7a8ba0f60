#if canImport(Glibc)
import Glibc
#endif
import Client
import Commitments
import Foundation
import SealCrypto
import TestSupport
import Testing
import Wire

/// The hot standby and the leadership lease (docs/REPLICATION.md §7-8), with real
/// processes on a real three-node JetStream cluster: a primary and a standby host, each
/// with its own worker; the primary is killed (`kill -9`) or paused past its lease
/// (SIGSTOP, the partition), the standby takes over and continues the same chain with the
/// same signer, and nothing receipted is lost or executed twice.
///
/// The standby starts with an empty data directory: it enrolls from the primary the lease
/// names (docs/REPLICATION.md §9, §11), so its worker holds the primary's storage key
/// without any host having seen it.
@Suite("Standby failover", .serialized)
struct StandbyFailoverTests {
    /// Starts a primary, then a standby on an empty data directory, which enrolls from the
    /// primary by itself. `standbyArguments`: more arguments for the standby only.
    static func pair(_ cluster: TestCluster, standbyArguments: [String] = [])
        throws -> (primary: HostProcess, standby: HostProcess, standbyWork: URL)
    {
        let args = ["--journal", cluster.journalArgument]
        let primary = try HostProcess(label: "primary", extraArguments: args)
        #expect((try primary.hostInfo())["role"] as? String == "primary")
        let work = try makeScratchDirectory("standby")
        let standby = try HostProcess(label: "standby", extraArguments: args + standbyArguments, workDirectory: work,
                                      waitForListen: false)
        #expect((try standby.hostInfo())["role"] as? String == "standby")
        #expect((try standby.hostInfo())["listen"] == nil)
        #expect(standby.log.contains("enrolled"), "\(standby.log)")
        #expect(primary.log.contains("key_enrollment_granted"), "\(primary.log)")
        // The worker was fed the local copy and follows the stream.
        let deadline = Date().addingTimeInterval(30)
        while !standby.log.contains("standby_following"), Date() < deadline { usleep(20_000) }
        #expect(standby.log.contains("standby_following"), "\(standby.log)")
        return (primary, standby, work)
    }

    /// Orders from `trader` with ids `prefix0…`; the accepted receipts' global sequences and
    /// the SHA-256 of each frame body sent.
    static func orders(_ trader: Trader, _ prefix: String, count: Int) throws -> [(sequence: UInt64, bodyHash: [UInt8])] {
        try (0..<count).map { i in
            let (body, receipt) = try trader.sealedOrder("\(prefix)\(i)")
            #expect(receipt.status == .accepted)
            return (receipt.globalSequence, SHA256.hash(body))
        }
    }

    /// Every receipted order is in the event log at its sequence with its body hash, once;
    /// the log's sequences run 1, 2, 3, … without a gap or a repeat.
    static func checkEventLog(_ data: URL, receipts: [(sequence: UInt64, bodyHash: [UInt8])]) throws {
        let log = try [UInt8](Data(contentsOf: data.appendingPathComponent("outputs/events.log")))
        var leaves: [EventLeaf] = []
        var at = 0
        while at + EventLeaf.byteCount <= log.count {
            leaves.append(try #require(EventLeaf(Array(log[at..<(at + EventLeaf.byteCount)]))))
            at += EventLeaf.byteCount
        }
        #expect(at == log.count)
        #expect(leaves.enumerated().allSatisfy { $0.element.globalSequence == UInt64($0.offset + 1) }, "a gap or a repeat")
        for r in receipts {
            let leaf = try #require(leaves.first { $0.globalSequence == r.sequence }, "receipted order \(r.sequence) lost")
            #expect(leaf.bodyHash.bytes == r.bodyHash)
            #expect(leaves.filter { $0.bodyHash.bytes == r.bodyHash }.count == 1, "order \(r.sequence) executed twice")
        }
    }

    /// The outputs one chain accepted by `attestation verify-outputs` against the first
    /// primary's evidence (the same signer), the earlier host's headers a prefix of the
    /// later's, and a replay of the stream's records from genesis reproducing every header.
    static func checkChain(old: HostProcess, new: HostProcess, evidence: URL) throws {
        let verified = try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--data-dir", new.dataDirectory.path, "--evidence", evidence.path])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let oldBatches = try String(contentsOf: old.dataDirectory.appendingPathComponent("outputs/batches.jsonl"), encoding: .utf8)
        let newBatches = try String(contentsOf: new.dataDirectory.appendingPathComponent("outputs/batches.jsonl"), encoding: .utf8)
        #expect(!oldBatches.isEmpty && newBatches.hasPrefix(oldBatches), "the old primary's headers are not a prefix")
        #expect(newBatches.count > oldBatches.count, "the new primary published nothing")
        let replay = try runCommand(try Binaries.path("sealstream-host"), [
            "replay", "--data-dir", new.dataDirectory.path, "--config", Binaries.venueConfig,
            "--enclave", try Binaries.path("sealstream-enclave")])
        #expect(replay.status == 0, "\(replay.stdout)\(replay.stderr)")
        let last = try #require(newBatches.split(separator: "\n").last)
        let root = try JSONDecoder().decode(BatchRecord.self, from: Data(last.utf8)).stateRoot
        #expect(replay.stdout.contains("final state root: \(root)"), "replay state root differs: \(replay.stdout)")
    }

    @Test(.timeLimit(.minutes(4))) func theStandbyTakesOverFromAKilledPrimary() throws {
        let cluster = try TestCluster()
        let (primary, standby, work) = try Self.pair(cluster)
        defer { try? FileManager.default.removeItem(at: work) }
        let evidenceFile = work.appendingPathComponent("evidence.json")
        let oldEvidence = try EvidenceFetch.fetch(over: try Connection(address: primary.address))
        try Data(try oldEvidence.encoded()).write(to: evidenceFile)
        let alice = try Trader(address: primary.address, accountID: 1, name: "alice")
        var receipts = try Self.orders(alice, "a", count: 40)
        usleep(300_000)

        kill(primary.pid, SIGKILL)
        let killed = Date()
        #expect(standby.waitForListen(seconds: 20), "\(standby.log)")
        let bob = try Trader(address: standby.address, accountID: 2, name: "bob")
        receipts += try Self.orders(bob, "b", count: 1)
        print("failover: primary killed → first receipt from the new primary \(Int(Date().timeIntervalSince(killed) * 1000)) ms")
        receipts += try Self.orders(bob, "b1-", count: 30)
        #expect((try standby.hostInfo())["role"] as? String == "primary")
        #expect(standby.log.contains("\"takeover\""), "\(standby.log)")
        #expect(standby.metric("sealstream_host_takeovers_total") ?? 1 == 1)
        // The new primary's evidence names the same identity: the same signer continues.
        let newEvidence = try EvidenceFetch.fetch(over: try Connection(address: standby.address))
        #expect(newEvidence.signer == oldEvidence.signer && newEvidence.enclaveKey == oldEvidence.enclaveKey)
        #expect(newEvidence.instanceID != oldEvidence.instanceID)
        // The killed host comes back on its own data directory as a standby, follows, and
        // takes over at once when the new primary stops gracefully (it deletes the lease).
        let rejoined = try HostProcess(label: "rejoined", extraArguments: ["--journal", cluster.journalArgument],
                                       workDirectory: primary.workDirectory, waitForListen: false)
        let deadline = Date().addingTimeInterval(30)
        while !rejoined.log.contains("standby_following"), Date() < deadline { usleep(20_000) }
        #expect((try rejoined.hostInfo())["role"] as? String == "standby", "\(rejoined.log)")
        receipts += try Self.orders(bob, "b2-", count: 10)
        #expect(standby.stop() == 0)
        #expect(standby.log.contains("lease_released"), "\(standby.log)")
        #expect(rejoined.waitForListen(seconds: 20), "\(rejoined.log)")
        let carol = try Trader(address: rejoined.address, accountID: 3, name: "carol")
        receipts += try Self.orders(carol, "c", count: 10)
        print("rejoined host took over; \(receipts.count) receipts")
        #expect(rejoined.stop() == 0)
        try Self.checkEventLog(rejoined.dataDirectory, receipts: receipts)
        try Self.checkEventLog(standby.dataDirectory, receipts: Array(receipts.dropLast(10)))
        try Self.checkChain(old: standby, new: rejoined, evidence: evidenceFile)
    }

    @Test(.timeLimit(.minutes(4))) func aPrimaryPausedPastItsLeaseCannotPublishAndStepsDown() throws {
        let cluster = try TestCluster()
        let (primary, standby, work) = try Self.pair(cluster)
        defer { try? FileManager.default.removeItem(at: work) }
        let evidenceFile = work.appendingPathComponent("evidence.json")
        try Data(try EvidenceFetch.fetch(over: try Connection(address: primary.address)).encoded()).write(to: evidenceFile)
        let alice = try Trader(address: primary.address, accountID: 1, name: "alice")
        var receipts = try Self.orders(alice, "a", count: 20)

        // The partition: the primary host stops (its worker runs on and may close a batch,
        // whose record waits in the pipe) long enough for its lease to pass.
        kill(primary.pid, SIGSTOP)
        // An order the paused host will read when it resumes: it must never be receipted.
        let late = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("late"), market: 1, side: .buy,
                                                  price: 60_000_000_000, quantity: 10_000_000))
        let (_, lateFrame) = try alice.session.seal(late)
        try alice.connection.send(lateFrame)
        #expect(standby.waitForListen(seconds: 20), "\(standby.log)")
        let bob = try Trader(address: standby.address, accountID: 2, name: "bob")
        receipts += try Self.orders(bob, "b", count: 10)
        let before = try String(contentsOf: primary.dataDirectory.appendingPathComponent("outputs/batches.jsonl"), encoding: .utf8)

        // The partition heals: the old primary must not publish, and steps down.
        kill(primary.pid, SIGCONT)
        let deadline = Date().addingTimeInterval(20)
        while primary.process.isRunning, Date() < deadline { usleep(20_000) }
        #expect(!primary.process.isRunning, "the old primary did not step down")
        #expect(primary.process.terminationStatus != 0)
        #expect(primary.log.contains("stepped_down"), "\(primary.log)")
        #expect(primary.log.contains("lease_lost") || primary.log.contains("the lease ran out"), "\(primary.log)")
        // The late order got no receipt: a refusal, or the connection closed.
        var answers: [MessageType] = []
        while let frame = try? alice.connection.receive(timeoutMillis: 2_000) { answers.append(frame.type) }
        #expect(!answers.contains(.sealedReceipt), "\(answers)")
        #expect(!standby.log.contains("journal_fenced"))
        let after = try String(contentsOf: primary.dataDirectory.appendingPathComponent("outputs/batches.jsonl"), encoding: .utf8)
        #expect(after == before, "the old primary published a batch after the partition healed")
        // A second standby joins and is stopped with SIGTERM: it exits 0 at once, taking
        // nothing with it (the primary keeps serving).
        let work2 = try makeScratchDirectory("standby2")
        defer { try? FileManager.default.removeItem(at: work2) }
        let data2 = work2.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data2, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.copyItem(at: standby.dataDirectory.appendingPathComponent("enclave-storage.key"),
                                         to: data2.appendingPathComponent("enclave-storage.key"))
        let second = try HostProcess(label: "standby2", extraArguments: ["--journal", cluster.journalArgument],
                                     workDirectory: work2, waitForListen: false)
        let joined = Date().addingTimeInterval(30)
        while !second.log.contains("standby_following"), Date() < joined { usleep(20_000) }
        #expect((try second.hostInfo())["role"] as? String == "standby")
        #expect(second.stop() == 0, "\(second.log)")
        // The new primary was never fenced: nothing was appended behind it.
        receipts += try Self.orders(bob, "c", count: 10)
        #expect(!standby.log.contains("journal_fenced"))
        #expect(standby.stop() == 0)
        try Self.checkEventLog(standby.dataDirectory, receipts: receipts)
        let log = try [UInt8](Data(contentsOf: standby.dataDirectory.appendingPathComponent("outputs/events.log")))
        let lateHash = SHA256.hash(Array(lateFrame[6...]))
        #expect(stride(from: 0, to: log.count, by: EventLeaf.byteCount).allSatisfy {
            EventLeaf(Array(log[$0..<($0 + EventLeaf.byteCount)]))?.bodyHash.bytes != lateHash
        }, "the paused primary's late order reached the journal")
        try Self.checkChain(old: primary, new: standby, evidence: evidenceFile)
    }
}
