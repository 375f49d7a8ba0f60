@testable import Engine
import Options
import Testing
import Wire

/// The oracle's aggregated confidence c and the confidence contingency it feeds
/// (docs/OPTIONS.md §7.5 step 4, §10.2; docs/COMMITMENTS.md "Recomputing the marks"): the
/// median of the confidences of exactly the prices the mark's median counted (an even count
/// rounds up), clamped to 2⁵⁰; the maintenance of an option portfolio grows by exactly
/// ⌈u × c / 10⁸⌉.
@Suite("Oracle confidence contingency")
struct ConfidenceContingencyTests {
    static let second = Fixture.second
    static let keys = (1...5).map { i in [UInt8](repeating: UInt8(0x40 + i), count: 32) }

    static func oracle(minPublishers: Int = 1, maxConfidenceBps: Int64 = 50, maxDeviationBps: Int64 = 1_000) -> OracleState {
        OracleState(config: OracleConfig(
            publishers: keys.map { Hex.encode($0) }, minPublishers: minPublishers, stalenessNanos: 10 * second,
            maxConfidenceBps: maxConfidenceBps, maxDeviationBps: maxDeviationBps, jumpConfirmationNanos: 5 * second))
    }

    static func record(_ o: inout OracleState, _ publisher: Int, price: Int64, confidence: UInt64, at t: UInt64) {
        let p = OraclePrice(market: 1, price: price, confidence: confidence, publishTime: t, publisher: keys[publisher],
                            signature: [])
        let recorded = o.record(p, now: t)
        #expect(recorded)
    }

    /// `confidence(at:)` and `mark(at:)` on a copy (as `MarkReplay.peekConfidence`).
    static func c(_ o: OracleState, _ t: UInt64) -> Int64? {
        var copy = o
        return copy.confidence(at: t)
    }

    static func mark(_ o: OracleState, _ t: UInt64) -> Result<Int64, PriceInvalidityError> {
        var copy = o
        return copy.mark(at: t)
    }

    /// Odd count: the middle confidence of the counted prices, sorted on their own (not the
    /// confidence of the publisher whose price is the median).
    @Test func anOddCountTakesTheMiddleConfidence() {
        var o = Self.oracle()
        let t = 1_000 * Self.second
        Self.record(&o, 0, price: 60_000_000_000, confidence: 30_000_000, at: t)
        Self.record(&o, 1, price: 60_100_000_000, confidence: 10_000_000, at: t)
        Self.record(&o, 2, price: 60_200_000_000, confidence: 20_000_000, at: t)
        #expect(Self.mark(o, t) == .success(60_100_000_000))
        #expect(Self.c(o, t) == 20_000_000, "publisher 1 holds the median price but confidence 10")
    }

    /// Even count: the mean of the middle two confidences rounded toward +∞ (the price's
    /// mean rounds toward −∞).
    @Test func anEvenCountRoundsUp() {
        var o = Self.oracle()
        let t = 1_000 * Self.second
        for (i, c) in [10, 20, 31, 40].enumerated() {
            Self.record(&o, i, price: 60_000_000_000 + Int64(i), confidence: UInt64(c), at: t)
        }
        #expect(Self.mark(o, t) == .success(60_000_000_001))
        #expect(Self.c(o, t) == 26, "⌈(20 + 31) / 2⌉")
    }

    /// A stale price and an unconfident one count toward neither the mark nor c.
    @Test func excludedPricesDoNotContribute() {
        var o = Self.oracle()
        let t = 1_000 * Self.second
        // Stale by the time the others are read: its confidence (within the limit) would be the largest.
        Self.record(&o, 4, price: 60_000_000_000, confidence: 290_000_000, at: t - 11 * Self.second)
        Self.record(&o, 0, price: 60_000_000_000, confidence: 10, at: t)
        Self.record(&o, 1, price: 60_000_000_000, confidence: 20, at: t)
        Self.record(&o, 2, price: 60_000_000_000, confidence: 30, at: t)
        // 60,000 USD × 50 bps = 300 USD: 301 USD is too uncertain to count.
        Self.record(&o, 3, price: 60_000_000_000, confidence: 301_000_000, at: t)
        #expect(Self.c(o, t) == 20, "counting either would make it ⌈(20 + 30) / 2⌉ = 25")
        // Before publisher 4 went stale, it counted (four prices: ⌈(20 + 30) / 2⌉).
        var earlier = Self.oracle()
        Self.record(&earlier, 4, price: 60_000_000_000, confidence: 290_000_000, at: t - 11 * Self.second)
        for (i, c) in [10, 20, 30].enumerated() {
            Self.record(&earlier, i, price: 60_000_000_000, confidence: UInt64(c), at: t - 10 * Self.second)
        }
        #expect(Self.c(earlier, t - 10 * Self.second) == 25)
        // And once it expires the cached mark is re-evaluated with its confidence gone.
        #expect(Self.c(earlier, t - Self.second + 1) == 20)
    }

