@testable import Engine
import Foundation
import Options
import Testing
import Wire

/// A Greek-limit breach escalating to liquidation (docs/OPTIONS.md §10.11 "Escalation",
/// docs/CONFIG.md `greekLimits.escalationBps`): the configuration member, the rule at its
/// threshold, and the engine liquidating a solvent account back within its limits with a
/// public `greek-limit` decision, exactly when the threshold is passed and not before.
@Suite("Greek-limit escalation")
struct GreekEscalationTests {
    static let lot = GreekLimitsTests.lot

    // MARK: - Configuration and the rule

    @Test func parsesAndValidatesEscalation() throws {
        var venue = OptionsConfigTests.venue()
        venue.options!.underlyings[0].greekLimits = GreekLimitsConfig(maxAbsDelta: 600_000_000, maxAbsGamma: 5_000)
        #expect(!(try OptionsConfigTests.json(venue)).contains("escalationBps"), "absent when nil: the file is unchanged")
        venue.options!.underlyings[0].greekLimits!.escalationBps = 15_000
        let text = try OptionsConfigTests.json(venue)
        #expect(text.contains(#""greekLimits":{"escalationBps":15000,"maxAbsDelta":600000000,"maxAbsGamma":5000}"#))
        let strict = try VenueConfig.parseStrict(Array(text.utf8))
        #expect(strict == venue)
        try strict.validate()
        let wrong = text.replacingOccurrences(of: #""escalationBps":15000"#, with: #""escalationBps":"15000""#)
        #expect(OptionsConfigTests.refusal(wrong) != nil)
        for (value, ok) in [(9_999, false), (10_000, true), (1_000_000, true), (1_000_001, false), (-1, false)] as [(Int64, Bool)] {
            let v = OptionsConfigTests.venue {
                $0.underlyings[0].greekLimits = GreekLimitsConfig(maxAbsDelta: 1, maxAbsGamma: 1, escalationBps: value)
            }
            #expect(OptionsConfigTests.invalid(v) == (ok ? nil : "$.options.underlyings[0].greekLimits.escalationBps: out of range"),
                    "\(value)")
        }
    }

