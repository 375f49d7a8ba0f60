@testable import Engine
import Testing
import VenueTools
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

    @Test func theInsuranceFundHasNoStatement() {
        var log = StatementLog(retain: 4)
        log.append(Self.entry(0, 1, collateral: 5))
        log.endEvent()
        #expect(Self.page(log, 0, since: 0).status == .noStatement)
    }

    /// The COMMITMENTS §2.2 state the engine writes for `account` holding `positions`
    /// (market, size), as a liquidation decision's pre-step state carries it.
    static func state(_ account: UInt64, _ positions: [(UInt32, Int64)], collateral: Int128 = -5) -> [UInt8] {
        var a = Account(id: account, collateral: collateral)
        a.positions = positions.map { Position(market: $0.0, size: $0.1, costBasis: Int128($0.1) * 3, fundingIndex: 7) }
        a.openOrderCount = 1
        var w = ByteWriter(capacity: 128)
        a.writeCommitmentState(into: &w)
        return w.bytes
    }

    /// A log with folds, trades (positions derived from the opening balance), an option
    /// settlement and openings, as a worker's snapshot carries it (docs/DURABILITY.md §6.5),
    /// on the demo venue (market 1 large-cap, maintenance 300 bps; 3 mid-cap, 500).
    static func busyLog() -> StatementLog {
        var log = StatementLog(retain: 4)
        let marks = [DecisionMark(market: 1, mark: 58_000_000_000, maintenanceBps: 300),
                     DecisionMark(market: 3, mark: -2, maintenanceBps: 500)]
        for s in UInt64(1)...30 {
            log.append(AccountStatementEntry(account: 7, sequence: s, kind: .takerFill, market: UInt32(1 + s % 3),
                                             price: Int64(s) * 1_000, quantity: s % 2 == 0 ? 5 : -3, amount: 2,
                                             collateral: Int128(-1) << 70 + Int128(s)))
            if s % 5 == 0 { log.append(Self.entry(7, s, collateral: Int128(s))) }
            // Canonical states, as the snapshot reader requires: two positions and their
            // marks, then (the first step closed both) none.
            if s % 7 == 0 {
                log.recordOpening(account: 7, sequence: s, step: 0, state: Self.state(7, [(1, Int64(s)), (3, -2)]), marks: marks)
            }
            if s % 7 == 0 { log.recordOpening(account: 7, sequence: s, step: 1, state: Self.state(7, []), marks: []) }
            log.append(Self.entry(9, s, collateral: 1))
            log.endEvent()
        }
        log.append(AccountStatementEntry(account: 4, sequence: 31, kind: .optionSettlement, market: 2, amount: -9, collateral: 3))
        log.endEvent()
        return log
    }

    static func snapshotBytes(_ log: StatementLog) -> [UInt8] {
        var w = ByteWriter(capacity: 1 << 12)
        log.writeSnapshot(into: &w)
        return w.bytes
    }

    /// Reads `bytes` as a worker on `venue` does, checking marks against its engine.
    static func restored(_ bytes: [UInt8], head: UInt64 = 31, venue: VenueConfig = DemoKeys.venue()) throws -> StatementLog {
        let engine = try PerpEngine(config: venue)
        return try bytes.withUnsafeBytes { raw in
            var r = SnapshotReader(ByteReader(raw))
            let log = try StatementLog(snapshot: &r, retain: 4, head: head,
                                       maintenanceBps: { engine.markMaintenanceBps(market: $0) })
            try r.expectEnd()
            return log
        }
    }

    /// The snapshot's statement logs give back every window, opening balance, entry and
    /// opening, so every page after a restore is the original's; the reader refuses what
    /// no worker holds.
    @Test func aSnapshotCarriesEveryWindowEntryAndOpening() throws {
        let log = Self.busyLog()
        #expect(log.oldest(of: 7) > 0, "the log folded")
        let bytes = Self.snapshotBytes(log)
        let back = try Self.restored(bytes)
        #expect(back == log)
        #expect(Self.snapshotBytes(back) == bytes)
        let salt: (UInt64, UInt64, UInt32) -> [UInt8] = { a, s, k in [UInt8(a), UInt8(s), UInt8(k)] }
        for account in [4, 7, 8, 9] as [UInt64] {
            for since in [0, log.oldest(of: account), 20, 31] {
                let original = log.page(account: account, since: since, offset: 0, head: 31, budget: 1 << 20, leaf: nil, salt: salt)
                #expect(back.page(account: account, since: since, offset: 0, head: 31, budget: 1 << 20, leaf: nil, salt: salt)
                        == original, "account \(account) since \(since)")
            }
        }
        let page = back.page(account: 7, since: back.oldest(of: 7), offset: 0, head: 31, budget: 1 << 20, leaf: nil, salt: salt)
        #expect(!page.openings.isEmpty && !page.opening.positions.isEmpty && page.opening.collateral < 0)
        // An empty log is two zero counts.
        #expect(Self.snapshotBytes(StatementLog(retain: 4)) == [0, 0, 0, 0, 0, 0, 0, 0])

        // Layout (§6.5): account 4's log first (ascending ids): u64 account, u64 window
        // start, the opening balance (collateral i128, u16 positions), u32 entries, then
        // the entry: u64 sequence, u8 kind, u32 market, i64 price, quantity, amount, i128
        // collateral.
        #expect(Array(bytes[0..<4]) == [0, 0, 0, 3])
        #expect(Array(bytes[4..<12]) == [0, 0, 0, 0, 0, 0, 0, 4])
        #expect(Array(bytes[12..<20]) == [UInt8](repeating: 0, count: 8))
        #expect(Array(bytes[20..<38]) == [UInt8](repeating: 0, count: 18))
        #expect(Array(bytes[38..<42]) == [0, 0, 0, 1])
        #expect(Array(bytes[42..<51]) == [0, 0, 0, 0, 0, 0, 0, 31, StatementEntry.Kind.optionSettlement.rawValue])
        #expect(Array(bytes[51..<55]) == [0, 0, 0, 2])
        #expect(Array(bytes[71..<79]) == [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf7], "amount −9")
        #expect(Array(bytes[79..<95]) == [UInt8](repeating: 0, count: 15) + [3])

        // Refused: each mutation at a place the reader checks.
        func refused(_ at: Int, _ value: UInt8, head: UInt64 = 31) -> Bool {
            var bad = bytes
            bad[at] = value
            do {
                _ = try Self.restored(bad, head: head)
                return false
            } catch let e as EngineSnapshotError {
                if case .malformed = e { return true }
                return false
            } catch {
                return false
            }
        }
        #expect(refused(11, 9), "accounts out of order (4 → 9 before 7)")
        #expect(refused(19, 32), "a window start after the head")
        #expect(refused(50, 0), "kind 0")
        #expect(refused(49, 0), "an entry at the window start")
        #expect(refused(49, 32), "an entry after the head")
        #expect(throws: EngineSnapshotError.self) { try Self.restored(bytes, head: 30) }
        #expect(throws: EngineSnapshotError.truncated) { try Self.restored(Array(bytes.dropLast())) }
        #expect(throws: EngineSnapshotError.self) { try Self.restored(bytes + [0]) }
    }

    /// Openings: at most 16 per account, strictly ascending by (sequence, step), after the
    /// window's start; a zero-size or unordered position in an opening balance is refused.
    @Test func theSnapshotReaderRefusesOpeningsAndBalancesNoWorkerHolds() throws {
        func bytes(_ body: (inout ByteWriter) -> Void) -> [UInt8] {
            var w = ByteWriter(capacity: 256)
            body(&w)
            return w.bytes
        }
        func opening(_ w: inout ByteWriter, _ sequence: UInt64, _ step: UInt32) {
            let state = Self.state(5, [])
            w.write(sequence)
            w.write(step)
            w.write(UInt32(state.count))
            w.write(bytes: state)
            w.write(UInt16(0))
        }
        func openings(_ list: [(UInt64, UInt32)], windowStart: UInt64 = 0) -> [UInt8] {
            bytes { w in
                if windowStart > 0 {
                    w.write(UInt32(1))
                    w.write(UInt64(5))
                    w.write(windowStart)
                    StatementBalance.empty.write(into: &w)
                    w.write(UInt32(0))
                } else {
                    w.write(UInt32(0))
                }
                w.write(UInt32(1))
                w.write(UInt64(5))
                w.write(UInt8(list.count))
                for (s, k) in list { opening(&w, s, k) }
            }
        }
        #expect(try Self.restored(openings([(3, 0), (3, 1), (4, 0)])).page(
            account: 5, since: 0, offset: 0, head: 31, budget: 1 << 20, leaf: nil).openings.map(\.step) == [0, 1, 0])
        #expect(throws: EngineSnapshotError.self) { try Self.restored(openings([(3, 1), (3, 0)])) }
        #expect(throws: EngineSnapshotError.self) { try Self.restored(openings([(3, 0), (3, 0)])) }
        #expect(throws: EngineSnapshotError.self) { try Self.restored(openings([])) }
        #expect(throws: EngineSnapshotError.self) { try Self.restored(openings((1...17).map { (UInt64($0), 0) })) }
        #expect(throws: EngineSnapshotError.self) { try Self.restored(openings([(32, 0)])) }
        #expect(throws: EngineSnapshotError.self) { try Self.restored(openings([(3, 0)], windowStart: 3)) }
        #expect(try Self.restored(openings([(4, 0)], windowStart: 3)).oldest(of: 5) == 3)
        func balance(_ positions: [(UInt32, Int64)]) -> [UInt8] {
            bytes { w in
                w.write(UInt32(1))
                w.write(UInt64(5))
                w.write(UInt64(2))
                StatementBalance(collateral: 1, positions: positions.map { StatementPosition(market: $0.0, size: $0.1) })
                    .write(into: &w)
                w.write(UInt32(0))
                w.write(UInt32(0))
            }
        }
        #expect(try Self.restored(balance([(1, 2), (3, -1)])).page(
            account: 5, since: 2, offset: 0, head: 31, budget: 1 << 20, leaf: nil).opening.positions.count == 2)
        #expect(throws: EngineSnapshotError.self) { try Self.restored(balance([(3, 2), (1, -1)])) }
        #expect(throws: EngineSnapshotError.self) { try Self.restored(balance([(1, 2), (1, 1)])) }
        #expect(throws: EngineSnapshotError.self) { try Self.restored(balance([(1, 0)])) }
    }

    /// An opening's state and marks in canonical form only (docs/DURABILITY.md §6.5, as a
    /// pending decision's, §6.2 item 5): the opening account's §2.2 state, exactly as long
    /// as its position count says, then one mark per position in its order, each with the
    /// configuration's maintenance bps; and no log or openings for account 0. Anything else
    /// is `malformed` (snapshotRejected reason 3).
    @Test func theSnapshotReaderRefusesOpeningStatesAndMarksNoEngineMakes() throws {
        /// The demo venue's maintenance bps (`DemoKeys.venue()`: markets 1 and 2 large-cap,
        /// 3 mid-cap, 4 long-tail).
        let demo: [UInt32: UInt32] = [1: 300, 2: 300, 3: 500, 4: 1_000]
        /// One opening of `account` (no log) with `state` and marks of `marks` (markets),
        /// each with its maintenance bps from `bps` (default the demo venue's).
        func snapshot(_ account: UInt64 = 5, state: [UInt8], marks: [UInt32], bps: [UInt32: UInt32]? = nil,
                      logAccount: UInt64? = nil) -> [UInt8] {
            var w = ByteWriter(capacity: 256)
            if let logAccount {
                w.write(UInt32(1))
                w.write(logAccount)
                w.write(UInt64(0))
                StatementBalance.empty.write(into: &w)
                w.write(UInt32(0))
            } else {
                w.write(UInt32(0))
            }
            w.write(UInt32(1))
            w.write(account)
            w.write(UInt8(1))
            w.write(UInt64(3))
            w.write(UInt32(0))
            w.write(UInt32(state.count))
            w.write(bytes: state)
            w.write(UInt16(marks.count))
            for m in marks {
                w.write(m)
                w.write(Int64(60_000_000_000))
                w.write((bps ?? demo)[m] ?? 300)
            }
            return w.bytes
        }
        func malformed(_ bytes: [UInt8], venue: VenueConfig = DemoKeys.venue()) -> String? {
            do {
                _ = try Self.restored(bytes, venue: venue)
                return nil
            } catch let e as EngineSnapshotError {
                if case .malformed(let field) = e { return field }
                return "\(e)"
            } catch {
                return "\(error)"
            }
        }
        let two = Self.state(5, [(1, 40), (3, -2)])
        let restored = try Self.restored(snapshot(state: two, marks: [1, 3]))
        #expect(restored.page(account: 5, since: 0, offset: 0, head: 31, budget: 1 << 20, leaf: nil).openings.map(\.state) == [two])
        #expect(try Self.restored(snapshot(state: Self.state(5, []), marks: [])).openings[5]?.count == 1)
        // The state: of the opening's account, exactly its length, canonical positions.
        #expect(malformed(snapshot(state: Self.state(6, [(1, 40)]), marks: [1])) == "opening state of 5", "another account's")
        #expect(malformed(snapshot(state: [], marks: [])) == "opening state of 5", "empty")
        #expect(malformed(snapshot(state: [1, 2], marks: [])) == "opening state of 5", "two bytes")
        #expect(malformed(snapshot(state: two + [0], marks: [1, 3])) == "opening state of 5", "a byte after it")
        #expect(malformed(snapshot(state: Array(two.dropLast()), marks: [1, 3])) == "opening state of 5", "a byte short")
        var count = two
        count[27] = 1  // the position count: 1, with two positions' bytes
        #expect(malformed(snapshot(state: count, marks: [1])) == "opening state of 5", "count and length disagree")
        #expect(malformed(snapshot(state: Self.state(5, [(3, 40), (1, -2)]), marks: [3, 1])) == "opening state of 5",
                "positions not ascending")
        #expect(malformed(snapshot(state: Self.state(5, [(1, 0)]), marks: [1])) == "opening state of 5", "a zero size")
        var orders = Self.state(5, [])
        orders[orders.count - 4] = 0x80  // an open order count of 2³¹
        #expect(malformed(snapshot(state: orders, marks: [])) == "opening state of 5", "2³¹ open orders")
        // The marks: one per position, in its order.
        #expect(malformed(snapshot(state: two, marks: [1])) == "opening marks of 5", "one short")
        #expect(malformed(snapshot(state: two, marks: [1, 3, 4])) == "opening marks of 5", "one too many")
        #expect(malformed(snapshot(state: two, marks: [])) == "opening marks of 5", "none")
        #expect(malformed(snapshot(state: two, marks: [3, 1])) == "opening marks of 5", "out of order")
        #expect(malformed(snapshot(state: two, marks: [1, 2])) == "opening marks of 5", "a market not held")
        // Each mark's maintenance bps the venue's for its market (§6.5): a perpetual's tier's.
        #expect(malformed(snapshot(state: two, marks: [1, 3], bps: [1: 300, 3: 300])) == "opening marks of 5",
                "market 3 (mid-cap, 500) with large-cap's 300")
        #expect(malformed(snapshot(state: two, marks: [1, 3], bps: [1: 0, 3: 500])) == "opening marks of 5",
                "a perpetual with an option market's 0")
        #expect(malformed(snapshot(state: Self.state(5, [(1, 40), (9, 1)]), marks: [1, 9], bps: [1: 300, 9: 300]))
                == "opening marks of 5", "market 9, which the venue does not list")
        // An option market's marks carry 0, its underlying's tier value is refused.
        let options = OptionRun.venue()
        let hedged = Self.state(5, [(1, 40), (OptionRun.call, -2)])
        #expect(malformed(snapshot(state: hedged, marks: [1, OptionRun.call], bps: [1: 300, OptionRun.call: 0]),
                          venue: options) == nil)
        #expect(malformed(snapshot(state: hedged, marks: [1, OptionRun.call], bps: [1: 300, OptionRun.call: 300]),
                          venue: options) == "opening marks of 5", "an option market with its underlying's 300")
        #expect(malformed(snapshot(state: hedged, marks: [1, OptionRun.call], bps: [1: 300, OptionRun.call: 0]))
                == "opening marks of 5", "market 101 on a venue without it")
        // The insurance fund has no log and no openings (§7.1).
        #expect(malformed(snapshot(0, state: Self.state(0, []), marks: [])) == "statement openings of 0")
        #expect(malformed(snapshot(state: two, marks: [1, 3], logAccount: 0)) == "statement log of 0")
        #expect(try Self.restored(snapshot(state: two, marks: [1, 3], logAccount: 4)).oldest(of: 4) == 0)
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
