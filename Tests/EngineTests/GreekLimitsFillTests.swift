@testable import Engine
import Options
import Testing
import Wire

/// Greek limits binding resting orders at their fills (docs/OPTIONS.md §10.11 "Resting
/// orders"): the maker of each fill is judged on that fill's quantity with §10.11's rule;
/// a maker refused is cancelled (silently, like a maker failing M1's fill check) and
/// matching goes on with the next resting order.
@Suite("Greek limits at fills")
struct GreekLimitsFillTests {
    static let lot = GreekLimitsTests.lot
    /// A delta limit of 0.06 BTC; ten lots (0.1 BTC) of the at-the-money call hold about 0.056.
    static let limit: Int64 = 6_000_000
    static let limits = GreekLimitsConfig(maxAbsDelta: limit, maxAbsGamma: 1 << 62)
    static let usd = Fixture.usd

    /// Account 2 holds ten lots of the call (delta within the limit) and account 1 is short them.
    static func holdingCalls(_ limited: Bool) throws -> Driver {
        var d = GreekLimitsTests.started(limited ? limits : nil)
        d.trade(buyer: 2, seller: 1, OptionsFixture.call, quantity: 10 * lot, price: d.optionPrice(OptionsFixture.call),
                id: "call")
        #expect(d.engine.accounts[2]!.position(OptionsFixture.call) == 10 * lot)
        _ = d.engine.takeMakerFills()
        return d
    }

    /// Half the delta left below the limit, in whole perpetual steps (0.0001 BTC).
    static func halfRoom(_ delta: Int128) -> Int64 {
        Int64((Int128(limit) - delta) / 2) / 10_000 * 10_000
    }

    /// Account 2 bids 0.05 BTC at 50,000 and account 3 at 49,999 (the "next" order, whose id
    /// is returned), both while holding nothing; then account 2 buys 10 lots of the call from
    /// account 1. Returns the driver, the next order's id and account 2's delta after.
    static func bidsThenCalls(limited: Bool) throws -> (driver: Driver, nextID: UInt64, delta: Int128) {
        var d = GreekLimitsTests.started(limited ? limits : nil)
        #expect(d.order(2, .buy, Fixture.btc, quantity: 5 * lot, price: 50_000 * usd, id: "hedge").rejection == nil)
        #expect(d.order(3, .buy, Fixture.btc, quantity: 5 * lot, price: 49_999 * usd, id: "next").rejection == nil)
        let nextID = d.sequence
        d.trade(buyer: 2, seller: 1, OptionsFixture.call, quantity: 10 * lot, price: d.optionPrice(OptionsFixture.call),
                id: "call")
        _ = d.engine.takeMakerFills()
        return (d, nextID, try delta(d, 2))
    }

    static func delta(_ d: Driver, _ account: UInt64, btc: Int64 = 50_000 * usd) throws -> Int128 {
        try GreekLimitsTests.greeks(d, account, btc: btc).delta
    }

