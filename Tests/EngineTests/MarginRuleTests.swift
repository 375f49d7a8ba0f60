import TestSupport
import Testing
@testable import Engine
import Wire

private let U = Fixture.unit
private let D = Fixture.usd
private let S = Fixture.second
/// One BTC lot in the fixture (step size 0.0001 BTC).
private let lot = U / 10_000

extension Driver {
    /// A deposit of `micro` quote micro-units (the fixture's `deposit` takes whole USD).
    mutating func depositMicro(_ account: UInt64, _ micro: Int64) {
        depositID += 1
        apply(.deposit(Deposit(accountID: account, accountKey: [UInt8](repeating: 1, count: 32), amount: micro,
                               depositID: depositID, signature: [])))
    }
}

/// The margin rules of docs/CONFIG.md ("Margin and liquidation rules"), each pinned with
/// numbers worked out by hand from the formulas there.
@Suite("Margin rules")
struct MarginRuleTests {
    // MARK: Partial steps

    @Test(arguments: [
        // (size, maxCloseBps, stepSize, step): 25% of 10.0002 BTC is 2.50005, down to 2.5.
        (100_002 * lot, 2_500, lot, 25_000 * lot),
        (75_002 * lot, 2_500, lot, 18_750 * lot),
        (100 * U, 10_000, lot, 100 * U),
        // Below one lot: the step is one lot (the documented exception).
        (3 * U, 2_500, U, U),
        (U, 2_500, U, U),
    ] as [(Int64, Int64, Int64, Int64)])
    func partialStepRoundsDownToTheLot(size: Int64, maxCloseBps: Int64, stepSize: Int64, step: Int64) {
        #expect(PerpEngine.partialStep(size: size, maxCloseBps: maxCloseBps, stepSize: stepSize) == step)
    }

