import Engine
import Journal
import Testing
import Wire
@testable import EnclaveCore

/// Statements after recovery (docs/COMMITMENTS.md §7.1): a worker that replays the whole
/// journal, and one restored from a snapshot and the journal after it, answer exactly as
/// the original.
@Suite("Statements after recovery")
struct StatementRecoveryTests {
    static func page(_ w: Worker<PerpEngine>, _ account: UInt64, since: UInt64) -> StatementPage {
        w.statements.page(account: account, since: since, offset: 0, head: w.globalSequence, budget: 1 << 20,
                          leaf: w.statementLeaf(of: account))
    }

    @Test func replayAndASnapshotGiveBackTheSameStatements() throws {
        let (a, file, _) = try snapshotRun()
        // The whole journal replayed: the same pages, leaf and proof included.
        let full = try JournalRun()
        _ = try recover(full.worker, a.journal, published: a.closed)
        for account in [1, 2, 3] as [UInt64] {
            let original = Self.page(a.worker, account, since: 0)
            #expect(original.status == .ok && original.total > 0)
            #expect(Self.page(full.worker, account, since: 0) == original, "account \(account)")
        }
        // From the snapshot: every window, entry and opening as the original's (the
        // snapshot carries the logs, docs/DURABILITY.md §6.5), entries before it included.
        let snapshot = try SnapshotHeader.parse(file)
        let b = try JournalRun()
        _ = try restore(b, file, journal: a.journal, published: a.closed)
        for account in [1, 2, 3] as [UInt64] {
            #expect(b.worker.statements.oldest(of: account) == a.worker.statements.oldest(of: account))
            #expect(Self.page(b.worker, account, since: 0) == Self.page(a.worker, account, since: 0), "account \(account)")
        }
        #expect(b.worker.statements == a.worker.statements)
        #expect(Self.page(b.worker, 2, since: 0).entries.contains { $0.kind == .takerFill && $0.sequence <= snapshot.globalSequence })
    }

    /// A liquidation before the snapshot: its opening (docs/COMMITMENTS.md §7.2), which the
    /// owner needs to challenge the decision on chain, is still in the statement of a
    /// worker restored from that snapshot.
    @Test func theOpeningOfALiquidationBeforeASnapshotSurvivesIt() throws {
        let usd: Int64 = 1_000_000
        let a = try JournalRun()
        try a.liquidation()
        let liquidated = Self.page(a.worker, 2, since: 0)
        #expect(liquidated.openings.count == 1, "one liquidation step of account 2")
        var file: [UInt8] = []
        a.worker.writeSnapshot { file += Array($0) }
        a.h.now += 1_000_000_000
        try a.deposit(3, "late", amount: 5 * usd)
        a.cut()

        let b = try JournalRun()
        _ = try restore(b, file, journal: a.journal, published: a.closed)
        let page = Self.page(b.worker, 2, since: 0)
        #expect(page.openings == liquidated.openings && !page.openings.isEmpty)
        #expect(page == Self.page(a.worker, 2, since: 0))
        #expect(page.entries.contains { $0.kind == .liquidation })
        #expect(b.worker.statements == a.worker.statements)
    }
}
