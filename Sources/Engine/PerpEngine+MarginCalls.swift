import Options
import Wire

/// A margin call for one account (docs/OPTIONS.md §10.10), for the enclave to seal to the
/// account's open sessions. Not a public output and not committed state.
public struct MarginCallNotice: Equatable, Sendable {
    public var account: UInt64
    public var event: MarginCallEvent
}

extension PerpEngine {
    /// Margin calls since the last call, in the order made (ascending account id per event).
    public mutating func takeMarginCalls() -> [MarginCallNotice] {
        guard !marginCalls.isEmpty else { return [] }
        defer { marginCalls.removeAll(keepingCapacity: true) }
        return marginCalls
    }

    /// The margin-call pass after an event's liquidations (docs/OPTIONS.md §10.10): the
    /// accounts to evaluate are the holders of an option on the underlying whose price
    /// this event recorded (`tickedPerpSlot`), and every account the event changed
    /// (`changedFrom` is where this event's entries start in the store's change list),
    /// each evaluated once, in ascending account id.
    mutating func evaluateMarginCalls(event: SequencedEvent, tickedPerpSlot: Int?, changedFrom: Int) {
        guard let rule = marginCallRule else { return }
        // The engine's buffer, taken for the pass and handed back (no allocation per event).
        var slots: [AccountSlot] = []
        swap(&slots, &marginCallScratch)
        defer {
            slots.removeAll(keepingCapacity: true)
            swap(&slots, &marginCallScratch)
        }
        // The holders of an option on the ticked underlying: the Greek book's members of
        // it (refreshed just before, so exactly those holders), in ascending id.
        if let mi = tickedPerpSlot, let u = options!.underlying(perpSlot: mi) {
            let store = accounts
            slots.append(contentsOf: greekBook!.sortedMembers(u) { store.id($0) })
        }
        let sorted = slots.count
        if changedFrom < accounts.changedCount { slots.append(contentsOf: accounts.changed[changedFrom...]) }
        guard !slots.isEmpty else { return }
        // A sorted run plus a few changed accounts: the stable sort finds the run.
        if slots.count > sorted { slots.sort { accounts.id($0) < accounts.id($1) } }
        // §7.8's part that depends on the underlying alone (its mark, σ_ewma, √h, ln F), at
        // most once per underlying and pass, at the first account that needs it.
        var underlyings = [MarginCallUnderlying](repeating: .unknown, count: options!.underlyings.count)
        var previous: AccountSlot = -1
        for s in slots where s != previous && s != Self.insuranceSlot {
            previous = s
            evaluateMarginCall(s, rule: rule, event: event, underlyings: &underlyings)
        }
    }