    /// Account 2 rests a bid for 0.05 BTC of the perpetual while it holds nothing (not
    /// judged: no option), then buys the call; the bid, filled, would take its delta past
    /// the limit. A taker's sell reaches it first (best price): with limits the bid is
    /// cancelled at contact, the taker fills against account 3's bid below it, account 2
    /// gets no fill event and its order is gone (open-order count, `unknownOrder`).
    /// Without limits the same stream fills account 2's bid.
    @Test(arguments: [true, false])
    func aMakerThatWouldBreachIsCancelledAndTheNextOrderFills(limited: Bool) throws {
        let start = try Self.bidsThenCalls(limited: limited)
        var d = start.driver
        let (nextID, before) = (start.nextID, start.delta)
        #expect(before > 0 && before <= Int128(Self.limit), "the calls alone are within (\(before))")
        #expect(before + Int128(5 * Self.lot) > Int128(Self.limit), "the bid, filled, would not be (\(before))")
        #expect(d.engine.accounts[2]!.openOrderCount == 1)

        let taker = d.order(4, .sell, Fixture.btc, quantity: 5 * Self.lot, price: 49_999 * Self.usd, id: "t",
                            tif: .immediateOrCancel)
        let fills = try #require(taker.report).fills
        let makerFills = d.engine.takeMakerFills()
        if limited {
            #expect(fills.count == 1)
            #expect(fills.first?.makerOrderID == nextID)
            #expect(fills.first?.price == 49_999 * Self.usd && fills.first?.quantity == 5 * Self.lot)
            #expect(makerFills.map(\.account) == [3], "no fill event for account 2")
            #expect(d.engine.accounts[2]!.position(Fixture.btc) == 0)
            #expect(d.engine.accounts[2]!.openOrderCount == 0, "the cancelled bid left the open-order count")
            #expect(d.cancel(2, "hedge").rejection == .unknownOrder)
            #expect(try Self.delta(d, 2) == before)
            #expect(d.engine.accounts[3]!.position(Fixture.btc) == 5 * Self.lot)
        } else {
            #expect(fills.map(\.price) == [50_000 * Self.usd])
            #expect(makerFills.map(\.account) == [2])
            #expect(d.engine.accounts[2]!.position(Fixture.btc) == 5 * Self.lot)
            #expect(d.engine.accounts[3]!.position(Fixture.btc) == 0)
            #expect(d.cancel(3, "next").rejection == nil)
        }
    }

