import Testing

@testable import Host

@Suite("Release gate")
struct ReleaseGateTests {
    @Test func messagesWithoutJournalPassAtOnce() {
        var gate = ReleaseGate<String>()
        #expect(gate.admit("a") == "a")
        #expect(gate.isEmpty)
    }

    /// Everything after a journal message waits for its records, and goes in order.
    @Test func heldUntilSyncedThenReleasedInOrder() {
        var gate = ReleaseGate<String>()
        gate.journaled(upTo: 3)
        #expect(gate.admit("reply1") == nil)
        #expect(gate.admit("header1") == nil)
        gate.journaled(upTo: 5)
        #expect(gate.admit("reply2") == nil)
        #expect(gate.synced(upTo: 2) == [])
        #expect(gate.synced(upTo: 4) == ["reply1", "header1"])
        // A later message with nothing new to wait for still goes behind the held one.
        #expect(gate.admit("stats") == nil)
        #expect(gate.synced(upTo: 5) == ["reply2", "stats"])
        #expect(gate.isEmpty)
        #expect(gate.admit("after") == "after")
    }

    @Test func aSyncCoveringEverythingReleasesAll() {
        var gate = ReleaseGate<Int>(durable: 10)
        #expect(gate.admit(0) == 0)
        for i in 1...3000 {
            gate.journaled(upTo: 10 + UInt64(i))
            #expect(gate.admit(i) == nil)
        }
        #expect(gate.synced(upTo: 1510) == Array(1...1500))
        #expect(gate.synced(upTo: 3010) == Array(1501...3000))
    }
}
