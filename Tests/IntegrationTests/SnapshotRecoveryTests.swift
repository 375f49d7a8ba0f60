#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal
import TestSupport
import Testing

/// Snapshots end to end with real processes (docs/DURABILITY.md §6): a worker that
/// snapshots every ~1,000 events, killed with SIGKILL, recovers from the newest snapshot
/// and the journal tail; the audit replay from genesis and from every snapshot reproduces
/// the same headers; a tampered snapshot is refused and the host falls back.
@Suite("Snapshots end to end", .serialized)
struct SnapshotRecoveryTests {
    static let venue = Binaries.venueConfig

    static func load(_ host: HostProcess, seconds: Double, policy: [String]? = nil) throws {
        let run = try runCommand(try Binaries.path("sealstream-client"), [
            "load", "--host", host.address, "--rate", "2000", "--duration", String(seconds), "--sessions", "2",
        ] + (try policy ?? Binaries.softwarePolicyArguments(in: host.workDirectory)))
        #expect(run.status == 0, "\(run.stderr)")
    }

    static func snapshots(_ data: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: data.appendingPathComponent("snapshots").path)) ?? [])
            .filter { $0.hasSuffix(".snap") }.sorted()
    }

    static func replay(_ data: URL, from: String) throws -> (status: Int32, stdout: String, stderr: String) {
        try runCommand(try Binaries.path("sealstream-host"), [
            "replay", "--data-dir", data.path, "--config", venue, "--from-snapshot", from])
    }

    /// The first line of `text` that starts with `prefix`.
    static func line(_ text: String, _ prefix: String) -> String? {
        text.split(separator: "\n").map(String.init).first { $0.hasPrefix(prefix) }
    }

    static func events(_ host: HostProcess, _ name: String) -> [[String: String]] {
        host.logEvents.filter { $0["event"] == name && $0["component"] == "host" }
    }

    static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() && Date() < deadline { usleep(50_000) }
        return condition()
    }

    /// Runs a host under load until it holds two snapshots, kills its worker, and checks
    /// the restart recovered from the newest one. Returns the stopped host (its data
    /// directory lives as long as it does).
    static func crashedHost(extraArguments: [String] = [], policy: [String]? = nil) throws -> HostProcess {
        let host = try HostProcess(label: "snapshots", extraArguments: ["--snapshot-every-events", "1000"] + extraArguments)
        try load(host, seconds: 3, policy: policy)
        #expect(waitFor(10) { snapshots(host.dataDirectory).count == 2 }, "\(host.log)")
        let pid = host.enclavePid
        #expect(pid > 0 && kill(pid, SIGKILL) == 0)
        // The first start logs one recovery (an empty journal); the restart the second.
        #expect(waitFor(30) { events(host, "enclave_recovered").count == 2 && host.enclavePid != pid }, "\(host.log)")
        let started = try #require(events(host, "snapshot_recovery_started").first)
        // The newest snapshot stored before the restart began: one the killed worker had
        // forked just before may still arrive and be stored after (its child outlives it).
        let log = host.logEvents.filter { $0["component"] == "host" }
        let restart = try #require(log.firstIndex { $0["event"] == "snapshot_recovery_started" })
        let newest = log[..<restart].last { $0["event"] == "snapshot_stored" }?["file"]
        #expect(newest != nil && started["file"] == newest, "\(snapshots(host.dataDirectory))")
        let recovered = try #require(events(host, "enclave_recovered").last)
        // Only the tail after the snapshot was replayed.
        let record = UInt64(started["record"] ?? "") ?? 0
        let lastRecord = UInt64(recovered["last_record"] ?? "") ?? 0
        #expect(record > 0 && lastRecord >= record, "\(recovered)")
        #expect(UInt64(recovered["records_replayed"] ?? "") == lastRecord &- record)
        try load(host, seconds: 1, policy: policy)
        #expect(host.stop() == 0)
        // The host keeps *at least* the two newest snapshots (DURABILITY §6.6): one stopped
        // between storing a snapshot and removing the oldest leaves three (CI hit it under
        // load). The callers tamper with the two newest and expect genesis after them, so
        // any older one goes, as the host's next store would remove it.
        let all = snapshots(host.dataDirectory)
        #expect(all.count >= 2, "\(all)")
        for old in all.dropLast(2) {
            try FileManager.default.removeItem(at: host.dataDirectory.appendingPathComponent("snapshots/" + old))
        }
        return host
    }

    @Test func aKilledWorkerRecoversFromTheNewestSnapshotAndReplaysAgree() throws {
        let host = try Self.crashedHost()
        let data = host.dataDirectory
        let genesis = try Self.replay(data, from: "genesis")
        #expect(genesis.status == 0, "\(genesis.stderr)")
        let root = Self.line(genesis.stdout, "final state root")
        #expect(root != nil, "\(genesis.stdout)")
        for file in Self.snapshots(data) {
            let n = String(UInt64(file.dropLast(5)) ?? 0)
            let from = try Self.replay(data, from: n)
            #expect(from.status == 0, "\(from.stderr)")
            #expect(Self.line(from.stdout, "final state root") == root, "\(from.stdout)")
            #expect(Self.line(from.stdout, "replay matches") == Self.line(genesis.stdout, "replay matches"))
        }
    }

    /// Rewrites the snapshot file `name` of the data directory `data` in place through `change`.
    static func rewrite(_ data: URL, snapshot name: String, _ change: (inout [UInt8]) -> Void) throws {
        let url = data.appendingPathComponent("snapshots/" + name)
        var bytes = try [UInt8](Data(contentsOf: url))
        change(&bytes)
        try Data(bytes).write(to: url)
    }

    @Test func aTamperedSnapshotIsRefusedAndTheHostFallsBackToTheOlderThenGenesis() throws {
        let first = try Self.crashedHost()
        let data = first.dataDirectory
        let names = Self.snapshots(data)
        try #require(names.count == 2)
        func flip(_ name: String) throws {
            try Self.rewrite(data, snapshot: name) { $0[SnapshotHeader.byteCount + 100] ^= 0x40 }
        }
        // The newest does not open: the next worker gets the older one.
        try flip(names[1])
        let second = try HostProcess(label: "snapshots-tampered", workDirectory: first.workDirectory)
        #expect(Self.waitFor(30) { !Self.events(second, "enclave_recovered").isEmpty }, "\(second.log)")
        let refused = Self.events(second, "snapshot_rejected")
        #expect(refused.count == 1 && refused.first?["file"] == names[1] && refused.first?["reason"] == "doesNotOpen",
                "\(second.log)")
        #expect(Self.events(second, "snapshot_recovery_started").last?["file"] == names[0])
        #expect(second.stop() == 0)
        #expect(second.metric("sealstream_host_snapshots_rejected_total") == 1)
        // Both refused: from genesis, said so in the log.
        try flip(names[0])
        let third = try HostProcess(label: "snapshots-genesis", workDirectory: first.workDirectory)
        #expect(Self.waitFor(40) { !Self.events(third, "enclave_recovered").isEmpty }, "\(third.log)")
        #expect(Self.events(third, "snapshot_rejected").count == 2)
        #expect(!Self.events(third, "snapshot_fallback_genesis").isEmpty)
        #expect(Self.events(third, "journal_replay_started").last?["from_record"] == "1")
        #expect(third.stop() == 0)
        // The audit replay refuses the tampered snapshot loudly, and genesis still agrees.
        let bad = try Self.replay(data, from: String(UInt64(names[1].dropLast(5)) ?? 0))
        #expect(bad.status == 2 && bad.stderr.contains("refused the snapshot"), "\(bad.stderr)")
        #expect(try Self.replay(data, from: "genesis").status == 0)
    }

    /// A `.snap` whose header states a payload above 2^56 (`payloadTooLarge`,
    /// docs/DURABILITY.md §6.3) found at start-up is logged `snapshot_ignored` with that
    /// refusal and passed over, never a stop or a trap (its sealed length would overflow):
    /// the host recovers from the older snapshot, and with both oversized from genesis.
    @Test func anOversizedSnapshotHeaderIsIgnoredAndTheHostFallsBack() throws {
        let first = try Self.crashedHost()
        let data = first.dataDirectory
        let names = Self.snapshots(data)
        try #require(names.count == 2)
        func oversize(_ name: String) throws {
            // The payload length, u64 at offset 94: 2^64 − 1. Name and record stay valid.
            try Self.rewrite(data, snapshot: name) { for i in 94..<102 { $0[i] = 0xff } }
        }
        func ignored(_ host: HostProcess) -> [[String: String]] {
            host.logEvents.filter { $0["event"] == "snapshot_ignored" }
        }
        try oversize(names[1])
        let second = try HostProcess(label: "snapshots-oversized", workDirectory: first.workDirectory)
        #expect(Self.waitFor(30) { !Self.events(second, "enclave_recovered").isEmpty }, "\(second.log)")
        #expect(ignored(second).contains { $0["file"] == names[1] && $0["error"] == "payloadTooLarge(\(UInt64.max))" },
                "\(second.log)")
        #expect(!ignored(second).contains { $0["file"] == names[0] })
        #expect(Self.events(second, "snapshot_recovery_started").last?["file"] == names[0], "\(second.log)")
        #expect(Self.events(second, "snapshot_rejected").isEmpty)
        #expect(second.stop() == 0)
        try oversize(names[0])
        let third = try HostProcess(label: "snapshots-oversized-genesis", workDirectory: first.workDirectory)
        #expect(Self.waitFor(40) { !Self.events(third, "enclave_recovered").isEmpty }, "\(third.log)")
        #expect(Set(ignored(third).compactMap { $0["file"] }) == Set(names), "\(third.log)")
        #expect(Self.events(third, "snapshot_recovery_started").isEmpty)
        #expect(Self.events(third, "journal_replay_started").last?["from_record"] == "1")
        #expect(third.stop() == 0)
        // Left in place (§6.7), untouched.
        #expect(Self.snapshots(data) == names)
    }
}

