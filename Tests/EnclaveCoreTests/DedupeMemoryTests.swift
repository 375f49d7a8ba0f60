import TestSupport
import Testing
import Wire

@testable import EnclaveCore

/// The dedupe memory against a plain model of docs/DURABILITY.md §7: a request sequenced
/// at `t` is remembered while `now − t < window`, a key sequenced again answers with its
/// newest original, and a memory restored from `liveEntries` answers as the original did.
@Suite("Dedupe memory")
struct DedupeMemoryTests {
    /// The rule itself: every (key, original) ever remembered, newest per key.
    struct Model {
        let window: UInt64
        var newest: [DedupeMemory.Key: DedupeMemory.Original] = [:]
        func original(of key: DedupeMemory.Key, now: UInt64) -> DedupeMemory.Original? {
            guard window > 0, let o = newest[key], now &- o.enclaveTime < window else { return nil }
            return o
        }
    }

    static func key(_ r: inout SplitMix64) -> DedupeMemory.Key {
        // Few accounts and ids, so keys repeat and probe runs share home buckets; ids of
        // 1 to 36 bytes exercise every word of the hash.
        let n = Int(r.next() % 36) + 1
        let id = try! ClientOrderID(bytes: (0..<n).map { UInt8(truncatingIfNeeded: $0 == 0 ? r.next() % 50 : 97) })
        return DedupeMemory.Key(account: r.next() % 7, kind: UInt8(r.next() % 2 + 1), clientOrderID: id)
    }

    @Test(arguments: [1, 2, 3, 4]) func answersAsTheRuleSaysThroughGrowthEvictionAndRestore(seed: UInt64) {
        var r = SplitMix64(seed: seed)
        let window: UInt64 = 1_000
        var memory = DedupeMemory(window: window)
        var model = Model(window: window)
        var now: UInt64 = 0
        for step in 0..<40_000 {
            // Bursts (many requests at one time, so the index grows past 1,024 keys) and
            // gaps (so whole stretches age out at once).
            now += r.next() % 100 == 0 ? r.next() % 1_500 : r.next() % 3
            let k = Self.key(&r)
            let o = DedupeMemory.Original(globalSequence: UInt64(step), enclaveTime: now)
            #expect(memory.original(of: k, now: now) == model.original(of: k, now: now), "seed \(seed) step \(step)")
            memory.remember(k, o)
            model.newest[k] = o
            if step % 5_000 == 4_999 {
                // A snapshot's restore answers every key as the memory it came from.
                let restored = DedupeMemory(window: window, live: memory.liveEntries)
                #expect(restored.count == memory.count)
                for _ in 0..<200 {
                    let probe = Self.key(&r)
                    #expect(restored.original(of: probe, now: now) == memory.original(of: probe, now: now))
                }
                memory = restored
            }
        }
        let live = memory.liveEntries
        #expect(live.count == memory.count)
        #expect(zip(live, live.dropFirst()).allSatisfy { $0.original.globalSequence < $1.original.globalSequence })
        #expect(live.allSatisfy { model.newest[$0.key] == $0.original && now &- $0.original.enclaveTime < window })
    }

    /// Growth is incremental (docs/DURABILITY.md §7): keys keep answering while the index
    /// migrates into tables of many segments, a key sequenced again while its bucket is
    /// still in the old table answers with the newer original, and eviction drops whole
    /// queue chunks without losing the entries behind them.
    @Test func answersThroughIncrementalGrowthAndChunkEviction() throws {
        let window: UInt64 = 1_000_000
        var memory = DedupeMemory(window: window)
        var keys: [DedupeMemory.Key] = []
        let n = 150_000  // index tables grown to 2^19 slots, 37 queue chunks
        for i in 0..<n {
            let k = DedupeMemory.Key(account: UInt64(i % 97), kind: UInt8(i % 2 + 1), clientOrderID: try ClientOrderID("g\(i)"))
            memory.remember(k, .init(globalSequence: UInt64(i), enclaveTime: UInt64(i)))
            keys.append(k)
            if i % 7 == 0 {
                let j = i / 2
                let expected = j % 1_000 == 499 && j + 500 < i ? UInt64(n + j + 500) : UInt64(j)  // re-sequenced below
                #expect(memory.original(of: keys[j], now: UInt64(i))?.globalSequence == expected, "key \(j) at \(i)")
            }
            if i % 1_000 == 999 {
                // Sequenced again, wherever its bucket is: the newest original answers.
                let j = i - 500
                memory.remember(keys[j], .init(globalSequence: UInt64(n + i), enclaveTime: UInt64(i)))
                #expect(memory.original(of: keys[j], now: UInt64(i))?.globalSequence == UInt64(n + i))
            }
        }
        #expect(memory.count == n)
        let evictBefore = 100_000
        memory.evict(now: UInt64(evictBefore) + window)  // every original sequenced at t <= 100,000 ages out
        let now = UInt64(evictBefore) + window
        var live = 0
        for (i, k) in keys.enumerated() {
            let again = i % 1_000 == 499 && i + 500 < n ? UInt64(i + 500) : nil  // re-sequenced at i + 500
            let newest = again ?? UInt64(i)
            let answer = memory.original(of: k, now: now)
            if newest <= UInt64(evictBefore) {
                #expect(answer == nil, "key \(i) aged out")
            } else {
                live += 1
                #expect(answer?.enclaveTime == newest, "key \(i)")
            }
        }
        #expect(memory.count == live)
        let restored = DedupeMemory(window: window, live: memory.liveEntries)
        #expect(restored.count == live)
        for k in keys.prefix(2_000) + keys.suffix(2_000) {
            #expect(restored.original(of: k, now: now) == memory.original(of: k, now: now))
        }
    }

    /// A copy is a value: what one copy remembers or forgets, the other does not (the index
    /// tables are shared until one of them mutates), also while the index is migrating.
    @Test func copiesAreIndependentValues() throws {
        var a = DedupeMemory(window: 1_000)
        func key(_ i: Int) throws -> DedupeMemory.Key { .init(account: 1, kind: 1, clientOrderID: try ClientOrderID("v\(i)")) }
        for i in 0..<600 { a.remember(try key(i), .init(globalSequence: UInt64(i), enclaveTime: 10)) }  // growth under way
        var b = a
        let (k5, k10k, k20k) = (try key(5), try key(10_000), try key(20_000))
        b.remember(k10k, .init(globalSequence: 10_000, enclaveTime: 20))
        a.remember(k20k, .init(globalSequence: 20_000, enclaveTime: 20))
        #expect(a.original(of: k10k, now: 20) == nil && b.original(of: k10k, now: 20)?.globalSequence == 10_000)
        #expect(b.original(of: k20k, now: 20) == nil && a.original(of: k20k, now: 20)?.globalSequence == 20_000)
        b.evict(now: 1_010)
        #expect(b.count == 1 && b.original(of: k5, now: 20) == nil)
        #expect(a.count == 601 && a.original(of: k5, now: 20)?.globalSequence == 5)
    }

    @Test func aZeroWindowRemembersNothing() throws {
        var memory = DedupeMemory(window: 0)
        let k = DedupeMemory.Key(account: 1, kind: 1, clientOrderID: try ClientOrderID("a"))
        memory.remember(k, .init(globalSequence: 1, enclaveTime: 5))
        #expect(memory.count == 0 && memory.original(of: k, now: 5) == nil && memory.liveEntries.isEmpty)
    }
}
