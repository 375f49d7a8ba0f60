import Engine
import Foundation
import StrictJSON
import Testing

/// The shared table `Tests/vectors/venue-config.json` (docs/CONFIG.md "Strict parsing",
/// "Order of the rules", "Options"): the Swift reader and validator must give each case the
/// outcome the table names, as `python/tests/test_config_vectors.py` requires of the SDK's
/// `sealstream.config`, so the two implementations refuse the same files by the same rule.
@Suite("Venue config shared vectors")
struct VenueConfigVectorTests {
    struct Case: Decodable, CustomTestStringConvertible, Sendable {
        var name: String
        var base: String
        var replace: [[String]]
        var expect: [String: JSONScalar]
        var testDescription: String { name }
    }

    /// A scalar of an `expect` object: `true` or a string.
    enum JSONScalar: Decodable, Equatable, Sendable {
        case bool(Bool)
        case string(String)

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .bool(b) } else { self = .string(try c.decode(String.self)) }
        }
    }

    struct Table: Decodable {
        var cases: [Case]
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static let cases: [Case] = {
        let url = packageRoot.appendingPathComponent("Tests/vectors/venue-config.json")
        return (try? JSONDecoder().decode(Table.self, from: Data(contentsOf: url)).cases) ?? []
    }()

    /// The rule of docs/CONFIG.md's perpetual validation order that a `ConfigError` names.
    /// Those messages' words are not normative, so this reads the kind of error and the
    /// field its message starts with; an options message (a JSON path) is compared whole.
    static func outcome(_ error: ConfigError) -> [String: JSONScalar] {
        switch error {
        case .invalidKey(let what):
            if what == "custodyKey" || what == "commitments.verifyingContract" { return ["rule": .string(what)] }
            return ["rule": .string(what.hasPrefix("publisher of") ? "markets.publisherKey" : "invalidKey \(what)")]
        case .noMarkets: return ["rule": .string("markets")]
        case .duplicateMarket: return ["rule": .string("markets.duplicateId")]
        case .noPublishers: return ["rule": .string("markets.publishers")]
        case .invalid(let message):
            if message.hasPrefix("$.") { return ["options": .string(message)] }
            let prefixes: [(String, String)] = [
                ("commitments.batchMaxEvents", "commitments.batchMaxEvents"),
                ("commitments.batchMaxNanos", "commitments.batchMaxNanos"),
                ("marketData.depthLevels", "marketData.depthLevels"), ("marketData.sizeRounding", "marketData.sizeRounding"),
                ("marketData.delayNanos", "marketData.delayNanos"), ("dedupeWindowNanos", "dedupeWindowNanos"),
                ("enclaveLanes", "enclaveLanes"), ("duplicate margin tier", "marginTiers.duplicate"),
                ("tier ", "marginTiers.bps"), ("fees", "fees"), ("liquidation", "liquidation"), ("risk", "risk"),
            ]
            if let (_, rule) = prefixes.first(where: { message.hasPrefix($0.0) }) { return ["rule": .string(rule)] }
            let marketRules: [(String, String)] = [
                ("unknown tier", "markets.tier"), ("tick and step", "markets.tickStep"),
                ("minPublishers", "markets.minPublishers"), ("oracle limits", "markets.oracleLimits"),
                ("funding", "markets.funding"),
            ]
            if message.hasPrefix("market "), let (_, rule) = marketRules.first(where: { message.contains($0.0) }) {
                return ["rule": .string(rule)]
            }
            return ["rule": .string("unclassified: \(message)")]
        }
    }

    static func run(_ bytes: [UInt8]) -> [String: JSONScalar] {
        let config: VenueConfig
        do { config = try VenueConfig.parseStrict(bytes) } catch {
            if case .json(let e) = error { return ["json": .string(e.kind.rawValue), "path": .string(e.path)] }
            return ["parse": .string(error.description)]
        }
        do { try config.validate() } catch { return outcome(error) }
        return ["valid": .bool(true)]
    }

    @Test func tableIsReadAndCoversEveryOutcome() {
        #expect(Self.cases.count >= 30)
        #expect(Set(Self.cases.flatMap(\.expect.keys)) == ["valid", "json", "path", "parse", "rule", "options"])
    }

    @Test(arguments: cases) func vector(_ c: Case) throws {
        var text = String(decoding: try Data(contentsOf: Self.packageRoot.appendingPathComponent(c.base)), as: UTF8.self)
        for pair in c.replace {
            try #require(pair.count == 2)
            let parts = text.components(separatedBy: pair[0])
            try #require(parts.count == 2, "\(c.name): \(pair[0]) must occur exactly once in \(c.base)")
            text = parts.joined(separator: pair[1])
        }
        var outcome = Self.run(Array(text.utf8))
        let expected = c.expect
        if expected["path"] == nil { outcome["path"] = nil }  // a syntax error's path is not normative (COMMITMENTS §5.1)
        #expect(outcome == expected, "\(c.name)")
    }
}
