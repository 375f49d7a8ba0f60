import Testing

@testable import Host

@Suite("Reply order: host answers wait behind enclave answers")
struct ReplyOrderTests {
    @Test func hostAnswerGoesAtOnceWhenNothingIsInFlight() {
        var order = ReplyOrder()
        #expect(order.hostAnswer([1]) == [1])
        #expect(order.isSettled)
    }

    @Test func hostAnswersWaitForEveryEarlierFrame() {
        var order = ReplyOrder()
        order.forwardedOne()
        order.forwardedOne()
        #expect(order.hostAnswer([0xA]) == nil)
        order.forwardedOne()
        #expect(order.hostAnswer([0xB]) == nil)
        #expect(order.hostAnswer([0xC]) == nil)
        #expect(order.inFlight == 3 && order.heldCount == 3 && !order.isSettled)
        #expect(order.enclaveAnswered() == [])
        #expect(order.enclaveAnswered() == [[0xA]])
        #expect(order.enclaveAnswered() == [[0xB], [0xC]])
        #expect(order.isSettled)
        // With nothing in flight again, a host answer goes at once.
        #expect(order.hostAnswer([0xD]) == [0xD])
    }

    @Test func anAnswerWithNothingInFlightChangesNothing() {
        var order = ReplyOrder()
        #expect(order.enclaveAnswered() == [])
        order.forwardedOne()
        #expect(order.inFlight == 1)
    }

    @Test func anEnclaveCrashReleasesEverythingHeld() {
        var order = ReplyOrder()
        for _ in 0..<5 { order.forwardedOne() }
        #expect(order.hostAnswer([1]) == nil)
        order.forwardedOne()
        #expect(order.hostAnswer([2]) == nil)
        #expect(order.enclaveAnswered() == [])
        let (lost, released) = order.forgetForwarded()
        #expect(lost == 5 && released == [[1], [2]])
        #expect(order.isSettled)
    }

    /// A connection that always has frames in flight (50k orders/s, replies held for the
    /// journal) never drains; each answer still finds its own frame's read time, and the
    /// times kept stay bounded by what is in flight rather than growing with every frame.
    @Test func aConnectionThatNeverDrainsKeepsBoundedReadTimes() {
        var order = ReplyOrder()
        var next: UInt64 = 1
        for _ in 0..<100 { order.forwardedOne(readAt: next); next += 1 }
        var answeredUpTo: UInt64 = 0
        for _ in 0..<100_000 {
            order.forwardedOne(readAt: next); next += 1
            _ = order.enclaveAnswered()
            answeredUpTo += 1
            #expect(order.lastAnswerReadAt == answeredUpTo)
        }
        #expect(order.inFlight == 100)
        #expect(order.readTimesHeld <= 2 * 4_097 + 100)
    }
}
