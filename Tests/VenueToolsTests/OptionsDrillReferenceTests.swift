import Engine
import Foundation
import Options
import Testing
import VenueTools
import Wire

/// The options drill's own reference (docs/SCENARIOS.md "Options drill"): the rules it
/// applies to the public inputs (docs/OPTIONS.md §10.2, §10.4, §10.9) on the bundled
/// options venue, and its rounding.
@Suite("Options drill reference")
struct OptionsDrillReferenceTests {
    static let t0: UInt64 = 1_800_000_000_000_000_000
    static let second: UInt64 = 1_000_000_000

    static func price(_ usd: Int64, _ publisher: String, _ time: UInt64) -> OptionsDrillReference.Input {
        .oraclePrice(DemoKeys.price(market: 1, price: usd * 1_000_000, confidence: 0, publishTime: time, publisher: publisher))
    }

    static func smile(a: Int64, _ publisher: String, _ time: UInt64) -> OptionsDrillReference.Input {
        .oracleSmile(DemoKeys.smile(underlying: 1, expiry: 1_924_588_800_000_000_000, a: a, b: 200_000_000, rho: -300_000_000,
                                    m: 0, sigma: 100_000_000, publishTime: time, publisher: publisher))
    }

    /// Every publisher signs `usd` at `time`.
    static func move(_ r: inout OptionsDrillReference, _ usd: Int64, at time: UInt64) {
        for p in DemoKeys.publisherNames { r.apply(price(usd, p, time), at: time) }
    }

    static func reference() throws -> OptionsDrillReference {
        try OptionsDrillReference(config: OptionScenarioTests.optionsVenue(), underlying: 1)
    }

    @Test func anUnchangedMarkTakesNoSampleAndAMoveDoes() throws {
        var r = try Self.reference()
        let initial = r.estimator.variance
        Self.move(&r, 60_000, at: Self.t0)
        #expect(r.estimator.last?.price == 60_000_000_000 && r.estimator.variance == initial, "the first mark only seeds")
        Self.move(&r, 60_000, at: Self.t0 + 20 * Self.second)
        #expect(r.estimator.last?.time == Self.t0 && r.estimator.variance == initial, "a re-signed, unchanged mark is no sample")
        Self.move(&r, 62_000, at: Self.t0 + 30 * Self.second)
        #expect(r.estimator.last?.price == 62_000_000_000 && r.estimator.last?.time == Self.t0 + 30 * Self.second)
        #expect(r.estimator.variance > initial, "a 3.3 % move after 30 quiet seconds raises the EWMA")
    }

    @Test func theSignedSmileRaisesTheMarkAndGoesStaleWithoutFallback() throws {
        var r = try Self.reference()
        Self.move(&r, 60_000, at: Self.t0)
        let configured = try #require(try r.arrays(at: Self.t0))
        let call = try #require(r.optionMark(101, in: configured))
        #expect(call > 20_000_000_000 && call < 25_000_000_000, "about 22,100 USD at 48 %: \(call)")

        // An unregistered publisher's smile is ignored; a registered one's is in force.
        r.apply(.oracleSmile(DemoKeys.smile(underlying: 1, expiry: 1_924_588_800_000_000_000, a: 1_600_000_000,
                                            b: 200_000_000, rho: -300_000_000, m: 0, sigma: 100_000_000,
                                            publishTime: Self.t0 + 1, publisher: "not-a-publisher")), at: Self.t0 + 1)
        #expect(r.optionMark(101, in: try #require(try r.arrays(at: Self.t0 + 1))) == call)
        r.apply(Self.smile(a: 1_600_000_000, "pyth-b", Self.t0 + 2), at: Self.t0 + 2)
        let spiked = try #require(try r.arrays(at: Self.t0 + 2))
        #expect(try #require(r.optionMark(101, in: spiked)) > call + 5_000_000_000, "a steeper smile, a dearer call")
        #expect(spiked.volatilities[1] > configured.volatilities[1])

        // Both fresh prices and a stale smile: unpriced (§10.9), not the configured smile.
        let later = Self.t0 + 2 + 61 * Self.second
        Self.move(&r, 60_000, at: later)
        #expect(try r.arrays(at: later) == nil)
    }

    @Test func aShortCallsHealthAndItsRounding() throws {
        var r = try Self.reference()
        Self.move(&r, 60_000, at: Self.t0)
        let arrays = try #require(try r.arrays(at: Self.t0))
        let mark = try #require(r.optionMark(101, in: arrays))
        let h = try r.health(.init(collateral: 3_000_000_000, positions: [101: -10_000_000]), arrays: arrays)
        #expect(h.equity == 3_000_000_000 + OptionsDrillReference.notional(price: mark, quantity: -10_000_000))
        #expect(h.margin.maintenance > 0 && h.margin.initial > h.margin.maintenance)
        #expect(h.scenario.moveSteps > 0, "a short call's worst scenario is a rise")
        // ⌊p × q / 10⁸⌋ toward −∞; the fee rounds up.
        #expect(OptionsDrillReference.notional(price: 22_000_000_001, quantity: -10_000_000) == -2_200_000_001)
        #expect(OptionsDrillReference.notional(price: 22_000_000_001, quantity: 10_000_000) == 2_200_000_000)
        #expect(OptionsDrillReference.fee(cash: 2_200_000_000, bps: 5) == 1_100_000)
        #expect(OptionsDrillReference.fee(cash: 2_200_000_001, bps: 5) == 1_100_001)
    }
}
