@testable import Engine
import Options
import TestSupport
import Testing
import Wire

/// Settlement at expiry, determinism of option-heavy streams, and a volatility spike
/// (docs/OPTIONS.md §10.4–10.6).
@Suite("Options lifecycle")
struct OptionsLifecycleTests {
    static let insurance = Int128(Fixture.venue().liquidation.insuranceFund)

    @Test func settlementPaysIntrinsicValueAndClosesPositions() throws {
        var d = OptionsEngineTests.started()
        let q = Fixture.unit / 10
        d.trade(buyer: 2, seller: 1, OptionsFixture.call, quantity: q, price: d.optionPrice(OptionsFixture.call), id: "c")
        d.trade(buyer: 4, seller: 3, OptionsFixture.put, quantity: q, price: d.optionPrice(OptionsFixture.put), id: "p")
        d.order(1, .sell, OptionsFixture.call, quantity: q, price: d.optionPrice(OptionsFixture.call) * 2, id: "rest")
        let before = (1...4).map { d.engine.accounts[UInt64($0)]!.collateral }
        let fund = d.engine.insuranceFund
        // Past expiry with a stale underlying: nothing settles yet.
        d.apply(.deposit(Deposit(accountID: 5, accountKey: [], amount: 1, depositID: 99, signature: [])),
                advance: OptionsFixture.expiry - d.now)
        #expect(d.engine.optionSettlements.isEmpty)
        #expect(d.order(2, .buy, OptionsFixture.call, quantity: q, price: Fixture.usd, id: "late").rejection == .priceUnavailable)
        // The second fresh publisher makes the mark valid: both markets settle at 52,000.
        d.price(Fixture.btc, 52_000 * Fixture.usd, publishers: [0])
        #expect(d.engine.optionSettlements.isEmpty)
        d.price(Fixture.btc, 52_000 * Fixture.usd, publishers: [1])
        let settled = d.engine.takeOptionSettlements()
        #expect(settled.map(\.market) == [OptionsFixture.call, OptionsFixture.put])
        #expect(settled.map(\.valuePerUnit) == [2_000 * Fixture.usd, 0])
        #expect(settled.allSatisfy { $0.settlementPrice == 52_000 * Fixture.usd && $0.sequence == d.sequence })
        let value = FixedMath.mulDiv(Int128(q), 2_000 * Int128(Fixture.usd), FixedMath.quantityScale, .down)
        let after = (1...4).map { d.engine.accounts[UInt64($0)]!.collateral }
        #expect(after == [before[0] - value, before[1] + value, before[2], before[3]])
        #expect(d.engine.insuranceFund == fund + Int128(settled[0].residue))
        for a in d.engine.accounts.values { #expect(a.positions.isEmpty, "account \(a.id)") }
        #expect(d.engine.restingOrders(market: OptionsFixture.call, side: .sell).isEmpty)
        #expect(d.engine.accounts[1]!.openOrderCount == 0)
        #expect(d.engine.conservationResidual == Self.insurance)
    }

    /// docs/OPTIONS.md §10.5's loose ends. In the last hour the configured smile leaves the
    /// options unpriced (§10.8), so a short call cannot be liquidated while the underlying
    /// climbs 8 % a minute; settlement then runs after a refused input (an unknown
    /// account's cancel), cancels a resting order without a word to its owner, and leaves
    /// the short with negative collateral and no position: a debt that stays on the
    /// account, which is not liquidated, cannot withdraw, and is paid down by a deposit.
    @Test func settlementAfterARefusedInputLeavesAnInsolventShortInDebt() throws {
        var d = OptionsEngineTests.started()
        d.deposit(5, 10_000)
        d.trade(buyer: 1, seller: 5, OptionsFixture.call, quantity: Fixture.unit, price: d.optionPrice(OptionsFixture.call), id: "c")
        #expect(d.order(1, .buy, OptionsFixture.call, quantity: Fixture.unit, price: Fixture.usd, id: "rest").rejection == nil)
        #expect(d.engine.accounts[1]!.openOrderCount == 1)
        let step = 60 * Fixture.second
        var btc: Int64 = 50_000 * Fixture.usd
        func tick(advance: UInt64) {
            for p in 0..<3 {
                let a = p == 0 ? advance : 1_000
                d.apply(.oraclePrice(OraclePrice(market: Fixture.btc, price: btc, confidence: 0, publishTime: d.now + a,
                                                 publisher: Fixture.publishers[p], signature: [])), advance: a)
            }
        }
        tick(advance: OptionsFixture.expiry - 6 * step - 3 * Fixture.second - d.now)
        #expect((try? d.engine.mark(OptionsFixture.call, at: d.now).get()) == nil, "unpriced in the last hour")
        for _ in 0..<6 {
            btc = btc * 108 / 100 / Fixture.usd * Fixture.usd
            tick(advance: step)
        }
        #expect(d.engine.takeDecisions().isEmpty, "an unpriced account is not liquidated")
        let before = d.engine.accounts[5]!.collateral
        let outcome = d.apply(.request(account: 999, .cancel(try ClientOrderID("x"))), advance: 3 * Fixture.second)
        #expect(d.now >= OptionsFixture.expiry && outcome.rejection == .unknownAccount)
        let settled = try #require(d.engine.takeOptionSettlements().first)
        #expect(settled.sequence == d.sequence && settled.settlementPrice == btc)
        let paid = FixedMath.mulDiv(-Int128(Fixture.unit), Int128(btc - 50_000 * Fixture.usd), FixedMath.quantityScale, .down)
        let debt = d.engine.accounts[5]!.collateral
        #expect(debt == before + paid && debt < 0 && d.engine.accounts[5]!.positions.isEmpty)
        #expect(d.engine.accounts[1]!.openOrderCount == 0)
        #expect(d.cancel(1, "rest").rejection == .unknownOrder)
        #expect(d.apply(.request(account: 5, .withdraw(id: try ClientOrderID("w"), amount: 1))).rejection == .insufficientMargin)
        d.price(Fixture.btc, btc)
        #expect(d.engine.takeDecisions().isEmpty && d.engine.accounts[5]!.collateral == debt, "the debt stays")
        d.deposit(5, 1_000)
        #expect(d.engine.accounts[5]!.collateral == debt + 1_000 * Int128(Fixture.usd))
        #expect(d.engine.conservationResidual == Self.insurance)
    }

    /// The estimator samples the mark only at recorded oracle prices (docs/OPTIONS.md
    /// §10.4): a mark moved by a quote going stale, at a deposit, is not sampled there but
    /// at the next recorded price, at that price's event time.
    @Test func volatilitySamplesOnlyAtRecordedPrices() throws {
        var d = Driver(OptionsFixture.venue())
        func quote(_ p: Int, _ usd: Int64, advance: UInt64) {
            d.apply(.oraclePrice(OraclePrice(market: Fixture.btc, price: usd * Fixture.usd, confidence: 0,
                                             publishTime: d.now + advance, publisher: Fixture.publishers[p], signature: [])),
                    advance: advance)
        }
        var last: (price: Int64, time: UInt64)? { d.engine.options!.underlyings[0].volatility.last }
        quote(0, 50_000, advance: Fixture.second)
        #expect(last == nil, "one fresh publisher: no mark, no sample")
        quote(1, 50_000, advance: Fixture.second)
        let first = d.now
        #expect(last?.price == 50_000 * Fixture.usd && last?.time == first)
        quote(2, 52_000, advance: 5 * Fixture.second)
        #expect(last?.time == first, "the median did not move")
        // Publisher 0's quote is now 10.5 s old (stale), 1 and 2 are fresh: the mark is
        // their mean, 51,000, moved by time at a deposit.
        d.apply(.deposit(Deposit(accountID: 7, accountKey: [], amount: 1, depositID: 1, signature: [])),
                advance: 4_500_000_000)
        #expect(try d.engine.mark(Fixture.btc, at: d.now).get() == 51_000 * Fixture.usd)
        #expect(last?.price == 50_000 * Fixture.usd && last?.time == first, "no sample at a deposit")
        quote(0, 51_000, advance: Fixture.second)
        let mark = try d.engine.mark(Fixture.btc, at: d.now).get()
        #expect(last?.price == mark && last?.time == d.now, "sampled at the next recorded price")
    }

    /// Payers round up, receivers down: a settlement value that does not divide evenly
    /// leaves a residue in the fund, and money is still conserved.
    @Test func settlementRoundingGoesToTheFund() {
        var d = OptionsEngineTests.started()
        let q = Fixture.unit / 100 * 3
        d.trade(buyer: 2, seller: 3, OptionsFixture.call, quantity: q, price: d.optionPrice(OptionsFixture.call), id: "c")
        let fund = d.engine.insuranceFund
        d.apply(.deposit(Deposit(accountID: 5, accountKey: [], amount: 1, depositID: 99, signature: [])),
                advance: OptionsFixture.expiry - d.now)
        d.price(Fixture.btc, 50_000 * Fixture.usd + 333_333)
        let s = d.engine.takeOptionSettlements()
        #expect(s.first?.valuePerUnit == 333_333)
        // 0.03 × 333,333 = 9,999.99: the long gets 9,999, the short pays 10,000.
        #expect(s.first?.residue == 1)
        #expect(d.engine.insuranceFund == fund + 1)
        #expect(d.engine.conservationResidual == Self.insurance)
    }

    /// A seeded option-heavy stream: random orders on calls, puts and both perpetuals, a
    /// random walk of the oracle, and the expiry crossed near the end.
    static func stream(seed: UInt64, count: Int) -> [(EngineInput, UInt64)] {
        var rng = SplitMix64(seed: seed)
        var out: [(EngineInput, UInt64)] = []
        let step: UInt64 = 100_000_000
        var btc: Int64 = 50_000 * Fixture.usd
        for a: UInt64 in 1...12 {
            out.append((.deposit(Deposit(accountID: a, accountKey: [], amount: Int64(rng.next() % 12_000 + 3_000) * Fixture.usd,
                                         depositID: a, signature: [])), step))
        }
        func prices(_ advance: UInt64) {
            for pub in Fixture.publishers {
                out.append((.oraclePrice(OraclePrice(market: Fixture.btc, price: btc, confidence: 0, publishTime: 0,
                                                     publisher: pub, signature: [])), advance))
                out.append((.oraclePrice(OraclePrice(market: Fixture.eth, price: 3_000 * Fixture.usd, confidence: 0,
                                                     publishTime: 0, publisher: pub, signature: [])), step))
            }
        }
        prices(step)
        for i in 0..<count {
            let roll = rng.next() % 100
            let account = rng.next() % 12 + 1
            let expiryJump = i == count * 3 / 4
            if roll < 10 || expiryJump {
                btc = max(Fixture.usd, btc + (Int64(rng.next() % 201) - 100) * 20 * Fixture.usd)
                prices(expiryJump ? OptionsFixture.expiry : step)
                continue
            }
            let market = [OptionsFixture.call, OptionsFixture.put, OptionsFixture.call, Fixture.btc, Fixture.eth][Int(rng.next() % 5)]
            let (lo, hi, tick, lot): (Int64, Int64, Int64, Int64) = switch market {
            case OptionsFixture.call: (1_000, 7_000, Fixture.usd / 10, Fixture.unit / 100)
            case OptionsFixture.put: (1, 4_000, Fixture.usd / 10, Fixture.unit / 100)
            case Fixture.btc: (btc / Fixture.usd - 300, btc / Fixture.usd + 300, Fixture.usd / 10, Fixture.unit / 10_000)
            default: (2_950, 3_050, Fixture.usd / 100, Fixture.unit / 1_000)
            }
            if roll < 85 {
                let price = (Int64(rng.next() % UInt64(hi - lo)) + lo) * Fixture.usd / tick * tick
                let kind = rng.next() % 4
                out.append((.request(account: account, .newOrder(NewOrder(
                    clientOrderID: try! ClientOrderID("o\(i)"), market: market, side: rng.next() % 2 == 0 ? .buy : .sell,
                    type: .limit, timeInForce: kind == 0 ? .immediateOrCancel : .goodTillCancel, reduceOnly: kind == 1,
                    price: price, quantity: Int64(rng.next() % 30 + 1) * lot))), step))
            } else if roll < 95 {
                out.append((.request(account: account, .cancel(try! ClientOrderID("o\(i - Int(rng.next() % 50) - 1)"))), step))
            } else {
                out.append((.request(account: account, .withdraw(id: try! ClientOrderID("w\(i)"),
                                                                   amount: Int64(rng.next() % 3_000 + 1) * Fixture.usd)), step))
            }
        }
        return out
    }

    /// The stream's venue; with `escalating`, Greek limits on BTC of 0.1 BTC of delta that
    /// escalate at 1.2× (docs/OPTIONS.md §10.11), so the stream also takes greek-limit steps.
    static func streamVenue(escalating: Bool) -> VenueConfig {
        var venue = OptionsFixture.venue(makerBps: 1, takerBps: 5)
        if escalating {
            venue.options!.underlyings[0].greekLimits = GreekLimitsConfig(maxAbsDelta: 10_000_000, maxAbsGamma: 1 << 62,
                                                                           escalationBps: 12_000)
        }
        return venue
    }

    /// Two engines (and a third restored from a snapshot taken mid-stream) given the same
    /// stream reach the same state; money is conserved at every event, settlement included.
    @Test(arguments: [(21, false), (23, false), (21, true), (23, true)] as [(UInt64, Bool)])
    func optionStreamsAreDeterministicAndConserveMoney(seed: UInt64, escalating: Bool) throws {
        let events = Self.stream(seed: seed, count: 800)
        let venue = Self.streamVenue(escalating: escalating)
        var a = Driver(venue)
        var b = Driver(venue)
        var restored: Driver?
        var optionFills = 0
        for (k, (input, advance)) in events.enumerated() {
            var stamped = input
            if case .oraclePrice(var p) = input {
                p.publishTime = a.now + advance
                stamped = .oraclePrice(p)
            }
            let outcome = a.apply(stamped, advance: advance)
            #expect(b.apply(stamped, advance: advance) == outcome)
            if restored != nil { #expect(restored!.apply(stamped, advance: advance) == outcome) }
            optionFills += outcome.report?.fills.filter { $0.market > 100 }.count ?? 0
            #expect(a.engine.conservationResidual == Self.insurance, "event \(k)")
            if k == events.count / 2 {
                var r = Driver(venue)
                r.engine = try PerpEngine(snapshot: a.engine.snapshot(), config: venue)
                r.sequence = a.sequence
                r.now = a.now
                restored = r
            }
        }
        #expect(a.engine.canonicalState() == b.engine.canonicalState())
        #expect(a.engine.snapshot() == b.engine.snapshot())
        #expect(restored!.engine.canonicalState() == a.engine.canonicalState())
        #expect(restored!.engine.snapshot() == a.engine.snapshot())
        #expect(a.engine.decisions == b.engine.decisions)
        #expect(optionFills > 30, "the stream trades options (\(optionFills) fills)")
        #expect(!a.engine.decisions.isEmpty, "the stream liquidates (\(a.engine.decisions.count) decisions)")
        #expect(a.engine.optionSettlements.count == 2, "the stream crosses the expiry")
        let greek = a.engine.decisions.filter { $0.reason == .greekLimit }.count
        #expect(escalating ? greek > 0 : greek == 0, "\(greek) greek-limit decisions")
        for acc in a.engine.accounts.values { #expect(acc.position(OptionsFixture.call) == 0) }
    }
}

/// A volatility spike: the oracle swings ±4 % every second, the EWMA rises, the scan range
/// widens, and exactly the short-call accounts the reference finds below maintenance at
/// each tick are liquidated there.
@Suite("Options volatility spike")
struct OptionsVolatilitySpikeTests {
    @Test func spikeLiquidatesExactlyTheAccountsTheReferenceFinds() throws {
        var d = Driver(OptionsFixture.venue())
        let u = OptionsConfigTests.options().underlyings[0].realizedVolatility
        var reference = try RealizedVolatility(halfLifeNanos: u.halfLifeNanos, minIntervalNanos: u.minIntervalNanos,
                                               initialVariance: u.initialVariance)
        func tick(_ price: Int64, advance: UInt64) {
            for p in 0..<3 {
                d.apply(.oraclePrice(OraclePrice(market: Fixture.btc, price: price, confidence: 0, publishTime: d.now + (p == 0 ? advance : 1_000),
                                                 publisher: Fixture.publishers[p], signature: [])), advance: p == 0 ? advance : 1_000)
                if case .success(let m) = d.engine.mark(Fixture.btc, at: d.now), m != reference.last?.price {
                    try? reference.update(price: m, time: d.now)
                }
            }
        }
        tick(50_000 * Fixture.usd, advance: 1_000)
        d.price(Fixture.eth, 3_000 * Fixture.usd)
        d.deposit(1, OptionsEngineTests.big)
        let shorts: [UInt64] = Array(10...17)
        let factors: [Int128] = [131, 140, 155, 170, 190, 220, 300, 500]
        for (k, a) in shorts.enumerated() {
            d.deposit(a, 200_000)
            d.trade(buyer: 1, seller: a, OptionsFixture.call, quantity: Fixture.unit, price: d.optionPrice(OptionsFixture.call),
                    id: "\(a)")
            guard case .success(let h) = d.engine.health(a, now: d.now) else { Issue.record("no health"); return }
            let target = h.maintenanceRequirement * factors[k] / 100
            #expect(d.apply(.request(account: a, .withdraw(id: try! ClientOrderID("w\(a)"), amount: Int64(h.equity - target))))
                .rejection == nil)
        }
        #expect(d.engine.decisions.isEmpty)
        let calm = try #require(try? d.engine.health(17, now: d.now).get()).maintenanceRequirement
        var liquidated = Set<UInt64>()
        for swing in 0..<40 {
            let price = (swing % 2 == 0 ? 52_000 : 50_000) * Fixture.usd
            for p in 0..<3 {
                let before = d.engine.accounts.values.filter { shorts.contains($0.id) }
                let advance: UInt64 = p == 0 ? Fixture.second : 1_000
                d.apply(.oraclePrice(OraclePrice(market: Fixture.btc, price: price, confidence: 0, publishTime: d.now + advance,
                                                 publisher: Fixture.publishers[p], signature: [])), advance: advance)
                guard case .success(let mark) = d.engine.mark(Fixture.btc, at: d.now) else { continue }
                if mark != reference.last?.price { try? reference.update(price: mark, time: d.now) }
                #expect(d.engine.options!.underlyings[0].volatility == reference, "the EWMA follows the marks")
                var expected = Set<UInt64>()
                let arrays = try OptionsFixture.referenceArrays(btc: mark, now: d.now, volatility: reference.volatility)
                for a in before where !a.positions.isEmpty {
                    let h = try OptionsFixture.referenceHealth(a, arrays: arrays, eth: 3_000 * Fixture.usd)
                    if h.equity < h.maintenanceRequirement { expected.insert(a.id) }
                }
                let taken = Set(d.engine.takeDecisions().map { UInt64(bigEndianBytes: $0.accountCommitment) })
                #expect(taken == expected, "swing \(swing) publisher \(p)")
                liquidated.formUnion(taken)
            }
        }
        tick(50_000 * Fixture.usd, advance: Fixture.second)
        let spiked = try #require(try? d.engine.health(17, now: d.now).get()).maintenanceRequirement
        #expect(reference.volatility > Fixed(ratio: 9, 10), "realized volatility rose (\(reference.volatility))")
        #expect(spiked > calm, "the widened scan range raised the requirement (\(calm) → \(spiked))")
        #expect(!liquidated.isEmpty && liquidated.count < shorts.count, "liquidated \(liquidated.sorted())")
    }
}

extension UInt64 {
    init(bigEndianBytes b: [UInt8]) { self = b.reduce(0) { $0 << 8 | UInt64($1) } }
}

/// Liquidating a portfolio closes first the position whose removal lowers the
/// requirement most (docs/OPTIONS.md §10.6), here in a delta-hedged short call.
@Suite("Options portfolio liquidation")
struct OptionsPortfolioLiquidationTests {
    @Test func closesThePositionThatLowersTheRequirementMost() throws {
        var d = OptionsEngineTests.started()
        d.deposit(5, 200_000)
        d.trade(buyer: 1, seller: 5, OptionsFixture.call, quantity: Fixture.unit, price: d.optionPrice(OptionsFixture.call), id: "c")
        d.trade(buyer: 5, seller: 1, Fixture.btc, quantity: Fixture.unit / 2, price: 50_000 * Fixture.usd, id: "p")
        let h = try d.engine.health(5, now: d.now).get()
        let withdrawal = h.equity - h.maintenanceRequirement * 131 / 100
        #expect(d.apply(.request(account: 5, .withdraw(id: try! ClientOrderID("w"), amount: Int64(withdrawal)))).rejection == nil)
        var price: Int64 = 50_000 * Fixture.usd
        for _ in 0..<12 {
            price += 1_500 * Fixture.usd
            for p in 0..<3 {
                let before = d.engine.accounts[5]!
                d.apply(.oraclePrice(OraclePrice(market: Fixture.btc, price: price, confidence: 0, publishTime: d.now + 1_000,
                                                 publisher: Fixture.publishers[p], signature: [])))
                guard let decision = d.engine.takeDecisions().first(where: { UInt64(bigEndianBytes: $0.accountCommitment) == 5 })
                else { continue }
                let mark = try d.engine.mark(Fixture.btc, at: d.now).get()
                let arrays = try OptionsFixture.referenceArrays(btc: mark, now: d.now, volatility: d.volatility)
                // The reference choice: each position closed at its mark, the lowest requirement after.
                var best: (requirement: Int128, market: UInt32)?
                for (k, position) in before.positions.enumerated() {
                    let positionMark = position.market == Fixture.btc ? mark : Int64(arrays.greeks[1].price.floor)
                    var after = before
                    after.positions.remove(at: k)
                    after.collateral += FixedMath.notional(price: positionMark, quantity: position.size, .down)
                    let r = try OptionsFixture.referenceHealth(after, arrays: arrays, eth: 3_000 * Fixture.usd).maintenanceRequirement
                    if best == nil || r < best!.requirement { best = (r, position.market) }
                }
                let reference = try OptionsFixture.referenceHealth(before, arrays: arrays, eth: 3_000 * Fixture.usd)
                #expect(reference.equity < reference.maintenanceRequirement)
                #expect(decision.market == best?.market)
                #expect(decision.maintenanceRequirement == Int64(reference.maintenanceRequirement))
                #expect(decision.market == OptionsFixture.call, "the short call, not its hedge, goes first")
                return
            }
        }
        Issue.record("account 5 was never liquidated")
    }
}
