@testable import Engine
import Foundation
import Options
import Testing

/// The `options` member of the venue configuration (docs/CONFIG.md "Options"): strict
/// parsing with JSON paths, and the validation rules with the path of the value they refuse.
@Suite("Options venue config")
struct OptionsConfigTests {
    static let day: UInt64 = 86_400 * Fixture.second
    static let expiry: UInt64 = 30 * day

    static func options() -> OptionsConfig {
        let margin = PortfolioMarginConfig(
            priceBuckets: 8, minScanBps: 500, maxScanBps: 3_000, scanDeviationsMilli: 4_000, horizonNanos: day,
            volUpBps: 5_000, volDownBps: 3_000, extremeMultiple: 3, extremeCoverBps: 3_300, shortOptionMinimumBps: 100,
            initialRatioBps: 13_000)
        let vol = RealizedVolatilityConfig(halfLifeNanos: 3_600 * Fixture.second, minIntervalNanos: Fixture.second,
                                           initialVolatilityPpm: 600_000)
        let smile = SmileConfig(expiry: expiry, a: 20_000_000, b: 100_000_000, rho: -300_000_000, m: 0, sigma: 100_000_000)
        return OptionsConfig(
            underlyings: [OptionUnderlyingConfig(market: Fixture.btc, margin: margin, realizedVolatility: vol, smiles: [smile])],
            markets: [
                OptionMarketConfig(id: 101, symbol: "BTC-30D-50000-C", underlying: Fixture.btc, kind: .call,
                                   strike: 50_000 * Fixture.usd, expiry: expiry, contractSize: Fixture.unit / 100,
                                   tickSize: Fixture.usd / 10),
                OptionMarketConfig(id: 102, symbol: "BTC-30D-45000-P", underlying: Fixture.btc, kind: .put,
                                   strike: 45_000 * Fixture.usd, expiry: expiry, contractSize: Fixture.unit / 100,
                                   tickSize: Fixture.usd / 10),
            ])
    }

    static func venue(_ edit: (inout OptionsConfig) -> Void = { _ in }) -> VenueConfig {
        var config = Fixture.venue()
        var o = options()
        edit(&o)
        config.options = o
        return config
    }

