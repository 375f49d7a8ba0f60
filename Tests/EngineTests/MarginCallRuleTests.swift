@testable import Engine
import Options
import Foundation
import Testing
import Wire

/// The margin-call rule of docs/OPTIONS.md §10.10 and its configuration (docs/CONFIG.md
/// "Options"), against values computed by hand.
@Suite("Margin call rule")
struct MarginCallRuleTests {
    static let rule = MarginCallConfig(levelPpm: 50_000, hysteresisPpm: 10_000, horizonNanos: 86_400_000_000_000,
                                       repeatNanos: 60_000_000_000)

    /// ⌊p × 10⁶ / 2^64⌋.
    @Test func probabilitiesAreMillionthsRoundedDown() {
        #expect(MarginCallConfig.ppm(.one) == 1_000_000)
        #expect(MarginCallConfig.ppm(Fixed(raw: Int128(1) << 63)) == 500_000)
        #expect(MarginCallConfig.ppm(Fixed(raw: (Int128(1) << 64) / 3)) == 333_333)
        #expect(MarginCallConfig.ppm(Fixed(raw: (Int128(1) << 64) - 1)) == 999_999)
        #expect(MarginCallConfig.ppm(Fixed(raw: 18_446_744_073_710)) == 1)  // ⌈2^64 / 10⁶⌉
        #expect(MarginCallConfig.ppm(Fixed(raw: 18_446_744_073_709)) == 0)
        #expect(MarginCallConfig.ppm(.zero) == 0)
    }

    /// §7.8 at hand-computed points (mpmath at 40 digits, floored to millionths):
    /// a long of 1 unit at F = 100 USD with a 10 USD buffer, σ = 80 %, one day:
    /// 2 Φ(−ln(100/90) / (0.8 √(1/365))) = 0.0118648957…; a short of 2 units with 5 USD,
    /// σ = 50 %, seven days: barrier 102.5, 2 Φ(−ln 1.025 / (0.5 √(7/365))) = 0.7213832164….
    @Test func probabilityMatchesTheClosedFormByHand() throws {
        let day: UInt64 = 86_400_000_000_000
        let long = try MarginCall.probability(buffer: 10_000_000, netDelta: 100_000_000, mark: 100_000_000,
                                              volatility: Fixed(ratio: 800_000, 1_000_000), horizonNanos: day)
        #expect(MarginCallConfig.ppm(long) == 11_864)
        let short = try MarginCall.probability(buffer: 5_000_000, netDelta: -200_000_000, mark: 100_000_000,
                                               volatility: Fixed(ratio: 500_000, 1_000_000), horizonNanos: 7 * day)
        #expect(MarginCallConfig.ppm(short) == 721_383)
        // At or below maintenance: certainty; no delta: no estimate (0).
        #expect(MarginCallConfig.ppm(try MarginCall.probability(buffer: 0, netDelta: 1, mark: 100_000_000,
                                                               volatility: .one, horizonNanos: day)) == 1_000_000)
        #expect(MarginCallConfig.ppm(try MarginCall.probability(buffer: 1, netDelta: 0, mark: 100_000_000,
                                                               volatility: .one, horizonNanos: day)) == 0)
    }

    /// Every row of §10.10's hysteresis table, L = 50,000, H = 10,000, R = 60 s.
    @Test func hysteresisTable() {
        let r = Self.rule
        let t: UInt64 = 1_000_000_000_000
        // Armed.
        #expect(r.decide(ppm: 50_000, lastCall: nil, now: t) == (.crossed, t))
        #expect(r.decide(ppm: 1_000_000, lastCall: nil, now: t) == (.crossed, t))
        #expect(r.decide(ppm: 49_999, lastCall: nil, now: t) == (nil, nil))
        // Called at t: hovering between L − H and L, or above L within R, changes nothing.
        #expect(r.decide(ppm: 40_000, lastCall: t, now: t + 1) == (nil, t))
        #expect(r.decide(ppm: 49_999, lastCall: t, now: t + 120_000_000_000) == (nil, t))
        #expect(r.decide(ppm: 90_000, lastCall: t, now: t + 59_999_999_999) == (nil, t))
        // Below L − H: armed again (no call at that evaluation).
        #expect(r.decide(ppm: 39_999, lastCall: t, now: t + 1) == (nil, nil))
        // At or above L once R has passed: repeated.
        #expect(r.decide(ppm: 50_000, lastCall: t, now: t + 60_000_000_000) == (.repeated, t + 60_000_000_000))
        // R = 0: never repeated.
        var once = r
        once.repeatNanos = 0
        #expect(once.decide(ppm: 1_000_000, lastCall: t, now: t + 1 << 40) == (nil, t))
        // H = 0: armed again just below L.
        var tight = r
        tight.hysteresisPpm = 0
        #expect(tight.decide(ppm: 49_999, lastCall: t, now: t + 1) == (nil, nil))
    }

    /// A hovering account: the ppm sequence below calls exactly at the marked steps.
    @Test func aHoveringAccountIsCalledOncePerCrossing() {
        var once = Self.rule
        once.repeatNanos = 0
        let path: [UInt32] = [10_000, 50_000, 49_000, 51_000, 45_000, 52_000, 39_999, 48_000, 50_001, 60_000]
        var last: UInt64?
        var calls: [Int] = []
        for (i, p) in path.enumerated() {
            let (call, next) = once.decide(ppm: p, lastCall: last, now: UInt64(i + 1))
            if call != nil { calls.append(i) }
            last = next
        }
        #expect(calls == [1, 8])
    }

    @Test(arguments: [
        (MarginCallConfig(levelPpm: 0, hysteresisPpm: 0, horizonNanos: 1, repeatNanos: 0), "levelPpm"),
        (MarginCallConfig(levelPpm: 1_000_001, hysteresisPpm: 0, horizonNanos: 1, repeatNanos: 0), "levelPpm"),
        (MarginCallConfig(levelPpm: 10, hysteresisPpm: 10, horizonNanos: 1, repeatNanos: 0), "hysteresisPpm"),
        (MarginCallConfig(levelPpm: 10, hysteresisPpm: -1, horizonNanos: 1, repeatNanos: 0), "hysteresisPpm"),
        (MarginCallConfig(levelPpm: 10, hysteresisPpm: 9, horizonNanos: 0, repeatNanos: 0), "horizonNanos"),
        (MarginCallConfig(levelPpm: 10, hysteresisPpm: 9, horizonNanos: 31_536_000_000_000_001, repeatNanos: 0), "horizonNanos"),
        (MarginCallConfig(levelPpm: 10, hysteresisPpm: 9, horizonNanos: 1, repeatNanos: (1 << 62) + 1), "repeatNanos"),
    ])
    func invalidConfigurationsNameTheirField(_ config: MarginCallConfig, _ field: String) {
        var venue = OptionsFixture.venue()
        venue.options!.marginCall = config
        #expect(throws: ConfigError.invalid("$.options.marginCall.\(field): out of range")) { try venue.validate() }
    }

    @Test func boundaryConfigurationsAreValid() throws {
        var venue = OptionsFixture.venue()
        venue.options!.marginCall = MarginCallConfig(levelPpm: 1_000_000, hysteresisPpm: 999_999,
                                                     horizonNanos: 31_536_000_000_000_000, repeatNanos: 1 << 62)
        try venue.validate()
        venue.options!.marginCall = MarginCallConfig(levelPpm: 1, hysteresisPpm: 0, horizonNanos: 1, repeatNanos: 0)
        try venue.validate()
    }

    /// The member parses strictly, survives a round trip, and is absent when nil (an
    /// older file keeps its bytes and so its config hash).
    @Test func theMemberParsesStrictlyAndIsOmittedWhenAbsent() throws {
        var venue = OptionsFixture.venue()
        #expect(!(try OptionsConfigTests.json(venue)).contains("marginCall"))
        venue.options!.marginCall = Self.rule
        let with = try OptionsConfigTests.json(venue)
        #expect(try VenueConfig.parseStrict(Array(with.utf8)) == venue)
        let text = with
            .replacingOccurrences(of: "\"repeatNanos\":60000000000", with: "\"repeatNanos\":60000000000,\"extra\":1")
        #expect(throws: VenueConfigParseError.unknownKey(path: "$.options.marginCall.extra")) {
            try VenueConfig.parseStrict(Array(text.utf8))
        }
    }
}

