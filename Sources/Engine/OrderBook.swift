import Wire

/// A resting order.
struct RestingOrder: Sendable {
    /// Engine order id: the global sequence number of the event that placed it.
    var id: UInt64
    var account: UInt64
    var accountSlot: AccountSlot
    var clientOrderID: ClientOrderID
    /// `OpenOrderIndex.hash(account:id:)` of (account, client order id), kept so removing the order
    /// from the index does not hash again.
    var idHash: UInt64
    var side: Side
    var price: Int64
    /// Unfilled quantity, base units of 10^-8.
    var remaining: Int64
    var reduceOnly: Bool
    /// False once filled or cancelled; the slot is reclaimed when it reaches the front
    /// of its level (lazy deletion keeps cancels O(1)).
    var live: Bool
    /// The level (index into the book's level arena) the order queues at; set by `add`.
    var level: Int32 = -1
}

/// One price level: orders in time priority.
struct Level: Sendable {
    var queue: [Int32] = []
    var head = 0
    /// Sum of `remaining` over live orders at this level (Int128: many large orders at
    /// one level must not overflow).
    var liveQuantity: Int128 = 0

    var front: Int32? { head < queue.count ? queue[head] : nil }

    mutating func popFront() {
        head += 1
        if head > 32 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }
}

/// A price-time priority order book for one market.
///
/// Each side is an array of (price, level) sorted with the best price last, so the best
/// level is found and removed in O(1) and a new level costs a binary search and a short
/// move (new levels mostly appear near the touch, at the end). Levels live in an arena
/// and orders in another; a resting order knows its level, so fills and cancels adjust it
/// without a search. Nothing is hashed, and a level is always mutated in place.
struct OrderBook: Sendable {
    struct LevelRef: Sendable {
        var price: Int64
        var level: Int32
    }

    /// Bids by price ascending (best = last).
    // Internal, not private: the snapshot (PerpEngine+Snapshot.swift) writes and restores them.
    var bids: [LevelRef] = []
    /// Asks by price descending (best = last).
    var asks: [LevelRef] = []
    /// Level arena; slots of removed levels are reused through `freeLevels`.
    var levels: [Level] = []
    var freeLevels: [Int32] = []
    /// Order arena; slots of dead orders are reused through `free`.
    var orders: [RestingOrder] = []
    var free: [Int32] = []

    /// Best live price on `side`, reclaiming exhausted levels on the way.
    mutating func bestPrice(_ side: Side) -> Int64? {
        bestOpposite(to: side == .buy ? .sell : .buy)?.price
    }

    func order(_ index: Int32) -> RestingOrder { orders[Int(index)] }

    /// Adds a resting order at the back of its level; returns its arena index.
    ///
    /// The level is found first, so the order is stored once with it, and the level is
    /// updated through one access: each write through the arrays costs a uniqueness check.
    mutating func add(_ order: RestingOrder) -> Int32 {
        let level: Int32
        if order.side == .buy {
            let (found, at) = Self.find(order.price, in: bids, ascending: true)
            level = found ?? newLevel()
            if found == nil { bids.insert(LevelRef(price: order.price, level: level), at: at) }
        } else {
            let (found, at) = Self.find(order.price, in: asks, ascending: false)
            level = found ?? newLevel()
            if found == nil { asks.insert(LevelRef(price: order.price, level: level), at: at) }
        }
        var order = order
        order.level = level
        let index: Int32
        // `removeLast` after an emptiness check: the generic `popLast` was a call per order.
        if !free.isEmpty {
            index = free.removeLast()
            orders[Int(index)] = order
        } else {
            index = Int32(orders.count)
            orders.append(order)
        }
        Self.enqueue(index, quantity: order.remaining, at: &levels[Int(level)])
        return index
    }

    private static func enqueue(_ index: Int32, quantity: Int64, at level: inout Level) {
        level.queue.append(index)
        level.liveQuantity += Int128(quantity)
    }

    /// Cancels a live order: O(1), the slot is reclaimed lazily.
    mutating func cancel(_ index: Int32) {
        let i = Int(index)
        guard orders[i].live else { return }
        orders[i].live = false
        levels[Int(orders[i].level)].liveQuantity -= Int128(orders[i].remaining)
    }

