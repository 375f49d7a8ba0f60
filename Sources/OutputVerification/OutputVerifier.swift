import Commitments
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
    /// Name of the first failure's reason, for machines: a `RecordError` name for the
    /// parse checks, an `events.log` reason (§5.2), nil otherwise and when passing.
    public var error: String?
    /// 1-based line of the first failure, for the parse checks.
    public var line: Int?
    /// JSON path of the first failure's value, for the parse checks.
    public var path: String?
}

/// Verifies one epoch of published outputs (docs/COMMITMENTS.md §5) from their bytes,
/// trusting nothing but the expected signer and the EIP-712 domain. Pure: the CLI reads
/// the files and prints the verdicts.
public struct OutputVerifier {
    public var signer: EthereumAddress
    public var domain: EIP712Domain
    /// Expected venue id, when known (from the evidence).
    public var venueID: UInt64?
    /// Called as the checks advance (`VerificationProgress`), for progress lines; nil for none.
    public var progress: (@Sendable (VerificationProgress) -> Void)?

    public init(signer: EthereumAddress, domain: EIP712Domain, venueID: UInt64? = nil,
                progress: (@Sendable (VerificationProgress) -> Void)? = nil) {
        self.signer = signer
        self.domain = domain
        self.venueID = venueID
        self.progress = progress
    }

    /// Collects failures of one check; the first one becomes the verdict's detail.
    struct Check {
        let name: String
        let expected: String
        var checked = 0
        var failures = 0
        var first: (actual: String, detail: String)?
        var firstError: (name: String, line: Int?, path: String?)?

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

        /// A record that could not be read.
        mutating func fail(_ e: RecordLineError) {
            if first == nil { firstError = (e.error.name, e.line, e.error.path) }
            record(false, actual: "line \(e.line)", "\(e)")
        }

        /// A failure with a named reason.
        mutating func fail(_ reason: String, actual: String, _ detail: String) {
            if first == nil { firstError = (reason, nil, nil) }
            record(false, actual: actual, detail)
        }

        func verdict(what: String) -> Verdict {
            if let first {
                let more = failures > 1 ? " (and \(failures - 1) more)" : ""
                return Verdict(check: name, pass: false, expected: expected, actual: first.actual, detail: first.detail + more,
                               error: firstError?.name, line: firstError?.line, path: firstError?.path)
            }
            return Verdict(check: name, pass: true, expected: expected, actual: expected, detail: "\(checked) \(what) checked")
        }
    }