    /// c is clamped to 2⁵⁰ (docs/OPTIONS.md §7.4's bound), after the exact mean of two u64s.
    @Test func aConfidenceAbove2To50IsClamped() {
        var o = Self.oracle(maxConfidenceBps: .max)
        let t = 1_000 * Self.second
        Self.record(&o, 0, price: 1 << 50, confidence: .max, at: t)
        Self.record(&o, 1, price: 1 << 50, confidence: .max, at: t)
        #expect(Self.c(o, t) == 1 << 50)
        Self.record(&o, 2, price: 1 << 50, confidence: 1 << 50 - 2, at: t)
        Self.record(&o, 3, price: 1 << 50, confidence: 1 << 50 - 1, at: t)
        #expect(Self.c(o, t) == 1 << 50, "⌈(2⁵⁰ − 1 + 2⁶⁴ − 1) / 2⌉ clamped")
        var small = Self.oracle(maxConfidenceBps: .max)
        Self.record(&small, 0, price: 1 << 50, confidence: 1 << 50 - 2, at: t)
        Self.record(&small, 1, price: 1 << 50, confidence: 1 << 50 - 1, at: t)
        #expect(Self.c(small, t) == 1 << 50 - 1, "⌈(2⁵⁰ − 2 + 2⁵⁰ − 1) / 2⌉ = 2⁵⁰ − 1, not clamped")
    }

    /// No valid mark, no c: too few publishers, or the deviation guard tripped.
    @Test func anInvalidMarkHasNoConfidence() {
        var o = Self.oracle(minPublishers: 2)
        let t = 1_000 * Self.second
        Self.record(&o, 0, price: 60_000_000_000, confidence: 10, at: t)
        #expect(Self.c(o, t) == nil)
        Self.record(&o, 1, price: 60_000_000_000, confidence: 20, at: t)
        #expect(Self.c(o, t) == 15)
        // A 50% jump trips the guard (10% limit): no mark and no confidence until confirmed.
        Self.record(&o, 0, price: 90_000_000_000, confidence: 50, at: t + 1)
        Self.record(&o, 1, price: 90_000_000_000, confidence: 70, at: t + 2)
        #expect(Self.mark(o, t + 2) == .failure(PriceInvalidityError(reason: .deviation)))
        #expect(Self.c(o, t + 2) == nil)
        Self.record(&o, 0, price: 90_000_000_000, confidence: 50, at: t + 6 * Self.second)
        #expect(Self.c(o, t + 6 * Self.second) == 60)
    }

    /// c is not in the snapshot: a restored oracle derives the cached mark's confidence from
    /// the quotes at the cache's computation time, so it answers as the original.
    @Test func aRestoredOracleHasTheSameConfidence() throws {
        var o = Self.oracle()
        let t = 1_000 * Self.second
        Self.record(&o, 0, price: 60_000_000_000, confidence: 11, at: t)
        Self.record(&o, 1, price: 60_000_000_000, confidence: 40, at: t)
        // Evaluated in place, so the cache (computed at t + 5) is what the snapshot holds.
        #expect(o.confidence(at: t + 5) == 26)
        var w = ByteWriter()
        o.writeSnapshot(into: &w)
        var restored = Self.oracle()
        try w.bytes.withUnsafeBytes { raw in
            var r = SnapshotReader(ByteReader(raw))
            try restored.restore(&r)
        }
        #expect(restored.cachedConfidence == 26 && restored.cachedValidMark(at: t + 6) == 60_000_000_000)
        #expect(Self.c(restored, t + 6) == 26)
    }

    // MARK: - The contingency in the engine

