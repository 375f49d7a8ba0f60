#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal
import Testing

@testable import Host

/// Preallocated segments (docs/DURABILITY.md §3): a zero-filled free tail after the last
/// record is free space, not a torn tail; anything else after it is judged as before; the
/// filler keeps the next segment ready and a switch never waits for it.
@Suite("Journal preallocation")
struct JournalPreallocationTests {
    static let zeros = [UInt8](repeating: 0, count: 4096)

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
    }

    /// Records then zeros to the end of the file: every record kept, nothing reported
    /// dropped, nothing cut; a reopened store writes over the zeros.
    @Test func zeroTailIsFreeSpace() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let records = JournalRecords.records(1...5)
        try JournalRecords.write(JournalRecords.records(1...2) + Self.zeros, dir, 1)
        try JournalRecords.write(JournalRecords.records(3...5) + Self.zeros, dir, 3)
        let (store, report) = try JournalStore.open(directory: dir)
        #expect(report.records == 5 && report.lastSequence == 5 && report.truncated == nil)
        #expect(report.segmentBytes == [JournalRecords.records(1...2).count, records.count - JournalRecords.records(1...2).count])
        let tail = records.count - JournalRecords.records(1...2).count
        #expect(report.lastSegmentBytes == tail && report.lastSegmentFileBytes == tail + Self.zeros.count)
        #expect(JournalRecords.size(dir, 3) == tail + Self.zeros.count, "nothing cut")
        try JournalRecords.records(6...7).withUnsafeBytes { try store.write($0, last: 7) }
        #expect(JournalRecords.size(dir, 3) == tail + Self.zeros.count, "written over the zeros, not appended")
        let again = try JournalStore.scan(directory: dir)
        #expect(again.lastSequence == 7 && again.truncated == nil && again.segments.count == 2)
    }

    /// A crash mid-write of a record into a preallocated segment: the torn record is cut and
    /// reported with the bytes it held (to its last non-zero byte), not the free space after.
    @Test func tornRecordFollowedByZerosIsCutAndReported() throws {
        let whole = JournalRecords.records(1...3)
        let last = JournalRecords.record(4)
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for cut in stride(from: 1, to: last.count, by: 7) {
            let torn = Array(last[0..<cut])
            try JournalRecords.write(whole + torn + Self.zeros, dir, 1)
            let report = try JournalStore.scan(directory: dir)
            let nonZero = (torn.lastIndex { $0 != 0 } ?? -1) + 1
            #expect(report.lastSequence == 3, "cut \(cut)")
            #expect(report.truncated?.offset == whole.count && report.truncated?.bytes == nonZero
                && report.truncated?.records == 1, "cut \(cut)")
            #expect(JournalRecords.size(dir, 1) == whole.count, "cut \(cut)")
        }
    }

    /// Corruption before the free space still stops start-up, naming segment and offset.
    @Test func flippedByteMidPreallocatedSegmentStopsStartUp() throws {
        var bytes = JournalRecords.records(1...5)
        let record = JournalRecords.record(1).count
        bytes[2 * record + 50] ^= 0x10
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try JournalRecords.write(bytes + Self.zeros, dir, 1)
        #expect(throws: JournalStoreError.corrupt(
            segment: "00000000000000000001.seg", offset: 2 * record,
            problem: "CRC-32C mismatch, and a whole valid record follows it")
        ) { try JournalStore.scan(directory: dir) }
        // A non-zero byte inside the free space is a torn tail of its own: cut and counted.
        var stray = JournalRecords.records(1...2) + Self.zeros
        stray[stray.count - 100] = 0x41
        try JournalRecords.write(stray, dir, 1)
        let report = try JournalStore.scan(directory: dir)
        #expect(report.lastSequence == 2 && report.truncated?.bytes == Self.zeros.count - 99)
    }

    /// An all-zero segment (a crash right after a spare became the segment): empty, kept as
    /// the last segment, refused before the last.
    @Test func allZeroSegment() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try JournalRecords.write(JournalRecords.records(1...2), dir, 1)
        try JournalRecords.write(Self.zeros, dir, 3)
        let report = try JournalStore.scan(directory: dir)
        #expect(report.lastSequence == 2 && report.segments.count == 2 && report.truncated == nil
            && report.lastSegmentBytes == 0)
        try JournalRecords.write(JournalRecords.records(3...3), dir, 4)
        #expect(throws: JournalStoreError.corrupt(
            segment: "00000000000000000003.seg", offset: 0, problem: "empty segment before the last")
        ) { try JournalStore.scan(directory: dir) }
    }

    /// Feeding stops at the free space, also after a record whose CRC ends in zero bytes.
    @Test func replayChunksStopAtTheFreeSpace() throws {
        let sequence = try #require((UInt64(1)...5000).first { JournalRecords.record($0).last == 0 })
        let records = JournalRecords.records(1...3) + JournalRecords.record(sequence)
        let chunks = EnclaveSupervisor.replayChunks(records + Self.zeros)
        #expect(chunks.flatMap { $0 } == records)
        #expect(EnclaveSupervisor.replayChunks(Self.zeros).isEmpty)
    }

    /// The replicated journal's prefix search reads the local copy: a record's bytes (its
    /// hash, for the snapshot check) end at its own length, not at the free space's end.
    @Test func localRecordsIgnoreTheFreeSpace() throws {
        let plain = JournalRecords.scratch()
        let tailed = JournalRecords.scratch()
        defer {
            try? FileManager.default.removeItem(atPath: plain)
            try? FileManager.default.removeItem(atPath: tailed)
        }
        try JournalRecords.write(JournalRecords.records(1...3), plain, 1)
        try JournalRecords.write(JournalRecords.records(1...3) + Self.zeros, tailed, 1)
        let segments = [JournalSegmentName(firstSequence: 1)]
        let a = LocalRecords(directory: plain, segments: segments)
        let b = LocalRecords(directory: tailed, segments: segments)
        #expect(a.hash(of: 3) != nil && a.hash(of: 3) == b.hash(of: 3))
        #expect(b.hash(of: 4) == nil)
        let end = JournalRecords.records(1...3).count
        #expect(b.matches(JournalRecords.records(2...3), first: 2)?.size == end)
    }

    /// The roll rule: a preallocated segment takes what fits; one that grows rolls past the size.
    @Test func rollRule() {
        #expect(!JournalStore.mustRoll(size: 0, capacity: 100, rollBytes: 100, adding: 500), "alone, however large")
        #expect(!JournalStore.mustRoll(size: 60, capacity: 100, rollBytes: 100, adding: 40))
        #expect(JournalStore.mustRoll(size: 60, capacity: 100, rollBytes: 100, adding: 41))
        #expect(!JournalStore.mustRoll(size: 100, capacity: 0, rollBytes: 100, adding: 500))
        #expect(JournalStore.mustRoll(size: 101, capacity: 0, rollBytes: 100, adding: 1))
    }

    /// With the filler running each segment is a renamed spare of the full size, zero-filled
    /// after its records; the spare is removed on stop; an old segment that grows by appends
    /// is continued first (a journal from before preallocation).
    @Test func segmentsComeFromTheSpare() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let record = JournalRecords.record(1).count
        try JournalRecords.write(JournalRecords.records(1...2), dir, 1)
        let (store, _) = try JournalStore.open(directory: dir, rollBytes: 4 * record, preallocate: true)
        store.startPreallocating()
        let spare = dir + "/" + JournalSegmentFiller.spareName
        store.filler!.waitUntilReady()
        #expect(Self.fileSize(spare) == 4 * record)
        try JournalRecords.records(3...5).withUnsafeBytes { try store.write($0, last: 5) }
        #expect(JournalRecords.size(dir, 1) == 5 * record, "the old segment grows until it exceeds the roll size")
        store.filler!.waitUntilReady()
        try JournalRecords.records(6...8).withUnsafeBytes { try store.write($0, last: 8) }
        #expect(JournalRecords.size(dir, 6) == 4 * record)
        #expect(store.segmentsPreallocated == 1 && store.segmentFallbacks == 0)
        try JournalRecords.records(9...9).withUnsafeBytes { try store.write($0, last: 9) }
        store.filler!.waitUntilReady()
        try JournalRecords.records(10...11).withUnsafeBytes { try store.write($0, last: 11) }
        #expect(try JournalStore.segmentNames(directory: dir).map(\.firstSequence) == [1, 6, 10])
        #expect(JournalRecords.size(dir, 10) == 4 * record && store.segmentsPreallocated == 2)
        store.stopPreallocating()
        #expect(Self.fileSize(spare) == -1, "the spare goes with the filler")
        let report = try JournalStore.scan(directory: dir)
        #expect(report.lastSequence == 11 && report.truncated == nil && report.lastSegmentBytes == 2 * record)
    }

    /// No spare ready at a switch: the segment is created inline, counted, never waited for.
    @Test func fillerNotReadyFallsBackAndCounts() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let record = JournalRecords.record(1).count
        try JournalRecords.write(JournalRecords.records(1...5), dir, 1)
        let gate = DispatchSemaphore(value: 0)
        let filler = JournalSegmentFiller(directory: dir, bytes: 4 * record, beforeFill: { gate.wait() })
        let (store, _) = try JournalStore.open(directory: dir, rollBytes: 4 * record, filler: filler)
        var fallbacks: [UInt64] = []
        store.onFallback = { fallbacks.append($0.firstSequence) }
        store.startPreallocating()
        try JournalRecords.records(6...7).withUnsafeBytes { try store.write($0, last: 7) }
        #expect(fallbacks == [6] && store.segmentFallbacks == 1 && JournalRecords.size(dir, 6) == 2 * record)
        gate.signal()
        filler.waitUntilReady()
        try JournalRecords.records(8...10).withUnsafeBytes { try store.write($0, last: 10) }
        #expect(JournalRecords.size(dir, 6) == 5 * record, "the inline segment grows until it exceeds the roll size")
        try JournalRecords.records(11...11).withUnsafeBytes { try store.write($0, last: 11) }
        #expect(store.segmentsPreallocated == 1 && fallbacks == [6] && JournalRecords.size(dir, 11) == 4 * record)
        gate.signal()
        store.stopPreallocating()
        #expect(try JournalStore.scan(directory: dir).lastSequence == 11)
    }

    /// A stopping host does not wait for a fill stuck in a slow write or `fsync` (seen: a
    /// host taking 30 s to exit on a loaded disk): `stop` gives up after its bound, and the
    /// thread ends by itself afterwards, leaving no partial spare.
    @Test func stopDoesNotWaitForASlowFill() throws {
        let dir = JournalRecords.scratch()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let gate = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let filler = JournalSegmentFiller(directory: dir, bytes: 1 << 20, beforeFill: { entered.signal(); gate.wait() })
        filler.start()
        entered.wait()
        let started = Date()
        #expect(filler.stop(wait: 0.2) == false, "the fill is still under way")
        #expect(Date().timeIntervalSince(started) < 5)
        gate.signal()
        var ended = false
        for _ in 0..<500 where !ended {
            ended = filler.stop(wait: 0.01)
            if !ended { Thread.sleep(forTimeInterval: 0.01) }
        }
        #expect(ended)
        #expect(!FileManager.default.fileExists(atPath: filler.path), "the cancelled fill removed its partial spare")
    }
}
