import Options
import Wire

/// The engine's option state (docs/OPTIONS.md §10): per underlying its portfolio-margin
/// parameters, realized-volatility estimator, smiles, listed series and the risk arrays
/// of the current (enclave time, mark); per option market slot its underlying and series.
/// Absent (nil in `PerpEngine.options`) on a venue without option markets.
struct OptionsRuntime: Sendable {
    struct Underlying: Sendable {
        /// The perpetual's slot in `PerpEngine.markets`.
        let perpSlot: Int
        let perpID: UInt32
        let margin: MarginConfig
        /// Per-account Greek limits (docs/OPTIONS.md §10.11), nil: none.
        let greekLimits: GreekLimitsConfig?
        var volatility: RealizedVolatility
        /// The configured smiles and the signed volatility feed (docs/OPTIONS.md §10.9).
        var feed: SmileFeed
        /// Instrument i + 1 of the risk arrays.
        let series: [OptionSeries]
        /// The option market slot of each series, and its id.
        let slots: [Int]
        let ids: [UInt32]
        /// Whether each series has settled (its market then trades no more).
        var settled: [Bool]
        /// The risk arrays at `cacheKey` (time, mark, the mark's aggregated confidence,
        /// variance raw, the feed's version and stale count, which together identify the
        /// smiles in use); recomputed when any of them changes.
        var cacheKey: (now: UInt64, mark: Int64, confidence: Int64, variance: Int128, smiles: UInt64, stale: Int)?
        var cache: Result<RiskArrays, OptionsError> = .failure(.priceOutOfRange(0))
        /// The same arrays when `cache` holds them, behind one reference: the health of
        /// every holder reads them at a tick, and a copy of `RiskArrays` retains and
        /// releases each of its six buffers.
        var box: ArraysBox?
        /// Which computation `cache` holds: a number no other computation of any
        /// underlying's arrays in this engine took (`OptionsRuntime.generations`), so equal
        /// generations mean the same arrays (the Greek book and the health memo key on it).
        var generation: UInt64 = 0
    }

    var underlyings: [Underlying]
    /// For option market slot `perpCount + k`: (underlying index, series index).
    let optionSlots: [(underlying: Int, series: Int)]
    /// The first slot of an option market in `PerpEngine.markets` (the perpetuals come first).
    let perpCount: Int
    /// The earliest expiry not yet settled (`.max` when none).
    var nextExpiry: UInt64
    /// Risk-array computations so far, all underlyings (the last generation handed out).
    var generations: UInt64 = 0

    /// Option markets come after every perpetual in `PerpEngine.markets`, in ascending id;
    /// `perpSlots` maps a perpetual id to its slot.
    init(config: OptionsConfig, perpSlot: (UInt32) -> Int, perpOracle: (UInt32) -> OracleConfig, perpCount: Int) {
        let sorted = config.markets.sorted { $0.id < $1.id }
        var slots: [(underlying: Int, series: Int)] = []
        var underlyings: [Underlying] = []
        for u in config.underlyings.sorted(by: { $0.market < $1.market }) {
            var series: [OptionSeries] = []
            var marketSlots: [Int] = []
            var ids: [UInt32] = []
            for (k, m) in sorted.enumerated() where m.underlying == u.market {
                series.append(m.series)
                marketSlots.append(perpCount + k)
                ids.append(m.id)
            }
            var smiles: [UInt64: SVIParameters] = [:]
            for s in u.smiles { smiles[s.expiry] = s.parameters }
            // validate() checked the estimator's configuration.
            let oracle = perpOracle(u.market)
            let feed = SmileFeed(expiries: series.map(\.expiry), configured: smiles, publishers: oracle.publishers,
                                 stalenessNanos: oracle.stalenessNanos)
            underlyings.append(Underlying(
                perpSlot: perpSlot(u.market), perpID: u.market, margin: u.margin.marginConfig,
                greekLimits: u.greekLimits, volatility: try! u.realizedVolatility.estimator(), feed: feed, series: series,
                slots: marketSlots, ids: ids, settled: Array(repeating: false, count: series.count)))
        }
        for m in sorted {
            let ui = underlyings.firstIndex { $0.perpID == m.underlying }!
            let si = underlyings[ui].ids.firstIndex(of: m.id)!
            slots.append((ui, si))
        }
        self.underlyings = underlyings
        optionSlots = slots
        self.perpCount = perpCount
        nextExpiry = sorted.map(\.expiry).min() ?? .max
    }

    /// The underlying whose perpetual is in slot `mi`, if options are listed on it.
    func underlying(perpSlot mi: Int) -> Int? { underlyings.firstIndex { $0.perpSlot == mi } }

    /// The risk arrays of underlying `u` at `now` with the perpetual's valid `mark` and its
    /// aggregated `confidence` (`OracleState.confidence(at:)`, micro-units; docs/OPTIONS.md
    /// §10.2): time ⌊now / 1 s⌋ × 1 s, σ_ewma = √v of the estimator, the smiles of
    /// `SmileFeed.smiles(at: now)` (the exact `now`). Cached per (that time, mark,
    /// confidence, variance, smiles).
    mutating func arrays(_ u: Int, mark: Int64, confidence: Int64, now exact: UInt64)
        -> Result<RiskArrays, OptionsError>
    {
        // Time to expiry is taken at the whole second (docs/OPTIONS.md §10.2), so between
        // oracle ticks the arrays are recomputed once a second, not at every event.
        let now = Self.riskTime(exact)
        if holds(u, mark: mark, confidence: confidence, now: exact) { return underlyings[u].cache }
        let variance = underlyings[u].volatility.variance.raw
        let version = underlyings[u].feed.version
        let stale = underlyings[u].feed.staleCount(at: exact)
        let state = UnderlyingState(
            mark: mark, confidence: confidence, now: now, realizedVolatility: underlyings[u].volatility.volatility,
            smiles: underlyings[u].feed.smiles(at: exact))
        let result: Result<RiskArrays, OptionsError>
        do { result = .success(try RiskArrays(state: state, series: underlyings[u].series, config: underlyings[u].margin)) }
        catch { result = .failure(error) }
        underlyings[u].cacheKey = (now, mark, confidence, variance, version, stale)
        underlyings[u].cache = result
        if case .success(let a) = result { underlyings[u].box = ArraysBox(a) } else { underlyings[u].box = nil }
        generations += 1
        underlyings[u].generation = generations
        return result
    }

