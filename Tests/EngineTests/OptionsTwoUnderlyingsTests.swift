@testable import Engine
import Options
import Testing

/// An account holding options on two underlyings has one portfolio per underlying
/// (docs/OPTIONS.md §10.3), each with its perpetual on that underlying as instrument 0,
/// margined by `PortfolioMargin.evaluate` on that underlying's arrays; a perpetual whose
/// underlying the account holds no option on keeps the linear requirement. The engine
/// builds all of an account's portfolio positions in one buffer and copies each
/// underlying's out of it only when there are several (§10.12 "Cost"): this pins that
/// grouping against a per-underlying recomputation.
@Suite("Options on two underlyings")
struct OptionsTwoUnderlyingsTests {
    static let ethCall: UInt32 = 201
    static let ethPut: UInt32 = 202

    /// The options fixture's venue with ETH as a second underlying listing a call and a put.
    static func venue() -> VenueConfig {
        var v = OptionsFixture.venue()
        var eth = v.options!.underlyings[0]
        eth.market = Fixture.eth
        eth.smiles = eth.smiles.map {
            var s = $0
            s.a = 30_000_000
            return s
        }
        v.options!.underlyings.append(eth)
        let expiry = OptionsConfigTests.expiry
        v.options!.markets += [
            OptionMarketConfig(id: ethCall, symbol: "ETH-30D-3000-C", underlying: Fixture.eth, kind: .call,
                               strike: 3_000 * Fixture.usd, expiry: expiry, contractSize: Fixture.unit / 100,
                               tickSize: Fixture.usd / 100),
            OptionMarketConfig(id: ethPut, symbol: "ETH-30D-2800-P", underlying: Fixture.eth, kind: .put,
                               strike: 2_800 * Fixture.usd, expiry: expiry, contractSize: Fixture.unit / 100,
                               tickSize: Fixture.usd / 100),
        ]
        return v
    }

    /// §10.3 from the account's positions and the engine's own risk arrays of each
    /// underlying (what is tested is how the positions are grouped into portfolios, not
    /// the arrays): equity at the marks, one `evaluate` per underlying with an option
    /// position, the linear requirement for the other perpetuals.
    static func reference(_ d: inout Driver, _ id: UInt64) throws -> PerpEngine.Health {
        let account = d.engine.accounts[id]!
        let config = venue()
        var h = PerpEngine.Health(equity: account.collateral, initialRequirement: 0, maintenanceRequirement: 0)
        var arrays: [RiskArrays] = []
        for u in config.options!.underlyings.indices {
            guard case .success(let a) = d.engine.underlyingArrays(u, at: d.now) else { throw ReferenceError.unpriced }
            arrays.append(a.0)
        }
        func option(_ market: UInt32) -> (u: Int, instrument: Int)? {
            guard let m = config.options!.markets.first(where: { $0.id == market }) else { return nil }
            let u = config.options!.underlyings.firstIndex { $0.market == m.underlying }!
            let i = arrays[u].series.firstIndex(of: m.series)!
            return (u, i + 1)
        }
        let holds = arrays.indices.map { u in account.positions.contains { p in p.size != 0 && option(p.market)?.u == u } }
        var portfolios = Array(repeating: [MarginPosition](), count: arrays.count)
        for p in account.positions where p.size != 0 {
            if let (u, i) = option(p.market) {
                h.equity += FixedMath.notional(price: Int64(arrays[u].greeks[i].price.floor), quantity: p.size, .down)
                portfolios[u].append(MarginPosition(instrument: i, size: p.size))
                continue
            }
            guard case .success(let mark) = d.engine.mark(p.market, at: d.now) else { throw ReferenceError.unpriced }
            h.equity += FixedMath.notional(price: mark, quantity: p.size, .down)
            if let u = config.options!.underlyings.firstIndex(where: { $0.market == p.market }), holds[u] {
                portfolios[u].append(MarginPosition(instrument: 0, size: p.size))
            } else {
                let market = config.markets.first { $0.id == p.market }!
                let tier = config.marginTiers.first { $0.name == market.tier }!
                h.initialRequirement += Margin.requirement(price: mark, quantity: p.size, bps: tier.initialBps)
                h.maintenanceRequirement += Margin.requirement(price: mark, quantity: p.size, bps: tier.maintenanceBps)
            }
        }
        for u in arrays.indices where holds[u] {
            let r = try PortfolioMargin.evaluate(
                portfolios[u], arrays: arrays[u], config: config.options!.underlyings[u].margin.marginConfig)
            h.initialRequirement += r.initial
            h.maintenanceRequirement += r.maintenance
        }
        return h
    }

