#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal
import Testing

@testable import Host

/// The power-loss rule (docs/DURABILITY.md §3.3): in the last segment, a first failing
/// record that begins a run of zeros reaching a page boundary (or spans an all-zero page),
/// with whole records of later sequences after it, is an unsynced tail: cut, counted,
/// reported as `zero page`. Every other shape stops start-up as before.
@Suite("Journal zero page")
struct JournalZeroPageTests {
    static let page = 4096
    static let segment1 = "00000000000000000001.seg"

    /// Records `1...last` laid out from offset 0 as one unsynced write would put them, then
    /// `zeroed` set to zero (the pages the power loss did not keep) and 8 KiB of free space.
    static func image(last: UInt64, zeroed: Range<Int>) -> [UInt8] {
        var bytes = JournalRecords.records(1...last) + [UInt8](repeating: 0, count: 2 * page)
        for i in zeroed { bytes[i] = 0 }
        return bytes
    }

    /// Record `k`'s offset in `image` (every test record is the same length).
    static func offset(_ k: UInt64) -> Int { Int(k - 1) * JournalRecords.record(1).count }

    /// Whole records of `1...last` that start at or after `from` and lie wholly outside `zeroed`.
    static func wholeAfter(_ from: Int, last: UInt64, zeroed: Range<Int>) -> Int {
        (1...last).filter { k in
            let start = offset(k)
            let end = start + JournalRecords.record(1).count
            return start >= from && (end <= zeroed.lowerBound || start >= zeroed.upperBound)
        }.count
    }

    static func lastNonZero(_ bytes: [UInt8]) -> Int { (bytes.lastIndex { $0 != 0 } ?? -1) + 1 }

