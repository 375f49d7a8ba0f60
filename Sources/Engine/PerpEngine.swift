import Wire

/// The venue's deterministic core: accounts and collateral, price-time priority books,
/// oracle guard rails and cross margin. A pure value-in/value-out state machine: no
/// I/O, no clock (time arrives as each event's enclave stamp), no randomness, no
/// floating point, and no Dictionary or Set order reaches an output.
///
/// Rounding, everywhere: fill notional rounds down (and is the same integer for both
/// sides), fees and margin requirements round up, equity rounds down.
public struct PerpEngine: MatchingEngine {
    struct MarketState: Sendable {
        let config: MarketConfig
        let tier: MarginTier
        var book = OrderBook()
        var oracle: OracleState
        /// Cumulative funding per base unit (quote micro-units × 10^8 scale); reserved
        /// for funding payments.
        var fundingIndex: Int128 = 0
    }

    /// Largest notional one order may have, quote micro-units (10^9 USD).
    public static let maxOrderNotional: Int128 = 1_000_000_000_000_000

    public let config: VenueConfig
    var markets: [MarketState]
    private let marketIndex: [UInt32: Int]
    public private(set) var accounts: [UInt64: Account] = [:]
    /// Quote micro-units.
    public private(set) var insuranceFund: Int128
    /// Fees collected, quote micro-units.
    public private(set) var feePool: Int128 = 0
    /// Deposits minus withdrawals, quote micro-units.
    public private(set) var netDeposits: Int128 = 0
    /// Fills in which a resting order took part, for notifying its owner. Drained by the
    /// enclave after each event.
    public private(set) var makerFills: [MakerFill] = []

    public init(config: VenueConfig) throws(ConfigError) {
        try config.validate()
        self.config = config
        var states: [MarketState] = []
        var index: [UInt32: Int] = [:]
        for m in config.markets.sorted(by: { $0.id < $1.id }) {
            index[m.id] = states.count
            states.append(MarketState(config: m, tier: config.tier(m.tier)!, oracle: OracleState(config: m.oracle)))
        }
        markets = states
        marketIndex = index
        insuranceFund = Int128(config.liquidation.insuranceFund)
    }

    // MARK: - Events

    public mutating func apply(_ event: SequencedEvent) -> EngineOutcome {
        switch event.input {
        case .deposit(let d):
            accounts[d.accountID, default: Account(id: d.accountID, collateral: 0)].collateral += Int128(d.amount)
            netDeposits += Int128(d.amount)
            return .accepted(detail: [])
        case .oraclePrice(let p):
            if let i = marketIndex[p.market] { _ = markets[i].oracle.record(p, now: event.enclaveTime) }
            return .accepted(detail: [])
        case .request(let account, let request):
            guard accounts[account] != nil else { return .rejected(.unknownAccount) }
            switch request {
            case .newOrder(let order): return place(order, account: account, event: event)
            case .cancel(let id): return cancel(id, account: account)
            case .withdraw(_, let amount): return withdraw(amount, account: account, now: event.enclaveTime)
            }
        }
    }

    public mutating func takeMakerFills() -> [MakerFill] {
        defer { makerFills.removeAll(keepingCapacity: true) }
        return makerFills
    }

    // MARK: - Orders

