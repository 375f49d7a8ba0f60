#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal
import Testing

@testable import Host

/// Records the host can check (frame and CRC) without a key: random bytes as ciphertext.
enum JournalRecords {
    static func record(_ sequence: UInt64, payload: Int = 40) -> [UInt8] {
        let length = JournalFrame.overhead + 16 + payload
        var r = [UInt8](repeating: 0, count: length)
        r[0..<4] = ArraySlice(JournalFrame.magic)
        withUnsafeBytes(of: UInt32(length).bigEndian) { r[4..<8] = ArraySlice($0) }
        withUnsafeBytes(of: sequence.bigEndian) { r[8..<16] = ArraySlice($0) }
        r[16] = sequence % 7 == 0 ? 0x02 : 0x01
        for i in 17..<(length - 4) { r[i] = UInt8(truncatingIfNeeded: i &* 31 &+ Int(sequence) &* 7) }
        let crc = CRC32C.checksum(r[0..<(length - 4)])
        withUnsafeBytes(of: crc.bigEndian) { r[(length - 4)...] = ArraySlice($0) }
        return r
    }

    static func records(_ range: ClosedRange<UInt64>, payload: Int = 40) -> [UInt8] {
        range.flatMap { record($0, payload: payload) }
    }

    static func scratch() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sealstream-journal-\(UUID().uuidString.prefix(8))")
        return dir.path
    }

    static func write(_ bytes: [UInt8], _ dir: String, _ first: UInt64) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + JournalSegmentName(firstSequence: first).fileName))
    }

    static func size(_ dir: String, _ first: UInt64) -> Int {
        let attrs = try? FileManager.default.attributesOfItem(atPath: dir + "/" + JournalSegmentName(firstSequence: first).fileName)
        return (attrs?[.size] as? Int) ?? -1
    }
}

@Suite("Journal store")
struct JournalStoreTests {
    @Test func segmentNamesAreTwentyDigits() {
        #expect(JournalSegmentName(firstSequence: 1).fileName == "00000000000000000001.seg")
        #expect(JournalSegmentName(fileName: "00000000000000000042.seg")?.firstSequence == 42)
        #expect(JournalSegmentName(fileName: "0000000000000000042.seg") == nil)
        #expect(JournalSegmentName(fileName: "0000000000000000004a.seg") == nil)
        #expect(JournalSegmentName(fileName: "00000000000000000042.tmp") == nil)
    }

