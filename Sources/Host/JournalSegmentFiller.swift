#if canImport(Glibc)
import Glibc
#endif
import CHostSys
import Foundation

/// Keeps one **spare segment** ready for the local journal (docs/DURABILITY.md §3,
/// *preallocated segments*): a file `DATA/journal/next.spare` of `bytes` bytes, every one
/// written with zeros and synced (`fsync`) on this object's own thread, so that when the
/// journal begins its next segment it only renames the spare (`take`), and records are
/// then written with `pwrite` over allocated, written blocks, whose `fdatasync` need not
/// commit any metadata. A spare that is not ready when asked for is not waited for: the
/// caller creates the segment inline (and counts it).
///
/// A real zero write, not `fallocate(2)` alone: fallocated extents are *unwritten*, and the
/// first write to each block converts it, a metadata change every `fdatasync` must commit.
final class JournalSegmentFiller: @unchecked Sendable {
    /// The spare's file name in the journal directory (the start-up scan ignores it).
    static let spareName = "next.spare"
    /// Bytes of zeros written per `pwrite` while filling, each written back to the device
    /// before the next (`sync_file_range`): the filler never has more than this in flight.
    static let chunkBytes = 256 << 10

    let directory: String
    /// Size of each spare, bytes: the journal's segment size.
    let bytes: Int
    /// Seconds between attempts after a failed fill (disk full, I/O error).
    let retrySeconds: Double
    private let condition = NSCondition()
    /// The descriptor (read-write) of the spare, when one is filled and synced.
    private var ready: Int32?
    private var stopping = false
    private var running = false
    /// Fills finished, successful or not.
    private var attempts = 0
    private var thread: Thread?
    /// Called on the filler's thread after each failed fill with the errno.
    private let onFailure: @Sendable (Int32) -> Void
    /// Test hook: called on the filler's thread before each fill begins.
    private let beforeFill: @Sendable () -> Void

    var path: String { directory + "/" + Self.spareName }

    init(directory: String, bytes: Int, retrySeconds: Double = 1,
         onFailure: @escaping @Sendable (Int32) -> Void = { _ in },
         beforeFill: @escaping @Sendable () -> Void = {})
    {
        self.directory = directory
        self.bytes = max(bytes, 1)
        self.retrySeconds = retrySeconds
        self.onFailure = onFailure
        self.beforeFill = beforeFill
    }

