import Testing
import VenueTools

/// The end-of-run checks of scripts/chaos.sh on hand-built event logs: a clean run passes,
/// and each way of losing or doubling a request is named.
@Suite("Chaos check")
struct ChaosCheckTests {
    static func hash(_ n: UInt8) -> String { AnswerRecord.hash([n]) }

    /// The 49-byte leaf of docs/COMMITMENTS.md §2.1.
    static func leafBytes(_ sequence: UInt64, time: UInt64, type: UInt8, body: UInt8) -> [UInt8] {
        let digest = hash(body).dropFirst(2)
        var bytes = withUnsafeBytes(of: sequence.bigEndian, Array.init) + withUnsafeBytes(of: time.bigEndian, Array.init) + [type]
        var i = digest.startIndex
        while i < digest.endIndex {
            let j = digest.index(i, offsetBy: 2)
            bytes.append(UInt8(digest[i..<j], radix: 16)!)
            i = j
        }
        return bytes
    }

    static func leaves(_ bodies: [UInt8], type: UInt8 = 3) -> [ChaosCheck.Leaf] {
        ChaosCheck.leaves(bodies.enumerated().flatMap { leafBytes(UInt64($0 + 1), time: UInt64(100 + $0), type: type, body: $1) })!
    }

    static func receipt(_ id: String, status: String, sequence: UInt64, body: UInt8, earlier: [UInt8] = []) -> AnswerRecord {
        AnswerRecord(client: "c0", request: id, kind: "receipt", status: status, globalSequence: sequence,
                     enclaveTime: 99 + sequence, messageType: 3, bodyHash: hash(body), earlierBodyHashes: earlier.map(hash),
                     sends: 1 + earlier.count)
    }

    @Test func aCleanRunPasses() {
        // o2 was resent after a restart; its first copy (body 2) had been sequenced: duplicate.
        let answers = [
            Self.receipt("o1", status: "accepted", sequence: 1, body: 1),
            Self.receipt("o2", status: "duplicate", sequence: 2, body: 12, earlier: [2]),
            Self.receipt("o3", status: "rejected", sequence: 3, body: 3),
        ]
        let report = ChaosCheck.check(answers: answers, leaves: Self.leaves([1, 2, 3]), lastPublishedSequence: 3, decisionLines: [])
        #expect(report.violations == [])
        #expect(report.sequencedAnswers == 2 && report.duplicateAnswers == 1)
    }

    @Test func aRequestExecutedTwiceIsNamed() {
        // Both copies of o2 were sequenced: the resend executed it again.
        let answers = [Self.receipt("o2", status: "accepted", sequence: 3, body: 12, earlier: [2])]
        let report = ChaosCheck.check(answers: answers, leaves: Self.leaves([1, 2, 12]), lastPublishedSequence: 3, decisionLines: [])
        #expect(report.violations.contains { $0.contains("2 copies sequenced") }, "\(report.violations)")
        #expect(!report.violations.contains { $0.contains("holds body") })
    }

    @Test func aResentCancelMayBeSequencedTwice() {
        // Cancels are not remembered (DURABILITY §7): the resent copy is sequenced again.
        var cancel = Self.receipt("cancel:o1", status: "rejected", sequence: 3, body: 13, earlier: [3])
        cancel.operation = "cancel"
        let report = ChaosCheck.check(answers: [cancel], leaves: Self.leaves([1, 3, 13]), lastPublishedSequence: 3, decisionLines: [])
        #expect(report.violations == [])
    }

    @Test func aReceiptMissingFromTheLogOrUnpublishedIsNamed() {
        let answers = [Self.receipt("o1", status: "accepted", sequence: 4, body: 1),
                       Self.receipt("o3", status: "accepted", sequence: 3, body: 3)]
        let report = ChaosCheck.check(answers: answers, leaves: Self.leaves([9, 2, 3]), lastPublishedSequence: 2, decisionLines: [])
        #expect(report.violations.contains { $0.contains("o1: global sequence 4 is not in events.log") }, "\(report.violations)")
        #expect(report.violations.contains { $0.contains("o3: global sequence 3 is past the last published header") })
    }

    @Test func aDuplicateMustNameTheClientsOwnEarlierCopy() {
        // The duplicate points at leaf 2, which holds another body than o2's first copy.
        let answers = [Self.receipt("o2", status: "duplicate", sequence: 2, body: 12, earlier: [7])]
        let report = ChaosCheck.check(answers: answers, leaves: Self.leaves([1, 2]), lastPublishedSequence: 2, decisionLines: [])
        #expect(report.violations.contains { $0.contains("leaf 2 holds body") }, "\(report.violations)")
    }

    @Test func twoClientsToldOneSequenceAndTwiceLoggedBodiesAndDecisionsAreNamed() {
        var other = Self.receipt("x", status: "accepted", sequence: 1, body: 1)
        other.client = "c1"
        let answers = [Self.receipt("o1", status: "accepted", sequence: 1, body: 1), other]
        let decision = #"{"structHash":"0xab"}"#
        let report = ChaosCheck.check(answers: answers, leaves: Self.leaves([1, 1]), lastPublishedSequence: 2,
                                      decisionLines: [decision, decision])
        #expect(report.violations.contains { $0.contains("were both told global sequence 1") }, "\(report.violations)")
        #expect(report.violations.contains { $0.contains("sequenced 2 times") })
        #expect(report.violations.contains { $0.contains("decision 0xab appears twice") })
    }

    @Test func aLogThatIsNotWholeLeavesIsRefused() {
        #expect(ChaosCheck.leaves([UInt8](repeating: 0, count: 50)) == nil)
    }
}
