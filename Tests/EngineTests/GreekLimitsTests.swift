@testable import Engine
import Foundation
import Options
import Testing
import Wire

/// Per-account Greek limits (docs/OPTIONS.md §10.11, docs/CONFIG.md "Options"): the
/// configuration member, and the engine refusing orders that leave a portfolio beyond a
/// limit while increasing |delta| or |gamma|.
@Suite("Greek limits")
struct GreekLimitsTests {
    static let lot = Fixture.unit / 100

    /// BTC at 50,000, ETH at 3,000, accounts 1 (the maker, large) and 2...4 funded.
    static func started(_ limits: GreekLimitsConfig?) -> Driver {
        var config = OptionsFixture.venue()
        config.options!.underlyings[0].greekLimits = limits
        var d = Driver(config)
        d.price(Fixture.btc, 50_000 * Fixture.usd)
        d.price(Fixture.eth, 3_000 * Fixture.usd)
        d.deposit(1, 10_000_000)
        for a: UInt64 in 2...4 { d.deposit(a, 100_000) }
        return d
    }

    /// The account's BTC portfolio Greeks as §7.7 defines them, from the reference arrays.
    static func greeks(_ d: Driver, _ account: UInt64, btc: Int64) throws -> PortfolioGreeks {
        let arrays = try OptionsFixture.referenceArrays(btc: btc, now: d.now, volatility: d.volatility)
        let ids = [Fixture.btc, OptionsFixture.call, OptionsFixture.put]
        let positions = d.engine.accounts[account]!.positions.compactMap { p in
            ids.firstIndex(of: p.market).map { MarginPosition(instrument: $0, size: p.size) }
        }
        return try PortfolioMargin.greeks(positions, arrays: arrays)
    }

    // MARK: - Configuration