    /// The generation of underlying `u`'s arrays at (`mark`, `confidence`, `now`), computing them if the
    /// cache does not hold them; nil if they are refused. Copies no array (the callers
    /// only compare generations).
    mutating func generation(_ u: Int, mark: Int64, confidence: Int64, now exact: UInt64) -> UInt64? {
        if holds(u, mark: mark, confidence: confidence, now: exact) {
            if case .failure = underlyings[u].cache { return nil }
            return underlyings[u].generation
        }
        guard case .success = arrays(u, mark: mark, confidence: confidence, now: exact) else { return nil }
        return underlyings[u].generation
    }

    /// Whether underlying `u`'s cache holds the arrays (or their refusal) at (`mark`,
    /// `confidence`, `now`): the one test of the cache key that `arrays` and `generation`
    /// share.
    private func holds(_ u: Int, mark: Int64, confidence: Int64, now exact: UInt64) -> Bool {
        guard let k = underlyings[u].cacheKey else { return false }
        return k.now == Self.riskTime(exact) && k.mark == mark && k.confidence == confidence
            && k.variance == underlyings[u].volatility.variance.raw
            && k.smiles == underlyings[u].feed.version && k.stale == underlyings[u].feed.staleCount(at: exact)
    }

    /// The enclave time the risk arrays use: `now` rounded down to a whole second.
    static func riskTime(_ now: UInt64) -> UInt64 { now - now % 1_000_000_000 }

    /// Cash-settlement value per whole base unit of a series at the settlement mark F:
    /// max(F − K, 0) for a call, max(K − F, 0) for a put (micro-units).
    static func intrinsic(_ s: OptionSeries, mark f: Int64) -> Int64 {
        s.kind == .call ? max(f - s.strike, 0) : max(s.strike - f, 0)
    }
}

/// One underlying's risk arrays behind a single reference (`OptionsRuntime.Underlying.box`).
/// Its methods read the arrays in place: a `RiskArrays` taken out of it is a copy.
final class ArraysBox: Sendable {
    let arrays: RiskArrays
    init(_ arrays: RiskArrays) { self.arrays = arrays }

    /// Instrument `i`'s price at the current state (0: the perpetual, i + 1: series i).
    func price(_ i: Int) -> Fixed { arrays.greeks[i].price }

    /// `PortfolioMargin.evaluate` on these arrays, positions in a caller's buffer.
    func evaluate(_ positions: UnsafeBufferPointer<MarginPosition>, config: MarginConfig) throws(OptionsError) -> MarginResult {
        try PortfolioMargin.evaluate(positions, arrays: arrays, config: config)
    }

    /// `PortfolioMargin.greeks` on these arrays, positions in a caller's buffer.
    func greeks(_ positions: UnsafeBufferPointer<MarginPosition>) throws(OptionsError) -> PortfolioGreeks {
        try PortfolioMargin.greeks(positions, arrays: arrays)
    }

    /// `PortfolioMargin.greeks` on these arrays.
    func greeks(_ positions: [MarginPosition]) throws(OptionsError) -> PortfolioGreeks {
        try PortfolioMargin.greeks(positions, arrays: arrays)
    }
}

extension OptionsRuntime {
    /// Per underlying in order: the estimator's variance (Q64 raw, i128), whether it has a
    /// last tick (u8) and if so its price (i64) and time (u64), then one u8 per series
    /// (1: settled), then its smile feed (`SmileFeed.writeSnapshot`). The risk-array cache
    /// is not state and is left out.
    func writeSnapshot(into w: inout ByteWriter) {
        for u in underlyings {
            w.writeSnapshot(u.volatility.variance.raw)
            w.writeSnapshot(u.volatility.last != nil)
            if let last = u.volatility.last {
                w.write(UInt64(bitPattern: last.price))
                w.write(last.time)
            }
            for settled in u.settled { w.writeSnapshot(settled) }
            u.feed.writeSnapshot(into: &w)
        }
    }

    mutating func restore(_ r: inout SnapshotReader) throws(EngineSnapshotError) {
        for u in underlyings.indices {
            let variance = Fixed(raw: try r.i128())
            let last: (price: Int64, time: UInt64)? = try r.bool("option volatility last") ? (try r.i64(), try r.u64()) : nil
            let v = underlyings[u].volatility
            do {
                underlyings[u].volatility = try RealizedVolatility(
                    halfLifeNanos: v.halfLifeNanos, minIntervalNanos: v.minIntervalNanos, variance: variance, last: last)
            } catch { throw .malformed("option volatility of underlying \(underlyings[u].perpID)") }
            for i in underlyings[u].settled.indices { underlyings[u].settled[i] = try r.bool("option settled") }
            try underlyings[u].feed.restore(&r, underlying: underlyings[u].perpID)
            underlyings[u].cacheKey = nil
        }
        var next = UInt64.max
        for u in underlyings {
            for i in u.series.indices where !u.settled[i] { next = min(next, u.series[i].expiry) }
        }
        nextExpiry = next
    }
}
