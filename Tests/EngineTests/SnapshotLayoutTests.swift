import Foundation
import TestSupport
import Testing
@testable import Engine
import Wire

/// docs/DURABILITY.md §6.2 is complete enough to read the engine's snapshots: the reader
/// written from it alone (`scripts/snapshot_layout.py`) reads real snapshots to their last
/// byte and finds in them what the engine holds.
@Suite("Engine snapshot layout (DURABILITY §6.2)")
struct EngineSnapshotLayoutTests {
    /// Each perpetual's tier maintenance bps, what the reader checks marks against (§6.5).
    static func maintenanceBps(_ config: VenueConfig) -> [UInt32: Int64] {
        Dictionary(uniqueKeysWithValues: config.markets.map { ($0.id, config.tier($0.tier)!.maintenanceBps) })
    }

    /// The crash of the liquidation tests, with funding every minute and a cooldown, read
    /// right after events whose outputs (decisions, funding payments, maker fills) are not
    /// yet taken, then at its end. A decision mark whose maintenance bps is not its
    /// market's tier's is refused (§6.5).
    @Test func theDocumentReadsACrashWithPendingOutputs() throws {
        var config = Fixture.venue(insurance: 200_000 * Fixture.usd, makerBps: 1, takerBps: 5)
        for i in config.markets.indices { config.markets[i].funding.intervalNanos = 60 * Fixture.second }
        config.liquidation.cooldownNanos = 2 * Fixture.second
        var d = Driver(config)
        let maintenance = Self.maintenanceBps(config)
        var read = (decisions: 0, funding: 0, makerFills: 0, stamps: 0)
        for input in crashEvents(seed: 21) {
            d.apply(input, advance: 40_000_000)
            let e = d.engine
            let due = !e.decisions.isEmpty && read.decisions < 3 || !e.fundingPayments.isEmpty && read.funding < 2
            if due {
                let layout = try readSnapshotLayout("engine", e.snapshot(), maintenanceBps: maintenance)
                #expect((layout["accounts"] as? [Any])?.map { int($0) } == e.accounts.arena.map { Int64($0.id) })
                #expect(int(layout["changed"]) == Int64(e.accounts.changed.count))
                let decisions = try #require(layout["decisions"] as? [[String: Any]])
                #expect(decisions.map { d in ["sequence", "account", "market", "side", "size", "step", "fills"].map { int(d[$0]) } }
                    == e.decisions.map { [Int64($0.sequence), Int64($0.accountID), Int64($0.market), Int64($0.side.rawValue), $0.size,
                                          Int64($0.step), Int64($0.fills.count)] })
                let funding = try #require(layout["funding"] as? [[String: Any]])
                #expect(funding.map { f in ["market", "perUnit", "sequence"].map { int(f[$0]) } }
                    == e.fundingPayments.map { [Int64($0.market), $0.perUnit, Int64($0.sequence)] })
                let maker = try #require(layout["makerFills"] as? [[Any]])
                #expect(maker.map { "\($0[0]) \($0[1])" } == e.makerFills.map { "\($0.account) \(String(decoding: $0.clientOrderID.bytes, as: UTF8.self))" })
                let resting = try #require(layout["resting"] as? [[Any]])
                #expect(resting.count == e.accounts.arena.reduce(0) { $0 + Int($1.openOrderCount) })
                if let decision = e.decisions.first, read.decisions == 0 {
                    var off = e.snapshot()
                    off[try EngineSnapshotTests.marksOffset(off, decision) + 4 + 15] ^= 0x01  // the first mark's bps
                    do {
                        _ = try readSnapshotLayout("engine", off, maintenanceBps: maintenance)
                        Issue.record("snapshot_layout.py read a decision mark with another maintenance bps")
                    } catch let failure as ToolFailure {
                        #expect(failure.description.contains("decision marks (offset"), "\(failure)")
                    }
                }
                read.decisions += e.decisions.isEmpty ? 0 : 1
                read.funding += e.fundingPayments.isEmpty ? 0 : 1
                read.makerFills += e.makerFills.count
                read.stamps += e.accounts.arena.filter { !$0.lastLiquidation.isEmpty }.count
            }
            _ = d.engine.takeMakerFills()
            _ = d.engine.takeDecisions()
            _ = d.engine.takeFundingPayments()
            d.engine.drainChangedAccounts { _ in }
        }
        #expect(read.decisions == 3 && read.funding >= 1 && read.makerFills > 0 && read.stamps > 0, "\(read)")
        let end = try readSnapshotLayout("engine", d.engine.snapshot(), maintenanceBps: maintenance)
        #expect((end["resting"] as? [[Any]])?.count == d.engine.accounts.arena.reduce(0) { $0 + Int($1.openOrderCount) })
    }

    /// Options (item 7) with a signed smile in force and the margin-call memory (item 8).
    @Test func theDocumentReadsTheOptionsPartsAndTheMarginCallMemory() throws {
        var d = MarginCallEngineTests.started(MarginCallEngineTests.venue())
        d.now += 30 * Fixture.second
        d.price(Fixture.btc, 51_250 * Fixture.usd)
        _ = d.engine.takeMarginCalls()
        d.apply(SignedSmileTests.smile(SignedSmileTests.configured, publisher: 1, time: d.now))
        #expect(!d.engine.marginCallMemory.isEmpty)
        let venue = #"{"underlyings": {"\#(Fixture.btc)": {"series": 2, "expiries": 1}}, "optionMarkets": [101, 102], "marginCall": true}"#
        let layout = try readSnapshotLayout("engine", d.engine.snapshot(), venue: venue,
                                            maintenanceBps: Self.maintenanceBps(MarginCallEngineTests.venue()))
        let feed = try #require((layout["feeds"] as? [[String: Any]])?.first)
        let s = SignedSmileTests.configured
        let inForce = try #require(feed["inForce"] as? [String: Any])
        #expect((inForce["parameters"] as? [Any])?.map { int($0) } == [s.a, s.b, s.rho, s.m, s.sigma])
        #expect(int(inForce["publisher"]) == 1 && int(inForce["publishTime"]) == Int64(d.now - 1_000))
        #expect((feed["times"] as? [Any])?.map { int($0) }[1] == Int64(d.now - 1_000))
        #expect((feed["settled"] as? [Any])?.map { ($0 as? NSNumber)?.boolValue } == [false, false])
        #expect((layout["marginCallMemory"] as? [[Any]])?.map { int($0[0]) } == d.engine.marginCallMemory.keys.sorted().map { Int64($0) })
        // Without the options parts the same bytes do not read to their end.
        #expect(throws: ToolFailure.self) { try readSnapshotLayout("engine", d.engine.snapshot()) }
    }
}

/// A JSON integer of the reader's summary (NSNumber); Int64.min for anything else.
private func int(_ v: Any?) -> Int64 { (v as? NSNumber)?.int64Value ?? .min }
