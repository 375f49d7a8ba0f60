@testable import Engine
import Options
import Testing
import Wire

/// Margin calls through the engine (docs/OPTIONS.md §10.10): which accounts are evaluated,
/// what a call carries, the hysteresis over a price path, the snapshot of the memory.
@Suite("Margin calls in the engine")
struct MarginCallEngineTests {
    static func venue(level: Int64 = 20_000, hysteresis: Int64 = 5_000, repeatNanos: UInt64 = 0) -> VenueConfig {
        var v = OptionsFixture.venue()
        v.options!.marginCall = MarginCallConfig(levelPpm: level, hysteresisPpm: hysteresis,
                                                 horizonNanos: 86_400 * Fixture.second, repeatNanos: repeatNanos)
        return v
    }

    /// BTC at 50,000; account 1 (10 M USD) buys 0.1 of the 50,000 call from account 2
    /// (1,500 USD), who is then short the call with a thin buffer; account 3 holds cash.
    static func started(_ venue: VenueConfig) -> Driver {
        var d = Driver(venue)
        d.price(Fixture.btc, 50_000 * Fixture.usd)
        d.price(Fixture.eth, 3_000 * Fixture.usd)
        d.deposit(1, 10_000_000)
        d.deposit(2, 1_500)
        d.deposit(3, 1_000)
        let price = d.optionPrice(OptionsFixture.call)
        d.trade(buyer: 1, seller: 2, OptionsFixture.call, quantity: Fixture.unit / 10, price: price, id: "1")
        return d
    }

    /// The account's probability in millionths as §10.10 defines it, from the engine's
    /// health and the reference risk arrays (docs/OPTIONS.md §7.7, §7.8).
    static func referencePpm(_ d: inout Driver, account: UInt64) throws -> (ppm: UInt32, greeks: PortfolioGreeks, buffer: Int128) {
        let h = try d.engine.health(account, now: d.now).get()
        let arrays = try OptionsFixture.referenceArrays(btc: try btcMark(&d), now: d.now, volatility: d.volatility)
        let listed = OptionsConfigTests.options().markets.sorted { $0.id < $1.id }
        var positions: [MarginPosition] = []
        for p in d.engine.accounts[account]!.positions {
            if p.market == Fixture.btc { positions.append(MarginPosition(instrument: 0, size: p.size)) }
            if let k = listed.firstIndex(where: { $0.id == p.market }) { positions.append(MarginPosition(instrument: k + 1, size: p.size)) }
        }
        let greeks = try PortfolioMargin.greeks(positions, arrays: arrays)
        let buffer = h.equity - h.maintenanceRequirement
        let p = try MarginCall.probability(buffer: buffer, netDelta: greeks.delta, mark: try btcMark(&d),
                                           volatility: d.volatility, horizonNanos: 86_400 * Fixture.second)
        return (MarginCallConfig.ppm(p), greeks, buffer)
    }

    static func btcMark(_ d: inout Driver) throws -> Int64 { try d.engine.mark(Fixture.btc, at: d.now).get() }

