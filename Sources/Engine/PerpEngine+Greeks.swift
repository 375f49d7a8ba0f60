import Options

/// One account's portfolio Greeks on one option underlying (docs/OPTIONS.md §7.7, §10.12).
public struct UnderlyingGreeks: Equatable, Sendable {
    /// The underlying's perpetual id.
    public var underlying: UInt32
    /// §7.7's Greeks of the account's portfolio on it (its perpetual on the underlying as
    /// instrument 0 and its option positions there), from the risk arrays of §10.2 at the
    /// end of the event; nil while those arrays are refused (no option mark, §10.2).
    public var greeks: PortfolioGreeks?

    public init(underlying: UInt32, greeks: PortfolioGreeks?) {
        self.underlying = underlying
        self.greeks = greeks
    }
}

/// The Greeks of every account holding options, per underlying it holds an option on,
/// maintained incrementally at the end of each event (docs/OPTIONS.md §10.12): when an
/// underlying's risk arrays change (a tick, the whole second, a smile), only the accounts
/// holding an option on it are re-evaluated, on that underlying only; an account the event
/// changed is re-evaluated on every underlying. Derived state: not in the snapshot, not
/// committed; rebuilt at the first event after a restore.
struct GreekBook: Sendable {
    /// Per account slot: its entries in ascending perpetual id, nil when it holds no option
    /// (an array by slot: a tick reads and writes one per holder).
    var entries: [[UnderlyingGreeks]?] = []
    /// Per underlying: the slots holding an option on it.
    var members: [Set<AccountSlot>]
    /// Per underlying: the risk-arrays generation its members were evaluated at
    /// (`unpriced` while refused; nil before the first evaluation).
    var keys: [UInt64?]
    /// Every account is re-evaluated at the next event (the state after a restore).
    var rebuild = false
    /// Portfolio evaluations made (a test counts them: a tick re-evaluates its holders only).
    var evaluations = 0
    /// Positions of the portfolio being evaluated, reused (no allocation per account).
    var scratch: [MarginPosition] = []
    /// Per underlying: its members in ascending account id, nil after a membership change.
    var sorted: [[AccountSlot]?]

    static let unpriced = UInt64.max

    init(underlyings: Int) {
        members = Array(repeating: [], count: underlyings)
        keys = Array(repeating: nil, count: underlyings)
        sorted = Array(repeating: nil, count: underlyings)
    }

    /// The members of underlying `u` in ascending account id (sorted again only after a
    /// membership change: an account opening its first or closing its last option on u).
    mutating func sortedMembers(_ u: Int, id: (AccountSlot) -> UInt64) -> [AccountSlot] {
        if let s = sorted[u] { return s }
        let s = members[u].sorted { id($0) < id($1) }
        sorted[u] = s
        return s
    }

    mutating func join(_ s: AccountSlot, _ u: Int) {
        if members[u].insert(s).inserted { sorted[u] = nil }
    }

    mutating func leave(_ s: AccountSlot, _ u: Int) {
        if members[u].remove(s) != nil { sorted[u] = nil }
    }

    /// The account's entries (nil: it holds no option).
    func entry(_ s: AccountSlot) -> [UnderlyingGreeks]? {
        Int(s) < entries.count ? entries[Int(s)] : nil
    }

    mutating func setEntry(_ s: AccountSlot, _ list: [UnderlyingGreeks]?) {
        let i = Int(s)
        if i >= entries.count {
            guard list != nil else { return }
            entries.append(contentsOf: repeatElement(nil, count: i + 1 - entries.count))
        }
        entries[i] = list
    }
}

extension PerpEngine {
    /// The account's portfolio Greeks per option underlying it holds an option on
    /// (ascending perpetual id), as the end of the last event left them (docs/OPTIONS.md
    /// §10.12). Empty for an unknown account, one holding no option, or a venue without
    /// options; before the first event after a snapshot restore, empty.
    public func portfolioGreeks(of account: UInt64) -> [UnderlyingGreeks] {
        guard let s = accounts.slot(of: account) else { return [] }
        return greekBook?.entry(s) ?? []
    }

    /// The same Greeks computed from scratch at `now` from the account's positions and the
    /// risk arrays (what the book must equal after every event; tests compare them).
    mutating func recomputedGreeks(slot s: AccountSlot, now: UInt64) -> [UnderlyingGreeks] {
        var out: [UnderlyingGreeks] = []
        guard let count = options?.underlyings.count else { return out }
        for u in 0..<count {
            // Without the health memo's Greeks: from the positions, always.
            if let e = greekEntry(s, underlying: u, arrays: arraysBox(u, at: now), generation: nil) { out.append(e) }
        }
        return out
    }

