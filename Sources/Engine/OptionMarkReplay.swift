import Options
import Wire

/// Every option market's mark recomputed from public inputs alone: the signed oracle
/// prices, the signed volatility smiles and the enclave time of every sequenced event
/// (docs/COMMITMENTS.md §5.3 "Recomputing the option marks", docs/OPTIONS.md §10.2).
///
/// It runs the engine's own state and code, not a second implementation: the perpetual
/// marks of `MarkReplay` (the forward F), and the engine's `OptionsRuntime` for the rest:
/// per underlying the realized-volatility estimator (sampled as `PerpEngine.apply` does,
/// docs/OPTIONS.md §10.4), the signed volatility feed (`SmileFeed`, §10.9) and the risk
/// arrays (`RiskArrays`, §7.4) at the enclave time rounded down to a whole second. None
/// of these depends on private state (orders, positions, accounts), so the option mark
/// an auditor recomputes is the enclave's to the micro-unit.
public struct OptionMarkReplay: Sendable {
    /// The perpetual marks (the underlyings' forwards).
    public private(set) var marks: MarkReplay
    /// Nil on a venue without option markets.
    var options: OptionsRuntime?
    /// Option market ids, ascending (engine slot `perpCount + k` is `optionIDs[k]`).
    public let optionIDs: [UInt32]

    /// Refuses a configuration that does not validate (the engine would not start on it).
    public init(config: VenueConfig) throws(ConfigError) {
        try config.validate()
        marks = MarkReplay(config: config)
        let perps = marks.marketIDs
        if let o = config.options {
            options = OptionsRuntime(
                config: o, perpSlot: { id in perps.firstIndex(of: id)! }, perpOracle: { config.market($0)!.oracle },
                perpCount: perps.count)
            optionIDs = o.markets.map(\.id).sorted()
        } else {
            options = nil
            optionIDs = []
        }
    }

    /// What one sequenced event contributes: a price, a smile, or only its time.
    public enum Input: Sendable {
        case oraclePrice(OraclePrice)
        case oracleSmile(OracleSmile)
        /// A deposit or a sealed request.
        case other
    }

    /// Applies one sequenced event at enclave time `time`: the perpetual marks (as
    /// `MarkReplay.apply`), then for a price the perpetual's oracle recorded on an
    /// underlying, the estimator's sample at the mark valid after it when that mark
    /// differs from the last sample (docs/OPTIONS.md §10.4); for a smile, its recording
    /// into the underlying's feed or nothing (§10.9).
    public mutating func apply(_ input: Input, at time: UInt64) {
        switch input {
        case .oraclePrice(let p):
            let recorded = marks.apply(.oraclePrice(p), at: time)
            guard recorded, options != nil, let mi = marks.marketIDs.firstIndex(of: p.market),
                  let u = options!.underlying(perpSlot: mi),
                  case .success(let mark) = marks.mark(p.market, at: time),
                  mark != options!.underlyings[u].volatility.last?.price
            else { return }
            try? options!.underlyings[u].volatility.update(price: mark, time: time)
        case .oracleSmile(let s):
            marks.apply(.other, at: time)
            guard let u = options?.underlyings.firstIndex(where: { $0.perpID == s.underlying }) else { return }
            _ = options!.underlyings[u].feed.record(s)
        case .other:
            marks.apply(.other, at: time)
        }
    }

    /// The public mark of option market `market` at `time`, after the last applied event:
    /// its underlying `id`, the underlying's mark F (nil when invalid), the option mark
    /// `⌊V₀⌋` of docs/OPTIONS.md §10.2 or why there is none (the underlying's reason, or
    /// `noPrice` when §7.4 refuses the underlying's state), and with a mark its volatility
    /// and Greeks as the market data publishes them (`OptionQuote`). Nil for a market
    /// that is not an option market. Evaluated on a copy of the underlying's oracle, as
    /// the market data and `haltedMarkets` are; mutating only for the risk-array memo.
    public mutating func optionMark(_ market: UInt32, at time: UInt64)
        -> (underlying: UInt32, forward: Int64?, mark: Result<Int64, PriceInvalidityError>, quote: OptionQuote?)?
    {
        guard let k = optionIDs.firstIndex(of: market), options != nil else { return nil }
        let (u, i) = options!.optionSlots[k]
        let perp = options!.underlyings[u].perpID
        switch marks.peekMark(perp, at: time) {
        case .failure(let e): return (perp, nil, .failure(e), nil)
        case .success(let f):
            switch options!.arrays(u, mark: f, confidence: marks.peekConfidence(perp, at: time) ?? 0, now: time) {
            case .success(let a):
                let quote = OptionQuote(arrays: a, instrument: i + 1, realized: options!.underlyings[u].volatility.volatility)
                return (perp, f, .success(Int64(a.greeks[i + 1].price.floor)), quote)
            case .failure: return (perp, f, .failure(PriceInvalidityError(reason: .noPrice)), nil)
            }
        }
    }

    /// The expiry of option market `market`, nil for another market.
    public func expiry(of market: UInt32) -> UInt64? {
        guard let k = optionIDs.firstIndex(of: market), let options else { return nil }
        let (u, i) = options.optionSlots[k]
        return options.underlyings[u].series[i].expiry
    }
}
