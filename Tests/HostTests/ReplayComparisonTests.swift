import Testing

@testable import Host

@Suite("Replay comparison")
struct ReplayComparisonTests {
    static func line(_ index: Int, root: String = "0x01") -> [UInt8] {
        Array(#"{"batchIndex":\#(index),"stateRoot":"\#(root)"}"#.utf8)
    }

    @Test func everyPublishedHeaderReproduced() {
        var c = ReplayComparison(published: [Self.line(0), Self.line(1)])
        c.header(Self.line(0) + [0x0a])
        c.header(Self.line(1) + [0x0a])
        c.header(Self.line(2, root: "0x02") + [0x0a])
        #expect(c.verdict == .match(batches: 2, beyond: 1, stateRoot: "0x02"))
    }

    @Test func firstDifferingBatchIsNamed() {
        var c = ReplayComparison(published: [Self.line(0), Self.line(1), Self.line(2)])
        c.header(Self.line(0) + [0x0a])
        c.header(Self.line(1, root: "0x09") + [0x0a])
        c.header(Self.line(2, root: "0x09") + [0x0a])
        #expect(c.verdict == .mismatch(batch: 1))
    }

    @Test func fewerHeadersThanPublished() {
        var c = ReplayComparison(published: [Self.line(0), Self.line(1)])
        c.header(Self.line(0) + [0x0a])
        #expect(c.verdict == .missing(produced: 1, published: 2))
    }

    @Test func aTornLastLineIsNotPublished() {
        let file = Self.line(0) + [0x0a] + Self.line(1) + [0x0a] + Array(#"{"batchIn"#.utf8)
        #expect(ReplayComparison.lines(of: file) == [Self.line(0), Self.line(1)])
    }

    /// Chunks for journalReplay keep records whole and stay within 1 MiB of body.
    @Test func replayChunksKeepRecordsWhole() {
        let small = JournalRecords.records(1...3000, payload: 1000)
        let chunks = EnclaveSupervisor.replayChunks(small)
        #expect(chunks.count > 1)
        #expect(chunks.allSatisfy { $0.count <= 1 << 20 })
        #expect(Array(chunks.joined()) == small)
        let record = JournalRecords.record(1).count
        #expect(chunks.allSatisfy { $0.count % (record + 960) == 0 })
    }
}
