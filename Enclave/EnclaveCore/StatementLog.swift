import Engine
import Wire

/// Every account's recent changes, for its owner's private statement
/// (docs/COMMITMENTS.md §7.1). Pure and deterministic: built only from the engine's
/// entries in sequence order, so a worker that replays the journal rebuilds it byte for
/// byte. Bounded per account: when an account holds `2 × retain` entries after an event,
/// the oldest are folded into its opening balance until `retain` remain (never
/// splitting one event's entries: a cut inside an event moves back to the event's first
/// entry, and nothing is dropped when that leaves none to drop).
public struct StatementLog: Sendable {
    /// Entries an account keeps at least once it has had that many (`C`, §7.1).
    public let retain: Int

    struct AccountLog: Equatable, Sendable {
        /// Ascending sequence; entries of one event in the order made. Positions are not
        /// stored: they follow from `base` and the trades (`AccountStatementEntry.apply`).
        var entries: [AccountStatementEntry] = []
        /// Every entry with sequence ≤ this was folded into `base`; 0 when none was.
        var baseSequence: UInt64 = 0
        /// The account after the folded entries.
        var base: StatementBalance = .empty
    }

    var logs: [UInt64: AccountLog] = [:]
    /// What opens each liquidation decision of an account (docs/COMMITMENTS.md §7.2), in
    /// the order taken, without its salt (derived from the commitment key when a page is
    /// made). Kept while its sequence is after the account's window start, at most
    /// `openingsRetained` per account (the latest).
    var openings: [UInt64: [Opening]] = [:]

    struct Opening: Equatable, Sendable {
        var sequence: UInt64
        var step: UInt32
        var state: [UInt8]
        var marks: [DecisionMark]
    }

    /// Openings an account keeps at most (the latest).
    public static let openingsRetained = 16
    /// Bytes of openings a page carries at most.
    public static let openingsBudget = 32_768
    /// Per account, the canonical `state` bytes of its leaf in the last closed batch's
    /// state tree (docs/COMMITMENTS.md §2.2).
    public internal(set) var committedState: [UInt64: [UInt8]] = [:]
    /// Accounts whose log reached `2 × retain` entries in the current event, trimmed at
    /// `endEvent` (an account can appear more than once).
    private var touched: [UInt64] = []

    public init(retain: Int = 256) {
        precondition(retain >= 1)
        self.retain = retain
    }

    /// Appends one entry of the current event: one lookup of the account's log, modified in
    /// place (three lookups and a copy of the log per entry, and another per account at
    /// `endEvent`, were ~3% of the sequencer's CPU per order, issue 17).
    public mutating func append(_ e: AccountStatementEntry) {
        let count = Self.append(e, to: &logs[e.account, default: AccountLog()])
        // Counts only grow within an event: an account is due for trimming at `endEvent`
        // exactly when one of its appends of this event brought it to 2 × retain or more.
        if count >= 2 * retain { touched.append(e.account) }
    }

    private static func append(_ e: AccountStatementEntry, to log: inout AccountLog) -> Int {
        log.entries.append(e)
        return log.entries.count
    }

    /// Ends the current event: trims the logs that grew to `2 × retain` entries (§7.1).
    public mutating func endEvent() {
        guard !touched.isEmpty else { return }
        for account in touched where (logs[account]?.entries.count ?? 0) >= 2 * retain {
            trim(account)
        }
        touched.removeAll(keepingCapacity: true)
    }

    private mutating func trim(_ account: UInt64) {
        var log = logs.removeValue(forKey: account)!
        defer { logs[account] = log }
        var cut = log.entries.count - retain
        let sequence = log.entries[cut].sequence
        while cut > 0, log.entries[cut - 1].sequence == sequence { cut -= 1 }
        guard cut > 0 else { return }
        for e in log.entries[..<cut] { e.apply(to: &log.base) }
        log.baseSequence = log.entries[cut - 1].sequence
        log.entries.removeFirst(cut)
        if let kept = openings[account], kept.first.map({ $0.sequence <= log.baseSequence }) == true {
            openings[account] = kept.filter { $0.sequence > log.baseSequence }
        }
    }

