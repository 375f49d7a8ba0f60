import Options
import Wire

/// One aggregated price level of a book: no accounts, no order ids.
public struct BookLevel: Equatable, Sendable {
    /// Quote micro-units per base unit.
    public var price: Int64
    /// Live quantity resting at the price, base units of 10^-8 (capped at `Int64.max`).
    public var quantity: Int64

    public init(price: Int64, quantity: Int64) {
        self.price = price
        self.quantity = quantity
    }
}

/// A publisher's latest accepted price as the market's oracle holds it (docs/MARKETDATA.md §2).
public struct OracleQuoteView: Equatable, Sendable {
    /// Position of the publisher in `markets[].oracle.publishers` of the venue config.
    public var publisher: Int
    /// Quote micro-units per base unit, as signed by the publisher.
    public var price: Int64
    /// Quote micro-units, as signed.
    public var confidence: UInt64
    /// Publisher's time stamp, Unix ns.
    public var publishTime: UInt64
}

/// The public state of one market derived from sequenced state only: aggregated depth,
/// mark and its oracle inputs, the funding rate that would be paid now, open interest.
/// Read-only: asking changes nothing the engine does later.
public struct MarketView: Equatable, Sendable {
    public var market: UInt32
    /// Best first, at most the levels asked for; levels with no live quantity are skipped.
    public var bids: [BookLevel]
    public var asks: [BookLevel]
    /// The mark at the time asked, or nil when the market has no valid mark (halted).
    public var markPrice: Int64?
    /// Why there is no mark; nil when there is one.
    public var priceInvalidity: PriceInvalidity?
    /// Latest accepted quote per publisher, in config order; publishers never heard from are absent.
    public var oracle: [OracleQuoteView]
    /// The rate (bps of mark, clamped to ±`maxRateBps`) a funding payment at the time asked
    /// would charge longs (negative: pays them): the premium of the mid of the best bid
    /// and ask over the mark, rounded toward zero; 0 without a mark or a two-sided book.
    public var fundingRateBps: Int64
    /// Enclave time of the market's next funding payment, Unix ns (0 before the first event).
    public var nextFundingTime: UInt64
    /// Σ of the long positions in the market (equal to Σ of the shorts), base units of 10^-8.
    public var openInterest: Int64
    /// The series of an option market (docs/MARKETDATA.md §2.1); nil for a perpetual.
    public var option: OptionMarketView? = nil
}

/// What an option market's public view adds to a perpetual's (docs/MARKETDATA.md §2.1):
/// its series and the underlying's mark its option mark was priced at.
public struct OptionMarketView: Equatable, Sendable {
    /// Id of the perpetual market whose mark is the forward and the settlement price.
    public var underlying: UInt32
    /// `"call"` or `"put"`.
    public var kind: String
    /// Quote micro-units per whole base unit.
    public var strike: Int64
    /// Enclave time, Unix ns.
    public var expiry: UInt64
    /// One contract, base units of 10^-8 of the underlying.
    public var contractSize: Int64
    /// The market has been cash-settled (docs/OPTIONS.md §10.5): no position, order or trade.
    public var settled: Bool
    /// The underlying's mark at the time asked (the forward F of the option mark), 0 when
    /// the underlying has no valid mark.
    public var underlyingMark: Int64
    /// Volatility and Greeks of the option mark (docs/MARKETDATA.md §2.1); nil when there
    /// is no option mark.
    public var quote: OptionQuote? = nil
}

extension OrderBook {
    /// The best `limit` levels of `side` with live quantity, best first. Read-only: levels
    /// whose orders all died are skipped here and reclaimed by matching as usual.
    func depth(_ side: Side, limit: Int) -> [BookLevel] {
        var out: [BookLevel] = []
        guard limit > 0 else { return out }
        for ref in (side == .buy ? bids : asks).reversed() {
            let q = levels[Int(ref.level)].liveQuantity
            guard q > 0 else { continue }
            out.append(BookLevel(price: ref.price, quantity: q > Int128(Int64.max) ? Int64.max : Int64(q)))
            if out.count == limit { break }
        }
        return out
    }
}

