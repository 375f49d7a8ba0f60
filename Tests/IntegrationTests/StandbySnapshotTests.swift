#if canImport(Glibc)
import Glibc
#endif
import Client
import Foundation
import TestSupport
import Testing

/// Bounded standby start-up (docs/REPLICATION.md §4 step 3, §8.1), with real processes on a
/// real three-node JetStream cluster: a following worker takes sealed snapshots as a live
/// one does; a standby restarted after more orders keeps its verified local prefix (it
/// reads a few stream messages, not all), starts its worker from its newest snapshot plus
/// the tail, and still takes over with one chain that `verify-outputs` accepts and a replay
/// from genesis reproduces.
@Suite("Standby snapshots", .serialized)
struct StandbySnapshotTests {
    static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        SnapshotRecoveryTests.waitFor(seconds, condition)
    }

    static func number(_ event: [String: String]?, _ field: String) -> UInt64 {
        UInt64(event?[field] ?? "") ?? 0
    }

    @Test(.timeLimit(.minutes(5))) func aRestartedStandbyStartsFromItsSnapshotAndStillTakesOver() throws {
        let cluster = try TestCluster()
        let args = ["--journal", cluster.journalArgument, "--snapshot-every-events", "1000"]
        let primary = try HostProcess(label: "primary", extraArguments: args)
        let work = try makeScratchDirectory("standby")
        defer { try? FileManager.default.removeItem(at: work) }
        let evidenceFile = work.appendingPathComponent("evidence.json")
        try Data(try EvidenceFetch.fetch(over: try Connection(address: primary.address)).encoded()).write(to: evidenceFile)
        let standby = try HostProcess(label: "standby", extraArguments: args, workDirectory: work, waitForListen: false)
        #expect(Self.waitFor(30) { standby.log.contains("standby_following") }, "\(standby.log)")

        // The standby's worker snapshots as it follows (every ~1,000 events, at a close).
        try SnapshotRecoveryTests.load(primary, seconds: 3)
        #expect(Self.waitFor(20) { !SnapshotRecoveryTests.snapshots(standby.dataDirectory).isEmpty }, "\(standby.log)")
        #expect(standby.log.contains("snapshot_written"), "\(standby.log)")
        #expect(standby.stop() == 0)
        let kept = SnapshotRecoveryTests.snapshots(standby.dataDirectory)
        try SnapshotRecoveryTests.load(primary, seconds: 1)

        // Restarted: the verified local prefix is kept, the worker starts from a snapshot.
        let restarted = try HostProcess(label: "standby", extraArguments: args, workDirectory: work, waitForListen: false)
        #expect(Self.waitFor(30) { restarted.log.contains("standby_following") }, "\(restarted.log)")
        let opened = SnapshotRecoveryTests.events(restarted, "journal_opened").first
        let prefix = SnapshotRecoveryTests.events(restarted, "journal_prefix_kept").first
        #expect(prefix != nil, "\(restarted.log)")
        #expect(Self.number(prefix, "kept_records") > 0)
        let messages = Self.number(opened, "messages")
        #expect(messages > 0 && Self.number(opened, "messages_read") < messages, "\(String(describing: opened))")
        let started = SnapshotRecoveryTests.events(restarted, "snapshot_recovery_started").first
        #expect(started != nil && kept.contains(started?["file"] ?? ""), "\(restarted.log)")
        let snapshotRecord = Self.number(started, "record")
        #expect(snapshotRecord > 0)

        // It takes over from the killed primary: the replay it made is the tail only.
        kill(primary.pid, SIGKILL)
        #expect(restarted.waitForListen(seconds: 20), "\(restarted.log)")
        let recovered = SnapshotRecoveryTests.events(restarted, "enclave_recovered").last
        let lastRecord = Self.number(recovered, "last_record")
        #expect(lastRecord > snapshotRecord, "\(String(describing: recovered))")
        #expect(Self.number(recovered, "records_replayed") == lastRecord - snapshotRecord, "\(String(describing: recovered))")
        let bob = try Trader(address: restarted.address, accountID: 2, name: "bob")
        let receipts = try StandbyFailoverTests.orders(bob, "b", count: 20)
        #expect(restarted.stop() == 0)
        try StandbyFailoverTests.checkEventLog(restarted.dataDirectory, receipts: receipts)
        try StandbyFailoverTests.checkChain(old: primary, new: restarted, evidence: evidenceFile)
    }
}
