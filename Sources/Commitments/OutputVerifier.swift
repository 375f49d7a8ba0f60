#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SealCrypto

/// One named check of `attestation verify-outputs` and its outcome over every record.
public struct Verdict: Codable, Equatable, Sendable {
    public var check: String
    public var pass: Bool
    public var expected: String
    public var actual: String
    /// The first failure (record and reason), or what was checked.
    public var detail: String
}

/// Verifies one epoch of published outputs (docs/COMMITMENTS.md §5) from their bytes,
/// trusting nothing but the expected signer and the EIP-712 domain. Pure: the CLI reads
/// the files and prints the verdicts.
public struct OutputVerifier {
    public var signer: EthereumAddress
    public var domain: EIP712Domain
    /// Expected venue id, when known (from the evidence).
    public var venueID: UInt64?

    public init(signer: EthereumAddress, domain: EIP712Domain, venueID: UInt64? = nil) {
        self.signer = signer
        self.domain = domain
        self.venueID = venueID
    }

    /// Collects failures of one check; the first one becomes the verdict's detail.
    struct Check {
        let name: String
        let expected: String
        var checked = 0
        var failures = 0
        var first: (actual: String, detail: String)?

        init(_ name: String, expected: String) {
            self.name = name
            self.expected = expected
        }

        mutating func record(_ ok: Bool, actual: @autoclosure () -> String = "", _ detail: @autoclosure () -> String) {
            checked += 1
            if !ok {
                failures += 1
                if first == nil { first = (actual(), detail()) }
            }
        }

        func verdict(what: String) -> Verdict {
            if let first {
                let more = failures > 1 ? " (and \(failures - 1) more)" : ""
                return Verdict(check: name, pass: false, expected: expected, actual: first.actual, detail: first.detail + more)
            }
            return Verdict(check: name, pass: true, expected: expected, actual: expected, detail: "\(checked) \(what) checked")
        }
    }

    public func verify(batches: [UInt8], decisions: [UInt8], eventsLog: [UInt8]?) -> [Verdict] {
        var parse = Check("headers.parse", expected: "well-formed header records")
        var venue = Check("headers.venue", expected: venueID.map { "venue \($0)" } ?? "one venue id")
        var digest = Check("headers.digest", expected: "recorded hashes equal recomputed")
        var signature = Check("headers.signature", expected: signer.hex)
        var index = Check("chain.index", expected: "0, 1, 2, … without gaps")
        var previous = Check("chain.previous", expected: "previousHeaderHash = hash of the previous header")
        var sequence = Check("chain.sequence", expected: "firstSequence = previous lastSequence + 1")
        var time = Check("chain.time", expected: "enclave time never decreases")
        var consistency = Check("events.consistency", expected: "RFC 6962 consistency proof between consecutive eventsRoots")
        var log = Check("events.log", expected: eventsLog == nil ? "events.log absent: not checked" : "events.log recomputes every eventsRoot")
        var decisionParse = Check("decisions.parse", expected: "well-formed decision records")
        var decisionBatch = Check("decisions.batch", expected: "each decision in an existing batch; counts match")
        var inclusion = Check("decisions.inclusion", expected: "struct hash and RFC 6962 inclusion proof against decisionsRoot")

        // Headers.
        var headers: [BatchHeader] = []
        var records: [BatchRecord] = []
        for (n, line) in Self.lines(batches).enumerated() {
            guard let record = try? JSONDecoder().decode(BatchRecord.self, from: Data(line)) else {
                parse.record(false, actual: "line \(n + 1)", "line \(n + 1) is not a header record")
                continue
            }
            do {
                let header = try record.header()
                let sig = try record.recoverableSignature()
                let proof = try record.consistencyProof()
                parse.record(true, "")
                headers.append(header)
                records.append(record)
                check(header: header, record: record, signature: sig, proof: proof, previous: headers.count > 1 ? headers[headers.count - 2] : nil,
                      previousRecord: records.count > 1 ? records[records.count - 2] : nil, position: headers.count - 1,
                      venue: &venue, digest: &digest, signatureCheck: &signature, index: &index, previousCheck: &previous,
                      sequence: &sequence, time: &time, consistency: &consistency)
            } catch {
                parse.record(false, actual: "line \(n + 1)", "line \(n + 1): \(error)")
            }
        }
        if headers.isEmpty { parse.record(false, actual: "no headers", "batches.jsonl holds no header") }

        // The event log, when present.
        if let eventsLog {
            checkEventLog(eventsLog, headers: headers, into: &log)
        }

        // Decisions.
        var seen: [UInt64: [UInt64]] = [:]
        for (n, line) in Self.lines(decisions).enumerated() {
            guard let record = try? JSONDecoder().decode(DecisionRecord.self, from: Data(line)),
                  let fields = try? record.fields(), let proof = try? record.inclusionProof()
            else {
                decisionParse.record(false, actual: "line \(n + 1)", "line \(n + 1) is not a decision record")
                continue
            }
            decisionParse.record(true, "")
            let where_ = "decision line \(n + 1) (batch \(record.batchIndex), leaf \(record.leafIndex))"
            guard record.batchIndex < UInt64(headers.count), headers[Int(record.batchIndex)].batchIndex == record.batchIndex else {
                decisionBatch.record(false, actual: "batch \(record.batchIndex)", "\(where_): no such batch")
                continue
            }
            let header = headers[Int(record.batchIndex)]
            seen[record.batchIndex, default: []].append(record.leafIndex)
            decisionBatch.record(fields.venueId == header.venueId, actual: "venue \(fields.venueId)", "\(where_): venue differs from its header")
            let structHash = fields.structHash
            inclusion.record(structHash.hex == record.structHash, actual: record.structHash, "\(where_): structHash is not the hash of its fields")
            let ok = RFC6962.verifyInclusion(
                leafHash: RFC6962.leafHash(structHash.bytes), index: record.leafIndex, treeSize: header.decisionCount,
                proof: proof, root: header.decisionsRoot)
            inclusion.record(ok, actual: "proof fails", "\(where_): inclusion proof does not reach decisionsRoot")
        }
        for h in headers {
            let leaves = seen[h.batchIndex] ?? []
            let expected = (0..<h.decisionCount).map { $0 }
            decisionBatch.record(leaves == expected, actual: "\(leaves.count) decisions",
                                 "batch \(h.batchIndex): header commits to \(h.decisionCount) decisions, file has \(leaves.count) in leaf order \(leaves == expected ? "" : "(wrong)")")
        }

        return [
            parse.verdict(what: "headers"), venue.verdict(what: "headers"), digest.verdict(what: "headers"),
            signature.verdict(what: "signatures"), index.verdict(what: "headers"), previous.verdict(what: "links"),
            sequence.verdict(what: "ranges"), time.verdict(what: "headers"), consistency.verdict(what: "proofs"),
            log.verdict(what: "roots"), decisionParse.verdict(what: "decisions"), decisionBatch.verdict(what: "decisions and batch counts"),
            inclusion.verdict(what: "struct hashes and proofs"),
        ]
    }