    /// Runs every check of docs/COMMITMENTS.md §5.2 over one epoch's files: `batches` and
    /// `decisions` are the JSON-lines files, `eventsLog` the 49-byte leaf records (nil when
    /// absent), `marketData` the market data lines (nil when absent: docs/MARKETDATA.md §4).
    /// An epoch with no batch (its worker died before the first) passes.
    public func verify(batches: [UInt8], decisions: [UInt8], eventsLog: [UInt8]?, marketData: [UInt8]? = nil) -> [Verdict] {
        var parse = Check("headers.parse", expected: "every line a well-formed header record (§5.1)")
        var venue = Check("headers.venue", expected: venueID.map { "venue \($0)" } ?? "one venue id")
        var digest = Check("headers.digest", expected: "recorded hashes equal recomputed")
        var signature = Check("headers.signature", expected: signer.hex)
        var signerCheck = Check("headers.signer", expected: signer.hex)
        var index = Check("chain.index", expected: "0, 1, 2, … without gaps")
        var previous = Check("chain.previous", expected: "previousHeaderHash = hash of the previous header")
        var sequence = Check("chain.sequence", expected: "firstSequence = previous lastSequence + 1")
        var time = Check("chain.time", expected: "enclave time never decreases")
        var accounts = Check("chain.accounts", expected: "accountCount ≥ 1, never decreasing")
        var consistency = Check("events.consistency", expected: "RFC 6962 consistency proof between consecutive eventsRoots")
        var log = Check("events.log", expected: eventsLog == nil ? "events.log absent: not checked" : "events.log recomputes every eventsRoot")
        var decisionParse = Check("decisions.parse", expected: "every line a well-formed decision record (§5.1)")
        var decisionBatch = Check("decisions.batch", expected: "each decision in an existing batch and its sequence range; counts match")
        var inclusion = Check("decisions.inclusion", expected: "struct hash and RFC 6962 inclusion proof against decisionsRoot")

        // Headers.
        var headers: [BatchHeader] = []
        let headerLines = JSONLines.read(batches, { l throws(RecordError) in try BatchRecord(jsonLine: l) }, progress: reading("batches.jsonl"))
        for (line, result) in headerLines {
            defer { report("headers", line, headerLines.count) }
            let record: BatchRecord, header: BatchHeader, sig: RecoverableSignature, proof: [Hash32]
            do throws(RecordError) {
                record = try result.get()
                (header, sig, proof) = (try record.header(), try record.recoverableSignature(), try record.consistencyProof())
            } catch {
                parse.fail(RecordLineError(line: line, error: error))
                continue
            }
            parse.record(true, "")
            let position = headers.count
            headers.append(header)
            check(header: header, record: record, signature: sig, proof: proof, previous: position > 0 ? headers[position - 1] : nil,
                  position: position, venue: &venue, digest: &digest, signatureCheck: &signature, signerCheck: &signerCheck,
                  index: &index, previousCheck: &previous, sequence: &sequence, time: &time, accounts: &accounts,
                  consistency: &consistency)
        }

        // The event log, when present.
        if let eventsLog {
            checkEventLog(eventsLog, headers: headers, into: &log)
        }

        // Decisions.
        var seen: [UInt64: [UInt64]] = [:]
        let decisionLines = JSONLines.read(decisions, { l throws(RecordError) in try DecisionRecord(jsonLine: l) }, progress: reading("decisions.jsonl"))
        for (line, result) in decisionLines {
            defer { report("decisions", line, decisionLines.count) }
            let record: DecisionRecord, fields: DecisionFields, proof: [Hash32]
            do throws(RecordError) {
                record = try result.get()
                (fields, proof) = (try record.fields(), try record.inclusionProof())
            } catch {
                decisionParse.fail(RecordLineError(line: line, error: error))
                continue
            }
            decisionParse.record(true, "")
            let where_ = "decision line \(line) (batch \(record.batchIndex), leaf \(record.leafIndex))"
            guard record.batchIndex < UInt64(headers.count), headers[Int(record.batchIndex)].batchIndex == record.batchIndex else {
                decisionBatch.record(false, actual: "batch \(record.batchIndex)", "\(where_): no such batch")
                continue
            }
            let header = headers[Int(record.batchIndex)]
            seen[record.batchIndex, default: []].append(record.leafIndex)
            decisionBatch.record(fields.venueId == header.venueId, actual: "venue \(fields.venueId)", "\(where_): venue differs from its header")
            decisionBatch.record(
                (header.firstSequence...max(header.firstSequence, header.lastSequence)).contains(fields.sequence),
                actual: "sequence \(fields.sequence)",
                "\(where_): sequence \(fields.sequence) outside the batch's \(header.firstSequence)…\(header.lastSequence)")
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
            if h.decisionCount == 0 {
                inclusion.record(h.decisionsRoot == RFC6962.emptyRoot, actual: h.decisionsRoot.hex,
                                 "batch \(h.batchIndex): no decisions, but decisionsRoot is not the empty tree's")
            }
        }

        return [
            parse.verdict(what: "headers"), venue.verdict(what: "headers"), digest.verdict(what: "headers"),
            signature.verdict(what: "signatures"), signerCheck.verdict(what: "signer fields"), index.verdict(what: "headers"),
            previous.verdict(what: "links"), sequence.verdict(what: "ranges"), time.verdict(what: "headers"),
            accounts.verdict(what: "headers"), consistency.verdict(what: "proofs"), log.verdict(what: "records and roots"),
            decisionParse.verdict(what: "decisions"), decisionBatch.verdict(what: "decisions and batch counts"),
            inclusion.verdict(what: "struct hashes, proofs and empty roots"),
        ] + checkMarketData(marketData, headers: headers)
    }

