import StrictJSON

/// Why venue configuration bytes were refused before any rule of `validate()` ran: the
/// JSON itself, or its shape (docs/CONFIG.md §Strict parsing). `path` is the JSON path of
/// the offending value, as `StrictJSONError` renders it (`$.markets[1].tickSize`).
public enum VenueConfigParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not strict JSON: invalid UTF-8, bad grammar, trailing data, too deep, a duplicate
    /// member name or a number that is not a canonical integer.
    case json(StrictJSONError)
    /// A member the format does not define.
    case unknownKey(path: String)
    /// A required member is absent (`path` names where it belongs).
    case missingField(path: String)
    /// A value of the wrong JSON type, or an integer outside its field's range.
    /// `expected` is the phrase in the message (`an unsigned 64-bit integer`).
    case wrongType(path: String, expected: String)

    public var description: String {
        switch self {
        case .json(let e): "\(e.path): \(e.kind.rawValue) (byte \(e.offset))"
        case .unknownKey(let path): "\(path): unknown key"
        case .missingField(let path): "\(path): missing required field"
        case .wrongType(let path, let expected): "\(path): expected \(expected)"
        }
    }
}

extension VenueConfig {
    /// Reads venue configuration bytes strictly: the JSON as `StrictJSON` reads it, every
    /// object with exactly its defined members (the optional ones may be absent, none may
    /// be `null`), every value of its field's type and range. Accepts every file the
    /// lenient decoder accepted and that has none of those faults, with the same value.
    /// Runs no rule of `validate()`.
    public static func parseStrict(_ bytes: some Collection<UInt8>) throws(VenueConfigParseError) -> VenueConfig {
        let root: JSONValue
        do { root = try StrictJSON.parse(bytes) } catch { throw .json(error) }
        let o = try Members(root, "$", keys: CodingKeys.allKeys)
        let commitments = try o.optional("commitments") { v, p throws(VenueConfigParseError) in
            try CommitmentsConfig.strict(v, p)
        }
        return VenueConfig(
            venueID: try o.u64("venueID"), name: try o.string("name"), custodyKey: try o.string("custodyKey"),
            marginTiers: try o.array("marginTiers") { v, p throws(VenueConfigParseError) in
                let t = try Members(v, p, keys: ["name", "initialBps", "maintenanceBps"])
                return MarginTier(name: try t.string("name"), initialBps: try t.i64("initialBps"),
                                  maintenanceBps: try t.i64("maintenanceBps"))
            },
            fees: try o.object("fees") { v, p throws(VenueConfigParseError) in
                let f = try Members(v, p, keys: ["makerBps", "takerBps"])
                return FeeSchedule(makerBps: try f.i64("makerBps"), takerBps: try f.i64("takerBps"))
            },
            liquidation: try o.object("liquidation") { v, p throws(VenueConfigParseError) in
                let l = try Members(v, p, keys: ["partialThreshold", "maxCloseBps", "cooldownNanos", "feeBps", "insuranceFund"])
                return LiquidationConfig(
                    partialThreshold: try l.i64("partialThreshold"), maxCloseBps: try l.i64("maxCloseBps"),
                    cooldownNanos: try l.u64("cooldownNanos"), feeBps: try l.i64("feeBps"),
                    insuranceFund: try l.i64("insuranceFund"))
            },
            risk: try o.object("risk") { v, p throws(VenueConfigParseError) in
                let r = try Members(v, p, keys: ["priceBandBps", "maxOpenOrdersPerAccount"])
                return RiskLimits(priceBandBps: try r.i64("priceBandBps"),
                                  maxOpenOrdersPerAccount: try r.int("maxOpenOrdersPerAccount"))
            },
            markets: try o.array("markets") { v, p throws(VenueConfigParseError) in try MarketConfig.strict(v, p) },
            commitments: commitments ?? CommitmentsConfig(),
            dedupeWindowNanos: try o.optional("dedupeWindowNanos") { v, p throws(VenueConfigParseError) in
                try Members.u64(v, p)
            } ?? Self.defaultDedupeWindowNanos,
            marketData: try o.optional("marketData") { v, p throws(VenueConfigParseError) in
                try MarketDataConfig.strict(v, p)
            } ?? MarketDataConfig(),
            enrollment: try o.optional("enrollment") { v, p throws(VenueConfigParseError) in
                let e = try Members(v, p, keys: ["ekRoots", "swtpmEKRoots"])
                func strings(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> [String] {
                    guard case .array(let items) = v else { throw .wrongType(path: p, expected: "an array") }
                    var out: [String] = []
                    for (i, item) in items.enumerated() { out.append(try Members.string(item, JSONPath.element(p, i))) }
                    return out
                }
                return EnrollmentConfig(
                    ekRoots: try e.optional("ekRoots", strings) ?? [],
                    swtpmEKRoots: try e.optional("swtpmEKRoots", strings) ?? [])
            } ?? EnrollmentConfig(),
            options: try o.optional("options") { v, p throws(VenueConfigParseError) in try OptionsConfig.strict(v, p) },
            enclaveLanes: try o.optional("enclaveLanes", Members.int) ?? 1)
    }
}

extension VenueConfig.CodingKeys {
    static var allKeys: Set<String> { Set(allCases.map(\.stringValue)) }
}

extension CommitmentsConfig {
    static func strict(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> CommitmentsConfig {
        let c = try Members(v, p, keys: ["chainId", "verifyingContract", "batchMaxEvents", "batchMaxNanos", "closeOnOracleTick"])
        let d = CommitmentsConfig()
        return CommitmentsConfig(
            chainId: try c.optional("chainId", Members.u64) ?? d.chainId,
            verifyingContract: try c.optional("verifyingContract", Members.string) ?? d.verifyingContract,
            batchMaxEvents: try c.optional("batchMaxEvents", Members.int) ?? d.batchMaxEvents,
            batchMaxNanos: try c.optional("batchMaxNanos", Members.u64) ?? d.batchMaxNanos,
            closeOnOracleTick: try c.optional("closeOnOracleTick", Members.bool) ?? d.closeOnOracleTick)
    }
}

extension MarketConfig {
    static func strict(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> MarketConfig {
        let m = try Members(v, p, keys: ["id", "symbol", "tickSize", "stepSize", "tier", "oracle", "funding"])
        return MarketConfig(
            id: try m.u32("id"), symbol: try m.string("symbol"), tickSize: try m.i64("tickSize"),
            stepSize: try m.i64("stepSize"), tier: try m.string("tier"),
            oracle: try m.object("oracle") { v, p throws(VenueConfigParseError) in
                let o = try Members(v, p, keys: ["publishers", "minPublishers", "stalenessNanos", "maxConfidenceBps",
                                                 "maxDeviationBps", "jumpConfirmationNanos"])
                return OracleConfig(
                    publishers: try o.array("publishers", Members.string), minPublishers: try o.int("minPublishers"),
                    stalenessNanos: try o.u64("stalenessNanos"), maxConfidenceBps: try o.i64("maxConfidenceBps"),
                    maxDeviationBps: try o.i64("maxDeviationBps"), jumpConfirmationNanos: try o.u64("jumpConfirmationNanos"))
            },
            funding: try m.object("funding") { v, p throws(VenueConfigParseError) in
                let f = try Members(v, p, keys: ["intervalNanos", "maxRateBps"])
                return FundingConfig(intervalNanos: try f.u64("intervalNanos"), maxRateBps: try f.i64("maxRateBps"))
            })
    }
}