    /// Each fill is judged on its own quantity: account 2's bid for 0.05 BTC (placed while
    /// it held nothing) would breach in full, but half a lot of it keeps the maker within, so
    /// a small taker fills it; the next taker's larger fill would breach: the rest of the bid
    /// is cancelled and that taker fills against account 3. Only those fill events.
    @Test func eachFillIsJudgedOnItsOwnQuantity() throws {
        let start = try Self.bidsThenCalls(limited: true)
        var d = start.driver
        let (nextID, before) = (start.nextID, start.delta)
        let small = Self.halfRoom(before)
        #expect(small > 0 && before + Int128(small) <= Int128(Self.limit), "a small fill fits (\(before), \(small))")
        #expect(before + Int128(small + Self.lot) > Int128(Self.limit), "another lot does not")

        let first = try #require(d.order(4, .sell, Fixture.btc, quantity: small, price: 50_000 * Self.usd, id: "t1",
                                         tif: .immediateOrCancel).report).fills
        #expect(first.map(\.price) == [50_000 * Self.usd] && first.map(\.quantity) == [small])
        #expect(d.engine.takeMakerFills().map(\.account) == [2])
        #expect(d.engine.accounts[2]!.position(Fixture.btc) == small)
        #expect(try Self.delta(d, 2) <= Int128(Self.limit))

        let second = try #require(d.order(4, .sell, Fixture.btc, quantity: 2 * Self.lot, price: 49_999 * Self.usd, id: "t2",
                                          tif: .immediateOrCancel).report).fills
        #expect(second.map(\.makerOrderID) == [nextID] && second.map(\.quantity) == [2 * Self.lot])
        #expect(d.engine.takeMakerFills().map(\.account) == [3])
        #expect(d.engine.accounts[2]!.position(Fixture.btc) == small, "the rest of the bid did not fill")
        #expect(d.cancel(2, "hedge").rejection == .unknownOrder)
    }

    /// A maker in breach (a rise carried its calls' delta past the limit): a bid admitted
    /// before the rise, which would add delta, is cancelled at contact and fills nothing;
    /// its offer, which lowers |delta| (still beyond the limit after), fills. Without
    /// limits both fill.
    @Test(arguments: [true, false])
    func aMakerInBreachFillsOnlyReducingOrders(limited: Bool) throws {
        var d = try Self.holdingCalls(limited)
        let small = Self.halfRoom(try Self.delta(d, 2))
        #expect(small > 0)
        #expect(d.order(2, .buy, Fixture.btc, quantity: small, price: 52_000 * Self.usd, id: "more").rejection == nil)
        let offer = Self.lot / 4
        #expect(d.order(2, .sell, Fixture.btc, quantity: offer, price: 54_500 * Self.usd, id: "less").rejection == nil)
        let mark = 54_000 * Self.usd
        d.price(Fixture.btc, mark)
        let breached = try Self.delta(d, 2, btc: mark)
        #expect(breached > Int128(Self.limit), "the rise carries delta past the limit (\(breached))")

        let sold = try #require(d.order(3, .sell, Fixture.btc, quantity: small, price: 52_000 * Self.usd, id: "t1",
                                        tif: .immediateOrCancel).report).fills
        #expect(sold.map(\.quantity) == (limited ? [] : [small]))
        #expect(d.engine.accounts[2]!.position(Fixture.btc) == (limited ? 0 : small))
        #expect(d.engine.accounts[2]!.openOrderCount == 1, "only the offer rests: the bid was cancelled or filled")
        if limited { #expect(d.cancel(2, "more").rejection == .unknownOrder) }

        let beforeOffer = try Self.delta(d, 2, btc: mark)
        #expect(beforeOffer == (limited ? breached : breached + Int128(small)))
        let bought = try #require(d.order(4, .buy, Fixture.btc, quantity: offer, price: 54_500 * Self.usd, id: "t2",
                                          tif: .immediateOrCancel).report).fills
        #expect(bought.map(\.quantity) == [offer], "a reducing maker fills")
        let after = try Self.delta(d, 2, btc: mark)
        #expect(after == beforeOffer - Int128(offer), "a perpetual's delta is its size")
        if limited { #expect(after > Int128(Self.limit), "still beyond after the fill: accepted as reducing (\(after))") }
        #expect(d.engine.takeMakerFills().map(\.account) == (limited ? [2] : [2, 2]))
    }

    /// A liquidation's book fills judge their makers too: account 3 (35 BTC of the
    /// perpetual long, 100,000 USD) falls below maintenance at 48,000 and is stepped into
    /// the book; the best bid is account 2's, which would take its delta (calls bought from
    /// account 4) past the limit: with limits it is cancelled and the insurance fund takes
    /// the step; without limits the bid fills first.
    @Test(arguments: [true, false])
    func aLiquidationStepJudgesItsMakers(limited: Bool) throws {
        var d = GreekLimitsTests.started(limited ? Self.limits : nil)
        d.trade(buyer: 3, seller: 1, Fixture.btc, quantity: 35 * Fixture.unit, price: 50_000 * Self.usd, id: "lev")
        #expect(d.engine.accounts[3]!.position(Fixture.btc) == 35 * Fixture.unit)
        #expect(d.order(2, .buy, Fixture.btc, quantity: 5 * Self.lot, price: 47_900 * Self.usd, id: "bid").rejection == nil)
        d.trade(buyer: 2, seller: 4, OptionsFixture.call, quantity: 10 * Self.lot, price: d.optionPrice(OptionsFixture.call),
                id: "call")
        #expect(d.engine.accounts[2]!.position(OptionsFixture.call) == 10 * Self.lot)
        _ = d.engine.takeMakerFills()
        #expect(d.engine.decisions.isEmpty)

        let mark = 48_000 * Self.usd
        d.price(Fixture.btc, mark)
        let delta = try Self.delta(d, 2, btc: mark)
        #expect(delta + Int128(5 * Self.lot) > Int128(Self.limit), "the bid, filled, would breach (\(delta))")
        let decision = try #require(d.engine.decisions.first { $0.accountID == 3 })
        let book = decision.fills.filter { $0.kind == .book }
        let makers = d.engine.takeMakerFills().map(\.account)
        if limited {
            #expect(book.isEmpty && decision.filledOnBook == 0, "no book fill: the only bid was cancelled")
            #expect(decision.toInsuranceFund == decision.size)
            #expect(!makers.contains(2))
            #expect(d.engine.accounts[2]!.position(Fixture.btc) == 0)
            #expect(d.cancel(2, "bid").rejection == .unknownOrder)
        } else {
            #expect(book.map(\.price) == [47_900 * Self.usd] && decision.filledOnBook == 5 * Self.lot)
            #expect(makers.contains(2))
            #expect(d.engine.accounts[2]!.position(Fixture.btc) == 5 * Self.lot)
        }
    }
}
