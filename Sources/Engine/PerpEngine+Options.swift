import Options

/// A cash settlement of one option market at expiry (docs/OPTIONS.md §10.5).
public struct OptionSettlement: Equatable, Sendable {
    public var market: UInt32
    /// The global sequence and enclave time of the event after which it happened.
    public var sequence: UInt64
    public var enclaveTime: UInt64
    /// The underlying's valid oracle mark at that event, micro-units per whole base unit.
    public var settlementPrice: Int64
    /// Intrinsic value per whole base unit, micro-units: max(F − K, 0) or max(K − F, 0).
    public var valuePerUnit: Int64
    /// What the payers' rounding left over, paid into the insurance fund (≥ 0).
    public var residue: Int64
    /// Σ paid by the holders whose cash is negative (the shorts, each ⌈|q| × S / 10⁸⌉),
    /// quote micro-units, ≥ 0, saturated to `Int64.max`.
    public var paid: Int64 = 0
    /// Σ received by the longs (each ⌊q × S / 10⁸⌋), quote micro-units, ≥ 0, saturated.
    public var received: Int64 = 0
    /// Positions closed (holders of a non-zero position).
    public var positions: Int64 = 0
}

extension PerpEngine {
    /// Whether `mi` is an option market's slot (every option slot follows every perpetual).
    @inline(__always)
    func isOptionSlot(_ mi: Int) -> Bool { mi >= perpCount }

    /// The mark of option market slot `mi` (docs/OPTIONS.md §10.2): V₀ = ⌊Black-76 price⌋
    /// at the underlying's valid mark, the smile's volatility and the time to expiry at
    /// `now`. Invalid while the underlying's mark is, or when the options math refuses
    /// the underlying's state (`noPrice`).
    mutating func optionMark(slot mi: Int, at now: UInt64) -> Result<Int64, PriceInvalidityError> {
        let (u, i) = options!.optionSlots[mi - perpCount]
        // As `underlyingArrays` would fail, without copying the arrays.
        if case .failure(let e) = mark(slot: options!.underlyings[u].perpSlot, at: now) { return .failure(e) }
        guard let box = arraysBox(u, at: now) else { return .failure(PriceInvalidityError(reason: .noPrice)) }
        return .success(Int64(box.price(i + 1).floor))
    }

    /// The aggregated confidence of perpetual slot `mi`'s valid mark at `now`
    /// (`OracleState.confidence(at:)`, docs/OPTIONS.md §10.2), 0 while the mark is invalid
    /// (no arrays are computed then). Called after `mark(slot: mi, at: now)` succeeded,
    /// so the oracle's cache answers.
    @inline(__always)
    mutating func markConfidence(slot mi: Int, at now: UInt64) -> Int64 {
        markets[mi].oracle.confidence(at: now) ?? 0
    }

    /// The risk arrays of underlying `u` and its mark at `now`.
    mutating func underlyingArrays(_ u: Int, at now: UInt64) -> Result<(RiskArrays, Int64), PriceInvalidityError> {
        let perp = options!.underlyings[u].perpSlot
        switch mark(slot: perp, at: now) {
        case .failure(let e): return .failure(e)
        case .success(let f):
            switch options!.arrays(u, mark: f, confidence: markConfidence(slot: perp, at: now), now: now) {
            case .failure: return .failure(PriceInvalidityError(reason: .noPrice))
            case .success(let a): return .success((a, f))
            }
        }
    }

    /// True if the account holds a position in an option market. Mutating only to take
    /// the engine in place (see `openOrder(hash:account:id:)`): a non-mutating call from
    /// the liquidation pass copied the engine, +59 instructions per event on a
    /// perpetuals-only venue (callgrind); inlined, that venue pays one nil check.
    @inline(__always)
    mutating func holdsOption(_ s: AccountSlot) -> Bool {
        options != nil && holdsOptionPosition(s)
    }

    @inline(never)
    mutating func holdsOptionPosition(_ s: AccountSlot) -> Bool {
        for p in accounts[slot: s].positions {
            if let mi = fastSlot(of: p.market), mi >= perpCount { return true }
        }
        return false
    }

    /// Whether an order leaving the account with `newSize` in market slot `mi` would put a
    /// position of more than 2^53 (`PortfolioMargin.maxSize`) into one of its portfolios
    /// (docs/OPTIONS.md §10.1): the option position itself, the underlying's perpetual
    /// position joining the portfolio the option opens, or a perpetual position on an
    /// underlying the account holds an option on. Such an order is `orderTooLarge`, so
    /// §7.5's evaluation never refuses a portfolio in the engine.
    mutating func exceedsPortfolioSize(_ s: AccountSlot, slot mi: Int, newSize: Int64) -> Bool {
        let limit = PortfolioMargin.maxSize.magnitude
        if isOptionSlot(mi) {
            guard newSize != 0 else { return false }
            if newSize.magnitude > limit { return true }
            let u = options!.optionSlots[mi - perpCount].underlying
            return accounts[slot: s].position(options!.underlyings[u].perpID).magnitude > limit
        }
        guard newSize.magnitude > limit, let u = options!.underlying(perpSlot: mi) else { return false }
        let ids = options!.underlyings[u].ids
        return accounts[slot: s].positions.contains { ids.contains($0.market) }
    }

