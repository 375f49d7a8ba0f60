@testable import Engine
import Options
import Testing
import Wire

/// A decision on an account holding options carries the scenario that triggered it
/// (docs/OPTIONS.md §10.6): per portfolio, the worst scenario of the grid, recomputed here
/// by brute force from the risk arrays' value changes, and the contingencies; their sum with
/// the linear requirement of its other perpetuals is the decision's maintenance.
@Suite("Options triggering scenario")
struct TriggerScenarioTests {
    /// Every scenario's counted loss of `positions`, one at a time (§7.5 step 1), and the
    /// first index of the largest.
    static func bruteForceWorst(_ positions: [MarginPosition], arrays: RiskArrays, config: MarginConfig)
        -> (index: Int, loss: Int128)
    {
        let count = arrays.scenarios.count
        var best: (index: Int, loss: Int128)?
        for s in 0..<count {
            var a: Int128 = 0
            for p in positions { a += Int128(p.size) * Int128(arrays.valueChanges[p.instrument * count + s]) }
            var loss = -a / 100_000_000 + ((-a) % 100_000_000 > 0 ? 1 : 0)
            if arrays.scenarios[s].extreme {
                let scaled = loss * Int128(config.extremeCoverBps)
                loss = scaled / 10_000 + (scaled % 10_000 > 0 ? 1 : 0)
            }
            if best == nil || loss > best!.loss { best = (s, loss) }
        }
        return best!
    }

    /// A short call with a perpetual hedge and an ETH perpetual (linear), pushed up until
    /// liquidated; each decision's scenario is checked against the brute force.
    @Test func decisionsCarryTheBruteForceWorstScenario() throws {
        var d = OptionsEngineTests.started()
        d.deposit(5, 400_000)
        d.trade(buyer: 1, seller: 5, OptionsFixture.call, quantity: Fixture.unit, price: d.optionPrice(OptionsFixture.call), id: "c")
        d.trade(buyer: 5, seller: 1, Fixture.btc, quantity: Fixture.unit / 2, price: 50_000 * Fixture.usd, id: "p")
        d.trade(buyer: 5, seller: 1, Fixture.eth, quantity: Fixture.unit, price: 3_000 * Fixture.usd, id: "e")
        let h = try d.engine.health(5, now: d.now).get()
        #expect(d.apply(.request(account: 5, .withdraw(id: try! ClientOrderID("w"),
                                                      amount: Int64(h.equity - h.initialRequirement * 101 / 100)))).rejection == nil)
        let margin = OptionsConfigTests.options().underlyings[0].margin.marginConfig
        var price: Int64 = 50_000 * Fixture.usd
        var seen = 0
        for _ in 0..<12 where seen == 0 {
            price += 1_500 * Fixture.usd
            for p in 0..<3 {
                let before = d.engine.accounts[5]!
                d.apply(.oraclePrice(OraclePrice(market: Fixture.btc, price: price, confidence: 0, publishTime: d.now + 1_000,
                                                 publisher: Fixture.publishers[p], signature: [])))
                let mine = d.engine.takeDecisions().filter { UInt64(bigEndianBytes: $0.accountCommitment) == 5 }
                guard let decision = mine.first else { continue }
                seen += 1
                let mark = try d.engine.mark(Fixture.btc, at: d.now).get()
                let arrays = try OptionsFixture.referenceArrays(btc: mark, now: d.now, volatility: d.volatility)
                var portfolio: [MarginPosition] = []
                var linear: Int128 = 0
                for q in before.positions {
                    switch q.market {
                    case Fixture.btc: portfolio.append(MarginPosition(instrument: 0, size: q.size))
                    case OptionsFixture.call: portfolio.append(MarginPosition(instrument: 1, size: q.size))
                    default: linear += Margin.requirement(price: 3_000 * Fixture.usd, quantity: q.size, bps: 500)
                    }
                }
                let worst = Self.bruteForceWorst(portfolio, arrays: arrays, config: margin)
                let scenario = try #require(decision.scenario)
                #expect(scenario.linearRequirement == Int64(linear) && linear > 0)
                #expect(scenario.portfolios.count == 1)
                let part = scenario.portfolios[0]
                let grid = arrays.scenarios[worst.index]
                #expect(part.underlying == Fixture.btc && part.mark == mark && part.scanBps == arrays.scanRangeBps)
                #expect(Int(part.scenario) == worst.index && Int128(part.loss) == worst.loss)
                #expect(part.moveSteps == grid.moveSteps && part.price == grid.price)
                #expect(part.volShiftBps == [0, margin.volUpBps, -margin.volDownBps][grid.volShift == 0 ? 0 : grid.volShift > 0 ? 1 : 2])
                #expect(part.moveSteps > 0, "a short call loses most when the price rises")
                // §7.5 step 3: one short contract of the call.
                let short = (Int128(Fixture.unit) * Int128(mark) * Int128(margin.shortOptionMinimumBps) + 999_999_999_999)
                    / 1_000_000_000_000
                #expect(Int128(part.shortOptionContingency) == short && part.confidenceContingency == 0)
                #expect(scenario.maintenance == Int128(decision.maintenanceRequirement), "the parts add up to maintenance")
                let reference = try OptionsFixture.referenceHealth(before, arrays: arrays, eth: 3_000 * Fixture.usd)
                #expect(Int128(decision.maintenanceRequirement) == reference.maintenanceRequirement)
                break
            }
        }
        #expect(seen == 1, "account 5 was liquidated")
    }
}
