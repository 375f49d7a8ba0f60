import Synchronization
import Testing

@testable import Host

/// The handler slot behind the NATS acknowledgement and stream-message sinks and the
/// published-batch sink: calling it must not change it. The check is the stack depth at
/// which the handler runs, the same at the 20,000th call as at the 10th from the same call
/// site. (Kept as `Mutex<((Value) -> Void)?>`, every access wrapped the closure in two more
/// reabstraction thunks, so the depth grew by at least 32 bytes per earlier call: more
/// than 600 KiB by the 20,000th.)
@Suite("Locked handler")
struct LockedHandlerTests {
    /// The address of a local of the handler's frame: lower when the handler runs deeper.
    @inline(never)
    static func stackAddress() -> UInt {
        var local = 0
        return withUnsafeMutablePointer(to: &local) { UInt(bitPattern: $0) }
    }

    final class Depths: Sendable {
        let seen = Mutex<[UInt]>([])
        func record() { seen.withLock { $0.append(LockedHandlerTests.stackAddress()) } }
    }

    static let calls = 20_000
    static let probes: Set<Int> = [10, 20_000]
    static let slack: UInt = 16 * 1024

    /// The depths at `probes` of `calls` calls made by `call`, which is told the call number.
    static func depths(_ call: (Int) -> Void, _ depths: Depths) -> [UInt] {
        var out: [UInt] = []
        for i in 1...calls {
            call(i)
            if probes.contains(i) { out.append(depths.seen.withLock { $0.last! }) }
        }
        return out
    }

    @Test func callingUnderTheLockDoesNotDeepenTheStack() {
        let recorder = Depths()
        let handler = LockedHandler<Int>()
        handler.set { _ in recorder.record() }
        let d = Self.depths({ #expect(handler.callLocked($0)) }, recorder)
        #expect(d.count == 2)
        #expect(d[0] &- d[1] < Self.slack && d[1] &- d[0] < Self.slack, "stack at call 10: \(d[0]), at 20,000: \(d[1])")
    }

    @Test func readingTheHandlerDoesNotDeepenTheStack() {
        let recorder = Depths()
        let handler = LockedHandler<[UInt8]>()
        handler.set { _ in recorder.record() }
        let d = Self.depths({ _ in handler.current?([1]) }, recorder)
        #expect(d[0] &- d[1] < Self.slack && d[1] &- d[0] < Self.slack, "stack at call 10: \(d[0]), at 20,000: \(d[1])")
    }

    /// `CallbackSink` as libnats uses it: generic over the delivered value, called through
    /// the pointer it hands to C.
    @Test func aCallbackSinkDeliversAtAFixedDepth() {
        let recorder = Depths()
        let sink = CallbackSink<JetStreamAck>()
        sink.set { _ in recorder.record() }
        let pointer = sink.retainedForever
        let ack = JetStreamAck.stored(id: "1-00", attempt: 0, sequence: 1, duplicate: false)
        let d = Self.depths({ _ in CallbackSink<JetStreamAck>.from(pointer).deliver(ack) }, recorder)
        #expect(d[0] &- d[1] < Self.slack && d[1] &- d[0] < Self.slack, "stack at call 10: \(d[0]), at 20,000: \(d[1])")
        sink.clear()
        CallbackSink<JetStreamAck>.from(pointer).deliver(ack)
        #expect(recorder.seen.withLock { $0.count } == Self.calls, "no call after clear")
    }

    @Test func clearStopsCalls() {
        let handler = LockedHandler<Int>()
        #expect(!handler.callLocked(1) && handler.current == nil)
        let count = Atomic<Int>(0)
        handler.set { count.add($0, ordering: .relaxed) }
        #expect(handler.callLocked(2))
        handler.clear()
        #expect(!handler.callLocked(3) && handler.current == nil)
        #expect(count.load(ordering: .relaxed) == 2)
    }
}
