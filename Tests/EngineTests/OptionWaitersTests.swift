import Testing
import Wire
@testable import Engine

/// An account holding options waits for its next check in one entry, not in the cross heap
/// of every market it holds (docs/OPTIONS.md §10.3, §10.12 "Cost"); a snapshot restore
/// rebuilds the entries from the accounts, so this must hold after every event.
@Suite("Accounts holding options wait once")
struct OptionWaitersTests {
    @Test(arguments: [(21, false), (23, true)] as [(UInt64, Bool)])
    func everyHolderWaitsInExactlyOneEntryAfterEveryEvent(seed: UInt64, escalating: Bool) throws {
        var d = Driver(OptionsLifecycleTests.streamVenue(escalating: escalating))
        var holders = 0
        for (k, (input, advance)) in OptionsLifecycleTests.stream(seed: seed, count: 800).enumerated() {
            var stamped = input
            if case .oraclePrice(var p) = input {
                p.publishTime = d.now + advance
                stamped = .oraclePrice(p)
            }
            d.apply(stamped, advance: advance)
            var live = [Int](repeating: 0, count: d.engine.accounts.count)
            for w in d.engine.waitingEntries where d.engine.indexVersion[Int(w.slot)] == w.version { live[Int(w.slot)] += 1 }
            for mi in d.engine.markets.indices {
                for e in d.engine.markets[mi].index.cross.entries where d.engine.indexVersion[Int(e.slot)] == e.version {
                    #expect(e.slot == PerpEngine.insuranceSlot || !d.engine.holdsOption(e.slot),
                            "event \(k): account \(e.account) holds an option and has a cross-heap entry")
                }
            }
            for s in 1..<AccountSlot(d.engine.accounts.count) {
                let holds = d.engine.holdsOption(s)
                if holds { holders += 1 }
                #expect(live[Int(s)] == (holds ? 1 : 0), "event \(k): account slot \(s) has \(live[Int(s)]) live entries")
            }
        }
        #expect(holders > 1_000, "the stream holds options (\(holders) holder-events)")
    }
}
