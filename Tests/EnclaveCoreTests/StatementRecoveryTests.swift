import Engine
import Journal
import Testing
import Wire
@testable import EnclaveCore

/// Statements after recovery (docs/COMMITMENTS.md §7.1): a worker that replays the whole
/// journal answers exactly as the original; one restored from a snapshot starts every
/// window at the snapshot and answers the same for everything after it.
@Suite("Statements after recovery")
struct StatementRecoveryTests {
    static func page(_ w: Worker<PerpEngine>, _ account: UInt64, since: UInt64) -> StatementPage {
        w.statements.page(account: account, since: since, offset: 0, head: w.globalSequence, budget: 1 << 20,
                          leaf: w.statementLeaf(of: account))
    }

    @Test func replayRebuildsTheSameStatementsAndASnapshotStartsTheWindow() throws {
        let (a, file, _) = try snapshotRun()
        // The whole journal replayed: the same pages, leaf and proof included.
        let full = try JournalRun()
        _ = try recover(full.worker, a.journal, published: a.closed)
        for account in [1, 2, 3] as [UInt64] {
            let original = Self.page(a.worker, account, since: 0)
            #expect(original.status == .ok && original.total > 0)
            #expect(Self.page(full.worker, account, since: 0) == original, "account \(account)")
        }
        // From the snapshot: the window starts at its sequence; what follows is the same.
        let snapshot = try SnapshotHeader.parse(file)
        let b = try JournalRun()
        _ = try restore(b, file, journal: a.journal, published: a.closed)
        let start = snapshot.globalSequence
        for account in [1, 2] as [UInt64] {
            #expect(b.worker.statements.oldest(of: account) == start)
            let before = Self.page(b.worker, account, since: start - 1)
            #expect(before.status == .tooOld && before.oldest == start)
            let after = Self.page(b.worker, account, since: start)
            let original = Self.page(a.worker, account, since: start)
            #expect(after.entries == original.entries && after.opening == original.opening, "account \(account)")
            #expect(after.leaf == original.leaf)
        }
        // An account created after the snapshot is whole in both.
        #expect(Self.page(b.worker, 3, since: 0) == Self.page(a.worker, 3, since: 0))
        #expect(Self.page(a.worker, 2, since: 0).entries.contains { $0.kind == .takerFill })
    }
}