    @Test func parsesStrictlyAndStaysAbsentWhenNil() throws {
        var venue = OptionsConfigTests.venue()
        #expect(!(try OptionsConfigTests.json(venue)).contains("greekLimits"))
        venue.options!.underlyings[0].greekLimits = GreekLimitsConfig(maxAbsDelta: 600_000_000, maxAbsGamma: 5_000)
        let text = try OptionsConfigTests.json(venue)
        #expect(text.contains(#""greekLimits":{"maxAbsDelta":600000000,"maxAbsGamma":5000}"#))
        let strict = try VenueConfig.parseStrict(Array(text.utf8))
        #expect(strict == venue)
        try strict.validate()
        let unknown = text.replacingOccurrences(of: #""maxAbsGamma":5000"#, with: #""maxAbsGamma":5000,"maxAbsVega":1"#)
        #expect(OptionsConfigTests.refusal(unknown) == .unknownKey(path: "$.options.underlyings[0].greekLimits.maxAbsVega"))
        let missing = text.replacingOccurrences(of: #","maxAbsGamma":5000"#, with: "")
        #expect(OptionsConfigTests.refusal(missing) == .missingField(path: "$.options.underlyings[0].greekLimits.maxAbsGamma"))
    }

    @Test(arguments: [
        (GreekLimitsConfig(maxAbsDelta: 0, maxAbsGamma: 1), "maxAbsDelta"),
        (GreekLimitsConfig(maxAbsDelta: (1 << 62) + 1, maxAbsGamma: 1), "maxAbsDelta"),
        (GreekLimitsConfig(maxAbsDelta: -5, maxAbsGamma: 0), "maxAbsDelta"),
        (GreekLimitsConfig(maxAbsDelta: 1, maxAbsGamma: 0), "maxAbsGamma"),
        (GreekLimitsConfig(maxAbsDelta: 1 << 62, maxAbsGamma: Int64.max), "maxAbsGamma"),
    ])
    func validationNamesTheField(limits: GreekLimitsConfig, field: String) {
        let venue = OptionsConfigTests.venue { $0.underlyings[0].greekLimits = limits }
        #expect(OptionsConfigTests.invalid(venue) == "$.options.underlyings[0].greekLimits.\(field): out of range")
        let edges = OptionsConfigTests.venue {
            $0.underlyings[0].greekLimits = GreekLimitsConfig(maxAbsDelta: 1, maxAbsGamma: 1 << 62)
        }
        #expect(OptionsConfigTests.invalid(edges) == nil)
    }

    // MARK: - The engine

    /// Account 2 buys 0.1 BTC of the at-the-money call within a 0.06 BTC delta limit; BTC
    /// rises 8 %, the call's delta grows past the limit. Orders adding delta (buying the
    /// perpetual or more calls) are refused `greekLimitExceeded`; orders reducing it pass,
    /// even while the portfolio stays beyond the limit. The same orders pass without limits.
    @Test func aBreachedAccountMayOnlyReduce() throws {
        let limit: Int64 = 6_000_000
        for limited in [true, false] {
            var d = Self.started(limited ? GreekLimitsConfig(maxAbsDelta: limit, maxAbsGamma: 1 << 62) : nil)
            let price = d.optionPrice(OptionsFixture.call)
            d.trade(buyer: 2, seller: 1, OptionsFixture.call, quantity: 10 * Self.lot, price: price, id: "1")
            #expect(d.engine.accounts[2]!.position(OptionsFixture.call) == 10 * Self.lot)
            let within = try Self.greeks(d, 2, btc: 50_000 * Fixture.usd)
            #expect(within.delta > 0 && within.delta <= Int128(limit), "bought within the limit (\(within.delta))")

            d.price(Fixture.btc, 54_000 * Fixture.usd)
            let mark = 54_000 * Fixture.usd
            let before = try Self.greeks(d, 2, btc: mark)
            #expect(before.delta > Int128(limit), "the rise carries delta past the limit (\(before.delta))")
            let refused: RejectReason? = limited ? .greekLimitExceeded : nil
            #expect(d.order(2, .buy, Fixture.btc, quantity: Self.lot, price: mark, id: "p+").rejection == refused)
            #expect(d.order(2, .buy, OptionsFixture.call, quantity: Self.lot, price: d.optionPrice(OptionsFixture.call),
                            id: "c+").rejection == refused)
            // Selling a perpetual lot lowers |delta| and leaves gamma: it passes, still beyond.
            #expect(d.order(2, .sell, Fixture.btc, quantity: Self.lot, price: mark, id: "p-").rejection == nil)
            #expect(d.order(2, .sell, OptionsFixture.call, quantity: Self.lot, price: d.optionPrice(OptionsFixture.call),
                            id: "c-").rejection == nil)
            // A perpetual-only account on the same underlying is not a portfolio: not judged.
            #expect(d.order(3, .buy, Fixture.btc, quantity: 10 * Self.lot, price: mark, id: "big").rejection == nil)
        }
    }

    /// An account within the limits is unaffected by them, but no order may carry it
    /// beyond: 0.05 BTC of the call passes a 0.06 BTC delta limit, 0.2 BTC does not, and
    /// neither does its first option when its perpetual already holds the delta.
    @Test func noOrderOpensABreach() throws {
        let limit: Int64 = 6_000_000
        var d = Self.started(GreekLimitsConfig(maxAbsDelta: limit, maxAbsGamma: 1 << 62))
        let price = d.optionPrice(OptionsFixture.call)
        #expect(d.order(4, .buy, OptionsFixture.call, quantity: 20 * Self.lot, price: price, id: "a").rejection
            == .greekLimitExceeded)
        #expect(d.order(4, .buy, OptionsFixture.call, quantity: 5 * Self.lot, price: price, id: "b").rejection == nil)
        // Account 3: a 0.05 BTC perpetual long (not judged alone), then a call on top.
        d.trade(buyer: 3, seller: 1, Fixture.btc, quantity: 5 * Self.lot, price: 50_000 * Fixture.usd, id: "p")
        #expect(d.engine.accounts[3]!.position(Fixture.btc) == 5 * Self.lot)
        #expect(d.order(3, .buy, OptionsFixture.call, quantity: 3 * Self.lot, price: price, id: "c").rejection
            == .greekLimitExceeded)
        // A put lowers its delta: it passes.
        #expect(d.order(3, .buy, OptionsFixture.put, quantity: Self.lot, price: d.optionPrice(OptionsFixture.put),
                        id: "q").rejection == nil)
    }

    /// A gamma limit: any option position of the account has gamma beyond a limit of one
    /// base unit per USD, long or short, so every first option order is refused; the
    /// perpetual alone is not judged.
    @Test func gammaLimitBindsOptionsOnly() throws {
        var d = Self.started(GreekLimitsConfig(maxAbsDelta: 1 << 62, maxAbsGamma: 1))
        let price = d.optionPrice(OptionsFixture.call)
        #expect(d.order(2, .buy, OptionsFixture.call, quantity: Self.lot, price: price, id: "a").rejection
            == .greekLimitExceeded)
        #expect(d.order(2, .sell, OptionsFixture.call, quantity: Self.lot, price: price, id: "b").rejection
            == .greekLimitExceeded)
        #expect(d.order(2, .buy, Fixture.btc, quantity: Self.lot, price: 50_000 * Fixture.usd, id: "c").rejection == nil)
        let arrays = try OptionsFixture.referenceArrays(btc: 50_000 * Fixture.usd, now: d.now, volatility: d.volatility)
        let g = try PortfolioMargin.greeks([MarginPosition(instrument: 1, size: Self.lot)], arrays: arrays)
        #expect(g.gamma > 1, "one lot of the call has a gamma above the limit (\(g.gamma))")
    }

    /// The rule itself on Greeks: within both limits passes, beyond passes only when
    /// neither magnitude grows.
    @Test func theRuleOnGreeks() {
        let l = GreekLimitsConfig(maxAbsDelta: 100, maxAbsGamma: 10)
        #expect(l.admits(delta: 0, gamma: 0, newDelta: -100, newGamma: 10))
        #expect(!l.admits(delta: 0, gamma: 0, newDelta: 101, newGamma: 0))
        #expect(l.admits(delta: 150, gamma: 5, newDelta: -150, newGamma: 5))
        #expect(!l.admits(delta: 150, gamma: 5, newDelta: 140, newGamma: 6))
        #expect(l.admits(delta: 150, gamma: 50, newDelta: 100, newGamma: 9))
        #expect(!l.admits(delta: 50, gamma: 50, newDelta: 60, newGamma: 40))
    }
}
