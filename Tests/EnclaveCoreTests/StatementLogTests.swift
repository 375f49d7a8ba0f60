import Engine
import Testing
import Wire

@testable import EnclaveCore

/// The pure statement log (docs/COMMITMENTS.md §7.1): its memory bound, the window a
/// request may reach back to, since-filtering and paging.
@Suite("Statement log")
struct StatementLogTests {
    /// An entry at `sequence` leaving the account with `collateral`.
    static func entry(_ account: UInt64, _ sequence: UInt64, collateral: Int128) -> AccountStatementEntry {
        AccountStatementEntry(account: account, sequence: sequence, kind: .deposit, amount: 1, collateral: collateral)
    }

    static func page(_ log: StatementLog, _ account: UInt64, since: UInt64, offset: UInt32 = 0, budget: Int = 1 << 20) -> StatementPage {
        log.page(account: account, since: since, offset: offset, head: 1_000, budget: budget, leaf: nil)
    }

    @Test func keepsBetweenRetainAndTwiceRetainAndNamesTheOldestSince() {
        var log = StatementLog(retain: 4)
        for s in UInt64(1)...50 {
            log.append(Self.entry(7, s, collateral: Int128(s)))
            log.endEvent()
            let n = log.entryCount(of: 7)
            #expect(n < 8 && (s < 4 || n >= 4), "after \(s): \(n) entries")
            // Every kept entry is after the window's start; the folded ones are before it.
            let all = Self.page(log, 7, since: log.oldest(of: 7))
            #expect(all.status == .ok && all.entries.allSatisfy { $0.sequence > log.oldest(of: 7) } && all.entries.count == n)
            #expect(all.opening.collateral == Int128(log.oldest(of: 7)), "the opening balance is the last folded entry's")
        }
        let oldest = log.oldest(of: 7)
        #expect(oldest > 0)
        let refused = Self.page(log, 7, since: oldest - 1)
        #expect(refused.status == .tooOld && refused.oldest == oldest && refused.entries.isEmpty)
        // Another account is untouched by this one's trimming.
        #expect(Self.page(log, 8, since: 0).status == .ok && Self.page(log, 8, since: 0).total == 0)
    }

    @Test func neverSplitsOneEventsEntries() {
        var log = StatementLog(retain: 4)
        for s in UInt64(1)...3 {
            log.append(Self.entry(7, s, collateral: 0))
            log.endEvent()
        }
        // One event with 10 entries: the cut would fall inside it, so it moves back to the
        // event's start, folding only the three before it.
        for i in 0..<10 { log.append(Self.entry(7, 4, collateral: Int128(i))) }
        log.endEvent()
        #expect(log.oldest(of: 7) == 3 && log.entryCount(of: 7) == 10)
        // An event alone over the bound is kept whole (nothing before it to fold).
        for i in 0..<10 { log.append(Self.entry(7, 5, collateral: Int128(i))) }
        log.endEvent()
        #expect(log.oldest(of: 7) == 4 && log.entryCount(of: 7) == 10)
        #expect(Self.page(log, 7, since: 4).entries.allSatisfy { $0.sequence == 5 })
    }

    @Test func filtersBySinceAndPagesWithinTheBudget() {
        var log = StatementLog(retain: 100)
        for s in UInt64(1)...30 {
            // Two entries per event on even sequences.
            log.append(Self.entry(7, s, collateral: Int128(s) * 10))
            if s % 2 == 0 { log.append(Self.entry(7, s, collateral: Int128(s) * 10 + 1)) }
            log.endEvent()
        }
        let page = Self.page(log, 7, since: 10)
        #expect(page.total == 30 && page.entries.count == Int(page.total))
        #expect(page.entries.allSatisfy { $0.sequence > 10 } && page.openingSequence == 10 && page.opening.collateral == 101)
        #expect(Self.page(log, 7, since: 30).total == 0 && Self.page(log, 7, since: 30).opening.collateral == 301)
        // Pages of at most two entries join to the whole.
        let size = page.entries[0].byteCount
        var joined: [StatementEntry] = []
        var offset: UInt32 = 0
        while offset < page.total {
            let p = Self.page(log, 7, since: 10, offset: offset, budget: 2 * size)
            #expect(p.entries.count <= 2 && !p.entries.isEmpty && p.opening == page.opening)
            joined += p.entries
            offset += UInt32(p.entries.count)
        }
        #expect(joined == page.entries)
        #expect(Self.page(log, 7, since: 10, offset: page.total).entries.isEmpty)
        #expect(Self.page(log, 7, since: 10, offset: page.total + 1).status == .badOffset)
        // A budget smaller than one entry still makes progress.
        #expect(Self.page(log, 7, since: 10, budget: 1).entries.count == 1)
    }

