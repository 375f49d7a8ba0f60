@testable import Engine
import Options
import Wire

/// A venue with options on BTC (call 101 at 50,000, put 102 at 45,000, both expiring at
/// 30 days of enclave time) and the reference computations the options tests compare
/// the engine against, written from docs/OPTIONS.md §10 with the Options module's pure
/// functions.
enum OptionsFixture {
    static let call: UInt32 = 101
    static let put: UInt32 = 102
    static let expiry = OptionsConfigTests.expiry

    static func venue(makerBps: Int64 = 0, takerBps: Int64 = 0) -> VenueConfig {
        var config = Fixture.venue(makerBps: makerBps, takerBps: takerBps)
        config.options = OptionsConfigTests.options()
        return config
    }

    /// An account's health as docs/OPTIONS.md §10.3 defines it, from its positions and
    /// collateral, the BTC mark `f` (ETH at `eth`), `now` and the volatility estimate.
    static func referenceHealth(
        _ account: Account, btc f: Int64, eth: Int64?, now: UInt64, volatility: Fixed
    ) throws -> PerpEngine.Health {
        try referenceHealth(account, arrays: referenceArrays(btc: f, now: now, volatility: volatility), eth: eth)
    }

    /// The BTC risk arrays of §10.2 at `now` rounded down to the second and the oracle's
    /// aggregated `confidence` (once per state: they cost a Black-76 price per series and
    /// scenario).
    static func referenceArrays(btc f: Int64, now: UInt64, volatility: Fixed, confidence: Int64 = 0) throws -> RiskArrays {
        let u = OptionsConfigTests.options().underlyings[0]
        var smiles: [UInt64: SVIParameters] = [:]
        for s in u.smiles { smiles[s.expiry] = s.parameters }
        return try RiskArrays(
            state: UnderlyingState(mark: f, confidence: confidence, now: now / 1_000_000_000 * 1_000_000_000, realizedVolatility: volatility,
                                   smiles: smiles),
            series: OptionsConfigTests.options().markets.sorted { $0.id < $1.id }.map(\.series), config: u.margin.marginConfig)
    }

    static func referenceHealth(_ account: Account, arrays: RiskArrays, eth: Int64?) throws -> PerpEngine.Health {
        let o = OptionsConfigTests.options()
        let u = o.underlyings[0]
        let listed = o.markets.sorted { $0.id < $1.id }
        let f = arrays.mark
        var h = PerpEngine.Health(equity: account.collateral, initialRequirement: 0, maintenanceRequirement: 0)
        let holdsOption = account.positions.contains { $0.market == call || $0.market == put }
        var portfolio: [MarginPosition] = []
        for p in account.positions {
            if let k = listed.firstIndex(where: { $0.id == p.market }) {
                let value = Int64(arrays.greeks[k + 1].price.floor)
                h.equity += FixedMath.notional(price: value, quantity: p.size, .down)
                portfolio.append(MarginPosition(instrument: k + 1, size: p.size))
                continue
            }
            let mark = p.market == Fixture.btc ? f : eth!
            let tier: (Int64, Int64) = p.market == Fixture.btc ? (500, 300) : (1_000, 500)
            h.equity += FixedMath.notional(price: mark, quantity: p.size, .down)
            if p.market == Fixture.btc && holdsOption {
                portfolio.append(MarginPosition(instrument: 0, size: p.size))
            } else {
                h.initialRequirement += Margin.requirement(price: mark, quantity: p.size, bps: tier.0)
                h.maintenanceRequirement += Margin.requirement(price: mark, quantity: p.size, bps: tier.1)
            }
        }
        if holdsOption {
            let r = try PortfolioMargin.evaluate(portfolio, arrays: arrays, config: u.margin.marginConfig)
            h.initialRequirement += r.initial
            h.maintenanceRequirement += r.maintenance
        }
        return h
    }
}

extension Driver {
    /// The option market's mark now, rounded down to `tick`.
    mutating func optionPrice(_ market: UInt32, tick: Int64 = Fixture.usd / 10) -> Int64 {
        guard case .success(let m) = engine.mark(market, at: now) else { return tick }
        return max(tick, m / tick * tick)
    }

    /// `seller` rests a sell of `quantity` at `price`, `buyer` takes it (IOC).
    mutating func trade(buyer: UInt64, seller: UInt64, _ market: UInt32, quantity: Int64, price: Int64, id: String) {
        order(seller, .sell, market, quantity: quantity, price: price, id: "s" + id)
        order(buyer, .buy, market, quantity: quantity, price: price, id: "b" + id, tif: .immediateOrCancel)
        cancel(seller, "s" + id)
    }

    var volatility: Fixed { engine.options!.underlyings[0].volatility.volatility }
}
