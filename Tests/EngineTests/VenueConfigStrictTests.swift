import Engine
import Foundation
import StrictJSON
import Testing

/// The strict venue-config reader (docs/CONFIG.md §Strict parsing): what it accepts, with
/// which value, and the JSON path it names for each kind of refusal.
@Suite("Venue config strict parsing")
struct VenueConfigStrictTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static func file(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: packageRoot.appendingPathComponent(relative)))
    }

    /// The fixture venue as JSON text, every member present (JSONEncoder's output, keys
    /// sorted: unsorted, their order follows the per-process hash seed, and a test that
    /// edits `"tickSize":10000,` found no comma after it when the key came last).
    static func fixtureJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(Fixture.venue()), as: UTF8.self)
    }

    static func refusal(_ text: String) -> VenueConfigParseError? {
        do {
            _ = try VenueConfig.parseStrict(Array(text.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test func demoVenueAndCorpusReadAsTheLenientDecoderReadsThem() throws {
        for path in ["scripts/demo/venue.json", "Fuzz/corpus/venue-config/6dc777c2747d4dc0"] {
            let bytes = try Self.file(path)
            let strict = try VenueConfig.parseStrict(bytes)
            #expect(strict == (try JSONDecoder().decode(VenueConfig.self, from: Data(bytes))), "\(path)")
            try strict.validate()
        }
    }

    @Test func encodedFixtureRoundTrips() throws {
        #expect(try VenueConfig.parseStrict(Array(Self.fixtureJSON().utf8)) == Fixture.venue())
    }

    /// Optional members may be absent and then take their documented defaults.
    @Test func optionalMembersDefault() throws {
        var text = try Self.fixtureJSON()
        text = text.replacingOccurrences(of: #","dedupeWindowNanos":30000000000"#, with: "")
        text = text.replacingOccurrences(of: #""dedupeWindowNanos":30000000000,"#, with: "")
        text = text.replacingOccurrences(of: #""chainId":31337,"#, with: "")
        text = text.replacingOccurrences(of: #","chainId":31337"#, with: "")
        #expect(!text.contains("dedupeWindowNanos") && !text.contains("chainId"))
        #expect(try VenueConfig.parseStrict(Array(text.utf8)) == Fixture.venue())
    }

    @Test func unknownKeyNamesItsPath() throws {
        let text = try Self.fixtureJSON().replacingOccurrences(of: #""maxRateBps":75"#, with: #""maxRateBps":75,"maxRate":1"#)
        #expect(Self.refusal(text) == .unknownKey(path: "$.markets[0].funding.maxRate"))
        let top = "{\"extra\":1," + (try Self.fixtureJSON()).dropFirst()
        #expect(Self.refusal(String(top)) == .unknownKey(path: "$.extra"))
        #expect(Self.refusal(String(top))?.description == "$.extra: unknown key")
    }

    @Test func wrongTypeNamesItsPath() throws {
        let text = try Self.fixtureJSON().replacingOccurrences(of: #""tickSize":10000,"#, with: #""tickSize":"10000","#)
        #expect(Self.refusal(text) == .wrongType(path: "$.markets[1].tickSize", expected: "a signed 64-bit integer"))
        #expect(Self.refusal(text)?.description == "$.markets[1].tickSize: expected a signed 64-bit integer")
        let negative = try Self.fixtureJSON().replacingOccurrences(of: #""venueID":1"#, with: #""venueID":-1"#)
        #expect(Self.refusal(negative) == .wrongType(path: "$.venueID", expected: "an unsigned 64-bit integer"))
        let wide = try Self.fixtureJSON().replacingOccurrences(of: #""id":2"#, with: #""id":4294967296"#)
        #expect(Self.refusal(wide) == .wrongType(path: "$.markets[1].id", expected: "an unsigned 32-bit integer"))
        let null = try Self.fixtureJSON().replacingOccurrences(of: #""closeOnOracleTick":true"#, with: #""closeOnOracleTick":null"#)
        #expect(Self.refusal(null) == .wrongType(path: "$.commitments.closeOnOracleTick", expected: "a boolean"))
        #expect(Self.refusal("[]") == .wrongType(path: "$", expected: "an object"))
    }

    @Test func missingFieldNamesItsPath() throws {
        let text = try Self.fixtureJSON().replacingOccurrences(of: #""maintenanceBps":500,"#, with: "")
            .replacingOccurrences(of: #","maintenanceBps":500"#, with: "")
        #expect(Self.refusal(text) == .missingField(path: "$.marginTiers[1].maintenanceBps"))
        #expect(Self.refusal(text)?.description == "$.marginTiers[1].maintenanceBps: missing required field")
    }

    @Test func duplicateKeyAndNonCanonicalNumberAreJSONErrors() throws {
        let duplicate = try Self.fixtureJSON().replacingOccurrences(of: #""venueID":1"#, with: #""venueID":1,"venueID":2"#)
        guard case .json(let e)? = Self.refusal(duplicate) else { Issue.record("accepted a duplicate key"); return }
        #expect(e.kind == .duplicateKey && e.path == "$.venueID")
        let fraction = try Self.fixtureJSON().replacingOccurrences(of: #""feeBps":50"#, with: #""feeBps":50.0"#)
        guard case .json(let f)? = Self.refusal(fraction) else { Issue.record("accepted 50.0"); return }
        #expect(f.kind == .nonCanonicalNumber && f.path == "$.liquidation.feeBps")
    }

    /// `enclaveLanes` (docs/CONFIG.md): optional, default 1, an integer 1…8; it is part of
    /// the measured bytes like every other member. An encoded config names it only when it
    /// is not 1, so venues without lanes keep their bytes and config hash.
    @Test func enclaveLanesIsOptionalAndChecked() throws {
        let absent = try Self.fixtureJSON()
        #expect(!absent.contains("enclaveLanes"), "the default is not encoded")
        #expect(try VenueConfig.parseStrict(Array(absent.utf8)).enclaveLanes == 1)
        // The member given explicitly (first, so every replacement below finds it).
        let text = absent.replacingOccurrences(of: #"{"commitments""#, with: #"{"enclaveLanes":1,"commitments""#)
        let explicit = try VenueConfig.parseStrict(Array(text.utf8))
        #expect(text.contains(#""enclaveLanes":1"#) && explicit.enclaveLanes == 1)
        var two = try VenueConfig.parseStrict(Array(absent.utf8))
        two.enclaveLanes = 2
        let encoded = try JSONEncoder().encode(two)
        #expect(String(decoding: encoded, as: UTF8.self).contains(#""enclaveLanes":2"#))
        for n in [2, 8] {
            let config = try VenueConfig.parseStrict(Array(text.replacingOccurrences(of: #""enclaveLanes":1"#, with: "\"enclaveLanes\":\(n)").utf8))
            #expect(config.enclaveLanes == n)
            try config.validate()
        }
        for n in [0, 9, -1] {
            let config = try VenueConfig.parseStrict(Array(text.replacingOccurrences(of: #""enclaveLanes":1"#, with: "\"enclaveLanes\":\(n)").utf8))
            #expect(throws: ConfigError.invalid("enclaveLanes must be 1...8")) { try config.validate() }
        }
        let string = text.replacingOccurrences(of: #""enclaveLanes":1"#, with: #""enclaveLanes":"2""#)
        #expect(Self.refusal(string) == .wrongType(path: "$.enclaveLanes", expected: "a signed 64-bit integer"))
    }
}
