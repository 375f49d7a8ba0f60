import Options
import StrictJSON

extension OptionsConfig {
    /// Most option markets on one underlying: with its perpetual, a portfolio on it then
    /// never exceeds `PortfolioMargin.maxPositions` (512).
    public static let maxSeriesPerUnderlying = PortfolioMargin.maxPositions - 1
    /// An option market's expiry is a multiple of this, ns (one second).
    public static let expiryGranularity: UInt64 = 1_000_000_000
    /// Latest expiry, ns of enclave time: 100 years of 365 days, so the time to expiry
    /// never leaves Black-76's 0...100 years (docs/OPTIONS.md §4.1), whatever the clock.
    public static let maxExpiry: UInt64 = 100 * 365 * 86_400 * 1_000_000_000

    /// The rules of docs/CONFIG.md "Options", in the order written there; the first that
    /// fails is thrown as `invalid("PATH: REASON")` with the JSON path of the offending value.
    func validate(perpetuals: [MarketConfig]) throws(ConfigError) {
        let perpIDs = Set(perpetuals.map(\.id))
        var underlyingIDs = Set<UInt32>()
        for (i, u) in underlyings.enumerated() {
            let p = "$.options.underlyings[\(i)]"
            guard perpIDs.contains(u.market) else { throw .invalid("\(p).market: not a perpetual market id") }
            guard underlyingIDs.insert(u.market).inserted else { throw .invalid("\(p).market: duplicate underlying") }
            do { try u.margin.marginConfig.validate() } catch {
                guard case .invalidMarginConfig(let field) = error else { throw .invalid("\(p).margin: out of range") }
                throw .invalid("\(p).margin.\(field): out of range")
            }
            do { _ = try u.realizedVolatility.estimator() } catch {
                guard case .invalidMarginConfig(let field) = error else {
                    throw .invalid("\(p).realizedVolatility: out of range")
                }
                throw .invalid("\(p).realizedVolatility.\(field): out of range")
            }
            var expiries = Set<UInt64>()
            for (k, s) in u.smiles.enumerated() {
                guard expiries.insert(s.expiry).inserted else { throw .invalid("\(p).smiles[\(k)].expiry: duplicate expiry") }
                do { try s.parameters.validate() } catch {
                    guard case .invalidSVI(let why) = error else { throw .invalid("\(p).smiles[\(k)]: invalid SVI") }
                    throw .invalid("\(p).smiles[\(k)]: invalid SVI (\(why.rawValue))")
                }
            }
            try u.greekLimits?.validate("\(p).greekLimits")
        }
        var ids = perpIDs
        var series = Set<SeriesKey>()
        var perUnderlying: [UInt32: Int] = [:]
        for (i, m) in markets.enumerated() {
            let p = "$.options.markets[\(i)]"
            guard ids.insert(m.id).inserted else { throw .invalid("\(p).id: duplicate market id \(m.id)") }
            guard let u = underlying(m.underlying) else {
                throw .invalid("\(p).underlying: no options.underlyings entry for market \(m.underlying)")
            }
            guard m.strike >= 1, m.strike <= Black76.maxPrice else { throw .invalid("\(p).strike: must be 1...2^50") }
            guard m.contractSize > 0 else { throw .invalid("\(p).contractSize: must be > 0") }
            guard m.tickSize > 0 else { throw .invalid("\(p).tickSize: must be > 0") }
            // Whole seconds: the risk arrays take time at the whole second (OPTIONS §10.2),
            // so at and after an expiry on the second T is exactly 0, as admission and
            // settlement (`enclaveTime ≥ expiry`) say.
            guard m.expiry % Self.expiryGranularity == 0 else {
                throw .invalid("\(p).expiry: must be a whole second (a multiple of 1000000000 ns)")
            }
            // T = yearFraction(now, expiry) ≤ 100 years at any enclave time (§4.1's domain).
            guard m.expiry <= Self.maxExpiry else {
                throw .invalid("\(p).expiry: must be at most 100 years of enclave time (3153600000000000000 ns)")
            }
            guard u.smiles.contains(where: { $0.expiry == m.expiry }) else {
                throw .invalid("\(p).expiry: no smile for this expiry in the underlying's smiles")
            }
            guard series.insert(SeriesKey(underlying: m.underlying, series: m.series)).inserted else {
                throw .invalid("\(p): duplicate series (underlying, kind, strike, expiry)")
            }
            perUnderlying[m.underlying, default: 0] += 1
            guard perUnderlying[m.underlying]! <= Self.maxSeriesPerUnderlying else {
                throw .invalid("\(p): more than \(Self.maxSeriesPerUnderlying) option markets on one underlying")
            }
        }
        try marginCall?.validate(underlyings: underlyings.count)
    }

