#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Foundation
import TestSupport
import Testing

@Suite("Enclave isolation", .serialized)
struct EnclaveIsolationTests {
    /// The measured worker's dependency closure has no SwiftNIO, HTTP or other
    /// networking code: it depends on no external package at all.
    @Test func enclaveLinksNoNetworkingCode() throws {
        let closure = try PackageGraph().closure(of: "sealstream-enclave")
        #expect(closure.products.isEmpty, "external products in the enclave: \(closure.products)")
        #expect(closure.targets == ["sealstream-enclave", "EnclaveCore", "CEnclaveSys", "CTPM", "SealCrypto", "CSodium",
                                    "CSecp256k1", "COpenSSL", "CKeccak", "Commitments", "Wire", "Engine", "Attestation", "Journal", "CCRC32C",
                                    "StrictJSON", "KeyEnrollment", "AttestationVerifier", "AuditCrypto", "Options",
                                    "CPrefetch", "CSHA256Lanes", "CVectorWidth"])
        // CPrefetch is one header around `__builtin_prefetch` (the dedupe probe, issue 17);
        // CSHA256Lanes hashes a Merkle tree level's nodes side by side (issue 17, no library),
        // at the width CVectorWidth (CPUID, XCR0) reads, as CKeccak does.
        // StrictJSON (pure, no dependencies) reads the venue config. Options (pure
        // fixed-point math, no dependencies) prices option markets (docs/OPTIONS.md §10). The attestation
        // verifier is in since key enrollment (docs/REPLICATION.md §11): a primary worker
        // checks a standby's evidence with it. The output record readers stay out.
        #expect(closure.targets.isDisjoint(with: ["OutputVerification", "Client", "Host"]),
                "no output verifier, SDK or host code in the worker")
        // And the binaries carry no NIO and no output verifier symbols.
        for path in [try Binaries.path("sealstream-enclave"), try MeasuredImageTests.reproducibleEnclave()] {
            let binary = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
            let found = ["NIOPosix", "NIOCore", "OutputVerifier", "RecordLineError"]
                .filter { occurs(Array($0.utf8), in: binary) }
            #expect(found.isEmpty, "\(found) in \(path)")
        }
    }

    /// The worker confines itself and says so truthfully in its evidence.
    @Test func enclaveConfinesItselfAndReportsIt() throws {
        let host = try HostProcess(label: "isolation")
        let pid = host.enclavePid
        let evidence = try Evidence.parse(try Array(Data(contentsOf: host.dataDirectory.appendingPathComponent("enclave.json"))))
        #expect(evidence.isolation == .process, "a plain process is not a CVM")
        #expect(evidence.mode == .software && evidence.simulated)
        #expect(evidence.isolationReport.dumpable == false)
        #expect(evidence.isolationReport.noNewPrivileges)
        #expect(evidence.isolationReport.listeningSockets == 0)
        #expect(evidence.isolationReport.openFileDescriptors <= 4)
        // Cross-check the claims against the kernel's view.
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("NoNewPrivs:\t1"))
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int.init).sorted()
        // The link (0, 1), the log (2) and the snapshot pipe the host hands over (3,
        // docs/DURABILITY.md §6.6), nothing else.
        #expect(fds == [0, 1, 2, 3])
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/3"))?.hasPrefix("pipe:") == true)
        if evidence.isolationReport.privateNetworkNamespace {
            let mine = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
            let its = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")
            #expect(mine != its, "the worker is in its own network namespace")
        } else {
            // Only possible where neither CAP_SYS_ADMIN nor user namespaces are available.
            Issue.record("no private network namespace on this machine (needs root or unprivileged user namespaces)")
        }
        #expect(host.stop() == 0)
        // After a graceful stop the worker is gone too.
        #expect(kill(pid, 0) != 0)
    }

    @Test func attestationInspectPrintsAndRefusesGarbage() throws {
        let host = try HostProcess(label: "inspect")
        let cli = try Binaries.path("attestation")
        let evidencePath = host.workDirectory.appendingPathComponent("evidence.json").path
        let fetched = try runCommand(try Binaries.path("sealstream-client"), ["evidence", "--host", host.address, "--out", evidencePath])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let inspected = try runCommand(cli, ["inspect", evidencePath])
        #expect(inspected.status == 0)
        #expect(inspected.stdout.contains("SIMULATED"))
        #expect(inspected.stdout.contains("NOT attested"))
        let garbage = host.workDirectory.appendingPathComponent("garbage.json").path
        try "{\"version\": 1}".write(toFile: garbage, atomically: true, encoding: .utf8)
        let refused = try runCommand(cli, ["inspect", garbage])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("malformed"))
        host.stop()
    }
}

@Suite("Engine determinism across processes")
struct DeterminismTests {
    /// The same seeded stream in two separate processes (different per-process hash
    /// seeds) gives byte-identical outcomes, decisions and state.
    @Test func twoProcessesAgree() throws {
        let client = try Binaries.path("sealstream-client")
        let a = try runCommand(client, ["engine-replay", "--seed", "42", "--events", "20000"])
        let b = try runCommand(client, ["engine-replay", "--seed", "42", "--events", "20000"])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr)")
        let ra = try JSONSerialization.jsonObject(with: Data(a.stdout.utf8)) as! [String: Any]
        let rb = try JSONSerialization.jsonObject(with: Data(b.stdout.utf8)) as! [String: Any]
        #expect(ra["digest"] as? String == rb["digest"] as? String)
        #expect((ra["fills"] as? Int ?? 0) > 1_000)
        #expect((ra["liquidations"] as? Int ?? 0) > 0, "the stream exercises liquidations")
        // A different stream gives a different digest (the digest is not a constant).
        let c = try runCommand(client, ["engine-replay", "--seed", "43", "--events", "20000"])
        let rc = try JSONSerialization.jsonObject(with: Data(c.stdout.utf8)) as! [String: Any]
        #expect(rc["digest"] as? String != ra["digest"] as? String)
    }
}
