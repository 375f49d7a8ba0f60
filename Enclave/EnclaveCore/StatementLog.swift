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

    struct AccountLog: Sendable {
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

    struct Opening: Sendable {
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

    /// Starts every account's window afresh at `sequence` with the given balances and
    /// committed states: after a restore from a snapshot, which carries no statements
    /// (docs/COMMITMENTS.md §7.1).
    public mutating func restart(at sequence: UInt64, balances: [(UInt64, StatementBalance)], states: [(UInt64, [UInt8])]) {
        logs = [:]
        openings = [:]
        touched = []
        for (account, balance) in balances { logs[account] = AccountLog(entries: [], baseSequence: sequence, base: balance) }
        committedState = Dictionary(states, uniquingKeysWith: { $1 })
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