    private struct SeriesKey: Hashable {
        let underlying: UInt32
        let series: OptionSeries
    }

    static func strict(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> OptionsConfig {
        let o = try Members(v, p, keys: ["underlyings", "markets", "marginCall"])
        return OptionsConfig(
            underlyings: try o.array("underlyings") { v, p throws(VenueConfigParseError) in
                try OptionUnderlyingConfig.strict(v, p)
            },
            markets: try o.array("markets") { v, p throws(VenueConfigParseError) in try OptionMarketConfig.strict(v, p) },
            marginCall: try o.optional("marginCall", MarginCallConfig.strict))
    }
}

extension OptionUnderlyingConfig {
    static func strict(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> OptionUnderlyingConfig {
        let u = try Members(v, p, keys: ["market", "margin", "realizedVolatility", "smiles", "greekLimits"])
        return OptionUnderlyingConfig(
            market: try u.u32("market"),
            margin: try u.object("margin") { v, p throws(VenueConfigParseError) in
                let m = try Members(v, p, keys: [
                    "priceBuckets", "minScanBps", "maxScanBps", "scanDeviationsMilli", "horizonNanos", "volUpBps",
                    "volDownBps", "extremeMultiple", "extremeCoverBps", "shortOptionMinimumBps", "initialRatioBps",
                ])
                return PortfolioMarginConfig(
                    priceBuckets: try m.i64("priceBuckets"), minScanBps: try m.i64("minScanBps"),
                    maxScanBps: try m.i64("maxScanBps"), scanDeviationsMilli: try m.i64("scanDeviationsMilli"),
                    horizonNanos: try m.u64("horizonNanos"), volUpBps: try m.i64("volUpBps"),
                    volDownBps: try m.i64("volDownBps"), extremeMultiple: try m.i64("extremeMultiple"),
                    extremeCoverBps: try m.i64("extremeCoverBps"),
                    shortOptionMinimumBps: try m.i64("shortOptionMinimumBps"),
                    initialRatioBps: try m.i64("initialRatioBps"))
            },
            realizedVolatility: try u.object("realizedVolatility") { v, p throws(VenueConfigParseError) in
                let r = try Members(v, p, keys: ["halfLifeNanos", "minIntervalNanos", "initialVolatilityPpm"])
                return RealizedVolatilityConfig(
                    halfLifeNanos: try r.u64("halfLifeNanos"), minIntervalNanos: try r.u64("minIntervalNanos"),
                    initialVolatilityPpm: try r.i64("initialVolatilityPpm"))
            },
            smiles: try u.array("smiles") { v, p throws(VenueConfigParseError) in
                let s = try Members(v, p, keys: ["expiry", "a", "b", "rho", "m", "sigma"])
                return SmileConfig(
                    expiry: try s.u64("expiry"), a: try s.i64("a"), b: try s.i64("b"), rho: try s.i64("rho"),
                    m: try s.i64("m"), sigma: try s.i64("sigma"))
            },
            greekLimits: try u.optional("greekLimits", GreekLimitsConfig.strict))
    }
}

extension OptionMarketConfig {
    static func strict(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> OptionMarketConfig {
        let m = try Members(
            v, p, keys: ["id", "symbol", "underlying", "kind", "strike", "expiry", "contractSize", "tickSize"])
        let name = try m.string("kind")
        guard let kind = Kind(rawValue: name) else {
            throw .wrongType(path: p + ".kind", expected: "one of \"call\", \"put\"")
        }
        return OptionMarketConfig(
            id: try m.u32("id"), symbol: try m.string("symbol"), underlying: try m.u32("underlying"), kind: kind,
            strike: try m.i64("strike"), expiry: try m.u64("expiry"), contractSize: try m.i64("contractSize"),
            tickSize: try m.i64("tickSize"))
    }
}
