import Options

/// The venue's option markets and the portfolio-margin parameters of their underlyings
/// (docs/CONFIG.md "Options", docs/OPTIONS.md §10). Optional in the file: a venue without
/// it lists perpetuals only and margins every account with the linear model. Part of the
/// measured configuration, SVI smiles included (the signed volatility feed of
/// docs/OPTIONS.md §10.9 replaces an expiry's configured smile once it publishes one).
public struct OptionsConfig: Codable, Equatable, Sendable {
    /// One entry per perpetual market whose underlying options are listed on.
    public var underlyings: [OptionUnderlyingConfig]
    /// The option markets (series), each on one of `underlyings`.
    public var markets: [OptionMarketConfig]
    /// Private margin calls to accounts holding options (docs/OPTIONS.md §10.10); nil:
    /// none are sent. Absent from the file when nil, so older files hash the same.
    public var marginCall: MarginCallConfig?

    public init(underlyings: [OptionUnderlyingConfig], markets: [OptionMarketConfig], marginCall: MarginCallConfig? = nil) {
        self.underlyings = underlyings
        self.markets = markets
        self.marginCall = marginCall
    }

    public func underlying(_ market: UInt32) -> OptionUnderlyingConfig? { underlyings.first { $0.market == market } }
    public func market(_ id: UInt32) -> OptionMarketConfig? { markets.first { $0.id == id } }
}

/// The underlying of a set of option markets: a perpetual market of the venue, whose
/// oracle mark is the options' forward and settlement price.
public struct OptionUnderlyingConfig: Codable, Equatable, Sendable {
    /// Id of a perpetual market in `markets[]`.
    public var market: UInt32
    /// The scenario grid and contingencies (docs/OPTIONS.md §7.1), one per underlying.
    public var margin: PortfolioMarginConfig
    /// The EWMA of the underlying's oracle marks that widens the scan range (§6, §7.2).
    public var realizedVolatility: RealizedVolatilityConfig
    /// One SVI smile per listed expiry (§5), unique expiries.
    public var smiles: [SmileConfig]
    /// Per-account delta and gamma limits of portfolios on this underlying
    /// (docs/OPTIONS.md §10.11); nil: none. Absent from the file when nil.
    public var greekLimits: GreekLimitsConfig?

    public init(
        market: UInt32, margin: PortfolioMarginConfig, realizedVolatility: RealizedVolatilityConfig, smiles: [SmileConfig],
        greekLimits: GreekLimitsConfig? = nil
    ) {
        self.market = market
        self.margin = margin
        self.realizedVolatility = realizedVolatility
        self.smiles = smiles
        self.greekLimits = greekLimits
    }
}

/// `Options.MarginConfig` as it appears in the file: the same fields, the same names and
/// ranges (checked by `MarginConfig.validate()`).
public struct PortfolioMarginConfig: Codable, Equatable, Sendable {
    public var priceBuckets: Int64
    public var minScanBps: Int64
    public var maxScanBps: Int64
    public var scanDeviationsMilli: Int64
    /// ns.
    public var horizonNanos: UInt64
    public var volUpBps: Int64
    public var volDownBps: Int64
    public var extremeMultiple: Int64
    public var extremeCoverBps: Int64
    public var shortOptionMinimumBps: Int64
    public var initialRatioBps: Int64

    public init(
        priceBuckets: Int64, minScanBps: Int64, maxScanBps: Int64, scanDeviationsMilli: Int64, horizonNanos: UInt64,
        volUpBps: Int64, volDownBps: Int64, extremeMultiple: Int64, extremeCoverBps: Int64, shortOptionMinimumBps: Int64,
        initialRatioBps: Int64
    ) {
        self.priceBuckets = priceBuckets
        self.minScanBps = minScanBps
        self.maxScanBps = maxScanBps
        self.scanDeviationsMilli = scanDeviationsMilli
        self.horizonNanos = horizonNanos
        self.volUpBps = volUpBps
        self.volDownBps = volDownBps
        self.extremeMultiple = extremeMultiple
        self.extremeCoverBps = extremeCoverBps
        self.shortOptionMinimumBps = shortOptionMinimumBps
        self.initialRatioBps = initialRatioBps
    }

