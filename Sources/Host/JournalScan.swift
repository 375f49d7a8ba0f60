#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal

/// What the start-up scan of `DATA/journal/` found (docs/DURABILITY.md §3).
public struct JournalScanReport: Equatable, Sendable {
    /// Segments, ascending by first record sequence.
    public var segments: [JournalSegmentName] = []
    /// Whole valid records over all segments (after any tail truncation).
    public var records: UInt64 = 0
    /// Sequence of the last valid record; 0 for an empty journal.
    public var lastSequence: UInt64 = 0
    /// Bytes of whole valid records in each segment, in the order of `segments` (a
    /// preallocated segment's free space and a torn tail excluded).
    public var segmentBytes: [Int] = []
    /// Valid bytes of the last segment (where appends continue).
    public var lastSegmentBytes: Int = 0
    /// The last segment's file size after the scan: more than `lastSegmentBytes` when it is
    /// preallocated and its zero-filled free tail follows the records.
    public var lastSegmentFileBytes: Int = 0
    /// The torn tail cut from the last segment, if there was one.
    public var truncated: JournalTail?
}

/// A torn tail of the last segment: bytes from `offset` to the end of the file.
public struct JournalTail: Equatable, Sendable {
    public var segment: String
    /// Byte offset in the segment of the first record that failed.
    public var offset: Int
    /// Bytes dropped: from `offset` to the last non-zero byte of the file (the zeros after
    /// it are a preallocated segment's free space, cut too but not counted).
    public var bytes: Int
    /// Records begun in the dropped bytes, found by following their length fields while
    /// magic and length are plausible (a torn record counts as one). For a zero page: the
    /// record at `offset` (one) plus every whole record found after the gap.
    public var records: Int
    /// The failure at `offset`, or `zero page` (`JournalTail.zeroPage`) for the power-loss
    /// pattern of docs/DURABILITY.md §3.3.
    public var problem: String
    /// For a zero page: where the run of zero bytes begins (`offset`, or a page boundary
    /// inside the record at `offset`); nil for any other tail.
    public var gapOffset: Int?

    /// The `problem` of a tail cut by the zero-page rule (docs/DURABILITY.md §3.3).
    public static let zeroPage = "zero page"

    public init(segment: String, offset: Int, bytes: Int, records: Int, problem: String, gapOffset: Int? = nil) {
        self.segment = segment
        self.offset = offset
        self.bytes = bytes
        self.records = records
        self.problem = problem
        self.gapOffset = gapOffset
    }
}

/// A segment file name: the first record's sequence, 20 decimal digits, `.seg`.
public struct JournalSegmentName: Equatable, Sendable, Comparable {
    public var firstSequence: UInt64
    public var fileName: String { String(repeating: "0", count: max(0, 20 - String(firstSequence).count)) + "\(firstSequence).seg" }

    public init(firstSequence: UInt64) { self.firstSequence = firstSequence }

    /// Nil unless `fileName` is exactly 20 digits and `.seg`.
    public init?(fileName: String) {
        let utf8 = Array(fileName.utf8)
        guard utf8.count == 24, fileName.hasSuffix(".seg"), utf8[0..<20].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let n = UInt64(String(fileName.prefix(20)))
        else { return nil }
        firstSequence = n
    }

    public static func < (a: Self, b: Self) -> Bool { a.firstSequence < b.firstSequence }
}

/// Why the journal cannot be used: start-up stops (docs/DURABILITY.md §3).
public enum JournalStoreError: Error, Equatable, CustomStringConvertible {
    /// A record that is not whole and valid, or out of sequence, where no torn tail can be.
    case corrupt(segment: String, offset: Int, problem: String)
    /// A `.seg` file whose name is not 20 digits, or another entry that does not belong.
    case strayFile(String)
    case io(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .corrupt(let segment, let offset, let problem): "journal corrupt: segment \(segment) at byte offset \(offset): \(problem)"
        case .strayFile(let name): "journal directory holds \(name), which is not a segment (20 digits and .seg)"
        case .io(let path, let e): "journal I/O error on \(path): \(String(cString: strerror(e))) (errno \(e))"
        }
    }
}