    private mutating func place(_ order: NewOrder, account: UInt64, event: SequencedEvent) -> EngineOutcome {
        guard let mi = marketIndex[order.market] else { return .rejected(.unknownMarket) }
        let m = markets[mi].config
        guard order.quantity > 0 else { return .rejected(.invalidQuantity) }
        guard order.price > 0 else { return .rejected(.invalidPrice) }
        guard order.price % m.tickSize == 0 else { return .rejected(.priceNotOnTick) }
        guard order.quantity % m.stepSize == 0 else { return .rejected(.quantityNotOnStep) }
        guard FixedMath.notional(price: order.price, quantity: order.quantity, .up) <= Self.maxOrderNotional else {
            return .rejected(.orderTooLarge)
        }
        guard accounts[account]!.openOrders[order.clientOrderID] == nil else { return .rejected(.duplicateClientOrderID) }
        let now = event.enclaveTime
        let position = accounts[account]!.position(order.market)
        let delta = order.side == .buy ? order.quantity : -order.quantity
        if order.reduceOnly && !Self.reduces(position: position, delta: delta) {
            return .rejected(.reduceOnlyWouldIncrease)
        }
        if order.timeInForce == .postOnly, let best = markets[mi].book.bestPrice(order.side == .buy ? .sell : .buy),
           order.side == .buy ? best <= order.price : best >= order.price
        {
            return .rejected(.postOnlyWouldCross)
        }
        // Pre-trade check: filled in full at its limit, the order must leave the account
        // at or above initial margin if it adds risk.
        if Self.increasesRisk(position: position, delta: delta) {
            let cash = FixedMath.notional(price: order.price, quantity: order.quantity, .down)
            let fee = FixedMath.applyBps(cash, config.fees.takerBps, .up)
            switch checkInitialMargin(account, market: order.market, newSize: position + delta,
                                      collateralDelta: (delta > 0 ? -cash : cash) - fee, now: now) {
            case .failure(let e): return .rejected(e)
            case .success: break
            }
        }

        var report = OrderReport()
        var remaining = order.quantity
        var stopped = false
        let takerSide = order.side
        let makerSide: Side = takerSide == .buy ? .sell : .buy
        while remaining > 0 {
            guard let (idx, price) = markets[mi].book.bestOpposite(to: takerSide) else { break }
            guard takerSide == .buy ? price <= order.price : price >= order.price else { break }
            let maker = markets[mi].book.order(idx)
            if maker.account == account {
                // Self-trade prevention: the resting order expires, matching continues.
                markets[mi].book.cancel(idx)
                accounts[account]!.openOrders[maker.clientOrderID] = nil
                report.selfTradeCancelled.append(maker.clientOrderID)
                continue
            }
            var quantity = min(remaining, maker.remaining)
            if order.reduceOnly {
                quantity = min(quantity, Self.reducible(position: accounts[account]!.position(order.market), side: takerSide))
                if quantity == 0 { stopped = true; break }
            }
            if maker.reduceOnly {
                let cap = Self.reducible(position: accounts[maker.account]!.position(order.market), side: makerSide)
                if cap == 0 {
                    cancelResting(idx, market: mi)
                    continue
                }
                quantity = min(quantity, cap)
            }
            let cash = FixedMath.notional(price: price, quantity: quantity, .down)
            let takerFee = FixedMath.applyBps(cash, config.fees.takerBps, .up)
            let makerFee = FixedMath.applyBps(cash, config.fees.makerBps, .up)
            let takerDelta = takerSide == .buy ? quantity : -quantity
            // A fill that adds risk must keep its account at initial margin. A maker that
            // cannot afford its resting order any more loses the order, not the taker.
            guard fillKeepsMargin(maker.account, market: order.market, delta: -takerDelta, cash: cash, fee: makerFee, now: now) else {
                cancelResting(idx, market: mi)
                continue
            }
            guard fillKeepsMargin(account, market: order.market, delta: takerDelta, cash: cash, fee: takerFee, now: now) else {
                stopped = true
                break
            }
            let fundingIndex = markets[mi].fundingIndex
            accounts[maker.account]!.applyFill(market: order.market, quantity: -takerDelta, cash: cash, fundingIndex: fundingIndex)
            accounts[maker.account]!.collateral -= makerFee
            accounts[account]!.applyFill(market: order.market, quantity: takerDelta, cash: cash, fundingIndex: fundingIndex)
            accounts[account]!.collateral -= takerFee
            feePool += takerFee + makerFee
            markets[mi].book.fill(idx, quantity: quantity)
            if maker.remaining == quantity { accounts[maker.account]!.openOrders[maker.clientOrderID] = nil }
            report.fills.append(Fill(market: order.market, side: takerSide, price: price, quantity: quantity,
                                     fee: Int64(takerFee), isMaker: false, makerOrderID: maker.id))
            makerFills.append(MakerFill(account: maker.account, clientOrderID: maker.clientOrderID,
                                        fill: Fill(market: order.market, side: makerSide, price: price, quantity: quantity,
                                                   fee: Int64(makerFee), isMaker: true, makerOrderID: maker.id)))
            remaining -= quantity
        }
        if remaining > 0 {
            let rests = order.type == .limit && order.timeInForce != .immediateOrCancel && !stopped
            if rests {
                let idx = markets[mi].book.add(RestingOrder(
                    id: event.globalSequence, account: account, clientOrderID: order.clientOrderID, side: order.side,
                    price: order.price, remaining: remaining, reduceOnly: order.reduceOnly, live: true))
                accounts[account]!.openOrders[order.clientOrderID] = OrderRef(market: order.market, index: idx)
                report.resting = remaining
            } else {
                report.cancelled = remaining
            }
        }
        return .accepted(detail: report.encode())
    }