/// The rollback attack through a snapshot in `software` mode (docs/DURABILITY.md §5,
/// §6.7): an older snapshot with the journal cut back to it. With the published outputs
/// left in place the header check refuses it; with the outputs cut back too nothing
/// refuses it, and the worker signs a second, different header for an index it already
/// signed (what verifiers detect, and the TPM counter prevents in TPM modes).
@Suite("Snapshot rollback in software mode", .serialized)
struct SnapshotRollbackTests {
    /// Cuts the journal of `data` back to its older snapshot's record and removes the newer
    /// snapshot; returns the older snapshot's header.
    static func rollBack(_ data: URL) throws -> SnapshotHeader {
        let names = SnapshotRecoveryTests.snapshots(data)
        try #require(names.count == 2)
        let older = try SnapshotHeader.parse(try [UInt8](Data(contentsOf: data.appendingPathComponent("snapshots/" + names[0]))))
        // Cut the journal back to the older snapshot's record.
        let journalDir = data.appendingPathComponent("journal")
        let segments = try FileManager.default.contentsOfDirectory(atPath: journalDir.path).sorted()
        try #require(segments.count == 1)
        let segment = journalDir.appendingPathComponent(segments[0])
        let bytes = try [UInt8](Data(contentsOf: segment))
        var offset = 0
        for _ in 0..<older.recordSequence {
            offset += Int(bytes[offset + 4]) << 24 | Int(bytes[offset + 5]) << 16 | Int(bytes[offset + 6]) << 8 | Int(bytes[offset + 7])
        }
        try Data(bytes[0..<offset]).write(to: segment)
        try FileManager.default.removeItem(at: data.appendingPathComponent("snapshots/" + names[1]))
        return older
    }