    enum ReferenceError: Error { case unpriced }

    /// Writers of options on both underlyings, with and without their perpetuals, and one
    /// holding options on ETH beside a BTC perpetual: every account's health equals the
    /// per-underlying recomputation, before and after both marks move, then each alone
    /// (account 2's fifth position keys the health memo beyond its four inline keys).
    @Test func eachUnderlyingIsItsOwnPortfolio() throws {
        var d = Driver(Self.venue())
        d.price(Fixture.btc, 50_000 * Fixture.usd)
        d.price(Fixture.eth, 3_000 * Fixture.usd)
        d.deposit(1, 10_000_000)
        for a: UInt64 in 2...4 { d.deposit(a, 200_000) }
        let lot = Fixture.unit / 100
        // 2: short the BTC call and the ETH call, long both perpetuals, long the ETH put.
        d.trade(buyer: 1, seller: 2, OptionsFixture.call, quantity: 10 * lot, price: d.optionPrice(OptionsFixture.call),
                id: "1")
        d.trade(buyer: 1, seller: 2, Self.ethCall, quantity: 30 * lot,
                price: d.optionPrice(Self.ethCall, tick: Fixture.usd / 100), id: "2")
        d.trade(buyer: 2, seller: 1, Self.ethPut, quantity: 20 * lot,
                price: d.optionPrice(Self.ethPut, tick: Fixture.usd / 100), id: "3")
        d.trade(buyer: 2, seller: 1, Fixture.btc, quantity: 5 * lot, price: 50_000 * Fixture.usd, id: "4")
        d.trade(buyer: 2, seller: 1, Fixture.eth, quantity: 50 * lot, price: 3_000 * Fixture.usd, id: "5")
        // 3: long the BTC put and short the ETH call, no perpetual.
        d.trade(buyer: 3, seller: 1, OptionsFixture.put, quantity: 10 * lot, price: d.optionPrice(OptionsFixture.put),
                id: "6")
        d.trade(buyer: 1, seller: 3, Self.ethCall, quantity: 10 * lot,
                price: d.optionPrice(Self.ethCall, tick: Fixture.usd / 100), id: "7")
        // 4: the ETH put and a BTC perpetual (linear: no BTC option).
        d.trade(buyer: 4, seller: 1, Self.ethPut, quantity: 10 * lot,
                price: d.optionPrice(Self.ethPut, tick: Fixture.usd / 100), id: "8")
        d.trade(buyer: 1, seller: 4, Fixture.btc, quantity: 3 * lot, price: 50_000 * Fixture.usd, id: "9")
        #expect(d.engine.accounts[2]!.positions.count == 5 && d.engine.accounts[3]!.positions.count == 2
            && d.engine.accounts[4]!.positions.count == 2, "every trade filled")
        for (btc, eth) in [(50_000, 3_000), (51_000, 2_950), (48_500, 3_080), (48_500, 3_120), (49_000, 3_120)]
            as [(Int64, Int64)] {
            d.price(Fixture.btc, btc * Fixture.usd)
            d.price(Fixture.eth, eth * Fixture.usd)
            for id: UInt64 in 2...4 {
                guard case .success(let h) = d.engine.health(id, now: d.now) else {
                    Issue.record("no health for \(id)")
                    continue
                }
                let reference = try Self.reference(&d, id)
                #expect(h == reference, "account \(id) at BTC \(btc), ETH \(eth)")
                #expect(h.maintenanceRequirement > 0)
            }
        }
    }
}
