import SealCrypto

/// One line of `DATA/outputs/marketdata.jsonl`: the public state of one market as of one
/// batch (docs/MARKETDATA.md §2). The line's bytes (without the newline) are its leaf in
/// the `marketDataRoot` of batch `batchIndex`, so a consumer checks exactly the bytes it
/// was given. Prices in quote micro-units per base unit, sizes in base units of 10^-8,
/// times in Unix ns of enclave time.
public struct MarketDataRecord: Codable, Equatable, Sendable {
    /// A trade against the book: the resting order's price, the size filled, and the
    /// side of the order that took liquidity.
    public struct Trade: Codable, Equatable, Sendable {
        /// `"buy"` or `"sell"`: the side of the incoming (taking) order.
        public var aggressor: String
        /// The enclave time stamp of the input during which it filled.
        public var enclaveTime: UInt64
        public var price: Int64
        /// The global sequence number of the input during which it filled.
        public var sequence: UInt64
        /// Rounded up to the policy's `sizeRounding`.
        public var size: Int64

        public init(aggressor: String, enclaveTime: UInt64, price: Int64, sequence: UInt64, size: Int64) {
            (self.aggressor, self.enclaveTime, self.price, self.sequence, self.size) = (aggressor, enclaveTime, price, sequence, size)
        }
    }

    /// A publisher's latest accepted price.
    public struct Quote: Codable, Equatable, Sendable {
        public var confidence: UInt64
        public var price: Int64
        public var publishTime: UInt64
        /// Index of the publisher in the market's configured `oracle.publishers`.
        public var publisher: UInt32

        public init(confidence: UInt64, price: Int64, publishTime: UInt64, publisher: UInt32) {
            (self.confidence, self.price, self.publishTime, self.publisher) = (confidence, price, publishTime, publisher)
        }
    }

    /// The series of an option market's line (docs/MARKETDATA.md §2.1); absent from a
    /// perpetual's line, whose bytes are as before options were published.
    public struct Option: Codable, Equatable, Sendable {
        /// One contract, base units of 10^-8 of the underlying.
        public var contractSize: Int64
        /// Enclave time, Unix ns.
        public var expiry: UInt64
        /// `"call"` or `"put"`.
        public var kind: String
        /// Cash-settled (docs/OPTIONS.md §10.5) by `stateTime`.
        public var settled: Bool
        /// The settlement itself, on the line of the batch in which it happened only.
        public var settlement: Settlement?
        /// Quote micro-units per whole base unit.
        public var strike: Int64
        /// The perpetual market whose mark is the forward and the settlement price.
        public var underlying: UInt32
        /// The underlying's mark at `stateTime` that priced `markPrice`; 0 when it has none.
        public var underlyingMark: Int64
        /// Volatility and Greeks of the option mark; absent when there is none (halted).
        public var greeks: Greeks?

        public init(
            contractSize: Int64, expiry: UInt64, kind: String, settled: Bool, strike: Int64, underlying: UInt32,
            underlyingMark: Int64, settlement: Settlement? = nil, greeks: Greeks? = nil
        ) {
            self.greeks = greeks
            self.settlement = settlement
            self.contractSize = contractSize
            self.expiry = expiry
            self.kind = kind
            self.settled = settled
            self.strike = strike
            self.underlying = underlying
            self.underlyingMark = underlyingMark
        }
    }

    /// The volatility and Greeks of an option line (docs/MARKETDATA.md §2.1 `option.greeks`):
    /// a long of one whole base unit, each value rounded down once.
    public struct Greeks: Codable, Equatable, Sendable {
        /// Base units of 10⁻⁸ of the underlying per whole unit held.
        public var delta: Int64
        /// Base units of 10⁻⁸ of delta per quote unit of price.
        public var gamma: Int64
        /// σ(K) at the mark, millionths.
        public var impliedVolatilityPpm: Int64
        /// The underlying's EWMA realized volatility, millionths.
        public var realizedVolatilityPpm: Int64
        /// Quote micro-units per year (≤ 0).
        public var theta: Int64
        /// Quote micro-units per 1.0 of volatility.
        public var vega: Int64

        public init(delta: Int64, gamma: Int64, impliedVolatilityPpm: Int64, realizedVolatilityPpm: Int64, theta: Int64,
                    vega: Int64) {
            self.delta = delta
            self.gamma = gamma
            self.impliedVolatilityPpm = impliedVolatilityPpm
            self.realizedVolatilityPpm = realizedVolatilityPpm
            self.theta = theta
            self.vega = vega
        }
    }

