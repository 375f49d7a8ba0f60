import Dispatch
import Foundation

/// Rewrites `DATA/metrics.prom` (docs/OPERATIONS.md §4) every interval on its own serial
/// queue, never on an event loop: rendering every histogram, writing the file and the
/// `fsync` of its atomic replacement took 3 ms and more on the supervisor's loop under load
/// (a `perf trace` of the host at 50k orders/s), a pause every input and reply behind it
/// waited for.
final class MetricsTextfile: @unchecked Sendable {
    private let queue = DispatchQueue(label: "metrics-textfile", qos: .utility)
    private let timer: DispatchSourceTimer
    private let write: @Sendable () -> Void

    /// `write` runs on the writer's queue, one call at a time.
    init(intervalMillis: Int64, write: @escaping @Sendable () -> Void) {
        self.write = write
        timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = DispatchTimeInterval.milliseconds(Int(max(intervalMillis, 1)))
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { write() }
        timer.resume()
    }

    /// Stops the periodic writes (a write under way finishes).
    func cancel() {
        timer.cancel()
    }

    /// Stops the periodic writes and writes once more after any under way, so the last
    /// file holds the last counts (shutdown).
    func finalWrite() {
        timer.cancel()
        queue.sync { write() }
    }
}