    /// One account's evaluation: its probability (the largest over the underlyings it
    /// holds an option on of §7.8 with its whole buffer B = equity − maintenance and that
    /// portfolio's net delta), then the hysteresis of `MarginCallConfig.decide`. An
    /// account with no option position forgets its memory; one whose health has no price
    /// (§10.2) is not evaluated and keeps it.
    ///
    /// Φ is skipped where z alone settles the decision (§10.10, "Cost"): an exposure with
    /// z ≥ `marginCallSkip` is below `levelPpm − hysteresisPpm`, which decides as 0 does,
    /// and a call (at least `levelPpm`) never takes its maximum from such an exposure. The
    /// call itself carries every exposure's exact probability.
    /// `underlyings`: the pass's per-underlying part of §7.8 (`marginCallUnderlying`).
    mutating func evaluateMarginCall(
        _ s: AccountSlot, rule: MarginCallConfig, event: SequencedEvent, underlyings: inout [MarginCallUnderlying]
    ) {
        let id = accounts.id(s)
        guard holdsOption(s) else {
            if !marginCallMemory.isEmpty { marginCallMemory[id] = nil }
            return
        }
        let now = event.enclaveTime
        guard case .success(let health) = health(slot: s, now: now, requirements: .maintenance) else { return }
        let buffer = health.equity - health.maintenanceRequirement
        // The decision needs only the largest probability: found without building the
        // exposures (an array per account at every tick), which only a call carries.
        guard let ppm = marginCallPpm(s, buffer: buffer, rule: rule, now: now, underlyings: &underlyings) else {
            return
        }
        // One lookup, and a write only when the memory changes (most accounts stay unset).
        let previous = marginCallMemory.isEmpty ? nil : marginCallMemory[id]
        let (trigger, last) = rule.decide(ppm: ppm, lastCall: previous, now: now)
        if last != previous { marginCallMemory[id] = last }
        guard let trigger,
              let exposures = marginCallStages(s, buffer: buffer, rule: rule, now: now, underlyings: &underlyings)
        else { return }
        let e = health.equity, m = health.maintenanceRequirement
        let exact = exposures.map { $0.exposure() }
        // The same as `ppm` (a skipped exposure is below the level a call needs).
        let probability = exact.map(\.probabilityPpm).max() ?? 0
        marginCalls.append(MarginCallNotice(account: id, event: MarginCallEvent(
            trigger: trigger, probabilityPpm: probability, distance: FixedMath.saturating(e - m),
            equity: FixedMath.saturating(e), maintenance: FixedMath.saturating(m), globalSequence: event.globalSequence,
            enclaveTime: now, exposures: exact)))
    }

    /// The ppm `evaluateMarginCall` decides on: the largest over the underlyings the account
    /// holds an option on of §7.8's probability, Φ skipped where z alone settles it (a
    /// skipped exposure counts as 0); nil where `marginCallStages` is nil, with the same
    /// stages, so the same decision, without building them.
    mutating func marginCallPpm(
        _ s: AccountSlot, buffer: Int128, rule: MarginCallConfig, now: UInt64,
        underlyings: inout [MarginCallUnderlying]
    ) -> UInt32? {
        guard let book = greekBook!.entry(s) else { return 0 }
        var ppm: UInt32 = 0
        for u in options!.underlyings.indices {
            let perpID = options!.underlyings[u].perpID
            guard let entry = book.first(where: { $0.underlying == perpID }) else { continue }
            guard let greeks = entry.greeks,
                  let under = marginCallUnderlying(u, rule: rule, now: now, cache: &underlyings),
                  let stage = try? MarginCall.stage(buffer: buffer, netDelta: greeks.delta, underlying: under)
            else { return nil }
            switch stage {
            case .decided(let p): ppm = max(ppm, MarginCallConfig.ppm(p))
            case .deviations(let z) where z < marginCallSkip:
                ppm = max(ppm, MarginCallConfig.ppm(MarginCall.probability(deviations: z)))
            case .deviations: break
            }
        }
        return ppm
    }

    /// One underlying's part of an evaluation: its exposure without the probability, and
    /// §7.8 up to z (nil where the account holds no option on it).
    struct MarginCallStage {
        var partial: MarginCallEvent.Exposure
        var stage: MarginCall.Stage?

        /// The exposure with its exact probability (Φ computed when it was skipped).
        func exposure() -> MarginCallEvent.Exposure {
            var x = partial
            switch stage {
            case .decided(let p)?: x.probabilityPpm = MarginCallConfig.ppm(p)
            case .deviations(let z)?: x.probabilityPpm = MarginCallConfig.ppm(MarginCall.probability(deviations: z))
            case nil: break
            }
            return x
        }
    }

