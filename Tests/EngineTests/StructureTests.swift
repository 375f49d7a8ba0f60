import TestSupport
import Testing
@testable import Engine
import Wire

/// The engine's hand-made data structures, each against a plain reference model.
@Suite("Engine data structures")
struct StructureTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func accountIDMapFindsEveryInsertedIDAndNothingElse(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var map = AccountIDMap()
        var reference: [UInt64: AccountSlot] = [:]
        // Sequential ids, ids that share their low bits, the extremes and random ones:
        // the patterns a multiplicative hash could cluster.
        var ids: [UInt64] = [0, 1, .max, .max - 1, 1 << 63]
        ids += (2..<2_000).map { UInt64($0) }
        ids += (1..<500).map { UInt64($0) << 32 }
        ids += (0..<2_000).map { _ in rng.next() }
        for id in ids where reference[id] == nil {
            let slot = AccountSlot(reference.count)
            map.insert(id, slot: slot)
            reference[id] = slot
            #expect(map.find(id) == slot)
        }
        #expect(map.count == reference.count)
        for (id, slot) in reference { #expect(map.find(id) == slot) }
        for _ in 0..<2_000 {
            let id = rng.next()
            #expect(map.find(id) == reference[id])
        }
    }

    @Test func accountStoreNotesEveryChangedAccount() {
        var store = AccountStore()
        let a = store.slot(creating: 42)
        let b = store.slot(creating: 7)
        #expect(store.slot(creating: 42) == a, "an existing id keeps its slot")
        var drained: [UInt64] = []
        store.drainChanged { drained.append($0) }
        #expect(drained == [42, 7], "creation is a change")
        store[slot: b].collateral += 5
        store[slot: b].collateral += 5
        store[slot: a].collateral -= 1
        store[slot: b].collateral += 1
        drained = []
        store.drainChanged { drained.append($0) }
        #expect(drained == [7, 42, 7], "consecutive changes to one account are noted once")
        drained = []
        store.drainChanged { drained.append($0) }
        #expect(drained.isEmpty)
        #expect(store[7]?.collateral == 11)
        #expect(store[42]?.collateral == -1)
        #expect(store[8] == nil)
        #expect(store.keys == [42, 7], "creation order")
    }

    @Test func holderSetMatchesASet() {
        var rng = SplitMix64(seed: 9)
        var holders = HolderSet()
        var reference: Set<AccountSlot> = []
        for _ in 0..<20_000 {
            let s = AccountSlot(rng.next() % 300)
            if rng.next() % 2 == 0 {
                holders.insert(s)
                reference.insert(s)
            } else {
                holders.remove(s)
                reference.remove(s)
            }
            #expect(holders.count == reference.count)
        }
        #expect(Set(holders.members) == reference)
        #expect(holders.members.count == reference.count, "no duplicates")
    }

    /// Hashes are chosen by the test (the index takes them as given), so a few top-bit
    /// patterns force long probe runs, wrap-around at the table's end and backward-shift
    /// deletions in the middle of runs.
    @Test(arguments: [false, true])
    func openOrderIndexMatchesADictionary(clustered: Bool) {
        var rng = SplitMix64(seed: clustered ? 11 : 12)
        var index = OpenOrderIndex()
        var reference: [Int32: (hash: UInt64, account: AccountSlot)] = [:]  // by order index
        var next: Int32 = 0
        func hash() -> UInt64 {
            // Clustered: only 4 distinct home buckets' worth of top bits, some at the top
            // of the table (wrap-around).
            clustered ? (rng.next() % 4) << 62 | (rng.next() & 0xFFFF_FFFF) | UInt64(rng.next() % 3) << 60 : rng.next()
        }
        for step in 0..<6_000 {
            if reference.isEmpty || rng.next() % 3 != 0 {
                let h = hash()
                let account = AccountSlot(rng.next() % 50)
                index.insert(hash: h, account: account, ref: OrderRef(market: 1, index: next))
                reference[next] = (h, account)
                next += 1
            } else {
                let victim = reference.keys.sorted()[Int(rng.next() % UInt64(reference.count))]
                let entry = reference.removeValue(forKey: victim)!
                let bucket = index.find(hash: entry.hash, account: entry.account, ref: OrderRef(market: 1, index: victim))
                #expect(bucket != nil)
                if let bucket { index.remove(at: bucket) }
            }
            if step % 500 == 0 || step == 5_999 {
                #expect(index.count == reference.count)
                for (order, entry) in reference {
                    let bucket = index.find(hash: entry.hash, account: entry.account, ref: OrderRef(market: 1, index: order))
                    #expect(bucket.map { index[$0] } == OrderRef(market: 1, index: order))
                    // The same hash and order under another account is not found.
                    #expect(index.find(hash: entry.hash, account: entry.account + 100, ref: OrderRef(market: 1, index: order)) == nil)
                }
            }
        }
    }

    /// The keyed hash reads every byte, the length and the account: changing any one
    /// changes the hash; and sequential ids (what most clients send) spread evenly over
    /// home buckets (the top bits).
    @Test func openOrderHashSeesEveryByteAndSpreads() throws {
        let index = OpenOrderIndex()
        var rng = SplitMix64(seed: 7)
        for length in 1...ClientOrderID.maxLength {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let h = index.hash(account: 3, id: try ClientOrderID(bytes: bytes))
            #expect(index.hash(account: 3, id: try ClientOrderID(bytes: bytes)) == h)
            #expect(index.hash(account: 4, id: try ClientOrderID(bytes: bytes)) != h)
            for i in 0..<length {
                var changed = bytes
                changed[i] ^= 1 << UInt8(i % 8)
                #expect(index.hash(account: 3, id: try ClientOrderID(bytes: changed)) != h, "byte \(i) of \(length)")
            }
            // Zero padding: the same bytes plus a zero byte are another id.
            if length < ClientOrderID.maxLength {
                #expect(index.hash(account: 3, id: try ClientOrderID(bytes: bytes + [0])) != h)
            }
        }
        // 64k sequential ids over 1,024 home buckets: 64 expected per bucket; a bucket
        // holding more than 128 would be > 8 standard deviations out.
        var buckets = [Int](repeating: 0, count: 1_024)
        for i in 0..<65_536 { buckets[Int(index.hash(account: 1, id: try ClientOrderID("o\(i)")) >> 54)] += 1 }
        #expect(buckets.max()! < 128 && buckets.min()! > 16)
    }

    @Test func clientOrderIDsKeepTheirBytesAndLength() throws {
        var rng = SplitMix64(seed: 5)
        for length in 1...ClientOrderID.maxLength {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let id = try ClientOrderID(bytes: bytes)
            #expect(id.bytes == bytes)
            #expect(id.count == length)
            #expect(try ClientOrderID(bytes: bytes) == id)
            #expect(try ClientOrderID(bytes: bytes).hashValue == id.hashValue)
            var changed = bytes
            changed[Int(rng.next() % UInt64(length))] ^= 1
            #expect(try ClientOrderID(bytes: changed) != id)
        }
        // Zero padding must not make ids of different lengths equal.
        #expect(try ClientOrderID(bytes: [0x61]) != ClientOrderID(bytes: [0x61, 0]))
        #expect(try ClientOrderID(bytes: [0]) != ClientOrderID(bytes: [0, 0]))
        #expect(try Set([ClientOrderID(bytes: [0x61]), ClientOrderID(bytes: [0x61, 0]), ClientOrderID(bytes: [0x61])]).count == 2)
        #expect(throws: WireError.self) { try ClientOrderID(bytes: []) }
        #expect(throws: WireError.self) { try ClientOrderID(bytes: [UInt8](repeating: 1, count: 37)) }
    }

    /// Prices of two sides and fills against a list-of-queues model: levels come and go
    /// (their slots are reused) and every live order stays where price-time priority puts it.
    @Test func orderBookMatchesAModelThroughLevelReuse() throws {
        var rng = SplitMix64(seed: 21)
        var book = OrderBook()
        var live: [Int32: RestingOrder] = [:]
        var sequence: UInt64 = 0
        for _ in 0..<8_000 {
            let roll = rng.next() % 10
            if roll < 5 || live.isEmpty {
                sequence += 1
                let side: Side = rng.next() % 2 == 0 ? .buy : .sell
                let price = Int64(100 + rng.next() % 12)
                let order = RestingOrder(
                    id: sequence, account: 1, accountSlot: 1, clientOrderID: try ClientOrderID("o\(sequence)"), idHash: 0,
                    side: side, price: price, remaining: Int64(1 + rng.next() % 5), reduceOnly: false, live: true)
                live[book.add(order)] = order
            } else if roll < 8 {
                let victim = live.keys.sorted()[Int(rng.next() % UInt64(live.count))]
                book.cancel(victim)
                live[victim] = nil
            } else {
                let taker: Side = rng.next() % 2 == 0 ? .buy : .sell
                guard let (index, price) = book.bestOpposite(to: taker) else { continue }
                let makerSide: Side = taker == .buy ? .sell : .buy
                let expected = live.filter { $0.value.side == makerSide }
                    .min { a, b in
                        let pa = a.value.price, pb = b.value.price
                        if pa != pb { return makerSide == .buy ? pa > pb : pa < pb }
                        return a.value.id < b.value.id
                    }
                #expect(expected?.key == index, "best price, then time priority")
                #expect(expected?.value.price == price)
                let quantity = min(live[index]!.remaining, Int64(1 + rng.next() % 3))
                book.fill(index, quantity: quantity)
                live[index]!.remaining -= quantity
                if live[index]!.remaining == 0 { live[index] = nil }
            }
            for side in [Side.buy, .sell] {
                let got = book.liveOrders(side: side).map(\.id)
                let want = live.values.filter { $0.side == side }
                    .sorted { a, b in a.price != b.price ? (side == .buy ? a.price > b.price : a.price < b.price) : a.id < b.id }
                    .map(\.id)
                #expect(got == want)
            }
        }
    }

    /// The 64-bit fast paths against the Int128 definitions, across both rounding modes
    /// and values on both sides of the 64-bit boundary.
    @Test func fixedMathFastPathsAgreeWithInt128() {
        var rng = SplitMix64(seed: 33)
        func reference(_ a: Int128, _ b: Int128, _ d: Int128, _ r: FixedMath.Rounding) -> Int128 {
            let p = a * b
            var q = p / d
            if p % d != 0 {
                if r == .down && p < 0 { q -= 1 }
                if r == .up && p > 0 { q += 1 }
            }
            return q
        }
        func value(_ bits: UInt64) -> Int64 {
            let v = Int64(bitPattern: rng.next() >> (64 - bits))
            return rng.next() % 2 == 0 ? v : -v
        }
        for _ in 0..<50_000 {
            // Up to 2^50 (the engine's prices are far below), so price × quantity × bps
            // stays inside Int128 for the reference.
            let price = Int64(rng.next() >> UInt64(14 + rng.next() % 40))
            let quantity = value(UInt64(1 + rng.next() % 62))
            for r in [FixedMath.Rounding.down, .up] {
                #expect(FixedMath.notional(price: price, quantity: quantity, r) == reference(Int128(price), Int128(quantity), FixedMath.quantityScale, r))
                let cash = Int128(value(UInt64(1 + rng.next() % 62))) * Int128(1 + rng.next() % 3)
                let bps = Int64(rng.next() % 10_001)
                #expect(FixedMath.applyBps(cash, bps, r) == reference(cash, Int128(bps), FixedMath.bps, r))
            }
            let bps = Int64(rng.next() % 10_001)
            #expect(Margin.requirement(price: price, quantity: quantity, bps: bps)
                == reference(Int128(price) * Int128(quantity.magnitude), Int128(bps), FixedMath.quantityScale * FixedMath.bps, .up))
        }
        // Exact boundaries: a product of exactly 2^64 − 1 and one past it.
        #expect(Margin.requirement(price: Int64.max, quantity: 2, bps: 10_000)
            == reference(Int128(Int64.max) * 2, 10_000, FixedMath.quantityScale * FixedMath.bps, .up))
        #expect(FixedMath.notional(price: Int64.max, quantity: Int64.min, .down)
            == reference(Int128(Int64.max), Int128(Int64.min), FixedMath.quantityScale, .down))
    }

    /// A reduced position's cost basis (`Account.proRata`) is the Int128 quotient whether
    /// the product fits 64 bits or not, for both signs.
    @Test func proRataAgreesWithInt128() {
        var rng = SplitMix64(seed: 34)
        var cases: [(Int128, Int64, Int64)] = [(Int128(Int64.min), 1, 2), (Int128(Int64.max), -1, -2), (Int128(Int64.max) + 1, 3, 4),
                                                (-Int128(Int64.max), Int64.max - 1, Int64.max), (7, -3, -4), (-7, 3, 4)]
        for _ in 0..<50_000 {
            let old = Int64(bitPattern: rng.next() >> UInt64(1 + rng.next() % 62)) | 2
            let signedOld = rng.next() % 2 == 0 ? old : -old
            let new = Int64(rng.next() % UInt64(old)) * signedOld.signum()
            let basis = Int128(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 63)) * Int128(1 + rng.next() % 3)
            cases.append((basis, new, signedOld))
        }
        for (basis, new, old) in cases {
            #expect(Account.proRata(basis, new, old) == basis * Int128(new) / Int128(old), "\(basis) × \(new) / \(old)")
        }
    }
}
