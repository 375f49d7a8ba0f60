#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal

/// One open segment file; closes its descriptors when the last holder (the store or a sync
/// in progress) lets go.
final class SegmentFile: @unchecked Sendable {
    /// The descriptor records are written with; sync lane 0 syncs through it too.
    let fd: Int32
    let name: JournalSegmentName
    /// One more open file description per sync lane past the first, opened before the
    /// lane is handed the file: a write-back error is reported once per open file, so a
    /// lane that shared another lane's description could see success after the other
    /// consumed the error (docs/DURABILITY.md §3, *sync lanes*).
    private(set) var laneFDs: [Int32] = []

    init(fd: Int32, name: JournalSegmentName) {
        self.fd = fd
        self.name = name
    }

    /// Opens descriptors until there is one per lane (`lanes` in all). Called on the
    /// event loop before the file reaches the sync threads.
    func openLanes(_ lanes: Int, path: String) throws(JournalStoreError) {
        while laneFDs.count + 1 < lanes {
            let extra = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard extra >= 0 else { throw .io(path: path, errno: errno) }
            laneFDs.append(extra)
        }
    }

    /// The descriptor sync lane `lane` calls `fdatasync` on.
    func descriptor(lane: Int) -> Int32 { lane == 0 || laneFDs.isEmpty ? fd : laneFDs[min(lane, laneFDs.count) - 1] }

    deinit {
        close(fd)
        for extra in laneFDs { close(extra) }
    }
}

/// Where the journal ends: after `size` bytes of `segment`, whose last record is `sequence`.
struct JournalPosition: Equatable, Sendable {
    /// Nil for an empty journal.
    var segment: JournalSegmentName?
    var size: Int
    var sequence: UInt64
}

/// Why the records of a `journal` link message cannot be stored: the worker is broken.
enum JournalRecordError: Error, Equatable, CustomStringConvertible {
    case malformed(offset: Int, problem: String)
    case outOfSequence(got: UInt64, expected: UInt64)
    case empty

    var description: String {
        switch self {
        case .malformed(let offset, let problem): "journal message: record at byte \(offset): \(problem)"
        case .outOfSequence(let got, let expected): "journal message: record sequence \(got), expected \(expected)"
        case .empty: "journal message without records"
        }
    }
}

/// The segment files of `DATA/journal/` (docs/DURABILITY.md §3): the start-up scan and the
/// appends. Confined to the host's event loop; syncing is `JournalSync`'s.
final class JournalStore: @unchecked Sendable {
    /// A segment is closed, and the next begun, at the first link message boundary after it
    /// exceeds this many bytes.
    static let defaultRollBytes = 64 << 20

    let directory: String
    let rollBytes: Int
    private(set) var current: SegmentFile?
    private(set) var currentSize = 0
    /// Sequence of the last record written.
    private(set) var lastSequence: UInt64
    /// Segment files written since the last `takeDirty()`, and whether one was created.
    private var dirty: [SegmentFile] = []
    private var created = false
    /// How many sync lanes sync these files (each segment gets a descriptor per lane).
    let syncLanes: Int

    private init(directory: String, rollBytes: Int, syncLanes: Int, report: JournalScanReport)
        throws(JournalStoreError)
    {
        self.directory = directory
        self.rollBytes = rollBytes
        self.syncLanes = max(1, syncLanes)
        lastSequence = report.lastSequence
        if let last = report.segments.last {
            let file = try Self.openSegment(directory: directory, name: last, create: false)
            try file.openLanes(self.syncLanes, path: directory + "/" + last.fileName)
            current = file
            currentSize = report.lastSegmentBytes
        }
    }

    /// Scans `directory` (creating it if needed), truncates a torn tail, and opens the last
    /// segment for appends, with a descriptor per sync lane (`HostJournal` runs
    /// `syncLanes` syncs at once at most). Throws when the journal cannot be trusted.
    static func open(directory: String, rollBytes: Int = defaultRollBytes, syncLanes: Int = 1) throws(JournalStoreError)
        -> (JournalStore, JournalScanReport)
    {
        let report = try scan(directory: directory)
        let store = try JournalStore(directory: directory, rollBytes: rollBytes, syncLanes: syncLanes, report: report)
        return (store, report)
    }

