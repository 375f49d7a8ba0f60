#if canImport(Glibc)
import Glibc
#endif
import CHostSys
import Foundation
import Journal
import Logging

/// A snapshot file in `DATA/snapshots/` whose header the host could read.
struct StoredSnapshot: Equatable, Sendable {
    /// `<n, 20 digits>.snap`.
    var fileName: String
    var header: SnapshotHeader
    /// File size, bytes.
    var size: Int
}

/// `DATA/snapshots/` (docs/DURABILITY.md §6.6): the worker's sealed snapshots, read from
/// its snapshot pipe on a thread of their own (never the event loop), written to
/// `<n>.snap.tmp` a MiB at a time, each written back to the device before the next
/// (`sync_file_range`, as the journal's filler does: a snapshot's dirty pages left to one
/// `fsync` would queue ahead of the journal's syncs), fsynced, renamed to `<n>.snap`, the
/// directory fsynced; the two newest are kept. The host has no key: it checks only the header and the exact length.
final class SnapshotStore: @unchecked Sendable {
    /// Snapshots kept; older ones are removed once a newer one is complete.
    static let keep = 2

    let directory: String
    private let logger: Logger
    private let lock = NSLock()
    private var written: UInt64 = 0

    /// Creates the directory (0700) and removes leftover `.tmp` files (snapshots a crash
    /// cut short).
    init(directory: String, logger: Logger) throws {
        self.directory = directory
        self.logger = logger
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw JournalStoreError.io(path: directory, errno: errno)
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".snap.tmp") {
            unlink(directory + "/" + name)
            logger.warning("snapshot_tmp_removed", metadata: ["file": "\(name)"])
        }
    }

    /// Snapshots written by this process so far.
    var writtenCount: UInt64 { lock.withLock { written } }

    /// The file name of a snapshot ending at record `n`.
    static func fileName(_ n: UInt64) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".snap"
    }

    /// Every `.snap` whose name, header and length agree, newest first; any other is
    /// logged (`snapshot_ignored`) and left alone.
    func list() -> [StoredSnapshot] {
        var out: [StoredSnapshot] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".snap") {
            let path = directory + "/" + name
            guard let fh = FileHandle(forReadingAtPath: path) else { continue }
            defer { try? fh.close() }
            let head = (try? fh.read(upToCount: SnapshotHeader.byteCount)) ?? Data()
            let size = (try? fh.seekToEnd()).map { Int($0) } ?? 0
            let header: SnapshotHeader
            do {
                header = try SnapshotHeader.parse(Array(head))
            } catch {
                // Which refusal of docs/DURABILITY.md §6.3 (`payloadTooLarge(…)`, `badChunkSize(…)`, …).
                logger.error("snapshot_ignored", metadata: [
                    "file": "\(name)", "reason": "header does not parse", "error": "\(error)",
                ])
                continue
            }
            guard name == Self.fileName(header.recordSequence), UInt64(size) == header.sealedLength else {
                logger.error("snapshot_ignored", metadata: [
                    "file": "\(name)", "reason": "name or length does not match its header",
                    "size": "\(size)", "expected": "\(header.sealedLength)",
                ])
                continue
            }
            out.append(StoredSnapshot(fileName: name, header: header, size: size))
        }
        return out.sorted { $0.header.recordSequence > $1.header.recordSequence }
    }

    /// The whole file of `snapshot`.
    func contents(_ snapshot: StoredSnapshot) -> [UInt8]? {
        FileManager.default.contents(atPath: directory + "/" + snapshot.fileName).map { Array($0) }
    }

    /// Reads snapshots from `fd` (the host's end of a worker's snapshot pipe) on a new
    /// thread until EOF, then closes it.
    func startReading(fd: Int32) {
        startThread(named: "snapshot-reader") { [self] in
            while self.readOne(fd: fd) {}
            close(fd)
        }
    }

    /// Reads one snapshot off the pipe into a file; false at EOF or on a broken stream.
    private func readOne(fd: Int32) -> Bool {
        var head = [UInt8](repeating: 0, count: SnapshotHeader.byteCount)
        let got = Self.readFully(fd, &head, count: head.count)
        guard got == head.count else {
            if got > 0 { logger.error("snapshot_stream_cut", metadata: ["bytes": "\(got)", "what": "header"]) }
            return false
        }
        let header: SnapshotHeader
        do {
            header = try SnapshotHeader.parse(head)
        } catch {
            logger.error("snapshot_stream_broken", metadata: ["error": "\(error)"])
            return false
        }
        let name = Self.fileName(header.recordSequence)
        let tmp = directory + "/" + name + ".tmp"
        let out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else {
            logger.error("snapshot_write_failed", metadata: ["file": "\(name).tmp", "errno": "\(errno)"])
            return false
        }
        var ok = head.withUnsafeBytes { Self.writeAll(out, $0) }
        var remaining = Int(header.sealedLength) - head.count
        var offset = head.count
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while ok, remaining > 0 {
            let n = Self.readFully(fd, &buffer, count: min(buffer.count, remaining))
            if n <= 0 { break }
            ok = buffer.withUnsafeBytes { Self.writeAll(out, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            // Paced write-back; a filesystem without the call is synced at the end only.
            if ok, ss_write_back_range(out, Int64(offset), Int64(n)) != 0, errno != EINVAL, errno != ENOSYS, errno != EINTR {
                ok = false
            }
            offset += n
            remaining -= n
        }
        let synced = ok && remaining == 0 && fsync(out) == 0
        close(out)
        guard synced else {
            unlink(tmp)
            logger.error("snapshot_incomplete", metadata: ["file": "\(name)", "missing_bytes": "\(remaining)"])
            return remaining == 0
        }
        guard rename(tmp, directory + "/" + name) == 0 else {
            logger.error("snapshot_write_failed", metadata: ["file": "\(name)", "errno": "\(errno)"])
            unlink(tmp)
            return true
        }
        syncDirectory()
        lock.withLock { written += 1 }
        logger.info("snapshot_stored", metadata: [
            "file": "\(name)", "bytes": "\(header.sealedLength)", "record": "\(header.recordSequence)",
            "batch_index": "\(header.batchIndex)",
        ])
        prune()
        return true
    }

    /// Removes all but the `keep` newest snapshots.
    private func prune() {
        let all = list()
        guard all.count > Self.keep else { return }
        for old in all[Self.keep...] {
            unlink(directory + "/" + old.fileName)
            logger.info("snapshot_removed", metadata: ["file": "\(old.fileName)"])
        }
        syncDirectory()
    }

    private func syncDirectory() {
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return }
        _ = fsync(dfd)
        close(dfd)
    }

    private static func readFully(_ fd: Int32, _ buffer: inout [UInt8], count: Int) -> Int {
        var got = 0
        while got < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        return got
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }
}
