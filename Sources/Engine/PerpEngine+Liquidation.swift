import Wire

extension PerpEngine {
    /// Drains the liquidation decisions made since the last call. Inlinable for the
    /// common empty case (see `takeMakerFills`).
    @inlinable
    public mutating func takeDecisions() -> [LiquidationDecision] {
        if decisions.isEmpty { return [] }
        return takeNonEmptyDecisions()
    }

    @usableFromInline
    mutating func takeNonEmptyDecisions() -> [LiquidationDecision] {
        // Hand the array over (removeAll(keepingCapacity:) on a shared buffer would
        // allocate a new one).
        defer { decisions = [] }
        return decisions
    }

    /// Drains the funding payments made since the last call. Inlinable for the common
    /// empty case (see `takeMakerFills`).
    @inlinable
    public mutating func takeFundingPayments() -> [FundingPayment] {
        if fundingPayments.isEmpty { return [] }
        return takeNonEmptyFundingPayments()
    }

    @usableFromInline
    mutating func takeNonEmptyFundingPayments() -> [FundingPayment] {
        defer { fundingPayments = [] }
        return fundingPayments
    }

    // MARK: - After every event

    /// Checks every account the event changed, then advances each valid market's movement
    /// odometer and checks every candidate the move reached. Halted markets are skipped:
    /// nothing is liquidated on a stale or implausible price.
    mutating func processLiquidations(event: SequencedEvent) {
        let now = event.enclaveTime
        // Candidates: the accounts this event touched, then those whose index entries the
        // mark reached, appended to the same buffer.
        // An entry with the account's current version fired: it is out of the heap now.
        // An account holding options has an entry in each market it holds, all firing at
        // the next priced event: it is listed once (the checks below skip duplicates
        // anyway; listing them cost a sort of one entry per position).
        fireRound &+= 1
        if firedIn.count < accounts.count { firedIn.append(contentsOf: repeatElement(0, count: accounts.count - firedIn.count)) }
        let round = fireRound
        func candidate(_ s: AccountSlot) {
            indexedKeys[Int(s)].market = -1
            guard firedIn[Int(s)] != round else { return }
            firedIn[Int(s)] = round
            touched.append(s)
        }
        for mi in markets.indices {
            guard case .success(let mark) = mark(slot: mi, at: now) else { continue }
            // Single-position keys are checked when the mark moves. An entry that the
            // mark has not moved past since it was pushed belongs to an account checked
            // at this very mark and not changed since (a change would have touched it).
            let last = markets[mi].index.lastMark
            if last != mark {
                if let last { markets[mi].index.odometer += Int128(mark > last ? mark - last : last - mark) }
                markets[mi].index.lastMark = mark
                while let top = markets[mi].index.longs.top, -top.key >= Int128(mark) {
                    markets[mi].index.longs.pop()
                    if indexVersion[Int(top.slot)] == top.version { candidate(top.slot) }
                }
                while let top = markets[mi].index.shorts.top, top.key <= Int128(mark) {
                    markets[mi].index.shorts.pop()
                    if indexVersion[Int(top.slot)] == top.version { candidate(top.slot) }
                }
            }
            // Cross-margin budgets and retries (pushed at the current odometer, so they
            // fire at the next event with a valid price) are checked at every event.
            let odometer = markets[mi].index.odometer
            while let top = markets[mi].index.cross.top, top.key <= odometer {
                markets[mi].index.cross.pop()
                if indexVersion[Int(top.slot)] == top.version { candidate(top.slot) }
            }
        }
        // Most events (a resting order, a cancel) have no candidate.
        guard !touched.isEmpty else { return }
        // Take the touched buffer rather than copying it (a copy would allocate on every
        // event that changed an account).
        var candidates: [AccountSlot] = []
        swap(&candidates, &touched)
        // Liquidating moves money and positions of others too (makers filled by the
        // liquidation, the fund, deleveraged counterparties): keep going until no check
        // touched an account that has not been checked since, so every key is current.
        var rounds = 0
        while !candidates.isEmpty && rounds < 8 {
            rounds += 1
            // Checked in account id order (slots follow creation order, not ids).
            if candidates.count > 1 { candidates.sort { accounts.id($0) < accounts.id($1) } }
            var previous: AccountSlot = -1
            for s in candidates where s != previous {
                previous = s
                checkAndLiquidate(s, event: event)
            }
            candidates.empty()
            swap(&candidates, &touched)
        }
        // Anything still unchecked (a long cascade) is checked at the next tick, not lost.
        for s in candidates { retryAtNextTick(s) }
        // Keep the larger (now empty) buffer for the next event's touched accounts.
        candidates.empty()
        if candidates.capacity > touched.capacity { swap(&candidates, &touched) }
    }