    /// A rise takes the short call's probability over the level: exactly one call, to
    /// account 2 only, carrying the reference values, the price event's sequence and time;
    /// while it stays above (no repeat) nothing more; the long and the cash account never.
    @Test func aRiseCallsTheShortOnceWithTheReferenceValues() throws {
        var d = Self.started(Self.venue())
        #expect(d.engine.takeMarginCalls().isEmpty, "the trade leaves both far from the level")
        var calls: [(price: Int, notice: MarginCallNotice, expected: (ppm: UInt32, greeks: PortfolioGreeks, buffer: Int128),
                     volatility: Fixed)] = []
        for p in stride(from: 50_250, through: 51_750, by: 250) {
            d.now += 30 * Fixture.second
            d.price(Fixture.btc, Int64(p) * Fixture.usd)
            for n in d.engine.takeMarginCalls() { calls.append((p, n, try Self.referencePpm(&d, account: n.account), d.volatility)) }
        }
        try #require(calls.count == 1, "one call over the path: \(calls.map { ($0.price, $0.notice.event.probabilityPpm) })")
        let (_, notice, expected, volatility) = calls[0]
        #expect(notice.account == 2)
        let e = notice.event
        #expect(e.trigger == .crossed && e.probabilityPpm >= 20_000 && e.probabilityPpm == expected.ppm)
        #expect(Int128(e.distance) == expected.buffer && Int128(e.equity) - Int128(e.maintenance) == expected.buffer)
        #expect(e.exposures.count == 1)
        let x = e.exposures[0]
        #expect(x.underlying == Fixture.btc && x.exposed && x.probabilityPpm == e.probabilityPpm)
        #expect(Int128(x.delta) == expected.greeks.delta && x.delta < 0, "short a call: negative delta")
        #expect(Int128(x.gamma) == expected.greeks.gamma && Int128(x.vega) == expected.greeks.vega)
        #expect(x.volatilityPpm == UInt32((volatility.raw * 1_000_000) >> 64))
        #expect(d.engine.marginCallMemory.keys.sorted() == [2])
    }

    /// The evaluation order and stamp: a call is made at the price event that crossed,
    /// stamped with that event's sequence and enclave time.
    @Test func aCallCarriesTheEventThatMadeIt() throws {
        var d = Self.started(Self.venue())
        var found: MarginCallNotice?
        var stamp: (UInt64, UInt64) = (0, 0)
        for p in stride(from: 50_250, through: 51_750, by: 250) where found == nil {
            d.now += 30 * Fixture.second
            for publisher in [0, 1, 2] where found == nil {
                d.price(Fixture.btc, Int64(p) * Fixture.usd, publishers: [publisher])
                found = d.engine.takeMarginCalls().first
                stamp = (d.sequence, d.now)
            }
        }
        let call = try #require(found)
        #expect(call.event.globalSequence == stamp.0 && call.event.enclaveTime == stamp.1)
    }

    /// Down below level − hysteresis re-arms; up again calls again (`crossed`); with a
    /// repeat interval a standing call is repeated (`repeated`).
    @Test func hysteresisAndRepeatOverAPricePath() throws {
        var d = Self.started(Self.venue(level: 20_000, hysteresis: 5_000))
        var triggers: [MarginCallEvent.Trigger] = []
        var path: [(Int, UInt32)] = []
        // Fast rises (a 0.5 % move every 30 s) raise the EWMA and the probability; a day
        // later at 50,000 the estimate has decayed (λ = 2^-24) and the account is far from
        // the level again.
        let up = stride(from: 50_250, through: 51_750, by: 250).map { ($0, 30 * Fixture.second) }
        for (p, wait) in up + [(50_000, 86_400 * Fixture.second)] + up {
            d.now += wait
            d.price(Fixture.btc, Int64(p) * Fixture.usd)
            triggers += d.engine.takeMarginCalls().map(\.event.trigger)
            path.append((p, d.engine.accounts[2]!.positions.isEmpty ? 9_999_999 : try Self.referencePpm(&d, account: 2).ppm))
        }
        #expect(triggers == [.crossed, .crossed], "ppm along the path: \(path)")

        var r = Self.started(Self.venue(level: 20_000, hysteresis: 5_000, repeatNanos: 60 * Fixture.second))
        var repeated: [MarginCallEvent.Trigger] = []
        for p in [51_250, 51_250, 51_250, 51_250] {
            r.now += 30 * Fixture.second
            r.price(Fixture.btc, Int64(p) * Fixture.usd)
            repeated += r.engine.takeMarginCalls().map(\.event.trigger)
        }
        #expect(repeated.first == .crossed && repeated.dropFirst().allSatisfy { $0 == .repeated } && repeated.count >= 2)
    }

