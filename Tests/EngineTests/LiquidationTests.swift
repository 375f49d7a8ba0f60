import Synchronization
import TestSupport
import Testing
@testable import Engine
import Wire

private let U = Fixture.unit
private let D = Fixture.usd
private let S = Fixture.second

/// Brute force, written independently of the engine's index: equity and maintenance
/// from first principles for every account, at the current marks.
func bruteForceLiquidatable(_ engine: inout PerpEngine, now: UInt64) -> [UInt64] {
    var out: [UInt64] = []
    for id in engine.accounts.keys.sorted() where id != PerpEngine.insuranceAccount {
        let a = engine.accounts[id]!
        guard !a.positions.isEmpty else { continue }
        var equity = a.collateral
        var maintenance: Int128 = 0
        var priced = true
        for p in a.positions {
            guard case .success(let mark) = engine.mark(p.market, at: now) else { priced = false; break }
            let bps: Int128 = p.market == Fixture.btc ? 300 : 500
            // floor(size × mark / 1e8) and ceil(|size| × mark × bps / 1e12), by hand.
            let v = Int128(p.size) * Int128(mark)
            equity += v >= 0 ? v / 100_000_000 : -((-v + 99_999_999) / 100_000_000)
            maintenance += (Int128(p.size.magnitude) * Int128(mark) * bps + 999_999_999_999) / 1_000_000_000_000
        }
        if priced && equity < maintenance { out.append(id) }
    }
    return out
}

