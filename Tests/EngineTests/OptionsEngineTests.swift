@testable import Engine
import Options
import TestSupport
import Testing
import Wire

/// Option markets through the engine (docs/OPTIONS.md §10): premium flows, portfolio
/// margin against the reference, settlement, determinism and conservation.
@Suite("Options in the engine")
struct OptionsEngineTests {
    static let big: Int64 = 10_000_000

    /// A venue with BTC at 50,000 and ETH at 3,000, four funded accounts (1 the maker).
    static func started(makerBps: Int64 = 0, takerBps: Int64 = 0) -> Driver {
        var d = Driver(OptionsFixture.venue(makerBps: makerBps, takerBps: takerBps))
        d.price(Fixture.btc, 50_000 * Fixture.usd)
        d.price(Fixture.eth, 3_000 * Fixture.usd)
        d.deposit(1, big)
        for a: UInt64 in 2...4 { d.deposit(a, 100_000) }
        return d
    }

    /// Buyer pays the premium's notional plus the taker fee, the seller receives it less
    /// the maker fee; both hold the option; money is conserved.
    @Test func premiumMovesFromBuyerToSeller() throws {
        var d = Self.started(makerBps: 1, takerBps: 5)
        let price = d.optionPrice(OptionsFixture.call)
        #expect(price > 1_000 * Fixture.usd, "an at-the-money 30-day call is worth thousands (\(price))")
        let quantity = Fixture.unit / 10
        let before = (d.engine.accounts[2]!.collateral, d.engine.accounts[1]!.collateral)
        d.trade(buyer: 2, seller: 1, OptionsFixture.call, quantity: quantity, price: price, id: "1")
        let cash = FixedMath.notional(price: price, quantity: quantity, .down)
        #expect(d.engine.accounts[2]!.collateral == before.0 - cash - FixedMath.applyBps(cash, 5, .up))
        #expect(d.engine.accounts[1]!.collateral == before.1 + cash - FixedMath.applyBps(cash, 1, .up))
        #expect(d.engine.accounts[2]!.position(OptionsFixture.call) == quantity)
        #expect(d.engine.accounts[1]!.position(OptionsFixture.call) == -quantity)
        #expect(d.engine.conservationResidual == Int128(Fixture.venue().liquidation.insuranceFund))
    }

