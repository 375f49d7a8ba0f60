import Journal

/// The power-loss pattern of docs/DURABILITY.md §3.3: the first record that fails begins a
/// run of zero bytes reaching a page boundary (or one of the pages it spans is all zero),
/// a whole record follows, and every whole record after it carries a larger sequence than
/// the one before. A power
/// loss can persist the pages of an unsynced write out of order, so such a gap, and
/// everything after it, was never covered by an `fdatasync`, so never acknowledged.
struct ZeroPage: Equatable {
    /// Bytes of the unit a power loss keeps or loses whole: a page of the page cache and a
    /// block of the filesystem. Zeros that stop short of its boundary are not this pattern.
    static let pageBytes = 4096

    /// Where the run of zero bytes begins: the failing offset, or a page boundary inside
    /// the record that begins there.
    var gapOffset: Int
    /// Whole records (magic, bounds, known kind, CRC) found after the failing offset.
    var recordsAfter: Int
}

extension JournalSegmentScan {
    /// The power-loss pattern at `failing` (where no record parses), or nil (pure).
    /// `lastKept`: the sequence of the last valid record before it (the segment's first
    /// sequence − 1 when there is none).
    static func zeroPage(in bytes: UnsafeRawBufferPointer, failing: Int, after lastKept: UInt64) -> ZeroPage? {
        guard let gap = zeroGap(in: bytes, failing: failing) else { return nil }
        guard let after = wholeRecords(in: bytes, from: failing + 1, after: lastKept), after > 0 else { return nil }
        return ZeroPage(gapOffset: gap, recordsAfter: after)
    }

    /// The first byte of a zero run that qualifies: one that starts at `failing` and reaches
    /// the next page boundary of the file (the whole page when `failing` is on a boundary),
    /// or, when a record header (magic and a length in bounds) begins at `failing`, a whole
    /// all-zero page beginning at a page boundary inside that record's stated length. The
    /// page must lie inside the file.
    static func zeroGap(in bytes: UnsafeRawBufferPointer, failing: Int) -> Int? {
        let page = ZeroPage.pageBytes
        let boundary = (failing / page + 1) * page
        if boundary <= bytes.count, allZero(bytes, failing, boundary) { return failing }
        guard failing + 8 <= bytes.count, bytes[failing] == 0x53, bytes[failing + 1] == 0x53,
            bytes[failing + 2] == 0x4a, bytes[failing + 3] == 0x52
        else { return nil }
        let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: failing + 4, as: UInt32.self)))
        guard length >= JournalFrame.minLength, length <= JournalFrame.maxLength else { return nil }
        var start = boundary
        while start < failing + length, start + page <= bytes.count {
            if allZero(bytes, start, start + page) { return start }
            start += page
        }
        return nil
    }

    /// The whole records found from `start` on (each position tried, a record found skipped
    /// whole), or nil when one of them does not carry a larger sequence than the one found
    /// before it (`lastKept` for the first): pages written later hold later records only.
    static func wholeRecords(in bytes: UnsafeRawBufferPointer, from start: Int, after lastKept: UInt64) -> Int? {
        let m = JournalFrame.magic
        var count = 0
        var previous = lastKept
        var i = start
        while i + JournalFrame.minLength <= bytes.count {
            if bytes[i] == m[0], bytes[i + 1] == m[1], bytes[i + 2] == m[2], bytes[i + 3] == m[3],
                let frame = try? JournalFrame.parse(UnsafeRawBufferPointer(rebasing: bytes[i...])) {
                guard frame.sequence > previous else { return nil }
                previous = frame.sequence
                count += 1
                i += frame.length
            } else {
                i += 1
            }
        }
        return count
    }

    private static func allZero(_ bytes: UnsafeRawBufferPointer, _ from: Int, _ to: Int) -> Bool {
        var i = from
        while i < to {
            if bytes[i] != 0 { return false }
            i += 1
        }
        return true
    }
}