/// The pure scan of one segment's bytes.
enum JournalSegmentScan {
    struct Result: Equatable {
        var records: UInt64
        var lastSequence: UInt64?
        /// Bytes of whole valid records from the start.
        var validBytes: Int
        /// The first failure, at `validBytes`, if any.
        var failure: String?
        /// True when a whole valid record (magic, bounds, CRC) starts somewhere after the failure.
        var validRecordFollows: Bool
        /// Records begun in the bytes after `validBytes`.
        var recordsBegun: Int
        /// With a failure: bytes from `validBytes` to the last non-zero byte (what a torn
        /// tail drops). 0 without one.
        var failedBytes: Int = 0
        /// Without a failure: the all-zero bytes after the last record (a preallocated
        /// segment's free space, never written), 0 for a segment that ends with a record.
        var freeBytes: Int = 0
        /// The power-loss pattern (docs/DURABILITY.md §3.3), when the failure is one: where
        /// the zero run begins and how many whole records follow it. Nil otherwise.
        var zeroPage: ZeroPage? = nil
    }

    /// Reads records from the start of `bytes`, the first of which must carry `firstSequence`.
    static func scan(_ bytes: UnsafeRawBufferPointer, firstSequence: UInt64) -> Result {
        var offset = 0
        var expected = firstSequence
        var failure: String?
        var unparsed = false
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            do {
                let frame = try JournalFrame.parse(rest)
                guard frame.sequence == expected else {
                    failure = "record sequence \(frame.sequence), expected \(expected)"
                    break
                }
                offset += frame.length
                expected += 1
            } catch {
                failure = error.description
                unparsed = true
                break
            }
        }
        let records = expected - firstSequence
        let end = nonZeroEnd(bytes, from: offset)
        // Only zeros after the last record: unwritten space of a preallocated segment, not a
        // failure (a record begins with the magic, never with a zero byte).
        guard let failure, end > offset else {
            return Result(records: records, lastSequence: records > 0 ? expected - 1 : nil, validBytes: offset,
                          failure: nil, validRecordFollows: false, recordsBegun: 0, freeBytes: bytes.count - offset)
        }
        let follows = validRecord(in: bytes, after: offset)
        return Result(records: records, lastSequence: records > 0 ? expected - 1 : nil, validBytes: offset,
                      failure: failure, validRecordFollows: follows,
                      recordsBegun: recordsBegun(in: UnsafeRawBufferPointer(rebasing: bytes[..<end]), from: offset),
                      failedBytes: end - offset,
                      zeroPage: unparsed && follows ? zeroPage(in: bytes, failing: offset, after: expected - 1) : nil)
    }

    /// One past the last non-zero byte at or after `offset`; `offset` when all are zero.
    static func nonZeroEnd(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Int {
        var end = bytes.count
        while end > offset, bytes[end - 1] == 0 { end -= 1 }
        return end
    }

    /// Whether a whole record with a matching CRC starts at any offset after `offset`
    /// (a record at `offset` itself with a good CRC but a wrong sequence also counts).
    static func validRecord(in bytes: UnsafeRawBufferPointer, after offset: Int) -> Bool {
        if (try? JournalFrame.parse(UnsafeRawBufferPointer(rebasing: bytes[offset...]))) != nil { return true }
        var i = offset + 1
        let m = JournalFrame.magic
        while i + JournalFrame.minLength <= bytes.count {
            if bytes[i] == m[0], bytes[i + 1] == m[1], bytes[i + 2] == m[2], bytes[i + 3] == m[3],
                (try? JournalFrame.parse(UnsafeRawBufferPointer(rebasing: bytes[i...]))) != nil {
                return true
            }
            i += 1
        }
        return false
    }

    static func recordsBegun(in bytes: UnsafeRawBufferPointer, from offset: Int) -> Int {
        var count = 0
        var i = offset
        while i < bytes.count {
            count += 1
            guard i + 8 <= bytes.count, bytes[i] == 0x53, bytes[i + 1] == 0x53, bytes[i + 2] == 0x4a, bytes[i + 3] == 0x52 else {
                break
            }
            let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self)))
            guard length >= JournalFrame.minLength, length <= JournalFrame.maxLength else { break }
            i += length
        }
        return count
    }
}
