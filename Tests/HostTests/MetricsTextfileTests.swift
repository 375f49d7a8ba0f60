import Foundation
import Synchronization
import Testing

@testable import Host

/// `DATA/metrics.prom` is rewritten on a queue of its own (docs/OPERATIONS.md §4): periodic
/// writes, one at a time, never on the calling thread; the final write runs after any
/// periodic one under way, and none follows it.
@Suite("Metrics textfile writer")
struct MetricsTextfileTests {
    @Test func writesPeriodicallyOffTheCallerAndLastOnceAtTheEnd() throws {
        let caller = pthread_self()
        let writes = Mutex<[Bool]>([])  // per write: whether it ran on the caller's thread
        let inside = Atomic<Int>(0)
        let overlapped = Atomic<Bool>(false)
        let writer = MetricsTextfile(intervalMillis: 5) {
            if inside.add(1, ordering: .sequentiallyConsistent).newValue > 1 { overlapped.store(true, ordering: .relaxed) }
            usleep(1_000)
            writes.withLock { $0.append(pthread_equal(pthread_self(), caller) != 0) }
            inside.subtract(1, ordering: .sequentiallyConsistent)
        }
        let deadline = Date().addingTimeInterval(10)
        while writes.withLock({ $0.count }) < 3 && Date() < deadline { usleep(2_000) }
        #expect(writes.withLock { $0.count } >= 3, "periodic writes every 5 ms")
        writer.finalWrite()
        let afterFinal = writes.withLock { $0.count }
        usleep(30_000)
        #expect(writes.withLock { $0.count } == afterFinal, "nothing is written after the final write")
        let didOverlap = overlapped.load(ordering: .relaxed)
        #expect(!didOverlap, "one write at a time")
        // The final write runs on the writer's queue too (queue.sync may run it on the caller's
        // thread: that is the one allowed exception); every periodic write is off the caller.
        #expect(writes.withLock { $0.dropLast().allSatisfy { !$0 } })
    }
}
