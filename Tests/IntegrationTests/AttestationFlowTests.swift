#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Client
import Foundation
import SealCrypto
import TestSupport
import Testing
import Wire

/// The auditor's flow against a real enclave in `software` mode: measure the reviewed
/// build, fetch evidence for one's own nonce, verify. The quote is a software stand-in,
/// so it passes only with --allow-simulated, and says SIMULATED.
@Suite("Auditor verifies a real enclave's evidence", .serialized)
struct AttestationFlowTests {
    @Test func measureChallengeVerify() throws {
        let host = try HostProcess(label: "attest")
        defer { host.stop() }
        let dir = host.workDirectory
        let cli = try Binaries.path("attestation")
        let nonce = Hex.encode(Sodium.randomBytes(32))
        let evidence = dir.appendingPathComponent("evidence.json").path
        let fetched = try runCommand(try Binaries.path("sealstream-client"),
                                     ["evidence", "--host", host.address, "--nonce", nonce, "--out", evidence])
        #expect(fetched.status == 0, "\(fetched.stderr)")

        let policy = dir.appendingPathComponent("policy.json").path
        let measured = try runCommand(cli, ["measure", "--enclave", try Binaries.path("sealstream-enclave"),
                                            "--config", Binaries.venueConfig, "--allow-mode", "software", "--policy-out", policy])
        #expect(measured.status == 0, "\(measured.stderr)")

        func verify(_ extra: [String], policy: String = policy) throws -> (status: Int32, report: [String: Any], failing: Set<String>) {
            let r = try runCommand(cli, ["verify", "--evidence", evidence, "--policy", policy, "--json"] + extra)
            let report = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
            let checks = report["checks"] as? [[String: Any]] ?? []
            return (r.status, report, Set(checks.filter { $0["pass"] as? Bool == false }.map { $0["check"] as! String }))
        }
        // The same through the host's HTTP API: `attestation challenge` picks the nonce.
        let challenged = dir.appendingPathComponent("challenged.json").path
        let challenge = try runCommand(cli, ["challenge", "--url", "http://" + host.httpAddress, "--out", challenged])
        #expect(challenge.status == 0, "\(challenge.stderr)")
        let challengeNonce = try #require(challenge.stdout.split(separator: "\n").first { $0.hasPrefix("nonce ") }?.dropFirst(6))
        let viaHTTP = try runCommand(cli, ["verify", "--evidence", challenged, "--policy", policy, "--nonce", String(challengeNonce),
                                           "--allow-simulated"])
        #expect(viaHTTP.status == 0, "\(viaHTTP.stdout)")
        #expect(try HTTPFetch.get(host.httpAddress, path: "/v1/evidence?nonce=abcd").status == 400)

        let good = try verify(["--nonce", nonce, "--allow-simulated"])
        #expect(good.status == 0 && good.failing.isEmpty, "\(good.failing)")
        #expect(good.report["simulated"] as? Bool == true)

        // Simulated evidence is refused unless the verifier opts in.
        let strict = try verify(["--nonce", nonce])
        #expect(strict.status == 1 && strict.failing.contains("mode"))
        // Another nonce: stale or replayed evidence.
        let stale = try verify(["--nonce", Hex.encode(Sodium.randomBytes(32)), "--allow-simulated"])
        #expect(stale.status == 1 && stale.failing == ["nonce"])
        // A policy for another binary: the measurement (and the PCR it replays to) differ.
        let otherPolicy = dir.appendingPathComponent("other.json").path
        _ = try runCommand(cli, ["measure", "--enclave", try Binaries.path("sealstream-host"), "--config", Binaries.venueConfig,
                                 "--allow-mode", "software", "--policy-out", otherPolicy])
        let wrongBinary = try verify(["--nonce", nonce, "--allow-simulated"], policy: otherPolicy)
        #expect(wrongBinary.status == 1 && wrongBinary.failing.contains("measurement"), "\(wrongBinary.failing)")

        // A trader's client refuses to open a session with an enclave its policy rejects,
        // and does not run without a policy unless told to skip attestation on purpose.
        let client = try Binaries.path("sealstream-client")
        let scenario = Binaries.packageRoot.appendingPathComponent("scripts/demo/scenario.txt").path
        let refused = try runCommand(client, ["scenario", scenario, "--host", host.address, "--venue", Binaries.venueConfig,
                                              "--policy", otherPolicy, "--allow-simulated"])
        #expect(refused.status != 0 && refused.stderr.contains("attestation failed") && refused.stderr.contains("measurement"),
                "\(refused.stderr)")
        let strictClient = try runCommand(client, ["drill", "--host", host.address, "--traders", "1", "--policy", policy])
        #expect(strictClient.status != 0 && strictClient.stderr.contains("mode"), "\(strictClient.stderr)")
        // Software mode has no TPM to activate a credential with: enrolment fails.
        let enrolled = dir.appendingPathComponent("enrolled.json").path
        let enroll = try runCommand(cli, ["enroll", "--host", host.address, "--evidence", evidence, "--policy", policy,
                                          "--policy-out", enrolled, "--allow-simulated"])
        #expect(enroll.status != 0 && enroll.stderr.contains("no RSA EK certificate"), "\(enroll.stderr)")
        #expect(!FileManager.default.fileExists(atPath: enrolled))
        let noPolicy = try runCommand(client, ["load", "--host", host.address, "--duration", "1"])
        #expect(noPolicy.status != 0 && noPolicy.stderr.contains("--policy"))
        // The metrics file is final once the host has stopped: only evidence requests
        // and the one refused activation reached it, no session and no order.
        #expect(host.stop() == 0)
        let framesIn = try #require(host.metric("sealstream_host_frames_in_total"))
        #expect(framesIn < 10, "\(framesIn) frames: something beyond evidence requests reached the enclave")
    }

    /// The same flow with the worker quoting from a real swtpm (started by
    /// scripts/swtpm.sh, Unix socket): the quote comes from the TPM, the EK certificate
    /// chains to the run's throwaway CA, and relabelling the evidence `tpm` fails.
    @Test func swtpmQuoteFromARealWorkerVerifies() throws {
        let dir = try makeScratchDirectory("swtpm-attest")
        defer { try? FileManager.default.removeItem(at: dir) }
        let swtpm = try SwtpmInstance(under: dir)
        defer { swtpm.stop() }
        let tcti = swtpm.tcti
        let roots = swtpm.ekRoots

        let host = try HostProcess(label: "swtpm", extraArguments: ["--attestation", "swtpm", "--tcti", tcti])
        defer { host.stop() }
        let cli = try Binaries.path("attestation")
        let nonce = Hex.encode(Sodium.randomBytes(32))
        let evidence = dir.appendingPathComponent("evidence.json").path
        let fetched = try runCommand(try Binaries.path("sealstream-client"),
                                     ["evidence", "--host", host.address, "--nonce", nonce, "--out", evidence])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let policy = dir.appendingPathComponent("policy.json").path
        let measured = try runCommand(cli, ["measure", "--enclave", try Binaries.path("sealstream-enclave"), "--config",
                                            Binaries.venueConfig, "--allow-mode", "swtpm", "--swtpm-ek-root", roots,
                                            "--policy-out", policy])
        #expect(measured.status == 0, "\(measured.stderr)")
        func failing(_ file: String, _ extra: [String]) throws -> (Int32, Set<String>) {
            let r = try runCommand(cli, ["verify", "--evidence", file, "--policy", policy, "--json"] + extra)
            let report = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
            let checks = report["checks"] as? [[String: Any]] ?? []
            return (r.status, Set(checks.filter { $0["pass"] as? Bool == false }.map { $0["check"] as! String }))
        }
        let good = try failing(evidence, ["--nonce", nonce, "--allow-simulated"])
        #expect(good.0 == 0 && good.1.isEmpty, "\(good.1)")
        // The same quote claimed as hardware: the mode is bound into the preimage.
        var text = try String(contentsOfFile: evidence, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"mode\" : \"swtpm\"", with: "\"mode\" : \"tpm\"")
            .replacingOccurrences(of: "\"simulated\" : true", with: "\"simulated\" : false")
        let relabelled = dir.appendingPathComponent("relabelled.json").path
        try text.write(toFile: relabelled, atomically: true, encoding: .utf8)
        let claimed = try failing(relabelled, ["--nonce", nonce, "--allow-simulated"])
        #expect(claimed.0 == 1 && claimed.1.contains("preimage"), "\(claimed.1)")

        // Enrolment: the worker's TPM recovers a credential made for its AK's Name under
        // the certified RSA EK, and the AK gets pinned; verify then holds quotes to it.
        let enrolled = dir.appendingPathComponent("enrolled.json").path
        let enroll = try runCommand(cli, ["enroll", "--host", host.address, "--evidence", evidence, "--policy", policy,
                                          "--policy-out", enrolled, "--allow-simulated"])
        #expect(enroll.status == 0, "\(enroll.stdout)\(enroll.stderr)")
        let pinned = try runCommand(cli, ["verify", "--evidence", evidence, "--policy", enrolled, "--nonce", nonce,
                                          "--allow-simulated", "--json"])
        #expect(pinned.status == 0, "\(pinned.stdout)")
        let policyJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: enrolled))) as? [String: Any]
        #expect((policyJSON?["akNames"] as? [String])?.count == 1)

        // The storage key is sealed to PCR 23: a restarted worker (same binary, same
        // config, same TPM) unseals it, so an account keeps its public commitment.
        try expectStorageKeySurvivesRestart(host, protection: "sealed-pcr-23")
    }

    /// Registers an account, kills the worker, lets the host restart it, registers the
    /// same account again (state is not journalled yet) and compares the commitment the
    /// enclave reveals to the account's owner.
    func expectStorageKeySurvivesRestart(_ host: HostProcess, protection: String) throws {
        let evidence = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        #expect(evidence.storageKey == protection)
        let before = try Trader(address: host.address, accountID: 77, name: "keeps-commitment").session.accountCommitment
        let firstPid = host.enclavePid
        #expect(kill(firstPid, SIGKILL) == 0)
        let deadline = Date().addingTimeInterval(15)
        while (host.enclaveStarts < 2 || host.enclavePid == firstPid) && Date() < deadline { usleep(50_000) }
        let after = try Trader(address: host.address, accountID: 77, name: "keeps-commitment").session.accountCommitment
        #expect(before == after, "the account commitment changed across a restart")
        let other = try Trader(address: host.address, accountID: 78, name: "another").session.accountCommitment
        #expect(other != after)
        let key = host.dataDirectory.appendingPathComponent("enclave-storage.key").path
        let attributes = try FileManager.default.attributesOfItem(atPath: key)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let text = try String(contentsOfFile: key, encoding: .utf8)
        #expect(text.contains(protection == "file-0600" ? "\"key\"" : "\"sealedPrivate\""))
        // TPM modes: the epoch's rollback counter base and its tag (DURABILITY.md §5.1).
        #expect(text.contains("\"counterBaseTag\"") == (protection != "file-0600"))
    }

    @Test func softwareStorageKeySurvivesRestart() throws {
        let host = try HostProcess(label: "storage-key")
        defer { host.stop() }
        try expectStorageKeySurvivesRestart(host, protection: "file-0600")
    }
}