    /// One underlying's entry for an account, nil if it holds no option on it.
    mutating func greekEntry(_ s: AccountSlot, underlying u: Int, now: UInt64) -> UnderlyingGreeks? {
        greekEntry(s, underlying: u, arrays: arraysBox(u, at: now), generation: arraysGeneration(u, at: now))
    }

    /// The same with the underlying's arrays at the event (nil: refused) and their
    /// generation, fetched once by the caller for all the accounts it evaluates. The
    /// Greeks the account's health memo recorded for its current positions at that
    /// generation are taken as they are: the same positions, the same arrays.
    mutating func greekEntry(_ s: AccountSlot, underlying u: Int, arrays: ArraysBox?, generation: UInt64?) -> UnderlyingGreeks? {
        if arrays != nil, let generation, let greeks = memoizedGreeks(s, underlying: u, generation: generation) {
            greekBook?.evaluations += 1
            return UnderlyingGreeks(underlying: options!.underlyings[u].perpID, greeks: greeks)
        }
        // The book's buffer, taken for the evaluation and handed back (no allocation).
        var positions: [MarginPosition] = []
        if greekBook != nil { swap(&positions, &greekBook!.scratch) }
        positions.empty()
        defer { if greekBook != nil { swap(&positions, &greekBook!.scratch) } }
        let perp = options!.underlyings[u].perpID
        var hasOption = false
        for p in accounts[slot: s].positions where p.size != 0 {
            if p.market == perp {
                positions.append(MarginPosition(instrument: 0, size: p.size))
            } else if let mi = fastSlot(of: p.market), isOptionSlot(mi) {
                let (pu, i) = options!.optionSlots[mi - perpCount]
                guard pu == u else { continue }
                positions.append(MarginPosition(instrument: i + 1, size: p.size))
                hasOption = true
            }
        }
        guard hasOption else { return nil }
        greekBook?.evaluations += 1
        guard let arrays else { return UnderlyingGreeks(underlying: perp, greeks: nil) }
        // §10.1's limits keep every portfolio in §7.7's range, so this never refuses.
        return UnderlyingGreeks(underlying: perp, greeks: try? arrays.greeks(positions))
    }

    /// The book's key for underlying `u` at `now`: its arrays' generation, or `unpriced`.
    mutating func greekKey(_ u: Int, now: UInt64) -> UInt64 {
        arraysGeneration(u, at: now) ?? GreekBook.unpriced
    }

    /// End of an event (after liquidations, before margin calls): re-evaluates the members
    /// of each underlying whose arrays changed, on that underlying, then every account the
    /// event changed (`changedFrom` as in `evaluateMarginCalls`), on every underlying.
    mutating func refreshGreeks(changedFrom: Int, now: UInt64) {
        guard greekBook != nil else { return }
        if greekBook!.rebuild {
            greekBook!.rebuild = false
            for s in 0..<AccountSlot(accounts.count) { updateGreeks(s, now: now) }
        }
        for u in greekBook!.members.indices where !greekBook!.members[u].isEmpty {
            let key = greekKey(u, now: now)
            guard key != greekBook!.keys[u] else { continue }
            greekBook!.keys[u] = key
            let perp = options!.underlyings[u].perpID
            let arrays = arraysBox(u, at: now)
            let generation = key == GreekBook.unpriced ? nil : key as UInt64?
            for s in greekBook!.members[u] {
                let i = Int(s)
                guard let e = greekEntry(s, underlying: u, arrays: arrays, generation: generation),
                      let k = greekBook!.entries[i]?.firstIndex(where: { $0.underlying == perp })
                else { continue }
                greekBook!.entries[i]![k] = e
            }
        }
        guard changedFrom < accounts.changedCount else { return }
        for s in accounts.changed[changedFrom...] { updateGreeks(s, now: now) }
    }

    /// Re-evaluates one account on every underlying and updates the members.
    mutating func updateGreeks(_ s: AccountSlot, now: UInt64) {
        let had = greekBook!.entry(s) != nil
        guard holdsOption(s) else {
            guard had else { return }
            greekBook!.setEntry(s, nil)
            for u in greekBook!.members.indices { greekBook!.leave(s, u) }
            return
        }
        var list: [UnderlyingGreeks] = []
        for u in options!.underlyings.indices {
            if let e = greekEntry(s, underlying: u, now: now) {
                list.append(e)
                greekBook!.join(s, u)
            } else if had {
                greekBook!.leave(s, u)
            }
        }
        greekBook!.setEntry(s, list)
    }
}