    private mutating func cancelResting(_ idx: Int32, market mi: Int) {
        let o = markets[mi].book.order(idx)
        markets[mi].book.cancel(idx)
        accounts[o.account]?.openOrders[o.clientOrderID] = nil
    }

    private mutating func cancel(_ id: ClientOrderID, account: UInt64) -> EngineOutcome {
        guard let ref = accounts[account]!.openOrders[id], let mi = marketIndex[ref.market] else {
            return .rejected(.unknownOrder)
        }
        var report = OrderReport()
        report.cancelled = markets[mi].book.order(ref.index).remaining
        cancelResting(ref.index, market: mi)
        return .accepted(detail: report.encode())
    }

    private mutating func withdraw(_ amount: Int64, account: UInt64, now: UInt64) -> EngineOutcome {
        guard amount > 0 else { return .rejected(.invalidAmount) }
        switch checkInitialMargin(account, market: nil, newSize: 0, collateralDelta: -Int128(amount), now: now) {
        case .failure(let e): return .rejected(e)
        case .success: break
        }
        accounts[account]!.collateral -= Int128(amount)
        netDeposits -= Int128(amount)
        return .accepted(detail: OrderReport().encode())
    }

    // MARK: - Margin

    /// Equity and requirements of an account at the current marks.
    public struct Health: Equatable, Sendable {
        /// collateral + Σ size × mark, each term rounded down; quote micro-units.
        public var equity: Int128
        /// Σ |size| × mark × initial fraction, rounded up.
        public var initialRequirement: Int128
        /// Σ |size| × mark × maintenance fraction, rounded up.
        public var maintenanceRequirement: Int128
    }

    /// The account's health with one market's size replaced by `newSize` and
    /// `collateralDelta` added: the state after a hypothetical fill or withdrawal.
    /// Fails if any market involved has no valid mark.
    public mutating func health(
        _ accountID: UInt64, market: UInt32? = nil, newSize: Int64 = 0, collateralDelta: Int128 = 0, now: UInt64
    ) -> Result<Health, PriceInvalidityError> {
        guard let account = accounts[accountID] else { return .success(Health(equity: 0, initialRequirement: 0, maintenanceRequirement: 0)) }
        var h = Health(equity: account.collateral + collateralDelta, initialRequirement: 0, maintenanceRequirement: 0)
        var sawOverride = market == nil
        func add(_ marketID: UInt32, _ size: Int64) -> PriceInvalidityError? {
            guard size != 0, let mi = marketIndex[marketID] else { return nil }
            switch markets[mi].oracle.mark(at: now) {
            case .failure(let e): return e
            case .success(let mark):
                let value = FixedMath.notional(price: mark, quantity: size, .down)
                let gross = Int128(mark) * Int128(size.magnitude)
                let tier = markets[mi].tier
                h.equity += value
                h.initialRequirement += FixedMath.mulDiv(gross, Int128(tier.initialBps), FixedMath.quantityScale * FixedMath.bps, .up)
                h.maintenanceRequirement += FixedMath.mulDiv(gross, Int128(tier.maintenanceBps), FixedMath.quantityScale * FixedMath.bps, .up)
                return nil
            }
        }
        for p in account.positions {
            let size = p.market == market ? newSize : p.size
            if p.market == market { sawOverride = true }
            if let e = add(p.market, size) { return .failure(e) }
        }
        if !sawOverride, let market, let e = add(market, newSize) { return .failure(e) }
        return .success(h)
    }

