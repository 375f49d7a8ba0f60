import Wire

/// Every market's mark recomputed from public inputs alone: the signed oracle prices and
/// the enclave time of every sequenced event (docs/COMMITMENTS.md §5.3). The engine keeps
/// state as it evaluates marks (the deviation guard's reference and pending jump, the
/// cached mark and how long it holds), so the marks depend on *when* they are evaluated,
/// not only on the prices. This type evaluates them exactly when `PerpEngine.apply`
/// does, which depends only on what the event log shows:
///
/// 1. an oracle price of a configured market from a registered publisher, newer than that
///    publisher's last, is recorded: the median is evaluated at the event's time and
///    passes the deviation guard, and the cached mark is dropped;
/// 2. then, after every event of any kind (refused ones too), every market's mark is
///    evaluated at the event's time (the liquidation pass, docs/CONFIG.md M2): a market
///    whose cached mark still holds at that time keeps it, any other evaluates its
///    median and runs it past the guard again;
/// 3. a batch's `haltedMarkets` are the markets with no valid mark at the header's
///    `enclaveTime`, evaluated on a copy (the close changes no oracle state).
///
/// The engine and this replay share `OracleState`; `MarkReplayTests` runs both on the
/// same random streams and compares every mark.
public struct MarkReplay: Sendable {
    /// Market ids, ascending; `oracles` in the same order.
    public let marketIDs: [UInt32]
    var oracles: [OracleState]

    public init(config: VenueConfig) {
        let markets = config.markets.sorted { $0.id < $1.id }
        marketIDs = markets.map(\.id)
        oracles = markets.map { OracleState(config: $0.oracle) }
    }

    /// What one sequenced event contributes to the marks: its price, if it is one.
    public enum Input: Sendable {
        case oraclePrice(OraclePrice)
        /// A deposit or a sealed request: only its time counts.
        case other
    }

    /// Applies one sequenced event at enclave time `time` (rules 1 and 2). True when the
    /// event is a price that its market's oracle recorded (rule 1).
    @discardableResult
    public mutating func apply(_ input: Input, at time: UInt64) -> Bool {
        var recorded = false
        if case .oraclePrice(let p) = input, let i = marketIDs.firstIndex(of: p.market) {
            recorded = oracles[i].record(p, now: time)
        }
        for i in oracles.indices { _ = oracles[i].mark(at: time) }
        return recorded
    }

    /// The mark of `market` as the last applied event left it at `time` (the time of that
    /// event for the marks a decision uses). Evaluating at that same time changes nothing.
    public mutating func mark(_ market: UInt32, at time: UInt64) -> Result<Int64, PriceInvalidityError> {
        guard let i = marketIDs.firstIndex(of: market) else { return .failure(PriceInvalidityError(reason: .noPrice)) }
        return oracles[i].mark(at: time)
    }

    /// The mark of `market` at `time` evaluated on a copy of its oracle (changing nothing),
    /// as the market data and `haltedMarkets` evaluate it at a batch close.
    public func peekMark(_ market: UInt32, at time: UInt64) -> Result<Int64, PriceInvalidityError> {
        guard let i = marketIDs.firstIndex(of: market) else { return .failure(PriceInvalidityError(reason: .noPrice)) }
        var copy = oracles[i]
        return copy.mark(at: time)
    }

    /// The aggregated confidence of `market`'s mark at `time` (`OracleState.confidence(at:)`,
    /// docs/OPTIONS.md §10.2) as the last applied event left it; nil while the mark is
    /// invalid. Evaluated on a copy, as `peekMark`.
    public func peekConfidence(_ market: UInt32, at time: UInt64) -> Int64? {
        guard let i = marketIDs.firstIndex(of: market) else { return nil }
        var copy = oracles[i]
        return copy.confidence(at: time)
    }

    /// Markets without a valid mark at `time`, ascending, evaluated on copies (rule 3).
    public func haltedMarkets(at time: UInt64) -> [UInt32] {
        var out: [UInt32] = []
        for (i, id) in marketIDs.enumerated() {
            var copy = oracles[i]
            if case .failure = copy.mark(at: time) { out.append(id) }
        }
        return out
    }
}
