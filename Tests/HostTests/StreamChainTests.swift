#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

@testable import Host

/// The journal stream's content chain and the verified mark (docs/REPLICATION.md §2–§4),
/// without NATS.
@Suite("Stream chain")
struct StreamChainTests {
    @Test func acceptsOnlyTheMessageThatFollowsTheLastAccepted() throws {
        var chain = StreamChain()
        #expect(try chain.classify(id: "1-aa", previous: StreamChain.origin) == .accept)
        #expect(try chain.classify(id: "11-bb", previous: "1-aa") == .accept)
        // A cut-off writer's late publish follows its own refused message, not the journal's.
        #expect(try chain.classify(id: "13-cc", previous: "11-zz") == .skip(previous: "11-zz", last: "11-bb"))
        // And its later ones follow the skipped one: skipped too.
        #expect(try chain.classify(id: "15-dd", previous: "13-cc") == .skip(previous: "13-cc", last: "11-bb"))
        #expect(try chain.classify(id: "13-ee", previous: "11-bb") == .accept)
        #expect(chain.lastID == "13-ee" && chain.skipped == 2)
        // A second message claiming the start of the stream is not the journal's either.
        #expect(try chain.classify(id: "1-ff", previous: StreamChain.origin) != .accept)
    }

    @Test func aMessageWithoutPreviousIsRefused() {
        var chain = StreamChain(lastID: "5-aa")
        #expect(throws: StreamChain.Refusal.missingPrevious) { try chain.classify(id: "6-bb", previous: nil) }
        #expect(chain.lastID == "5-aa" && chain.skipped == 0)
    }

    @Test func windowMessagesNameTheirPredecessor() {
        var w = ReplicationWindow(windowSize: 8, lastStreamSequence: 4, durable: 40, lastID: "31-aa")
        let sent = w.enqueue(ReplicationWindowTests.runs(41...43))
        #expect(sent.map(\.previous) == ["31-aa", "41-41", "42-42"])
        #expect(w.lastID == "43-43")
        var empty = ReplicationWindow(windowSize: 8, lastStreamSequence: 0, durable: 0)
        #expect(empty.enqueue(ReplicationWindowTests.runs(1...1)).map(\.previous) == [StreamChain.origin])
    }

    @Test func theMarkRoundTripsAndAnInvalidOneReadsAsZero() throws {
        let dir = NSTemporaryDirectory() + "mark-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = dir + "/journal"
        let path = StreamMark.path(journalDirectory: journal)
        #expect(path == dir + "/journal-verified")
        #expect(StreamMark.read(path: path) == 0)
        let mark = StreamMark(journalDirectory: journal, value: 1_000_000_007)
        #expect(StreamMark.read(path: path) == 1_000_000_007)
        // Throttled while it advances; a forced write lands at once.
        mark.advance(to: 1_000_000_008, force: true)
        #expect(StreamMark.read(path: path) == 1_000_000_008)
        #expect(StreamMark.encode(1_000_000_008) == Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        var bytes = StreamMark.encode(77)
        #expect(StreamMark.decode(bytes) == 77)
        bytes[3] ^= 0x10
        #expect(StreamMark.decode(bytes) == 0)
        #expect(StreamMark.decode(Array(bytes.prefix(11))) == 0)
        var attributes = stat()
        #expect(stat(path, &attributes) == 0 && attributes.st_mode & 0o777 == 0o600)
    }
}
