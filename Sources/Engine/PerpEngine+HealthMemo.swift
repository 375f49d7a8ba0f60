import Options

/// An account's last health (docs/OPTIONS.md §10.3) and everything it was computed from:
/// its collateral, its positions (the array itself: an unchanged account shares its
/// buffer, so the comparison is one pointer check) and, per position, its market slot and
/// the price input of that market (a perpetual's mark, or the generation of the risk
/// arrays of an option's underlying). The health is a function of exactly these, so an
/// equal key returns the health the evaluation would compute, bit for bit. Derived, not
/// state: never in the snapshot, empty after a restore (docs/OPTIONS.md §10.12 "Cost").
/// Kept by slot and updated in place, so recording one allocates nothing once its
/// buffers have grown. The keys of the first `inlineCapacity` positions live in the memo
/// itself (no array of their own, whose uniqueness every append and every write checks);
/// only a larger portfolio's further keys go to `moreSlots` and `moreKeys`.
struct HealthMemo: Sendable {
    static let inlineCapacity = 4
    var valid = false
    var collateral: Int128 = 0
    var positions: [Position] = []
    /// Positions keyed: position k's market slot and price input are `slot(k)` and `key(k)`.
    var keyCount = 0
    var inlineSlots: (Int, Int, Int, Int) = (0, 0, 0, 0)
    var inlineKeys: (Int64, Int64, Int64, Int64) = (0, 0, 0, 0)
    var moreSlots: [Int] = []
    var moreKeys: [Int64] = []
    var health = PerpEngine.Health(equity: 0, initialRequirement: 0, maintenanceRequirement: 0)
    /// The Greeks of §7.7 of the same state's portfolio on underlying `greeksUnderlying`
    /// (−1: none recorded), computed from the arrays of generation `greeksGeneration` on
    /// the walk that built the health (an account holding options on one underlying): the
    /// Greek book's entry for that state and generation, so a tick builds each holder's
    /// portfolio once (docs/OPTIONS.md §10.12 "Cost").
    var greeksUnderlying = -1
    var greeksGeneration: UInt64 = 0
    var greeks: PortfolioGreeks?
}

extension HealthMemo {
    /// The market slot of keyed position k (k < `keyCount`).
    @inline(__always)
    func slot(_ k: Int) -> Int {
        switch k {
        case 0: return inlineSlots.0
        case 1: return inlineSlots.1
        case 2: return inlineSlots.2
        case 3: return inlineSlots.3
        default: return moreSlots[k - Self.inlineCapacity]
        }
    }

    /// The price input of keyed position k (k < `keyCount`).
    @inline(__always)
    func key(_ k: Int) -> Int64 {
        switch k {
        case 0: return inlineKeys.0
        case 1: return inlineKeys.1
        case 2: return inlineKeys.2
        case 3: return inlineKeys.3
        default: return moreKeys[k - Self.inlineCapacity]
        }
    }
}

/// What `computeOptionHealth` found on its walk besides the health: whether the account
/// holds an option position, and the Greeks of its portfolio when it has one (on a single
/// underlying) and the Greek book is kept.
struct HealthWalk {
    var holdsOption = false
    var greeksUnderlying = -1
    var greeksGeneration: UInt64 = 0
    var greeks: PortfolioGreeks?
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
    /// or the arrays are refused), without copying them. Read once per underlying per
    /// event after its input (`keysFrozen`): nothing that keys the arrays changes then.
    mutating func arraysGeneration(_ u: Int, at now: UInt64) -> UInt64? {
        if keysFrozen, u < generationCache.count, generationCache[u].epoch == keyEpoch { return generationCache[u].generation }
        let generation: UInt64?
        let perp = options!.underlyings[u].perpSlot
        if case .success(let f) = mark(slot: perp, at: now) {
            generation = options!.generation(u, mark: f, confidence: markConfidence(slot: perp, at: now), now: now)
        } else {
            generation = nil
        }
        if keysFrozen {
            if generationCache.count <= u {
                generationCache.append(contentsOf: repeatElement((epoch: UInt64(0), generation: UInt64?.none), count: u + 1 - generationCache.count))
            }
            generationCache[u] = (keyEpoch, generation)
        }
        return generation
    }

