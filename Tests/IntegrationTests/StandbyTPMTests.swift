#if canImport(Glibc)
import Glibc
#endif
import Client
import Foundation
import TestSupport
import Testing
import Wire

/// A hot standby in swtpm mode (docs/REPLICATION.md §8.4, §11): each host on its own
/// TPM. The keyless standby enrolls from the primary the lease names (its EK checked
/// against the measured config's roots), follows the journal while the primary closes
/// batches (each bumping the primary's TPM counter), raising its own TPM counter to each
/// followed close record's value, and takes over when the primary is killed: its counter
/// check at the end of the replay passes on its own TPM, and it continues the same chain
/// with the same signer.
@Suite("Standby failover in swtpm mode", .serialized)
struct StandbyTPMTests {
    /// `restart`: the standby, snapshotting as it follows, is stopped and started again
    /// before the primary dies; it starts its worker from its snapshot (docs/REPLICATION.md
    /// §8.1), whose counter value its own TPM must bear out, and still takes over.
    @Test(.timeLimit(.minutes(4)), arguments: [false, true])
    func anEnrolledSwtpmStandbyTakesOverOnItsOwnTPM(restart: Bool) throws {
        let cluster = try TestCluster()
        // Two TPMs and one config for both hosts (its hash is in the evidence), trusting both EK CAs.
        let tpms = try TwoSwtpm(label: "standby-swtpm")
        defer { tpms.stop() }
        let (work, configPath) = (tpms.work, tpms.configPath)
        let journal = ["--journal", cluster.journalArgument]

        let primary = try HostProcess(
            label: "swtpm-primary", venueConfig: configPath,
            extraArguments: journal + TwoSwtpm.arguments(tpms.primaryTPM))
        let evidenceFile = work.appendingPathComponent("evidence.json")
        let oldEvidence = try EvidenceFetch.fetch(over: try Connection(address: primary.address))
        try Data(try oldEvidence.encoded()).write(to: evidenceFile)
        let alice = try Trader(address: primary.address, accountID: 1, name: "alice")
        var receipts = try StandbyFailoverTests.orders(alice, "a", count: 10)
        usleep(500_000)

        // The standby starts with an empty data directory on its own TPM and enrolls.
        let standbyWork = work.appendingPathComponent("standby")
        try FileManager.default.createDirectory(at: standbyWork, withIntermediateDirectories: true)
        let standbyArguments = journal + TwoSwtpm.arguments(tpms.standbyTPM)
            + (restart ? ["--snapshot-every-events", "5"] : [])
        var standby = try HostProcess(
            label: "swtpm-standby", venueConfig: configPath, extraArguments: standbyArguments,
            workDirectory: standbyWork, waitForListen: false)
        let following = Date().addingTimeInterval(60)
        while !standby.log.contains("standby_following"), Date() < following { usleep(20_000) }
        #expect(standby.log.contains("enrolled") && standby.log.contains("standby_following"), "\(standby.log)")
        // Batches close after the enrollment: the primary's counter moves past the grant's.
        let batches = primary.dataDirectory.appendingPathComponent("outputs/batches.jsonl")
        let before = (try? String(contentsOf: batches, encoding: .utf8))?.split(separator: "\n").count ?? 0
        receipts += try StandbyFailoverTests.orders(alice, "b", count: 10)
        let closed = Date().addingTimeInterval(15)
        while ((try? String(contentsOf: batches, encoding: .utf8))?.split(separator: "\n").count ?? 0) < before + 2,
              Date() < closed { usleep(50_000) }
        usleep(500_000)
        if restart {
            #expect(SnapshotRecoveryTests.waitFor(10) { !SnapshotRecoveryTests.snapshots(standby.dataDirectory).isEmpty },
                    "\(standby.log)")
            #expect(standby.stop() == 0)
            standby = try HostProcess(
                label: "swtpm-standby", venueConfig: configPath, extraArguments: standbyArguments,
                workDirectory: standbyWork, waitForListen: false)
            #expect(SnapshotRecoveryTests.waitFor(60) { standby.log.contains("standby_following") }, "\(standby.log)")
            #expect(standby.log.contains("snapshot_recovery_started"), "\(standby.log)")
        }

        kill(primary.pid, SIGKILL)
        #expect(standby.waitForListen(seconds: 30), "\(standby.log)")
        #expect(!standby.log.contains("journalRejected") && !standby.log.contains("rollback"), "\(standby.log)")
        let bob = try Trader(address: standby.address, accountID: 2, name: "bob")
        receipts += try StandbyFailoverTests.orders(bob, "c", count: 10)
        let newEvidence = try EvidenceFetch.fetch(over: try Connection(address: standby.address))
        #expect(newEvidence.signer == oldEvidence.signer && newEvidence.enclaveKey == oldEvidence.enclaveKey)
        #expect(newEvidence.storageKey == "sealed-pcr-23", "the key is sealed to the standby's own TPM")
        usleep(500_000)
        #expect(standby.stop() == 0)
        try StandbyFailoverTests.checkEventLog(standby.dataDirectory, receipts: receipts)
        let verified = try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--data-dir", standby.dataDirectory.path, "--evidence", evidenceFile.path])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let oldChain = try String(contentsOf: batches, encoding: .utf8)
        let newChain = try String(contentsOf: standby.dataDirectory.appendingPathComponent("outputs/batches.jsonl"),
                                  encoding: .utf8)
        #expect(!oldChain.isEmpty && newChain.hasPrefix(oldChain) && newChain.count > oldChain.count)
    }
}
