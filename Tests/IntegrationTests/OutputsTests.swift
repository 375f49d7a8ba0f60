#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Client
import Commitments
import Foundation
import SealCrypto
import Testing
import VenueTools
import Wire

/// Issue 4 end to end: a real host and enclave publish signed batches; a trader proves
/// its orders' inclusion over the HTTP API; the auditor CLI verifies the files.
@Suite("Published outputs through real processes", .serialized)
struct OutputsTests {
    func signerAndDomain(_ e: Evidence) throws -> (EthereumAddress, EIP712Domain) {
        let signer = try #require(EthereumAddress(hex: e.signer))
        let contract = try #require(EthereumAddress(hex: e.verifyingContract))
        return (signer, EIP712Domain(name: "Sealstream", version: "1", chainId: e.chainId, verifyingContract: contract))
    }

    /// Polls until a committed batch covers `sequence`.
    func waitForBatch(covering sequence: UInt64, http: String) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try HTTPFetch.get(http, path: "/v1/events/proof?sequence=\(sequence)").status == 200 { return }
            usleep(20_000)
        }
        throw TestFailure("no batch covers sequence \(sequence) after 10 s")
    }

    @Test func tradersProveInclusionAndTheAuditorVerifiesTheFiles() throws {
        let host = try HostProcess(label: "outputs")
        let evidenceConnection = try Connection(address: host.address)
        let evidence = try EvidenceFetch.fetch(over: evidenceConnection)
        let (signer, domain) = try signerAndDomain(evidence)
        let trader = try Trader(address: host.address, accountID: 31, name: "prover")
        var orders: [(body: [UInt8], receipt: Receipt)] = []
        for i in 0..<20 { orders.append(try trader.sealedOrder("o\(i)")) }
        let http = host.httpAddress
        try waitForBatch(covering: orders.last!.receipt.globalSequence, http: http)

        // Every order's receipt proves its inclusion against a header signed by the
        // attested signer; the host serves the proof but is not trusted.
        for (body, receipt) in orders {
            let answer = try HTTPFetch.get(http, path: "/v1/events/proof?sequence=\(receipt.globalSequence)")
            #expect(answer.status == 200)
            try EventInclusion.verify(frameBody: body, globalSequence: receipt.globalSequence, enclaveTime: receipt.enclaveTime,
                                      answer: answer.body, signer: signer, domain: domain)
        }
        // A receipt for a different order (same session, next frame) is not this order's proof.
        let answer = try HTTPFetch.get(http, path: "/v1/events/proof?sequence=\(orders[0].receipt.globalSequence)")
        #expect(throws: EventInclusion.Failure.self) {
            try EventInclusion.verify(frameBody: orders[1].body, globalSequence: orders[0].receipt.globalSequence,
                                      enclaveTime: orders[0].receipt.enclaveTime, answer: answer.body, signer: signer, domain: domain)
        }

        // The listing endpoints serve the signed records verbatim.
        let listing = try HTTPFetch.get(http, path: "/v1/batches?from=0&limit=1000")
        #expect(listing.status == 200)
        let records = try JSONDecoder().decode([BatchRecord].self, from: Data(listing.body))
        #expect(!records.isEmpty && records.map(\.batchIndex) == Array(0..<UInt64(records.count)))
        #expect(try HTTPFetch.get(http, path: "/v1/batches/0").status == 200)
        #expect(try HTTPFetch.get(http, path: "/v1/decisions?batch=0").body == Array("[]".utf8))
        // Bad requests get typed answers and are counted; the host keeps serving.
        #expect(try HTTPFetch.get(http, path: "/v1/batches/999999").status == 404)
        #expect(try HTTPFetch.get(http, path: "/v1/batches?limit=0").status == 400)
        #expect(try HTTPFetch.get(http, path: "/v1/events/proof?sequence=0").status == 400)
        #expect(try HTTPFetch.get(http, path: "/v1/events/proof?sequence=99999999").status == 404)
        #expect(try HTTPFetch.get(http, path: "/nope").status == 404)
        let garbage = try Connection(address: http)
        try garbage.send(Array("\u{1}\u{2}GARBAGE \r\n\r\n".utf8))
        _ = try? garbage.readToEnd(limit: 1 << 16, timeoutSeconds: 5)
        #expect(try HTTPFetch.get(http, path: "/v1/batches/0").status == 200, "a malformed request drops only its connection")
        #expect(try trader.order("after-http").status == .accepted)

        // Shutdown commits what was sequenced since the last batch.
        let lastSequence = try trader.order("last").globalSequence
        #expect(host.stop() == 0)
        let outputs = host.dataDirectory.appendingPathComponent("outputs")
        let lines = try String(contentsOf: outputs.appendingPathComponent("batches.jsonl"), encoding: .utf8).split(separator: "\n")
        let last = try JSONDecoder().decode(BatchRecord.self, from: Data(lines.last!.utf8))
        #expect(last.lastSequence == lastSequence, "the final batch covers the last order")
        #expect(host.metric("sealstream_host_batches_published_total") == Double(lines.count))
        #expect(host.metric("sealstream_host_http_errors_total") ?? 0 >= 5)

        // The auditor: one command, machine-readable verdicts.
        let evidenceFile = host.workDirectory.appendingPathComponent("evidence.json")
        try Data(try evidence.encoded()).write(to: evidenceFile)
        let cli = try Binaries.path("attestation")
        let good = try runCommand(cli, ["verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path, "--json"])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(good.stdout.utf8)) as! [String: Any]
        #expect(report["ok"] as? Bool == true)
        let checks = report["checks"] as! [[String: Any]]
        #expect(Set(checks.map { $0["check"] as! String }).isSuperset(of: ["headers.signature", "chain.previous", "events.consistency", "events.log", "decisions.inclusion"]))

        // With the venue configuration, the public inputs and every mark are checked too.
        let inputsFile = outputs.appendingPathComponent("inputs.jsonl")
        let inputs = try String(contentsOf: inputsFile, encoding: .utf8)
        #expect(inputs.contains("\"kind\":\"deposit\""), "the trader's deposit is published in full")
        let full = try runCommand(cli, ["verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path,
                                        "--config", Binaries.venueConfig, "--json"])
        #expect(full.status == 0, "\(full.stdout)\(full.stderr)")
        let fullChecks = (try JSONSerialization.jsonObject(with: Data(full.stdout.utf8)) as! [String: Any])["checks"] as! [[String: Any]]
        for name in ["inputs.parse", "inputs.leaf", "inputs.signature", "inputs.admission", "marks.decisions", "marks.halted"] {
            let v = fullChecks.first { $0["check"] as? String == name }
            #expect(v?["pass"] as? Bool == true && (v?["expected"] as? String)?.contains("not checked") == false, "\(name): \(String(describing: v))")
        }
        // A forged deposit amount fails at its leaf; the original file passes again.
        try inputs.replacingOccurrences(of: "\"amount\":", with: "\"amount\":1").write(to: inputsFile, atomically: true, encoding: .utf8)
        let forged = try runCommand(cli, ["verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path,
                                          "--config", Binaries.venueConfig])
        #expect(forged.status == 1 && forged.stdout.contains("FAIL  inputs.leaf"), "\(forged.stdout)")
        try inputs.write(to: inputsFile, atomically: true, encoding: .utf8)
        // A configuration the evidence does not name is refused before any check.
        let otherConfig = host.workDirectory.appendingPathComponent("other-venue.json")
        try (try String(contentsOfFile: Binaries.venueConfig, encoding: .utf8) + "\n").write(to: otherConfig, atomically: true, encoding: .utf8)
        let wrong = try runCommand(cli, ["verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path,
                                         "--config", otherConfig.path])
        #expect(wrong.status == 2 && wrong.stderr.contains("configHash"), "\(wrong.stderr)")

        // A wrong signer, and a header tampered on disk, fail with a non-zero exit.
        let stranger = try runCommand(cli, ["verify-outputs", "--data-dir", host.dataDirectory.path,
                                            "--signer", try Secp256k1PrivateKey().address.hex,
                                            "--chain-id", String(evidence.chainId), "--verifying-contract", evidence.verifyingContract])
        #expect(stranger.status == 1 && stranger.stdout.contains("FAIL  headers.signature"), "\(stranger.stdout)")
        var text = try String(contentsOf: outputs.appendingPathComponent("batches.jsonl"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"batchIndex\":0,", with: "\"batchIndex\":5,")
        try text.write(to: outputs.appendingPathComponent("batches.jsonl"), atomically: true, encoding: .utf8)
        let tampered = try runCommand(cli, ["verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path])
        #expect(tampered.status == 1)
        #expect(tampered.stdout.contains("FAIL  chain.index") && tampered.stdout.contains("FAIL  headers.signature"), "\(tampered.stdout)")
    }

    /// The scenario front end proves, as each trader, that every sequenced request is in
    /// the signed event log.
    @Test func theScenarioClientProvesEveryRequestWasSequenced() throws {
        let host = try HostProcess(label: "scenario-inclusion")
        let scenario = Binaries.packageRoot.appendingPathComponent("scripts/demo/scenario.txt").path
        let run = try runCommand(try Binaries.path("sealstream-client"), [
            "scenario", scenario, "--host", host.address, "--venue", Binaries.venueConfig, "--json",
            "--verify-inclusion", host.httpAddress] + Binaries.softwarePolicyArguments(in: host.workDirectory))
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try JSONDecoder().decode(ScenarioSummary.self, from: Data(run.stdout.utf8))
        #expect(summary.inclusionFailed == 0)
        #expect(summary.inclusionProven == summary.globalSequences.count - summary.depositsAcked - summary.pricesAcked)
        #expect(summary.inclusionProven > 20)
        #expect(host.stop() == 0)
    }

    /// A crashed worker, and then a restarted host, continue the same epoch: the same
    /// signer, one chain with no gap and no duplicate, which verifies as one
    /// (docs/DURABILITY.md §1, COMMITMENTS.md §4). A rotated storage key is a new epoch:
    /// the old one is archived with the evidence of its signer and still verifies.
    @Test func aRestartContinuesTheChainAndARotationArchivesIt() throws {
        var host = try HostProcess(label: "epochs")
        let work = host.workDirectory
        host.keepsWorkDirectory = true
        defer { try? FileManager.default.removeItem(at: work) }
        let first = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        let trader = try Trader(address: host.address, accountID: 41, name: "epoch-a")
        let sequence = try trader.order("a").globalSequence
        try waitForBatch(covering: sequence, http: host.httpAddress)
        #expect(kill(host.enclavePid, SIGKILL) == 0)
        let deadline = Date().addingTimeInterval(15)
        while host.enclaveStarts < 2 && Date() < deadline { usleep(50_000) }
        let afterCrash = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        #expect(afterCrash.signer == first.signer && afterCrash.enclaveKey == first.enclaveKey)
        #expect(afterCrash.instanceID != first.instanceID)
        // The account survived the crash: its second order needs no new deposit.
        let again = try Trader(address: host.address, accountID: 41, name: "epoch-a", deposit: false)
        let secondReceipt = try again.order("b")
        #expect(secondReceipt.status == .accepted, "the account and its margin survived the crash")
        let second = secondReceipt.globalSequence
        #expect(second > sequence)
        try waitForBatch(covering: second, http: host.httpAddress)
        #expect(host.stop() == 0)

        // The whole host restarts on the same data directory: still the same chain.
        host = try HostProcess(label: "epochs", workDirectory: work)
        let thirdReceipt = try Trader(address: host.address, accountID: 41, name: "epoch-a", deposit: false).order("c")
        #expect(thirdReceipt.status == .accepted)
        let third = thirdReceipt.globalSequence
        #expect(third > second, "the global sequence continues across a host restart")
        try waitForBatch(covering: third, http: host.httpAddress)
        #expect(host.stop() == 0)
        let outputs = host.dataDirectory.appendingPathComponent("outputs")
        #expect(!FileManager.default.fileExists(atPath: outputs.appendingPathComponent("epochs").path), "nothing archived")
        let headers = try String(contentsOf: outputs.appendingPathComponent("batches.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(headers.enumerated().allSatisfy { ($0.element["batchIndex"] as? Int) == $0.offset }, "one chain, no gap or repeat")
        let evidenceFile = work.appendingPathComponent("first.json")
        try Data(try first.encoded()).write(to: evidenceFile)
        let cli = try Binaries.path("attestation")
        let whole = try runCommand(cli, ["verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path])
        #expect(whole.status == 0, "\(whole.stdout)")

        // Key rotation: a new storage key, a new signer, a new epoch; the old one archived
        // under the instance id of the epoch's last worker (its hello is epoch.json).
        let last = try Evidence.parse(Array(try Data(contentsOf: outputs.appendingPathComponent("epoch.json"))))
        #expect(last.signer == first.signer)
        try FileManager.default.removeItem(at: host.dataDirectory.appendingPathComponent("enclave-storage.key"))
        try FileManager.default.removeItem(at: host.dataDirectory.appendingPathComponent("journal"))
        host = try HostProcess(label: "epochs", workDirectory: work)
        let rotated = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        #expect(rotated.signer != first.signer)
        #expect(host.stop() == 0)
        let archive = outputs.appendingPathComponent("epochs/\(last.instanceID)")
        let archived = try Evidence.parse(Array(try Data(contentsOf: archive.appendingPathComponent("epoch.json"))))
        #expect(archived.signer == first.signer)
        let old = try runCommand(cli, ["verify-outputs", "--data-dir", host.dataDirectory.path, "--epoch", last.instanceID,
                                       "--evidence", evidenceFile.path])
        #expect(old.status == 0, "\(old.stdout)")
    }
}
