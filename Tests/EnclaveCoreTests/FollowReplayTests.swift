import Commitments
import Engine
import Journal
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

    /// Loads `file` into `b`'s worker as `snapshotData` would.
    static func load(_ b: JournalRun, _ file: [UInt8]) throws -> SnapshotHeader {
        var body = ByteWriter(capacity: 8 + file.count)
        body.write(UInt64(0))
        body.write(bytes: file)
        #expect(body.bytes.withUnsafeBytes { b.worker.receiveSnapshotData($0) })
        return try b.worker.loadReceivedSnapshot()
    }

    @Test(arguments: [2, 3]) func aFollowerStartsFromASnapshotAndPublishesFromP(published: Int) throws {
        let (a, file, n) = try snapshotRun()
        a.cut()
        let b = try JournalRun()
        let header = try Self.load(b, file)
        #expect(header.batchIndex == UInt64(n))
        #expect(b.worker.startFollow(ReplayEnd(published: UInt64(published),
                                               lastHeaderLine: Array(a.closed[published - 1].headerLine.dropLast()))))
        // The tail from the snapshot's own record, one record per message.
        let tail = Array(records(a.journal)[Int(header.recordSequence - 1)...])
        var followed: [ClosedBatch] = []
        var points = 0
        for record in tail {
            try record.withUnsafeBytes { raw in try b.worker.replayJournal(raw) }
            followed += b.worker.takeFollowedBatches()
            if b.worker.followSnapshotPoint != nil { points += 1 }
        }
        #expect(followed.map(\.headerLine) == a.closed.dropFirst(published).map(\.headerLine))
        // Right after each followed close (no batch open yet), a snapshot may be taken.
        #expect(points == a.closed.count - n)
        let outcome = try b.worker.finishReplay(ReplayEnd(published: 0, lastHeaderLine: []))
        #expect(outcome.recovered.recordsReplayed == UInt64(tail.count - 1))
        #expect(b.worker.globalSequence == a.worker.globalSequence)
        #expect(outcome.recovered.batchesClosed == a.worker.batchesClosed)
    }

    @Test func followAfterASnapshotRefusesALineThatIsNotTheSnapshotsLastHeader() throws {
        let (a, file, n) = try snapshotRun()
        let b = try JournalRun()
        _ = try Self.load(b, file)
        // P equal to the snapshot's batch index, but the line is batch 0's, not batch n − 1's.
        #expect(!b.worker.startFollow(ReplayEnd(published: UInt64(n), lastHeaderLine: Array(a.closed[0].headerLine.dropLast()))))
        // P below the snapshot's batch index: batches the snapshot includes were never published.
        #expect(!b.worker.startFollow(ReplayEnd(published: UInt64(n - 1),
                                                lastHeaderLine: Array(a.closed[n - 2].headerLine.dropLast()))))
        #expect(b.worker.startFollow(ReplayEnd(published: UInt64(n), lastHeaderLine: Array(a.closed[n - 1].headerLine.dropLast()))))
    }

    @Test func noSnapshotPointWhileABatchIsOpen() throws {
        let a = try JournalRun()
        try a.trade()
        let b = try JournalRun()
        #expect(b.worker.startFollow(ReplayEnd(published: 0, lastHeaderLine: [])))
        // `trade` ends with an order in the open batch: the journal's last record is an input.
        try a.journal.withUnsafeBytes { raw in try b.worker.replayJournal(raw) }
        _ = b.worker.takeFollowedBatches()
        #expect(b.worker.followSnapshotPoint == nil)
    }
}