    /// The Options module's value. `priceBuckets` outside 1...64 maps to 0, which
    /// `validate()` refuses, so no Int64 truncates silently.
    public var marginConfig: MarginConfig {
        MarginConfig(
            priceBuckets: (1...64).contains(priceBuckets) ? Int(priceBuckets) : 0, minScanBps: minScanBps,
            maxScanBps: maxScanBps, scanDeviationsMilli: scanDeviationsMilli, horizonNanos: horizonNanos,
            volUpBps: volUpBps, volDownBps: volDownBps, extremeMultiple: extremeMultiple,
            extremeCoverBps: extremeCoverBps, shortOptionMinimumBps: shortOptionMinimumBps,
            initialRatioBps: initialRatioBps)
    }
}

/// The realized-volatility estimator of an underlying (docs/OPTIONS.md §6).
public struct RealizedVolatilityConfig: Codable, Equatable, Sendable {
    /// Half-life of a return's weight, ns, 1...2^62.
    public var halfLifeNanos: UInt64
    /// Shortest interval a return is annualized over, ns, 1...2^62.
    public var minIntervalNanos: UInt64
    /// The estimate before any return, annualized volatility in millionths (800000 =
    /// 80 %), 0...16,000,000. The starting variance is `Q(ppm, 10^6) ⊗ Q(ppm, 10^6)`.
    public var initialVolatilityPpm: Int64

    public init(halfLifeNanos: UInt64, minIntervalNanos: UInt64, initialVolatilityPpm: Int64) {
        self.halfLifeNanos = halfLifeNanos
        self.minIntervalNanos = minIntervalNanos
        self.initialVolatilityPpm = initialVolatilityPpm
    }

    /// Q(ppm, 10^6) ⊗ Q(ppm, 10^6), each step rounded down (docs/CONFIG.md "Options").
    public var initialVariance: Fixed {
        let sigma = Fixed(ratio: Int128(initialVolatilityPpm), 1_000_000)
        return sigma * sigma
    }

    /// A fresh estimator, or the field the Options module refuses.
    public func estimator() throws(OptionsError) -> RealizedVolatility {
        guard (0...16_000_000).contains(initialVolatilityPpm) else { throw .invalidMarginConfig("initialVolatilityPpm") }
        return try RealizedVolatility(
            halfLifeNanos: halfLifeNanos, minIntervalNanos: minIntervalNanos, initialVariance: initialVariance)
    }
}

/// Raw SVI parameters of one expiry (docs/OPTIONS.md §5), integers in units of 10^-9.
public struct SmileConfig: Codable, Equatable, Sendable {
    /// Enclave time, ns: the expiry of the option markets this smile prices.
    public var expiry: UInt64
    public var a: Int64
    public var b: Int64
    public var rho: Int64
    public var m: Int64
    public var sigma: Int64

    public init(expiry: UInt64, a: Int64, b: Int64, rho: Int64, m: Int64, sigma: Int64) {
        self.expiry = expiry
        self.a = a
        self.b = b
        self.rho = rho
        self.m = m
        self.sigma = sigma
    }

    public var parameters: SVIParameters { SVIParameters(nanoUnits: a, b: b, rho: rho, m: m, sigma: sigma) }

    /// Whether the parameters pass docs/OPTIONS.md §5.2.
    public var isValid: Bool { (try? parameters.validate()) != nil }
}

/// One option market: a European call or put on an underlying, cash-settled at `expiry`
/// against the underlying's oracle mark. Its order book trades premium.
public struct OptionMarketConfig: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case call, put

        public var optionKind: OptionKind { self == .call ? .call : .put }
    }

    /// Unique among all markets, perpetual and option (orders name it).
    public var id: UInt32
    public var symbol: String
    /// Id of the perpetual market in `options.underlyings[]` whose mark is the forward.
    public var underlying: UInt32
    public var kind: Kind
    /// Quote micro-units per whole base unit, 1...2^50.
    public var strike: Int64
    /// Enclave time, ns; `options.underlyings[]` of `underlying` has a smile for it.
    public var expiry: UInt64
    /// One contract, base units of 10^-8 of the underlying (> 0): order quantities and
    /// positions are multiples of it (the market's lot, as `stepSize` of a perpetual).
    public var contractSize: Int64
    /// Premium prices must be multiples of this, quote micro-units per whole base unit (> 0).
    public var tickSize: Int64

    public init(
        id: UInt32, symbol: String, underlying: UInt32, kind: Kind, strike: Int64, expiry: UInt64, contractSize: Int64,
        tickSize: Int64
    ) {
        self.id = id
        self.symbol = symbol
        self.underlying = underlying
        self.kind = kind
        self.strike = strike
        self.expiry = expiry
        self.contractSize = contractSize
        self.tickSize = tickSize
    }

    public var series: OptionSeries { OptionSeries(kind: kind.optionKind, strike: strike, expiry: expiry) }
}