    /// Liquidates `id` step by step while it is below maintenance, then re-indexes it.
    mutating func checkAndLiquidate(_ s: AccountSlot, event: SequencedEvent) {
        let now = event.enclaveTime
        guard s != Self.insuranceSlot, !accounts[slot: s].positions.isEmpty else {
            leaveCooldown(s)
            reindex(s, now: now)
            return
        }
        // One position on the safe side of its index key (which errs toward the mark) is
        // not liquidatable: re-key it without computing its health.
        if accounts[slot: s].positions.count == 1 && !holdsOption(s) {
            let k = singlePositionKey(s)
            if case .success(let mark) = mark(slot: k.market, at: now), k.long ? Int128(mark) > k.key : Int128(mark) < k.key {
                leaveCooldown(s)
                push(s, k)
                return
            }
        }
        for _ in 0...accounts[slot: s].positions.count {
            switch health(slot: s, now: now, requirements: .maintenance) {
            case .failure:
                // A market it holds has no valid price: wait for it (rechecked at that
                // market's next valid tick).
                leaveCooldown(s)
                retryAtNextTick(s)
                return
            case .success(let h):
                guard h.equity < h.maintenanceRequirement else {
                    leaveCooldown(s)
                    // At or above maintenance: a Greek-limit escalation (docs/OPTIONS.md
                    // §10.11) may still close part of a portfolio.
                    if let g = greekEscalation(s, now: now), step(s, health: h, event: event, greek: g) { continue }
                    reindex(s, now: now)
                    return
                }
                guard step(s, health: h, event: event) else {
                    awaitingCooldown.insert(accounts.id(s))
                    retryAtNextTick(s)
                    return
                }
            }
        }
        reindex(s, now: now)
    }

    /// Removes an account from the cooldown set (hashing only when the set has members).
    private mutating func leaveCooldown(_ s: AccountSlot) {
        if !awaitingCooldown.isEmpty { awaitingCooldown.remove(accounts.id(s)) }
    }