    static func json(_ config: VenueConfig = venue()) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(config), as: UTF8.self)
    }

    static func refusal(_ text: String) -> VenueConfigParseError? {
        do {
            _ = try VenueConfig.parseStrict(Array(text.utf8))
            return nil
        } catch {
            return error
        }
    }

    static func invalid(_ config: VenueConfig) -> String? {
        do {
            try config.validate()
            return nil
        } catch {
            guard case .invalid(let message) = error else { return "\(error)" }
            return message
        }
    }

    @Test func readsStrictlyAsTheLenientDecoderReadsIt() throws {
        let text = try Self.json()
        let strict = try VenueConfig.parseStrict(Array(text.utf8))
        #expect(strict == Self.venue())
        #expect(strict == (try JSONDecoder().decode(VenueConfig.self, from: Data(text.utf8))))
        try strict.validate()
    }

    /// The example of docs/CONFIG.md "Options", merged into the fuzz corpus's venue
    /// (`Fuzz/corpus/venue-config/options-example`), is a valid venue an engine starts on.
    @Test func documentedExampleIsAValidVenue() throws {
        let bytes = try VenueConfigStrictTests.file("Fuzz/corpus/venue-config/options-example")
        let strict = try VenueConfig.parseStrict(bytes)
        #expect(strict == (try JSONDecoder().decode(VenueConfig.self, from: Data(bytes))))
        try strict.validate()
        #expect(strict.options?.markets.map(\.id) == [101])
        #expect(strict.options?.marginCall == MarginCallConfig(levelPpm: 50_000, hysteresisPpm: 10_000,
                                                               horizonNanos: 86_400_000_000_000, repeatNanos: 3_600_000_000_000))
        #expect(strict.options?.underlyings.first?.greekLimits
            == GreekLimitsConfig(maxAbsDelta: 10_000_000_000, maxAbsGamma: 100_000_000))
        let engine = try PerpEngine(config: strict)
        #expect(engine.options?.underlyings.first?.series == [OptionSeries(kind: .call, strike: 50_000_000_000,
                                                                          expiry: 2_592_000_000_000_000)])
    }

    /// A venue without options writes no `options` member, so its bytes (and hash) are
    /// what they were before option markets existed.
    @Test func perpetualsOnlyVenueHasNoOptionsMember() throws {
        #expect(!(try Self.json(Fixture.venue())).contains("options"))
        #expect(try VenueConfig.parseStrict(Array(Self.json(Fixture.venue()).utf8)).options == nil)
    }

    @Test func shapeFaultsNameTheirPath() throws {
        let text = try Self.json()
        let unknown = text.replacingOccurrences(of: #""contractSize":1000000,"#, with: #""contractSize":1000000,"lot":1,"#)
        #expect(Self.refusal(unknown) == .unknownKey(path: "$.options.markets[0].lot"))
        let kind = text.replacingOccurrences(of: #""kind":"put""#, with: #""kind":"straddle""#)
        #expect(Self.refusal(kind) == .wrongType(path: "$.options.markets[1].kind", expected: "one of \"call\", \"put\""))
        // Keys are sorted: volUpBps is the last of margin, underlying the last of a market.
        let missing = text.replacingOccurrences(of: #","volUpBps":5000"#, with: "")
        #expect(Self.refusal(missing) == .missingField(path: "$.options.underlyings[0].margin.volUpBps"))
        let wide = text.replacingOccurrences(of: #""underlying":1}"#, with: #""underlying":-1}"#)
        #expect(Self.refusal(wide) == .wrongType(path: "$.options.markets[0].underlying", expected: "an unsigned 32-bit integer"))
        let null = "{\"options\":null," + (try Self.json(Fixture.venue())).dropFirst()
        #expect(Self.refusal(null) == .wrongType(path: "$.options", expected: "an object"))
    }

    @Test func rulesNameThePathOfTheValueTheyRefuse() {
        let cases: [(VenueConfig, String)] = [
            (Self.venue { $0.underlyings[0].market = 9 }, "$.options.underlyings[0].market: not a perpetual market id"),
            (Self.venue { $0.underlyings.append($0.underlyings[0]) }, "$.options.underlyings[1].market: duplicate underlying"),
            (Self.venue { $0.underlyings[0].margin.priceBuckets = 65 },
             "$.options.underlyings[0].margin.priceBuckets: out of range"),
            // Bounds out of order name the lower one (OPTIONS §7.1), the first rule checked.
            (Self.venue { $0.underlyings[0].margin.maxScanBps = 100; $0.underlyings[0].margin.initialRatioBps = 9_999 },
             "$.options.underlyings[0].margin.minScanBps: out of range"),
            (Self.venue { $0.underlyings[0].margin.initialRatioBps = 9_999 },
             "$.options.underlyings[0].margin.initialRatioBps: out of range"),
            (Self.venue { $0.underlyings[0].realizedVolatility.initialVolatilityPpm = 16_000_001 },
             "$.options.underlyings[0].realizedVolatility.initialVolatilityPpm: out of range"),
            (Self.venue { $0.underlyings[0].realizedVolatility.halfLifeNanos = 0 },
             "$.options.underlyings[0].realizedVolatility.halfLifeNanos: out of range"),
            (Self.venue { $0.underlyings[0].smiles[0].b = -1 }, "$.options.underlyings[0].smiles[0]: invalid SVI (negativeSlope)"),
            (Self.venue { $0.underlyings[0].smiles.append($0.underlyings[0].smiles[0]) },
             "$.options.underlyings[0].smiles[1].expiry: duplicate expiry"),
            (Self.venue { $0.markets[1].id = Fixture.eth }, "$.options.markets[1].id: duplicate market id 2"),
            (Self.venue { $0.markets[1].id = 101 }, "$.options.markets[1].id: duplicate market id 101"),
            (Self.venue { $0.markets[0].underlying = Fixture.eth },
             "$.options.markets[0].underlying: no options.underlyings entry for market 2"),
            (Self.venue { $0.markets[0].strike = 0 }, "$.options.markets[0].strike: must be 1...2^50"),
            (Self.venue { $0.markets[0].strike = (1 << 50) + 1 }, "$.options.markets[0].strike: must be 1...2^50"),
            (Self.venue { $0.markets[0].contractSize = 0 }, "$.options.markets[0].contractSize: must be > 0"),
            (Self.venue { $0.markets[0].tickSize = -1 }, "$.options.markets[0].tickSize: must be > 0"),
            (Self.venue { $0.markets[0].expiry += Fixture.second },
             "$.options.markets[0].expiry: no smile for this expiry in the underlying's smiles"),
            // Whole seconds only, and at most 100 years: checked before the smile.
            (Self.venue { $0.markets[0].expiry += 1 },
             "$.options.markets[0].expiry: must be a whole second (a multiple of 1000000000 ns)"),
            (Self.venue { $0.markets[0].expiry = 3_153_600_000 * Fixture.second + Fixture.second },
             "$.options.markets[0].expiry: must be at most 100 years of enclave time (3153600000000000000 ns)"),
            (Self.venue { $0.markets[1] = $0.markets[0]; $0.markets[1].id = 103 },
             "$.options.markets[1]: duplicate series (underlying, kind, strike, expiry)"),
        ]
        #expect(Self.invalid(Self.venue()) == nil)
        let latest = OptionsConfig.maxExpiry
        #expect(latest == 3_153_600_000 * Fixture.second)
        #expect(Self.invalid(Self.venue { o in
            o.underlyings[0].smiles[0].expiry = latest
            for k in o.markets.indices { o.markets[k].expiry = latest }
        }) == nil, "an expiry of exactly 100 years is valid")
        for (config, message) in cases { #expect(Self.invalid(config) == message) }
    }

    /// The starting variance is ⌊⌊ppm × 2^64 / 10^6⌋² / 2^64⌋ (docs/CONFIG.md "Options").
    @Test func initialVarianceIsTheSquareOfTheConfiguredVolatility() throws {
        let config = RealizedVolatilityConfig(halfLifeNanos: 1, minIntervalNanos: 1, initialVolatilityPpm: 500_000)
        #expect(config.initialVariance.raw == (Int128(1) << 62))
        #expect(try config.estimator().variance == config.initialVariance)
    }
}