    /// Path of a segment.
    func path(_ name: JournalSegmentName) -> String { directory + "/" + name.fileName }

    /// The end of what has been written.
    var position: JournalPosition { JournalPosition(segment: current?.name, size: currentSize, sequence: lastSequence) }

    // MARK: - Appends

    /// Checks that `records` are whole valid records continuing the journal; returns the
    /// sequence of the last one. Does not write.
    func check(_ records: UnsafeRawBufferPointer, after last: UInt64) throws(JournalRecordError) -> UInt64 {
        guard records.count > 0 else { throw .empty }
        var offset = 0
        var expected = last + 1
        while offset < records.count {
            let frame: JournalFrame
            do {
                frame = try JournalFrame.parse(UnsafeRawBufferPointer(rebasing: records[offset...]))
            } catch {
                throw .malformed(offset: offset, problem: error.description)
            }
            guard frame.sequence == expected else { throw .outOfSequence(got: frame.sequence, expected: expected) }
            offset += frame.length
            expected += 1
        }
        return expected - 1
    }

    /// Appends checked records ending with record `last`, with one `write(2)` (beginning a
    /// new segment first when the current one exceeds `rollBytes`). On an error the file
    /// is cut back to where it was and the errno thrown; nothing was appended.
    func write(_ records: UnsafeRawBufferPointer, last: UInt64) throws(JournalStoreError) {
        if current == nil || currentSize > rollBytes {
            let name = JournalSegmentName(firstSequence: lastSequence + 1)
            let file = try Self.openSegment(directory: directory, name: name, create: true)
            try file.openLanes(syncLanes, path: path(name))
            current = file
            currentSize = 0
            created = true
        }
        let file = current!
        var done = 0
        while done < records.count {
            let n = Glibc.write(file.fd, records.baseAddress! + done, records.count - done)
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                _ = ftruncate(file.fd, off_t(currentSize))
                throw .io(path: path(file.name), errno: e)
            }
            done += n
        }
        currentSize += records.count
        lastSequence = last
        if dirty.last !== file { dirty.append(file) }
    }

    func write(_ bytes: [UInt8], last: UInt64) throws(JournalStoreError) {
        var failure: JournalStoreError?
        bytes.withUnsafeBytes { raw in
            do throws(JournalStoreError) { try write(raw, last: last) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// The files written since the last call, and whether a segment was created (the
    /// directory needs a sync too).
    func takeDirty() -> (files: [SegmentFile], createdSegment: Bool) {
        defer {
            dirty = []
            created = false
        }
        return (dirty, created)
    }

    /// Cuts the journal back to `position` (the durable end): later segments are removed,
    /// the position's segment truncated. Used after a write or sync error, before the
    /// records past the position are written again.
    func rewind(to position: JournalPosition) throws(JournalStoreError) {
        let names = try Self.segmentNames(directory: directory)
        for name in names where position.segment == nil || name > position.segment! {
            guard unlink(path(name)) == 0 || errno == ENOENT else { throw .io(path: path(name), errno: errno) }
        }
        current = nil
        currentSize = 0
        if let segment = position.segment {
            let file = try Self.openSegment(directory: directory, name: segment, create: false)
            guard ftruncate(file.fd, off_t(position.size)) == 0 else { throw .io(path: path(segment), errno: errno) }
            try file.openLanes(syncLanes, path: path(segment))
            current = file
            currentSize = position.size
        }
        lastSequence = position.sequence
        dirty = current.map { [$0] } ?? []
        created = true
    }

    static func openSegment(directory: String, name: JournalSegmentName, create: Bool) throws(JournalStoreError) -> SegmentFile {
        let path = directory + "/" + name.fileName
        let flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0)
        let fd = Glibc.open(path, flags, 0o600)
        guard fd >= 0 else { throw .io(path: path, errno: errno) }
        return SegmentFile(fd: fd, name: name)
    }
}