    /// Per option underlying of the venue (ascending id): the account's portfolio Greeks
    /// and §7.8's stage with `buffer`, or unexposed where it holds no option. Nil if the
    /// options math refuses (not reached: §10.1's limits keep inputs in range).
    mutating func marginCallStages(
        _ s: AccountSlot, buffer: Int128, rule: MarginCallConfig, now: UInt64,
        underlyings: inout [MarginCallUnderlying]
    ) -> [MarginCallStage]? {
        var out: [MarginCallStage] = []
        // The Greeks of §7.7 from the book, refreshed at this state (docs/OPTIONS.md §10.12).
        let book = greekBook!.entry(s) ?? []
        for u in options!.underlyings.indices {
            // Fields read one by one: a copy of the underlying would retain its arrays.
            let perpID = options!.underlyings[u].perpID
            guard let entry = book.first(where: { $0.underlying == perpID }) else {
                out.append(MarginCallStage(partial: .unexposed(perpID), stage: nil))
                continue
            }
            // The book's Greeks are nil exactly when the arrays are refused at this state.
            guard let greeks = entry.greeks, let under = marginCallUnderlying(u, rule: rule, now: now, cache: &underlyings),
                  let stage = try? MarginCall.stage(buffer: buffer, netDelta: greeks.delta, underlying: under)
            else { return nil }
            let mark = under.mark, sigma = under.volatility
            let partial = MarginCallEvent.Exposure(
                underlying: perpID, exposed: true, mark: mark,
                volatilityPpm: UInt32((sigma.raw * 1_000_000) >> 64), probabilityPpm: 0,
                delta: FixedMath.saturating(greeks.delta), gamma: FixedMath.saturating(greeks.gamma),
                vega: FixedMath.saturating(greeks.vega))
            out.append(MarginCallStage(partial: partial, stage: stage))
        }
        return out
    }

    /// One underlying's part of §7.8 in a margin-call pass: not yet needed, refused (no valid
    /// mark, or out of §7.8's ranges: every account exposed to it is then not evaluated, as
    /// when each computed it), or computed.
    enum MarginCallUnderlying {
        case unknown
        case refused
        case ready(MarginCall.Underlying)
    }

    /// Underlying `u`'s part of §7.8 at `now`: its mark, σ_ewma (`RealizedVolatility`'s √ of
    /// the estimate, which nothing changes during the pass), s and ln F, computed at the
    /// first account of the pass that needs it, so its mark is read exactly when it was
    /// before (a mark read again at the same time is the cached one).
    mutating func marginCallUnderlying(
        _ u: Int, rule: MarginCallConfig, now: UInt64, cache: inout [MarginCallUnderlying]
    ) -> MarginCall.Underlying? {
        switch cache[u] {
        case .ready(let under): return under
        case .refused: return nil
        case .unknown:
            let sigma = options!.underlyings[u].volatility.volatility
            guard case .success(let mark) = mark(slot: options!.underlyings[u].perpSlot, at: now),
                  let under = try? MarginCall.Underlying(mark: mark, volatility: sigma, horizonNanos: rule.horizonNanos)
            else {
                cache[u] = .refused
                return nil
            }
            cache[u] = .ready(under)
            return under
        }
    }

    // MARK: - Snapshot (docs/DURABILITY.md §6.2 item 8)

    /// Only on a venue with `options.marginCall`: the count (u32), then per disarmed
    /// account in ascending id its id (u64) and the enclave time of its last call (u64).
    func writeMarginCallMemory(into w: inout ByteWriter) {
        guard marginCallRule != nil else { return }
        let ids = marginCallMemory.keys.sorted()
        w.writeCount(ids.count)
        for id in ids {
            w.write(id)
            w.write(marginCallMemory[id]!)
        }
    }

    mutating func restoreMarginCallMemory(_ r: inout SnapshotReader) throws(EngineSnapshotError) {
        marginCallMemory = [:]
        guard marginCallRule != nil else { return }
        var previous: UInt64?
        for _ in 0..<(try r.count(minBytes: 16, "marginCallMemory")) {
            let id = try r.u64()
            guard previous.map({ $0 < id }) ?? true, accounts.slot(of: id) != nil else {
                throw .malformed("marginCallMemory")
            }
            marginCallMemory[id] = try r.u64()
            previous = id
        }
    }
}