extension MarginCallRuleTests {
    /// A call must fit one frame: 48 + 45 × 1,454 ≤ 65,502 < 48 + 45 × 1,455.
    @Test func theUnderlyingCountIsBoundedByTheFrame() throws {
        #expect(MarginCallEvent.length(underlyings: MarginCallConfig.maxUnderlyings) <= 65_502)
        #expect(MarginCallEvent.length(underlyings: MarginCallConfig.maxUnderlyings + 1) > 65_502)
        let rule = Self.rule
        #expect(throws: ConfigError.invalid(
            "$.options.marginCall: more than 1454 option underlyings (a call must fit one frame)")) {
            try rule.validate(underlyings: 1_455)
        }
        try rule.validate(underlyings: 1_454)
    }
}

extension MarginCallRuleTests {
    /// The skip threshold of §10.10 "Cost": for L − H = 40,000 ppm, 2 Φ(−z) = 0.04 at
    /// z = Φ⁻¹(0.98) = 2.0537489…; below the threshold less its slack the probability is
    /// still at least the bound, and from it on, over a grid up to 32, always below.
    @Test func theSkipThresholdSeparatesTheReArmBound() {
        let skip = Self.rule.skipDeviations()
        let slack = Int128(1) << 34
        #expect(skip.raw > Fixed(ratio: 20_537, 10_000).raw && skip.raw < Fixed(ratio: 20_538, 10_000).raw)
        #expect(MarginCallConfig.ppm(MarginCall.probability(deviations: Fixed(raw: skip.raw - slack - 1))) >= 40_000)
        var z = skip.raw
        while z < Int128(32) << 64 {
            #expect(MarginCallConfig.ppm(MarginCall.probability(deviations: Fixed(raw: z))) < 40_000)
            z += (Int128(1) << 58) + 12_345
        }
    }
}
