import Testing
@testable import Engine
import Wire

private let U = Fixture.unit
private let D = Fixture.usd

@Suite("Matching")
struct MatchingTests {
    private func market() -> Driver {
        var d = Driver()
        for a in 1...5 { d.deposit(UInt64(a), 1_000_000) }
        d.price(Fixture.btc, 60_000 * D)
        return d
    }

    @Test func priceTimePriority() {
        var d = market()
        d.order(1, .sell, Fixture.btc, quantity: U, price: 60_100 * D, id: "a-worse")
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "b-first")
        d.order(3, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "c-second")
        let r = d.order(4, .buy, Fixture.btc, quantity: 2 * U + U / 2, price: 60_100 * D, id: "taker").report!
        // Best price first, then time priority within the level.
        #expect(r.fills.map(\.price) == [60_000 * D, 60_000 * D, 60_100 * D])
        #expect(r.fills.map(\.quantity) == [U, U, U / 2])
        #expect(d.engine.makerFills.map(\.account) == [2, 3, 1])
        // The rest of a-worse still rests.
        #expect(d.engine.restingOrders(market: Fixture.btc, side: .sell).map(\.remaining) == [U / 2])
        #expect(d.engine.accounts[4]!.position(Fixture.btc) == 2 * U + U / 2)
        #expect(d.engine.accounts[1]!.position(Fixture.btc) == -U / 2)
    }

    @Test func partialFillRestsTheRemainder() {
        var d = market()
        d.order(1, .sell, Fixture.btc, quantity: U / 4, price: 60_000 * D, id: "small")
        let r = d.order(2, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "big").report!
        #expect(r.fills.map(\.quantity) == [U / 4])
        #expect(r.resting == U * 3 / 4)
        #expect(d.engine.restingOrders(market: Fixture.btc, side: .buy).first?.remaining == U * 3 / 4)
    }

    @Test func immediateOrCancelNeverRests() {
        var d = market()
        d.order(1, .sell, Fixture.btc, quantity: U / 4, price: 60_000 * D, id: "m")
        let r = d.order(2, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "ioc", tif: .immediateOrCancel).report!
        #expect(r.fills.count == 1 && r.resting == 0 && r.cancelled == U * 3 / 4)
        #expect(d.engine.restingOrders(market: Fixture.btc, side: .buy).isEmpty)
    }

    @Test func postOnlyRefusesToTakeAndOtherwiseRests() {
        var d = market()
        d.order(1, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "ask")
        #expect(d.order(2, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "po", tif: .postOnly).rejection == .postOnlyWouldCross)
        let r = d.order(2, .buy, Fixture.btc, quantity: U, price: 59_900 * D, id: "po2", tif: .postOnly).report!
        #expect(r.fills.isEmpty && r.resting == U)
    }

    @Test func marketOrderStopsAtItsSlippageBound() {
        var d = market()
        d.order(1, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "l1")
        d.order(1, .sell, Fixture.btc, quantity: U, price: 60_500 * D, id: "l2")
        let r = d.order(2, .buy, Fixture.btc, quantity: 2 * U, price: 60_200 * D, id: "mkt", type: .market).report!
        #expect(r.fills.map(\.price) == [60_000 * D])
        #expect(r.cancelled == U && r.resting == 0)
    }

    @Test func reduceOnly() {
        var d = market()
        // No position: a reduce-only order would open one.
        #expect(d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "ro", reduceOnly: true).rejection == .reduceOnlyWouldIncrease)
        d.order(1, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "ask")
        d.order(2, .buy, Fixture.btc, quantity: U / 2, price: 60_000 * D, id: "open")  // account 2 long 0.5
        #expect(d.order(2, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "more", reduceOnly: true).rejection == .reduceOnlyWouldIncrease)
        // Selling 2 reduce-only against a 0.5 long fills only 0.5, never flips.
        d.order(3, .buy, Fixture.btc, quantity: 2 * U, price: 59_000 * D, id: "bid")
        let r = d.order(2, .sell, Fixture.btc, quantity: 2 * U, price: 59_000 * D, id: "close", reduceOnly: true).report!
        #expect(r.fills.map(\.quantity) == [U / 2])
        #expect(r.cancelled == U + U / 2)
        #expect(d.engine.accounts[2]!.position(Fixture.btc) == 0)
    }

    @Test func selfTradePreventionExpiresTheRestingOrder() {
        var d = market()
        d.order(1, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "mine")
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_100 * D, id: "theirs")
        let r = d.order(1, .buy, Fixture.btc, quantity: U, price: 60_100 * D, id: "cross").report!
        #expect(r.selfTradeCancelled == [try! ClientOrderID("mine")])
        #expect(r.fills.map(\.price) == [60_100 * D], "matched the other account, never itself")
        #expect(d.cancel(1, "mine").rejection == .unknownOrder, "the expired order is gone")
    }

    @Test func preTradeInitialMarginRefusal() {
        var d = Driver()
        d.deposit(1, 1_000)   // 1,000 USD at 5% initial margin: at most 20,000 USD of BTC
        d.deposit(2, 1_000_000)
        d.price(Fixture.btc, 60_000 * D)
        // 0.34 BTC = 20,400 USD notional: refused. 0.33 BTC = 19,800: accepted.
        #expect(d.order(1, .buy, Fixture.btc, quantity: U * 34 / 100, price: 60_000 * D, id: "big").rejection == .insufficientMargin)
        #expect(d.order(1, .buy, Fixture.btc, quantity: U * 33 / 100, price: 60_000 * D, id: "ok").report != nil)
        // A resting order the maker can no longer afford is cancelled at match time, not filled.
        d.order(1, .buy, Fixture.btc, quantity: U * 33 / 100, price: 60_000 * D, id: "ok2")
        d.order(1, .buy, Fixture.btc, quantity: U * 33 / 100, price: 59_900 * D, id: "ok3")
        let r = d.order(2, .sell, Fixture.btc, quantity: U, price: 59_900 * D, id: "hit").report!
        #expect(r.fills.map(\.quantity) == [U * 33 / 100], "only one resting bid fits account 1's margin")
        #expect(d.engine.accounts[1]!.position(Fixture.btc) == U * 33 / 100)
    }

    @Test func validationOfTickStepAndIdentity() {
        var d = market()
        #expect(d.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D + 1, id: "t").rejection == .priceNotOnTick)
        #expect(d.order(1, .buy, Fixture.btc, quantity: U + 1, price: 60_000 * D, id: "s").rejection == .quantityNotOnStep)
        #expect(d.order(1, .buy, 77, quantity: U, price: 1, id: "m").rejection == .unknownMarket)
        #expect(d.order(1, .buy, Fixture.btc, quantity: 0, price: 60_000 * D, id: "q").rejection == .invalidQuantity)
        #expect(d.order(99, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "who").rejection == .unknownAccount)
        d.order(1, .buy, Fixture.btc, quantity: U, price: 59_000 * D, id: "dup")
        #expect(d.order(1, .buy, Fixture.btc, quantity: U, price: 59_000 * D, id: "dup").rejection == .duplicateClientOrderID)
        #expect(d.cancel(1, "dup").report?.cancelled == U)
        #expect(d.cancel(1, "dup").rejection == .unknownOrder)
    }

    /// PROTOCOL §2.7, COMMITMENTS §7.5: a deposit to account 0, the insurance fund, is an
    /// engine rejection (`unknownAccount`) that credits nothing.
    @Test func aDepositToTheInsuranceFundCreditsNothing() {
        var d = market()
        let fund = d.engine.insuranceFund
        let outcome = d.apply(.deposit(Deposit(accountID: PerpEngine.insuranceAccount, accountKey: [UInt8](repeating: 1, count: 32),
                                               amount: 1_000 * D, depositID: 9_999, signature: [])))
        #expect(outcome.rejection == .unknownAccount)
        #expect(d.engine.insuranceFund == fund)
    }

    @Test func noPriceNoNewRisk() {
        var d = Driver()
        d.deposit(1, 1_000_000)
        #expect(d.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "blind").rejection == .priceUnavailable)
    }

    @Test func withdrawalsKeepInitialMargin() {
        var d = market()
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "ask")
        d.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "buy")  // 1 BTC long, IM = 3,000 USD
        let equity = d.engine.accounts[1]!.collateral + Int128(60_000 * D)
        let free = Int64(equity) - 3_000 * D
        #expect(d.apply(.request(account: 1, .withdraw(id: try! ClientOrderID("w1"), amount: free + 1))).rejection == .insufficientMargin)
        #expect(d.apply(.request(account: 1, .withdraw(id: try! ClientOrderID("w2"), amount: free))).report != nil)
        #expect(d.apply(.request(account: 1, .withdraw(id: try! ClientOrderID("w3"), amount: 0))).rejection == .invalidAmount)
    }

    /// Found in review: two colluding accounts moved a position's value across at an
    /// absurd price, leaving one in bad debt and letting the other withdraw it.
    @Test func noTradeAtAnAbsurdPriceCanMoveValueBetweenAccounts() {
        var d = market()
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "s")
        d.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "b")   // account 1 long 1 BTC
        // Far from the mark: refused outright (band 10%).
        #expect(d.order(3, .buy, Fixture.btc, quantity: U, price: D / 10, id: "steal").rejection == .priceOutsideBand)
        #expect(d.order(1, .sell, Fixture.btc, quantity: U, price: D / 10, id: "dump", tif: .immediateOrCancel).rejection == .priceOutsideBand)
        // Inside the band but far enough below the mark to put the seller in bad debt:
        // the closing fill is refused. Account 4 (1,000 USD... funded 1M) bids 54,000.
        var thin = Driver()
        thin.deposit(1, 3_100)
        thin.deposit(2, 1_000_000)
        thin.deposit(3, 1_000_000)
        thin.price(Fixture.btc, 60_000 * D)
        thin.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "s")
        thin.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "b")
        thin.order(3, .buy, Fixture.btc, quantity: U, price: 54_000 * D, id: "low-bid")
        let r = thin.order(1, .sell, Fixture.btc, quantity: U, price: 54_000 * D, id: "dump", tif: .immediateOrCancel).report!
        #expect(r.fills.isEmpty && r.cancelled == U)
        #expect(thin.engine.accounts[1]!.position(Fixture.btc) == U)
    }

    /// Found in review: quantities sized at a tiny limit price overflowed a level's sum
    /// and trapped the enclave.
    @Test func hugeQuantitiesAreRefusedNotTrapped() {
        var d = market()
        #expect(d.order(1, .buy, Fixture.btc, quantity: 1_000_000_000_000_000_000, price: 55_000 * D, id: "huge").rejection == .orderTooLarge)
    }

    /// Found in review: 65,536 self-trade cancellations overflowed a UInt16 count.
    @Test func openOrdersAndReportEntriesAreCapped() {
        var config = Fixture.venue()
        config.risk.maxOpenOrdersPerAccount = 5
        var d = Driver(config)
        d.deposit(1, 1_000_000)
        d.price(Fixture.btc, 60_000 * D)
        for i in 0..<5 { #expect(d.order(1, .sell, Fixture.btc, quantity: U / 100, price: 60_100 * D + Int64(i) * D, id: "a\(i)").report != nil) }
        #expect(d.order(1, .sell, Fixture.btc, quantity: U / 100, price: 60_200 * D, id: "a5").rejection == .tooManyOpenOrders)
    }

    /// Found in final review: a sweep of 2,000 resting orders made a receipt larger than
    /// a frame (and its UInt16 detail length), trapping the enclave. Matching stops at the
    /// entry cap and the receipt fits.
    @Test func aSweepStopsAtTheEntryCapAndItsReceiptFitsInAFrame() throws {
        var d = Driver()
        d.deposit(1, 10_000_000)
        d.deposit(2, 10_000_000)
        d.deposit(3, 10_000_000)
        d.price(Fixture.btc, 60_000 * D)
        let step = U / 10_000
        for maker in [1, 2] as [UInt64] {
            for i in 0..<1_000 {
                #expect(d.order(maker, .sell, Fixture.btc, quantity: step, price: 60_000 * D, id: "m\(i)").report != nil)
            }
        }
        let r = d.order(3, .buy, Fixture.btc, quantity: 2_000 * step, price: 60_000 * D, id: "sweep").report!
        #expect(r.fills.count == OrderReport.maxEntries)
        #expect(r.cancelled == 1_000 * step)
        let detail = r.encode()
        #expect(detail.count <= 38 * OrderReport.maxEntries + 21)
        let receipt = Receipt(status: .accepted, globalSequence: 1, enclaveTime: 1, reason: nil,
                              clientOrderID: try ClientOrderID(String(repeating: "x", count: 36)), detail: detail)
        let sealedFrameLength = 2 + SealedEnvelope.headerLength + receipt.encode().count + 16
        #expect(sealedFrameLength <= WireProtocol.maxFrameLength)
    }

    /// A fill's maker flag is 0 or 1 (docs/PROTOCOL.md §2.5), as the Python SDK reads it:
    /// a decoder that took any byte but 1 as "taker" accepted non-canonical reports.
    @Test func orderReportRefusesAMakerFlagOtherThanZeroOrOne() throws {
        var report = OrderReport()
        report.fills = [Fill(market: 2, side: .sell, price: 7, quantity: 3, fee: 1, isMaker: false, makerOrderID: 17)]
        var bytes = report.encode()
        let flagAt = 3 + 4 + 1 + 8 + 8 + 8
        #expect(try OrderReport.decode(bytes).fills.first?.isMaker == false)
        bytes[flagAt] = 1
        #expect(try OrderReport.decode(bytes).fills.first?.isMaker == true)
        bytes[flagAt] = 2
        #expect(throws: WireError.self) { try OrderReport.decode(bytes) }
    }

    @Test func feesAreChargedAndConserved() {
        var d = Driver(Fixture.venue(makerBps: 2, takerBps: 5))
        d.deposit(1, 100_000)
        d.deposit(2, 100_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(1, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "m")
        let r = d.order(2, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "t").report!
        #expect(r.fills[0].fee == 30 * D)      // 5 bps of 60,000
        #expect(d.engine.makerFills[0].fill.fee == 12 * D)   // 2 bps
        #expect(d.engine.feePool == Int128(42 * D))
        #expect(d.engine.conservationResidual == Int128(Fixture.venue().liquidation.insuranceFund))
    }
}
