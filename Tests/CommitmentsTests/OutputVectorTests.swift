import Commitments
import Engine
import OutputVerification
import Foundation
import SealCrypto
import StrictJSON
import Testing

/// The shared table of docs/COMMITMENTS.md §5 cases (§5.3's with and without a venue configuration) (`contracts/tests/vectors/outputs.json`,
/// written by `make_vectors.py`). The Python reference runs the same table
/// (`contracts/tests/test_vectors.py`): both must fail the same checks for the same reason.
struct OutputVectors: @unchecked Sendable {
    let root: [String: Any]

    static let shared: OutputVectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../contracts/tests/vectors/outputs.json")
        let data = try! Data(contentsOf: url)
        return OutputVectors(root: try! JSONSerialization.jsonObject(with: data) as! [String: Any])
    }()

    var cases: [[String: Any]] { root["cases"] as! [[String: Any]] }
    var names: [String] { cases.map { $0["name"] as! String } }

    func verifier(signer: String?) -> OutputVerifier {
        OutputVerifier(
            signer: EthereumAddress(hex: signer ?? root["signer"] as! String)!,
            domain: EIP712Domain(name: "Sealstream", version: "1", chainId: (root["chainId"] as! NSNumber).uint64Value,
                                 verifyingContract: EthereumAddress(hex: root["verifyingContract"] as! String)!),
            venueID: (root["venueId"] as! NSNumber).uint64Value)
    }

    /// The case's files after its edits (the same rules as test_vectors.py's `apply`).
    /// `marketData` is nil unless the case gives `marketdata.jsonl` to the verifier;
    /// `inputs` and `funding` unless it is a §5.3 case (`"public": true`); `config` unless the
    /// case gives the epoch's venue configuration (`"config": true`).
    func files(_ c: [String: Any]) -> (batches: [UInt8], decisions: [UInt8], events: [UInt8], marketData: [UInt8]?,
                                       inputs: [UInt8]?, funding: [UInt8]?, config: VenueConfig?)
    {
        let epoch = (root["epochs"] as! [String: Any])[c["epoch"] as! String] as! [String: String]
        var text = ["batches": epoch["batches"]!, "decisions": epoch["decisions"]!, "marketdata": epoch["marketdata"]!,
                    "inputs": epoch["inputs"] ?? "", "funding": epoch["funding"] ?? ""]
        var events = hexBytes(epoch["events"]!)
        for op in c["ops"] as! [[String: Any]] {
            let file = op["file"] as! String
            if file == "events" {
                if let n = op["truncate"] as? Int { events.removeLast(events.count - n) }
                else { events[op["offset"] as! Int] = UInt8(op["byte"] as! Int) }
                continue
            }
            if let at = op["at"] as? Int {  // a byte edit of the whole file
                var bytes = Array(text[file]!.utf8)
                bytes.replaceSubrange(at..<(at + (op["delete"] as! Int)), with: Array((op["insert"] as! String).utf8))
                text[file] = String(decoding: bytes, as: UTF8.self)
                continue
            }
            var lines = text[file]!.split(separator: "\n", omittingEmptySubsequences: false).map { $0 + "\n" }
            if text[file]!.hasSuffix("\n") { lines.removeLast() } else { lines[lines.count - 1].removeLast() }
            let i = (op["line"] as! Int) - 1
            let old = op["old"] as! String
            let range = lines[i].range(of: old)!
            lines[i].replaceSubrange(range, with: op["new"] as! String)
            text[file] = lines.joined()
        }
        let marketData = (c["marketdata"] as? Bool) == true ? Array(text["marketdata"]!.utf8) : nil
        let isPublic = (c["public"] as? Bool) == true
        let config = (c["config"] as? Bool) == true ? try! VenueConfig.parseStrict(Array(epoch["config"]!.utf8)) : nil
        return (Array(text["batches"]!.utf8), Array(text["decisions"]!.utf8), events, marketData,
                isPublic ? Array(text["inputs"]!.utf8) : nil, isPublic ? Array(text["funding"]!.utf8) : nil, config)
    }

    func hexBytes(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }
}

