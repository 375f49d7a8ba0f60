/// A binary min-heap of (key, account, version) with lazy deletion: an entry whose
/// version is not the account's current index version is stale and skipped. Ties break
/// by account id, so pop order is deterministic.
struct IndexHeap: Sendable {
    struct Entry: Sendable {
        var key: Int128
        /// Ties break by account id, so pop order does not depend on slot assignment.
        var account: UInt64
        var slot: AccountSlot
        var version: UInt32

        func precedes(_ other: Entry) -> Bool {
            key != other.key ? key < other.key : account < other.account
        }
    }

    private(set) var entries: [Entry] = []

    var count: Int { entries.count }
    var top: Entry? { entries.first }

    mutating func push(_ e: Entry) {
        entries.append(e)
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard entries[i].precedes(entries[parent]) else { break }
            entries.swapAt(i, parent)
            i = parent
        }
    }

    @discardableResult
    mutating func pop() -> Entry? {
        guard !entries.isEmpty else { return nil }
        let first = entries[0]
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < entries.count && entries[l].precedes(entries[m]) { m = l }
                if r < entries.count && entries[r].precedes(entries[m]) { m = r }
                if m == i { break }
                entries.swapAt(i, m)
                i = m
            }
        }
        return first
    }

    /// Drops stale entries and re-heapifies (when stale entries outnumber live ones).
    mutating func compact(isLive: (Entry) -> Bool) {
        let live = entries.filter(isLive)
        entries = []
        entries.reserveCapacity(live.count)
        for e in live { push(e) }
    }
}

/// An account's live entry in a market's `longs` or `shorts` heap.
struct IndexedKey: Sendable {
    /// Market slot; −1 when the account has no live single-position entry.
    var market: Int32 = -1
    var long = false
    /// The key as computed (not negated for longs).
    var key: Int128 = 0
}

/// What makes an account a liquidation candidate in one market.
///
/// - Single-position accounts are keyed by their exact liquidation price, which does not
///   depend on the mark: a long is liquidatable when mark ≤ key, a short when mark ≥ key.
///   Longs are stored with negated keys so both are min-heaps.
/// - Cross-margin accounts are keyed conservatively: their buffer (equity − maintenance)
///   is split across their markets as a budget of absolute price movement, and the key is
///   the market's movement odometer plus that budget. No price path can eat the buffer
///   before some market's odometer passes its key, when the account is rechecked exactly.
struct MarketLiquidationIndex: Sendable {
    var longs = IndexHeap()
    var shorts = IndexHeap()
    var cross = IndexHeap()
    /// Σ |Δ mark| over valid updates: total absolute price movement (price units).
    var odometer: Int128 = 0
    /// The mark the odometer last counted from.
    var lastMark: Int64?
}
