import Options

extension PerpEngine {
    /// Feeds the underlying's estimator after an oracle price of perpetual slot `mi` was
    /// recorded (docs/OPTIONS.md §10.4): the mark valid at this event, at this event's
    /// enclave time, when it differs from the estimator's last price (so each return is
    /// annualized over the time since the mark last moved). Refusals (an equal time, a
    /// mark outside 1…2⁵⁰) change nothing.
    mutating func updateRealizedVolatility(perpSlot mi: Int, now: UInt64) {
        guard let u = options!.underlying(perpSlot: mi), case .success(let mark) = mark(slot: mi, at: now),
              mark != options!.underlyings[u].volatility.last?.price
        else { return }
        try? options!.underlyings[u].volatility.update(price: mark, time: now)
    }

    /// Settles every option market whose expiry has come (docs/OPTIONS.md §10.5), at the
    /// first event at or after its expiry at which its underlying has a valid mark F:
    /// resting orders are cancelled; each holder's collateral moves by ⌊q × S / 10⁸⌋
    /// with S the intrinsic value (so longs receive rounded down, shorts pay rounded up);
    /// what the payers' rounding leaves goes to the insurance fund; every position closes.
    mutating func settleExpiredOptions(now: UInt64, sequence: UInt64) {
        guard options != nil, now >= options!.nextExpiry else { return }
        for u in options!.underlyings.indices {
            let series = options!.underlyings[u].series
            for i in series.indices where !options!.underlyings[u].settled[i] && series[i].expiry <= now {
                guard case .success(let f) = mark(slot: options!.underlyings[u].perpSlot, at: now) else { break }
                settle(slot: options!.underlyings[u].slots[i], series: series[i], mark: f, now: now, sequence: sequence)
                options!.underlyings[u].settled[i] = true
            }
        }
        var next = UInt64.max
        for u in options!.underlyings {
            for i in u.series.indices where !u.settled[i] { next = min(next, u.series[i].expiry) }
        }
        options!.nextExpiry = next
    }

    private mutating func settle(slot mi: Int, series: OptionSeries, mark f: Int64, now: UInt64, sequence: UInt64) {
        let marketID = markets[mi].config.id
        for idx in markets[mi].book.orders.indices where markets[mi].book.orders[idx].live {
            cancelResting(Int32(idx), market: mi)
        }
        let value = OptionsRuntime.intrinsic(series, mark: f)
        var paid: Int128 = 0
        var (debits, credits, positions): (Int128, Int128, Int64) = (0, 0, 0)
        for s in holdersByID(mi) {
            let q = accounts[slot: s].position(marketID)
            let amount = FixedMath.mulDiv(Int128(q), Int128(value), FixedMath.quantityScale, .down)
            accounts[slot: s].collateral += amount
            paid += amount
            if amount < 0 { debits -= amount } else { credits += amount }
            if q != 0 { positions += 1 }
            // Closed at no cash: the value moved above.
            accounts[slot: s].applyFill(market: marketID, quantity: -q, cash: 0, fundingIndex: 0)
            noteStatement(s, .optionSettlement, market: marketID, price: value, quantity: q, amount: amount)
            markets[mi].holders.remove(s)
            touched.append(s)
        }
        // Σ q = 0, so Σ ⌊q S / 10⁸⌋ ≤ 0: the payers' excess is the residue.
        accounts[slot: Self.insuranceSlot].collateral -= paid
        optionSettlements.append(OptionSettlement(
            market: marketID, sequence: sequence, enclaveTime: now, settlementPrice: f, valuePerUnit: value,
            residue: Int64(-paid), paid: Self.saturated(debits), received: Self.saturated(credits),
            positions: positions))
    }

    /// A non-negative total in 64 bits, as outputs carry money (docs/CONFIG.md).
    static func saturated(_ v: Int128) -> Int64 { v > Int128(Int64.max) ? Int64.max : Int64(v) }

    /// Settlements since the last call, in order.
    public mutating func takeOptionSettlements() -> [OptionSettlement] {
        defer { optionSettlements = [] }
        return optionSettlements
    }
}