    /// Underlying `u`'s risk arrays at `now` behind one reference (nil: its mark is invalid
    /// or the arrays are refused): what `underlyingArrays` returns, without copying them.
    mutating func arraysBox(_ u: Int, at now: UInt64) -> ArraysBox? {
        guard arraysGeneration(u, at: now) != nil else { return nil }
        return options!.underlyings[u].box
    }

    /// The memoized health of the account's current state at `now`, if its key still holds.
    mutating func memoizedHealth(_ s: AccountSlot, now: UInt64) -> Health? {
        let i = Int(s)
        guard i < healthMemo.count, healthMemo[i].valid, healthMemo[i].collateral == accounts[slot: s].collateral,
              healthMemo[i].positions == accounts[slot: s].positions
        else { return nil }
        for k in 0..<healthMemo[i].keyCount {
            guard healthKey(slot: healthMemo[i].slot(k), now: now) == healthMemo[i].key(k) else { return nil }
        }
        return healthMemo[i].health
    }

    /// Records the health just computed for the account's current state (accounts holding
    /// an option only: the others' health is a few multiplications). The first
    /// `HealthMemo.inlineCapacity` keys are gathered in locals and the memo written in one
    /// access (one uniqueness check of the memo array, not one per field and key).
    mutating func memoizeHealth(_ s: AccountSlot, _ h: Health, walk: HealthWalk, now: UInt64) {
        let i = Int(s)
        if healthMemo.count <= i { healthMemo.append(contentsOf: repeatElement(HealthMemo(), count: i + 1 - healthMemo.count)) }
        let count = accounts[slot: s].positions.count
        if count > HealthMemo.inlineCapacity {
            healthMemo[i].valid = false
            healthMemo[i].moreSlots.empty()
            healthMemo[i].moreKeys.empty()
        }
        var slots: (Int, Int, Int, Int) = (0, 0, 0, 0)
        var keys: (Int64, Int64, Int64, Int64) = (0, 0, 0, 0)
        for k in 0..<count {
            let market = accounts[slot: s].positions[k].market
            guard let mi = fastSlot(of: market), let key = healthKey(slot: mi, now: now) else {
                healthMemo[i].valid = false
                return
            }
            switch k {
            case 0: (slots.0, keys.0) = (mi, key)
            case 1: (slots.1, keys.1) = (mi, key)
            case 2: (slots.2, keys.2) = (mi, key)
            case 3: (slots.3, keys.3) = (mi, key)
            default:
                healthMemo[i].moreSlots.append(mi)
                healthMemo[i].moreKeys.append(key)
            }
        }
        let collateral = accounts[slot: s].collateral
        let positions = accounts[slot: s].positions
        healthMemo.withUnsafeMutableBufferPointer { memo in
            memo[i].keyCount = count
            memo[i].inlineSlots = slots
            memo[i].inlineKeys = keys
            memo[i].collateral = collateral
            memo[i].positions = positions
            memo[i].health = h
            memo[i].greeksUnderlying = walk.greeksUnderlying
            memo[i].greeksGeneration = walk.greeksGeneration
            memo[i].greeks = walk.greeks
            memo[i].valid = true
        }
    }

    /// The Greeks recorded with the account's memoized health for underlying `u` at arrays
    /// generation `generation`, if the memo holds them for the account's current positions
    /// (`.some(nil)`: recorded, and §7.7 refused). Nil: not recorded.
    mutating func memoizedGreeks(_ s: AccountSlot, underlying u: Int, generation: UInt64) -> PortfolioGreeks?? {
        let i = Int(s)
        guard i < healthMemo.count, healthMemo[i].valid, healthMemo[i].greeksUnderlying == u,
              healthMemo[i].greeksGeneration == generation, healthMemo[i].positions == accounts[slot: s].positions
        else { return nil }
        return .some(healthMemo[i].greeks)
    }
}
