import Options

/// The volatility and Greeks an option market's public market data line carries
/// (docs/MARKETDATA.md §2.1 `option.quote`): those of a long position of one whole base
/// unit of the series (q = 10⁸ in docs/OPTIONS.md §7.7), from the risk arrays that priced
/// its mark (§10.2), and the underlying's realized volatility. Integers, each rounded down
/// once from the Q64 value and saturated to the Int64 range.
public struct OptionQuote: Equatable, Sendable {
    /// σ(K) of OPTIONS §7.4 at the mark: ⌊σ × 10⁶⌋, millionths (1,000,000 = 100 %).
    public var impliedVolatilityPpm: Int64
    /// √v of the underlying's estimator (OPTIONS §6, §10.4): ⌊√v × 10⁶⌋, millionths.
    public var realizedVolatilityPpm: Int64
    /// ⌊10⁸ × delta⌋: base units of 10⁻⁸ of the underlying per whole unit held.
    public var delta: Int64
    /// ⌊10⁸ × gamma⌋: base units of 10⁻⁸ of delta per quote unit (one USD) of price.
    public var gamma: Int64
    /// ⌊vega⌋: quote micro-units per 1.0 (100 points) of volatility.
    public var vega: Int64
    /// ⌊theta⌋: quote micro-units per year of 365 days (≤ 0).
    public var theta: Int64

    public init(impliedVolatilityPpm: Int64, realizedVolatilityPpm: Int64, delta: Int64, gamma: Int64, vega: Int64,
                theta: Int64) {
        self.impliedVolatilityPpm = impliedVolatilityPpm
        self.realizedVolatilityPpm = realizedVolatilityPpm
        self.delta = delta
        self.gamma = gamma
        self.vega = vega
        self.theta = theta
    }

    /// Instrument `instrument` (i + 1 for the i-th series) of `arrays`, with the
    /// underlying's realized volatility `realized` (√v).
    public init(arrays: RiskArrays, instrument: Int, realized: Fixed) {
        let g = arrays.greeks[instrument]
        self.init(impliedVolatilityPpm: Self.scaled(arrays.volatilities[instrument], 1_000_000),
                  realizedVolatilityPpm: Self.scaled(realized, 1_000_000), delta: Self.scaled(g.delta, 100_000_000),
                  gamma: Self.scaled(g.gamma, 100_000_000), vega: Self.scaled(g.vega, 1), theta: Self.scaled(g.theta, 1))
    }

    /// ⌊x × n⌋ of a Q64 value, saturated to the Int64 range.
    static func scaled(_ x: Fixed, _ n: Int128) -> Int64 {
        let v = Wide.mulDiv(x.raw, n, Int128(1) << 64)
        return v > Int128(Int64.max) ? .max : v < Int128(Int64.min) ? .min : Int64(v)
    }
}
