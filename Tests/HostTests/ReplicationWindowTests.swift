import Testing

@testable import Host

/// The replicated journal's publishing state without NATS (docs/REPLICATION.md §3): the
/// window, the in-order durable watermark, retries and the fence.
@Suite("Replication window")
struct ReplicationWindowTests {
    static func runs(_ range: ClosedRange<UInt64>) -> [(id: String, last: UInt64, bytes: [UInt8])] {
        range.map { ("\($0)-\($0)", $0, [UInt8(truncatingIfNeeded: $0)]) }
    }

    @Test func publishesUpToTheWindowAndAdvancesInOrder() {
        var w = ReplicationWindow(windowSize: 2, lastStreamSequence: 10, durable: 100)
        let sent = w.enqueue(Self.runs(101...103))
        #expect(sent.map(\.id) == ["101-101", "102-102"])
        #expect(sent.map(\.streamSequence) == [11, 12])
        // An ack out of order does not advance the watermark past a gap.
        var o = w.stored(id: "102-102", sequence: 12)
        #expect(o.durable == nil && o.publish.isEmpty)
        o = w.stored(id: "101-101", sequence: 11)
        #expect(o.durable == 102)
        #expect(o.publish.map(\.id) == ["103-103"])
        o = w.stored(id: "103-103", sequence: 13)
        #expect(o.durable == 103 && w.pendingCount == 0)
    }

    @Test func aFailureStopsPublishingUntilTheProbeIsStored() {
        var w = ReplicationWindow(windowSize: 8, lastStreamSequence: 5, durable: 0)
        let sent = w.enqueue(Self.runs(1...3))
        var o = w.failed(id: "1-1", attempt: sent[0].attempt, wrongLastSequence: false, detail: "timeout")
        #expect(o.availability == false && o.newState == .retrying(error: "timeout"))
        // The later ones' failures belong to the failed attempt: ignored.
        o = w.failed(id: "2-2", attempt: sent[1].attempt, wrongLastSequence: true, detail: "wrong last sequence")
        #expect(o == ReplicationWindow.Outcome())
        #expect(w.enqueue(Self.runs(4...4)).isEmpty)
        let probe = w.retry()
        #expect(probe.map(\.id) == ["1-1"] && probe[0].streamSequence == 6)
        #expect(probe[0].attempt > sent[0].attempt)
        // A failed probe keeps it retrying; the next probe succeeds.
        o = w.failed(id: "1-1", attempt: probe[0].attempt, wrongLastSequence: false, detail: "no responders")
        #expect(o == ReplicationWindow.Outcome())
        let again = w.retry()
        o = w.stored(id: "1-1", sequence: 6)
        #expect(o.durable == 1 && o.availability == true)
        #expect(o.publish.map(\.id) == ["2-2", "3-3", "4-4"])
        #expect(again[0].attempt == w.attempt)
    }

    @Test func theFirstMessageOfAnEmptyStreamGoesAlone() {
        var w = ReplicationWindow(windowSize: 8, lastStreamSequence: 0, durable: 0)
        #expect(w.enqueue(Self.runs(1...3)).map(\.id) == ["1-1"])
        let o = w.stored(id: "1-1", sequence: 1)
        #expect(o.durable == 1 && o.publish.map(\.id) == ["2-2", "3-3"])
    }

    @Test func wrongLastSequenceAtTheHeadFences() {
        var w = ReplicationWindow(windowSize: 8, lastStreamSequence: 5, durable: 50)
        let sent = w.enqueue(Self.runs(51...52))
        _ = w.stored(id: "51-51", sequence: 6)
        let o = w.failed(id: "52-52", attempt: sent[1].attempt, wrongLastSequence: true, detail: "wrong last sequence: 7")
        #expect(o.newState == .fenced(expected: 6, detail: "wrong last sequence: 7"))
        #expect(o.availability == false)
        #expect(w.durable == 51)
        // Nothing more is published or acknowledged.
        #expect(w.enqueue(Self.runs(53...53)).isEmpty)
        #expect(w.retry().isEmpty)
        #expect(w.stored(id: "52-52", sequence: 7).durable == nil)
    }

    @Test func storedAtAnotherSequenceFences() {
        var w = ReplicationWindow(windowSize: 8, lastStreamSequence: 0, durable: 0)
        _ = w.enqueue(Self.runs(1...1))
        let o = w.stored(id: "1-1", sequence: 4)
        #expect(o.newState == .fenced(expected: 0, detail: "message 1-1 stored at 4"))
        #expect(w.durable == 0)
    }

    @Test func aReplyWithAnotherPayloadHashIsNotOurs() {
        var w = ReplicationWindow(windowSize: 8, lastStreamSequence: 0, durable: 0)
        _ = w.enqueue(Self.runs(1...1))
        #expect(w.stored(id: "1-ffff", sequence: 1) == ReplicationWindow.Outcome())
        #expect(w.durable == 0)
    }
}