    /// One liquidation step on the largest position not in cooldown. False if every
    /// position is in cooldown. With `greek`, a Greek-limit escalation step instead
    /// (docs/OPTIONS.md §10.11): that position and quantity, limited at the mark rather than
    /// the bankruptcy price, the book and then the insurance fund, no deleveraging.
    private mutating func step(_ id: AccountSlot, health h: Health, event: SequencedEvent, greek: GreekStep? = nil) -> Bool {
        let now = event.enclaveTime
        let cooldown = config.liquidation.cooldownNanos
        // Largest notional first; ties by market id. An account holding options closes the
        // position whose close lowers its requirement most (docs/OPTIONS.md §10.6).
        var choices: [(notional: Int128, position: Position, mark: Int64, mi: Int)] = []
        let portfolio = holdsOption(id)
        if let greek {
            choices.append((0, greek.position, greek.mark, greek.mi))
        } else if portfolio {
            guard let c = optionLiquidationChoice(id, now: now) else { return false }
            choices.append((FixedMath.notional(price: c.mark, quantity: Int64(c.position.size.magnitude), .down), c.position,
                            c.mark, c.mi))
        }
        for p in accounts[slot: id].positions where !portfolio {
            let mi = slot(of: p.market)!
            if let last = accounts[slot: id].lastLiquidation[p.market], now - last < cooldown { continue }
            guard case .success(let mark) = mark(slot: mi, at: now) else { continue }
            let size = Int64(p.size.magnitude)
            choices.append((FixedMath.notional(price: mark, quantity: size, .down), p, mark, mi))
        }
        guard let choice = choices.sorted(by: { $0.notional != $1.notional ? $0.notional > $1.notional : $0.position.market < $1.position.market }).first else {
            return false
        }
        let p = choice.position
        let mi = choice.mi
        // What a fraud proof opens: the state and every held market's mark and maintenance
        // fraction just before the step (docs/COMMITMENTS.md §3). Only on this path: no
        // cost to an event that liquidates nothing.
        // Sized to the state (32 bytes and 44 per position, docs/COMMITMENTS.md §2.2) and
        // taken without a copy below: a 64-byte start grew and was copied out again.
        var preState = ByteWriter(capacity: 32 + 44 * accounts[slot: id].positions.count)
        accounts[slot: id].writeCommitmentState(into: &preState)
        var preMarks: [DecisionMark] = []
        preMarks.reserveCapacity(accounts[slot: id].positions.count)
        for held in accounts[slot: id].positions {
            let hi = slot(of: held.market)!
            // Every held market is priced: `health` succeeded at this same `now`.
            guard case .success(let heldMark) = mark(slot: hi, at: now) else { return false }
            preMarks.append(DecisionMark(market: held.market, mark: heldMark, maintenanceBps: markMaintenanceBps(slot: hi)))
        }
        // The scenario behind the requirement (docs/OPTIONS.md §10.6), at the same state.
        let trigger = portfolio ? triggerScenario(id, now: now) : nil
        let stepIndex: UInt32 = decisions.last.map { $0.sequence == event.globalSequence ? $0.step + 1 : 0 } ?? 0
        let m = markets[mi].config
        let mark = choice.mark
        let size = Int64(p.size.magnitude)
        let isLong = p.size > 0
        // Full close at or below the threshold; above it, a capped step on the step grid.
        var quantity = size
        var reason = LiquidationDecision.Reason.maintenanceFull
        if let greek {
            quantity = greek.quantity
            reason = .greekLimit
        } else if choice.notional > Int128(config.liquidation.partialThreshold) {
            let stepped = Self.partialStep(size: size, maxCloseBps: config.liquidation.maxCloseBps,
                                           stepSize: m.stepSize)
            if stepped < size {
                quantity = stepped
                reason = .maintenancePartial
            }
        }
        // Bankruptcy price of the whole position: closing it there leaves zero equity.
        // Rounded in the account's favour (up for a long, down for a short), and so is
        // the worst price, so closing at the bound never leaves the account below zero.
        let bankruptcy = Margin.bankruptcyPrice(mark: mark, equity: h.equity, size: p.size)
        // A Greek-limit step closes a solvent account's exposure at its mark (on the tick grid,
        // in the account's favour), never down to its bankruptcy price.
        let worst = Margin.worstPrice(bankruptcy: greek == nil ? bankruptcy : Int128(mark), long: isLong, tickSize: m.tickSize)
        let worstPrice = FixedMath.saturating(worst)
        let side: Side = isLong ? .sell : .buy

        // 1. The book, within the price bound, never past the position.
        matchingLiquidation = true
        let (unfilled, _) = match(account: id, market: mi, side: side, quantity: quantity, limit: worstPrice, reduceOnly: true,
                                  takerFeeBps: 0, checkTakerMargin: false, now: now)
        matchingLiquidation = false
        let onBook = quantity - unfilled
        // What the book took, from the fills `match` reported (emptied again at once).
        let closed = reportScratch.fills.reduce(Int128(0)) { $0 + FixedMath.notional(price: $1.price, quantity: $1.quantity, .down) }
        var executed = reportScratch.fills.map { ExecutionFill(kind: .book, price: $0.price, quantity: $0.quantity) }
        reportScratch.clear()
        // The liquidation fee on what the book took, capped at what equity is left.
        var liquidationFee: Int128 = 0
        if onBook > 0 {
            var fee = FixedMath.applyBps(closed, config.liquidation.feeBps, .up)
            if case .success(let after) = health(slot: id, now: now, requirements: .maintenance) { fee = min(fee, max(0, after.equity)) }
            accounts[slot: id].collateral -= fee
            accounts[slot: Self.insuranceSlot].collateral += fee
            liquidationFee = fee
            if fee != 0 { noteStatement(id, .liquidationFee, market: m.id, amount: fee) }
        }
        // 2. The insurance fund takes the rest at the worst price, if it stays above its
        //    own maintenance requirement doing so. 3. Otherwise, auto-deleveraging.
        var remaining = unfilled
        var toFund: Int64 = 0
        var deleveraged: Int64 = 0
        if remaining > 0 {
            let fundDelta = isLong ? remaining : -remaining
            let cash = FixedMath.notional(price: worstPrice, quantity: remaining, .down)
            let fundPosition = accounts[slot: Self.insuranceSlot].position(m.id)
            if case .success(let fundAfter) = health(slot: Self.insuranceSlot, market: m.id, newSize: fundPosition + fundDelta,
                                                    collateralDelta: fundDelta > 0 ? -cash : cash, now: now, requirements: .maintenance),
               fundAfter.equity >= fundAfter.maintenanceRequirement
            {
                transfer(market: mi, from: id, to: Self.insuranceSlot, quantity: fundDelta, cash: cash)
                noteStatement(id, .liquidation, market: m.id, price: worstPrice, quantity: -fundDelta, amount: 0)
                executed.append(ExecutionFill(kind: .insuranceFund, price: worstPrice, quantity: remaining))
                toFund = remaining
                remaining = 0
            } else if greek == nil {
                for counterparty in deleverageRanking(market: mi, closingLong: isLong, excluding: id, now: now) where remaining > 0 {
                    let available = Int64(accounts[slot: counterparty].position(m.id).magnitude)
                    let take = min(remaining, available)
                    if take > 0 { executed.append(ExecutionFill(kind: .autoDeleveraging, price: worstPrice, quantity: take)) }
                    transfer(market: mi, from: id, to: counterparty, quantity: isLong ? take : -take,
                             cash: FixedMath.notional(price: worstPrice, quantity: take, .down))
                    if take > 0 {
                        noteStatement(id, .liquidation, market: m.id, price: worstPrice, quantity: isLong ? -take : take, amount: 0)
                        noteStatement(counterparty, .autoDeleveraged, market: m.id, price: worstPrice,
                                      quantity: isLong ? take : -take, amount: 0)
                    }
                    deleveraged += take
                    remaining -= take
                }
            }
        }
        accounts[slot: id].lastLiquidation[m.id] = now
        // A Greek-limit step that found neither the book nor the fund closed nothing: no
        // decision (the position waits out its cooldown; the account is judged again).
        if greek != nil && quantity == remaining { return true }
        decisions.append(LiquidationDecision(
            sequence: event.globalSequence, enclaveTime: now, accountCommitment: commitment(slot: id), market: m.id,
            side: side, size: quantity - remaining, markPrice: mark, bankruptcyPrice: FixedMath.saturating(bankruptcy),
            worstPrice: worstPrice, equity: FixedMath.saturating(h.equity),
            maintenanceRequirement: FixedMath.saturating(h.maintenanceRequirement), reason: reason,
            filledOnBook: onBook, toInsuranceFund: toFund, autoDeleveraged: deleveraged,
            liquidationFee: FixedMath.saturating(liquidationFee), fills: executed, scenario: trigger, accountID: accounts.id(id), step: stepIndex,
            preState: preState.takeBytes(), marks: preMarks))
        touched.append(id)
        return true
    }

