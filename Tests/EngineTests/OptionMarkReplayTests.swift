import Testing
@testable import Engine
import Options
import TestSupport
import Wire

private let D = Fixture.usd
private let S = Fixture.second

/// `OptionMarkReplay` (what `verify-outputs` check 24a runs on public inputs) against the
/// engine itself: the same events, every option mark compared after every event, the
/// realized-volatility estimator's whole state, and the market data view at random batch
/// closes. The streams move and jump the underlying, let its quotes go stale, send signed
/// smiles (newer, older, from every publisher, for listed and unlisted expiries, valid and
/// invalid, fresh and stale) and let a near series expire (its configured smile then
/// implies σ > 16 before expiry: the underlying's options are unpriced for a while).
@Suite("Option marks from public inputs")
struct OptionMarkReplayTests {
    static let nearExpiry: UInt64 = 1_400 * S

    static func venue() -> VenueConfig {
        OptionsConfigTests.venue { o in
            o.markets.append(OptionMarketConfig(
                id: 103, symbol: "BTC-NEAR-60000-C", underlying: Fixture.btc, kind: .call, strike: 60_000 * D,
                expiry: nearExpiry, contractSize: Fixture.unit / 100, tickSize: D / 10))
            o.underlyings[0].smiles.append(SmileConfig(expiry: nearExpiry, a: 20_000_000, b: 100_000_000, rho: -300_000_000,
                                                       m: 0, sigma: 100_000_000))
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func replayMatchesTheEngine(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var d = Driver(Self.venue())
        var replay = try OptionMarkReplay(config: d.engine.config)
        var level: Int64 = 60_000 * D
        let expiries = [OptionsConfigTests.expiry, Self.nearExpiry, Self.nearExpiry + S]  // the last is not listed
        var compared = 0, priced = 0, unpriced = 0
        for _ in 0..<900 {
            let advance = [UInt64(1_000), S / 2, 2 * S, 4 * S, 11 * S][Int(rng.next() % 5)]
            switch rng.next() % 100 {
            case 0..<65:
                if rng.next() % 25 == 0 { level = level * (rng.next() % 2 == 0 ? 12 : 8) / 10 }
                let price = level + Int64(rng.next() % 200) * D / 10 - 10 * D
                let time = rng.next() % 15 == 0 ? d.now : d.now + advance
                let p = OraclePrice(market: Fixture.btc, price: price, confidence: 0, publishTime: time,
                                    publisher: Fixture.publishers[Int(rng.next() % 3)], signature: [])
                d.apply(.oraclePrice(p), advance: advance)
                replay.apply(.oraclePrice(p), at: d.now)
            case 65..<80:
                let a = Int64(rng.next() % 150_000_000) - 20_000_000  // some fail §5.2 (negative minimum variance)
                let late = rng.next() % 6 == 0 ? 90 * S : 0  // beyond the 60 s staleness limit: recorded, yet stale
                let s = OracleSmile(underlying: rng.next() % 20 == 0 ? 2 : Fixture.btc,
                                    expiry: expiries[Int(rng.next() % 3)], a: a, b: 100_000_000, rho: -300_000_000, m: 0,
                                    sigma: 100_000_000, publishTime: d.now + advance - late,
                                    publisher: Fixture.publishers[Int(rng.next() % 3)], signature: [])
                d.apply(.oracleSmile(s), advance: advance)
                replay.apply(.oracleSmile(s), at: d.now)
            default:
                d.apply(.request(account: 99, .cancel(try ClientOrderID("none"))), advance: advance)
                replay.apply(.other, at: d.now)
            }
            let engineVolatility = d.engine.options!.underlyings[0].volatility
            #expect(engineVolatility == replay.options!.underlyings[0].volatility, "seed \(seed), event \(d.sequence)")
            for id: UInt32 in [101, 102, 103] {
                let quoted = replay.optionMark(id, at: d.now)
                let mine = try #require(quoted)
                #expect(d.engine.mark(id, at: d.now) == mine.mark, "seed \(seed), event \(d.sequence), market \(id)")
                if case .success = mine.mark { priced += 1 } else { unpriced += 1 }
                compared += 1
            }
            if rng.next() % 8 == 0 {
                let close = d.now + rng.next() % (3 * S)
                for id: UInt32 in [101, 102, 103] {
                    let viewed = d.engine.marketView(id, levels: 0, at: close)
                    let view = try #require(viewed)
                    let quoted = replay.optionMark(id, at: close)
                    let mine = try #require(quoted)
                    #expect(view.markPrice == (try? mine.mark.get()), "seed \(seed), close after \(d.sequence)")
                    let reason: PriceInvalidity?
                    if case .failure(let e) = mine.mark { reason = e.reason } else { reason = nil }
                    #expect(view.priceInvalidity == reason)
                    #expect(view.option?.underlyingMark == (mine.forward ?? 0))
                    #expect(view.option?.quote == mine.quote && (mine.quote == nil) == (view.markPrice == nil))
                }
            }
        }
        #expect(compared == 2_700)
        #expect(priced > 0 && unpriced > 0, "both branches exercised: \(priced) priced, \(unpriced) unpriced")
    }
}