    @Test func theInsuranceFundHasNoStatementAndARestartStartsTheWindow() {
        var log = StatementLog(retain: 4)
        log.append(Self.entry(7, 1, collateral: 5))
        log.endEvent()
        #expect(Self.page(log, 0, since: 0).status == .noStatement)
        log.restart(at: 40, balances: [(7, StatementBalance(collateral: 9, positions: [StatementPosition(market: 1, size: 3)]))],
                    states: [(7, [1, 2, 3])])
        #expect(Self.page(log, 7, since: 39).status == .tooOld && Self.page(log, 7, since: 39).oldest == 40)
        let p = Self.page(log, 7, since: 40)
        #expect(p.status == .ok && p.total == 0 && p.opening.collateral == 9 && p.openingSequence == 40)
        #expect(log.committedState[7] == [1, 2, 3])
    }

    @Test func pagesRoundTripThroughTheirBytes() throws {
        var log = StatementLog(retain: 4)
        log.append(AccountStatementEntry(account: 7, sequence: 3, kind: .takerFill, market: 1, price: 60_000_000_000,
                                         quantity: -1_000_000, amount: 30_000, collateral: -(Int128(1) << 70)))
        log.endEvent()
        let leaf = StatementLeaf(leafIndex: 2, treeSize: 5, salt: Array(repeating: 9, count: 32), state: [1, 2],
                                 proof: [Array(repeating: 3, count: 32)], headerRecord: Array("{}".utf8))
        let page = log.page(account: 7, since: 0, offset: 0, head: 9, budget: 1_000, leaf: leaf)
        #expect(page.entries[0].after.positions == [StatementPosition(market: 1, size: -1_000_000)])
        let bytes = page.encode()
        #expect(try bytes.withUnsafeBytes { try StatementPage.decode($0) } == page)
        #expect(throws: WireError.self) { try (bytes + [0]).withUnsafeBytes { try StatementPage.decode($0) } }
    }
    /// What opens a liquidation decision (docs/COMMITMENTS.md §7.2): on the first page
    /// only, those after `since`, oldest first, each with the salt derived for its
    /// (account, sequence, step); dropped once folded, at most 16 per account.
    @Test func carriesTheOpeningsOfLiquidationStepsOnTheFirstPage() {
        var log = StatementLog(retain: 4)
        let marks = [DecisionMark(market: 1, mark: 58_000_000_000, maintenanceBps: 300)]
        for s in UInt64(1)...6 {
            log.append(Self.entry(7, s, collateral: Int128(s)))
            log.recordOpening(account: 7, sequence: s, step: UInt32(s % 2), state: [UInt8(s)], marks: marks)
            log.endEvent()
        }
        let salt: (UInt64, UInt64, UInt32) -> [UInt8] = { a, s, k in [UInt8](repeating: 0, count: 29) + [UInt8(a), UInt8(s), UInt8(k)] }
        let first = log.page(account: 7, since: 3, offset: 0, head: 10, budget: 1 << 20, leaf: nil, salt: salt)
        #expect(first.openings.map(\.sequence) == [4, 5, 6])
        #expect(first.openings[0] == StatementOpening(sequence: 4, step: 0, salt: salt(7, 4, 0), state: [4], marks: marks))
        #expect(log.page(account: 7, since: 3, offset: 1, head: 10, budget: 1 << 20, leaf: nil, salt: salt).openings.isEmpty)
        #expect(log.page(account: 8, since: 0, offset: 0, head: 10, budget: 1 << 20, leaf: nil, salt: salt).openings.isEmpty)
        // The wire form round-trips.
        let decoded = first.encode().withUnsafeBytes { try? StatementPage.decode($0) }
        #expect(decoded == first)
        // Folding drops the openings at or before the window's start; the bound keeps 16.
        for s in UInt64(7)...40 {
            log.append(Self.entry(7, s, collateral: Int128(s)))
            log.recordOpening(account: 7, sequence: s, step: 0, state: [], marks: [])
            log.endEvent()
        }
        let all = log.page(account: 7, since: log.oldest(of: 7), offset: 0, head: 50, budget: 1 << 20, leaf: nil, salt: salt)
        #expect(all.openings.count == min(16, Int(40 - log.oldest(of: 7))))
        #expect(all.openings.allSatisfy { $0.sequence > log.oldest(of: 7) } && all.openings.last?.sequence == 40)
    }
}
