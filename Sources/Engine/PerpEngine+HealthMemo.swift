import Options

/// An account's last health (docs/OPTIONS.md §10.3) and everything it was computed from:
/// its collateral, its positions (the array itself: an unchanged account shares its
/// buffer, so the comparison is one pointer check) and, per position, the price input
/// of its market (a perpetual's mark, or the generation of the risk arrays of an option's
/// underlying). The health is a function of exactly these, so an equal key returns the
/// health the evaluation would compute, bit for bit. Derived, not state: never in the
/// snapshot, empty after a restore (docs/OPTIONS.md §10.12 "Cost").
struct HealthMemo: Sendable {
    var collateral: Int128
    var positions: [Position]
    var keys: [Int64]
    var health: PerpEngine.Health
}

extension PerpEngine {
    /// The price input of market slot `mi` at `now` for the memo: a perpetual's valid mark,
    /// or for an option market its underlying's arrays generation (its mark, the forward
    /// and every Greek derive from those arrays); nil if unpriced.
    @inline(__always)
    mutating func healthKey(slot mi: Int, now: UInt64) -> Int64? {
        if mi < perpCount {
            guard case .success(let m) = mark(slot: mi, at: now) else { return nil }
            return m
        }
        return arraysGeneration(options!.optionSlots[mi - perpCount].underlying, at: now).map { Int64(bitPattern: $0) }
    }

    /// The generation of underlying `u`'s risk arrays at `now` (nil: its mark is invalid
    /// or the arrays are refused), without copying them.
    mutating func arraysGeneration(_ u: Int, at now: UInt64) -> UInt64? {
        guard case .success(let f) = mark(slot: options!.underlyings[u].perpSlot, at: now) else { return nil }
        return options!.generation(u, mark: f, now: now)
    }

    /// The memoized health of the account's current state at `now`, if its key still holds.
    mutating func memoizedHealth(_ s: AccountSlot, now: UInt64) -> Health? {
        guard let memo = healthMemo[s], memo.collateral == accounts[slot: s].collateral,
              memo.positions == accounts[slot: s].positions
        else { return nil }
        var i = 0
        for p in memo.positions {
            guard let mi = slot(of: p.market), healthKey(slot: mi, now: now) == memo.keys[i] else { return nil }
            i += 1
        }
        return memo.health
    }

    /// Records the health just computed for the account's current state (accounts holding
    /// an option only: the others' health is a few multiplications).
    mutating func memoizeHealth(_ s: AccountSlot, _ h: Health, now: UInt64) {
        var keys = healthMemo[s]?.keys ?? []
        keys.removeAll(keepingCapacity: true)
        for p in accounts[slot: s].positions {
            guard let mi = slot(of: p.market), let k = healthKey(slot: mi, now: now) else { return }
            keys.append(k)
        }
        healthMemo[s] = HealthMemo(collateral: accounts[slot: s].collateral, positions: accounts[slot: s].positions,
                                   keys: keys, health: h)
    }
}
