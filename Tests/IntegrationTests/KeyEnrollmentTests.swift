#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Client
import Foundation
import Host
import TestSupport
import Testing
import Wire

/// Key enrollment with real processes (docs/REPLICATION.md §11): a primary host and its
/// worker, and a standby enrolled through `sealstream-host enroll` or
/// `StandbyEnrollment.enroll`, in `software` and `swtpm` modes.
@Suite("Key enrollment", .serialized)
struct KeyEnrollmentTests {
    /// Runs `sealstream-host enroll` into `data`.
    static func enrollCommand(data: URL, config: String, from address: String, extra: [String] = [])
        throws -> (status: Int32, stdout: String, stderr: String)
    {
        try runTool(
            try Binaries.path("sealstream-host"),
            ["enroll", "--data-dir", data.path, "--config", config, "--from", address] + extra,
            environment: ["TSS2_LOG": "all+none"]
        ).asTuple
    }

    /// Waits until the primary's metrics file shows `result` counted `n` times.
    static func waitForCount(_ host: HostProcess, _ result: String, _ n: Double) -> Double? {
        let name = "sealstream_host_key_enrollments_total{result=\"\(result)\"}"
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let v = host.metric(name), v >= n { return v }
            usleep(100_000)
        }
        return host.metric(name)
    }

    static func evidence(_ data: URL) throws -> Evidence {
        try Evidence.parse(try Array(Data(contentsOf: data.appendingPathComponent("enclave.json"))))
    }

    /// Software mode: the standby gets the primary's key and, started on a copy of the
    /// primary's journal, the primary's identity; the relaying host never sees the key;
    /// the enrollment is logged and counted; a replayed request is refused; without the
    /// journal up to the enrolled head the standby refuses to start.
    @Test func softwareStandbyGetsThePrimarysIdentity() throws {
        let primary = try HostProcess(label: "enroll-primary")
        // Some journal records before the enrollment: the grant carries a head > 0.
        let connection = try Connection(address: primary.address)
        try Trader.publishPrice(over: connection, market: 1, price: 60_000_000_000)

        let standbyWork = try makeScratchDirectory("enroll-standby")
        defer { try? FileManager.default.removeItem(at: standbyWork) }
        let data = standbyWork.appendingPathComponent("data")
        let request = StandbyEnrollment.Request(
            dataDirectory: data.path, venueConfigPath: Binaries.venueConfig, attestation: .software,
            enclavePath: try Binaries.path("sealstream-enclave"), primary: primary.address)
        let seen = Box<[[UInt8]]>([])
        let enrolled = try StandbyEnrollment.enroll(request, tap: .init(
            sawRequest: { frame in seen.mutate { $0.append(frame) } },
            alterGrant: { grant in seen.mutate { $0.append(grant) }; return grant }))

        let primaryEvidence = try Self.evidence(primary.dataDirectory)
        #expect(enrolled.signer == primaryEvidence.signerBytes)
        #expect(enrolled.enclaveKey == primaryEvidence.enclaveKeyBytes)
        #expect(Self.waitForCount(primary, "granted", 1) == 1)
        #expect(primary.logEvents.contains { $0["event"] == "key_enrollment_granted" })
        #expect(primary.logEvents.contains { $0["event"] == "key_enrollment_software_mode" })

        // The key (software mode keeps it in a 0600 file on each side) is in no frame the
        // host relayed, no log line and no other file.
        let primaryFile = try JSONSerialization.jsonObject(
            with: Data(contentsOf: primary.dataDirectory.appendingPathComponent("enclave-storage.key"))) as? [String: Any]
        let keyHex = try #require(primaryFile?["key"] as? String)
        let key = try #require(Hex.decode(keyHex))
        let standbyFile = try JSONSerialization.jsonObject(
            with: Data(contentsOf: data.appendingPathComponent("enclave-storage.key"))) as? [String: Any]
        #expect(standbyFile?["key"] as? String == keyHex)
        let head = try #require(standbyFile?["enrolledRecordSequence"] as? Int)
        #expect(head >= 3, "the three prices were journaled before the grant")
        let relayed = seen.value
        #expect(relayed.count == 2)
        let grant = try #require(relayed.last)
        #expect(grant.count == 1 + 8 + 8 + 24 + 48 + 2 + 2, "software mode: no credential")
        for frame in relayed {
            #expect(!occurs(key, in: frame) && !occurs(Array(keyHex.utf8), in: frame))
        }
        #expect(!primary.log.contains(keyHex))
        for file in filesUnder(primary.dataDirectory) + filesUnder(data)
        where file.lastPathComponent != "enclave-storage.key" {
            let bytes = try Array(Data(contentsOf: file))
            #expect(!occurs(key, in: bytes) && !occurs(Array(keyHex.utf8), in: bytes), "\(file.path)")
        }

        // The same request again: its challenge was used; refused, logged and counted.
        let replay = try Connection(address: primary.address)
        try replay.send(try #require(relayed.first))
        let answer = try replay.receive(timeoutMillis: 10_000)
        #expect(answer.type == .refusal)
        let refusal = try answer.body.withUnsafeBytes { try Refusal.decode(body: $0) }
        #expect(refusal.reason == .enrollmentRefused)
        #expect(refusal.reference == UInt64(EnrollmentRefusal.unknownChallenge.rawValue))
        #expect(Self.waitForCount(primary, "unknownChallenge", 1) == 1)
        #expect(primary.logEvents.contains { $0["event"] == "key_enrollment_refused" && $0["reason"] == "unknownChallenge" })

        // Without the primary's journal the standby refuses to go live: its key was
        // enrolled at a later head (docs/REPLICATION.md §11.7).
        let empty = try? HostProcess(label: "enroll-standby-empty", workDirectory: standbyWork)
        #expect(empty == nil, "a standby with an empty journal must not start")
        empty?.stop()

        // With a copy of the primary's journal it recovers and has the primary's identity.
        #expect(primary.stop() == 0)
        for dir in ["journal", "outputs"] {
            try? FileManager.default.removeItem(at: data.appendingPathComponent(dir))
            try FileManager.default.copyItem(
                at: primary.dataDirectory.appendingPathComponent(dir), to: data.appendingPathComponent(dir))
        }
        let standby = try HostProcess(label: "enroll-standby", workDirectory: standbyWork)
        let standbyEvidence = try Self.evidence(data)
        #expect(standbyEvidence.signer == primaryEvidence.signer)
        #expect(standbyEvidence.enclaveKey == primaryEvidence.enclaveKey)
        #expect(standbyEvidence.instanceID != primaryEvidence.instanceID)
        #expect(standby.stop() == 0)
    }

    /// A standby whose enclave is another build (the same binary with bytes appended:
    /// another measurement) gets no keys; the primary logs and counts the refusal.
    @Test func anotherBuildGetsNoKeys() throws {
        let primary = try HostProcess(label: "enroll-other-build")
        let work = try makeScratchDirectory("enroll-other")
        defer { try? FileManager.default.removeItem(at: work) }
        let other = work.appendingPathComponent("sealstream-enclave")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: try Binaries.path("sealstream-enclave")))
        bytes.append(contentsOf: Array("another build".utf8))
        try bytes.write(to: other)
        chmod(other.path, 0o755)
        let data = work.appendingPathComponent("data")
        let r = try Self.enrollCommand(
            data: data, config: Binaries.venueConfig, from: primary.address, extra: ["--enclave", other.path])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("measurementMismatch"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("enclave-storage.key").path))
        #expect(Self.waitForCount(primary, "measurementMismatch", 1) == 1)
        #expect(Self.waitForCount(primary, "granted", 0) == 0)
        #expect(primary.logEvents.contains { $0["event"] == "key_enrollment_refused" && $0["reason"] == "measurementMismatch" })
        #expect(primary.stop() == 0)
    }

    /// A grant changed on the way (one bit of the wrapped key, or the head it binds) is
    /// refused by the standby enclave, which writes no key.
    @Test(arguments: [41, 1]) func tamperedGrantIsRefused(offset: Int) throws {
        let primary = try HostProcess(label: "enroll-tamper")
        let work = try makeScratchDirectory("enroll-tamper")
        defer { try? FileManager.default.removeItem(at: work) }
        let data = work.appendingPathComponent("data")
        let request = StandbyEnrollment.Request(
            dataDirectory: data.path, venueConfigPath: Binaries.venueConfig, attestation: .software,
            enclavePath: try Binaries.path("sealstream-enclave"), primary: primary.address)
        #expect(throws: StandbyEnrollment.Failure.refusedByStandby(.unwrapFailed, detail: "")) {
            try StandbyEnrollment.enroll(request, tap: .init(alterGrant: { grant in
                var g = grant
                g[offset] ^= 0x01
                return g
            }))
        }
        #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("enclave-storage.key").path))
        #expect(primary.stop() == 0)
    }

    /// swtpm mode: the primary checks the standby's EK certificate against the measured
    /// config's roots and makes a credential only the standby's TPM can activate; the
    /// standby seals the key to its own TPM and, restarted, has the primary's identity.
    @Test func swtpmStandbyGetsThePrimarysIdentity() throws {
        // Two TPMs and one config for both (its hash is compared) trusting both EK CAs.
        let tpms = try TwoSwtpm(label: "enroll-swtpm")
        defer { tpms.stop() }
        let (work, configPath) = (tpms.work, tpms.configPath)

        let primary = try HostProcess(
            label: "enroll-swtpm-primary", venueConfig: configPath,
            extraArguments: TwoSwtpm.arguments(tpms.primaryTPM))
        // A batch closed before the enrollment: the primary's counter (relative) is ≥ 1, so
        // the standby's counter must continue from it (the offset, docs/REPLICATION.md §11.7).
        try Trader.publishPrice(over: try Connection(address: primary.address), market: 1, price: 60_000_000_000)
        let batches = primary.dataDirectory.appendingPathComponent("outputs/batches.jsonl")
        let closeDeadline = Date().addingTimeInterval(15)
        while ((try? Data(contentsOf: batches))?.isEmpty ?? true) && Date() < closeDeadline { usleep(50_000) }
        usleep(300_000)
        // A TPM whose EK CA the measured config does not trust gets no keys.
        let strangerTPM = try SwtpmInstance(under: work.appendingPathComponent("x"))
        defer { strangerTPM.stop() }
        let strangerData = work.appendingPathComponent("stranger/data")
        let refused = try Self.enrollCommand(
            data: strangerData, config: configPath, from: primary.address,
            extra: TwoSwtpm.arguments(strangerTPM))
        #expect(refused.status == 1 && refused.stderr.contains("ekUntrusted"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: strangerData.appendingPathComponent("enclave-storage.key").path))
        #expect(Self.waitForCount(primary, "ekUntrusted", 1) == 1)

        let standbyWork = work.appendingPathComponent("standby")
        let data = standbyWork.appendingPathComponent("data")
        let r = try Self.enrollCommand(
            data: data, config: configPath, from: primary.address,
            extra: TwoSwtpm.arguments(tpms.standbyTPM))
        #expect(r.status == 0, "\(r.stderr)")
        let primaryEvidence = try Self.evidence(primary.dataDirectory)
        #expect(r.stdout.contains(primaryEvidence.signer))
        #expect(Self.waitForCount(primary, "granted", 1) == 1)
        let file = try JSONSerialization.jsonObject(
            with: Data(contentsOf: data.appendingPathComponent("enclave-storage.key"))) as? [String: Any]
        #expect(file?["key"] == nil, "sealed: the file holds no key")
        #expect(file?["sealedPrivate"] is String && file?["counterBaseTag"] is String)
        #expect((file?["counterOffset"] as? Int ?? 0) >= 1, "the primary's counter at the enrolled head")
        // The standby has followed the journal up to the head (here: a copy, taken while the
        // primary is idle); its own TPM counter, offset, matches the journal's last close.
        for dir in ["journal", "outputs"] {
            try FileManager.default.copyItem(
                at: primary.dataDirectory.appendingPathComponent(dir), to: data.appendingPathComponent(dir))
        }

        let standby = try HostProcess(
            label: "enroll-swtpm-standby", venueConfig: configPath,
            extraArguments: TwoSwtpm.arguments(tpms.standbyTPM), workDirectory: standbyWork)
        let standbyEvidence = try Self.evidence(data)
        #expect(standbyEvidence.signer == primaryEvidence.signer)
        #expect(standbyEvidence.enclaveKey == primaryEvidence.enclaveKey)
        #expect(standbyEvidence.storageKey == "sealed-pcr-23")
        #expect(standby.stop() == 0)
        #expect(primary.stop() == 0)
    }
}

extension ToolOutput {
    var asTuple: (status: Int32, stdout: String, stderr: String) { (status, text, stderr) }
}
