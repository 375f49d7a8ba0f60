import Commitments
import Engine
import Journal
import SealCrypto
import Testing
import Wire
@testable import EnclaveCore

/// A snapshot taken after the second batch of `JournalRun.trade`'s steps (orders in the
/// duplicate memory, positions open), and the run continued to its end.
func snapshotRun(counter: (any MonotonicCounter)? = nil) throws -> (run: JournalRun, file: [UInt8], closedAtSnapshot: Int) {
    let usd: Int64 = 1_000_000
    let a = try JournalRun(counter: counter)
    let (_, taker) = try a.twoBatches()
    var file: [UInt8] = []
    a.worker.writeSnapshot { file += Array($0) }
    a.h.now += 1_000_000_000
    try a.price(60_100 * usd)
    a.cut()
    _ = try a.place(taker, "buy1", .buy, price: 60_003 * usd)
    try a.deposit(3, "late", amount: 5 * usd)
    return (a, file, 2)
}

/// Loads `file` into a fresh worker and replays `journal` from the snapshot's own record.
func restore(_ b: JournalRun, _ file: [UInt8], journal: [UInt8], published: [ClosedBatch]) throws -> ReplayOutcome {
    var body = ByteWriter(capacity: 8 + file.count)
    body.write(UInt64(0))
    body.write(bytes: file)
    #expect(body.bytes.withUnsafeBytes { b.worker.receiveSnapshotData($0) })
    let header = try b.worker.loadReceivedSnapshot()
    let tail = records(journal)[Int(header.recordSequence - 1)...].flatMap { $0 }
    try tail.withUnsafeBytes { try b.worker.replayJournal($0) }
    let line = published.last.map { Array($0.headerLine.dropLast()) } ?? []
    return try b.worker.finishReplay(ReplayEnd(published: UInt64(published.count), lastHeaderLine: line))
}

@Suite("Snapshots in the worker")
struct WorkerSnapshotRecoveryTests {
    @Test func aWorkerRestoredFromASnapshotAndTheTailContinuesLikeTheOriginal() throws {
        let (a, file, n) = try snapshotRun()
        let header = try SnapshotHeader.parse(file)
        #expect(header.batchIndex == UInt64(n))
        #expect(header.stateRoot == a.closed[n - 1].header.stateRoot.bytes)

        let b = try JournalRun()
        let outcome = try restore(b, file, journal: a.journal, published: a.closed)
        // Only the tail after the snapshot's record was applied.
        #expect(outcome.recovered.recordsReplayed == UInt64(records(a.journal).count) - header.recordSequence)
        #expect(outcome.recovered.batchesClosed == a.worker.batchesClosed)
        #expect(b.worker.globalSequence == a.worker.globalSequence)
        // The open batch, the engine and the state tree continue byte for byte.
        b.h.now = a.h.now + 5
        a.h.now += 5
        a.cut()
        b.cut()
        #expect(b.closed.last?.headerLine == a.closed.last?.headerLine)
        #expect(b.journal.count > 0)
        // The duplicate memory came with the snapshot: a resend of an order sequenced
        // before it is answered as a duplicate, not executed.
        let taker = try b.open(2, "taker")
        let usd: Int64 = 1_000_000
        let again = try b.place(taker, "buy0", .buy, price: 60_001 * usd, quantity: 15_000_000)
        #expect(again.status == .duplicate)
    }

    @Test func aTamperedSnapshotIsRefusedAndLeavesTheWorkerUntouched() throws {
        let (a, file, _) = try snapshotRun()
        for at in [10, SnapshotHeader.byteCount + 30, file.count - 1] {
            var bad = file
            bad[at] ^= 0x01
            let b = try JournalRun()
            var body = ByteWriter(capacity: 8 + bad.count)
            body.write(UInt64(0))
            body.write(bytes: bad)
            _ = body.bytes.withUnsafeBytes { b.worker.receiveSnapshotData($0) }
            #expect(throws: SnapshotRejected.self) { try b.worker.loadReceivedSnapshot() }
            // Untouched: the same worker then recovers from genesis.
            let outcome = try recover(b.worker, a.journal, published: a.closed)
            #expect(outcome.recovered.lastGlobalSequence == a.worker.globalSequence)
        }
        // Another storage key does not open it either.
        let other = try JournalRun(key: storageKey(9))
        var body = ByteWriter(capacity: 8 + file.count)
        body.write(UInt64(0))
        body.write(bytes: file)
        _ = body.bytes.withUnsafeBytes { other.worker.receiveSnapshotData($0) }
        #expect(throws: SnapshotRejected(recordSequence: try SnapshotHeader.parse(file).recordSequence, reason: .doesNotOpen)) {
            try other.worker.loadReceivedSnapshot()
        }
    }

    @Test func aSnapshotOfAnotherJournalIsRefusedByItsRecordHash() throws {
        let (_, file, _) = try snapshotRun()
        let (other, _, _) = try snapshotRun()
        let b = try JournalRun()
        #expect(rejection { _ = try restore(b, file, journal: other.journal, published: other.closed) }?.reason == .doesNotOpen)
    }

    /// The rollback of §5 through a snapshot: an older snapshot with the journal cut back
    /// to it. With the TPM counter the worker refuses (reason 4); in software mode it is
    /// not protected and accepts (docs/DURABILITY.md §5, §6.7).
    @Test(arguments: [true, false])
    func aRolledBackSnapshotIsRefusedByTheCounterOnly(withCounter: Bool) throws {
        let counter = FakeCounter()
        let (a, file, n) = try snapshotRun(counter: withCounter ? counter : nil)
        a.cut()
        let header = try SnapshotHeader.parse(file)
        let cutJournal = records(a.journal)[0..<Int(header.recordSequence)].flatMap { $0 }
        let b = try JournalRun(counter: withCounter ? counter : nil)
        let result = rejection { _ = try restore(b, file, journal: cutJournal, published: Array(a.closed[0..<n])) }
        if withCounter {
            #expect(result == JournalRejected(recordSequence: header.recordSequence, reason: .rollback))
        } else {
            #expect(result == nil)
            #expect(b.worker.batchesClosed == UInt64(n))
        }
    }
}