    /// An option market's cash settlement at expiry (docs/MARKETDATA.md §2.2): money in
    /// quote micro-units, prices per whole base unit.
    public struct Settlement: Codable, Equatable, Sendable {
        /// The enclave time stamp of the event after which it settled.
        public var enclaveTime: UInt64
        /// Σ paid by the shorts, each ⌈|q| × valuePerUnit / 10⁸⌉ (saturated to i64).
        public var paid: Int64
        /// Positions closed.
        public var positions: Int64
        /// Σ received by the longs, each ⌊q × valuePerUnit / 10⁸⌋ (saturated to i64).
        public var received: Int64
        /// `paid − received`, into the insurance fund.
        public var residue: Int64
        /// The global sequence number of that event.
        public var sequence: UInt64
        /// The underlying's mark F at that event.
        public var settlementPrice: Int64
        /// max(F − K, 0) for a call, max(K − F, 0) for a put.
        public var valuePerUnit: Int64

        public init(
            enclaveTime: UInt64, paid: Int64, positions: Int64, received: Int64, residue: Int64, sequence: UInt64,
            settlementPrice: Int64, valuePerUnit: Int64
        ) {
            self.enclaveTime = enclaveTime
            self.paid = paid
            self.positions = positions
            self.received = received
            self.residue = residue
            self.sequence = sequence
            self.settlementPrice = settlementPrice
            self.valuePerUnit = valuePerUnit
        }
    }

    /// Ask levels `[price, size]`, best (lowest) first; empty under `trades-only`.
    public var asks: [[Int64]]
    /// The batch whose header commits to this line.
    public var batchIndex: UInt64
    /// Bid levels `[price, size]`, best (highest) first; empty under `trades-only`.
    public var bids: [[Int64]]
    /// The global sequence range whose trades this line lists (the described batch's).
    public var firstSequence: UInt64
    public var fundingRateBps: Int64
    /// No valid mark at `stateTime`: liquidations in the market are halted.
    public var halted: Bool
    public var lastSequence: UInt64
    /// Position of this line among the batch's lines (its leaf index).
    public var leafIndex: UInt64
    /// 0 when `halted`.
    public var markPrice: Int64
    public var market: UInt32
    /// 1, 2, 3, … per market and epoch, without gaps.
    public var marketSequence: UInt64
    public var nextFundingTime: UInt64
    public var openInterest: Int64
    /// Present exactly on an option market's line.
    public var option: Option?
    public var oracle: [Quote]
    /// `"lit"`, `"delayed"` or `"trades-only"`.
    public var policy: String
    /// 0 with a valid mark, else the `PriceInvalidity` code (docs/CONFIG.md).
    public var priceInvalidity: UInt8
    /// Enclave time of the state described: the close of the batch it describes.
    public var stateTime: UInt64
    public var trades: [Trade]
    public var venueId: UInt64

    public init(
        asks: [[Int64]], batchIndex: UInt64, bids: [[Int64]], firstSequence: UInt64, fundingRateBps: Int64, halted: Bool,
        lastSequence: UInt64, leafIndex: UInt64, markPrice: Int64, market: UInt32, marketSequence: UInt64,
        nextFundingTime: UInt64, openInterest: Int64, oracle: [Quote], policy: String, priceInvalidity: UInt8,
        stateTime: UInt64, trades: [Trade], venueId: UInt64, option: Option? = nil
    ) {
        self.option = option
        self.asks = asks
        self.batchIndex = batchIndex
        self.bids = bids
        self.firstSequence = firstSequence
        self.fundingRateBps = fundingRateBps
        self.halted = halted
        self.lastSequence = lastSequence
        self.leafIndex = leafIndex
        self.markPrice = markPrice
        self.market = market
        self.marketSequence = marketSequence
        self.nextFundingTime = nextFundingTime
        self.openInterest = openInterest
        self.oracle = oracle
        self.policy = policy
        self.priceInvalidity = priceInvalidity
        self.stateTime = stateTime
        self.trades = trades
        self.venueId = venueId
    }