    /// Option price band (docs/OPTIONS.md §10.2): |price − option mark| × 10⁴ ≤ F × bps,
    /// F the underlying's mark (a premium band relative to the premium would shut deep
    /// out-of-the-money markets, whose mark rounds to 0).
    static func withinOptionBand(_ price: Int64, mark: Int64, forward f: Int64, bps: Int64) -> Bool {
        let diff = Int128(price) - Int128(mark)
        return (diff < 0 ? -diff : diff) * FixedMath.bps <= Int128(f) * Int128(bps)
    }

    /// The underlying's mark of option slot `mi`, for the band.
    mutating func bandForward(slot mi: Int, at now: UInt64) -> Int64? {
        let u = options!.optionSlots[mi - perpCount].underlying
        guard case .success(let f) = mark(slot: options!.underlyings[u].perpSlot, at: now) else { return nil }
        return f
    }

    /// `health(slot:)` on a venue with option markets (docs/OPTIONS.md §10.3): perpetuals
    /// on an underlying the account holds no option on, and every perpetual without
    /// options, take the linear requirement as before; each underlying with an option
    /// position is one portfolio (its perpetual as instrument 0) margined by
    /// `PortfolioMargin.evaluate`. Equity counts option positions at the option mark.
    mutating func optionHealth(
        slot s: AccountSlot, market: UInt32?, newSize: Int64, collateralDelta: Int128, now: UInt64
    ) -> Result<Health, PriceInvalidityError> {
        // The account's current state (no hypothetical order or close): an account holding
        // options is checked at every priced event (§10.3) and again by the margin-call
        // pass, so its health is memoized on exactly what it is computed from.
        let current = market == nil && collateralDelta == 0
        if current, let h = memoizedHealth(s, now: now) { return .success(h) }
        var walk = HealthWalk()
        let result = computeOptionHealth(slot: s, market: market, newSize: newSize, collateralDelta: collateralDelta, now: now,
                                         walk: &walk)
        // `walk.holdsOption` is `holdsOptionPosition(s)` for the current state.
        if current, case .success(let h) = result, walk.holdsOption { memoizeHealth(s, h, walk: walk, now: now) }
        return result
    }

