import Options

/// One Greek-limit escalation step (docs/OPTIONS.md §10.11 "Escalation"): which position
/// to reduce, at which mark, and by how much.
struct GreekStep {
    var position: Position
    var mark: Int64
    var mi: Int
    /// Base units of 10⁻⁸ to close, a multiple of the market's lot, 1 lot ≤ quantity ≤ |size|.
    var quantity: Int64
}

extension PerpEngine {
    /// The escalation step an account takes at `now`, or nil (docs/OPTIONS.md §10.11): the
    /// first underlying, ascending perpetual id, with `greekLimits.escalationBps` on which the
    /// account holds an option position and whose portfolio's |delta| or |gamma| exceeds its
    /// threshold, and on it the position (not in cooldown, validly priced) whose full close
    /// leaves the portfolio nearest the limits, and the least number of its lots that brings
    /// both Greeks within them (the whole position when none does). An underlying whose risk
    /// arrays are refused, or all of whose positions are in cooldown, is skipped.
    mutating func greekEscalation(_ s: AccountSlot, now: UInt64) -> GreekStep? {
        // Read without binding the runtime (a copy retains its arrays): called at every
        // check of an account holding options.
        guard greekEscalationConfigured, let options else { return nil }
        let cooldown = config.liquidation.cooldownNanos
        for u in options.underlyings.indices {
            guard let limits = options.underlyings[u].greekLimits, limits.escalationBps != nil else { continue }
            let underlying = options.underlyings[u]
            // The portfolio of §10.3 on u: (position, instrument) in the account's (ascending id) order.
            var held: [(position: Position, instrument: Int)] = []
            for p in accounts[slot: s].positions where p.size != 0 {
                if p.market == underlying.perpID {
                    held.append((p, 0))
                } else if let k = underlying.ids.firstIndex(of: p.market) {
                    held.append((p, k + 1))
                }
            }
            guard held.contains(where: { $0.instrument > 0 }),
                  case .success(let (arrays, _)) = underlyingArrays(u, at: now)
            else { continue }
            /// The portfolio's Greeks with position `i` reduced by `closed` (same sign as its size).
            func greeks(_ i: Int, closing closed: Int64) -> PortfolioGreeks? {
                var list: [MarginPosition] = []
                for (j, h) in held.enumerated() {
                    let size = j == i ? h.position.size - closed : h.position.size
                    if size != 0 { list.append(MarginPosition(instrument: h.instrument, size: size)) }
                }
                return try? PortfolioMargin.greeks(list, arrays: arrays)
            }
            guard let now0 = greeks(-1, closing: 0), limits.escalates(delta: now0.delta, gamma: now0.gamma) else { continue }
            // The position whose full close leaves max(|Δ| / maxAbsDelta, |Γ| / maxAbsGamma)
            // least (cross-multiplied, exact), ties to the lower market id (`held` ascends).
            var best: (score: UInt128, index: Int, mark: Int64, mi: Int)?
            for (i, h) in held.enumerated() {
                if let last = accounts[slot: s].lastLiquidation[h.position.market], now - last < cooldown { continue }
                guard let mi = slot(of: h.position.market), case .success(let mark) = mark(slot: mi, at: now),
                      let after = greeks(i, closing: h.position.size)
                else { continue }
                let score = max(after.delta.magnitude * UInt128(limits.maxAbsGamma),
                                after.gamma.magnitude * UInt128(limits.maxAbsDelta))
                if best == nil || score < best!.score { best = (score, i, mark, mi) }
            }
            guard let best else { continue }
            let position = held[best.index].position
            let lot = markets[best.mi].config.stepSize
            let lots = Int64(position.size.magnitude) / lot
            let sign: Int64 = position.size > 0 ? 1 : -1
            let k = Self.leastLots(lots, limits: limits) { k in greeks(best.index, closing: sign * k * lot) }
            let quantity = k.map { $0 * lot } ?? Int64(position.size.magnitude)
            return GreekStep(position: position, mark: best.mark, mi: best.mi, quantity: quantity)
        }
        return nil
    }

    /// The least k in 1...lots at which closing k lots leaves both Greeks within the limits,
    /// or nil. Each Greek moves monotonically with k (it is a sum of per-position floors of a
    /// product with the size), so the k at which one Greek is within its limit form an
    /// interval, found by binary search at its two ends; the answer is the lower end of the
    /// two intervals' intersection.
    static func leastLots(
        _ lots: Int64, limits: GreekLimitsConfig, _ greeks: (Int64) -> PortfolioGreeks?
    ) -> Int64? {
        guard lots >= 1 else { return nil }
        func interval(_ value: (PortfolioGreeks) -> Int128, _ bound: Int64) -> ClosedRange<Int64>? {
            guard let first = greeks(0).map(value), let last = greeks(lots).map(value) else { return nil }
            let rising = last >= first
            let b = Int128(bound)
            // Smallest k with value ≥ −b (rising) or ≤ b (falling); largest with value ≤ b (rising) or ≥ −b.
            func smallest(_ ok: (Int128) -> Bool) -> Int64? {
                guard let v = greeks(lots).map(value), ok(v) else { return nil }
                var (lo, hi) = (Int64(0), lots)
                while lo < hi {
                    let mid = lo + (hi - lo) / 2
                    if let v = greeks(mid).map(value), ok(v) { hi = mid } else { lo = mid + 1 }
                }
                return lo
            }
            func largest(_ ok: (Int128) -> Bool) -> Int64? {
                guard let v = greeks(0).map(value), ok(v) else { return nil }
                var (lo, hi) = (Int64(0), lots)
                while lo < hi {
                    let mid = hi - (hi - lo) / 2
                    if let v = greeks(mid).map(value), ok(v) { lo = mid } else { hi = mid - 1 }
                }
                return lo
            }
            let lower = rising ? smallest { $0 >= -b } : smallest { $0 <= b }
            let upper = rising ? largest { $0 <= b } : largest { $0 >= -b }
            guard let lower, let upper, lower <= upper else { return nil }
            return lower...upper
        }
        guard let d = interval({ $0.delta }, limits.maxAbsDelta), let g = interval({ $0.gamma }, limits.maxAbsGamma) else {
            return nil
        }
        let low = max(d.lowerBound, g.lowerBound, 1)
        return low <= min(d.upperBound, g.upperBound) ? low : nil
    }
}
