import Engine
import Options
import Wire

/// The options drill's own expectation of which accounts fall below maintenance
/// (docs/OPTIONS.md §10.2–10.4, §10.9, §7), computed from public inputs and what the drill
/// knows of its own accounts, never from the engine's answers: the underlying's mark from
/// `MarkReplay` (the documented mark rules over the signed prices), and everything else
/// with the Options module's public functions — the EWMA estimator (`RealizedVolatility`)
/// sampled at recorded prices that move the mark (§10.4), the smile in force (§10.9), the
/// risk arrays at the whole second (§7.4, §10.2) and `PortfolioMargin.evaluate` (§7.5).
/// Pure: the drill feeds it the sequenced events (from the signed event log) in order.
public struct OptionsDrillReference: Sendable {
    /// An account as the drill knows it: collateral (deposit ± premiums − fees,
    /// micro-units) and its option positions (market id → base units of 10⁻⁸).
    public struct Account: Sendable {
        public var collateral: Int128
        public var positions: [UInt32: Int64]

        public init(collateral: Int128, positions: [UInt32: Int64]) {
            self.collateral = collateral
            self.positions = positions
        }
    }

    /// An account's health at one event (§10.3): equity, the portfolio's margin and the
    /// arrays' scan range and scenario grid it was computed on.
    public struct Health: Sendable {
        public var equity: Int128
        public var margin: MarginResult
        public var mark: Int64
        public var scanRangeBps: Int64
        public var scenario: Options.Scenario
        public var belowMaintenance: Bool { equity < margin.maintenance }
    }

    /// What one sequenced event is to the reference.
    public enum Input: Sendable {
        case oraclePrice(OraclePrice)
        case oracleSmile(OracleSmile)
        /// A deposit or a sealed request: only its time counts.
        case other
    }

    public enum ReferenceError: Error, Equatable, CustomStringConvertible {
        /// The venue has no option underlying `market`, or none of its option markets.
        case noOptions(underlying: UInt32)
        case options(OptionsError)

        public var description: String {
            switch self {
            case .noOptions(let u): "the venue lists no option markets on underlying \(u)"
            case .options(let e): "options math refused the state: \(e)"
            }
        }
    }

    public let underlying: OptionUnderlyingConfig
    /// Option markets on the underlying in ascending id: instrument i + 1 is `optionIDs[i]`.
    public let optionIDs: [UInt32]
    let series: [OptionSeries]
    let margin: MarginConfig
    let publishers: Set<String>
    let stalenessNanos: UInt64
    var marks: MarkReplay
    /// The estimator, as §10.4 samples it.
    public private(set) var estimator: RealizedVolatility
    /// Per expiry: each publisher's last recorded publish time, and the smile in force
    /// (§10.9: greatest publish time, ties to the later recorded).
    var lastPublished: [UInt64: [String: UInt64]] = [:]
    var inForce: [UInt64: (publishTime: UInt64, parameters: SVIParameters)] = [:]

    public init(config: VenueConfig, underlying perp: UInt32) throws(ReferenceError) {
        guard let u = config.options?.underlying(perp), let oracle = config.market(perp)?.oracle else {
            throw .noOptions(underlying: perp)
        }
        let markets = config.options!.markets.filter { $0.underlying == perp }.sorted { $0.id < $1.id }
        guard !markets.isEmpty else { throw .noOptions(underlying: perp) }
        underlying = u
        optionIDs = markets.map(\.id)
        series = markets.map(\.series)
        margin = u.margin.marginConfig
        publishers = Set(oracle.publishers.map { $0.lowercased() })
        stalenessNanos = oracle.stalenessNanos
        marks = MarkReplay(config: config)
        do { estimator = try u.realizedVolatility.estimator() } catch { throw .options(error) }
    }

