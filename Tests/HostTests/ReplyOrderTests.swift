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
}
