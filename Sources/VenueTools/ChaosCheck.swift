import Commitments
import Foundation

/// The end-of-run checks of `scripts/chaos.sh` (docs/DURABILITY.md, "Chaos"): every
/// answer the clients recorded against the published event log, the headers and the
/// decisions. Pure: the caller reads the files.
public enum ChaosCheck {
    /// One leaf of `outputs/events.log` (docs/COMMITMENTS.md §2.1).
    public struct Leaf: Equatable, Sendable {
        public var sequence: UInt64
        public var time: UInt64
        public var type: UInt8
        public var bodyHash: String
    }

    public struct Report: Codable, Equatable, Sendable {
        /// Answers that name their own leaf (accepted, rejected, public acks), all checked.
        public var sequencedAnswers = 0
        /// Answers that name an earlier copy's leaf (`duplicate`, resent `duplicateDeposit`).
        public var duplicateAnswers = 0
        /// Answers with no outcome (`missing`, `unknown`): each still in at most one leaf.
        public var unanswered = 0
        public var leaves = 0
        /// `lastSequence` of the last published header (0 with none).
        public var lastPublishedSequence: UInt64 = 0
        public var decisions = 0
        /// What is wrong; empty when the run passes.
        public var violations: [String] = []
    }

    /// Parses `events.log`; nil if its size is not a multiple of 49 bytes.
    public static func leaves(_ log: [UInt8]) -> [Leaf]? {
        guard log.count % 49 == 0 else { return nil }
        func u64(_ at: Int) -> UInt64 { log[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return stride(from: 0, to: log.count, by: 49).map { o in
            Leaf(sequence: u64(o), time: u64(o + 8), type: log[o + 16],
                 bodyHash: Hash32(Array(log[(o + 17)..<(o + 49)])).hex)
        }
    }

    /// `lastSequence` of the last line of `batches.jsonl` (0 when empty).
    public static func lastPublishedSequence(_ batches: String) throws -> UInt64 {
        guard let line = batches.split(separator: "\n").last else { return 0 }
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        guard let n = object?["lastSequence"] as? NSNumber else {
            throw CheckError.malformed("batches.jsonl: no lastSequence")
        }
        return n.uint64Value
    }

    public enum CheckError: Error { case malformed(String) }

    /// Checks `answers` against the event log `leaves`, the published `lastPublishedSequence`
    /// and the `decisions.jsonl` lines.
    public static func check(
        answers: [AnswerRecord], leaves: [Leaf], lastPublishedSequence: UInt64, decisionLines: [String]
    ) -> Report {
        var report = Report(leaves: leaves.count, lastPublishedSequence: lastPublishedSequence)
        var bad: [String] = []
        var byHash: [String: [Leaf]] = [:]
        for (i, leaf) in leaves.enumerated() {
            if leaf.sequence != UInt64(i + 1) { bad.append("events.log leaf \(i) has sequence \(leaf.sequence)") }
            byHash[leaf.bodyHash, default: []].append(leaf)
        }
        for (hash, list) in byHash.sorted(by: { $0.key < $1.key }) where list.count > 1 {
            bad.append("one frame body \(hash) sequenced \(list.count) times: \(list.map(\.sequence))")
        }
        var claimed: [UInt64: String] = [:]
        for a in answers {
            let who = "\(a.client) \(a.request)"
            let copies = Set(([a.bodyHash] + a.earlierBodyHashes).filter { !$0.isEmpty })
            let sequenced = copies.flatMap { byHash[$0] ?? [] }
            // Cancels are not remembered (docs/DURABILITY.md §7): a resent cancel whose
            // first copy was sequenced is sequenced again, and finds no order.
            if sequenced.count > 1 && a.operation != "cancel" {
                bad.append("\(who): \(sequenced.count) copies sequenced \(sequenced.map(\.sequence))")
            }
            if a.claimsOwnLeaf {
                report.sequencedAnswers += 1
                if let other = claimed.updateValue(who, forKey: a.globalSequence) {
                    bad.append("\(who) and \(other) were both told global sequence \(a.globalSequence)")
                }
                expectLeaf(a, who: who, hashes: [a.bodyHash], leaves: leaves, last: lastPublishedSequence, into: &bad)
            } else if a.claimsEarlierCopy {
                report.duplicateAnswers += 1
                let earlier = a.kind == "refused" ? copies : Set(a.earlierBodyHashes)
                if a.kind == "refused" {
                    if sequenced.count != 1 {
                        bad.append("\(who): resent deposit refused as duplicate, but no copy in events.log")
                    }
                } else {
                    expectLeaf(a, who: who, hashes: earlier, leaves: leaves, last: lastPublishedSequence, into: &bad)
                }
            } else if a.kind == "missing" || a.kind == "unknown" {
                report.unanswered += 1
            } else if !sequenced.isEmpty && !(a.kind == "refused" && a.status == "stalePrice" && a.sends > 1) {
                // Not sequenced, refused: no copy may be in the log (a resent price refused
                // as stale was sequenced under its first copy).
                bad.append("\(who): answered \(a.kind) \(a.status) but sequenced as \(sequenced.map(\.sequence))")
            }
        }
        var seenDecisions: Set<String> = []
        for line in decisionLines where !line.isEmpty {
            report.decisions += 1
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            guard let structHash = object?["structHash"] as? String else {
                bad.append("decisions.jsonl: a line without structHash")
                continue
            }
            if !seenDecisions.insert(structHash).inserted { bad.append("decision \(structHash) appears twice") }
        }
        report.violations = bad
        return report
    }

    /// The answer's global sequence names a leaf with its time, its message type and the
    /// hash of one of `hashes`, covered by a published header.
    private static func expectLeaf(
        _ a: AnswerRecord, who: String, hashes: Set<String>, leaves: [Leaf], last: UInt64, into bad: inout [String]
    ) {
        guard a.globalSequence >= 1, a.globalSequence <= UInt64(leaves.count) else {
            bad.append("\(who): global sequence \(a.globalSequence) is not in events.log (\(leaves.count) leaves)")
            return
        }
        let leaf = leaves[Int(a.globalSequence - 1)]
        if !hashes.contains(leaf.bodyHash) {
            bad.append("\(who): leaf \(a.globalSequence) holds body \(leaf.bodyHash), not the client's")
        }
        if leaf.time != a.enclaveTime {
            bad.append("\(who): leaf \(a.globalSequence) time \(leaf.time) ≠ \(a.enclaveTime)")
        }
        if leaf.type != a.messageType {
            bad.append("\(who): leaf \(a.globalSequence) type \(leaf.type) ≠ \(a.messageType)")
        }
        if a.globalSequence > last {
            bad.append("\(who): global sequence \(a.globalSequence) is past the last published header (\(last))")
        }
    }
}
