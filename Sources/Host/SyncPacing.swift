#if canImport(Glibc)
import Glibc
#endif

/// How a journal sync lane paces its syncs (docs/DURABILITY.md §3, *sync pacing*): the least
/// time from the start of one sync of a lane to the start of its next.
public enum SyncPacing: Equatable, Sendable, CustomStringConvertible {
    /// A fixed interval, 0–100,000 µs; 0 syncs back to back.
    case fixed(micros: Int)
    /// From `AdaptivePacing.minimumMicros` while the machine's CPUs have room to
    /// `AdaptivePacing.maximumMicros` while they are contended, by the CPU pressure the
    /// kernel reports (`/proc/pressure/cpu`).
    case adaptive

    /// `auto`, or a whole number of microseconds 0–100,000 in canonical decimal form (no
    /// sign, no leading zero); nil otherwise.
    public init?(argument: String) {
        if argument == "auto" { self = .adaptive; return }
        guard !argument.isEmpty, argument.count <= 6, argument.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
              argument == "0" || argument.first != "0", let micros = Int(argument), micros <= 100_000
        else { return nil }
        self = .fixed(micros: micros)
    }

    /// As the command line and the `journal_opened` log line write it.
    public var description: String {
        switch self {
        case .fixed(let micros): "\(micros)"
        case .adaptive: "auto"
        }
    }
}

/// The adaptive interval (docs/DURABILITY.md §3, *adaptive pacing*): a function of the share
/// of wall time in which some runnable task waited for a CPU over the last window.
/// Shorter syncs shorten the wait of every receipt while the cores have room, but each sync
/// and each release of its group costs CPU (a wake-up of the sync lane, `fdatasync`'s kernel
/// work, a burst of replies); while the cores are contended that CPU delays everything else,
/// and fewer, larger groups are better.
enum AdaptivePacing {
    /// The interval while the pressure is at or below `lowShare`, µs.
    static let minimumMicros: UInt64 = 250
    /// The interval while the pressure is at or above `highShare`, and whenever it cannot
    /// be read, µs (the fixed default's).
    static let maximumMicros: UInt64 = 1_000
    static let lowShare = 0.25
    static let highShare = 0.40
    /// How often a lane reads the pressure: the window its share is measured over, ns.
    static let windowNanos: UInt64 = 100_000_000

    /// The interval for a window's pressure `share` (0…1; nil: unknown), in ns: linear
    /// between the two bounds, rounded down to a whole µs.
    static func intervalNanos(share: Double?) -> UInt64 {
        guard let share, share.isFinite else { return maximumMicros * 1_000 }
        if share <= lowShare { return minimumMicros * 1_000 }
        if share >= highShare { return maximumMicros * 1_000 }
        let fraction = (share - lowShare) / (highShare - lowShare)
        let micros = Double(minimumMicros) + fraction * Double(maximumMicros - minimumMicros)
        return UInt64(micros.rounded(.down)) * 1_000
    }
}

/// CPU pressure (Linux PSI, `/proc/pressure/cpu`): the total time, µs, in which at least one
/// runnable task waited for a CPU (`some … total=N`), sampled at most once per window.
struct CPUPressureSampler {
    let path: String
    let windowNanos: UInt64
    private var last: (total: UInt64, at: UInt64)?
    /// When the file was last tried, read or not: at most one attempt per window, so a
    /// kernel without PSI costs one failed `open` per window, not one per sync.
    private var lastAttempt: UInt64?
    /// The share of the last complete window in which some task waited (0…1); nil before
    /// two readings or while the file cannot be read.
    private(set) var share: Double?

    init(path: String = "/proc/pressure/cpu", windowNanos: UInt64 = AdaptivePacing.windowNanos) {
        self.path = path
        self.windowNanos = windowNanos
    }

    /// Reads the file if a window has passed since the last reading (monotonic `now`, ns)
    /// and updates `share`; returns it.
    mutating func sample(now: UInt64) -> Double? {
        if let lastAttempt, now &- lastAttempt < windowNanos { return share }
        lastAttempt = now
        guard let total = Self.readTotal(path) else {
            last = nil
            share = nil
            return nil
        }
        if let last, now > last.at, total >= last.total {
            share = min(1, Double(total - last.total) * 1_000 / Double(now - last.at))
        }
        last = (total, now)
        return share
    }

    /// The `some` line's `total` of the file at `path`; nil if it cannot be read or parsed.
    static func readTotal(_ path: String) -> UInt64? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return someTotal(String(decoding: buffer[..<n], as: UTF8.self))
    }

    /// The `total=` of the line that starts `some ` in a PSI file's text (the kernel's
    /// format: `some avg10=A avg60=B avg300=C total=N`); nil if there is none or it is not
    /// a decimal integer.
    static func someTotal(_ text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("some ") {
            for field in line.split(separator: " ") where field.hasPrefix("total=") {
                let digits = field.dropFirst("total=".count)
                guard !digits.isEmpty, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
                return UInt64(digits)
            }
            return nil
        }
        return nil
    }
}

/// One sync lane's pacing: the interval before its next sync may start.
struct LanePacer {
    let pacing: SyncPacing
    private var sampler: CPUPressureSampler

    init(_ pacing: SyncPacing, pressurePath: String = "/proc/pressure/cpu") {
        self.pacing = pacing
        sampler = CPUPressureSampler(path: pressurePath)
    }

    /// The least time from the start of the lane's last sync to the start of its next, ns,
    /// as of monotonic `now`; with the pressure share it was computed from (nil: fixed or
    /// unknown).
    mutating func interval(now: UInt64) -> (nanos: UInt64, share: Double?) {
        switch pacing {
        case .fixed(let micros): return (UInt64(micros) * 1_000, nil)
        case .adaptive:
            let share = sampler.sample(now: now)
            return (AdaptivePacing.intervalNanos(share: share), share)
        }
    }
}