    /// Keeps what opens a liquidation decision of `account` (taken after the event being
    /// applied): its step, its pre-step state and marks.
    public mutating func recordOpening(account: UInt64, sequence: UInt64, step: UInt32, state: [UInt8], marks: [DecisionMark]) {
        // In place: a copy out of the dictionary and back copied the list each time.
        openings[account, default: []].append(Opening(sequence: sequence, step: step, state: state, marks: marks))
        if let count = openings[account]?.count, count > Self.openingsRetained {
            openings[account]!.removeFirst(count - Self.openingsRetained)
        }
    }

    /// Records the `state` bytes of an account's leaf as a batch closes.
    public mutating func setCommittedState(_ account: UInt64, _ state: [UInt8]) {
        committedState[account] = state
    }

    /// Entries kept for `account` (tests, metrics).
    public func entryCount(of account: UInt64) -> Int { logs[account]?.entries.count ?? 0 }

    /// The smallest `since` answered for `account`.
    public func oldest(of account: UInt64) -> UInt64 { logs[account]?.baseSequence ?? 0 }

    /// The page of `account`'s statement after `since`, skipping `offset` entries, with
    /// as many entries as fit in `budget` bytes (at least one when any is left).
    /// `head` is the last global sequence number; `leaf` is attached unchanged.
    public func page(account: UInt64, since: UInt64, offset: UInt32, head: UInt64, budget: Int,
                     leaf: StatementLeaf?, salt: (UInt64, UInt64, UInt32) -> [UInt8] = { _, _, _ in [] }) -> StatementPage {
        guard account != PerpEngine.insuranceAccount else {
            return StatementPage(status: .noStatement, accountID: account, since: since, oldest: 0, head: head)
        }
        let log = logs[account] ?? AccountLog()
        guard since >= log.baseSequence else {
            return StatementPage(status: .tooOld, accountID: account, since: since, oldest: log.baseSequence, head: head)
        }
        // The first entry after `since` (entries ascend by sequence).
        var lo = 0
        var hi = log.entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if log.entries[mid].sequence <= since { lo = mid + 1 } else { hi = mid }
        }
        let total = log.entries.count - lo
        guard Int(offset) <= total else {
            return StatementPage(status: .badOffset, accountID: account, since: since, oldest: log.baseSequence, head: head)
        }
        // Running balances from the window's start: the opening after entry lo − 1, then
        // each entry's own (O(entries kept), made only when asked).
        var running = log.base
        for e in log.entries[..<lo] { e.apply(to: &running) }
        let opening = (lo > 0 ? log.entries[lo - 1].sequence : log.baseSequence, running)
        // The first page carries the openings after `since`, oldest first, as many as fit.
        var opened: [StatementOpening] = []
        var used = 0
        if offset == 0 {
            for o in openings[account] ?? [] where o.sequence > since {
                let opening = StatementOpening(sequence: o.sequence, step: o.step, salt: salt(account, o.sequence, o.step),
                                               state: o.state, marks: o.marks)
                guard used + opening.byteCount <= min(Self.openingsBudget, budget) else { break }
                opened.append(opening)
                used += opening.byteCount
            }
        }
        var entries: [StatementEntry] = []
        var i = lo
        while i < log.entries.count {
            log.entries[i].apply(to: &running)
            if i >= lo + Int(offset) {
                let entry = log.entries[i].entry(after: running)
                if !entries.isEmpty, used + entry.byteCount > budget { break }
                entries.append(entry)
                used += entry.byteCount
            }
            i += 1
        }
        return StatementPage(status: .ok, accountID: account, since: since, oldest: log.baseSequence, head: head,
                             total: UInt32(total), offset: offset, openingSequence: opening.0, opening: opening.1,
                             entries: entries, leaf: leaf, openings: opened)
    }
}

