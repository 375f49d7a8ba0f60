import TestSupport
import Testing
@testable import Engine
import Wire

/// A seeded stream of realistic events: deposits, a random-walk oracle, limit/IOC/
/// post-only/market/reduce-only orders around the mark, cancels and withdrawals.
func randomEvents(seed: UInt64, count: Int, accounts: UInt64 = 20) -> [EngineInput] {
    var rng = SplitMix64(seed: seed)
    var out: [EngineInput] = []
    var prices: [UInt32: Int64] = [Fixture.btc: 60_000 * Fixture.usd, Fixture.eth: 3_000 * Fixture.usd]
    var depositID: UInt64 = 0
    var orderIDs: [UInt64: [String]] = [:]
    for a in 1...accounts {
        depositID += 1
        out.append(.deposit(Deposit(accountID: a, accountKey: [], amount: Int64(rng.next() % 50_000 + 1_000) * Fixture.usd,
                                    depositID: depositID, signature: [])))
    }
    for i in 0..<count {
        let roll = rng.next() % 100
        let market: UInt32 = rng.next() % 3 == 0 ? Fixture.eth : Fixture.btc
        let tick: Int64 = market == Fixture.btc ? Fixture.usd / 10 : Fixture.usd / 100
        let step: Int64 = market == Fixture.btc ? Fixture.unit / 10_000 : Fixture.unit / 1_000
        let account = rng.next() % accounts + 1
        if roll < 12 {
            // Random walk ±0.5%, every publisher.
            let p = prices[market]!
            let move = Int64(rng.next() % 101) - 50
            let next = max(tick, (p + p / 10_000 * move) / tick * tick)
            prices[market] = next
            // The driver stamps event k at 1,000 s + k × 100 ms: publish at the event's own time.
            for pub in Fixture.publishers {
                let at = 1_000 * Fixture.second + UInt64(out.count + 1) * 100_000_000
                out.append(.oraclePrice(OraclePrice(market: market, price: next, confidence: 0, publishTime: at, publisher: pub, signature: [])))
            }
        } else if roll < 75 {
            let side: Side = rng.next() % 2 == 0 ? .buy : .sell
            let offsetTicks = Int64(rng.next() % 40) - 20
            let price = max(tick, prices[market]! / tick * tick + offsetTicks * tick)
            let quantity = Int64(rng.next() % 200 + 1) * step
            let id = "o\(i)"
            let kinds = rng.next() % 10
            let type: OrderType = kinds == 0 ? .market : .limit
            let tif: TimeInForce = kinds == 1 ? .immediateOrCancel : kinds == 2 ? .postOnly : .goodTillCancel
            let reduceOnly = kinds == 3
            out.append(.request(account: account, .newOrder(NewOrder(
                clientOrderID: try! ClientOrderID(id), market: market, side: side, type: type, timeInForce: tif,
                reduceOnly: reduceOnly, price: price, quantity: quantity))))
            orderIDs[account, default: []].append(id)
        } else if roll < 92 {
            if let ids = orderIDs[account], !ids.isEmpty {
                out.append(.request(account: account, .cancel(try! ClientOrderID(ids[Int(rng.next() % UInt64(ids.count))]))))
            }
        } else if roll < 96 {
            out.append(.request(account: account, .withdraw(id: try! ClientOrderID("w\(i)"), amount: Int64(rng.next() % 5_000 + 1) * Fixture.usd)))
        } else {
            depositID += 1
            out.append(.deposit(Deposit(accountID: account, accountKey: [], amount: Int64(rng.next() % 10_000 + 1) * Fixture.usd,
                                        depositID: depositID, signature: [])))
        }
    }
    return out
}

@Suite("Engine properties")
struct PropertyTests {
    /// Money is only moved: Σ collateral + fee pool + insurance − (deposits − withdrawals)
    /// stays equal to the opening insurance fund after every event; positions net to
    /// zero in every market after every event.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func conservationAcrossRandomRuns(seed: UInt64) {
        let config = Fixture.venue(makerBps: 1, takerBps: 5)
        var d = Driver(config)
        let initial = Int128(config.liquidation.insuranceFund)
        var fills = 0
        for input in randomEvents(seed: seed, count: 4_000) {
            let outcome = d.apply(input, advance: 100_000_000)
            fills += outcome.report?.fills.count ?? 0
            #expect(d.engine.conservationResidual == initial)
            for market in [Fixture.btc, Fixture.eth] {
                let net = d.engine.accounts.values.reduce(Int64(0)) { $0 + $1.position(market) }
                #expect(net == 0)
            }
        }
        #expect(fills > 1_000, "the stream trades (\(fills) fills)")
        #expect(d.engine.feePool > 0)
    }

    /// No fill ever takes an account that adds risk below initial margin.
    @Test func tradingNeverBreachesInitialMarginWhenAddingRisk() {
        var d = Driver(Fixture.venue(makerBps: 1, takerBps: 5))
        var checked = 0
        for input in randomEvents(seed: 42, count: 3_000) {
            let before = d.engine.accounts.mapValues { $0.positions.map(\.size) }
            d.apply(input, advance: 100_000_000)
            guard case .request = input else { continue }
            for (id, account) in d.engine.accounts.sorted(by: { $0.key < $1.key }) {
                let grew = zip(account.positions.map(\.size), before[id] ?? []).contains { $0.magnitude > $1.magnitude }
                    || account.positions.count > (before[id]?.count ?? 0)
                guard grew, case .success(let h) = d.engine.health(id, now: d.now) else { continue }
                checked += 1
                #expect(h.equity >= h.initialRequirement, "account \(id)")
            }
        }
        #expect(checked > 100, "the stream adds risk often enough to test (\(checked) checks)")
    }

    /// The same events give byte-identical outcomes and state.
    @Test func replayIsByteIdentical() {
        let events = randomEvents(seed: 7, count: 3_000)
        func run() -> ([EngineOutcome], [UInt8]) {
            var d = Driver(Fixture.venue(makerBps: 1, takerBps: 5))
            let outcomes = events.map { d.apply($0, advance: 100_000_000) }
            return (outcomes, d.engine.canonicalState())
        }
        let (o1, s1) = run()
        let (o2, s2) = run()
        #expect(o1 == o2)
        #expect(s1 == s2)
        #expect(o1.contains { ($0.report?.fills.count ?? 0) > 0 }, "the replay trades")
    }
}