    /// Thresholds ⌊limit × escalationBps / 10⁴⌋; strictly above escalates, at it does not.
    @Test func theRuleFiresOneUnitAboveTheThreshold() {
        let l = GreekLimitsConfig(maxAbsDelta: 6_000_001, maxAbsGamma: 333, escalationBps: 15_001)
        let t = l.escalationThresholds!
        #expect(t.delta == 9_000_601 && t.gamma == 499)  // ⌊6,000,001 × 1.5001⌋, ⌊333 × 1.5001⌋
        for sign: Int128 in [1, -1] {
            #expect(!l.escalates(delta: sign * t.delta, gamma: sign * t.gamma))
            #expect(l.escalates(delta: sign * (t.delta + 1), gamma: 0))
            #expect(l.escalates(delta: 0, gamma: sign * (t.gamma + 1)))
        }
        #expect(!GreekLimitsConfig(maxAbsDelta: 1, maxAbsGamma: 1).escalates(delta: 1 << 100, gamma: 1 << 100),
                "without escalationBps nothing escalates")
    }

    // MARK: - The engine

    /// Account 2 buys 0.1 BTC of the at-the-money call from account 1 (the maker, who is
    /// short it: delta ≈ ∓0.056 BTC each); BTC rises to 54,000 one publisher at a time.
    /// Returns the driver, the decisions, and each writer's largest |delta| at any event from
    /// the rise on until the first decision (the reference Greeks at each event's mark).
    static func rise(_ limits: GreekLimitsConfig?) throws -> (Driver, maxDelta: [UInt64: Int128], decisions: [LiquidationDecision]) {
        var d = GreekLimitsTests.started(limits)
        d.trade(buyer: 2, seller: 1, OptionsFixture.call, quantity: 10 * lot, price: d.optionPrice(OptionsFixture.call), id: "1")
        #expect(d.engine.accounts[2]!.position(OptionsFixture.call) == 10 * lot)
        #expect(d.engine.takeDecisions().isEmpty)
        var maxDelta: [UInt64: Int128] = [1: 0, 2: 0]
        var decisions: [LiquidationDecision] = []
        for p in 0..<3 {
            d.apply(.oraclePrice(OraclePrice(market: Fixture.btc, price: 54_000 * Fixture.usd, confidence: 0,
                                             publishTime: d.now + 1_000, publisher: Fixture.publishers[p], signature: [])))
            decisions += d.engine.takeDecisions()
            guard decisions.isEmpty, case .success(let mark) = d.engine.mark(Fixture.btc, at: d.now) else { continue }
            for a: UInt64 in [1, 2] {
                let delta = try GreekLimitsTests.greeks(d, a, btc: mark).delta
                maxDelta[a] = max(maxDelta[a]!, delta < 0 ? -delta : delta)
            }
        }
        return (d, maxDelta, decisions)
    }

    /// With the threshold exactly at the largest delta reached nothing escalates; one unit
    /// lower, exactly the writers that reached it are liquidated at that event by a
    /// `greekLimit` decision closing the least number of call lots that brings the delta
    /// within the limit, at the mark, to the fund (the book is empty), although both are
    /// far above maintenance.
    @Test func escalatesExactlyAboveTheThreshold() throws {
        let probe = try Self.rise(nil)
        let top = probe.maxDelta.values.max()!
        #expect(top > 6_000_000, "the rise carries delta past 0.06 BTC (\(top))")
        // escalationBps 10,000: the threshold is the limit itself.
        let at = try Self.rise(GreekLimitsConfig(maxAbsDelta: Int64(top), maxAbsGamma: 1 << 62, escalationBps: 10_000))
        #expect(at.decisions.isEmpty, "at the threshold: no escalation")
        #expect(at.maxDelta == probe.maxDelta, "the same stream")

        let limit = top - 1
        var above = try Self.rise(GreekLimitsConfig(maxAbsDelta: Int64(limit), maxAbsGamma: 1 << 62, escalationBps: 10_000))
        let escalated = Set(above.decisions.map { UInt64(bigEndianBytes: $0.accountCommitment) })
        #expect(!escalated.isEmpty && escalated == Set(probe.maxDelta.filter { $0.value == top }.keys))
        let mark = try above.0.engine.mark(Fixture.btc, at: above.0.now).get()
        let arrays = try OptionsFixture.referenceArrays(btc: mark, now: above.0.now, volatility: above.0.volatility)
        func delta(_ calls: Int64) throws -> Int128 {
            let g = try PortfolioMargin.greeks([MarginPosition(instrument: 1, size: calls)], arrays: arrays).delta
            return g < 0 ? -g : g
        }
        let optionMark = try above.0.engine.mark(OptionsFixture.call, at: above.0.now).get()
        let tick = Fixture.usd / 10
        var fund: Int64 = 0
        for x in above.decisions {
            let a = UInt64(bigEndianBytes: x.accountCommitment)
            #expect(x.reason == .greekLimit && x.market == OptionsFixture.call && x.sequence == above.decisions[0].sequence)
            #expect(x.equity >= x.maintenanceRequirement, "a solvent account: not a margin liquidation")
            #expect(x.scenario != nil, "it holds options: the decision carries its scenario")
            // Least lots: closing x.size leaves |delta| within the limit; one lot less does not.
            let before = a == 2 ? 10 * Self.lot : -10 * Self.lot
            let closed = a == 2 ? x.size : -x.size
            #expect(x.side == (a == 2 ? .sell : .buy))
            #expect(x.size % Self.lot == 0 && x.size > 0)
            #expect(try delta(before - closed) <= limit)
            #expect(try delta(before - closed + (a == 2 ? Self.lot : -Self.lot)) > limit)
            #expect(above.0.engine.accounts[a]!.position(OptionsFixture.call) == before - closed)
            // At the option's mark on the tick grid, rounded in the account's favour; the fund took it.
            #expect(x.markPrice == optionMark)
            #expect(x.worstPrice == (a == 2 ? (optionMark + tick - 1) / tick * tick : optionMark / tick * tick))
            #expect(x.fills == [ExecutionFill(kind: .insuranceFund, price: x.worstPrice, quantity: x.size)])
            fund += closed
        }
        #expect(above.0.engine.accounts[0]!.position(OptionsFixture.call) == fund)
        // Nothing more at later events: the portfolios are back within their limit.
        above.0.price(Fixture.eth, 3_001 * Fixture.usd)
        #expect(above.0.engine.takeDecisions().isEmpty)
    }

    /// Below the escalation threshold a breach is reduce-only alone: orders adding delta are
    /// refused, nothing is liquidated. 1.3× a 0.06 BTC limit is above the delta reached.
    @Test func belowTheThresholdABreachIsReduceOnlyAlone() throws {
        let limit: Int64 = 6_000_000
        let probe = try Self.rise(nil)
        let top = probe.maxDelta.values.max()!
        let escalation = Int64((top * 10_000 + Int128(limit) - 1) / Int128(limit))  // ⌈top / limit⌉ in bps
        #expect(escalation > 10_000 && escalation < 13_000)
        var r = try Self.rise(GreekLimitsConfig(maxAbsDelta: limit, maxAbsGamma: 1 << 62, escalationBps: escalation))
        #expect(r.decisions.isEmpty, "in breach but not escalated")
        #expect(r.maxDelta[2]! > Int128(limit))
        let mark = 54_000 * Fixture.usd
        #expect(r.0.order(2, .buy, Fixture.btc, quantity: Self.lot, price: mark, id: "p+").rejection == .greekLimitExceeded)
        #expect(r.0.order(2, .sell, Fixture.btc, quantity: Self.lot, price: mark, id: "p-").rejection == nil)
        #expect(r.0.engine.takeDecisions().isEmpty)
    }
}
