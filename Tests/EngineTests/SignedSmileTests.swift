@testable import Engine
import Options
import Testing
import Wire

/// The signed volatility feed in the engine (docs/OPTIONS.md §10.9): which smile prices an
/// expiry, when it goes stale, and that it survives a snapshot.
@Suite("Signed smiles in the engine")
struct SignedSmileTests {
    static let expiry = OptionsFixture.expiry
    static let configured = SmileConfig(expiry: expiry, a: 20_000_000, b: 100_000_000, rho: -300_000_000, m: 0,
                                        sigma: 100_000_000)
    /// A higher-variance smile: a = 0.09 instead of 0.02.
    static let high = SmileConfig(expiry: expiry, a: 90_000_000, b: 100_000_000, rho: -300_000_000, m: 0, sigma: 100_000_000)

    static func smile(_ s: SmileConfig, publisher: Int, time: UInt64, expiry: UInt64 = Self.expiry) -> EngineInput {
        .oracleSmile(OracleSmile(underlying: Fixture.btc, expiry: expiry, a: s.a, b: s.b, rho: s.rho, m: s.m, sigma: s.sigma,
                                 publishTime: time, publisher: Fixture.publishers[publisher], signature: []))
    }

    /// §10.2's arrays with the given smile (the reference of the option mark and health).
    static func arrays(btc f: Int64, now: UInt64, volatility: Fixed, smile: SmileConfig) throws -> RiskArrays {
        let u = OptionsConfigTests.options().underlyings[0]
        return try RiskArrays(
            state: UnderlyingState(mark: f, confidence: 0, now: now / Fixture.second * Fixture.second,
                                   realizedVolatility: volatility, smiles: [expiry: smile.parameters]),
            series: OptionsConfigTests.options().markets.sorted { $0.id < $1.id }.map(\.series), config: u.margin.marginConfig)
    }

    /// The call's mark by §4 and §5 directly: ⌊Black-76 at σ(K) of the smile⌋.
    static func callMark(btc f: Int64, now: UInt64, smile: SmileConfig) throws -> Int64 {
        let t = Black76.yearFraction(now: now / Fixture.second * Fixture.second, expiry: expiry)
        let sigma = try smile.parameters.volatility(forward: f, strike: 50_000 * Fixture.usd, time: t)
        return Int64(try Black76.evaluate(.call, forward: f, strike: 50_000 * Fixture.usd, volatility: sigma, time: t).price.floor)
    }

    /// A driver with BTC at 60,000 and account 2 short one call to account 1.
    static func shortCall() -> Driver {
        var d = Driver(OptionsFixture.venue())
        d.deposit(1, 1_000_000)
        d.deposit(2, 1_000_000)
        d.price(Fixture.btc, 60_000 * Fixture.usd)
        d.price(Fixture.eth, 3_000 * Fixture.usd)
        let premium = d.optionPrice(OptionsFixture.call)
        d.trade(buyer: 1, seller: 2, OptionsFixture.call, quantity: Fixture.unit, price: premium, id: "1")
        return d
    }

    @Test func aSignedSmileReplacesTheConfiguredOneAndMovesMarkAndRequirement() throws {
        var d = Self.shortCall()
        let f = 60_000 * Fixture.usd
        guard case .success(let before) = d.engine.mark(OptionsFixture.call, at: d.now) else { throw Unpriced() }
        #expect(before == (try Self.callMark(btc: f, now: d.now, smile: Self.configured)), "configured smile first")
        guard case .success(let healthBefore) = d.engine.health(2, now: d.now) else { throw Unpriced() }

        d.apply(Self.smile(Self.high, publisher: 0, time: d.now))
        guard case .success(let after) = d.engine.mark(OptionsFixture.call, at: d.now) else { throw Unpriced() }
        #expect(after == (try Self.callMark(btc: f, now: d.now, smile: Self.high)))
        #expect(after > before, "more variance, a dearer call")
        guard case .success(let health) = d.engine.health(2, now: d.now) else { throw Unpriced() }
        let arrays = try Self.arrays(btc: f, now: d.now, volatility: d.volatility, smile: Self.high)
        let reference = try OptionsFixture.referenceHealth(d.engine.accounts[2]!, arrays: arrays, eth: 3_000 * Fixture.usd)
        #expect(health == reference, "the short call's requirement follows the signed smile")
        #expect(health.maintenanceRequirement > healthBefore.maintenanceRequirement)
    }