    /// The memory is in the snapshot: a restored engine makes the same calls as the
    /// original from there on; a venue without `marginCall` makes none and its snapshot
    /// has no memory bytes.
    @Test func theMemoryIsSnapshotStateAndCallsNeedTheMember() throws {
        var d = Self.started(Self.venue())
        d.now += 30 * Fixture.second
        d.price(Fixture.btc, 51_250 * Fixture.usd)
        _ = d.engine.takeMarginCalls()
        #expect(!d.engine.marginCallMemory.isEmpty)
        var restored = d
        restored.engine = try PerpEngine(snapshot: d.engine.snapshot(), config: Self.venue())
        #expect(restored.engine.marginCallMemory == d.engine.marginCallMemory)
        #expect(restored.engine.snapshot() == d.engine.snapshot())
        for p in [50_000, 49_750, 51_250] {
            d.now += 30 * Fixture.second
            restored.now += 30 * Fixture.second
            d.price(Fixture.btc, Int64(p) * Fixture.usd)
            restored.price(Fixture.btc, Int64(p) * Fixture.usd)
            #expect(d.engine.takeMarginCalls() == restored.engine.takeMarginCalls())
        }

        var plain = Self.started(OptionsFixture.venue())
        var called = Self.started(Self.venue())
        for p in [51_250, 51_500] {
            plain.now += 30 * Fixture.second
            called.now += 30 * Fixture.second
            plain.price(Fixture.btc, Int64(p) * Fixture.usd)
            called.price(Fixture.btc, Int64(p) * Fixture.usd)
        }
        #expect(plain.engine.takeMarginCalls().isEmpty && !called.engine.takeMarginCalls().isEmpty)
        // Not committed: every account's committed state is the same with and without calls.
        for a: UInt64 in 0...3 {
            var x = ByteWriter(capacity: 64), y = ByteWriter(capacity: 64)
            #expect(plain.engine.writeCommitmentState(of: a, into: &x) && called.engine.writeCommitmentState(of: a, into: &y))
            #expect(x.bytes == y.bytes)
        }
        // The memory section is the only difference: 4 bytes of count and 16 per entry.
        #expect(called.engine.snapshot().count == plain.engine.snapshot().count + 4 + 16 * called.engine.marginCallMemory.count)
    }
}

extension MarginCallEngineTests {
    /// Who is evaluated (§10.10): a called account that stays above the level is called
    /// again after `repeatNanos` (5 s) only at an event that evaluates it. Ticks of another
    /// underlying (ETH) and other accounts' deposits do not; its own deposit does (all
    /// within the BTC prices' 10 s staleness, so its health stays priced).
    @Test func onlyTicksOfItsUnderlyingAndItsOwnChangesEvaluateAnAccount() throws {
        var d = Self.started(Self.venue(level: 20_000, hysteresis: 5_000, repeatNanos: 5 * Fixture.second))
        var first: [MarginCallNotice] = []
        for p in stride(from: 50_250, through: 51_250, by: 250) where first.isEmpty {
            d.now += 30 * Fixture.second
            d.price(Fixture.btc, Int64(p) * Fixture.usd)
            first = d.engine.takeMarginCalls()
        }
        try #require(first.map(\.event.trigger) == [.crossed])
        // Past the repeat interval, but only ETH prices and account 3's deposits: no call.
        d.now += 6 * Fixture.second
        d.price(Fixture.eth, 3_000 * Fixture.usd)
        d.deposit(3, 1)
        d.now += 2 * Fixture.second
        d.deposit(3, 1)
        #expect(d.engine.takeMarginCalls().isEmpty)
        // Account 2's own deposit changes it: evaluated, still above the level, repeated.
        d.deposit(2, 1)
        let repeated = d.engine.takeMarginCalls()
        #expect(repeated.map(\.account) == [2] && repeated.map(\.event.trigger) == [.repeated])
    }
}
