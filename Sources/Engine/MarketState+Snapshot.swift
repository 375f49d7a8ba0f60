import Wire

/// One market's part of the engine snapshot (docs/DURABILITY.md §6.2): funding clock,
/// oracle, liquidation index, holders and the book, internal layout included (arena
/// indexes, free lists, lazily deleted orders), so a restored market reuses slots
/// exactly as the original would.
extension PerpEngine.MarketState {
    func writeSnapshot(into w: inout ByteWriter) {
        w.write(config.id)
        w.writeSnapshot(fundingIndex)
        w.write(nextFunding)
        oracle.writeSnapshot(into: &w)
        w.writeSnapshot(index.odometer)
        w.writeSnapshot(index.lastMark)
        for heap in [index.longs, index.shorts, index.cross] {
            w.writeCount(heap.entries.count)
            for e in heap.entries {
                w.writeSnapshot(e.key)
                w.write(e.account)
                w.writeSnapshot(e.slot)
                w.write(e.version)
            }
        }
        w.writeCount(holders.members.count)
        for s in holders.members { w.writeSnapshot(s) }
        book.writeSnapshot(into: &w)
    }

    mutating func restore(_ r: inout SnapshotReader, accountCount: Int) throws(EngineSnapshotError) {
        let id = try r.u32()
        guard id == config.id else { throw .configMismatch("market \(id) where \(config.id) is configured") }
        fundingIndex = try r.i128()
        nextFunding = try r.u64()
        try oracle.restore(&r)
        index = MarketLiquidationIndex()
        index.odometer = try r.i128()
        index.lastMark = try r.optionalI64("last mark")
        var heaps: [IndexHeap] = []
        for _ in 0..<3 {
            var heap = IndexHeap()
            for _ in 0..<(try r.count(minBytes: 32, "index heap")) {
                // Pushing a heap's array in order reproduces it: every parent precedes its children.
                heap.push(IndexHeap.Entry(key: try r.i128(), account: try r.u64(),
                                          slot: try r.index(below: accountCount, "index heap slot"), version: try r.u32()))
            }
            heaps.append(heap)
        }
        (index.longs, index.shorts, index.cross) = (heaps[0], heaps[1], heaps[2])
        holders = HolderSet()
        for _ in 0..<(try r.count(minBytes: 4, "holders")) {
            let s = try r.index(below: accountCount, "holder slot")
            let before = holders.count
            holders.insert(s)
            guard holders.count == before + 1 else { throw .malformed("holder \(s) repeated") }
        }
        book = try OrderBook(snapshot: &r, accountCount: accountCount)
    }
}

extension OracleState {
    func writeSnapshot(into w: inout ByteWriter) {
        for q in quotes {
            if let q {
                w.write(UInt8(1))
                w.write(q.price)
                w.write(q.confidence)
                w.write(q.publishTime)
            } else {
                w.write(UInt8(0))
            }
        }
        w.writeSnapshot(reference)
        if let jump = pendingJump {
            w.write(UInt8(1))
            w.write(jump.since)
            w.write(jump.level)
        } else {
            w.write(UInt8(0))
        }
        w.writeSnapshot(deviationTripped)
        w.writeSnapshot(cachedMark)
        w.write(cachedInvalidity?.rawValue ?? 0)
        w.write(cacheValidUntil)
        w.write(cacheComputedAt)
    }

    mutating func restore(_ r: inout SnapshotReader) throws(EngineSnapshotError) {
        for i in quotes.indices {
            quotes[i] = try r.bool("quote") ? Quote(price: try r.i64(), confidence: try r.u64(), publishTime: try r.u64()) : nil
        }
        reference = try r.optionalI64("reference")
        pendingJump = try r.bool("pending jump") ? (since: try r.u64(), level: try r.i64()) : nil
        deviationTripped = try r.bool("deviation tripped")
        cachedMark = try r.optionalI64("cached mark")
        let invalidity = try r.u8()
        if invalidity == 0 {
            cachedInvalidity = nil
        } else {
            guard let reason = PriceInvalidity(rawValue: invalidity) else { throw .malformed("cached invalidity") }
            cachedInvalidity = reason
        }
        cacheValidUntil = try r.u64()
        cacheComputedAt = try r.u64()
        // The cached mark's confidence is not written: no quote changed since the cache was
        // computed (recording one empties it), so evaluating again at that time gives it.
        cachedConfidence = cachedMark != nil && cacheComputedAt != .max ? evaluate(now: cacheComputedAt).confidence : 0
    }
}

