#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The journal's group commit (docs/DURABILITY.md §3): one thread that calls `fdatasync`
/// whenever unsynced bytes exist, so one sync covers every record appended meanwhile. The
/// event loop only hands it requests (a lock and a signal) and never waits for a sync.
final class JournalSync: @unchecked Sendable {
    /// Everything written up to `position` is to be made durable.
    struct Request {
        /// Bumped by the owner after a rewind, so outcomes about rewound bytes are ignored.
        var generation: UInt64
        var position: JournalPosition
        var files: [SegmentFile]
        /// A segment was created or removed: the directory needs a sync too.
        var directory: Bool
    }

    enum Outcome {
        /// Everything up to `position` is on disk; the sync took `seconds`.
        case synced(generation: UInt64, position: JournalPosition, seconds: Double)
        case failed(generation: UInt64, errno: Int32, path: String, seconds: Double)
    }

    private let directoryPath: String
    private let condition = NSCondition()
    private var pending: Request?
    private var stopping = false
    private var running = false
    private var report: @Sendable (Outcome) -> Void = { _ in }

    init(directory: String) {
        directoryPath = directory
    }

    /// Starts the thread; `report` is called on it after each sync.
    func start(report: @escaping @Sendable (Outcome) -> Void) {
        self.report = report
        condition.lock()
        running = true
        condition.unlock()
        let thread = Thread { [self] in run() }
        thread.name = "journal-sync"
        thread.start()
    }

    /// Asks for a sync up to `request.position`, merged with any request not yet taken.
    func request(_ request: Request) {
        condition.lock()
        if var p = pending, p.generation == request.generation {
            for f in request.files where !p.files.contains(where: { $0 === f }) { p.files.append(f) }
            p.position = request.position
            p.directory = p.directory || request.directory
            pending = p
        } else {
            pending = request
        }
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread after the sync in progress, if any; pending requests are dropped.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        while running { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while pending == nil && !stopping { condition.wait() }
            if stopping {
                running = false
                condition.broadcast()
                condition.unlock()
                return
            }
            let request = pending!
            pending = nil
            condition.unlock()
            report(sync(request))
        }
    }

    private func sync(_ request: Request) -> Outcome {
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        for file in request.files where fdatasync(file.fd) != 0 {
            return .failed(generation: request.generation, errno: errno, path: directoryPath + "/" + file.name.fileName,
                           seconds: seconds())
        }
        if request.directory {
            let fd = open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            let ok = fd >= 0 && fsync(fd) == 0
            let e = errno
            if fd >= 0 { close(fd) }
            if !ok { return .failed(generation: request.generation, errno: e, path: directoryPath, seconds: seconds()) }
        }
        return .synced(generation: request.generation, position: request.position, seconds: seconds())
    }
}