    /// `optionHealth` evaluated (docs/OPTIONS.md §10.3), positions in the account's order
    /// with the hypothetical size in place of the held one. Allocates nothing on the heap
    /// (the portfolios are built in temporary allocations, one buffer for all of them),
    /// and reads each underlying's arrays once. `walk` gets whether any held or
    /// hypothetical position (of any size) is in an option market (`holdsOptionPosition(s)`
    /// when `market` is nil) and, for the current state (no `market`, no
    /// `collateralDelta`) of an account holding options on one underlying while the Greek
    /// book is kept, the Greeks of that portfolio (`HealthMemo`).
    private mutating func computeOptionHealth(
        slot s: AccountSlot, market: UInt32?, newSize: Int64, collateralDelta: Int128, now: UInt64, walk: inout HealthWalk
    ) -> Result<Health, PriceInvalidityError> {
        let count = options!.underlyings.count
        // The held positions with `market` at `newSize` (appended when not held), zero
        // sizes skipped: `body(id, size)` in that order.
        let positionCount = accounts[slot: s].positions.count
        let appended = market != nil && newSize != 0 && !accounts[slot: s].positions.contains { $0.market == market }
        let total = positionCount + (appended ? 1 : 0)
        // (No local function here: one capturing the walk's variables inside the
        // temporary allocations' closures boxed them, with a dynamic exclusivity check on
        // every access.)
        return withUnsafeTemporaryAllocation(of: Bool.self, capacity: count) { hasOption in
            hasOption.initialize(repeating: false)
            // How many underlyings hold an option position.
            var optionUnderlyings = 0
            for k in 0..<total {
                let h = heldPosition(s, k, count: positionCount, market: market, newSize: newSize)
                guard let mi = fastSlot(of: h.id), isOptionSlot(mi) else { continue }
                walk.holdsOption = true
                guard h.size != 0 else { continue }
                let u = options!.optionSlots[mi - perpCount].underlying
                if !hasOption[u] {
                    hasOption[u] = true
                    optionUnderlyings += 1
                }
            }
            let several = optionUnderlyings > 1
            // Every portfolio position in walk order, with its underlying: the portfolio of
            // an account holding options on one underlying is the whole buffer.
            return withUnsafeTemporaryAllocation(of: MarginPosition.self, capacity: 2 * total) { buffer in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: total) { owner in
                    var entries = 0
                    var health = Health(equity: accounts[slot: s].collateral + collateralDelta, initialRequirement: 0,
                                        maintenanceRequirement: 0)
                    // The last underlying's arrays, fetched once rather than per position, by reference.
                    var fetchedU = -1
                    var box: ArraysBox?
                    for k in 0..<total {
                        let h = heldPosition(s, k, count: positionCount, market: market, newSize: newSize)
                        guard h.size != 0, let mi = fastSlot(of: h.id) else { continue }
                        if isOptionSlot(mi) {
                            let (u, i) = options!.optionSlots[mi - perpCount]
                            if fetchedU != u {
                                box = arraysBox(u, at: now)
                                guard box != nil else { return .failure(PriceInvalidityError(reason: .noPrice)) }
                                fetchedU = u
                            }
                            health.equity += FixedMath.notional(price: Int64(box!.price(i + 1).floor), quantity: h.size, .down)
                            (buffer.baseAddress! + entries).initialize(to: MarginPosition(instrument: i + 1, size: h.size))
                            owner[entries] = u
                            entries += 1
                            continue
                        }
                        switch mark(slot: mi, at: now) {
                        case .failure(let e): return .failure(e)
                        case .success(let mark):
                            health.equity += FixedMath.notional(price: mark, quantity: h.size, .down)
                            if let u = options!.underlying(perpSlot: mi), hasOption[u] {
                                (buffer.baseAddress! + entries).initialize(to: MarginPosition(instrument: 0, size: h.size))
                                owner[entries] = u
                                entries += 1
                            } else {
                                health.initialRequirement += Margin.requirement(
                                    price: mark, quantity: h.size, bps: markets[mi].tier.initialBps)
                                health.maintenanceRequirement += Margin.requirement(
                                    price: mark, quantity: h.size, bps: markets[mi].tier.maintenanceBps)
                            }
                        }
                    }
                    var portfolios = 0
                    var portfolio = UnsafeBufferPointer(rebasing: buffer[0..<entries])
                    for u in 0..<count where hasOption[u] {
                        if fetchedU != u {
                            box = arraysBox(u, at: now)
                            guard box != nil else { return .failure(PriceInvalidityError(reason: .noPrice)) }
                            fetchedU = u
                        }
                        // Underlying u's portfolio: the whole buffer when it is the only one,
                        // else its entries copied in order after them.
                        if several {
                            var n = entries
                            for e in 0..<entries where owner[e] == u {
                                (buffer.baseAddress! + n).initialize(to: buffer[e])
                                n += 1
                            }
                            portfolio = UnsafeBufferPointer(rebasing: buffer[entries..<n])
                        }
                        guard let r = try? box!.evaluate(portfolio, config: options!.underlyings[u].margin)
                        else { return .failure(PriceInvalidityError(reason: .noPrice)) }
                        health.initialRequirement += r.initial
                        health.maintenanceRequirement += r.maintenance
                        portfolios += 1
                        walk.greeksUnderlying = u
                    }
                    // The Greek book's entry of this state, from the portfolio just built (the
                    // book's own walk builds the same positions in the same order: `greekEntry`).
                    if portfolios == 1, market == nil, collateralDelta == 0, greekBook != nil,
                       let generation = arraysGeneration(walk.greeksUnderlying, at: now) {
                        walk.greeksGeneration = generation
                        // One portfolio: the one just evaluated.
                        walk.greeks = try? box!.greeks(portfolio)
                    } else {
                        walk.greeksUnderlying = -1
                    }
                    return .success(health)
                }
            }
        }
    }

    /// Position `k` of the walk of `computeOptionHealth`: the account's k-th held position
    /// with `market` at `newSize`, or (k == `count`, the held count) `market` appended.
    @inline(__always)
    private mutating func heldPosition(
        _ s: AccountSlot, _ k: Int, count: Int, market: UInt32?, newSize: Int64
    ) -> (id: UInt32, size: Int64) {
        if k == count { return (market!, newSize) }
        let p = accounts[slot: s].positions[k]
        return (p.market, p.market == market ? newSize : p.size)
    }

    /// Which position a liquidation step of an account holding options closes
    /// (docs/OPTIONS.md §10.6): of its positions not in cooldown with a valid mark, the one
    /// whose full close at its mark leaves the lowest maintenance requirement; ties to
    /// the lower market id. Nil if every position is in cooldown or unpriced.
    mutating func optionLiquidationChoice(_ s: AccountSlot, now: UInt64) -> (position: Position, mark: Int64, mi: Int)? {
        let cooldown = config.liquidation.cooldownNanos
        var best: (requirement: Int128, position: Position, mark: Int64, mi: Int)?
        for p in accounts[slot: s].positions {
            guard let mi = fastSlot(of: p.market) else { continue }
            if let last = accounts[slot: s].lastLiquidation[p.market], now - last < cooldown { continue }
            guard case .success(let mark) = mark(slot: mi, at: now) else { continue }
            let cash = FixedMath.notional(price: mark, quantity: p.size, .down)
            guard case .success(let after) = optionHealth(slot: s, market: p.market, newSize: 0, collateralDelta: cash, now: now)
            else { continue }
            if best == nil || after.maintenanceRequirement < best!.requirement {
                best = (after.maintenanceRequirement, p, mark, mi)
            }
        }
        return best.map { ($0.position, $0.mark, $0.mi) }
    }
}
