import Commitments
import Engine
import Testing
import Wire
@testable import EnclaveCore

/// The worker following a journal without end (a hot standby, docs/REPLICATION.md §8):
/// every batch it closes from P on is handed out as it closes and nothing is kept; header
/// P − 1 is checked against the published line when it closes.
@Suite("Following replay")
struct FollowReplayTests {
    /// Feeds `journal` one record per message, taking the followed batches after each.
    static func follow(_ worker: Worker<PerpEngine>, _ journal: [UInt8]) throws -> [ClosedBatch] {
        var out: [ClosedBatch] = []
        for record in records(journal) {
            try record.withUnsafeBytes { raw in try worker.replayJournal(raw) }
            out += worker.takeFollowedBatches()
            #expect(worker.replay.closed.isEmpty && worker.replay.followPublish.isEmpty)
        }
        return out
    }

    @Test(arguments: [0, 2]) func aFollowerPublishesEachBatchFromPAsItCloses(published: Int) throws {
        let a = try JournalRun()
        try a.trade()
        let b = try JournalRun()
        let line = published > 0 ? Array(a.closed[published - 1].headerLine.dropLast()) : []
        #expect(b.worker.startFollow(ReplayEnd(published: UInt64(published), lastHeaderLine: line)))
        let followed = try Self.follow(b.worker, a.journal)
        #expect(followed.map(\.headerLine) == a.closed.dropFirst(published).map(\.headerLine))
        #expect(followed.map(\.eventLeaves) == a.closed.dropFirst(published).map(\.eventLeaves))
        // `replayEnd` ends it: nothing left to publish, the same state as the primary's.
        let outcome = try b.worker.finishReplay(ReplayEnd(published: 0, lastHeaderLine: []))
        #expect(outcome.republish.isEmpty)
        #expect(outcome.recovered.lastGlobalSequence == a.worker.globalSequence)
        #expect(outcome.recovered.batchesClosed == 3)
        #expect(!b.worker.isFollowing)
    }

    @Test func aFollowerRefusesAJournalThatDoesNotReproduceHeaderPMinusOne() throws {
        let a = try JournalRun()
        try a.trade()
        let b = try JournalRun()
        // The host claims batch 1 was published with batch 0's header.
        #expect(b.worker.startFollow(ReplayEnd(published: 2, lastHeaderLine: Array(a.closed[0].headerLine.dropLast()))))
        let r = rejection { _ = try Self.follow(b.worker, a.journal) }
        #expect(r?.reason == .headerMismatch)
    }

    @Test func aJournalEndingBeforePIsRefusedAtTheEnd() throws {
        let a = try JournalRun()
        try a.trade()
        let b = try JournalRun()
        #expect(b.worker.startFollow(ReplayEnd(published: 5, lastHeaderLine: [0x7b, 0x7d])))
        _ = try Self.follow(b.worker, a.journal)
        let r = rejection { _ = try b.worker.finishReplay(ReplayEnd(published: 0, lastHeaderLine: [])) }
        #expect(r?.reason == .headerMismatch)
    }

    @Test func followStartsOnlyBeforeAnyRecord() throws {
        let a = try JournalRun()
        try a.trade()
        let b = try JournalRun()
        try records(a.journal)[0].withUnsafeBytes { raw in try b.worker.replayJournal(raw) }
        #expect(!b.worker.startFollow(ReplayEnd(published: 0, lastHeaderLine: [])))
    }
}
