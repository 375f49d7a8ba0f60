import Attestation
import Client
import Commitments
import Foundation
import OutputVerification
import SealCrypto
import TestSupport
import Testing
import Wire

/// `GET /v1/inputs?batch=I` and `GET /v1/funding?batch=I` on a real host and worker
/// (docs/COMMITMENTS.md §4.1–§4.3): every published batch's answer is its lines of
/// `inputs.jsonl` and `funding.jsonl` byte for byte; each served input rebuilds its frame
/// body and is proven in the signed event log over the same API, each funding record is
/// signed by the attested signer; `GET /v1/events?batch=I` is the batch's slice of
/// `events.log`; bad parameters get the documented typed errors; the files pass
/// `verify-outputs --config` with funding checked, and so does the live API (`--url`).
@Suite("Public inputs and funding over HTTP", .serialized)
struct PublicInputsHTTPTests {
    /// The demo venue with market 1 paying funding every 0.3 s, so a short run makes payments.
    static func fastFundingVenue(in directory: URL) throws -> String {
        var config = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: Binaries.venueConfig))) as? [String: Any])
        var markets = try #require(config["markets"] as? [[String: Any]])
        var funding = try #require(markets[0]["funding"] as? [String: Any])
        funding["intervalNanos"] = 300_000_000
        markets[0]["funding"] = funding
        config["markets"] = markets
        let path = directory.appendingPathComponent("venue-fast-funding.json").path
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The lines of a JSON-lines file whose `sequence` lies in `range`, in file order.
    static func lines(_ bytes: [UInt8], sequences range: ClosedRange<UInt64>) throws -> [[UInt8]] {
        struct Stub: Decodable { var sequence: UInt64 }
        return try bytes.split(separator: 0x0a).map(Array.init).filter {
            range.contains(try JSONDecoder().decode(Stub.self, from: Data($0)).sequence)
        }
    }

    /// The top-level elements of a JSON array answer, as their exact bytes.
    static func elements(_ body: [UInt8]) throws -> [[UInt8]] {
        guard let elements = RecordArray.elements(body) else { throw TestFailure("not a record array") }
        return elements
    }

    static func array(_ lines: [[UInt8]]) -> [UInt8] {
        Array("[".utf8) + Array(lines.joined(separator: Array(",".utf8))) + Array("]".utf8)
    }

    @Test func servedLinesAreTheFilesLinesAndVerify() throws {
        let scratch = try makeScratchDirectory("inputs-http-venue")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let venue = try Self.fastFundingVenue(in: scratch)
        let host = try HostProcess(label: "inputs-http", venueConfig: venue)
        let http = host.httpAddress
        let evidence = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        let signer = try #require(EthereumAddress(hex: evidence.signer))
        let domain = EIP712Domain(name: "Sealstream", version: "1", chainId: evidence.chainId,
                                  verifyingContract: try #require(EthereumAddress(hex: evidence.verifyingContract)))
        let trader = try Trader(address: host.address, accountID: 61, name: "inputs-http")
        let prices = try Connection(address: host.address)
        var last: UInt64 = 0
        for round in 0..<4 {
            usleep(350_000)  // past the funding interval: the next event with a valid mark pays
            try Trader.publishPrice(over: prices, market: 1, price: 60_000_000_000 + Int64(round) * 100_000)
            last = try trader.order("o\(round)").globalSequence
        }
        let deadline = Date().addingTimeInterval(10)
        while try HTTPFetch.get(http, path: "/v1/events/proof?sequence=\(last)").status != 200, Date() < deadline {
            usleep(20_000)
        }
        let headers = try JSONDecoder().decode([BatchRecord].self,
                                               from: Data(try HTTPFetch.get(http, path: "/v1/batches?limit=1000").body))
        #expect(!headers.isEmpty && headers.last!.lastSequence >= last)
        var served: [(header: BatchRecord, inputs: [UInt8], funding: [UInt8])] = []
        var servedEvents: [[UInt8]] = []
        for h in headers {
            let inputs = try HTTPFetch.get(http, path: "/v1/inputs?batch=\(h.batchIndex)")
            let funding = try HTTPFetch.get(http, path: "/v1/funding?batch=\(h.batchIndex)")
            let events = try HTTPFetch.get(http, path: "/v1/events?batch=\(h.batchIndex)")
            #expect(inputs.status == 200 && funding.status == 200 && events.status == 200)
            served.append((h, inputs.body, funding.body))
            servedEvents.append(events.body)
        }

        // Bad parameters: the documented typed errors.
        for (path, status, code) in [("/v1/inputs", 400, "missingParameter"), ("/v1/inputs?batch=x", 400, "badParameter"),
                                     ("/v1/funding?batch=00", 400, "badParameter"), ("/v1/funding?batch=1&batch=1", 400, "duplicateParameter"),
                                     ("/v1/inputs?batch=0&from=1", 400, "unknownParameter"),
                                     ("/v1/funding?batch=\(headers.count + 1000)", 404, "notFound"),
                                     ("/v1/events?batch=\(headers.count + 1000)", 404, "notFound"),
                                     ("/v1/events?batch=-1", 400, "badParameter")] {
            let r = try HTTPFetch.get(http, path: path)
            let body = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: String]
            #expect(r.status == status && body?["code"] == code, "\(path): \(r.status) \(String(decoding: r.body, as: UTF8.self))")
        }

        // Each served input is proven in the signed event log; each payment is signed.
        var kinds: Set<String> = [], payments = 0
        for (header, servedInputs, servedFunding) in served {
            let range = header.firstSequence...header.lastSequence
            for line in try Self.elements(servedInputs) {
                let record = try PublicInputRecord(jsonLine: line)
                #expect(range.contains(record.sequence))
                kinds.insert(record.messageType == .oraclePrice ? "price" : "deposit")
                let proof = try HTTPFetch.get(http, path: "/v1/events/proof?sequence=\(record.sequence)")
                try EventInclusion.verify(frameBody: record.body, type: record.messageType, globalSequence: record.sequence,
                                          enclaveTime: record.enclaveTime, answer: proof.body, signer: signer, domain: domain)
            }
            for line in try Self.elements(servedFunding) {
                let record = try FundingRecord(jsonLine: line)
                #expect(range.contains(record.fields.sequence) && record.fields.venueId == evidence.venueID)
                let digest = record.fields.digest(domain: domain)
                #expect(record.digest == digest.hex && record.structHash == record.fields.structHash.hex)
                let r = try #require(Hash32(hex: record.signature.r)), s = try #require(Hash32(hex: record.signature.s))
                let signature = try RecoverableSignature(r: r.bytes, s: s.bytes, v: record.signature.v)
                #expect(try Secp256k1.recoverAddress(digest: digest.bytes, signature: signature) == signer)
                payments += 1
            }
        }
        #expect(kinds == ["price", "deposit"] && payments >= 1, "kinds \(kinds), \(payments) funding payments")

        // The same checks over the live API, as an auditor without the data directory runs them.
        let evidenceFile = scratch.appendingPathComponent("evidence.json")
        try Data(try evidence.encoded()).write(to: evidenceFile)
        let live = try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--url", "http://\(http)/", "--evidence", evidenceFile.path, "--config", venue, "--json"])
        #expect(live.status == 0, "\(live.stdout)\(live.stderr)")
        let liveChecks = (try JSONSerialization.jsonObject(with: Data(live.stdout.utf8)) as? [String: Any])?["checks"]
            as? [[String: Any]] ?? []
        for name in ["events.log", "inputs.leaf", "inputs.signature", "funding.records", "marketdata.root"] {
            let v = liveChecks.first { $0["check"] as? String == name }
            #expect(v?["pass"] as? Bool == true && (v?["detail"] as? String)?.hasPrefix("0 ") == false,
                    "\(name) over HTTP: \(String(describing: v))")
        }
        #expect(host.stop() == 0)

        // After the stop the files hold every line: each batch's answer is its lines, verbatim.
        let outputs = host.dataDirectory.appendingPathComponent("outputs")
        let inputs = Array(try Data(contentsOf: outputs.appendingPathComponent("inputs.jsonl")))
        let funding = Array(try Data(contentsOf: outputs.appendingPathComponent("funding.jsonl")))
        for (header, servedInputs, servedFunding) in served {
            let range = header.firstSequence...header.lastSequence
            #expect(servedInputs == Self.array(try Self.lines(inputs, sequences: range)), "inputs of batch \(header.batchIndex)")
            #expect(servedFunding == Self.array(try Self.lines(funding, sequences: range)), "funding of batch \(header.batchIndex)")
        }
        #expect(served.map { String(decoding: $0.funding, as: UTF8.self) }.joined().contains("\"market\":1"))

        // Each batch's event leaves are its slice of the file.
        let events = Array(try Data(contentsOf: outputs.appendingPathComponent("events.log")))
        for (header, leaves) in zip(headers, servedEvents) {
            let slice = events[(Int(header.firstSequence) - 1) * EventLeaf.byteCount..<Int(header.lastSequence) * EventLeaf.byteCount]
            #expect(leaves == Array(slice), "event leaves of batch \(header.batchIndex)")
        }

        // And the files verify, funding schedule and marks included.
        let run = try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path, "--config", venue, "--json"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let checks = (try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])?["checks"] as? [[String: Any]]
        for name in ["inputs.leaf", "inputs.signature", "funding.parse", "funding.records"] {
            let v = checks?.first { $0["check"] as? String == name }
            #expect(v?["pass"] as? Bool == true && (v?["expected"] as? String)?.contains("not checked") == false,
                    "\(name): \(String(describing: v))")
        }
    }
}
