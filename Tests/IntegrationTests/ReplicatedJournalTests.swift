import Foundation
import TestSupport
import Testing

/// The replicated journal end to end (docs/REPLICATION.md): `scripts/chaos.sh` with the
/// host on `--journal nats://…` of a three-node cluster this test starts. Kills of the
/// worker and the host (`kill -9`); before every host restart the local segment files are
/// deleted, so each restart rebuilds the journal from the stream and the worker recovers
/// from it. Then every recorded receipt against the published log, one chain that
/// `attestation verify-outputs` accepts, and a replay from genesis.
@Suite("Replicated journal", .serialized)
struct ReplicatedJournalTests {
    @Test(.timeLimit(.minutes(4))) func killsWithTheJournalOnJetStreamLoseNothing() throws {
        let cluster = try TestCluster()
        let work = try makeScratchDirectory("chaos-nats")
        defer { try? FileManager.default.removeItem(at: work) }
        // A seed whose third round kills the host (with the worker): a restart from the stream.
        let seed: UInt32 = 12345
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Binaries.packageRoot.appendingPathComponent("scripts/chaos.sh").path, "4", work.path]
        var environment = ProcessInfo.processInfo.environment
        environment["SEALSTREAM_BIN_DIR"] = Binaries.directory.path
        environment["SEED"] = String(seed)
        environment["TRADERS"] = "3"
        environment["STEPS"] = "80"
        environment["LOAD_RATE"] = "100"
        environment["DRILL_TRADERS"] = "0"
        environment["JOURNAL"] = cluster.journalArgument
        environment["WIPE_LOCAL_JOURNAL"] = "1"
        process.environment = environment
        let output = work.appendingPathComponent("chaos.out")
        try launch(process, loggingTo: output)
        process.waitUntilExit()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: work.path))?.filter { $0.hasPrefix("host-") }
            .compactMap { try? String(contentsOf: work.appendingPathComponent($0), encoding: .utf8) } ?? []
        #expect(process.terminationStatus == 0, "seed \(seed):\n\(text)")
        #expect(text.components(separatedBy: ": kill -9 ").count - 1 == 4, "\(text)")
        #expect(text.contains("all checks passed"), "\(text)")
        #expect(text.contains("replay matches"), "\(text)")
        #expect(text.contains(" s: PASS"), "\(text)")
        // Every host start read the venue's stream, and none was fenced.
        #expect(logs.count >= 1 && logs.allSatisfy { $0.contains("\"stream\":\"SEALSTREAM_JOURNAL_") }, "\(logs)")
        #expect(!logs.contains { $0.contains("journal_fenced") })
        // The host restarted after a host kill rebuilt its removed segments from the stream.
        #expect(text.contains("removing"), "\(text)")
        #expect(logs.contains { $0.contains("journal_opened") && !$0.contains("\"records\":\"0\"") }, "\(logs)")
    }
}