    @Test func emptyDirectoryIsAnEmptyJournal() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let report = try JournalStore.scan(directory: dir)
        #expect(report == JournalScanReport())
    }

    /// A crash mid-write of the last record, cut at every byte: the tail goes, the rest stays.
    @Test func tornTailAtEveryByteOfTheLastRecord() throws {
        let whole = JournalRecords.records(1...3)
        let last = JournalRecords.record(4)
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for cut in 1..<last.count {
            try JournalRecords.write(whole + last[0..<cut], dir, 1)
            let report = try JournalStore.scan(directory: dir)
            #expect(report.lastSequence == 3 && report.records == 3, "cut \(cut)")
            // Zero bytes at the end of the file are never counted as dropped: they cannot be
            // told from a preallocated segment's free space (docs/DURABILITY.md §3).
            let bytes = (last[0..<cut].lastIndex { $0 != 0 } ?? -1) + 1
            #expect(report.truncated == JournalTail(
                segment: "00000000000000000001.seg", offset: whole.count, bytes: bytes, records: 1,
                problem: report.truncated?.problem ?? ""), "cut \(cut)")
            #expect(JournalRecords.size(dir, 1) == whole.count, "cut \(cut)")
        }
        // And the whole record is kept.
        try JournalRecords.write(whole + last, dir, 1)
        let report = try JournalStore.scan(directory: dir)
        #expect(report.lastSequence == 4 && report.truncated == nil)
    }

    /// A flipped byte with valid records after it is corruption, not a torn tail.
    @Test func flippedByteMidSegmentStopsStartUp() throws {
        var bytes = JournalRecords.records(1...5)
        let record = JournalRecords.record(1).count
        bytes[2 * record + 50] ^= 0x10
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try JournalRecords.write(bytes, dir, 1)
        #expect(throws: JournalStoreError.corrupt(
            segment: "00000000000000000001.seg", offset: 2 * record,
            problem: "CRC-32C mismatch, and a whole valid record follows it")
        ) { try JournalStore.scan(directory: dir) }
        #expect(JournalRecords.size(dir, 1) == bytes.count, "nothing truncated")
    }

    /// A bad record in an earlier segment stops start-up even with nothing after it there.
    @Test func badTailOfAnEarlierSegmentStopsStartUp() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = JournalRecords.records(1...3)
        try JournalRecords.write(first + JournalRecords.record(4)[0..<30], dir, 1)
        try JournalRecords.write(JournalRecords.records(4...5), dir, 4)
        #expect(throws: JournalStoreError.corrupt(
            segment: "00000000000000000001.seg", offset: first.count, problem: "incomplete record (30 of 41 bytes)")
        ) { try JournalStore.scan(directory: dir) }
    }

    @Test func missingMiddleSegmentStopsStartUp() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try JournalRecords.write(JournalRecords.records(1...3), dir, 1)
        try JournalRecords.write(JournalRecords.records(7...9), dir, 7)
        #expect(throws: JournalStoreError.corrupt(
            segment: "00000000000000000007.seg", offset: 0,
            problem: "the previous segment ends with record 3, so this one must be named 00000000000000000004.seg (a segment is missing)")
        ) { try JournalStore.scan(directory: dir) }
        // So is a missing first segment.
        try FileManager.default.removeItem(atPath: dir + "/00000000000000000001.seg")
        #expect(throws: JournalStoreError.self) { try JournalStore.scan(directory: dir) }
    }

    /// A name that does not match its first record (a gap in the names) stops start-up.
    @Test func gapInNamesStopsStartUp() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try JournalRecords.write(JournalRecords.records(1...3), dir, 1)
        try JournalRecords.write(JournalRecords.records(4...6), dir, 5)
        #expect(throws: JournalStoreError.corrupt(
            segment: "00000000000000000005.seg", offset: 0,
            problem: "the previous segment ends with record 3, so this one must be named 00000000000000000004.seg (a segment is missing)")
        ) { try JournalStore.scan(directory: dir) }
        // Named right but holding the wrong records: the first record is out of sequence.
        try FileManager.default.removeItem(atPath: dir + "/00000000000000000005.seg")
        try JournalRecords.write(JournalRecords.records(5...6), dir, 4)
        #expect(throws: JournalStoreError.corrupt(
            segment: "00000000000000000004.seg", offset: 0,
            problem: "record sequence 5, expected 4, and a whole valid record follows it")
        ) { try JournalStore.scan(directory: dir) }
    }

    @Test func strayFileStopsStartUp() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try JournalRecords.write(JournalRecords.records(1...3), dir, 1)
        try Data().write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        #expect(throws: JournalStoreError.strayFile("notes.txt")) { try JournalStore.scan(directory: dir) }
    }

    /// Appends roll to a new segment named by its first record once the current one
    /// exceeds the roll size; a scan reads them back as one journal.
    @Test func appendsRollOverAndScanBack() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let record = JournalRecords.record(1).count
        let (store, report) = try JournalStore.open(directory: dir, rollBytes: 3 * record)
        #expect(report.records == 0)
        var last: UInt64 = 0
        for size in [2, 2, 1, 3, 1] as [UInt64] {
            let bytes = JournalRecords.records((last + 1)...(last + size))
            try bytes.withUnsafeBytes { raw in
                let end = try store.check(raw, after: last)
                #expect(end == last + size)
                try store.write(raw, last: end)
            }
            last += size
        }
        // [1, 2] [3, 4]: 4 records > 3, so [5] begins segment 5; [6, 7, 8] join it; [9] begins segment 9.
        let names = try JournalStore.segmentNames(directory: dir).map(\.firstSequence)
        #expect(names == [1, 5, 9])
        #expect(JournalRecords.size(dir, 1) == 4 * record && JournalRecords.size(dir, 5) == 4 * record)
        let again = try JournalStore.scan(directory: dir)
        #expect(again.records == 9 && again.lastSequence == 9 && again.lastSegmentBytes == record && again.truncated == nil)
    }

    @Test func appendRefusesRecordsOutOfSequenceOrBroken() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, _) = try JournalStore.open(directory: dir)
        #expect(throws: JournalRecordError.outOfSequence(got: 2, expected: 1)) {
            try JournalRecords.records(2...3).withUnsafeBytes { _ = try store.check($0, after: 0) }
        }
        var bad = JournalRecords.records(1...2)
        bad[bad.count - 1] ^= 1
        let first = JournalRecords.record(1).count
        #expect(throws: JournalRecordError.malformed(offset: first, problem: "CRC-32C mismatch")) {
            try bad.withUnsafeBytes { _ = try store.check($0, after: 0) }
        }
    }

    /// After an error the journal is cut back to the durable position and written again.
    @Test func rewindCutsBackToThePosition() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let record = JournalRecords.record(1).count
        let (store, _) = try JournalStore.open(directory: dir, rollBytes: 2 * record)
        try JournalRecords.records(1...3).withUnsafeBytes { try store.write($0, last: 3) }
        let durable = store.position
        try JournalRecords.records(4...5).withUnsafeBytes { try store.write($0, last: 5) }
        #expect(try JournalStore.segmentNames(directory: dir).map(\.firstSequence) == [1, 4])
        try store.rewind(to: durable)
        #expect(try JournalStore.segmentNames(directory: dir).map(\.firstSequence) == [1])
        #expect(store.lastSequence == 3)
        try JournalRecords.records(4...4).withUnsafeBytes { try store.write($0, last: 4) }
        #expect(try JournalStore.scan(directory: dir).lastSequence == 4)
    }
}