/// The statement logs in the worker snapshot (docs/DURABILITY.md §6.5, *Statement logs*):
/// every account's window, opening balance and entries, and the openings it keeps, so a
/// worker restored from a snapshot answers every statement exactly as the one that took
/// it (docs/COMMITMENTS.md §7.1). `committedState` is not written: it is the restored
/// engine's state at the snapshot's batch close, derived again on restore.
extension StatementLog {
    /// Bytes of one entry in the snapshot: sequence, kind, market, price, quantity,
    /// amount, collateral.
    static let snapshotEntryBytes = 8 + 1 + 4 + 8 + 8 + 8 + 16

    func writeSnapshot(into w: inout ByteWriter) {
        w.write(UInt32(logs.count))
        for account in logs.keys.sorted() {
            let log = logs[account]!
            w.write(account)
            w.write(log.baseSequence)
            log.base.write(into: &w)
            w.write(UInt32(log.entries.count))
            for e in log.entries {
                w.write(e.sequence)
                w.write(e.kind.rawValue)
                w.write(e.market)
                w.write(e.price)
                w.write(e.quantity)
                w.write(e.amount)
                w.write(UInt64(truncatingIfNeeded: e.collateral >> 64))
                w.write(UInt64(truncatingIfNeeded: e.collateral))
            }
        }
        let opened = openings.filter { !$0.value.isEmpty }
        w.write(UInt32(opened.count))
        for account in opened.keys.sorted() {
            let kept = opened[account]!
            w.write(account)
            w.write(UInt8(kept.count))
            for o in kept {
                w.write(o.sequence)
                w.write(o.step)
                w.write(UInt32(o.state.count))
                w.write(bytes: o.state)
                w.write(UInt16(o.marks.count))
                for m in o.marks {
                    w.write(m.market)
                    w.write(m.mark)
                    w.write(m.maintenanceBps)
                }
            }
        }
    }

