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
    /// Bytes allocated to the current segment when it was preallocated (zero-filled to
    /// this size, records written over the zeros); 0 for a segment that grows by appends
    /// (created inline, cut back, or written before preallocation existed).
    private(set) var currentCapacity = 0
    /// Keeps the next segment ready when preallocation is on (nil: every segment is created
    /// inline and grows by appends). Started by `startPreallocating()`.
    let filler: JournalSegmentFiller?
    /// Segments begun from a ready spare, and those created inline because the filler was
    /// running but had no spare ready (`sealstream_host_journal_segments_*_total`).
    private(set) var segmentsPreallocated: UInt64 = 0
    private(set) var segmentFallbacks: UInt64 = 0
    /// Called on the event loop when a segment had to be created inline (no spare ready),
    /// and when one was begun from a spare.
    var onFallback: ((JournalSegmentName) -> Void)?
    var onPreallocated: (() -> Void)?
    /// Sequence of the last record written.
    private(set) var lastSequence: UInt64
    /// Segment files written since the last `takeDirty()`, and whether one was created.
    private var dirty: [SegmentFile] = []
    private var created = false
    /// How many sync lanes sync these files (each segment gets a descriptor per lane).
    let syncLanes: Int

    private init(directory: String, rollBytes: Int, syncLanes: Int, report: JournalScanReport,
                 filler: JournalSegmentFiller?) throws(JournalStoreError)
    {
        self.directory = directory
        self.rollBytes = rollBytes
        self.syncLanes = max(1, syncLanes)
        self.filler = filler
        lastSequence = report.lastSequence
        if let last = report.segments.last {
            let file = try Self.openSegment(directory: directory, name: last, create: false)
            try file.openLanes(self.syncLanes, path: directory + "/" + last.fileName)
            current = file
            currentSize = report.lastSegmentBytes
            // A zero-filled free tail: keep writing over it (docs/DURABILITY.md §3).
            currentCapacity = report.lastSegmentFileBytes > report.lastSegmentBytes ? report.lastSegmentFileBytes : 0
        }
    }

    /// Scans `directory` (creating it if needed), truncates a torn tail, and opens the last
    /// segment for appends, with a descriptor per sync lane (`HostJournal` runs
    /// `syncLanes` syncs at once at most). Throws when the journal cannot be trusted.
    /// `preallocate`: new segments come zero-filled and synced, `rollBytes` long, from a
    /// `JournalSegmentFiller` (started by `startPreallocating()`, so a store opened only to
    /// read starts no thread); `onPreallocationFailure` gets the errno of each failed fill.
    static func open(
        directory: String, rollBytes: Int = defaultRollBytes, syncLanes: Int = 1, preallocate: Bool = false,
        onPreallocationFailure: @escaping @Sendable (Int32) -> Void = { _ in }
    ) throws(JournalStoreError) -> (JournalStore, JournalScanReport) {
        let report = try scan(directory: directory)
        let filler = preallocate
            ? JournalSegmentFiller(directory: directory, bytes: rollBytes, onFailure: onPreallocationFailure) : nil
        let store = try JournalStore(directory: directory, rollBytes: rollBytes, syncLanes: syncLanes, report: report,
                                     filler: filler)
        return (store, report)
    }

    /// Opens with a filler made by the caller (tests: a filler that waits for a signal).
    static func open(directory: String, rollBytes: Int, syncLanes: Int = 1, filler: JournalSegmentFiller)
        throws(JournalStoreError) -> (JournalStore, JournalScanReport)
    {
        let report = try scan(directory: directory)
        let store = try JournalStore(directory: directory, rollBytes: rollBytes, syncLanes: syncLanes, report: report,
                                     filler: filler)
        return (store, report)
    }

    /// Starts filling the next segment in the background (no-op without preallocation). On
    /// an empty journal waits for the first fill (ready or failed), so that the first
    /// segment is preallocated too: once, at start-up, before anything is written.
    func startPreallocating() {
        guard let filler else { return }
        filler.start()
        if current == nil { filler.waitForFirstAttempt() }
    }

    /// Stops the filler and removes its spare.
    func stopPreallocating() { filler?.stop() }

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

    /// Writes checked records ending with record `last` at the segment's end with one
    /// `pwrite(2)` (beginning a new segment first when `mustRoll`). On an error the file
    /// is cut back to where it was and the errno thrown; nothing was appended.
    func write(_ records: UnsafeRawBufferPointer, last: UInt64) throws(JournalStoreError) {
        if current == nil || Self.mustRoll(size: currentSize, capacity: currentCapacity, rollBytes: rollBytes,
                                           adding: records.count) {
            try beginSegment()
        }
        let file = current!
        var done = 0
        while done < records.count {
            let n = pwrite(file.fd, records.baseAddress! + done, records.count - done, off_t(currentSize + done))
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                // Cut back: a preallocated segment loses its free tail (appends from here).
                _ = ftruncate(file.fd, off_t(currentSize))
                currentCapacity = 0
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

    /// Whether a message of `adding` bytes begins a new segment: in a preallocated segment
    /// (`capacity` > 0) when it would not fit in the allocated bytes (unless the segment is
    /// empty: a larger message goes alone and extends the file); in a segment that grows by
    /// appends once it exceeds `rollBytes` (docs/DURABILITY.md §3). Pure.
    static func mustRoll(size: Int, capacity: Int, rollBytes: Int, adding: Int) -> Bool {
        capacity > 0 ? size > 0 && size + adding > capacity : size > rollBytes
    }

    /// Begins segment `lastSequence + 1`: the filler's spare renamed when one is ready,
    /// else created empty here (counted as a fallback when the filler runs).
    private func beginSegment() throws(JournalStoreError) {
        let name = JournalSegmentName(firstSequence: lastSequence + 1)
        let file: SegmentFile
        if let filler, let fd = try filler.take(renamingTo: path(name)) {
            file = SegmentFile(fd: fd, name: name)
            currentCapacity = filler.bytes
            segmentsPreallocated += 1
            onPreallocated?()
        } else {
            file = try Self.openSegment(directory: directory, name: name, create: true)
            currentCapacity = 0
            if filler?.isRunning == true {
                segmentFallbacks += 1
                onFallback?(name)
            }
        }
        try file.openLanes(syncLanes, path: path(name))
        current = file
        currentSize = 0
        created = true
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
        currentCapacity = 0
        if let segment = position.segment {
            let file = try Self.openSegment(directory: directory, name: segment, create: false)
            guard ftruncate(file.fd, off_t(position.size)) == 0 else { throw .io(path: path(segment), errno: errno) }
            try file.openLanes(syncLanes, path: path(segment))
            current = file
            currentSize = position.size
            currentCapacity = 0
        }
        lastSequence = position.sequence
        dirty = current.map { [$0] } ?? []
        created = true
    }

    static func openSegment(directory: String, name: JournalSegmentName, create: Bool) throws(JournalStoreError) -> SegmentFile {
        let path = directory + "/" + name.fileName
        // No O_APPEND: records are written with `pwrite` at the tracked end (over a
        // preallocated segment's zeros, or past the end of one that grows).
        let flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0)
        let fd = Glibc.open(path, flags, 0o600)
        guard fd >= 0 else { throw .io(path: path, errno: errno) }
        return SegmentFile(fd: fd, name: name)
    }
}
