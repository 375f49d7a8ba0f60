import Testing
import TestSupport

@testable import Host

/// The queue behind ReplyOrder, ReleaseGate and ReplicationWindow, against a plain array
/// used as a model.
@Suite("FIFO queue")
struct FIFOQueueTests {
    @Test func popsInAppendOrder() {
        var q = FIFOQueue<Int>()
        #expect(q.isEmpty && q.count == 0 && q.first == nil && q.popFirst() == nil)
        for i in 0..<5 { q.append(i) }
        #expect(q.count == 5 && q.first == 0 && q[4] == 4)
        #expect(q.popFirst() == 0 && q.popFirst() == 1)
        #expect(q.count == 3 && q.first == 2 && q[0] == 2 && q[2] == 4)
        q[1] = 30
        #expect(q.popFirst() == 2 && q.popFirst() == 30 && q.popFirst() == 4 && q.popFirst() == nil)
        #expect(q.isEmpty)
    }

    /// Below the threshold the consumed front stays until the queue empties; then the
    /// storage is dropped at once.
    @Test func emptyingDropsTheConsumedFront() {
        var q = FIFOQueue<Int>(compactionThreshold: 1000)
        for i in 0..<100 { q.append(i) }
        for _ in 0..<99 { q.popFirst() }
        #expect(q.storageCount == 100 && q.first == 99)
        q.popFirst()
        #expect(q.storageCount == 0 && q.isEmpty)
        q.append(7)
        #expect(q.first == 7 && q[0] == 7 && q.count == 1)
    }

    /// Past the threshold, once the consumed front is more than half the storage it is
    /// dropped, and offsets still name the same elements.
    @Test func compactsAFrontThatNeverEmpties() {
        var q = FIFOQueue<Int>(compactionThreshold: 16)
        for i in 0..<40 { q.append(i) }
        for _ in 0..<17 { q.popFirst() }
        #expect(q.storageCount == 40, "17 consumed of 40 is not more than half")
        for _ in 0..<4 { q.popFirst() }
        #expect(q.storageCount == 19, "21 consumed of 40: dropped")
        #expect(q.count == 19 && q.first == 21 && q[18] == 39)
        q[18] = -1
        q.append(40)
        #expect(q[18] == -1 && q[19] == 40)
    }

    /// Many random pushes and pops (runs of each, so the queue grows and shrinks through
    /// the threshold) agree with the model at every step, in every element; the storage
    /// never holds more than max(2 × count, count + threshold).
    @Test(arguments: [0, 1, 16, 1024])
    func agreesWithAnArrayOverManyCycles(threshold: Int) {
        var rng = SplitMix64(seed: 0xF1F0 &+ UInt64(threshold))
        var q = FIFOQueue<UInt64>(compactionThreshold: threshold)
        // The model: an array that only grows, and the index of its first live element.
        var model: [UInt64] = []
        var front = 0
        var compactions = 0
        var failures = 0
        func check(_ ok: Bool, _ what: @autoclosure () -> String) {
            guard !ok else { return }
            failures += 1
            if failures <= 5 { Issue.record(Comment(rawValue: what())) }
        }
        for _ in 0..<2_000 {
            let run = Int(rng.next() % 300)
            let pushing = rng.next() % 2 == 0
            for _ in 0..<run {
                if pushing {
                    q.append(UInt64(model.count))
                    model.append(UInt64(model.count))
                } else {
                    let before = q.storageCount
                    let popped = q.popFirst()
                    check(popped == (front < model.count ? model[front] : nil), "popped \(String(describing: popped))")
                    if front < model.count { front += 1 }
                    if q.storageCount < before { compactions += 1 }
                }
                check(q.count == model.count - front, "count \(q.count), model \(model.count - front)")
                check(q.storageCount <= max(2 * q.count, q.count + threshold), "storage \(q.storageCount) for \(q.count)")
            }
            check(q.first == (front < model.count ? model[front] : nil), "first")
            if front < model.count {
                let i = Int(rng.next() % UInt64(model.count - front))
                check(q[i] == model[front + i], "element \(i)")
                q[i] = model[front + i] | 1 << 63
                model[front + i] |= 1 << 63
            }
        }
        while let popped = q.popFirst() {
            check(popped == model[front], "draining")
            front += 1
        }
        #expect(failures == 0 && front == model.count && q.storageCount == 0)
        #expect(model.count > 100_000 && compactions > 20, "the run exercised compaction: \(model.count) pushes, \(compactions)")
    }
}