    /// Reads what `writeSnapshot` wrote, refusing (`malformed`) anything no worker at
    /// global sequence `head` can hold: accounts not strictly ascending, a window start
    /// after `head`, an opening balance whose positions are not strictly ascending by
    /// market or hold a zero size, an entry of an unknown kind or whose sequence is not
    /// after the window start, not ascending, or after `head`, more than
    /// `openingsRetained` openings of one account, none, or openings not strictly
    /// ascending by (sequence, step) or not after the account's window start or after
    /// `head`, an opening whose state is not a canonical COMMITMENTS §2.2 state of its
    /// account or whose marks are not one per position of that state in its order, a mark
    /// whose maintenance bps is not `maintenanceBps(market)` (the configuration's, nil for a
    /// market it does not list: `PerpEngine.markMaintenanceBps(market:)`), and a log or
    /// openings of account 0 (the insurance fund has neither). Committed states start empty
    /// (the caller derives them from the engine).
    init(
        snapshot r: inout SnapshotReader, retain: Int, head: UInt64, maintenanceBps: (UInt32) -> UInt32?
    ) throws(EngineSnapshotError) {
        self.init(retain: retain)
        var previous: UInt64?
        for _ in 0..<(try r.count(minBytes: 38, "statement logs")) {
            let account = try r.u64()
            guard previous.map({ $0 < account }) ?? true else { throw .malformed("statement logs out of order") }
            // The insurance fund keeps no log (§7.1: the engine makes it no entries).
            guard account != PerpEngine.insuranceAccount else { throw .malformed("statement log of 0") }
            previous = account
            var log = AccountLog()
            log.baseSequence = try r.u64()
            guard log.baseSequence <= head else { throw .malformed("statement window of \(account)") }
            log.base = try Self.balance(&r, account)
            let n = try r.count(minBytes: Self.snapshotEntryBytes, "statement entries")
            log.entries.reserveCapacity(n)
            var last = log.baseSequence
            for _ in 0..<n {
                let sequence = try r.u64()
                guard let kind = StatementEntry.Kind(rawValue: try r.u8()), sequence > log.baseSequence, sequence >= last,
                      sequence <= head
                else {
                    throw .malformed("statement entry of \(account)")
                }
                last = sequence
                let market = try r.u32(), price = try r.i64(), quantity = try r.i64(), amount = try r.i64()
                let hi = try r.u64(), lo = try r.u64()
                log.entries.append(AccountStatementEntry(
                    account: account, sequence: sequence, kind: kind, market: market, price: price, quantity: quantity,
                    amount: amount, collateral: Int128(Int64(bitPattern: hi)) << 64 | Int128(lo)))
            }
            logs[account] = log
        }
        previous = nil
        for _ in 0..<(try r.count(minBytes: 9, "statement openings")) {
            let account = try r.u64()
            guard previous.map({ $0 < account }) ?? true else { throw .malformed("statement openings out of order") }
            // Nor openings: the fund is never liquidated.
            guard account != PerpEngine.insuranceAccount else { throw .malformed("statement openings of 0") }
            previous = account
            let n = Int(try r.u8())
            guard (1...Self.openingsRetained).contains(n) else { throw .malformed("openings count of \(account)") }
            let start = logs[account]?.baseSequence ?? 0
            var kept: [Opening] = []
            for _ in 0..<n {
                let sequence = try r.u64(), step = try r.u32()
                guard sequence > start, sequence <= head,
                      kept.last.map({ ($0.sequence, $0.step) < (sequence, step) }) ?? true
                else { throw .malformed("opening of \(account)") }
                // The state and marks in canonical form only, as for a pending decision's
                // (docs/DURABILITY.md §6.2 item 5): this account's COMMITMENTS §2.2 state,
                // then one mark per position of it, in its order, with the configuration's
                // maintenance bps (§6.5).
                let state = try r.bytes(try r.count(minBytes: 1, "opening state"))
                guard let held = Account.commitmentStateMarkets(state, of: account) else {
                    throw .malformed("opening state of \(account)")
                }
                let k = Int(try r.u16())
                guard k == held.count else { throw .malformed("opening marks of \(account)") }
                var marks: [DecisionMark] = []
                marks.reserveCapacity(k)
                for market in held {
                    let mark = DecisionMark(market: try r.u32(), mark: try r.i64(), maintenanceBps: try r.u32())
                    guard mark.market == market, maintenanceBps(market) == mark.maintenanceBps else {
                        throw .malformed("opening marks of \(account)")
                    }
                    marks.append(mark)
                }
                kept.append(Opening(sequence: sequence, step: step, state: state, marks: marks))
            }
            openings[account] = kept
        }
    }

    private static func balance(_ r: inout SnapshotReader, _ account: UInt64) throws(EngineSnapshotError) -> StatementBalance {
        let hi = try r.u64(), lo = try r.u64()
        var positions: [StatementPosition] = []
        for _ in 0..<Int(try r.u16()) {
            let p = StatementPosition(market: try r.u32(), size: try r.i64())
            guard p.size != 0, positions.last.map({ $0.market < p.market }) ?? true else {
                throw .malformed("statement opening balance of \(account)")
            }
            positions.append(p)
        }
        return StatementBalance(collateral: Int128(Int64(bitPattern: hi)) << 64 | Int128(lo), positions: positions)
    }

    /// Sets every account's committed leaf state (after a restore: the engine's, which at
    /// a snapshot's batch close is the committed one).
    mutating func setCommittedStates(_ states: [(UInt64, [UInt8])]) {
        committedState = Dictionary(states, uniquingKeysWith: { $1 })
    }
}

extension StatementLog: Equatable {
    /// The same logs, openings and committed states (tests: a restored log against the original).
    public static func == (a: StatementLog, b: StatementLog) -> Bool {
        a.retain == b.retain && a.committedState == b.committedState && a.logs == b.logs
            && a.openings.filter { !$0.value.isEmpty } == b.openings.filter { !$0.value.isEmpty }
    }
}