    /// 25% of 10.0002 BTC is 2.50005 BTC: the step closes 2.5, not 2.5001 (which is more
    /// than 25%), and the next step 25% of what is left, again rounded down.
    @Test func partialStepsNeverExceedMaxCloseBps() {
        var d = Driver()
        d.deposit(1, 40_000)
        d.deposit(2, 10_000_000)
        d.price(Fixture.btc, 60_000 * D)
        let size = 100_002 * lot
        d.order(2, .sell, Fixture.btc, quantity: size, price: 60_000 * D, id: "s")
        d.order(1, .buy, Fixture.btc, quantity: size, price: 60_000 * D, id: "b")
        d.order(2, .buy, Fixture.btc, quantity: 20 * U, price: 57_000 * D, id: "bid")
        // Equity 40,000 − 10.0002 × 2,500 = 14,999.5 < maintenance 17,250.345.
        d.price(Fixture.btc, 57_500 * D)
        var x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].reason == .maintenancePartial && x[0].size == 25_000 * lot)
        #expect(x.allSatisfy { Int128($0.size) * 10_000 <= Int128(size) * 2_500 })
        let left = d.engine.accounts[1]!.position(Fixture.btc)
        #expect(left == 75_002 * lot)
        // Above maintenance after the step; a lower mark after the cooldown takes the next.
        d.now += 6 * S
        d.price(Fixture.btc, 57_400 * D)
        x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].reason == .maintenancePartial && x[0].size == 18_750 * lot)
        #expect(x.allSatisfy { Int128($0.size) * 10_000 <= Int128(left) * 2_500 })
    }

    /// With 1-BTC lots, 25% of a 3-BTC position is less than a lot: the step is one lot.
    @Test func aStepBelowOneLotClosesOneLot() {
        var config = Fixture.venue()
        config.markets[0].stepSize = U
        var d = Driver(config)
        d.deposit(1, 10_000)
        d.deposit(2, 1_000_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: 3 * U, price: 60_000 * D, id: "s")
        d.order(1, .buy, Fixture.btc, quantity: 3 * U, price: 60_000 * D, id: "b")
        d.order(2, .buy, Fixture.btc, quantity: 5 * U, price: 57_900 * D, id: "bid")
        d.price(Fixture.btc, 58_000 * D)  // equity 4,000 < maintenance 5,220; notional 174,000 > 100,000
        let x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].reason == .maintenancePartial && x[0].size == U)
        #expect(d.engine.accounts[1]!.position(Fixture.btc) == 2 * U)
    }

    // MARK: Later steps

    /// After the cooldown, the next step happens at the first event of any kind (here an
    /// unrelated deposit), and the decision carries that event's sequence and time.
    @Test func laterStepsFireOnAnyEventOnceTheCooldownEnds() {
        var d = Driver()
        d.deposit(1, 400_000)
        d.deposit(2, 10_000_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: 100 * U, price: 60_000 * D, id: "s")
        d.order(1, .buy, Fixture.btc, quantity: 100 * U, price: 60_000 * D, id: "b")
        d.order(2, .buy, Fixture.btc, quantity: 200 * U, price: 50_000 * D, id: "deep-bid")
        d.price(Fixture.btc, 55_900 * D)
        #expect(d.engine.takeDecisions().count == 1)
        d.deposit(99, 1)
        #expect(d.engine.takeDecisions().isEmpty, "still in the cooldown")
        d.now += 5 * S
        d.deposit(98, 1)
        let x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].reason == .maintenancePartial)
        #expect(x.first?.sequence == d.sequence && x.first?.enclaveTime == d.now)
    }

    // MARK: Pre-trade check

    /// The pre-trade check books the taker fee on the full quantity at the order's limit:
    /// buying 1 BTC at `limit` with the mark at 60,000 and a 5 bps taker fee needs
    /// collateral − limit − fee + 60,000 ≥ 3,000 (5% initial).
    @Test(arguments: [
        (60_000 * D, 3_030 * D),            // fee 30
        (61_000 * D, 4_030 * D + D / 2),    // fee 30.5; fills at the 60,000 ask all the same
    ] as [(Int64, Int64)])
    func takerFeeCountsInThePreTradeCheck(limit: Int64, needed: Int64) {
        var d = Driver(Fixture.venue(takerBps: 5))
        d.deposit(2, 1_000_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "ask")
        d.depositMicro(1, needed - 1)
        #expect(d.order(1, .buy, Fixture.btc, quantity: U, price: limit, id: "b").rejection == .insufficientMargin)
        d.depositMicro(1, 1)
        let report = d.order(1, .buy, Fixture.btc, quantity: U, price: limit, id: "b").report
        #expect(report?.fills.count == 1 && report?.fills.first?.price == 60_000 * D)
    }

    // MARK: Bankruptcy and worst price

    /// Long 1 BTC from 60,000 with 3,500.123456: at a mark of 56,000 equity is
    /// −499.876544, so bankruptcy is 56,499.876544; the worst price rounds up to the
    /// 0.1 tick (a higher sale price, in the account's favour) and the fund pays it.
    @Test func aLongsWorstPriceRoundsUpToTheTick() {
        var d = Driver()
        d.depositMicro(1, 3_500_123_456)
        d.deposit(2, 1_000_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "s")
        d.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "b")
        let fund = d.engine.insuranceFund
        d.price(Fixture.btc, 56_000 * D)
        let x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].toInsuranceFund == U)
        #expect(x.first?.bankruptcyPrice == 56_499_876_544 && x.first?.worstPrice == 56_499_900_000)
        #expect(d.engine.insuranceFund == fund - 56_499_900_000)
        #expect(d.engine.accounts[1]!.collateral == 23_456, "no bad debt: the rounding favours the account")
    }

    /// Short 1.5 BTC from 60,000 with 5,000: at 63,500 equity is −250, so bankruptcy is
    /// 63,500 − floor(250 / 1.5) = 63,333.333333; the worst price rounds down to the tick
    /// (a lower purchase price, in the account's favour).
    @Test func aShortsWorstPriceRoundsDownToTheTick() {
        var d = Driver()
        d.deposit(1, 5_000)
        d.deposit(2, 1_000_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .buy, Fixture.btc, quantity: 3 * U / 2, price: 60_000 * D, id: "b")
        d.order(1, .sell, Fixture.btc, quantity: 3 * U / 2, price: 60_000 * D, id: "s")
        let fund = d.engine.insuranceFund
        d.price(Fixture.btc, 63_500 * D)
        let x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].toInsuranceFund == 3 * U / 2 && x[0].side == .buy)
        #expect(x.first?.bankruptcyPrice == 63_333_333_333 && x.first?.worstPrice == 63_333_300_000)
        #expect(d.engine.insuranceFund == fund + 94_999_950_000)
        #expect(d.engine.accounts[1]!.collateral == 50_000)
    }

    /// A gap through the band: at a confirmed mark of 50,000 the long's worst price is
    /// 56,500, above the band's 55,000. The bid at 57,000 is outside the band and is
    /// cancelled on contact; the fund takes the position at 56,500 all the same.
    @Test func theWorstPriceMayLieOutsideThePriceBand() {
        var d = Driver()
        d.deposit(1, 3_500)
        d.deposit(2, 1_000_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "s")
        d.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "b")
        d.order(2, .buy, Fixture.btc, quantity: U, price: 57_000 * D, id: "bid")
        d.price(Fixture.btc, 50_000 * D)   // a 16.7% jump: halted until confirmed
        #expect(d.engine.takeDecisions().isEmpty)
        d.now += 6 * S
        d.price(Fixture.btc, 50_000 * D)
        let x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].markPrice == 50_000 * D && x[0].worstPrice == 56_500 * D)
        #expect(x.first?.filledOnBook == 0 && x.first?.toInsuranceFund == U)
        #expect(d.engine.restingOrders(market: Fixture.btc, side: .buy).isEmpty, "the bid left the band")
    }

    // MARK: Cross margin

    /// Long 1 BTC from 60,000 and 10 ETH from 3,000 on 6,000 of collateral. BTC at 57,000
    /// leaves equity 3,000 < maintenance 3,210. BTC, the larger notional, goes first; its
    /// bankruptcy price uses the whole account's equity: 57,000 − 3,000 = 54,000. The fund
    /// takes it there, which leaves equity 0, so the same check closes ETH too (same
    /// sequence), at a bankruptcy price equal to its mark.
    @Test func crossMarginClosesLargestFirstAtTheAccountsBankruptcyPrice() throws {
        var d = Driver()
        d.deposit(1, 6_000)
        d.deposit(2, 1_000_000)
        d.price(Fixture.btc, 60_000 * D)
        d.price(Fixture.eth, 3_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "sb")
        d.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "bb")
        d.order(2, .sell, Fixture.eth, quantity: 10 * U, price: 3_000 * D, id: "se")
        #expect(d.order(1, .buy, Fixture.eth, quantity: 10 * U, price: 3_000 * D, id: "be").report?.fills.count == 1)
        d.price(Fixture.btc, 57_000 * D)
        let x = d.engine.takeDecisions()
        try #require(x.count == 2)
        #expect(x[0].market == Fixture.btc && x[0].equity == 3_000 * D && x[0].maintenanceRequirement == 3_210 * D)
        #expect(x[0].bankruptcyPrice == 54_000 * D && x[0].worstPrice == 54_000 * D && x[0].toInsuranceFund == U)
        #expect(x[1].market == Fixture.eth && x[1].sequence == x[0].sequence && x[1].equity == 0)
        #expect(x[1].bankruptcyPrice == 3_000 * D && x[1].toInsuranceFund == 10 * U)
        #expect(d.engine.accounts[1]!.positions.isEmpty && d.engine.accounts[1]!.collateral == 0)
    }

    // MARK: Auto-deleveraging

    /// Account 1 (long 0.5 BTC, 1,750) is deleveraged with an empty fund at 55,000.
    /// Account 2 (short 0.5 from 60,000, 100,000) has more profit, 2,500, but ranks
    /// 2,500 × 27,500 ÷ 102,500 ≈ 671; account 3 (short 0.5 from 59,000, 5,000) ranks
    /// 2,000 × 27,500 ÷ 7,000 ≈ 7,857 and takes the whole 0.5.
    @Test func deleveragingRanksByProfitTimesNotionalOverEquity() {
        var d = Driver(Fixture.venue(insurance: 0))
        for (id, usd) in [(1, 1_750), (2, 100_000), (3, 5_000), (4, 1_000_000)] as [(UInt64, Int64)] {
            d.deposit(id, usd)
        }
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: U / 2, price: 60_000 * D, id: "s2")
        d.order(1, .buy, Fixture.btc, quantity: U / 2, price: 60_000 * D, id: "b1")
        d.price(Fixture.btc, 59_000 * D)
        d.order(3, .sell, Fixture.btc, quantity: U / 2, price: 59_000 * D, id: "s3")
        d.order(4, .buy, Fixture.btc, quantity: U / 2, price: 59_000 * D, id: "b4")
        d.price(Fixture.btc, 55_000 * D)
        let x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].autoDeleveraged == U / 2)
        #expect(d.engine.accounts[3]!.position(Fixture.btc) == 0)
        #expect(d.engine.accounts[2]!.position(Fixture.btc) == -U / 2)
    }

    /// Two identical shorts score the same: the lower account id goes first, although
    /// account 3 was created (and holds its slot) before account 2.
    @Test func deleveragingTiesBreakByAccountID() {
        var d = Driver(Fixture.venue(insurance: 0))
        for (id, usd) in [(3, 100_000), (2, 100_000), (1, 1_750), (4, 1_000_000)] as [(UInt64, Int64)] {
            d.deposit(id, usd)
        }
        d.price(Fixture.btc, 60_000 * D)
        d.order(3, .sell, Fixture.btc, quantity: U / 2, price: 60_000 * D, id: "s3")
        d.order(4, .buy, Fixture.btc, quantity: U / 2, price: 60_000 * D, id: "b4")
        d.order(2, .sell, Fixture.btc, quantity: U / 2, price: 60_000 * D, id: "s2")
        d.order(1, .buy, Fixture.btc, quantity: U / 2, price: 60_000 * D, id: "b1")
        d.price(Fixture.btc, 55_000 * D)
        let x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].autoDeleveraged == U / 2)
        #expect(d.engine.accounts[2]!.position(Fixture.btc) == 0)
        #expect(d.engine.accounts[3]!.position(Fixture.btc) == -U / 2)
    }
}
