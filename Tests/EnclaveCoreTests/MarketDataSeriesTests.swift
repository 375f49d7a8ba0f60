@testable import EnclaveCore
@testable import Engine
import Testing

/// A market data record has a series exactly when its market is an option market
/// (docs/MARKETDATA.md §2.1). The builder used to publish an all-zero series for an
/// option market's view without one; the engine never makes such a view, so the builder
/// now stops on it as the programming error it is.
@Suite("Market data series")
struct MarketDataSeriesTests {
    @Test func anOptionMarketsViewWithoutItsSeriesStopsTheBuilder() async {
        await #expect(processExitsWith: .failure) {
            var builder = MarketDataBuilder(config: OptionRun.venue())
            _ = builder.close(batchIndex: 0, firstSequence: 1, lastSequence: 1, now: 1) { market, _, _ in
                MarketView(market: market, bids: [], asks: [], markPrice: nil, priceInvalidity: .noPrice, oracle: [],
                           fundingRateBps: 0, nextFundingTime: 0, openInterest: 0)
            }
        }
    }

    @Test func aPerpetualsViewWithASeriesStopsTheBuilder() async {
        await #expect(processExitsWith: .failure) {
            var builder = MarketDataBuilder(config: OptionRun.venue())
            _ = builder.close(batchIndex: 0, firstSequence: 1, lastSequence: 1, now: 1) { market, _, _ in
                MarketView(market: market, bids: [], asks: [], markPrice: nil, priceInvalidity: .noPrice, oracle: [],
                           fundingRateBps: 0, nextFundingTime: 0, openInterest: 0,
                           option: OptionMarketView(underlying: 1, kind: "call", strike: 1, expiry: 1, contractSize: 1,
                                                    settled: false, underlyingMark: 0))
            }
        }
    }

    /// The engine's views meet the rule: a close over every listed market makes a record for
    /// each, an option market's with its series.
    @Test func theEnginesViewsCarryASeriesExactlyForOptionMarkets() throws {
        let venue = OptionRun.venue()
        var engine = try PerpEngine(config: venue)
        var builder = MarketDataBuilder(config: venue)
        let lines = builder.close(batchIndex: 0, firstSequence: 1, lastSequence: 1, now: 1) { market, levels, now in
            engine.marketView(market, levels: levels, at: now)
        }
        #expect(lines.count == builder.markets.count)
        for line in lines {
            let text = String(decoding: line, as: UTF8.self)
            let isOption = [OptionRun.call, OptionRun.put].contains { text.contains("\"market\":\($0),") }
            #expect(text.contains("\"option\":") == isOption, "\(text)")
        }
    }
}