    /// Starts the thread, which fills a spare at once (a leftover spare of a crashed host is
    /// filled again: its contents are not trusted).
    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard thread == nil else { return }
        running = true
        thread = startThread(named: "journal-spare") { [self] in run() }
    }

    /// Renames the ready spare to `target` and hands over its descriptor (opened read-write,
    /// positioned nowhere: write with `pwrite`), then lets the thread fill the next one. Nil
    /// when no spare is ready (or the filler is not running): the caller creates the segment
    /// itself. Never waits for a fill.
    func take(renamingTo target: String) throws(JournalStoreError) -> Int32? {
        condition.lock()
        defer { condition.unlock() }
        guard let fd = ready else { return nil }
        guard rename(path, target) == 0 else {
            let e = errno
            throw .io(path: target, errno: e)
        }
        ready = nil
        condition.broadcast()
        return fd
    }

    /// Whether the thread runs (started and not stopped).
    var isRunning: Bool {
        condition.lock()
        defer { condition.unlock() }
        return running && !stopping
    }

    /// Whether a spare is ready now.
    var isReady: Bool {
        condition.lock()
        defer { condition.unlock() }
        return ready != nil
    }

    /// Blocks until a spare is ready or the filler stops (tests and benchmarks).
    func waitUntilReady() {
        condition.lock()
        while ready == nil && running && !stopping { condition.wait() }
        condition.unlock()
    }

    /// Blocks until the first fill has ended, ready or failed (a host starting on an empty
    /// journal, so its first segment is preallocated too; never on a full disk for longer
    /// than one attempt).
    func waitForFirstAttempt() {
        condition.lock()
        while attempts == 0 && running && !stopping { condition.wait() }
        condition.unlock()
    }

    /// Ends the thread (after the chunk being written) and removes the spare. Waits at most
    /// `wait` seconds for a thread inside a write or the `fsync` of a fill, which on a busy
    /// disk can take tens of seconds: a host that is stopping never uses that spare. The
    /// thread then ends by itself after its system call (removing a partial spare); a spare
    /// it completes is left to the next start's filler, which rewrites it, as after a crash.
    /// Returns whether the thread had ended.
    @discardableResult
    func stop(wait: TimeInterval = 1) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        let deadline = Date().addingTimeInterval(wait)
        while running && thread != nil {
            if !condition.wait(until: deadline) { break }
        }
        guard !(running && thread != nil) else { return false }
        if let fd = ready {
            close(fd)
            unlink(path)
            ready = nil
        }
        return true
    }

    private func run() {
        // The lowest CPU priority for this thread alone (on Linux a nice value is per thread,
        // and `who` 0 names the calling one): writing 72 MiB of zeros costs ~60 ms of CPU
        // in the kernel's copies, and where the event loop, the worker and the clients keep
        // the cores busy, a filler at normal priority takes that time from the event loop
        // right after a segment roll (suspected in input-side stalls of 40-60 ms in receipt
        // latency traces at 50k/s). The spare is needed only by the next roll, seconds later.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        while true {
            condition.lock()
            while ready != nil && !stopping { condition.wait() }
            if stopping {
                running = false
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.unlock()
            beforeFill()
            // The first fill is not paced: a host starting on an empty journal waits for it
            // before it serves, and no records are being synced yet.
            condition.lock()
            let paced = attempts > 0
            condition.unlock()
            switch fill(paced: paced) {
            case .success(let fd):
                condition.lock()
                ready = fd
                attempts += 1
                condition.broadcast()
                condition.unlock()
            case .failure(let e):
                if e.errno != ECANCELED { onFailure(e.errno) }
                condition.lock()
                attempts += 1
                condition.broadcast()
                if !stopping { _ = condition.wait(until: Date().addingTimeInterval(retrySeconds)) }
                condition.unlock()
            }
        }
    }

    struct FillError: Error { var errno: Int32 }

    /// Writes the spare: `bytes` zeros, then `fsync` (data and size). Fails with ENOSPC
    /// without writing when the filesystem has fewer than `bytes` free for unprivileged
    /// users (`statvfs`: a spare must not take the last space the records need). On failure
    /// the partial file is removed, so a full disk keeps no half spare.
    private func fill(paced: Bool) -> Result<Int32, FillError> {
        var fs = statvfs()
        if statvfs(directory, &fs) == 0, Int(fs.f_bavail) * Int(fs.f_frsize) < bytes {
            unlink(path)
            return .failure(FillError(errno: ENOSPC))
        }
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failure(FillError(errno: errno)) }
        let zeros = [UInt8](repeating: 0, count: min(Self.chunkBytes, bytes))
        var offset = 0
        var failure: Int32?
        while offset < bytes, failure == nil {
            if isStopping {
                failure = ECANCELED
                break
            }
            let n = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress!, min($0.count, bytes - offset), off_t(offset)) }
            if n < 0 {
                if errno != EINTR { failure = errno }
                continue
            }
            // Paced: this chunk reaches the device before the next is written. Left to the
            // final `fsync`, 64 MiB of dirty pages go to the device in one burst, and every
            // `fdatasync` of the journal queued behind it waits: measured at 50k orders/s,
            // the spare's `fsync` took 38 ms and a records sync beside it 27 ms instead of
            // 1-5 ms, once per segment. A filesystem without the call (EINVAL, ENOSYS) is
            // filled unpaced; an I/O error fails the fill. The first fill is not paced.
            if paced, ss_write_back_range(fd, Int64(offset), Int64(n)) != 0,
                errno != EINVAL, errno != ENOSYS, errno != EINTR
            {
                failure = errno
            }
            offset += n
        }
        if failure == nil, fsync(fd) != 0 { failure = errno }
        if let failure {
            close(fd)
            unlink(path)
            return .failure(FillError(errno: failure))
        }
        return .success(fd)
    }

    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }
}
