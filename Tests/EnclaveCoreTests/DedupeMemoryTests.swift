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

    @Test func aZeroWindowRemembersNothing() throws {
        var memory = DedupeMemory(window: 0)
        let k = DedupeMemory.Key(account: 1, kind: 1, clientOrderID: try ClientOrderID("a"))
        memory.remember(k, .init(globalSequence: 1, enclaveTime: 5))
        #expect(memory.count == 0 && memory.original(of: k, now: 5) == nil && memory.liveEntries.isEmpty)
    }
}