@Suite("Liquidation")
struct LiquidationTests {
    /// Account 1: 3,500 USD, long 1 BTC from 60,000. Maintenance 3%: liquidatable below
    /// 3,500 + (m − 60,000) < 0.03 m, i.e. m < 58,247.42.
    private func longAccount(
        insurance: Int64 = 1_000_000, accountCommitment: (@Sendable (UInt64) -> [UInt8])? = nil
    ) -> Driver {
        var d = Driver(Fixture.venue(insurance: insurance * D))
        if let accountCommitment {
            d.engine = try! PerpEngine(config: Fixture.venue(insurance: insurance * D), accountCommitment: accountCommitment)
        }
        d.deposit(1, 3_500)
        d.deposit(2, 1_000_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "s")
        d.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "b")
        return d
    }

    @Test func triggersExactlyAtTheLiquidationPrice() {
        var d = longAccount()
        d.order(2, .buy, Fixture.btc, quantity: 2 * U, price: 58_000 * D, id: "bid")  // liquidity to close into
        d.price(Fixture.btc, 58_248 * D)
        #expect(d.engine.takeDecisions().isEmpty, "58,248 is above the liquidation price")
        d.price(Fixture.btc, 58_247 * D)
        let decisions = d.engine.takeDecisions()
        #expect(decisions.count == 1)
        let x = decisions[0]
        #expect(x.market == Fixture.btc && x.side == .sell && x.size == U && x.reason == .maintenanceFull)
        #expect(x.markPrice == 58_247 * D)
        #expect(x.equity == 1_747 * D && x.maintenanceRequirement == 1_747_410_000)
        #expect(x.scenario == nil, "the linear model has no triggering scenario (docs/OPTIONS.md §10.6)")
        // Bankruptcy: closing at 58,247 − 1,747 = 56,500 leaves zero equity.
        #expect(x.bankruptcyPrice == 56_500 * D && x.worstPrice == 56_500 * D)
        #expect(x.filledOnBook == U && x.toInsuranceFund == 0 && x.autoDeleveraged == 0)
        // Its execution: one book fill at the bid, and 0.5% of 58,000 as the fee (the
        // 1,500 USD of equity left after the fill covers it).
        #expect(x.fills == [ExecutionFill(kind: .book, price: 58_000 * D, quantity: U)])
        #expect(x.liquidationFee == 290 * D)
        #expect(x.accountCommitment == withUnsafeBytes(of: UInt64(1).bigEndian) { Array($0) })
        #expect(d.engine.accounts[1]!.positions.isEmpty)
        // What a fraud proof opens: the state just before the step (1 BTC, collateral
        // 1,747 − 58,247 USD) and the mark with the large-cap 3% at that moment.
        #expect(x.accountID == 1 && x.step == 0)
        #expect(x.preState == stateBytes(1, collateral: Int128(1_747 * D) - Int128(58_247 * D), Fixture.btc, U))
        #expect(x.marks == [DecisionMark(market: Fixture.btc, mark: 58_247 * D, maintenanceBps: 300)])
    }

    /// An account's commitment is computed once, when the account is created, and once
    /// more per account when a snapshot is restored (it is derived, not in the snapshot): a
    /// liquidation reads the kept bytes instead of hashing again (issue 17), and they are
    /// the supplier's for that account.
    @Test func accountCommitmentIsComputedOncePerAccount() throws {
        let calls = Mutex<[UInt64]>([])
        let commit: @Sendable (UInt64) -> [UInt8] = { id in
            calls.withLock { $0.append(id) }
            return (0..<32).map { UInt8(truncatingIfNeeded: id &* 0x9e37_79b9 &+ UInt64($0)) }
        }
        let expected = (0..<32).map { UInt8(truncatingIfNeeded: UInt64(1) &* 0x9e37_79b9 &+ UInt64($0)) }
        var d = longAccount(accountCommitment: commit)
        d.order(2, .buy, Fixture.btc, quantity: 2 * U, price: 58_000 * D, id: "bid")
        d.deposit(1, 0)
        #expect(calls.withLock { $0 } == [0, 1, 2], "the fund's at the start, each account's at its first deposit only")
        d.engine = try PerpEngine(snapshot: d.engine.snapshot(), config: Fixture.venue(insurance: 1_000_000 * D),
                                  accountCommitment: commit)
        #expect(calls.withLock { $0 } == [0, 1, 2, 0, 1, 2], "a restore computes each account's once")
        d.price(Fixture.btc, 58_247 * D)
        let decisions = d.engine.takeDecisions()
        #expect(decisions.count == 1)
        #expect(decisions.first?.accountCommitment == expected)
        #expect(calls.withLock { $0 }.count == 6, "the liquidation computed none")
    }

    /// §2.2 `state` of an account with one position, cost basis 60,000 USD, no orders.
    private func stateBytes(_ id: UInt64, collateral: Int128, _ market: UInt32, _ size: Int64) -> [UInt8] {
        var w = ByteWriter(capacity: 76)
        w.write(id)
        w.write(UInt64(truncatingIfNeeded: collateral >> 64))
        w.write(UInt64(truncatingIfNeeded: collateral))
        w.write(UInt32(1))
        w.write(market)
        w.write(size)
        w.write(UInt64(0))
        w.write(UInt64(60_000 * D))
        w.write(bytes: [UInt8](repeating: 0, count: 16))
        w.write(UInt32(0))
        return w.bytes
    }

    @Test func whatTheBookCannotAbsorbGoesToTheInsuranceFund() {
        var d = longAccount()
        let fundBefore = d.engine.insuranceFund
        d.price(Fixture.btc, 56_000 * D)   // no bids at all; below bankruptcy
        let x = d.engine.takeDecisions()[0]
        #expect(x.filledOnBook == 0 && x.toInsuranceFund == U)
        #expect(x.fills == [ExecutionFill(kind: .insuranceFund, price: 56_500 * D, quantity: U)] && x.liquidationFee == 0)
        #expect(d.engine.accounts[0]!.position(Fixture.btc) == U, "the fund holds the position")
        #expect(d.engine.accounts[1]!.positions.isEmpty)
        // The fund paid the worst price (56,500) for something marked at 56,000.
        #expect(d.engine.insuranceFund == fundBefore - Int128(56_500 * D))
        #expect(d.engine.conservationResidual == Int128(1_000_000 * D))
    }

    @Test func anEmptyFundAutoDeleveragesTheMostProfitableShort() {
        var d = Driver(Fixture.venue(insurance: 0))
        for (id, usd) in [(1, 3_500), (2, 100_000), (3, 100_000)] as [(UInt64, Int64)] { d.deposit(id, usd) }
        d.price(Fixture.btc, 60_000 * D)
        // Two shorts: account 2 sold at 60,000 (more profit as price falls), account 3 at 59,000.
        d.order(2, .sell, Fixture.btc, quantity: U / 2, price: 60_000 * D, id: "s2")
        d.order(1, .buy, Fixture.btc, quantity: U / 2, price: 60_000 * D, id: "b1")
        d.price(Fixture.btc, 59_000 * D)
        d.order(3, .sell, Fixture.btc, quantity: U / 2, price: 59_000 * D, id: "s3")
        d.order(1, .buy, Fixture.btc, quantity: U / 2, price: 59_000 * D, id: "b2")
        d.price(Fixture.btc, 55_000 * D)
        let x = d.engine.takeDecisions()[0]
        #expect(x.toInsuranceFund == 0 && x.autoDeleveraged == U)
        #expect(x.fills == [ExecutionFill(kind: .autoDeleveraging, price: x.worstPrice, quantity: U / 2),
                            ExecutionFill(kind: .autoDeleveraging, price: x.worstPrice, quantity: U / 2)])
        #expect(d.engine.accounts[2]!.position(Fixture.btc) == 0, "most profitable short closed first")
        #expect(d.engine.accounts[3]!.position(Fixture.btc) == 0)
        #expect(d.engine.conservationResidual == 0)
    }

    @Test func largePositionsCloseInCappedStepsWithACooldown() {
        var d = Driver()
        d.deposit(1, 400_000)
        d.deposit(2, 10_000_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: 100 * U, price: 60_000 * D, id: "s")
        d.order(1, .buy, Fixture.btc, quantity: 100 * U, price: 60_000 * D, id: "b")   // 6M notional, far above 100k
        d.order(2, .buy, Fixture.btc, quantity: 200 * U, price: 50_000 * D, id: "deep-bid")
        d.price(Fixture.btc, 55_900 * D)
        var x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].reason == .maintenancePartial && x[0].size == 25 * U)
        #expect(d.engine.liquidatableAccounts(at: d.now) == [1], "still below maintenance, waiting out the cooldown")
        d.price(Fixture.btc, 55_890 * D)
        #expect(d.engine.takeDecisions().isEmpty, "cooldown: 5 s not yet passed")
        d.now += 6 * S
        d.price(Fixture.btc, 55_880 * D)
        x = d.engine.takeDecisions()
        #expect(x.count == 1 && x[0].size > 0)
    }

    @Test func haltedMarketsDoNotLiquidate() {
        var d = longAccount()
        d.order(2, .buy, Fixture.btc, quantity: 2 * U, price: 50_000 * D, id: "bid")
        // A crash printed by one publisher only: too few publishers, no valid mark.
        d.now += 11 * S
        d.price(Fixture.btc, 57_000 * D, publishers: [0])
        #expect(d.engine.takeDecisions().isEmpty)
        #expect(d.engine.haltedMarkets(at: d.now) == [Fixture.btc, Fixture.eth])
        // A second publisher confirms; the market is valid again and liquidation resumes.
        d.price(Fixture.btc, 57_000 * D, publishers: [1])
        #expect(d.engine.takeDecisions().count == 1)
    }

    @Test func fundingMovesMoneyFromLongsToShortsWhenTheBookIsRich() {
        var d = Driver()
        d.deposit(1, 100_000)
        d.deposit(2, 100_000)
        d.deposit(3, 100_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(2, .sell, Fixture.btc, quantity: U, price: 60_000 * D, id: "s")
        d.order(1, .buy, Fixture.btc, quantity: U, price: 60_000 * D, id: "b")
        // The book trades rich: mid 60,300 is +50 bps over the mark.
        d.order(3, .buy, Fixture.btc, quantity: U / 100, price: 60_200 * D, id: "bid", tif: .postOnly)
        d.order(3, .sell, Fixture.btc, quantity: U / 100, price: 60_400 * D, id: "ask", tif: .postOnly)
        let long = d.engine.accounts[1]!.collateral
        let short = d.engine.accounts[2]!.collateral
        d.now += 3_601 * S
        d.price(Fixture.btc, 60_000 * D)
        let payments = d.engine.takeFundingPayments().filter { $0.market == Fixture.btc }
        #expect(payments.count == 1 && payments[0].rateBps == 50 && payments[0].perUnit == 300 * D)
        #expect(d.engine.accounts[1]!.collateral == long - Int128(300 * D))
        #expect(d.engine.accounts[2]!.collateral == short + Int128(300 * D))
        #expect(d.engine.conservationResidual == Int128(Fixture.venue().liquidation.insuranceFund))
    }
}