@Suite("Output verification vectors (shared with the Python reference)")
struct OutputVectorTests {
    @Test(arguments: OutputVectors.shared.names)
    func vector(_ name: String) throws {
        let vectors = OutputVectors.shared
        let c = vectors.cases.first { $0["name"] as! String == name }!
        let f = vectors.files(c)
        let verifier = vectors.verifier(signer: c["signer"] as? String)
        // A §5.3 case: the public inputs and funding records too, no venue configuration.
        let verdicts = f.inputs == nil
            ? verifier.verify(batches: f.batches, decisions: f.decisions, eventsLog: f.events, marketData: f.marketData)
            : verifier.verify(batches: f.batches, decisions: f.decisions, eventsLog: f.events, inputs: f.inputs,
                              config: f.config, funding: f.funding, marketData: f.marketData)
        if f.config != nil {  // with the configuration every §5.3 check (19–27) is made
            #expect(verdicts.dropFirst(19).allSatisfy { !$0.expected.contains("not checked") }, "\(verdicts.map(\.expected))")
        }
        let expected = c["fail"] as! [String: [String: Any]]
        let failing = Set(verdicts.filter { !$0.pass }.map(\.check))
        #expect(failing == Set(expected.keys), "\(verdicts.filter { !$0.pass })")
        for v in verdicts where !v.pass {
            guard let want = expected[v.check] else { continue }
            if let error = want["error"] as? String { #expect(v.error == error, "\(v.check): \(v.detail)") }
            if let line = want["line"] as? Int { #expect(v.line == line, "\(v.check): \(v.detail)") }
            if let path = want["path"] as? String { #expect(v.path == path, "\(v.check): \(v.detail)") }
        }
    }

    /// COMMITMENTS §5 `--config`: a configuration that parses but fails validation is no
    /// enclave's; every check that needs it fails with `config`, nothing is recomputed from it
    /// (a funding interval of 0 or `minPublishers` 0 trapped the auditor before), and checks
    /// 25 and 25a are made as without one (python/tests/test_config_verdicts.py, the same).
    @Test(arguments: ["intervalNanos 0", "minPublishers 0", "takerBps 1001", "custodyKey"])
    func anInvalidConfigurationFailsTheConfiguredChecks(_ edit: String) throws {
        let vectors = OutputVectors.shared
        let epoch = (vectors.root["epochs"] as! [String: Any])["marks"] as! [String: String]
        var config = try VenueConfig.parseStrict(Array(epoch["config"]!.utf8))
        switch edit {
        case "intervalNanos 0": config.markets[0].funding.intervalNanos = 0
        case "minPublishers 0": config.markets[0].oracle.minPublishers = 0
        case "takerBps 1001": config.fees.takerBps = 1_001
        default: config.custodyKey = "zz"
        }
        let verdicts = vectors.verifier(signer: nil).verify(
            batches: Array(epoch["batches"]!.utf8), decisions: Array(epoch["decisions"]!.utf8),
            eventsLog: vectors.hexBytes(epoch["events"]!), inputs: Array(epoch["inputs"]!.utf8), config: config,
            funding: Array(epoch["funding"]!.utf8))
        let failing = Dictionary(uniqueKeysWithValues: verdicts.filter { !$0.pass }.map { ($0.check, $0.error) })
        #expect(failing == [
            "inputs.signature": "config", "inputs.admission": "config", "marks.decisions": "config", "marks.halted": "config",
            "marks.options": "config", "funding.records": "config",
        ], "\(verdicts.filter { !$0.pass })")
    }

    /// The single numbered list of docs/COMMITMENTS.md §5.2 (1–18, 18a) and §5.3 (19–24, 24a, 25–27), in order.
    @Test func everyCheckIsReported() {
        let verifier = OutputVectors.shared.verifier(signer: nil)
        let base = [
            "headers.parse", "headers.venue", "headers.digest", "headers.signature", "headers.signer", "chain.index",
            "chain.previous", "chain.sequence", "chain.time", "chain.accounts", "events.consistency", "events.log",
            "decisions.parse", "decisions.batch", "decisions.inclusion", "marketdata.parse", "marketdata.batch",
            "marketdata.root", "marketdata.options",
        ]
        #expect(verifier.verify(batches: [], decisions: [], eventsLog: []).map(\.check) == base)
        let all = verifier.verify(batches: [], decisions: [], eventsLog: [], inputs: nil, config: nil, funding: nil,
                                  marketData: nil).map(\.check)
        #expect(all == base + [
            "inputs.parse", "inputs.leaf", "inputs.signature", "inputs.admission", "marks.decisions", "marks.halted",
            "marks.options", "decisions.execution", "decisions.scenario", "funding.parse", "funding.records",
        ])
    }
}

@Suite("The /v1/events/proof answer, read strictly")
struct EventProofAnswerTests {
    /// A well-formed answer around the vectors' first header line, edited by `edit`.
    func answer(_ edit: (String) -> String = { $0 }) throws(RecordError) -> EventProofAnswer {
        let epoch = (OutputVectors.shared.root["epochs"] as! [String: Any])["base"] as! [String: String]
        let header = String(epoch["batches"]!.split(separator: "\n")[0])
        let hash = "0x" + String(repeating: "ab", count: 32)
        let text = #"{"leafIndex":0,"leaf":{"globalSequence":1,"enclaveTime":5,"messageType":3,"bodyHash":"\#(hash)"},"#
            + #""proof":["\#(hash)"],"header":\#(header)}"#
        return try EventProofAnswer(json: Array(edit(text).utf8))
    }

    func error(_ edit: (String) -> String) -> String {
        do {
            _ = try answer(edit)
            return "accepted"
        } catch {
            return "\(error.name) \(error.path)"
        }
    }

    @Test func readsAWellFormedAnswer() throws {
        let a = try answer()
        #expect(a.leafIndex == 0 && a.leaf.messageType == 3 && a.header.batchIndex == 0 && a.proof.count == 1)
    }

    @Test func refusesWhatTheRecordsRefuse() {
        #expect(error { $0.replacingOccurrences(of: #""leafIndex":0,"#, with: #""leafIndex":0,"leafIndex":7,"#) }
            == "duplicateKey $.leafIndex")
        #expect(error { $0.replacingOccurrences(of: #""messageType":3"#, with: #""messageType":6"#) }
            == "outOfRange $.leaf.messageType")
        #expect(error { $0.replacingOccurrences(of: #""enclaveTime":5"#, with: #""enclaveTime":5.0"#) }
            == "nonCanonicalNumber $.leaf.enclaveTime")
        #expect(error { $0.replacingOccurrences(of: #""accountCount":2"#, with: #""accountCount":"2""#) }
            == "wrongType $.header.accountCount")
        #expect(error { $0 + "\n{}" } == "trailingData $")
    }
}
