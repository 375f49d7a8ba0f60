#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal

extension JournalStore {
    /// The segments in `directory`, ascending; creates the directory (0700) if missing.
    /// Any other entry but the preallocation spare (`JournalSegmentFiller.spareName`) is an
    /// error: nothing in the journal is skipped silently.
    static func segmentNames(directory: String) throws(JournalStoreError) -> [JournalSegmentName] {
        let fm = FileManager.default
        let entries: [String]
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            entries = try fm.contentsOfDirectory(atPath: directory)
        } catch {
            throw .io(path: directory, errno: errno == 0 ? EIO : errno)
        }
        var names: [JournalSegmentName] = []
        for entry in entries where entry != JournalSegmentFiller.spareName {
            guard let name = JournalSegmentName(fileName: entry) else { throw .strayFile(entry) }
            names.append(name)
        }
        return names.sorted()
    }

    /// The start-up scan of docs/DURABILITY.md §3. Truncates a torn tail of the last
    /// segment, or its unsynced tail after a zero page (§3.3), and syncs the truncation;
    /// throws on any other failure. `repair` false reads without cutting (`replay`).
    static func scan(directory: String, repair: Bool = true) throws(JournalStoreError) -> JournalScanReport {
        let names = try segmentNames(directory: directory)
        var report = JournalScanReport(segments: names)
        for (i, name) in names.enumerated() {
            let path = directory + "/" + name.fileName
            let isLast = i == names.count - 1
            let expected = report.lastSequence + 1
            guard name.firstSequence == expected else {
                let problem = i == 0
                    ? "the first segment must begin with record 1 (the segments before it are missing)"
                    : "the previous segment ends with record \(report.lastSequence), so this one must be named "
                        + "\(JournalSegmentName(firstSequence: expected).fileName) (a segment is missing)"
                throw .corrupt(segment: name.fileName, offset: 0, problem: problem)
            }
            guard let data = FileManager.default.contents(atPath: path) else { throw .io(path: path, errno: errno == 0 ? EIO : errno) }
            let result = data.withUnsafeBytes { JournalSegmentScan.scan($0, firstSequence: name.firstSequence) }
            if let failure = result.failure {
                // The last segment only: a torn tail (no whole record after the failure) or the
                // power-loss pattern (§3.3: a zero page, later records after it).
                let zeroPage = isLast && result.validRecordFollows ? result.zeroPage : nil
                guard isLast, !result.validRecordFollows || zeroPage != nil else {
                    let why = isLast ? "\(failure), and a whole valid record follows it" : failure
                    throw .corrupt(segment: name.fileName, offset: result.validBytes, problem: why)
                }
                if repair { try truncate(path: path, to: result.validBytes) }
                report.truncated = zeroPage.map {
                    JournalTail(segment: name.fileName, offset: result.validBytes, bytes: result.failedBytes,
                                records: 1 + $0.recordsAfter, problem: JournalTail.zeroPage, gapOffset: $0.gapOffset)
                } ?? JournalTail(segment: name.fileName, offset: result.validBytes, bytes: result.failedBytes,
                                 records: result.recordsBegun, problem: failure)
            }
            if !isLast && result.records == 0 {
                throw .corrupt(segment: name.fileName, offset: 0, problem: "empty segment before the last")
            }
            report.records += result.records
            report.segmentBytes.append(result.validBytes)
            if let last = result.lastSequence { report.lastSequence = last }
            if isLast {
                report.lastSegmentBytes = result.validBytes
                report.lastSegmentFileBytes = result.failure != nil && repair ? result.validBytes : data.count
            }
        }
        return report
    }

    /// The segment and byte offset of record `sequence`, or nil when it is not stored.
    func locate(sequence: UInt64) throws(JournalStoreError) -> (segment: String, offset: Int)? {
        try Self.locate(directory: directory, sequence: sequence)
    }

    static func locate(directory: String, sequence: UInt64) throws(JournalStoreError) -> (segment: String, offset: Int)? {
        guard let name = try segmentNames(directory: directory).last(where: { $0.firstSequence <= sequence }) else { return nil }
        let path = directory + "/" + name.fileName
        guard let data = FileManager.default.contents(atPath: path) else { throw .io(path: path, errno: EIO) }
        return data.withUnsafeBytes { raw -> (String, Int)? in
            var offset = 0
            var current = name.firstSequence
            while offset < raw.count, let frame = try? JournalFrame.parse(UnsafeRawBufferPointer(rebasing: raw[offset...])) {
                if current == sequence { return (name.fileName, offset) }
                offset += frame.length
                current += 1
            }
            return nil
        }
    }

    private static func truncate(path: String, to size: Int) throws(JournalStoreError) {
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, errno: errno) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0, fsync(fd) == 0 else { throw .io(path: path, errno: errno) }
    }
}
