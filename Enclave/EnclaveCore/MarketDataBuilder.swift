import Commitments
import Engine
import Wire

/// Builds each batch's public market data (docs/MARKETDATA.md) from sequenced state only:
/// the trades of the batch (noted as they happen) and, at close, each market's view.
/// The transparency policy decides what a record holds and when it is released: a
/// record made at a batch's close is released in the first batch closing at least
/// `delayNanos` later (0 for `lit` and `trades-only`: the same batch). Deterministic
/// given the events and batch boundaries; the committer snapshots it.
public struct MarketDataBuilder {
    /// A record made at a close and not yet released: everything but where it is published.
    struct Pending: Equatable {
        var releaseAt: UInt64
        var market: UInt32
        var firstSequence: UInt64
        var lastSequence: UInt64
        var stateTime: UInt64
        var bids: [[Int64]]
        var asks: [[Int64]]
        var markPrice: Int64
        var priceInvalidity: UInt8
        var oracle: [MarketDataRecord.Quote]
        var fundingRateBps: Int64
        var nextFundingTime: UInt64
        var openInterest: Int64
        var trades: [MarketDataRecord.Trade]
        /// An option market's series and underlying mark; nil for a perpetual.
        var option: MarketDataRecord.Option? = nil
    }

    let config: MarketDataConfig
    let venueID: UInt64
    /// Listed markets, perpetual and option, ascending id: records of one release are in
    /// this order.
    let markets: [UInt32]
    /// Which of `markets` are option markets (their snapshot entries carry the series).
    let optionMarkets: Set<UInt32>
    /// Trades of the open batch per market (index as in `markets`).
    var trades: [[MarketDataRecord.Trade]]
    /// Settlements of the open batch per market (an option market settles once).
    var settlements: [MarketDataRecord.Settlement?]
    /// Records published so far per market (the last `marketSequence`).
    var published: [UInt64]
    /// Made, not yet released, in order of making.
    var pending: [Pending] = []

    public init(config: VenueConfig) {
        self.config = config.marketData
        venueID = config.venueID
        let options = config.options?.markets.map(\.id) ?? []
        markets = (config.markets.map(\.id) + options).sorted()
        optionMarkets = Set(options)
        trades = Array(repeating: [], count: markets.count)
        published = Array(repeating: 0, count: markets.count)
        settlements = Array(repeating: nil, count: markets.count)
    }

    /// Notes option settlements made during the open batch (docs/MARKETDATA.md §2.2).
    public mutating func recordSettlements(_ made: [OptionSettlement]) {
        for s in made {
            guard let mi = markets.firstIndex(of: s.market) else { continue }
            settlements[mi] = MarketDataRecord.Settlement(
                enclaveTime: s.enclaveTime, paid: s.paid, positions: s.positions, received: s.received,
                residue: s.residue, sequence: s.sequence, settlementPrice: s.settlementPrice,
                valuePerUnit: s.valuePerUnit)
        }
    }

    /// Notes the fills of resting orders during the input `sequence` stamped `time`.
    /// `fill.side` is the resting (maker) side; the aggressor is the other.
    public mutating func recordTrades(_ fills: [MakerFill], sequence: UInt64, time: UInt64) {
        for f in fills {
            guard let mi = markets.firstIndex(of: f.fill.market) else { continue }
            trades[mi].append(MarketDataRecord.Trade(
                aggressor: f.fill.side == .buy ? "sell" : "buy", enclaveTime: time, price: f.fill.price,
                sequence: sequence, size: config.roundUp(f.fill.quantity)))
        }
    }

    /// Closes the batch `batchIndex` (inputs `firstSequence…lastSequence`) at enclave time
    /// `now`: makes one record per market from `view`, then releases every record due.
    /// Returns the released lines (each with its newline) in leaf order.
    public mutating func close(
        batchIndex: UInt64, firstSequence: UInt64, lastSequence: UInt64, now: UInt64,
        view: (UInt32, Int, UInt64) -> MarketView?
    ) -> [[UInt8]] {
        let levels = config.publishedLevels
        for (mi, market) in markets.enumerated() {
            guard let v = view(market, levels, now) else { continue }
            // A record has a series exactly when its market is an option market
            // (docs/MARKETDATA.md §2.1): the engine's view of an option market always
            // carries one and a perpetual's never does (`PerpEngine.marketView`; the
            // engine and the committer are built from one configuration). A view that
            // breaks this is a programming error, not data: publishing a made-up series
            // (or dropping the record) would be worse than stopping.
            precondition((v.option != nil) == optionMarkets.contains(market),
                         "market \(market): a view's series does not match the market's kind")
            pending.append(Pending(
                releaseAt: now &+ config.delayNanos, market: market, firstSequence: firstSequence,
                lastSequence: lastSequence, stateTime: now, bids: rounded(v.bids), asks: rounded(v.asks),
                markPrice: v.markPrice ?? 0, priceInvalidity: v.priceInvalidity?.rawValue ?? 0,
                oracle: v.oracle.map {
                    MarketDataRecord.Quote(confidence: $0.confidence, price: $0.price, publishTime: $0.publishTime,
                                           publisher: UInt32($0.publisher))
                },
                fundingRateBps: v.fundingRateBps, nextFundingTime: v.nextFundingTime,
                openInterest: config.roundDown(v.openInterest), trades: trades[mi],
                option: v.option.map {
                    MarketDataRecord.Option(
                        contractSize: $0.contractSize, expiry: $0.expiry, kind: $0.kind, settled: $0.settled,
                        strike: $0.strike, underlying: $0.underlying, underlyingMark: $0.underlyingMark,
                        settlement: settlements[mi],
                        greeks: $0.quote.map {
                            MarketDataRecord.Greeks(
                                delta: $0.delta, gamma: $0.gamma, impliedVolatilityPpm: $0.impliedVolatilityPpm,
                                realizedVolatilityPpm: $0.realizedVolatilityPpm, theta: $0.theta, vega: $0.vega)
                        })
                }))
            trades[mi].removeAll(keepingCapacity: true)
            settlements[mi] = nil
        }
        // Made in close order, so release times ascend: the due ones are a prefix.
        let due = pending.prefix { $0.releaseAt <= now }.count
        var lines: [[UInt8]] = []
        for p in pending[..<due] {
            guard let mi = markets.firstIndex(of: p.market) else { continue }
            published[mi] += 1
            lines.append(MarketDataRecord(
                asks: p.asks, batchIndex: batchIndex, bids: p.bids, firstSequence: p.firstSequence,
                fundingRateBps: p.fundingRateBps, halted: p.priceInvalidity != 0, lastSequence: p.lastSequence,
                leafIndex: UInt64(lines.count), markPrice: p.markPrice, market: p.market, marketSequence: published[mi],
                nextFundingTime: p.nextFundingTime, openInterest: p.openInterest, oracle: p.oracle,
                policy: config.policy.rawValue, priceInvalidity: p.priceInvalidity, stateTime: p.stateTime,
                trades: p.trades, venueId: venueID, option: p.option
            ).jsonLine())
        }
        pending.removeFirst(due)
        return lines
    }

    /// Depth levels as `[price, size]`, sizes rounded down; a level that rounds to 0 is left out.
    private func rounded(_ levels: [BookLevel]) -> [[Int64]] {
        levels.compactMap { l in
            let size = config.roundDown(l.quantity)
            return size > 0 ? [l.price, size] : nil
        }
    }
}