    /// The quantity one partial step closes of a position of `size` (base units of 10^-8,
    /// positive): `maxCloseBps` of it rounded down to whole lots of `stepSize`, so a step
    /// never closes more than `maxCloseBps` of the position. When that fraction is less
    /// than one lot the step is one lot, the least a market can trade: a step of zero
    /// would leave the account below maintenance for good (docs/CONFIG.md).
    static func partialStep(size: Int64, maxCloseBps: Int64, stepSize: Int64) -> Int64 {
        let lots = FixedMath.mulDiv(Int128(size), Int128(maxCloseBps), FixedMath.bps * Int128(stepSize), .down)
        return Int64(max(lots, 1) * Int128(stepSize))
    }

    /// Opposite positions in the market, most profitable first by profit × leverage
    /// (unrealized PnL × notional ÷ equity); ties by account id. Accounts with no profit,
    /// no equity, or an unpriced market are not deleveraged.
    private mutating func deleverageRanking(market mi: Int, closingLong: Bool, excluding: AccountSlot, now: UInt64) -> [AccountSlot] {
        let marketID = markets[mi].config.id
        guard case .success(let mark) = mark(slot: mi, at: now) else { return [] }
        var scored: [(score: Int128, id: UInt64, slot: AccountSlot)] = []
        for id in holdersByID(mi) where id != excluding && id != Self.insuranceSlot {
            guard let p = accounts[slot: id].positions.first(where: { $0.market == marketID }), (p.size < 0) == closingLong else { continue }
            let value = FixedMath.notional(price: mark, quantity: p.size, .down)
            let pnl = value - p.costBasis
            guard pnl > 0, case .success(let h) = health(slot: id, now: now, requirements: .maintenance), h.equity > 0 else { continue }
            let notional = value.magnitude > Int128.max.magnitude ? Int128.max : Int128(value.magnitude)
            let (product, overflow) = pnl.multipliedReportingOverflow(by: notional)
            scored.append((overflow ? Int128.max : product / h.equity, accounts.id(id), id))
        }
        return scored.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }.map(\.slot)
    }

    /// The market's holders in account id order.
    func holdersByID(_ mi: Int) -> [AccountSlot] {
        markets[mi].holders.members.sorted { accounts.id($0) < accounts.id($1) }
    }

    // MARK: - Index maintenance

    /// Re-keys an account in the liquidation index of every market it holds.
    mutating func reindex(_ id: AccountSlot, now: UInt64) {
        // An account holding options is checked again at the next event with a valid
        // price of one of its markets: its requirement is not linear in any one mark.
        if id != Self.insuranceSlot, holdsOption(id) {
            retryAtNextTick(id, holdsOption: true)
            return
        }
        if id != Self.insuranceSlot, accounts[slot: id].positions.count == 1 {
            push(id, singlePositionKey(id))
            return
        }
        let version = newIndexVersion(id)
        guard id != Self.insuranceSlot, !accounts[slot: id].positions.isEmpty else { return }
        let accountID = accounts.id(id)
        let positionCount = accounts[slot: id].positions.count
        // Cross margin: split the buffer into per-market budgets of absolute price
        // movement, proportional to each market's price level.
        guard case .success(let h) = health(slot: id, now: now, requirements: .maintenance) else {
            retryAtNextTick(id)
            return
        }
        let buffer = Margin.movementBuffer(equity: h.equity, maintenance: h.maintenanceRequirement, positions: positionCount)
        guard buffer > 0 else {
            retryAtNextTick(id)
            return
        }
        var marks: [Int64] = []
        var denominator: Int128 = 0
        let positions = accounts[slot: id].positions
        for p in positions {
            let mi = slot(of: p.market)!
            guard case .success(let mark) = mark(slot: mi, at: now) else {
                retryAtNextTick(id)
                return
            }
            marks.append(mark)
            denominator += Margin.movementWeight(size: p.size, maintenanceBps: markets[mi].tier.maintenanceBps, mark: mark)
        }
        for (i, p) in positions.enumerated() {
            let mi = slot(of: p.market)!
            let budget = Margin.movementBudget(buffer: buffer, mark: marks[i], totalWeight: denominator)
            markets[mi].index.cross.push(.init(key: markets[mi].index.odometer + budget, account: accountID, slot: id, version: version))
            compactIfNeeded(mi)
        }
    }

    /// The index key of an account with one position: its exact, mark-independent
    /// liquidation price with the rounding slack (`Margin.liquidationPrice`), and one
    /// tick of margin toward the mark. A long is checked when the mark falls to the key
    /// or below, a short when it rises to it or above.
    /// Mutating only to take the engine in place (see `openOrder(hash:account:id:)`).
    mutating func singlePositionKey(_ s: AccountSlot) -> (market: Int, long: Bool, key: Int128) {
        let p = accounts[slot: s].positions[0]
        let mi = slot(of: p.market)!
        let tick = Int128(markets[mi].config.tickSize)
        let price = Margin.liquidationPrice(collateral: accounts[slot: s].collateral, size: p.size,
                                            maintenanceBps: markets[mi].tier.maintenanceBps)
        return p.size > 0 ? (mi, true, price + tick) : (mi, false, price - tick)
    }

    /// Re-keys a single-position account at `k`. When its live entry is on the same side
    /// of the same market and fires no later than `k` would (the account got safer), the
    /// entry stays: it errs toward checking early, and the check re-keys exactly. Otherwise
    /// a new version makes older entries stale and `k` is pushed.
    private mutating func push(_ s: AccountSlot, _ k: (market: Int, long: Bool, key: Int128)) {
        let live = indexedKeys[Int(s)]
        if live.market == Int32(k.market), live.long == k.long, k.long ? k.key <= live.key : k.key >= live.key { return }
        let version = newIndexVersion(s)
        let accountID = accounts.id(s)
        if k.long {
            markets[k.market].index.longs.push(.init(key: -k.key, account: accountID, slot: s, version: version))
        } else {
            markets[k.market].index.shorts.push(.init(key: k.key, account: accountID, slot: s, version: version))
        }
        indexedKeys[Int(s)] = IndexedKey(market: Int32(k.market), long: k.long, key: k.key)
        compactIfNeeded(k.market)
    }

    /// Starts a new index version for the account: every entry it has goes stale.
    private mutating func newIndexVersion(_ s: AccountSlot) -> UInt32 {
        let version = indexVersion[Int(s)] &+ 1
        indexVersion[Int(s)] = version
        indexedKeys[Int(s)].market = -1
        return version
    }

    /// Makes the account a candidate at the next valid tick of each market it holds: one
    /// waiting entry for an account holding options (the fund aside), else an entry in
    /// each held market's cross heap at its odometer.
    /// `holdsOption`: the caller found that `id` (not the fund) holds an option position,
    /// so the wait needs no second walk over its positions (once per holder per tick).
    private mutating func retryAtNextTick(_ id: AccountSlot, holdsOption: Bool = false) {
        let version = newIndexVersion(id)
        if holdsOption {
            optionWaiters.append((id, version))
            return
        }
        if options != nil, waitIfHoldingOptions(id, version) { return }
        let accountID = accounts.id(id)
        for p in accounts[slot: id].positions {
            let mi = slot(of: p.market)!
            markets[mi].index.cross.push(.init(key: markets[mi].index.odometer, account: accountID, slot: id, version: version))
        }
    }

    /// Accounts holding options wait in one entry each, not one per market held
    /// (docs/OPTIONS.md §10.3): each live entry one of whose account's markets has a valid
    /// mark at this event makes it a candidate (appended to `touched`, which the
    /// liquidation pass sorts and deduplicates) and is dropped; the others wait. Called
    /// once the event's input and settlement are applied, on a venue with options only,
    /// so a perpetuals-only venue's liquidation pass is unchanged.
    @inline(never)
    mutating func freezeKeysAndFireWaiters(now: UInt64) {
        // From here to the end of the event no mark, volatility estimate or smile changes,
        // so each underlying's arrays generation is read once (`healthKey`).
        keyEpoch &+= 1
        keysFrozen = true
        guard !optionWaiters.isEmpty else { return }
        let all = markValidity(now: now)
        var kept = 0
        for k in optionWaiters.indices {
            let w = optionWaiters[k]
            // Stale: checked or re-queued since (a later entry, or none, is live).
            guard indexVersion[Int(w.slot)] == w.version else { continue }
            let due = all ? !accounts[slot: w.slot].positions.isEmpty
                : accounts[slot: w.slot].positions.contains { validScratch[fastSlot(of: $0.market)!] }
            if due {
                touched.append(w.slot)
            } else {
                optionWaiters[kept] = w
                kept += 1
            }
        }
        optionWaiters.removeLast(optionWaiters.count - kept)
    }

    /// Queues an account holding options (the fund aside) in one waiting entry; false if
    /// it holds none (it then waits in the cross heaps).
    @inline(never)
    private mutating func waitIfHoldingOptions(_ id: AccountSlot, _ version: UInt32) -> Bool {
        guard id != Self.insuranceSlot, holdsOptionPosition(id) else { return false }
        optionWaiters.append((id, version))
        return true
    }

    /// Fills `validScratch` with whether each market has a valid mark at `now`; true if all do.
    private mutating func markValidity(now: UInt64) -> Bool {
        if validScratch.count != markets.count { validScratch = Array(repeating: false, count: markets.count) }
        var all = true
        for mi in markets.indices {
            // `healthKey` is nil exactly when `mark(slot:)` fails, and reads an option
            // market's arrays without copying them.
            let valid = healthKey(slot: mi, now: now) != nil
            validScratch[mi] = valid
            all = all && valid
        }
        return all
    }

    /// Every waiting entry of accounts holding options, live or stale (tests).
    var waitingEntries: [(slot: AccountSlot, version: UInt32)] { optionWaiters }

    /// After a snapshot restore: every account holding an option (the fund aside) waits,
    /// as at the end of every event (each check of one ends by queueing it again).
    mutating func rebuildOptionWaiters() {
        optionWaiters = []
        guard options != nil else { return }
        for s in 1..<AccountSlot(accounts.count) where holdsOptionPosition(s) {
            optionWaiters.append((s, indexVersion[Int(s)]))
        }
    }

    private mutating func compactIfNeeded(_ mi: Int) {
        let limit = 4 * markets[mi].holders.count + 1_024
        let index = markets[mi].index
        guard index.longs.count > limit || index.shorts.count > limit || index.cross.count > limit else { return }
        let versions = indexVersion
        let live: (IndexHeap.Entry) -> Bool = { versions[Int($0.slot)] == $0.version }
        if markets[mi].index.longs.count > limit { markets[mi].index.longs.compact(isLive: live) }
        if markets[mi].index.shorts.count > limit { markets[mi].index.shorts.compact(isLive: live) }
        if markets[mi].index.cross.count > limit { markets[mi].index.cross.compact(isLive: live) }
    }

    // MARK: - Funding

    /// Pays funding in every market whose interval has elapsed, at the first event at or
    /// after that time. Rate = premium of the book mid over the mark, clamped; payers'
    /// amounts round up, receivers' down, and the rounding residue goes to the insurance
    /// fund, so money is conserved exactly. Settled eagerly: no funding is ever pending.
    mutating func payFundingIfDue(now: UInt64, sequence: UInt64) {
        // Nothing is due before the earliest market's next payment (0 until the first
        // event has scheduled them all).
        guard now >= nextFundingDue else { return }
        defer { nextFundingDue = markets[..<perpCount].lazy.map(\.nextFunding).min() ?? .max }
        // Option markets (slots from perpCount on) have no funding.
        for mi in 0..<perpCount {
            let interval = markets[mi].config.funding.intervalNanos
            if markets[mi].nextFunding == 0 {
                markets[mi].nextFunding = now + interval
                continue
            }
            guard now >= markets[mi].nextFunding else { continue }
            // No valid price: funding waits (retried at the next event).
            guard case .success(let mark) = mark(slot: mi, at: now) else { continue }
            var premiumBps: Int128 = 0
            if let bid = markets[mi].book.bestPrice(.buy), let ask = markets[mi].book.bestPrice(.sell) {
                let mid = (Int128(bid) + Int128(ask)) / 2
                premiumBps = (mid - Int128(mark)) * FixedMath.bps / Int128(mark)
            }
            let cap = Int128(markets[mi].config.funding.maxRateBps)
            let rate = min(max(premiumBps, -cap), cap)
            let perUnit = Int128(mark) * rate / FixedMath.bps
            if perUnit != 0 {
                var collected: Int128 = 0
                for id in holdersByID(mi) {
                    let size = accounts[slot: id].position(markets[mi].config.id)
                    let amount = FixedMath.mulDiv(Int128(size), perUnit, FixedMath.quantityScale, .up)
                    accounts[slot: id].collateral -= amount
                    collected += amount
                    touched.append(id)
                    noteStatement(id, .funding, market: markets[mi].config.id, price: FixedMath.saturating(perUnit), quantity: size,
                                  amount: -amount)
                }
                accounts[slot: Self.insuranceSlot].collateral += collected
                markets[mi].fundingIndex += perUnit
            }
            fundingPayments.append(FundingPayment(market: markets[mi].config.id, sequence: sequence, enclaveTime: now,
                                                  markPrice: mark, rateBps: Int64(rate), perUnit: Int64(perUnit),
                                                  dueTime: markets[mi].nextFunding))
            let behind = (now - markets[mi].nextFunding) / interval + 1
            markets[mi].nextFunding += behind * interval
        }
    }

    // MARK: - Queries

    /// Accounts below maintenance right now that the engine knows of: those waiting out
    /// a cooldown. After every event this must equal a brute-force scan (tests check).
    public mutating func liquidatableAccounts(at now: UInt64) -> [UInt64] {
        awaitingCooldown.sorted().filter { id in
            if case .success(let h) = health(id, now: now) { return h.equity < h.maintenanceRequirement }
            return false
        }
    }
}
