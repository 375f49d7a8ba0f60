#if canImport(Glibc)
import Glibc
#endif
import Journal

/// `DATA/journal-verified` (docs/REPLICATION.md §4): the last record this host knows to be
/// in the stream's journal — read back from the stream, followed, or acknowledged by its
/// quorum. At start-up the verified-prefix search trusts the local copy only up to it: a
/// primary's local copy can hold records past its last acknowledged one that a cut-off
/// publish later stored in the stream as a skipped message, and those are not the journal.
/// Written without `fsync` (a mark that lags or reads back invalid only makes the host read
/// more of the stream), at most every `interval` nanoseconds while it advances. 12 bytes:
/// the record sequence (u64, big-endian) and the CRC-32C of those 8 bytes (u32,
/// big-endian). Confined to the event loop.
final class StreamMark {
    /// Most often the mark is rewritten while it advances, ns.
    static let interval: UInt64 = 100_000_000

    let path: String
    private var fd: Int32 = -1
    private(set) var value: UInt64
    private var written: UInt64
    private var writtenAt: UInt64 = 0

    /// The mark's path for the journal directory `directory` (`DATA/journal`).
    static func path(journalDirectory directory: String) -> String { directory + "-verified" }

    /// The mark in `path`; 0 when absent, short or failing its CRC.
    static func read(path: String) -> UInt64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 12)
        guard bytes.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, 12, 0) }) == 12 else { return 0 }
        return decode(bytes)
    }

    static func encode(_ value: UInt64) -> [UInt8] {
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
        let crc = bytes.withUnsafeBytes { CRC32C.checksum($0) }
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: crc >> (24 - 8 * $0)) }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> UInt64 {
        guard bytes.count == 12 else { return 0 }
        let crc = bytes[8..<12].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard bytes[0..<8].withUnsafeBytes({ CRC32C.checksum($0) }) == crc else { return 0 }
        return bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// Opens (creating, mode 0600) the mark of `journalDirectory` and writes `value` now.
    init(journalDirectory: String, value: UInt64) {
        path = Self.path(journalDirectory: journalDirectory)
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        self.value = value
        written = 0
        write(now: Self.monotonicNanos())
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Records that the journal holds every record up to `value`; rewrites the file when
    /// `interval` has passed since the last write, or when `force` is set.
    func advance(to value: UInt64, force: Bool = false) {
        guard value > self.value else {
            if force, self.value != written { write(now: Self.monotonicNanos()) }
            return
        }
        self.value = value
        let now = Self.monotonicNanos()
        if force || now &- writtenAt >= Self.interval { write(now: now) }
    }

    private func write(now: UInt64) {
        guard fd >= 0 else { return }
        let bytes = Self.encode(value)
        // A failed write leaves an older or invalid mark: safe (more of the stream is read).
        if bytes.withUnsafeBytes({ pwrite(fd, $0.baseAddress, 12, 0) }) == 12 { written = value }
        writtenAt = now
    }

    private static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
