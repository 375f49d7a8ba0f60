import Foundation
import Journal
import SealCrypto
import Testing
@testable import Host

/// The verified local prefix of docs/REPLICATION.md §4 step 3, without NATS: the binary
/// search and the byte-for-byte match of a stream message against the local segments.
@Suite("Verified local prefix")
struct VerifiedPrefixTests {
    @Test(arguments: [0, 1, 2, 7, 100, 200_000] as [UInt64])
    func theSearchFindsTheLastMatchingMessageInLogarithmicProbes(last: UInt64) {
        let bound = UInt64(64 - (last + 1).leadingZeroBitCount)  // ⌈log2(last + 1)⌉ or one more
        for k in Set([0, 1, last / 3, last / 2, last > 0 ? last - 1 : 0, last].filter { $0 <= last }) {
            var asked: [UInt64] = []
            let found = NATSJournal.lastMatching(last: last) { (m: UInt64) -> Bool in
                asked.append(m)
                return m <= k
            }
            #expect(found == k, "last \(last), k \(k)")
            #expect(!asked.contains(0) && asked.allSatisfy { $0 <= last })
            #expect(UInt64(asked.count) <= bound, "\(asked.count) probes for \(last) messages")
        }
    }

    /// Local segments 1…10 and 11…20; stream messages of three records each are matched
    /// by their bytes, not by their sequence numbers alone.
    @Test func aMessageMatchesOnlyTheSameBytesWithinOneSegment() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try JournalRecords.write(JournalRecords.records(1...10), dir, 1)
        try JournalRecords.write(JournalRecords.records(11...20), dir, 11)
        let local = LocalRecords(directory: dir, segments: try JournalStore.segmentNames(directory: dir))
        let one = JournalRecords.record(1).count
        let m = try #require(local.matches(JournalRecords.records(3...5), first: 3))
        #expect(m.segment == JournalSegmentName(firstSequence: 1) && m.size == 5 * one)
        let n = try #require(local.matches(JournalRecords.records(11...12), first: 11))
        #expect(n.segment == JournalSegmentName(firstSequence: 11) && n.size == 2 * one)
        // Another writer's record 4 (a different payload size, so other bytes).
        let other = JournalRecords.record(3) + JournalRecords.record(4, payload: 41) + JournalRecords.record(5)
        #expect(local.matches(other, first: 3) == nil)
        var flipped = JournalRecords.records(3...5)
        flipped[flipped.count - 9] ^= 1
        #expect(local.matches(flipped, first: 3) == nil)
        #expect(local.matches(JournalRecords.records(9...12), first: 9) == nil, "across segments")
        #expect(local.matches(JournalRecords.records(19...21), first: 19) == nil, "past the local end")
        #expect(local.matches(JournalRecords.records(21...22), first: 21) == nil)
        #expect(local.hash(of: 12) == SHA256.hash(JournalRecords.record(12)))
        #expect(local.hash(of: 21) == nil)
    }

    /// A former primary's local copy: the stream's messages 1…4, then records the stream
    /// never stored (another writer's messages 5 and 6 hold other bytes at those
    /// sequences). The search keeps exactly messages 1…4.
    @Test func aDivergentLocalTailEndsThePrefix() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stream: [[UInt8]] = [
            JournalRecords.records(1...3), JournalRecords.records(4...4), JournalRecords.records(5...8),
            JournalRecords.records(9...10), JournalRecords.records(11...12, payload: 50), JournalRecords.records(13...15),
        ]
        let firsts: [UInt64] = [1, 4, 5, 9, 11, 13]
        try JournalRecords.write(JournalRecords.records(1...14), dir, 1)
        let local = LocalRecords(directory: dir, segments: try JournalStore.segmentNames(directory: dir))
        let k = NATSJournal.lastMatching(last: UInt64(stream.count)) { (m: UInt64) -> Bool in
            local.matches(stream[Int(m) - 1], first: firsts[Int(m) - 1]) != nil
        }
        #expect(k == 4)
    }
}