    /// The record as one JSON line (with its newline), keys sorted, no spaces: the form
    /// the enclave writes and hashes.
    public func jsonLine() -> [UInt8] {
        var w = JSONLineWriter(capacity: 512 + 24 * (asks.count + bids.count) + 96 * trades.count)
        w.field("asks", levels: asks)
        w.field("batchIndex", batchIndex)
        w.field("bids", levels: bids)
        w.field("firstSequence", firstSequence)
        w.field("fundingRateBps", fundingRateBps)
        w.field("halted", halted)
        w.field("lastSequence", lastSequence)
        w.field("leafIndex", leafIndex)
        w.field("markPrice", markPrice)
        w.field("market", market)
        w.field("marketSequence", marketSequence)
        w.field("nextFundingTime", nextFundingTime)
        w.field("openInterest", openInterest)
        if let option {
            w.object("option") { o in
                o.field("contractSize", option.contractSize)
                o.field("expiry", option.expiry)
                if let g = option.greeks {
                    o.object("greeks") { e in
                        e.field("delta", g.delta)
                        e.field("gamma", g.gamma)
                        e.field("impliedVolatilityPpm", g.impliedVolatilityPpm)
                        e.field("realizedVolatilityPpm", g.realizedVolatilityPpm)
                        e.field("theta", g.theta)
                        e.field("vega", g.vega)
                    }
                }
                o.field("kind", option.kind)
                o.field("settled", option.settled)
                if let t = option.settlement {
                    o.object("settlement") { e in
                        e.field("enclaveTime", t.enclaveTime)
                        e.field("paid", t.paid)
                        e.field("positions", t.positions)
                        e.field("received", t.received)
                        e.field("residue", t.residue)
                        e.field("sequence", t.sequence)
                        e.field("settlementPrice", t.settlementPrice)
                        e.field("valuePerUnit", t.valuePerUnit)
                    }
                }
                o.field("strike", option.strike)
                o.field("underlying", option.underlying)
                o.field("underlyingMark", option.underlyingMark)
            }
        }
        w.objects("oracle", oracle) { o, q in
            o.field("confidence", q.confidence)
            o.field("price", q.price)
            o.field("publishTime", q.publishTime)
            o.field("publisher", q.publisher)
        }
        w.field("policy", policy)
        w.field("priceInvalidity", priceInvalidity)
        w.field("stateTime", stateTime)
        w.field("trades", trades: trades)
        w.field("venueId", venueId)
        return w.line()
    }
}

/// The market data tree of one batch (docs/MARKETDATA.md §3): RFC 6962 over the batch's
/// lines in order, each leaf the line's bytes without its newline.
public enum MarketDataTree {
    /// The leaf hash of one line (`line` without its newline).
    public static func leafHash(_ line: some Collection<UInt8>) -> Hash32 {
        // Hashed in place when the bytes are contiguous (a slice of the batch's lines): a
        // copy of every line at every close was a twelfth of the close (issue 17).
        line.withContiguousStorageIfAvailable { RFC6962.leafHash(UnsafeRawBufferPointer($0)) }
            ?? RFC6962.leafHash(Array(line))
    }

    /// Splits newline-terminated lines (each without its newline).
    public static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        bytes.split(separator: 0x0a, omittingEmptySubsequences: true)
    }

    /// The tree over `lines` (each without its newline).
    public static func tree(_ lines: [some Collection<UInt8>]) -> MerkleTree {
        MerkleTree(leafHashes: lines.map { leafHash($0) })
    }
}

extension JSONLineWriter {
    /// `"k":[{"aggressor":…,"enclaveTime":…,"price":…,"sequence":…,"size":…},…]`, the same
    /// bytes as `objects(k, trades) { field("aggressor", …) … }`, with the keys as literal
    /// bytes: a batch close writes one such object per trade (on a crossing stream, one per
    /// order), and the generic path was ~5% of the sequencer's CPU per order (issue 17).
    mutating func field(_ k: StaticString, trades: [MarketDataRecord.Trade]) {
        rawKey(k)
        byte(UInt8(ascii: "["))
        for (i, t) in trades.enumerated() {
            assert(t.aggressor.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
            if i > 0 { byte(UInt8(ascii: ",")) }
            literal(#"{"aggressor":""#)
            append(t.aggressor)
            literal(#"","enclaveTime":"#)
            decimal(t.enclaveTime)
            literal(#","price":"#)
            decimal(t.price)
            literal(#","sequence":"#)
            decimal(t.sequence)
            literal(#","size":"#)
            decimal(t.size)
            byte(UInt8(ascii: "}"))
        }
        byte(UInt8(ascii: "]"))
    }

    /// `"k":[[a,b],…]`.
    mutating func field(_ k: StaticString, levels: [[Int64]]) {
        rawKey(k)
        byte(UInt8(ascii: "["))
        for (i, level) in levels.enumerated() {
            if i > 0 { byte(UInt8(ascii: ",")) }
            byte(UInt8(ascii: "["))
            for (j, x) in level.enumerated() {
                if j > 0 { byte(UInt8(ascii: ",")) }
                decimal(x)
            }
            byte(UInt8(ascii: "]"))
        }
        byte(UInt8(ascii: "]"))
    }
}