    @Test func theLatestPublishTimeWinsAcrossPublishers() throws {
        var d = Self.shortCall()
        let f = 60_000 * Fixture.usd
        let t = d.now
        d.apply(Self.smile(Self.high, publisher: 0, time: t + 2))
        // Another publisher's smile published earlier arrives later: not in force.
        d.apply(Self.smile(Self.configured, publisher: 1, time: t + 1))
        #expect(d.engine.mark(OptionsFixture.call, at: d.now) == .success(try Self.callMark(btc: f, now: d.now, smile: Self.high)))
        // An equal publish time from a third publisher: the later recorded wins.
        d.apply(Self.smile(Self.configured, publisher: 2, time: t + 2))
        #expect(d.engine.mark(OptionsFixture.call, at: d.now)
            == .success(try Self.callMark(btc: f, now: d.now, smile: Self.configured)))
    }

    @Test func ignoredSmilesChangeNothing() throws {
        var d = Self.shortCall()
        let t = d.now
        d.apply(Self.smile(Self.high, publisher: 0, time: t))
        let feed = d.engine.options!.underlyings[0].feed
        var invalid = Self.high
        invalid.b = -1
        d.apply(Self.smile(invalid, publisher: 1, time: t + 1))  // fails §5.2
        d.apply(Self.smile(Self.configured, publisher: 0, time: t))  // not after the publisher's last
        d.apply(Self.smile(Self.configured, publisher: 1, time: t + 1, expiry: Self.expiry + Fixture.second))  // not listed
        var stranger = OracleSmile(underlying: Fixture.btc, expiry: Self.expiry, a: 1, b: 1, rho: 0, m: 0, sigma: 1,
                                   publishTime: t + 5, publisher: [UInt8](repeating: 7, count: 32), signature: [])
        d.apply(.oracleSmile(stranger))
        stranger.underlying = Fixture.eth  // no options on ETH
        d.apply(.oracleSmile(stranger))
        let after = d.engine.options!.underlyings[0].feed
        #expect(after.last == feed.last && after.inForce == feed.inForce && after.version == feed.version)
        #expect(d.engine.lastSmilePublishTime(underlying: Fixture.btc, expiry: Self.expiry, publisher: Fixture.publishers[0]) == t)
        #expect(d.engine.lastSmilePublishTime(underlying: Fixture.btc, expiry: Self.expiry, publisher: Fixture.publishers[1]) == 0)
    }

    /// Once an expiry has had a signed smile, its staleness makes the underlying's options
    /// unpriced (no fallback to the configured smile); a fresh smile prices them again.
    @Test func aStaleSignedSmileLeavesTheOptionsUnpriced() throws {
        var d = Self.shortCall()
        let t = d.now
        d.apply(Self.smile(Self.high, publisher: 0, time: t))
        // Keep the underlying's price fresh while the smile ages past 10 s.
        d.now = t + 10 * Fixture.second - 5_000
        d.price(Fixture.btc, 60_000 * Fixture.usd)
        #expect(d.engine.mark(OptionsFixture.call, at: t + 10 * Fixture.second).isSuccess, "exactly at the limit: fresh")
        #expect(d.engine.mark(OptionsFixture.call, at: t + 10 * Fixture.second + 1) == .failure(PriceInvalidityError(reason: .noPrice)))
        #expect(d.engine.mark(OptionsFixture.put, at: t + 10 * Fixture.second + 1) == .failure(PriceInvalidityError(reason: .noPrice)))
        #expect(d.engine.mark(Fixture.btc, at: t + 10 * Fixture.second + 1).isSuccess, "the perpetual itself is priced")
        d.now = t + 11 * Fixture.second
        d.apply(Self.smile(Self.configured, publisher: 1, time: d.now + 1_000))
        #expect(d.engine.mark(OptionsFixture.call, at: d.now)
            == .success(try Self.callMark(btc: 60_000 * Fixture.usd, now: d.now, smile: Self.configured)))
    }

    /// §5.2's minimum variance with every Q64 conversion floored: −0.1 + 1 × 0.1 is one ulp
    /// below zero (python/tests/test_public_inputs.py checks the same pair).
    @Test func theMinimumVarianceCheckIsExactAtTheBorder() {
        #expect(!SmileConfig(expiry: Self.expiry, a: -100_000_000, b: 1_000_000_000, rho: 0, m: 0, sigma: 100_000_000).isValid)
        #expect(SmileConfig(expiry: Self.expiry, a: -99_999_999, b: 1_000_000_000, rho: 0, m: 0, sigma: 100_000_000).isValid)
        #expect(SmileConfig(expiry: Self.expiry, a: 0, b: 1_000_000_000, rho: 999_999_999, m: 0, sigma: 1).isValid)
        #expect(!SmileConfig(expiry: Self.expiry, a: 0, b: 2_000_000_000, rho: 1, m: 0, sigma: 1).isValid, "wing too steep")
    }

    /// A past expiry is priced at intrinsic value whatever its smile: its signed smile
    /// going stale after expiry does not leave the options unpriced.
    @Test func aPastExpiryIsPricedAtIntrinsicValueWhenItsSmileIsStale() throws {
        var d = Self.shortCall()
        d.apply(Self.smile(Self.high, publisher: 0, time: d.now))
        d.now = Self.expiry + 60 * Fixture.second
        d.price(Fixture.btc, 60_000 * Fixture.usd)
        d.price(Fixture.eth, 3_000 * Fixture.usd)
        #expect(d.engine.mark(OptionsFixture.call, at: d.now) == .success(10_000 * Fixture.usd), "max(F − K, 0)")
        #expect(d.engine.mark(OptionsFixture.put, at: d.now) == .success(0))
        #expect(d.engine.accounts[2]?.position(OptionsFixture.call) == 0, "settled at expiry")
    }

    @Test func theFeedSurvivesASnapshot() throws {
        var d = Self.shortCall()
        let t = d.now
        d.apply(Self.smile(Self.high, publisher: 0, time: t))
        d.apply(Self.smile(Self.configured, publisher: 1, time: t - 1))
        let bytes = d.engine.snapshot()
        var restored = try PerpEngine(snapshot: bytes, config: OptionsFixture.venue())
        #expect(restored.snapshot() == bytes)
        #expect(restored.mark(OptionsFixture.call, at: d.now) == d.engine.mark(OptionsFixture.call, at: d.now))
        #expect(restored.lastSmilePublishTime(underlying: Fixture.btc, expiry: Self.expiry, publisher: Fixture.publishers[1])
            == t - 1)
        // Both go on identically.
        var twin = d
        twin.engine = restored
        let next = Self.smile(Self.configured, publisher: 2, time: d.now + 5)
        d.apply(next)
        twin.apply(next)
        #expect(d.engine.snapshot() == twin.engine.snapshot())
    }
}

struct Unpriced: Error {}

extension Result {
    var isSuccess: Bool { if case .success = self { true } else { false } }
}
