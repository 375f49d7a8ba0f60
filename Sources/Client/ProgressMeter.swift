#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Progress lines for long command-line runs (`sealstream-client drill`, `attestation
/// verify-outputs`; docs/SCENARIOS.md "Progress output"). Pure: the caller passes the
/// time, the meter answers the line to print, if any.
///
/// A line is due when `interval` seconds have passed since the last printed one (the first
/// one `interval` after the run started), and once when a phase with a known total
/// completes, so a short run prints one line per phase and a long one at most one more per
/// interval. Rates are per second over the phase so far, a phase counting from the
/// previous phase's last update (or the start); the ETA is what is left of the phase at
/// that rate.
public struct ProgressMeter: Sendable {
    /// The tool's name, the first word of every line (`drill`, `verify-outputs`).
    public let tool: String
    /// Seconds between two rate-limited lines.
    public let interval: Double
    private var phase: String?
    private var phaseStart = 0.0
    /// The current phase's completion line was printed.
    private var finished = false
    private var lastLine: Double
    /// Time of the last update, of any phase: where the next phase starts.
    private var lastUpdate: Double

    /// `start` is the run's start, in seconds on any monotonic clock the caller keeps using.
    public init(tool: String, interval: Double = 0.5, start: Double) {
        self.tool = tool
        self.interval = interval
        self.lastLine = start
        self.lastUpdate = start
    }

    /// `done` of `total` units (`unit`: what they are, plural) of `phase` at time `now`
    /// (seconds, same clock as `start`); `total` nil when not known in advance. Returns the
    /// line to print, without its newline, or nil when none is due.
    public mutating func update(phase: String, done: Int, total: Int?, unit: String, now: Double) -> String? {
        defer { lastUpdate = now }
        if phase != self.phase {
            // Phases follow each other: a phase's time runs from the previous one's last
            // update (or the start), so the work before its first report counts.
            self.phase = phase
            phaseStart = lastUpdate
            finished = false
        }
        let complete = total.map { done >= $0 } ?? false
        guard !finished, complete || now - lastLine >= interval else { return nil }
        lastLine = now
        finished = complete
        let elapsed = now - phaseStart
        let rate = elapsed > 0 ? Double(done) / elapsed : nil
        var line = "\(tool): \(phase) \(done)"
        if let total { line += "/\(total) \(unit)" + (total > 0 ? " (\(done * 100 / total)%)" : "") } else { line += " \(unit)" }
        if let rate { line += ", " + Self.format(rate) + "/s" }
        if complete {
            line += ", done in " + Self.format(elapsed) + " s"
        } else if let total, let rate, rate > 0 {
            line += ", ETA " + Self.format(Double(total - done) / rate) + " s"
        }
        return line
    }

    /// Three significant figures at most, no exponent: 0.0123, 1.23, 123, 12345.
    static func format(_ x: Double) -> String {
        if x >= 100 { return String(Int(x.rounded())) }
        if x >= 10 { return String(format: "%.1f", x) }
        if x >= 1 { return String(format: "%.2f", x) }
        return String(format: "%.3f", x)
    }
}

/// The I/O shell of `ProgressMeter`: writes its lines to standard error, never standard
/// output, so machine-readable output stays as it is. Thread-safe.
public final class ProgressReporter: @unchecked Sendable {
    private let lock = NSLock()
    private var meter: ProgressMeter

    /// A reporter when progress is wanted: `requested` true (`--progress`) or false
    /// (`--no-progress`) decides; nil means "only when standard error is a terminal".
    public static func make(tool: String, requested: Bool?) -> ProgressReporter? {
        (requested ?? (isatty(2) == 1)) ? ProgressReporter(tool: tool) : nil
    }

    public init(tool: String, interval: Double = 0.5) {
        meter = ProgressMeter(tool: tool, interval: interval, start: Self.now())
    }

    /// Reports `done` of `total` `unit` in `phase`; prints a line when one is due.
    public func update(phase: String, done: Int, total: Int?, unit: String) {
        let line = lock.withLock { meter.update(phase: phase, done: done, total: total, unit: unit, now: Self.now()) }
        if let line { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// Seconds on the monotonic clock.
    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