    /// Account 5 short one call (`TriggerScenarioTests`' set-up, without ETH), withdrawn to
    /// just above its initial requirement.
    static func shortCall() throws -> Driver {
        var d = OptionsEngineTests.started()
        d.deposit(5, 400_000)
        d.trade(buyer: 1, seller: 5, OptionsFixture.call, quantity: Fixture.unit, price: d.optionPrice(OptionsFixture.call), id: "c")
        let h = try d.engine.health(5, now: d.now).get()
        #expect(d.apply(.request(account: 5, .withdraw(id: try! ClientOrderID("w"),
                                                      amount: Int64(h.equity - h.initialRequirement * 101 / 100)))).rejection == nil)
        return d
    }

    /// Every publisher at `price` with confidence `c`, one event each.
    static func price(_ d: inout Driver, _ price: Int64, confidence c: UInt64) {
        for p in 0..<3 {
            d.apply(.oraclePrice(OraclePrice(market: Fixture.btc, price: price, confidence: c, publishTime: d.now + 1_000,
                                             publisher: Fixture.publishers[p], signature: [])))
        }
    }

    /// ⌈u × c / 10⁸⌉ with u = ⌈|Σ q × delta| / 2⁶⁴⌉, by long arithmetic on the arrays' deltas.
    static func bruteForceContingency(_ positions: [(instrument: Int, size: Int64)], arrays: RiskArrays, c: Int64) -> Int128 {
        var delta: Int128 = 0
        for p in positions { delta += Int128(p.size) * Int128(arrays.greeks[p.instrument].delta.raw) }
        let magnitude = delta < 0 ? -delta : delta
        let whole = Int128(1) << 64
        let u = magnitude / whole + (magnitude % whole == 0 ? 0 : 1)
        let scaled = u * Int128(c)
        return scaled / 100_000_000 + (scaled % 100_000_000 == 0 ? 0 : 1)
    }

    /// The same stream with confidence c instead of 0 raises a short call's maintenance by
    /// exactly the contingency, and changes nothing else (equity, the option mark).
    @Test(arguments: [Int64(1), 99_999_999, 100_000_000, 137_000_001, 250_000_000])
    func aShortCallsMaintenanceRisesByTheContingency(c: Int64) throws {
        let base = try Self.shortCall()
        var zero = base, confident = base
        Self.price(&zero, 50_500 * Fixture.usd, confidence: 0)
        Self.price(&confident, 50_500 * Fixture.usd, confidence: UInt64(c))
        #expect(zero.now == confident.now)
        let h0 = try zero.engine.health(5, now: zero.now).get(), hc = try confident.engine.health(5, now: confident.now).get()
        let mark = try confident.engine.mark(Fixture.btc, at: confident.now).get()
        let arrays = try OptionsFixture.referenceArrays(btc: mark, now: confident.now, volatility: confident.volatility)
        let expected = Self.bruteForceContingency([(1, -Fixture.unit)], arrays: arrays, c: c)
        #expect(expected > 0)
        #expect(hc.maintenanceRequirement - h0.maintenanceRequirement == expected)
        #expect(hc.equity == h0.equity)
        let optionMarks = (try confident.engine.mark(OptionsFixture.call, at: confident.now).get(),
                           try zero.engine.mark(OptionsFixture.call, at: zero.now).get())
        #expect(optionMarks.0 == optionMarks.1)
        // The engine's arrays are the reference's at c.
        let reference = try OptionsFixture.referenceHealth(
            confident.engine.accounts[5]!, arrays: OptionsFixture.referenceArrays(
                btc: mark, now: confident.now, volatility: confident.volatility, confidence: c), eth: nil)
        #expect(reference.maintenanceRequirement == hc.maintenanceRequirement)
    }

    /// Raising the price in small steps on two copies of one venue: the copy whose publishers
    /// sign a confidence liquidates the short call at a step where the copy at confidence 0
    /// does not, and its decision's scenario carries the contingency.
    @Test func anAccountIsLiquidatedWithAConfidenceItSurvivesWithout() throws {
        let c: Int64 = 250 * Fixture.usd
        var zero = try Self.shortCall(), confident = zero
        var price: Int64 = 50_000 * Fixture.usd
        var decision: LiquidationDecision?
        var before: Account?
        for _ in 0..<400 where decision == nil {
            price += 25 * Fixture.usd
            let account = confident.engine.accounts[5]!
            Self.price(&zero, price, confidence: 0)
            Self.price(&confident, price, confidence: UInt64(c))
            let mine = confident.engine.takeDecisions().filter { UInt64(bigEndianBytes: $0.accountCommitment) == 5 }
            let theirs = zero.engine.takeDecisions().filter { UInt64(bigEndianBytes: $0.accountCommitment) == 5 }
            #expect(mine.isEmpty ? theirs.isEmpty : true, "confidence can only bring a liquidation forward")
            if let first = mine.first {
                #expect(theirs.isEmpty, "at confidence 0 the account is not below maintenance at \(price)")
                decision = first
                before = account
            }
        }
        let d = try #require(decision)
        let scenario = try #require(d.scenario)
        let mark = try confident.engine.mark(Fixture.btc, at: confident.now).get()
        let arrays = try OptionsFixture.referenceArrays(btc: mark, now: confident.now, volatility: confident.volatility,
                                                        confidence: c)
        let positions = before!.positions.compactMap { p -> (Int, Int64)? in p.market == OptionsFixture.call ? (1, p.size) : nil }
        let contingency = Self.bruteForceContingency(positions, arrays: arrays, c: c)
        #expect(contingency > 0)
        #expect(Int128(scenario.portfolios[0].confidenceContingency) == contingency)
        #expect(scenario.maintenance == Int128(d.maintenanceRequirement), "the parts add up to maintenance")
        // Without the contingency the account would have been at or above maintenance.
        let h0 = try zero.engine.health(5, now: zero.now).get()
        #expect(h0.equity >= h0.maintenanceRequirement)
        #expect(Int128(d.equity) < Int128(d.maintenanceRequirement))
        #expect(Int128(d.equity) >= Int128(d.maintenanceRequirement) - contingency)
    }
}