extension OrderBook {
    /// Orders (the whole arena, dead ones included), the order free list, levels (each
    /// queue from its head), the level free list, bids, asks. `idHash` is not written:
    /// it is this process's seeded hash, recomputed on restore.
    func writeSnapshot(into w: inout ByteWriter) {
        w.writeCount(orders.count)
        for o in orders {
            w.write(o.id)
            w.write(o.account)
            w.writeSnapshot(o.accountSlot)
            o.clientOrderID.writeSnapshot(into: &w)
            w.write(o.side.rawValue)
            w.write(o.price)
            w.write(o.remaining)
            w.writeSnapshot(o.reduceOnly)
            w.writeSnapshot(o.live)
            w.writeSnapshot(o.level)
        }
        w.writeCount(free.count)
        for i in free { w.writeSnapshot(i) }
        w.writeCount(levels.count)
        for l in levels {
            w.writeSnapshot(l.liveQuantity)
            w.writeCount(l.queue.count - l.head)
            for i in l.queue[l.head...] { w.writeSnapshot(i) }
        }
        w.writeCount(freeLevels.count)
        for i in freeLevels { w.writeSnapshot(i) }
        for side in [bids, asks] {
            w.writeCount(side.count)
            for ref in side {
                w.write(ref.price)
                w.writeSnapshot(ref.level)
            }
        }
    }

    init(snapshot r: inout SnapshotReader, accountCount: Int) throws(EngineSnapshotError) {
        self.init()
        let orderCount = try r.count(minBytes: 43, "orders")
        orders.reserveCapacity(orderCount)
        var levelOfOrder: [Int32] = []
        for _ in 0..<orderCount {
            let id = try r.u64()
            let account = try r.u64()
            let slot = try r.index(below: accountCount, "order account slot")
            let clientOrderID = try ClientOrderID.snapshot(&r)
            let side = try Side.snapshot(&r)
            var o = RestingOrder(id: id, account: account, accountSlot: slot, clientOrderID: clientOrderID, idHash: 0,
                                 side: side, price: try r.i64(), remaining: try r.i64(), reduceOnly: try r.bool("reduce only"),
                                 live: try r.bool("live"))
            o.level = try r.i32()
            levelOfOrder.append(o.level)
            orders.append(o)
        }
        for _ in 0..<(try r.count(minBytes: 4, "free orders")) { free.append(try r.index(below: orderCount, "free order")) }
        let levelCount = try r.count(minBytes: 20, "levels")
        for _ in 0..<levelCount {
            var level = Level()
            level.liveQuantity = try r.i128()
            for _ in 0..<(try r.count(minBytes: 4, "level queue")) {
                level.queue.append(try r.index(below: orderCount, "queued order"))
            }
            levels.append(level)
        }
        for l in levelOfOrder where l < -1 || Int(l) >= levelCount { throw .malformed("order level \(l)") }
        for _ in 0..<(try r.count(minBytes: 4, "free levels")) { freeLevels.append(try r.index(below: levelCount, "free level")) }
        for ascending in [true, false] {
            var refs: [LevelRef] = []
            for _ in 0..<(try r.count(minBytes: 12, "book side")) {
                let ref = LevelRef(price: try r.i64(), level: try r.index(below: levelCount, "book level"))
                if let last = refs.last, ascending ? last.price >= ref.price : last.price <= ref.price {
                    throw .malformed("book side out of order")
                }
                refs.append(ref)
            }
            if ascending { bids = refs } else { asks = refs }
        }
    }
}