    private func check(
        header h: BatchHeader, record: BatchRecord, signature sig: RecoverableSignature, proof: [Hash32], previous: BatchHeader?,
        position: Int, venue: inout Check, digest: inout Check, signatureCheck: inout Check, signerCheck: inout Check,
        index: inout Check, previousCheck: inout Check, sequence: inout Check, time: inout Check, accounts: inout Check,
        consistency: inout Check
    ) {
        let at = "batch \(h.batchIndex) (header \(position + 1))"
        let expectedVenue = venueID ?? previous?.venueId ?? h.venueId
        venue.record(h.venueId == expectedVenue, actual: "venue \(h.venueId)", "\(at): venue \(h.venueId), expected \(expectedVenue)")

        let structHash = h.structHash
        let signed = h.digest(domain: domain)
        digest.record(record.headerHash == structHash.hex && record.digest == signed.hex, actual: record.headerHash,
                      "\(at): recorded headerHash/digest are not the hashes of its fields")
        let recovered = try? Secp256k1.recoverAddress(digest: signed.bytes, signature: sig)
        signatureCheck.record(recovered == signer, actual: recovered?.hex ?? "unrecoverable",
                              "\(at): signature recovers to \(recovered?.hex ?? "nothing")")
        signerCheck.record(record.signer == signer.hex, actual: record.signer,
                           "\(at): the record names signer \(record.signer), expected \(signer.hex)")

        index.record(h.batchIndex == UInt64(position), actual: "\(h.batchIndex)", "header \(position + 1): batch index \(h.batchIndex), expected \(position)")
        let expectedPrevious = previous?.structHash ?? .zero
        previousCheck.record(h.previousHeaderHash == expectedPrevious, actual: h.previousHeaderHash.hex,
                             "\(at): previousHeaderHash \(h.previousHeaderHash.hex), expected \(expectedPrevious.hex)")
        let expectedFirst = (previous?.lastSequence ?? 0) &+ 1
        sequence.record(h.firstSequence == expectedFirst && h.firstSequence <= h.lastSequence,
                        actual: "\(h.firstSequence)…\(h.lastSequence)", "\(at): range \(h.firstSequence)…\(h.lastSequence), expected to start at \(expectedFirst)")
        if let previous {
            time.record(h.enclaveTime >= previous.enclaveTime, actual: "\(h.enclaveTime)", "\(at): time \(h.enclaveTime) before \(previous.enclaveTime)")
        }
        accounts.record(h.accountCount >= max(1, previous?.accountCount ?? 1), actual: "\(h.accountCount)",
                        "\(at): accountCount \(h.accountCount), expected at least \(max(1, previous?.accountCount ?? 1))")

        let fromSize = record.eventsConsistency.fromSize
        if let previous {
            let ok = fromSize == previous.lastSequence && RFC6962.verifyConsistency(
                oldSize: previous.lastSequence, newSize: h.lastSequence, oldRoot: previous.eventsRoot, newRoot: h.eventsRoot, proof: proof)
            consistency.record(ok, actual: "proof fails", "\(at): events log is not an extension of batch \(previous.batchIndex)'s")
        } else {
            consistency.record(fromSize == 0 && proof.isEmpty || h.batchIndex != 0, actual: "from \(fromSize)", "\(at): the first batch must start the log")
        }
    }

    /// Every record's form (length, sequence, time, type), then every header's
    /// `eventsRoot` recomputed; reasons `length`, `sequence`, `time`, `type`, `short`, `root`.
    private func checkEventLog(_ bytes: [UInt8], headers: [BatchHeader], into check: inout Check) {
        guard bytes.count % EventLeaf.byteCount == 0 else {
            check.fail("length", actual: "\(bytes.count) bytes", "events.log is not a whole number of 49-byte records")
            return
        }
        let count = bytes.count / EventLeaf.byteCount
        var lastTime: UInt64 = 0
        for i in 0..<count {
            let leaf = EventLeaf(bytes[(i * EventLeaf.byteCount)..<((i + 1) * EventLeaf.byteCount)])!
            if leaf.globalSequence != UInt64(i + 1) {
                check.fail("sequence", actual: "record \(i)", "events.log record \(i) has sequence \(leaf.globalSequence), expected \(i + 1)")
                return
            }
            if leaf.enclaveTime < lastTime {
                check.fail("time", actual: "record \(i)", "events.log record \(i) is earlier than the one before")
                return
            }
            if !EventLeaf.messageTypes.contains(leaf.messageType) {
                check.fail("type", actual: "record \(i)", "events.log record \(i) has message type \(leaf.messageType), not 3, 4, 5 or 10")
                return
            }
            lastTime = leaf.enclaveTime
            check.record(true, "")
            report("events", i + 1, count, unit: "events")
        }
        var tree = MerkleTree()
        let covered = Int(min(UInt64(count), headers.last?.lastSequence ?? 0))
        for h in headers {
            guard h.lastSequence <= UInt64(count) else {
                check.fail("short", actual: "\(count) records", "batch \(h.batchIndex) covers \(h.lastSequence) events; events.log has \(count)")
                return
            }
            while tree.count < Int(h.lastSequence) {
                let i = tree.count
                tree.append(RFC6962.leafHash(bytes[(i * EventLeaf.byteCount)..<((i + 1) * EventLeaf.byteCount)]))
                report("eventsRoots", tree.count, covered, unit: "events")
            }
            if tree.root != h.eventsRoot {
                check.fail("root", actual: tree.root.hex, "batch \(h.batchIndex): events.log gives a different eventsRoot")
            } else {
                check.record(true, "")
            }
        }
    }
}