    private mutating func checkInitialMargin(
        _ account: UInt64, market: UInt32?, newSize: Int64, collateralDelta: Int128, now: UInt64
    ) -> Result<Void, RejectReason> {
        switch health(account, market: market, newSize: newSize, collateralDelta: collateralDelta, now: now) {
        case .failure: return .failure(.priceUnavailable)
        case .success(let h): return h.equity >= h.initialRequirement ? .success(()) : .failure(.insufficientMargin)
        }
    }

    /// True if the fill leaves the account at or above initial margin, or does not add risk.
    private mutating func fillKeepsMargin(_ account: UInt64, market: UInt32, delta: Int64, cash: Int128, fee: Int128, now: UInt64) -> Bool {
        let position = accounts[account]!.position(market)
        guard Self.increasesRisk(position: position, delta: delta) else { return true }
        let collateralDelta = (delta > 0 ? -cash : cash) - fee
        if case .success = checkInitialMargin(account, market: market, newSize: position + delta, collateralDelta: collateralDelta, now: now) {
            return true
        }
        return false
    }

    static func increasesRisk(position: Int64, delta: Int64) -> Bool {
        let new = position + delta
        return new.magnitude > position.magnitude || (position != 0 && new != 0 && (position > 0) != (new > 0))
    }

    static func reduces(position: Int64, delta: Int64) -> Bool {
        position != 0 && (position > 0) != (delta > 0)
    }

    /// How much a `side` fill can reduce `position` without flipping it.
    static func reducible(position: Int64, side: Side) -> Int64 {
        side == .buy ? max(0, -position) : max(0, position)
    }

    // MARK: - Queries

    /// The mark of `market` at `now`, or why there is none.
    public mutating func mark(_ market: UInt32, at now: UInt64) -> Result<Int64, PriceInvalidityError> {
        guard let mi = marketIndex[market] else { return .failure(PriceInvalidityError(reason: .noPrice)) }
        return markets[mi].oracle.mark(at: now)
    }

    /// Markets whose liquidations are halted at `now` (no valid mark), ascending.
    public mutating func haltedMarkets(at now: UInt64) -> [UInt32] {
        var out: [UInt32] = []
        for i in markets.indices {
            if case .failure = markets[i].oracle.mark(at: now) { out.append(markets[i].config.id) }
        }
        return out
    }

    /// Live resting orders of a market, best first, for tests and depth views.
    public func restingOrders(market: UInt32, side: Side) -> [(account: UInt64, clientOrderID: ClientOrderID, price: Int64, remaining: Int64)] {
        guard let mi = marketIndex[market] else { return [] }
        return markets[mi].book.liveOrders(side: side).map { ($0.account, $0.clientOrderID, $0.price, $0.remaining) }
    }

    /// Σ collateral + fee pool + insurance fund − net deposits. Constant for the life of
    /// the venue (equal to the initial insurance fund): money is only ever moved.
    public var conservationResidual: Int128 {
        var total: Int128 = 0
        for id in accounts.keys.sorted() { total += accounts[id]!.collateral }
        return total + feePool + insuranceFund - netDeposits
    }

    /// Canonical bytes of the whole state (accounts by id, books in priority order,
    /// pools): equal states give equal bytes in any process.
    public func canonicalState() -> [UInt8] {
        var w = ByteWriter(capacity: 4096)
        func write128(_ v: Int128) {
            w.write(UInt64(truncatingIfNeeded: v >> 64))
            w.write(UInt64(truncatingIfNeeded: v))
        }
        write128(insuranceFund)
        write128(feePool)
        write128(netDeposits)
        for id in accounts.keys.sorted() {
            let a = accounts[id]!
            w.write(id)
            write128(a.collateral)
            w.write(UInt32(a.positions.count))
            for p in a.positions {
                w.write(p.market)
                w.write(p.size)
                write128(p.costBasis)
            }
        }
        for m in markets {
            w.write(m.config.id)
            for side in [Side.buy, .sell] {
                let orders = m.book.liveOrders(side: side)
                w.write(UInt32(orders.count))
                for o in orders {
                    w.write(o.id)
                    w.write(o.account)
                    w.write(o.price)
                    w.write(o.remaining)
                }
            }
        }
        return w.bytes
    }
}
