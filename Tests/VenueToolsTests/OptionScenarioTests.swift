import Engine
import Foundation
import Testing
import VenueTools

/// Option markets in the scenario format (docs/SCENARIOS.md "Option markets"): an order line
/// names an option market by its `options.markets[].symbol`, and the bundled options venue and
/// scenario are valid together.
@Suite("Scenario format: option markets")
struct OptionScenarioTests {
    static let demo = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/demo").standardized

    static func optionsVenue() throws -> VenueConfig {
        let venue = try VenueConfig.parseStrict(Array(Data(contentsOf: demo.appendingPathComponent("options-venue.json"))))
        try venue.validate()
        return venue
    }

    @Test func anOrderSymbolResolvesToAPerpetualOrAnOptionMarketAndNothingElse() throws {
        let venue = try Self.optionsVenue()
        #expect(Scenario.tradedMarket("BTC-PERP", in: venue) == 1)
        #expect(Scenario.tradedMarket("BTC-20301227-60000-C", in: venue) == 101)
        #expect(Scenario.tradedMarket("BTC-20301227-50000-P", in: venue) == 104)
        #expect(Scenario.tradedMarket("BTC-20301227-55000-C", in: venue) == nil, "not listed")
        #expect(Scenario.tradedMarket("ETH-PERP", in: venue) == nil, "the options venue lists BTC only")
        // The perpetuals-only demo venue has no option market.
        let plain = try VenueConfig.parseStrict(Array(Data(contentsOf: Self.demo.appendingPathComponent("venue.json"))))
        #expect(Scenario.tradedMarket("BTC-20301227-60000-C", in: plain) == nil)
    }

    @Test func anOptionOrderTakesThePremiumInQuoteUnits() throws {
        let s = try Scenario.parse("trader a account=1\norder a sell BTC-20301227-60000-C 0.1 @ 22000.1 ioc id=w")
        #expect(s.steps[1].step == .order(trader: "a", symbol: "BTC-20301227-60000-C", side: .sell, type: .limit,
                                          timeInForce: .immediateOrCancel, reduceOnly: false, price: 22_000_100_000,
                                          quantity: 10_000_000, id: "w"))
    }

    /// Every market an order, price or smile line of the bundled options scenario names is one
    /// the options venue lists, of the kind that line takes.
    @Test func theBundledOptionsScenarioNamesOnlyMarketsOfItsVenue() throws {
        let venue = try Self.optionsVenue()
        let text = try String(contentsOf: Self.demo.appendingPathComponent("options-scenario.txt"), encoding: .utf8)
        let scenario = try Scenario.parse(text)
        var optionOrders = 0
        for (line, step) in scenario.steps {
            switch step {
            case .order(_, let symbol, _, _, _, _, _, _, _):
                let id = try #require(Scenario.tradedMarket(symbol, in: venue), "line \(line)")
                if id != 1 { optionOrders += 1 }
            case .price(let symbol, _, _, _):
                #expect(venue.markets.contains { $0.symbol == symbol }, "line \(line)")
            case .smile(let symbol, _, _, _, _, _, _):
                #expect(venue.options?.markets.contains { $0.symbol == symbol } == true, "line \(line)")
            default: break
            }
        }
        #expect(optionOrders >= 8)
    }
}