    /// The synced records end at record `kept` (mid-page or on a boundary); the rest of that
    /// page reverted to zeros and later pages were kept: cut at the end of `kept`, the lost
    /// record plus every whole record after the gap counted, and the scan starts again clean.
    @Test(arguments: [UInt64(0), 1, 20, 39, 45, 80])
    func zeroPageThenWholeRecordsIsCutAndCounted(kept: UInt64) throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let failing = Self.offset(kept + 1)
        let zeroed = failing..<((failing / Self.page + 1) * Self.page)
        let bytes = Self.image(last: 120, zeroed: zeroed)
        try JournalRecords.write(bytes, dir, 1)
        let report = try JournalStore.scan(directory: dir)
        #expect(report.lastSequence == kept && report.records == kept)
        let tail = try #require(report.truncated)
        #expect(tail.problem == "zero page" && tail.offset == failing && tail.gapOffset == failing)
        #expect(tail.records == 1 + Self.wholeAfter(failing, last: 120, zeroed: zeroed), "\(tail)")
        #expect(tail.bytes == Self.lastNonZero(bytes) - failing)
        #expect(JournalRecords.size(dir, 1) == failing, "everything from the failing offset cut")
        let again = try JournalStore.scan(directory: dir)
        #expect(again.truncated == nil && again.lastSequence == kept)
    }

    /// The record at the failing offset was begun in a page that was kept and runs into one
    /// that was lost (all zero): the gap begins at that page's boundary, inside the record.
    @Test func recordRunningIntoALostPageIsCut() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let record = JournalRecords.record(1).count
        let kept = UInt64(Self.page / record)  // record kept + 1 spans the first boundary
        let failing = Self.offset(kept + 1)
        #expect(failing < Self.page && failing + record > Self.page)
        let zeroed = Self.page..<(2 * Self.page)
        let bytes = Self.image(last: 150, zeroed: zeroed)
        try JournalRecords.write(bytes, dir, 1)
        let report = try JournalStore.scan(directory: dir)
        let tail = try #require(report.truncated)
        #expect(report.lastSequence == kept && tail.problem == "zero page" && tail.offset == failing)
        #expect(tail.gapOffset == Self.page)
        #expect(tail.records == 1 + Self.wholeAfter(failing + 1, last: 150, zeroed: zeroed), "\(tail)")
    }

    /// Zeros that stop short of a page boundary, followed by a record, are not the pattern.
    @Test func zeroRunShorterThanAPageThenARecordStopsStartUp() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let failing = Self.offset(6)
        let bytes = Self.image(last: 60, zeroed: failing..<(failing + 3000))
        #expect(failing + 3000 < Self.page)
        try JournalRecords.write(bytes, dir, 1)
        #expect(throws: JournalStoreError.corrupt(
            segment: Self.segment1, offset: failing, problem: "bad magic, and a whole valid record follows it")
        ) { try JournalStore.scan(directory: dir) }
        #expect(JournalRecords.size(dir, 1) == bytes.count, "nothing cut")
    }

    /// Non-zero garbage at the failing offset, even with a zero page after it, is not the
    /// pattern (no record header there to span the page).
    @Test func garbageThenAZeroPageThenARecordStopsStartUp() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let failing = Self.offset(6)
        var bytes = Self.image(last: 120, zeroed: Self.page..<(2 * Self.page))
        bytes[failing] = 0x41
        try JournalRecords.write(bytes, dir, 1)
        #expect(throws: JournalStoreError.corrupt(
            segment: Self.segment1, offset: failing, problem: "bad magic, and a whole valid record follows it")
        ) { try JournalStore.scan(directory: dir) }
    }

    /// A zero page in a segment before the last stops start-up, naming segment and offset.
    @Test func zeroPageInAnEarlierSegmentStopsStartUp() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let failing = Self.offset(11)
        let first = Array(Self.image(last: 100, zeroed: failing..<Self.page).prefix(Self.offset(101)))
        try JournalRecords.write(first, dir, 1)
        try JournalRecords.write(JournalRecords.records(101...105), dir, 101)
        #expect(throws: JournalStoreError.corrupt(segment: Self.segment1, offset: failing, problem: "bad magic")) {
            try JournalStore.scan(directory: dir)
        }
    }

    /// A whole record after the gap whose sequence is not larger than the one before it is
    /// no later write: stop. So is a whole record with a wrong sequence at the failing offset.
    @Test func wrongSequencesStopStartUp() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let failing = Self.offset(6)
        let gap = [UInt8](repeating: 0, count: Self.page - failing)
        try JournalRecords.write(JournalRecords.records(1...5) + gap + JournalRecords.records(3...4), dir, 1)
        #expect(throws: JournalStoreError.corrupt(
            segment: Self.segment1, offset: failing, problem: "bad magic, and a whole valid record follows it")
        ) { try JournalStore.scan(directory: dir) }
        try JournalRecords.write(JournalRecords.records(1...5) + gap + JournalRecords.records(9...9)
            + JournalRecords.records(8...8), dir, 1)
        #expect(throws: JournalStoreError.corrupt(
            segment: Self.segment1, offset: failing, problem: "bad magic, and a whole valid record follows it")
        ) { try JournalStore.scan(directory: dir) }
        try JournalRecords.write(JournalRecords.records(1...5) + JournalRecords.records(9...9) + gap
            + JournalRecords.records(10...10), dir, 1)
        #expect(throws: JournalStoreError.corrupt(
            segment: Self.segment1, offset: failing,
            problem: "record sequence 9, expected 6, and a whole valid record follows it")
        ) { try JournalStore.scan(directory: dir) }
    }

    /// Without a gap nothing changes: whole records then free space, nothing reported; and
    /// a read without repair (`replay`) reports a zero page without cutting.
    @Test func noGapIsUnchangedAndReplayDoesNotCut() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let whole = JournalRecords.records(1...60)
        try JournalRecords.write(whole + [UInt8](repeating: 0, count: Self.page), dir, 1)
        let clean = try JournalStore.scan(directory: dir)
        #expect(clean.truncated == nil && clean.lastSequence == 60 && clean.lastSegmentBytes == whole.count)
        let failing = Self.offset(31)
        let bytes = Self.image(last: 120, zeroed: failing..<(2 * Self.page))
        try JournalRecords.write(bytes, dir, 1)
        let read = try JournalStore.scan(directory: dir, repair: false)
        #expect(read.truncated?.problem == "zero page" && read.lastSequence == 30 && read.lastSegmentBytes == failing)
        #expect(JournalRecords.size(dir, 1) == bytes.count, "a read without repair cuts nothing")
    }
}