    /// Cuts `outputs/batches.jsonl` back to the first `count` headers; returns the next one.
    static func cutOutputs(_ data: URL, to count: Int) throws -> String {
        let batches = data.appendingPathComponent("outputs/batches.jsonl")
        let lines = try String(contentsOf: batches, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        try (lines[0..<count].joined(separator: "\n") + "\n").write(to: batches, atomically: true, encoding: .utf8)
        return String(lines[count])
    }

    @Test func anOlderSnapshotWithACutJournalIsOnlyCaughtByTheOutputsInSoftwareMode() throws {
        let first = try SnapshotRecoveryTests.crashedHost()
        let data = first.dataDirectory
        let older = try Self.rollBack(data)

        // The outputs still name later batches: refused (reason 3), the host stops.
        do {
            let host = try HostProcess(label: "rollback-outputs", workDirectory: first.workDirectory)
            Issue.record("the host started on a rolled-back journal: \(host.log)")
        } catch let failure as HostStartFailure {
            #expect(failure.status != nil && failure.status != 0)
            #expect(failure.log.contains("differs from the published one"), "\(failure.log)")
        }

        // The outputs cut back to the snapshot too: software mode accepts it.
        let batches = data.appendingPathComponent("outputs/batches.jsonl")
        let original = try Self.cutOutputs(data, to: Int(older.batchIndex))
        let host = try HostProcess(label: "rollback-accepted", workDirectory: first.workDirectory)
        #expect(SnapshotRecoveryTests.waitFor(30) { !SnapshotRecoveryTests.events(host, "enclave_recovered").isEmpty })
        #expect(SnapshotRecoveryTests.events(host, "enclave_recovered").last?["last_record"] == String(older.recordSequence))
        try SnapshotRecoveryTests.load(host, seconds: 1)
        #expect(host.stop() == 0)
        let again = try String(contentsOf: batches, encoding: .utf8).split(separator: "\n")
        try #require(again.count > Int(older.batchIndex))
        let reissued = String(again[Int(older.batchIndex)])
        // Same index, same signer, different header: the equivocation §5 describes.
        func field(_ line: String, _ name: String) -> String? {
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?[name].map { "\($0)" }
        }
        #expect(field(reissued, "batchIndex") == field(original, "batchIndex"))
        #expect(field(reissued, "signer") == field(original, "signer"))
        #expect(field(reissued, "headerHash") != field(original, "headerHash"))
    }
}

/// The same attack in `swtpm` mode: the TPM NV counter refuses it (reason 4), outputs cut
/// back or not (docs/DURABILITY.md §5, §6.7).
@Suite("Snapshot rollback in swtpm mode", .serialized)
struct SnapshotRollbackTPMTests {
    @Test func anOlderSnapshotWithACutJournalAndOutputsIsRefusedByTheCounter() throws {
        let dir = try makeScratchDirectory("snapshot-rollback-tpm")
        defer { try? FileManager.default.removeItem(at: dir) }
        let swtpm = try SwtpmInstance(under: dir)
        defer { swtpm.stop() }
        let tcti = swtpm.tcti
        let roots = swtpm.ekRoots
        let policy = dir.appendingPathComponent("policy.json").path
        let measured = try runCommand(try Binaries.path("attestation"), [
            "measure", "--enclave", try Binaries.path("sealstream-enclave"), "--config", Binaries.venueConfig,
            "--allow-mode", "swtpm", "--swtpm-ek-root", roots, "--policy-out", policy])
        try #require(measured.status == 0, "\(measured.stderr)")

        let tpmArguments = ["--attestation", "swtpm", "--tcti", tcti]
        let first = try SnapshotRecoveryTests.crashedHost(
            extraArguments: tpmArguments, policy: ["--policy", policy, "--allow-simulated"])
        let data = first.dataDirectory
        let older = try SnapshotRollbackTests.rollBack(data)
        _ = try SnapshotRollbackTests.cutOutputs(data, to: Int(older.batchIndex))
        do {
            let host = try HostProcess(label: "rollback-tpm", extraArguments: tpmArguments, workDirectory: first.workDirectory)
            Issue.record("the host started on a rolled-back snapshot and journal: \(host.log)")
        } catch let failure as HostStartFailure {
            #expect(failure.status != nil && failure.status != 0)
            #expect(failure.log.contains("rejected journal record \(older.recordSequence)") && failure.log.contains("rollback"),
                    "\(failure.log)")
        }
    }
}