/// A leveraged crowd through a 25% crash with noise in two markets (BTC, large-cap 3%
/// maintenance; ETH, mid-cap 5%), so most accounts are cross-margined: many
/// liquidations, partial and full, into the book, the fund and ADL.
func crashEvents(seed: UInt64, accounts: UInt64 = 60, steps: Int = 1_500) -> [EngineInput] {
    var rng = SplitMix64(seed: seed)
    var out: [EngineInput] = []
    let markets: [(id: UInt32, start: Int64, tick: Int64, step: Int64)] = [
        (Fixture.btc, 60_000 * D, D / 10, U / 10_000),
        (Fixture.eth, 3_000 * D, D / 100, U / 1_000),
    ]
    var prices = markets.map(\.start)
    for a in 1...accounts {
        out.append(.deposit(Deposit(accountID: a, accountKey: [], amount: Int64(rng.next() % 8_000 + 2_000) * D, depositID: a, signature: [])))
    }
    out.append(.deposit(Deposit(accountID: 1_000, accountKey: [], amount: 50_000_000 * D, depositID: 1_000, signature: [])))
    // The driver stamps event k at 1,000 s + k × 40 ms: publish at the event's own time.
    func publish(_ m: Int) {
        for pub in Fixture.publishers {
            let at = 1_000 * S + UInt64(out.count + 1) * 40_000_000
            out.append(.oraclePrice(OraclePrice(market: markets[m].id, price: prices[m], confidence: 0, publishTime: at, publisher: pub, signature: [])))
        }
    }
    publish(0)
    publish(1)
    for i in 0..<steps {
        let roll = rng.next() % 100
        let m = Int(rng.next() % 2)
        let market = markets[m]
        if roll < 15 {
            // Trend: −25% over the run, ±0.3% noise.
            let target = market.start - Int64(i) * (market.start / 4) / Int64(steps)
            let noise = Int64(rng.next() % 361) - 180
            prices[m] = max(market.tick, (target + target / 10_000 * noise) / market.tick * market.tick)
            publish(m)
        } else if roll < 80 {
            let a = rng.next() % accounts + 1
            let side: Side = rng.next() % 3 == 0 ? .sell : .buy
            let units = Int64(rng.next() % 20 + 1)
            let quantity = m == 0 ? units * U / 100 : units * U / 5
            let offset = Int64(rng.next() % 50) - 25
            let p = max(market.tick, prices[m] / market.tick * market.tick + offset * market.tick * (m == 0 ? 1 : 1))
            out.append(.request(account: a, .newOrder(NewOrder(clientOrderID: try! ClientOrderID("c\(i)"), market: market.id,
                                                               side: side, type: .limit, timeInForce: rng.next() % 2 == 0 ? .immediateOrCancel : .goodTillCancel,
                                                               reduceOnly: false, price: p, quantity: quantity))))
        } else {
            // The market maker (1,000) keeps two-sided depth around the price.
            let depth = m == 0 ? Int64(rng.next() % 5 + 1) * U / 10 : Int64(rng.next() % 5 + 1) * U * 2
            let unit = m == 0 ? D : D / 20
            for (side, off) in [(Side.buy, -Int64(rng.next() % 30 + 1)), (.sell, Int64(rng.next() % 30 + 1))] {
                out.append(.request(account: 1_000, .newOrder(NewOrder(clientOrderID: try! ClientOrderID("mm\(i)\(side)"), market: market.id,
                                                                       side: side, price: prices[m] + off * unit, quantity: depth))))
            }
        }
    }
    return out
}