    /// Applies one sequenced event at enclave time `time` (§10.4's sample after a recorded
    /// price that moves the mark; §10.9's recording of a smile).
    public mutating func apply(_ input: Input, at time: UInt64) {
        switch input {
        case .oraclePrice(let p):
            let recorded = marks.apply(.oraclePrice(p), at: time)
            guard recorded, p.market == underlying.market, case .success(let mark) = marks.mark(p.market, at: time),
                  mark != estimator.last?.price
            else { return }
            try? estimator.update(price: mark, time: time)
        case .oracleSmile(let s):
            marks.apply(.other, at: time)
            let publisher = Hex.encode(s.publisher)
            guard s.underlying == underlying.market, series.contains(where: { $0.expiry == s.expiry }),
                  publishers.contains(publisher),
                  case let parameters = SVIParameters(nanoUnits: s.a, b: s.b, rho: s.rho, m: s.m, sigma: s.sigma),
                  (try? parameters.validate()) != nil,
                  s.publishTime > lastPublished[s.expiry]?[publisher] ?? 0
            else { return }
            lastPublished[s.expiry, default: [:]][publisher] = s.publishTime
            if s.publishTime >= inForce[s.expiry]?.publishTime ?? 0 {
                inForce[s.expiry] = (s.publishTime, parameters)
            }
        case .other:
            marks.apply(.other, at: time)
        }
    }

    /// The smiles pricing each listed expiry at exact time `now` (§10.9), nil when one
    /// expiry's signed smile has gone stale (the options are then unpriced).
    func smiles(at now: UInt64) -> [UInt64: SVIParameters]? {
        var out: [UInt64: SVIParameters] = [:]
        for s in underlying.smiles { out[s.expiry] = s.parameters }
        for expiry in Set(series.map(\.expiry)) where expiry > now {
            guard let signed = inForce[expiry] else { continue }
            guard now <= signed.publishTime || now - signed.publishTime <= stalenessNanos else { return nil }
            out[expiry] = signed.parameters
        }
        return out
    }

    /// The risk arrays after the last applied event, at its enclave time `time` (§10.2:
    /// mark F, its aggregated confidence c, time rounded down to a whole second, σ_ewma =
    /// √v); nil when the underlying's mark is invalid or a smile is missing.
    public mutating func arrays(at time: UInt64) throws(ReferenceError) -> RiskArrays? {
        guard case .success(let mark) = marks.mark(underlying.market, at: time),
              let confidence = marks.peekConfidence(underlying.market, at: time), let smiles = smiles(at: time)
        else {
            return nil
        }
        let state = UnderlyingState(mark: mark, confidence: confidence, now: time / 1_000_000_000 * 1_000_000_000,
                                    realizedVolatility: estimator.volatility, smiles: smiles)
        do { return try RiskArrays(state: state, series: series, config: margin) } catch { throw .options(error) }
    }

    /// The option mark of `market` in `arrays`: ⌊V₀⌋ (§10.2).
    public func optionMark(_ market: UInt32, in arrays: RiskArrays) -> Int64? {
        optionIDs.firstIndex(of: market).map { Int64(arrays.greeks[$0 + 1].price.floor) }
    }

    /// §10.3 for an account holding options on this underlying only: equity
    /// `C + Σ ⌊mark × q / 10⁸⌋` at the option marks, maintenance by §7.5.
    public func health(_ account: Account, arrays: RiskArrays) throws(ReferenceError) -> Health {
        var equity = account.collateral
        var positions: [MarginPosition] = []
        for (market, q) in account.positions.sorted(by: { $0.key < $1.key }) where q != 0 {
            guard let i = optionIDs.firstIndex(of: market) else { throw .noOptions(underlying: underlying.market) }
            equity += Self.notional(price: Int64(arrays.greeks[i + 1].price.floor), quantity: q)
            positions.append(MarginPosition(instrument: i + 1, size: q))
        }
        let result: MarginResult
        do { result = try PortfolioMargin.evaluate(positions, arrays: arrays, config: margin) } catch { throw .options(error) }
        return Health(equity: equity, margin: result, mark: arrays.mark, scanRangeBps: arrays.scanRangeBps,
                      scenario: arrays.scenarios[result.worstScenario])
    }

    /// `⌊price × quantity / 10⁸⌋` (rounded towards −∞), micro-units.
    public static func notional(price: Int64, quantity: Int64) -> Int128 {
        let p = Int128(price) * Int128(quantity)
        return p >= 0 ? p / 100_000_000 : -((-p + 99_999_999) / 100_000_000)
    }

    /// `⌈cash × bps / 10⁴⌉`, the fee of a fill (docs/CONFIG.md fees), micro-units.
    public static func fee(cash: Int128, bps: Int64) -> Int128 {
        (cash * Int128(bps) + 9_999) / 10_000
    }
}