    private func check(
        header h: BatchHeader, record: BatchRecord, signature sig: RecoverableSignature, proof: [Hash32], previous: BatchHeader?,
        previousRecord: BatchRecord?, position: Int, venue: inout Check, digest: inout Check, signatureCheck: inout Check,
        index: inout Check, previousCheck: inout Check, sequence: inout Check, time: inout Check, consistency: inout Check
    ) {
        let at = "batch \(h.batchIndex) (line \(position + 1))"
        let expectedVenue = venueID ?? previous?.venueId ?? h.venueId
        venue.record(h.venueId == expectedVenue, actual: "venue \(h.venueId)", "\(at): venue \(h.venueId), expected \(expectedVenue)")

        let structHash = h.structHash
        let signed = h.digest(domain: domain)
        digest.record(record.headerHash == structHash.hex && record.digest == signed.hex, actual: record.headerHash,
                      "\(at): recorded headerHash/digest are not the hashes of its fields")
        let recovered = try? Secp256k1.recoverAddress(digest: signed.bytes, signature: sig)
        signatureCheck.record(recovered == signer, actual: recovered?.hex ?? "unrecoverable",
                              "\(at): signature recovers to \(recovered?.hex ?? "nothing")")

        index.record(h.batchIndex == UInt64(position), actual: "\(h.batchIndex)", "line \(position + 1): batch index \(h.batchIndex), expected \(position)")
        let expectedPrevious = previous?.structHash ?? .zero
        previousCheck.record(h.previousHeaderHash == expectedPrevious, actual: h.previousHeaderHash.hex,
                             "\(at): previousHeaderHash \(h.previousHeaderHash.hex), expected \(expectedPrevious.hex)")
        let expectedFirst = (previous?.lastSequence ?? 0) + 1
        sequence.record(h.firstSequence == expectedFirst && h.firstSequence <= h.lastSequence,
                        actual: "\(h.firstSequence)…\(h.lastSequence)", "\(at): range \(h.firstSequence)…\(h.lastSequence), expected to start at \(expectedFirst)")
        if let previous {
            time.record(h.enclaveTime >= previous.enclaveTime, actual: "\(h.enclaveTime)", "\(at): time \(h.enclaveTime) before \(previous.enclaveTime)")
        }

        let fromSize = record.eventsConsistency.fromSize
        if let previous {
            let ok = fromSize == previous.lastSequence && RFC6962.verifyConsistency(
                oldSize: previous.lastSequence, newSize: h.lastSequence, oldRoot: previous.eventsRoot, newRoot: h.eventsRoot, proof: proof)
            consistency.record(ok, actual: "proof fails", "\(at): events log is not an extension of batch \(previous.batchIndex)'s")
        } else {
            consistency.record(fromSize == 0 && proof.isEmpty || h.batchIndex != 0, actual: "from \(fromSize)",
                               "\(at): the first batch must start the log")
        }
    }

    private func checkEventLog(_ bytes: [UInt8], headers: [BatchHeader], into check: inout Check) {
        guard bytes.count % EventLeaf.byteCount == 0 else {
            check.record(false, actual: "\(bytes.count) bytes", "events.log is not a whole number of 49-byte records")
            return
        }
        let count = bytes.count / EventLeaf.byteCount
        var tree = MerkleTree()
        var lastTime: UInt64 = 0
        for h in headers {
            guard h.lastSequence <= UInt64(count) else {
                check.record(false, actual: "\(count) records", "batch \(h.batchIndex) covers \(h.lastSequence) events; events.log has \(count)")
                return
            }
            while tree.count < Int(h.lastSequence) {
                let i = tree.count
                let record = bytes[(i * EventLeaf.byteCount)..<((i + 1) * EventLeaf.byteCount)]
                guard let leaf = EventLeaf(record), leaf.globalSequence == UInt64(i + 1), leaf.enclaveTime >= lastTime else {
                    check.record(false, actual: "record \(i)", "events.log record \(i) is out of sequence or time order")
                    return
                }
                lastTime = leaf.enclaveTime
                tree.append(RFC6962.leafHash(record))
            }
            check.record(tree.root == h.eventsRoot, actual: tree.root.hex, "batch \(h.batchIndex): events.log gives a different eventsRoot")
        }
    }

    /// Newline-separated records, empty lines skipped.
    static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        bytes.split(separator: 0x0a, omittingEmptySubsequences: true)
    }
}