@Suite("Liquidation properties")
struct LiquidationPropertyTests {
    /// After every event, the accounts the engine knows to be liquidatable (waiting out a
    /// cooldown) are exactly those a brute-force scan finds: the index never misses one.
    /// Money is conserved and positions net to zero throughout.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func indexAgreesWithBruteForceThroughACrash(seed: UInt64) {
        var d = Driver(Fixture.venue(insurance: 200_000 * D, makerBps: 1, takerBps: 5))
        var decisions: [LiquidationDecision] = []
        var crossMargined = Set<UInt64>()
        for input in crashEvents(seed: seed) {
            d.apply(input, advance: 40_000_000)
            for (id, a) in d.engine.accounts where a.positions.count > 1 && id != 1_000 { crossMargined.insert(id) }
            decisions += d.engine.takeDecisions()
            let reference = bruteForceLiquidatable(&d.engine, now: d.now)
            #expect(d.engine.liquidatableAccounts(at: d.now) == reference)
            #expect(d.engine.conservationResidual == Int128(200_000 * D))
            for market in [Fixture.btc, Fixture.eth] {
                #expect(d.engine.accounts.values.reduce(Int64(0)) { $0 + $1.position(market) } == 0)
            }
        }
        let crossMarginAccounts = crossMargined.count
        #expect(decisions.count >= 5, "the crash liquidates (\(decisions.count) decisions)")
        #expect(crossMarginAccounts >= 10, "the index's cross-margin path is exercised (\(crossMarginAccounts) accounts)")
        // Every decision was made below maintenance.
        #expect(decisions.allSatisfy { $0.equity < $0.maintenanceRequirement })
        // And its opening (docs/COMMITMENTS.md §3, §6.1) says so by itself: the pre-step
        // state and marks recompute the decision's equity and requirement exactly, as the
        // verifier contract does; steps of one event are numbered 0, 1, 2, ...
        for (i, x) in decisions.enumerated() {
            let h = openingHealth(x)
            #expect(h.equity == Int128(x.equity) && h.maintenance == Int128(x.maintenanceRequirement))
            #expect(x.marks.map(\.maintenanceBps).allSatisfy { $0 == 300 || $0 == 500 })
            let previous = i > 0 && decisions[i - 1].sequence == x.sequence ? decisions[i - 1].step + 1 : 0
            #expect(x.step == previous)
        }
        #expect(decisions.contains { $0.marks.count > 1 }, "a cross-margined account was liquidated")
    }

    /// Equity and maintenance from a decision's pre-step §2.2 state bytes and marks alone,
    /// by hand (floor toward −∞, ceil toward +∞).
    private func openingHealth(_ x: LiquidationDecision) -> (equity: Int128, maintenance: Int128) {
        let s = x.preState
        func int(_ at: Int, _ n: Int) -> Int128 {
            var v = Int128(Int8(bitPattern: s[at]))
            for b in s[(at + 1)..<(at + n)] { v = v << 8 | Int128(b) }
            return v
        }
        let count = Int(int(24, 4) & 0xffff_ffff)
        #expect(s.count == 32 + 44 * count && count == x.marks.count)
        var equity = int(8, 16)
        var maintenance: Int128 = 0
        for (k, m) in x.marks.enumerated() {
            #expect(UInt32(int(28 + 44 * k, 4) & 0xffff_ffff) == m.market)
            let v = int(32 + 44 * k, 8) * Int128(m.mark)
            equity += v >= 0 ? v / 100_000_000 : -((-v + 99_999_999) / 100_000_000)
            maintenance += (Int128(v.magnitude) * Int128(m.maintenanceBps) + 999_999_999_999) / 1_000_000_000_000
        }
        return (equity, maintenance)
    }

    @Test func liquidationsReplayByteIdentically() {
        let events = crashEvents(seed: 5)
        func run() -> ([LiquidationDecision], [UInt8]) {
            var d = Driver(Fixture.venue(insurance: 200_000 * D))
            var out: [LiquidationDecision] = []
            for e in events {
                d.apply(e, advance: 40_000_000)
                out += d.engine.takeDecisions()
            }
            return (out, d.engine.canonicalState())
        }
        let (a, sa) = run()
        let (b, sb) = run()
        #expect(a == b && sa == sb && !a.isEmpty)
    }
}

