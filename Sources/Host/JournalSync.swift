#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The journal's group commit (docs/DURABILITY.md §3): `lanes` threads, each of which
/// calls `fdatasync` whenever unsynced bytes exist and it is idle, so one sync covers every
/// record appended meanwhile, and with two lanes a group that forms while a sync is in
/// flight starts its own at once instead of waiting for it. The event loop only hands
/// them requests (a lock and a signal) and never waits for a sync. Outcomes may arrive
/// out of order; each covers everything written before its request.
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
    /// Sync threads; each syncs through its own descriptor of each file (`SegmentFile`).
    let lanes: Int
    /// The least time from the start of one sync of a lane to the start of its next
    /// (docs/DURABILITY.md §3, *sync pacing*): a lane that finished a sync sooner waits out
    /// the rest before it takes the next request, and what is written meanwhile joins it.
    /// A lane that was idle longer starts at once. Fixed (0: back to back) or adaptive.
    let pacing: SyncPacing
    /// The CPU pressure file adaptive pacing reads (a test's stand-in, else the kernel's).
    private let pressurePath: String
    private let condition = NSCondition()
    private var pending: Request?
    /// The requests other lanes are syncing, by lane: a lane that takes a request syncs
    /// their files (and the directory if one of them does) too, so each success is
    /// complete on its own whatever order the lanes finish in.
    private var inFlight: [Int: Request] = [:]
    private var stopping = false
    private var running = 0
    private var report: @Sendable (Outcome) -> Void = { _ in }
    private var paced: @Sendable (_ intervalNanos: UInt64, _ pressure: Double?) -> Void = { _, _ in }

    init(directory: String, lanes: Int = 1, pacing: SyncPacing = .fixed(micros: 0),
         pressurePath: String = "/proc/pressure/cpu") {
        directoryPath = directory
        self.lanes = max(1, lanes)
        self.pacing = pacing
        self.pressurePath = pressurePath
    }

    /// Starts the threads; `report` is called on the thread of each sync after it, and
    /// `paced` with the interval a lane applies before its next sync (ns) and the CPU
    /// pressure share it was chosen by (adaptive pacing only; nil when unknown).
    func start(report: @escaping @Sendable (Outcome) -> Void,
               paced: @escaping @Sendable (_ intervalNanos: UInt64, _ pressure: Double?) -> Void = { _, _ in }) {
        self.report = report
        self.paced = paced
        condition.lock()
        running = lanes
        condition.unlock()
        for lane in 0..<lanes {
            startThread(named: "journal-sync-\(lane)") { [self] in run(lane: lane) }
        }
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

    /// Ends the threads after the syncs in progress, if any; pending requests are dropped.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func run(lane: Int) {
        var lastStart: UInt64?
        var pacer = LanePacer(pacing, pressurePath: pressurePath)
        while true {
            if let lastStart {
                let (interval, share) = pacer.interval(now: DispatchTime.now().uptimeNanoseconds)
                paced(interval, share)
                pace(interval, since: lastStart)
            }
            condition.lock()
            while pending == nil && !stopping { condition.wait() }
            if stopping {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let request = Self.covering(pending!, inFlight: inFlight.values)
            pending = nil
            inFlight[lane] = request
            condition.unlock()
            lastStart = DispatchTime.now().uptimeNanoseconds
            let outcome = sync(request, lane: lane)
            condition.lock()
            inFlight[lane] = nil
            condition.unlock()
            report(outcome)
        }
    }

    /// Sleeps until `interval` ns after `start` (a sync's start), unless stopping.
    private func pace(_ interval: UInt64, since start: UInt64) {
        guard interval > 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now &- start < interval else { return }
        condition.lock()
        let stop = stopping
        condition.unlock()
        if !stop { usleep(UInt32((interval - (now &- start)) / 1_000)) }
    }

    /// `request` widened to every file and the directory sync of the requests in flight
    /// on other lanes (pure; docs/DURABILITY.md §3, *sync lanes*).
    static func covering(_ request: Request, inFlight: some Sequence<Request>) -> Request {
        var out = request
        for other in inFlight {
            for f in other.files where !out.files.contains(where: { $0 === f }) { out.files.append(f) }
            out.directory = out.directory || other.directory
        }
        return out
    }

    private func sync(_ request: Request, lane: Int) -> Outcome {
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        for file in request.files where fdatasync(file.descriptor(lane: lane)) != 0 {
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