    /// The front live order on the side opposite to `takerSide` at its best price, or
    /// nil when that side is empty. Dead orders met on the way are reclaimed.
    mutating func bestOpposite(to takerSide: Side) -> (index: Int32, price: Int64)? {
        if let live = peekBestOpposite(to: takerSide) { return live }
        return takerSide == .buy ? Self.best(of: &asks, levels: &levels, orders: orders, free: &free, freeLevels: &freeLevels)
            : Self.best(of: &bids, levels: &levels, orders: orders, free: &free, freeLevels: &freeLevels)
    }

    /// `bestOpposite` when it would change nothing: the front order of the best level
    /// opposite `takerSide` is live (most steps of most orders' matching). Read in place,
    /// where `best` takes four arrays inout and checks each for uniqueness (issue 17).
    /// Nil when that side is empty or its front is dead: `best` then reclaims and decides.
    @inline(__always)
    func peekBestOpposite(to takerSide: Side) -> (index: Int32, price: Int64)? {
        guard let top = takerSide == .buy ? asks.last : bids.last else { return nil }
        let l = Int(top.level)
        let head = levels[l].head
        guard head < levels[l].queue.count else { return nil }
        let idx = levels[l].queue[head]
        return orders[Int(idx)].live ? (idx, top.price) : nil
    }

    private static func best(
        of side: inout [LevelRef], levels: inout [Level], orders: [RestingOrder], free: inout [Int32], freeLevels: inout [Int32]
    ) -> (index: Int32, price: Int64)? {
        while let top = side.last {
            let l = Int(top.level)
            while let idx = levels[l].front, !orders[Int(idx)].live {
                levels[l].popFront()
                free.append(idx)
            }
            if let idx = levels[l].front { return (idx, top.price) }
            // Level exhausted: remove it and keep its queue's storage for reuse.
            side.removeLast()
            levels[l].queue.removeAll(keepingCapacity: true)
            levels[l].head = 0
            levels[l].liveQuantity = 0
            freeLevels.append(top.level)
        }
        return nil
    }

    /// Fills `quantity` of the order at `index`; marks it dead when fully filled.
    mutating func fill(_ index: Int32, quantity: Int64) {
        let i = Int(index)
        orders[i].remaining -= quantity
        levels[Int(orders[i].level)].liveQuantity -= Int128(quantity)
        if orders[i].remaining == 0 { orders[i].live = false }
    }

    /// Live quantity resting at `price` on `side` (for tests and depth).
    func liveQuantity(side: Side, price: Int64) -> Int128 {
        let refs = side == .buy ? bids : asks
        guard let ref = refs.first(where: { $0.price == price }) else { return 0 }
        return levels[Int(ref.level)].liveQuantity
    }

    /// Live orders on `side`, best first, each level in time priority.
    func liveOrders(side: Side) -> [RestingOrder] {
        var out: [RestingOrder] = []
        for ref in (side == .buy ? bids : asks).reversed() {
            let level = levels[Int(ref.level)]
            for idx in level.queue[level.head...] where orders[Int(idx)].live { out.append(orders[Int(idx)]) }
        }
        return out
    }

    private mutating func newLevel() -> Int32 {
        if !freeLevels.isEmpty { return freeLevels.removeLast() }
        levels.append(Level())
        return Int32(levels.count - 1)
    }

    /// The level at `price` on a side, or where to insert one to keep the side sorted.
    /// The best price is checked first: most orders join it.
    private static func find(_ price: Int64, in side: [LevelRef], ascending: Bool) -> (level: Int32?, at: Int) {
        if let last = side.last, last.price == price { return (last.level, side.count - 1) }
        let at = insertionPoint(side, price, ascending: ascending)
        return at < side.count && side[at].price == price ? (side[at].level, at) : (nil, at)
    }

    /// Index at which `price` keeps `side` sorted (ascending or descending).
    ///
    /// Half the orders that rest open a level or join one behind the best, so this runs
    /// for most of them (about six steps over the ~50 levels of a side). The steps use
    /// wrapping arithmetic (0 ≤ lo < hi ≤ count, so nothing wraps) and read through a
    /// buffer pointer: checked arithmetic, the signed halving and the bounds check were
    /// half of each step (issue 17).
    static func insertionPoint(_ side: [LevelRef], _ price: Int64, ascending: Bool) -> Int {
        side.withUnsafeBufferPointer { refs in
            var lo = 0
            var hi = refs.count
            while lo < hi {
                let mid = Int(bitPattern: UInt(bitPattern: lo &+ hi) &>> 1)
                let p = refs[mid].price
                if ascending ? p < price : p > price { lo = mid &+ 1 } else { hi = mid }
            }
            return lo
        }
    }
}
