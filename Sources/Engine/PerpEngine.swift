import Options
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
        /// Cumulative funding per base unit (quote micro-units); stamped on positions.
        var fundingIndex: Int128 = 0
        /// Enclave time of the next funding payment.
        var nextFunding: UInt64 = 0
        var index = MarketLiquidationIndex()
        /// Accounts with a non-zero position here (iterated sorted by id).
        var holders = HolderSet()
    }

    /// The insurance fund is account 0: it holds collateral and, after taking over what
    /// the book could not absorb, positions. Clients cannot use id 0.
    public static let insuranceAccount: UInt64 = 0
    /// The fund is created first, so it always lives in slot 0.
    static let insuranceSlot: AccountSlot = 0

    /// Largest notional one order may have, quote micro-units (10^9 USD).
    public static let maxOrderNotional: Int128 = 1_000_000_000_000_000

    public let config: VenueConfig
    var markets: [MarketState]
    /// Market ids in `markets` order; `slot(of:)` scans it (a venue lists a handful of
    /// markets, where a scan beats hashing).
    let marketIDs: [UInt32]
    public internal(set) var accounts = AccountStore()
    /// Every resting order by (account, client order id).
    var openOrders = OpenOrderIndex()
    /// The earliest `nextFunding` of any market (0 before the first event).
    var nextFundingDue: UInt64 = 0
    /// Storage reused by each order's report.
    var reportScratch = OrderReport()
    /// Insurance fund balance (account 0's collateral), quote micro-units.
    public var insuranceFund: Int128 { accounts[slot: Self.insuranceSlot].collateral }
    /// Index version per account slot: heap entries with another version are stale.
    var indexVersion: [UInt32] = []
    /// Per account slot: its live single-position entry (market −1 when it has none in
    /// the current version), so a re-key that would not fire earlier can be skipped.
    var indexedKeys: [IndexedKey] = []
    /// Accounts whose state changed during the current event; checked after it.
    var touched: [AccountSlot] = []
    /// Liquidatable accounts that could not be stepped yet (cooldown): rechecked on the
    /// next tick of their markets.
    public internal(set) var awaitingCooldown: Set<UInt64> = []
    /// Liquidation decisions since the last `takeDecisions()`, in order.
    public internal(set) var decisions: [LiquidationDecision] = []
    /// Funding payments since the last `takeFundingPayments()`, in order.
    public internal(set) var fundingPayments: [FundingPayment] = []
    /// Maps an account to its public commitment (hash of id and a secret salt).
    let accountCommitment: @Sendable (UInt64) -> [UInt8]
    /// Each account's commitment by slot, `commitmentWidth` bytes apiece: computed once,
    /// when the account is created (and for every account when a snapshot is restored),
    /// since it is a pure function of the id; a liquidation reads it instead of hashing it
    /// again (about 30% of a liquidation's instructions; issue 17). Derived: in no snapshot.
    var commitments: [UInt8] = []
    /// The width of every commitment `accountCommitment` returns (the insurance fund's).
    var commitmentWidth = 0
    /// Fees collected, quote micro-units.
    public internal(set) var feePool: Int128 = 0
    /// Deposits minus withdrawals, quote micro-units.
    public internal(set) var netDeposits: Int128 = 0
    /// Fills in which a resting order took part, for notifying its owner. Drained by the
    /// enclave after each event.
    public internal(set) var makerFills: [MakerFill] = []
    /// The buffer `takeMakerFills` handed out last (see there).
    var spareMakerFills: [MakerFill] = []
    /// Scratch for the margin-call pass's candidate slots (`evaluateMarginCalls`), kept
    /// between events so the pass does not allocate once its capacity is reached. Not
    /// state: emptied at the start of each pass, in no snapshot, changing no output.
    var marginCallScratch: [AccountSlot] = []
    /// Whether account changes are kept as statement entries (docs/COMMITMENTS.md §7);
    /// off by default (tests, benchmarks), on in the enclave.
    public var recordsStatements = false
    /// Statement entries since the last `takeStatementEntries()`, in the order made.
    @usableFromInline var statementEntries: [AccountStatementEntry] = []
    /// The global sequence number of the event being applied.
    var currentSequence: UInt64 = 0
    /// Whether `match` runs for a liquidation step (its taker fills are liquidation entries).
    var matchingLiquidation = false
    /// Option markets' state (docs/OPTIONS.md §10); nil on a venue without them, where
    /// nothing below costs more than a nil check per event.
    var options: OptionsRuntime?
    /// Slots below this are perpetuals; option markets follow (all slots when none).
    let perpCount: Int
    /// Option settlements since the last `takeOptionSettlements()`, in order.
    public internal(set) var optionSettlements: [OptionSettlement] = []
    /// Margin calls since the last `takeMarginCalls()` (docs/OPTIONS.md §10.10).
    public internal(set) var marginCalls: [MarginCallNotice] = []
    /// Accounts called and not armed again: account id → enclave time of the last call.
    /// Deterministic state (in the snapshot), not committed (no leaf or header has it).
    var marginCallMemory: [UInt64: UInt64] = [:]
    /// `MarginCallConfig.skipDeviations()` of the venue's rule (`.zero` without one).
    var marginCallSkip: Fixed = .zero
    /// The venue's `options.marginCall`, read once (nil: no calls, no memory).
    var marginCallRule: MarginCallConfig?
    /// Per-account Greeks maintained incrementally (docs/OPTIONS.md §10.12); nil without options.
    var greekBook: GreekBook?
    /// The last health of each account holding options and what it was computed from
    /// (`PerpEngine+HealthMemo.swift`), by slot: derived, not state.
    var healthMemo: [HealthMemo] = []
    /// Per account slot, the last liquidation pass (`fireRound`) in which one of its index
    /// entries fired: it is a candidate once per pass. Derived, not state.
    var firedIn: [UInt64] = []
    var fireRound: UInt64 = 0
    // Options-only state below, declared last so the fields a perpetuals-only venue uses
    // keep their place in the engine's layout.
    /// Per option underlying, its risk arrays' generation (or nil: refused) as last read
    /// within `keyEpoch` (the memo's keys are read per position of every holder).
    var generationCache: [(epoch: UInt64, generation: UInt64?)] = []
    /// Advanced at every event once its input is applied (see `healthKey`); 0: no cache.
    var keyEpoch: UInt64 = 0
    var keysFrozen = false
    /// Accounts holding an option position (the fund aside) waiting to be checked again at
    /// the next event with a valid mark in one of their markets (docs/OPTIONS.md §10.3):
    /// one entry each (slot, index version when queued; stale once the version moved on),
    /// where a perpetual account has one cross-heap entry per market. Derived: not in the
    /// snapshot (every such account waits at the end of every event; a restore queues them).
    var optionWaiters: [(slot: AccountSlot, version: UInt32)] = []
    /// Whether each market slot has a valid mark at the event (scratch of the liquidation pass).
    var validScratch: [Bool] = []
    /// On a venue with options whose market ids are below 2^16: the slot of each id (−1: none).
    var slotTable: [Int32] = []
    /// Whether an option underlying has `greekLimits.escalationBps` (docs/OPTIONS.md §10.11).
    var greekEscalationConfigured = false

    /// `accountCommitment` hides account ids in public outputs; the enclave supplies a
    /// keyed hash. The default (tests, benchmarks) is the id's big-endian bytes. It must
    /// give every id a commitment of the same length, and is called once per account: when
    /// the account is created (its first deposit) and when a snapshot is restored.
    public init(
        config: VenueConfig,
        accountCommitment: @escaping @Sendable (UInt64) -> [UInt8] = { id in withUnsafeBytes(of: id.bigEndian) { Array($0) } }
    ) throws(ConfigError) {
        try config.validate()
        self.accountCommitment = accountCommitment
        self.config = config
        var states: [MarketState] = []
        var index: [UInt32: Int] = [:]
        for m in config.markets.sorted(by: { $0.id < $1.id }) {
            index[m.id] = states.count
            states.append(MarketState(config: m, tier: config.tier(m.tier)!, oracle: OracleState(config: m.oracle)))
        }
        perpCount = states.count
        if let o = config.options {
            // Option markets after the perpetuals, in ascending id. Their order book and
            // positions are a market's like any other; the oracle, tier and funding
            // entries are the underlying's and are never used (no price is recorded for
            // an option market, funding skips it, margin is the portfolio's).
            for m in o.markets.sorted(by: { $0.id < $1.id }) {
                let u = config.market(m.underlying)!
                let market = MarketConfig(id: m.id, symbol: m.symbol, tickSize: m.tickSize, stepSize: m.contractSize,
                                          tier: u.tier, oracle: u.oracle, funding: u.funding)
                states.append(MarketState(config: market, tier: config.tier(u.tier)!, oracle: OracleState(config: u.oracle)))
            }
            let perpSlots = index
            options = OptionsRuntime(config: o, perpSlot: { perpSlots[$0]! }, perpOracle: { config.market($0)!.oracle },
                                     perpCount: perpCount)
            greekBook = GreekBook(underlyings: options!.underlyings.count)
            greekEscalationConfigured = options!.underlyings.contains { $0.greekLimits?.escalationBps != nil }
            if let rule = o.marginCall {
                marginCallRule = rule
                marginCallSkip = rule.skipDeviations()
            }
        }
        markets = states
        marketIDs = states.map(\.config.id)
        if options != nil, let top = marketIDs.max(), top < 1 << 16 {
            slotTable = Array(repeating: -1, count: Int(top) + 1)
            for (i, id) in marketIDs.enumerated() { slotTable[Int(id)] = Int32(i) }
        }
        _ = index
        let fund = accounts.slot(creating: Self.insuranceAccount)
        precondition(fund == Self.insuranceSlot)
        accounts[slot: fund].collateral = Int128(config.liquidation.insuranceFund)
        indexVersion.append(0)
        indexedKeys.append(IndexedKey())
        commitments = accountCommitment(Self.insuranceAccount)
        commitmentWidth = commitments.count
    }

    /// Keeps the commitment of the account just created in the next slot.
    mutating func appendCommitment(_ id: UInt64) {
        let c = accountCommitment(id)
        precondition(c.count == commitmentWidth, "account commitments have one width")
        commitments += c
    }

    /// The commitment of the account in slot `s`, as kept when it was created.
    func commitment(slot s: AccountSlot) -> [UInt8] {
        let start = Int(s) * commitmentWidth
        return Array(commitments[start..<start + commitmentWidth])
    }

    /// The mark of the market in slot `mi` at `now`: the oracle's cached mark read in
    /// place when valid (no mutable access to `markets`, whose uniqueness check ran
    /// several times per event), else the oracle's evaluation.
    @inline(__always)
    mutating func mark(slot mi: Int, at now: UInt64) -> Result<Int64, PriceInvalidityError> {
        if let m = markets[mi].oracle.cachedValidMark(at: now) { return .success(m) }
        if mi >= perpCount { return optionMark(slot: mi, at: now) }
        return markets[mi].oracle.mark(at: now)
    }

    /// `slot(of:)` through `slotTable` when it covers `id` (a venue with options), for the
    /// option paths that look up every position of every holder at a tick.
    @inline(__always)
    func fastSlot(of id: UInt32) -> Int? {
        if Int(id) < slotTable.count {
            let v = slotTable[Int(id)]
            return v < 0 ? nil : Int(v)
        }
        return slot(of: id)
    }

    /// Position of market `id` in `markets`.
    @inline(__always)
    func slot(of id: UInt32) -> Int? {
        for i in marketIDs.indices where marketIDs[i] == id { return i }
        return nil
    }

    /// The maintenance fraction, bps, a liquidation decision's mark carries for the market
    /// in slot `mi` (docs/COMMITMENTS.md §3): its tier's `maintenanceBps` for a perpetual,
    /// 0 for an option market. A function of the configuration alone.
    func markMaintenanceBps(slot mi: Int) -> UInt32 {
        mi < perpCount ? UInt32(markets[mi].tier.maintenanceBps) : 0
    }

    /// `markMaintenanceBps(slot:)` of market `id`; nil for a market the configuration does
    /// not list. What the snapshot readers check a stored mark against (docs/DURABILITY.md §6.5).
    public func markMaintenanceBps(market id: UInt32) -> UInt32? {
        slot(of: id).map { markMaintenanceBps(slot: $0) }
    }

    // MARK: - Events

    public mutating func apply(_ event: SequencedEvent, detail: inout ByteWriter) -> EngineVerdict {
        touched.empty()
        currentSequence = event.globalSequence
        accounts.beginEvent()
        let changedFrom = accounts.changedCount
        var tickedPerpSlot: Int?
        let outcome: EngineVerdict
        switch event.input {
        // A refused input still runs the time-driven work below: which marks are
        // evaluated at an event must not depend on what a sealed request held
        // (docs/COMMITMENTS.md §5.3), and funding and cooldown steps are due anyway.
        case .deposit(let d) where d.accountID == Self.insuranceAccount:
            outcome = .rejected(.unknownAccount)
        case .deposit(let d):
            let s = accounts.slot(creating: d.accountID)
            if indexVersion.count < accounts.count {
                indexVersion.append(0)
                indexedKeys.append(IndexedKey())
                appendCommitment(d.accountID)
            }
            accounts[slot: s].collateral += Int128(d.amount)
            netDeposits += Int128(d.amount)
            touched.append(s)
            noteStatement(s, .deposit, amount: Int128(d.amount))
            outcome = .accepted
        case .oraclePrice(let p):
            // A price naming an option market is ignored: its mark comes from its underlying.
            if let i = slot(of: p.market), i < perpCount, markets[i].oracle.record(p, now: event.enclaveTime), options != nil {
                updateRealizedVolatility(perpSlot: i, now: event.enclaveTime)
                tickedPerpSlot = i
            }
            outcome = .accepted
        case .oracleSmile(let smile):
            // Recorded or ignored (docs/OPTIONS.md §10.9); accepted either way, like a price.
            recordSmile(smile)
            outcome = .accepted
        case .request(let account, let request):
            guard account != Self.insuranceAccount, let s = accounts.slot(of: account) else {
                outcome = .rejected(.unknownAccount)
                break
            }
            switch request {
            case .newOrder(let order): outcome = place(order, account: s, event: event, detail: &detail)
            case .cancel(let id): outcome = cancel(id, account: s, detail: &detail)
            case .withdraw(_, let amount): outcome = withdraw(amount, account: s, now: event.enclaveTime, detail: &detail)
            }
        }
        // Time-driven work happens as time arrives with events (no timer events).
        if options != nil {
            settleExpiredOptions(now: event.enclaveTime, sequence: event.globalSequence)
            freezeKeysAndFireWaiters(now: event.enclaveTime)
        }
        payFundingIfDue(now: event.enclaveTime, sequence: event.globalSequence)
        // Liquidations: accounts this event changed, and candidates a price move reached.
        processLiquidations(event: event)
        // The Greek book, then margin calls, see the state the liquidations left
        // (docs/OPTIONS.md §10.10, §10.12).
        if options != nil {
            refreshGreeks(changedFrom: changedFrom, now: event.enclaveTime)
            evaluateMarginCalls(event: event, tickedPerpSlot: tickedPerpSlot, changedFrom: changedFrom)
            keysFrozen = false
        }
        return outcome
    }

    /// Inlinable for the common empty case (see `takeMakerFills`).
    @inlinable
    public mutating func takeStatementEntries() -> [AccountStatementEntry] {
        if statementEntries.isEmpty { return [] }
        return takeNonEmptyStatementEntries()
    }

    @usableFromInline
    mutating func takeNonEmptyStatementEntries() -> [AccountStatementEntry] {
        defer { statementEntries.removeAll(keepingCapacity: true) }
        return statementEntries
    }

    public mutating func setRecordsStatements(_ on: Bool) { recordsStatements = on }

    public func statementBalance(of account: UInt64) -> StatementBalance? {
        guard let s = accounts.slot(of: account) else { return nil }
        let a = accounts[slot: s]
        return StatementBalance(collateral: a.collateral, positions: a.positions.map { StatementPosition(market: $0.market, size: $0.size) })
    }

    /// Keeps a statement entry for the account in slot `s`, with its collateral as it
    /// is now (after the change); the insurance fund keeps none.
    mutating func noteStatement(_ s: AccountSlot, _ kind: StatementEntry.Kind, market: UInt32 = 0, price: Int64 = 0,
                                quantity: Int64 = 0, amount: Int128) {
        guard recordsStatements, s != Self.insuranceSlot else { return }
        statementEntries.append(AccountStatementEntry(
            account: accounts.id(s), sequence: currentSequence, kind: kind, market: market, price: price, quantity: quantity,
            amount: FixedMath.saturating(amount), collateral: accounts[slot: s].collateral))
    }

    /// Drains the fills of resting orders since the last call. The enclave takes each
    /// kind of output after every event and most events have none: inlinable for that
    /// case, the caller sees the empty array it gets and drops it, where a call returned
    /// an array the caller then had to release (four releases an event; issue 17). The
    /// enclave gets this too: its `Worker` is generic, but `process` is specialised for
    /// `PerpEngine` (`@_specialize`), and the specialised callers (`collectPublicOutputs`,
    /// `deliverMakerFills`) call these methods directly, not through the protocol.
    @inlinable
    public mutating func takeMakerFills() -> [MakerFill] {
        if makerFills.isEmpty { return [] }
        return takeNonEmptyMakerFills()
    }

    @usableFromInline
    mutating func takeNonEmptyMakerFills() -> [MakerFill] {
        // Two buffers take turns: the one handed out last time has been released by the
        // caller by now, so emptying it keeps its storage and the next fill appends
        // without allocating.
        let out = makerFills
        swap(&makerFills, &spareMakerFills)
        makerFills.empty()
        spareMakerFills = out
        return out
    }

    // MARK: - Orders

    private mutating func place(_ order: NewOrder, account: AccountSlot, event: SequencedEvent, detail: inout ByteWriter) -> EngineVerdict {
        guard let mi = slot(of: order.market) else { return .rejected(.unknownMarket) }
        // Fields are read one by one: copying the market's config would retain its strings.
        guard order.quantity > 0 else { return .rejected(.invalidQuantity) }
        guard order.price > 0 else { return .rejected(.invalidPrice) }
        guard order.price % markets[mi].config.tickSize == 0 else { return .rejected(.priceNotOnTick) }
        guard order.quantity % markets[mi].config.stepSize == 0 else { return .rejected(.quantityNotOnStep) }
        let idHash = openOrders.hash(account: account, id: order.clientOrderID)
        guard openOrder(hash: idHash, account: account, id: order.clientOrderID) == nil else { return .rejected(.duplicateClientOrderID) }
        guard accounts[slot: account].openOrderCount < config.risk.maxOpenOrdersPerAccount else { return .rejected(.tooManyOpenOrders) }
        let now = event.enclaveTime
        // Every order needs a valid mark: its price must sit within the band around it,
        // so no trade at an absurd price can move value between two accounts.
        guard case .success(let mark) = mark(slot: mi, at: now) else { return .rejected(.priceUnavailable) }
        if mi >= perpCount {
            // An option market trades until its expiry, then settles (docs/OPTIONS.md §10).
            let (u, i) = options!.optionSlots[mi - perpCount]
            guard now < options!.underlyings[u].series[i].expiry, let f = bandForward(slot: mi, at: now) else {
                return .rejected(.priceUnavailable)
            }
            guard Self.withinOptionBand(order.price, mark: mark, forward: f, bps: config.risk.priceBandBps) else {
                return .rejected(.priceOutsideBand)
            }
        } else {
            guard Self.withinBand(order.price, mark: mark, bps: config.risk.priceBandBps) else { return .rejected(.priceOutsideBand) }
        }
        guard FixedMath.notional(price: max(order.price, mark), quantity: order.quantity, .up) <= Self.maxOrderNotional else {
            return .rejected(.orderTooLarge)
        }
        let position = accounts[slot: account].position(order.market)
        let delta = order.side == .buy ? order.quantity : -order.quantity
        guard !position.addingReportingOverflow(delta).overflow else { return .rejected(.orderTooLarge) }
        // A portfolio position is at most 2^53 (docs/OPTIONS.md §10.1, §7.5).
        if options != nil, exceedsPortfolioSize(account, slot: mi, newSize: position + delta) {
            return .rejected(.orderTooLarge)
        }
        if order.reduceOnly && !Self.reduces(position: position, delta: delta) {
            return .rejected(.reduceOnlyWouldIncrease)
        }
        if order.timeInForce == .postOnly, let best = markets[mi].book.bestPrice(order.side == .buy ? .sell : .buy),
           order.side == .buy ? best <= order.price : best >= order.price
        {
            return .rejected(.postOnlyWouldCross)
        }
        // Greek limits (docs/OPTIONS.md §10.11): judged on the full fill, like M1 below.
        if options != nil, exceedsGreekLimits(account, market: order.market, slot: mi, newSize: position + delta, now: now) {
            return .rejected(.greekLimitExceeded)
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

        // Matching reports into `reportScratch`, whose arrays are kept between orders
        // (most orders fill or cancel something, and a fresh array per order was a malloc
        // per order); it is empty again when this returns.
        defer { reportScratch.clear() }
        let (remaining, stopped) = match(
            account: account, market: mi, side: order.side, quantity: order.quantity, limit: order.price,
            reduceOnly: order.reduceOnly, takerFeeBps: config.fees.takerBps, checkTakerMargin: true, now: now)
        if remaining > 0 {
            let rests = order.type == .limit && order.timeInForce != .immediateOrCancel && !stopped
            if rests {
                let idx = markets[mi].book.add(RestingOrder(
                    id: event.globalSequence, account: accounts.id(account), accountSlot: account, clientOrderID: order.clientOrderID,
                    idHash: idHash, side: order.side, price: order.price, remaining: remaining, reduceOnly: order.reduceOnly, live: true))
                openOrders.insert(hash: idHash, account: account, ref: OrderRef(market: order.market, index: idx))
                accounts[slot: account].openOrderCount += 1
                reportScratch.resting = remaining
            } else {
                reportScratch.cancelled = remaining
            }
        }
        reportScratch.encode(into: &detail)
        return .accepted
    }

    /// Matches an incoming order against the book: price-time priority, self-trade
    /// prevention (the resting order expires), reduce-only caps, a margin check on
    /// both sides of every fill that adds risk, and the maker's Greek limits
    /// (docs/OPTIONS.md §10.11 "Resting orders"). Returns the unfilled quantity and whether
    /// matching stopped early (margin or reduce-only). Fills and self-trade cancellations
    /// are appended to `reportScratch` (empty on entry; the caller empties it after use).
    mutating func match(
        account: AccountSlot, market mi: Int, side takerSide: Side, quantity: Int64, limit: Int64, reduceOnly: Bool,
        takerFeeBps: Int64, checkTakerMargin: Bool, now: UInt64
    ) -> (remaining: Int64, stopped: Bool) {
        let marketID = markets[mi].config.id
        let makerSide: Side = takerSide == .buy ? .sell : .buy
        var remaining = quantity
        var stopped = false
        guard case .success(let mark) = mark(slot: mi, at: now) else { return (remaining, true) }
        // Option markets band around the option mark by a fraction of the underlying's.
        var forward: Int64? = nil
        if mi >= perpCount {
            guard let f = bandForward(slot: mi, at: now) else { return (remaining, true) }
            forward = f
        }
        while remaining > 0 {
            guard reportScratch.fills.count + reportScratch.selfTradeCancelled.count < OrderReport.maxEntries else {
                stopped = true
                break
            }
            guard let (idx, price) = markets[mi].book.bestOpposite(to: takerSide) else { break }
            guard takerSide == .buy ? price <= limit : price >= limit else { break }
            let maker = markets[mi].book.order(idx)
            // A resting order the mark has moved away from is not a price anyone trades at.
            guard forward == nil ? Self.withinBand(price, mark: mark, bps: config.risk.priceBandBps)
                : Self.withinOptionBand(price, mark: mark, forward: forward!, bps: config.risk.priceBandBps)
            else {
                cancelResting(idx, market: mi)
                continue
            }
            if maker.accountSlot == account {
                markets[mi].book.cancel(idx)
                forgetOpenOrder(maker, at: OrderRef(market: marketID, index: idx))
                reportScratch.selfTradeCancelled.append(maker.clientOrderID)
                continue
            }
            var fillQuantity = min(remaining, maker.remaining)
            if reduceOnly {
                fillQuantity = min(fillQuantity, Self.reducible(position: accounts[slot: account].position(marketID), side: takerSide))
                if fillQuantity == 0 { stopped = true; break }
            }
            if maker.reduceOnly {
                let cap = Self.reducible(position: accounts[slot: maker.accountSlot].position(marketID), side: makerSide)
                if cap == 0 {
                    cancelResting(idx, market: mi)
                    continue
                }
                fillQuantity = min(fillQuantity, cap)
            }
            let cash = FixedMath.notional(price: price, quantity: fillQuantity, .down)
            let takerFee = FixedMath.applyBps(cash, takerFeeBps, .up)
            let makerFee = FixedMath.applyBps(cash, config.fees.makerBps, .up)
            let takerDelta = takerSide == .buy ? fillQuantity : -fillQuantity
            guard fillKeepsMargin(maker.accountSlot, market: marketID, delta: -takerDelta, cash: cash, fee: makerFee, now: now) else {
                cancelResting(idx, market: mi)
                continue
            }
            // Greek limits bind the maker at its fill (docs/OPTIONS.md §10.11 "Resting orders"):
            // judged on this fill's quantity, like M1 just above; a maker refused is cancelled.
            // The taker was judged at admission on its full quantity and is not judged again.
            if options != nil, exceedsGreekLimits(maker.accountSlot, market: marketID, slot: mi,
                                                  newSize: accounts[slot: maker.accountSlot].position(marketID) - takerDelta,
                                                  now: now) {
                cancelResting(idx, market: mi)
                continue
            }
            if checkTakerMargin {
                guard fillKeepsMargin(account, market: marketID, delta: takerDelta, cash: cash, fee: takerFee, now: now) else {
                    stopped = true
                    break
                }
            }
            transfer(market: mi, from: maker.accountSlot, to: account, quantity: takerDelta, cash: cash, fromFee: makerFee,
                     toFee: takerFee)
            feePool += takerFee + makerFee
            noteStatement(account, matchingLiquidation ? .liquidation : .takerFill, market: marketID, price: price,
                          quantity: takerDelta, amount: takerFee)
            noteStatement(maker.accountSlot, .makerFill, market: marketID, price: price, quantity: -takerDelta, amount: makerFee)
            markets[mi].book.fill(idx, quantity: fillQuantity)
            if maker.remaining == fillQuantity { forgetOpenOrder(maker, at: OrderRef(market: marketID, index: idx)) }
            reportScratch.fills.append(Fill(market: marketID, side: takerSide, price: price, quantity: fillQuantity,
                                     fee: Int64(takerFee), isMaker: false, makerOrderID: maker.id))
            makerFills.append(MakerFill(account: maker.account, clientOrderID: maker.clientOrderID,
                                        fill: Fill(market: marketID, side: makerSide, price: price, quantity: fillQuantity,
                                                   fee: Int64(makerFee), isMaker: true, makerOrderID: maker.id)))
            remaining -= fillQuantity
        }
        return (remaining, stopped)
    }

    /// Moves `quantity` (signed, from `to`'s side: > 0 means `to` buys) between two
    /// accounts at `cash` (the fill's notional), keeping holder sets current, and takes
    /// each side's fee (`fromFee`, `toFee`) from its collateral in the same access: each
    /// access to an account notes it as changed and checks the arena's uniqueness, and
    /// a fill with its fees was four accesses instead of two (issue 17).
    mutating func transfer(
        market mi: Int, from: AccountSlot, to: AccountSlot, quantity: Int64, cash: Int128, fromFee: Int128 = 0, toFee: Int128 = 0
    ) {
        let marketID = markets[mi].config.id
        let fundingIndex = markets[mi].fundingIndex
        func move(_ s: AccountSlot, _ delta: Int64, fee: Int128) {
            let before = accounts[slot: s].applyFill(market: marketID, quantity: delta, cash: cash, fee: fee,
                                                     fundingIndex: fundingIndex)
            // The holder set changes only when a position opens or closes.
            let after = before + delta
            if after == 0 { markets[mi].holders.remove(s) } else if before == 0 { markets[mi].holders.insert(s) }
            touched.append(s)
        }
        move(from, -quantity, fee: fromFee)
        move(to, quantity, fee: toFee)
    }

    mutating func cancelResting(_ idx: Int32, market mi: Int) {
        let o = markets[mi].book.order(idx)
        markets[mi].book.cancel(idx)
        forgetOpenOrder(o, at: OrderRef(market: markets[mi].config.id, index: idx))
    }

    /// The index bucket of the account's resting order with client order id `id`.
    /// Mutating only so that callers (all mutating) pass the engine in place: called as a
    /// non-mutating method from a mutating one, it was handed a copy of the whole engine
    /// (a 496-byte memcpy and a retain and release of every array in it; issue 17).
    mutating func openOrder(hash: UInt64, account: AccountSlot, id: ClientOrderID) -> Int? {
        openOrders.find(hash: hash, account: account) { ref in
            guard let mi = slot(of: ref.market) else { return false }
            return markets[mi].book.order(ref.index).clientOrderID == id
        }
    }

    /// Drops a resting order that just died (filled, cancelled, expired) from the index.
    private mutating func forgetOpenOrder(_ o: RestingOrder, at ref: OrderRef) {
        guard let bucket = openOrders.find(hash: o.idHash, account: o.accountSlot, ref: ref) else {
            preconditionFailure("a live resting order is always in the open-order index")
        }
        dropOpenOrder(bucket: bucket, account: o.accountSlot)
    }

    private mutating func dropOpenOrder(bucket: Int, account: AccountSlot) {
        openOrders.remove(at: bucket)
        accounts[slot: account].openOrderCount -= 1
    }

    private mutating func cancel(_ id: ClientOrderID, account: AccountSlot, detail: inout ByteWriter) -> EngineVerdict {
        guard let bucket = openOrder(hash: openOrders.hash(account: account, id: id), account: account, id: id),
              let mi = slot(of: openOrders[bucket].market)
        else {
            return .rejected(.unknownOrder)
        }
        let ref = openOrders[bucket]
        let cancelled = markets[mi].book.orders[Int(ref.index)].remaining
        // The bucket is known: drop it directly rather than probing for it again.
        markets[mi].book.cancel(ref.index)
        dropOpenOrder(bucket: bucket, account: account)
        OrderReport.encode(resting: 0, cancelled: cancelled, into: &detail)
        return .accepted
    }

    private mutating func withdraw(_ amount: Int64, account: AccountSlot, now: UInt64, detail: inout ByteWriter) -> EngineVerdict {
        guard amount > 0 else { return .rejected(.invalidAmount) }
        switch checkInitialMargin(account, market: nil, newSize: 0, collateralDelta: -Int128(amount), now: now) {
        case .failure(let e): return .rejected(e)
        case .success: break
        }
        accounts[slot: account].collateral -= Int128(amount)
        netDeposits -= Int128(amount)
        touched.append(account)
        noteStatement(account, .withdrawal, amount: Int128(amount))
        OrderReport.encode(resting: 0, cancelled: 0, into: &detail)
        return .accepted
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
        guard let s = accounts.slot(of: accountID) else { return .success(Health(equity: 0, initialRequirement: 0, maintenanceRequirement: 0)) }
        return health(slot: s, market: market, newSize: newSize, collateralDelta: collateralDelta, now: now)
    }

    /// Which requirements `health(slot:)` computes; the other stays 0. Each costs a
    /// 128-bit multiply and divide per position, and most checks need one.
    enum Requirements { case initial, maintenance, both }

    mutating func health(
        slot s: AccountSlot, market: UInt32? = nil, newSize: Int64 = 0, collateralDelta: Int128 = 0, now: UInt64,
        requirements: Requirements = .both
    ) -> Result<Health, PriceInvalidityError> {
        if options != nil {
            return optionHealth(slot: s, market: market, newSize: newSize, collateralDelta: collateralDelta, now: now)
        }
        var h = Health(equity: accounts[slot: s].collateral + collateralDelta, initialRequirement: 0, maintenanceRequirement: 0)
        var sawOverride = market == nil
        func add(_ marketID: UInt32, _ size: Int64) -> PriceInvalidityError? {
            guard size != 0, let mi = slot(of: marketID) else { return nil }
            switch mark(slot: mi, at: now) {
            case .failure(let e): return e
            case .success(let mark):
                h.equity += FixedMath.notional(price: mark, quantity: size, .down)
                if requirements != .maintenance {
                    h.initialRequirement += Margin.requirement(price: mark, quantity: size, bps: markets[mi].tier.initialBps)
                }
                if requirements != .initial {
                    h.maintenanceRequirement += Margin.requirement(price: mark, quantity: size, bps: markets[mi].tier.maintenanceBps)
                }
                return nil
            }
        }
        for k in 0..<accounts[slot: s].positions.count {
            let p = accounts[slot: s].positions[k]
            let size = p.market == market ? newSize : p.size
            if p.market == market { sawOverride = true }
            if let e = add(p.market, size) { return .failure(e) }
        }
        if !sawOverride, let market, let e = add(market, newSize) { return .failure(e) }
        return .success(h)
    }

    private mutating func checkInitialMargin(
        _ account: AccountSlot, market: UInt32?, newSize: Int64, collateralDelta: Int128, now: UInt64
    ) -> Result<Void, RejectReason> {
        switch health(slot: account, market: market, newSize: newSize, collateralDelta: collateralDelta, now: now, requirements: .initial) {
        case .failure: return .failure(.priceUnavailable)
        case .success(let h): return h.equity >= h.initialRequirement ? .success(()) : .failure(.insufficientMargin)
        }
    }

    /// A fill is allowed if it keeps the account at or above initial margin when it adds
    /// risk; and, when it reduces risk at a price worse than the mark (selling below,
    /// buying above), at or above maintenance: a closing trade cannot hand value to a
    /// counterparty by pushing its own account into bad debt.
    private mutating func fillKeepsMargin(_ account: AccountSlot, market: UInt32, delta: Int64, cash: Int128, fee: Int128, now: UInt64) -> Bool {
        let position = accounts[slot: account].position(market)
        let (newSize, overflow) = position.addingReportingOverflow(delta)
        guard !overflow else { return false }
        let collateralDelta = (delta > 0 ? -cash : cash) - fee
        if Self.increasesRisk(position: position, delta: delta) {
            if case .success = checkInitialMargin(account, market: market, newSize: newSize, collateralDelta: collateralDelta, now: now) {
                return true
            }
            return false
        }
        guard let mi = slot(of: market), case .success(let mark) = mark(slot: mi, at: now) else { return false }
        let atMark = FixedMath.notional(price: mark, quantity: Int64(delta.magnitude), .down)
        let worseThanMark = delta > 0 ? cash > atMark : cash < atMark
        guard worseThanMark else { return true }
        if case .success(let h) = health(slot: account, market: market, newSize: newSize, collateralDelta: collateralDelta, now: now,
                                         requirements: .maintenance) {
            return h.equity >= h.maintenanceRequirement
        }
        return false
    }

    /// True if `price` is within `bps` of `mark`.
    @inline(__always)
    static func withinBand(_ price: Int64, mark: Int64, bps: Int64) -> Bool {
        let diff = price > mark ? price - mark : mark - price
        // Both products fit in 64 bits for any price below ~9.2 × 10^14 micro-units:
        // compared there (a few instructions, on every order and fill), else in 128 bits.
        let (left, leftOverflow) = diff.multipliedReportingOverflow(by: Int64(FixedMath.bps))
        let (right, rightOverflow) = mark.multipliedReportingOverflow(by: bps)
        if !leftOverflow && !rightOverflow { return left <= right }
        return Int128(diff) * FixedMath.bps <= Int128(mark) * Int128(bps)
    }

    static func increasesRisk(position: Int64, delta: Int64) -> Bool {
        let (new, overflow) = position.addingReportingOverflow(delta)
        if overflow { return true }
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
        guard let mi = slot(of: market) else { return .failure(PriceInvalidityError(reason: .noPrice)) }
        return mark(slot: mi, at: now)
    }

    public mutating func drainChangedAccounts(_ body: (UInt64) -> Void) { accounts.drainChanged(body) }

    public func writeCommitmentState(of account: UInt64, into writer: inout ByteWriter) -> Bool {
        guard let s = accounts.slot(of: account) else { return false }
        accounts[slot: s].writeCommitmentState(into: &writer)
        return true
    }

    /// Markets whose liquidations are halted at `now` (no valid mark), ascending.
    ///
    /// Evaluated on a copy of each oracle: the guard rails keep state as they evaluate,
    /// and a query (the enclave asks when it closes a batch, at times that depend on how
    /// the host batched its input) must not change what later events do.
    public func haltedMarkets(at now: UInt64) -> [UInt32] {
        var out: [UInt32] = []
        // Perpetuals only: the batch header's list (COMMITMENTS) is what an auditor
        // recomputes from the signed prices; an option market is halted exactly when its
        // underlying is (docs/OPTIONS.md §10.2).
        for m in markets[..<perpCount] {
            var oracle = m.oracle
            if case .failure = oracle.mark(at: now) { out.append(m.config.id) }
        }
        return out
    }

    /// Live resting orders of a market, best first, for tests and depth views.
    public func restingOrders(market: UInt32, side: Side) -> [(account: UInt64, clientOrderID: ClientOrderID, price: Int64, remaining: Int64)] {
        guard let mi = slot(of: market) else { return [] }
        return markets[mi].book.liveOrders(side: side).map { ($0.account, $0.clientOrderID, $0.price, $0.remaining) }
    }

    /// Σ collateral + fee pool + insurance fund − net deposits. Constant for the life of
    /// the venue (equal to the initial insurance fund): money is only ever moved.
    public var conservationResidual: Int128 {
        var total: Int128 = 0
        for a in accounts.arena { total += a.collateral }  // includes the insurance fund
        return total + feePool - netDeposits
    }

    /// Canonical bytes of the trading state (accounts by id, books in priority order, the
    /// fee pool): equal states give equal bytes in any process. Not a complete snapshot:
    /// oracle, funding and index state are left out.
    public func canonicalState() -> [UInt8] {
        var w = ByteWriter(capacity: 4096)
        func write128(_ v: Int128) {
            w.write(UInt64(truncatingIfNeeded: v >> 64))
            w.write(UInt64(truncatingIfNeeded: v))
        }
        write128(feePool)
        write128(netDeposits)
        for a in accounts.arena.sorted(by: { $0.id < $1.id }) {
            w.write(a.id)
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
        return w.takeBytes()
    }
}