extension PerpEngine {
    /// The public view of `market` at enclave time `now` with `levels` levels of depth per
    /// side; nil for a market the venue does not list. Evaluated on a copy of the oracle
    /// (as `haltedMarkets(at:)`), so it changes nothing later events do; mutating only for
    /// the risk-array cache of option markets (a memo keyed by its inputs, in no snapshot).
    public mutating func marketView(_ market: UInt32, levels: Int, at now: UInt64) -> MarketView? {
        guard let mi = slot(of: market) else { return nil }
        if isOptionSlot(mi) { return optionMarketView(slot: mi, levels: levels, at: now) }
        let m = markets[mi]
        var oracle = m.oracle
        let mark: Int64?
        let invalidity: PriceInvalidity?
        switch oracle.mark(at: now) {
        case .success(let p): (mark, invalidity) = (p, nil)
        case .failure(let e): (mark, invalidity) = (nil, e.reason)
        }
        var quotes: [OracleQuoteView] = []
        for (i, q) in m.oracle.quotes.enumerated() {
            guard let q else { continue }
            quotes.append(OracleQuoteView(publisher: i, price: q.price, confidence: q.confidence, publishTime: q.publishTime))
        }
        let bids = m.book.depth(.buy, limit: max(levels, 1))
        let asks = m.book.depth(.sell, limit: max(levels, 1))
        var rate: Int128 = 0
        if let mark, let bid = bids.first, let ask = asks.first {
            // The formula of payFundingIfDue (PerpEngine+Liquidation.swift), read-only.
            let mid = (Int128(bid.price) + Int128(ask.price)) / 2
            let cap = Int128(m.config.funding.maxRateBps)
            rate = min(max((mid - Int128(mark)) * FixedMath.bps / Int128(mark), -cap), cap)
        }
        return MarketView(
            market: market, bids: levels > 0 ? bids : [], asks: levels > 0 ? asks : [], markPrice: mark,
            priceInvalidity: invalidity, oracle: quotes, fundingRateBps: Int64(rate), nextFundingTime: m.nextFunding,
            openInterest: openInterest(slot: mi))
    }

    /// The public view of option market slot `mi` (docs/MARKETDATA.md §2.1): depth, open
    /// interest as a perpetual's; the option mark of docs/OPTIONS.md §10.2 (nil, with the
    /// underlying's reason or `noPrice`, when unpriced); no oracle quotes and no funding
    /// (rate 0, next funding time 0). Evaluated on a copy of the underlying's oracle; the
    /// underlying's risk arrays come from (and fill) the runtime's cache, so the option
    /// markets of one underlying share one computation per batch close.
    mutating func optionMarketView(slot mi: Int, levels: Int, at now: UInt64) -> MarketView {
        let m = markets[mi]
        let (u, i) = options!.optionSlots[mi - perpCount]
        var oracle = markets[options!.underlyings[u].perpSlot].oracle
        let mark: Int64?
        let invalidity: PriceInvalidity?
        var forward: Int64 = 0
        var quote: OptionQuote?
        switch oracle.mark(at: now) {
        case .failure(let e): (mark, invalidity) = (nil, e.reason)
        case .success(let f):
            forward = f
            switch options!.arrays(u, mark: f, confidence: oracle.confidence(at: now) ?? 0, now: now) {
            case .success(let a):
                (mark, invalidity) = (Int64(a.greeks[i + 1].price.floor), nil)
                quote = OptionQuote(arrays: a, instrument: i + 1, realized: options!.underlyings[u].volatility.volatility)
            case .failure: (mark, invalidity) = (nil, .noPrice)
            }
        }
        let series = options!.underlyings[u].series[i]
        let option = OptionMarketView(
            underlying: options!.underlyings[u].perpID, kind: series.kind == .call ? "call" : "put",
            strike: series.strike,            expiry: series.expiry, contractSize: m.config.stepSize, settled: options!.underlyings[u].settled[i],
            underlyingMark: forward, quote: quote)
        return MarketView(
            market: m.config.id, bids: levels > 0 ? m.book.depth(.buy, limit: levels) : [],
            asks: levels > 0 ? m.book.depth(.sell, limit: levels) : [], markPrice: mark, priceInvalidity: invalidity,
            oracle: [], fundingRateBps: 0, nextFundingTime: 0, openInterest: openInterest(slot: mi), option: option)
    }

    /// Σ of the long positions in market slot `mi`, capped at `Int64.max`.
    private func openInterest(slot mi: Int) -> Int64 {
        let id = markets[mi].config.id
        var total: Int128 = 0
        for s in markets[mi].holders.members {
            let size = accounts[slot: s].position(id)
            if size > 0 { total += Int128(size) }
        }
        return total > Int128(Int64.max) ? Int64.max : Int64(total)
    }

    /// Listed market ids, perpetuals then option markets, each ascending.
    public var marketIDList: [UInt32] { marketIDs }
}
