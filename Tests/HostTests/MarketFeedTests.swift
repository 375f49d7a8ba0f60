import Commitments
import Testing
@testable import Host

@Suite("Market data feed: budgets and messages")
struct MarketFeedUnitTests {
    @Test func aConsumerIsDroppedOnlyWhenItsUnwrittenBytesWouldPassTheLimit() {
        var b = FeedConsumerBudget(limit: 1_000)
        #expect(b.offer(600) == .write)
        #expect(b.offer(400) == .write)
        #expect(b.offer(1) == .drop, "1,001 bytes would wait")
        b.written(600)
        #expect(b.offer(500) == .write && b.pending == 900)
        var small = FeedConsumerBudget(limit: 10)
        #expect(small.offer(11) == .drop)
    }

    @Test func aLineTravelsAsAStringWithItsProof() throws {
        let line = Array(#"{"a":"b\c"}"#.utf8)
        let message = MarketFeedMessage.line(.init(
            batchIndex: 3, leafIndex: 1, leafCount: 2, market: 9, marketSequence: 4, bytes: line,
            proof: [Hash32(Array(repeating: 0xab, count: 32))]), header: nil)
        let text = String(decoding: message, as: UTF8.self)
        #expect(text == #"{"batchIndex":3,"leafCount":2,"leafIndex":1,"line":"{\"a\":\"b\\c\"}","market":9,"#
            + #""marketSequence":4,"proof":["0x\#(String(repeating: "ab", count: 32))"],"type":"update"}"#)
        let header = MarketFeedMessage.header(Array("{\"h\":1}\n".utf8))
        #expect(String(decoding: header, as: UTF8.self) == #"{"header":{"h":1},"type":"header"}"#)
    }
}
