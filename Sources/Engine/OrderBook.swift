import Wire

/// A resting order.
struct RestingOrder: Sendable {
    /// Engine order id: the global sequence number of the event that placed it.
    var id: UInt64
    var account: UInt64
    var clientOrderID: ClientOrderID
    var side: Side
    var price: Int64
    /// Unfilled quantity, base units of 10^-8.
    var remaining: Int64
    var reduceOnly: Bool
    /// False once filled or cancelled; the slot is reclaimed when it reaches the front
    /// of its level (lazy deletion keeps cancels O(1)).
    var live: Bool
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

/// A price-time priority order book for one market. Prices on each side are kept in a
/// sorted array with the best price last, so the best level is found and removed in
/// O(1); inserting a new level is a binary search and a short move.
struct OrderBook: Sendable {
    /// Bid prices ascending (best = last).
    private(set) var bidPrices: [Int64] = []
    /// Ask prices descending (best = last).
    private(set) var askPrices: [Int64] = []
    private var bidLevels: [Int64: Level] = [:]
    private var askLevels: [Int64: Level] = [:]
    /// Order arena; slots of dead orders are reused through `free`.
    private(set) var orders: [RestingOrder] = []
    private var free: [Int32] = []

    /// Best live price on `side`, reclaiming exhausted levels on the way.
    mutating func bestPrice(_ side: Side) -> Int64? {
        bestOpposite(to: side == .buy ? .sell : .buy)?.price
    }

    func order(_ index: Int32) -> RestingOrder { orders[Int(index)] }

    /// Adds a resting order at the back of its level; returns its arena index.
    mutating func add(_ order: RestingOrder) -> Int32 {
        let index: Int32
        if let slot = free.popLast() {
            index = slot
            orders[Int(slot)] = order
        } else {
            index = Int32(orders.count)
            orders.append(order)
        }
        if order.side == .buy {
            if bidLevels[order.price] == nil {
                bidPrices.insert(order.price, at: Self.insertionPoint(bidPrices, order.price, ascending: true))
                bidLevels[order.price] = Level()
            }
            bidLevels[order.price]!.queue.append(index)
            bidLevels[order.price]!.liveQuantity += Int128(order.remaining)
        } else {
            if askLevels[order.price] == nil {
                askPrices.insert(order.price, at: Self.insertionPoint(askPrices, order.price, ascending: false))
                askLevels[order.price] = Level()
            }
            askLevels[order.price]!.queue.append(index)
            askLevels[order.price]!.liveQuantity += Int128(order.remaining)
        }
        return index
    }

    /// Cancels a live order: O(1), the slot is reclaimed lazily.
    mutating func cancel(_ index: Int32) {
        let o = orders[Int(index)]
        guard o.live else { return }
        orders[Int(index)].live = false
        adjustLevel(side: o.side, price: o.price, by: -o.remaining)
    }

    /// The front live order on the side opposite to `takerSide` at its best price, or
    /// nil when that side is empty. Dead orders met on the way are reclaimed.
    mutating func bestOpposite(to takerSide: Side) -> (index: Int32, price: Int64)? {
        let makerSide: Side = takerSide == .buy ? .sell : .buy
        while let price = makerSide == .buy ? bidPrices.last : askPrices.last {
            var level = makerSide == .buy ? bidLevels[price]! : askLevels[price]!
            while let idx = level.front, !orders[Int(idx)].live {
                level.popFront()
                free.append(idx)
            }
            if let idx = level.front {
                store(level, side: makerSide, price: price)
                return (idx, price)
            }
            // Level exhausted: remove it.
            if makerSide == .buy {
                bidLevels[price] = nil
                bidPrices.removeLast()
            } else {
                askLevels[price] = nil
                askPrices.removeLast()
            }
        }
        return nil
    }

    /// Fills `quantity` of the order at `index`; marks it dead when fully filled.
    mutating func fill(_ index: Int32, quantity: Int64) {
        orders[Int(index)].remaining -= quantity
        let o = orders[Int(index)]
        adjustLevel(side: o.side, price: o.price, by: -quantity)
        if o.remaining == 0 { orders[Int(index)].live = false }
    }

    /// Live quantity resting at `price` on `side` (for tests and depth).
    func liveQuantity(side: Side, price: Int64) -> Int128 {
        (side == .buy ? bidLevels[price] : askLevels[price])?.liveQuantity ?? 0
    }

    /// Live orders on `side`, best first, each level in time priority.
    func liveOrders(side: Side) -> [RestingOrder] {
        let prices = side == .buy ? bidPrices : askPrices
        var out: [RestingOrder] = []
        for price in prices.reversed() {
            let level = side == .buy ? bidLevels[price]! : askLevels[price]!
            for idx in level.queue[level.head...] where orders[Int(idx)].live { out.append(orders[Int(idx)]) }
        }
        return out
    }

    private mutating func adjustLevel(side: Side, price: Int64, by delta: Int64) {
        if side == .buy { bidLevels[price]?.liveQuantity += Int128(delta) } else { askLevels[price]?.liveQuantity += Int128(delta) }
    }

    private mutating func store(_ level: Level, side: Side, price: Int64) {
        if side == .buy { bidLevels[price] = level } else { askLevels[price] = level }
    }

    /// Index at which `price` keeps `prices` sorted (ascending or descending).
    static func insertionPoint(_ prices: [Int64], _ price: Int64, ascending: Bool) -> Int {
        var lo = 0
        var hi = prices.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ascending ? prices[mid] < price : prices[mid] > price { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
