@testable import Engine
import Options
import Testing
import Wire

/// The per-account Greeks the engine maintains incrementally (docs/OPTIONS.md §10.12):
/// after every event they equal a from-scratch computation of §7.7 from the account's
/// positions and reference risk arrays, across a snapshot restore too; a tick
/// re-evaluates only the accounts holding an option on the ticked underlying.
@Suite("Per-account Greeks, incremental")
struct GreekBookTests {
    /// §7.7 from scratch for every account of `d`: positions, and arrays built by the
    /// test's reference (`OptionsFixture.referenceArrays`) at the BTC mark, the second and
    /// the estimator's volatility; nil Greeks while BTC has no valid mark.
    static func reference(_ d: inout Driver, cache: inout [String: RiskArrays]) throws -> [UInt64: [UnderlyingGreeks]] {
        let listed = OptionsConfigTests.options().markets.sorted { $0.id < $1.id }
        let mark = try? d.engine.mark(Fixture.btc, at: d.now).get()
        var arrays: RiskArrays?
        if let mark {
            let key = "\(mark)/\(d.now / Fixture.second)/\(d.volatility.raw)"
            if cache[key] == nil { cache[key] = try OptionsFixture.referenceArrays(btc: mark, now: d.now, volatility: d.volatility) }
            arrays = cache[key]
        }
        var out: [UInt64: [UnderlyingGreeks]] = [:]
        for account in d.engine.accounts.values {
            var positions: [MarginPosition] = []
            var holdsOption = false
            for p in account.positions where p.size != 0 {
                if p.market == Fixture.btc { positions.append(MarginPosition(instrument: 0, size: p.size)) }
                if let k = listed.firstIndex(where: { $0.id == p.market }) {
                    positions.append(MarginPosition(instrument: k + 1, size: p.size))
                    holdsOption = true
                }
            }
            guard holdsOption else { continue }
            let greeks = try arrays.map { try PortfolioMargin.greeks(positions, arrays: $0) }
            out[account.id] = [UnderlyingGreeks(underlying: Fixture.btc, greeks: greeks)]
        }
        return out
    }

    /// A randomized option-heavy stream (trades on two options and two perpetuals, BTC
    /// moves, liquidations, a jump past the expiry and its settlement): the book equals
    /// the reference after every event, and an engine restored from a mid-stream snapshot
    /// keeps the same book as the original from its first event on.
    @Test(arguments: [21, 23, 31] as [UInt64])
    func theBookEqualsARecomputationAfterEveryEvent(seed: UInt64) throws {
        let events = OptionsLifecycleTests.stream(seed: seed, count: 500)
        let venue = OptionsLifecycleTests.streamVenue(escalating: seed == 23)
        var a = Driver(venue)
        var restored: Driver?
        var cache: [String: RiskArrays] = [:]
        var held = 0
        var mismatches = 0
        for (k, (input, advance)) in events.enumerated() {
            var stamped = input
            if case .oraclePrice(var p) = input {
                p.publishTime = a.now + advance
                stamped = .oraclePrice(p)
            }
            a.apply(stamped, advance: advance)
            if restored != nil { restored!.apply(stamped, advance: advance) }
            let expected = try Self.reference(&a, cache: &cache)
            for account in a.engine.accounts.values {
                let book = a.engine.portfolioGreeks(of: account.id)
                if book != (expected[account.id] ?? []) { mismatches += 1 }
                #expect(book == (expected[account.id] ?? []), "event \(k), account \(account.id)")
                if let r = restored { #expect(r.engine.portfolioGreeks(of: account.id) == book, "restored, event \(k)") }
                if !book.isEmpty { held += 1 }
            }
            if mismatches > 5 { break }
            if k == events.count / 3 {
                var r = Driver(venue)
                r.engine = try PerpEngine(snapshot: a.engine.snapshot(), config: venue)
                r.sequence = a.sequence
                r.now = a.now
                #expect(r.engine.portfolioGreeks(of: 1).isEmpty, "rebuilt at the first event after the restore")
                restored = r
            }
        }
        #expect(held > 500, "the stream holds options (\(held) account-events)")
        #expect(a.engine.optionSettlements.count == 2, "the stream crosses the expiry")
    }

    /// An ETH tick (no option on ETH) re-evaluates nobody; a BTC tick that moves the mark
    /// re-evaluates the two accounts holding the BTC call, not the cash account.
    @Test func aTickReevaluatesOnlyTheTickedUnderlyingsHolders() throws {
        var d = MarginCallEngineTests.started(OptionsFixture.venue())
        d.deposit(4, 10_000)
        d.order(4, .buy, Fixture.eth, quantity: Fixture.unit / 10, price: 3_000 * Fixture.usd, id: "e1")
        d.order(3, .sell, Fixture.eth, quantity: Fixture.unit / 10, price: 3_000 * Fixture.usd, id: "e2")
        #expect(d.engine.accounts[4]!.position(Fixture.eth) == Fixture.unit / 10)
        d.apply(.deposit(Deposit(accountID: 3, accountKey: [], amount: 1, depositID: 900, signature: [])))
        let before = d.engine.greekBook!.evaluations
        d.price(Fixture.eth, 3_010 * Fixture.usd)
        #expect(d.engine.greekBook!.evaluations == before, "an ETH tick touches no BTC option holder")
        d.price(Fixture.btc, 50_100 * Fixture.usd)
        #expect(d.engine.greekBook!.evaluations == before + 2, "one mark change, two holders")
        #expect(d.engine.greekBook!.members[0].count == 2)
        var cache: [String: RiskArrays] = [:]
        let expected = try Self.reference(&d, cache: &cache)
        for id: UInt64 in 1...4 { #expect(d.engine.portfolioGreeks(of: id) == (expected[id] ?? [])) }
    }
}