    /// Quantities are multiples of the contract size, prices of the premium tick, and an
    /// expired market takes no order.
    @Test func optionOrdersFollowTheMarketsGrid() {
        var d = Self.started()
        let price = d.optionPrice(OptionsFixture.call)
        #expect(d.order(2, .buy, OptionsFixture.call, quantity: Fixture.unit / 100 + 1, price: price, id: "a").rejection
            == .quantityNotOnStep)
        #expect(d.order(2, .buy, OptionsFixture.call, quantity: Fixture.unit / 100, price: price + 1, id: "b").rejection
            == .priceNotOnTick)
        // The band is 10 % of the underlying's mark around the option mark.
        #expect(d.order(2, .buy, OptionsFixture.call, quantity: Fixture.unit / 100, price: price + 5_100 * Fixture.usd,
                        id: "c").rejection == .priceOutsideBand)
        #expect(d.order(2, .buy, OptionsFixture.call, quantity: Fixture.unit / 100, price: price, id: "d").rejection == nil)
    }

    /// A portfolio position of more than 2^53 (docs/OPTIONS.md §7.5's bound) is refused
    /// `orderTooLarge` at admission, before the margin check (§10.1); up to 2^53 the
    /// order goes on to M1.
    @Test func portfolioPositionsStayWithinTwoToThe53() {
        // A call struck at 2^50 is worth 0: only at such a premium is a quantity above 2^53
        // under the notional cap (10^9 USD at the larger of the limit and the mark).
        var config = OptionsFixture.venue()
        var far = config.options!.markets[0]
        far.id = 103
        far.symbol = "BTC-30D-FAR-C"
        far.strike = 1 << 50
        config.options!.markets.append(far)
        var d = Driver(config)
        d.price(Fixture.btc, 50_000 * Fixture.usd)
        d.price(Fixture.eth, 3_000 * Fixture.usd)
        d.deposit(2, 100_000)
        let lot = far.contractSize
        let most = PortfolioMargin.maxSize / lot * lot
        let price = far.tickSize
        #expect(d.order(2, .buy, 103, quantity: most + lot, price: price, id: "a").rejection == .orderTooLarge)
        #expect(d.order(2, .sell, 103, quantity: most + lot, price: price, id: "b").rejection == .orderTooLarge)
        #expect(d.order(2, .buy, 103, quantity: most, price: price, id: "c").rejection == .insufficientMargin)
    }

    /// Random portfolios of calls, puts and perpetuals: the engine's health equals the
    /// reference (PortfolioMargin.evaluate over the BTC portfolio, linear for the rest).
    @Test(arguments: [11, 12, 13] as [UInt64])
    func portfolioMarginEqualsTheReference(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var d = Self.started()
        for a: UInt64 in 5...12 { d.deposit(a, 1_000_000) }
        var btc: Int64 = 50_000 * Fixture.usd
        var compared = 0
        for round in 0..<40 {
            let account = rng.next() % 11 + 2
            let market = [OptionsFixture.call, OptionsFixture.put, Fixture.btc, Fixture.eth][Int(rng.next() % 4)]
            let lot = market == Fixture.eth ? Fixture.unit / 1_000 : Fixture.unit / 100
            let quantity = Int64(rng.next() % 50 + 1) * lot
            let price: Int64 = switch market {
            case Fixture.btc: btc
            case Fixture.eth: 3_000 * Fixture.usd
            default: d.optionPrice(market)
            }
            if rng.next() % 2 == 0 {
                d.trade(buyer: account, seller: 1, market, quantity: quantity, price: price, id: "\(round)")
            } else {
                d.trade(buyer: 1, seller: account, market, quantity: quantity, price: price, id: "\(round)")
            }
            if round % 5 == 4 {
                btc += (Int64(rng.next() % 41) - 20) * 50 * Fixture.usd
                d.price(Fixture.btc, btc)
                d.price(Fixture.eth, 3_000 * Fixture.usd)
            }
            let arrays = try OptionsFixture.referenceArrays(btc: btc, now: d.now, volatility: d.volatility)
            for (id, account) in d.engine.accounts.sorted(by: { $0.key < $1.key }) where id != 0 && !account.positions.isEmpty {
                guard case .success(let h) = d.engine.health(id, now: d.now) else {
                    Issue.record("no health for \(id)")
                    continue
                }
                let reference = try OptionsFixture.referenceHealth(account, arrays: arrays, eth: 3_000 * Fixture.usd)
                #expect(h == reference, "account \(id) round \(round)")
                compared += 1
            }
        }
        let optionHolders = d.engine.accounts.values.filter {
            $0.position(OptionsFixture.call) != 0 || $0.position(OptionsFixture.put) != 0
        }
        #expect(optionHolders.count >= 5 && compared > 100, "\(optionHolders.count) option holders, \(compared) comparisons")
    }

    /// An account with perpetuals only keeps the linear requirement on a venue that lists
    /// options: the same stream gives it the same health on both venues.
    @Test func perpetualsOnlyAccountsKeepTheLinearRequirement() {
        var a = Driver(Fixture.venue())
        var b = Driver(OptionsFixture.venue())
        for step in 0..<6 {
            let btc = (50_000 + Int64(step) * 900) * Fixture.usd
            Self.perpStep(&a, step: step, btc: btc)
            Self.perpStep(&b, step: step, btc: btc)
            for id: UInt64 in [1, 2, 3] {
                let ha = a.engine.health(id, now: a.now)
                let hb = b.engine.health(id, now: b.now)
                #expect(ha == hb, "account \(id) step \(step)")
            }
            #expect(a.engine.accounts[2]!.collateral == b.engine.accounts[2]!.collateral)
        }
        #expect(a.engine.decisions == b.engine.decisions)
    }

    static func perpStep(_ d: inout Driver, step: Int, btc: Int64) {
        if step == 0 {
            d.price(Fixture.eth, 3_000 * Fixture.usd)
            d.deposit(1, big)
            d.deposit(2, 30_000)
            d.deposit(3, 5_000)
        }
        d.price(Fixture.btc, btc)
        d.trade(buyer: 2, seller: 1, Fixture.btc, quantity: Fixture.unit / 10, price: btc, id: "b\(step)")
        d.trade(buyer: 1, seller: 3, Fixture.eth, quantity: Fixture.unit / 2, price: 3_000 * Fixture.usd, id: "e\(step)")
    }
}
