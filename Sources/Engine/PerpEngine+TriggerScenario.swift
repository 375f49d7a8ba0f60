import Options
import Wire

extension PerpEngine {
    /// The scenario behind an account's maintenance requirement at `now` (docs/OPTIONS.md
    /// §10.6): per underlying on which it holds an option position, ascending perpetual id,
    /// the worst scenario of §7.5 over that portfolio (its perpetual as instrument 0) with the
    /// contingencies, and the linear requirement of its other perpetual positions — the
    /// parts whose sum is `health(...).maintenanceRequirement` of §10.3. Nil when the account
    /// holds no option position (the linear model) or a held market has no valid price.
    mutating func triggerScenario(_ s: AccountSlot, now: UInt64) -> DecisionScenario? {
        guard holdsOption(s) else { return nil }
        let count = options!.underlyings.count
        var portfolio = [[MarginPosition]](repeating: [], count: count)
        var hasOption = [Bool](repeating: false, count: count)
        for p in accounts[slot: s].positions {
            if let mi = slot(of: p.market), isOptionSlot(mi) { hasOption[options!.optionSlots[mi - perpCount].underlying] = true }
        }
        var linear: Int128 = 0
        for p in accounts[slot: s].positions where p.size != 0 {
            guard let mi = slot(of: p.market) else { continue }
            if isOptionSlot(mi) {
                let (u, i) = options!.optionSlots[mi - perpCount]
                portfolio[u].append(MarginPosition(instrument: i + 1, size: p.size))
                continue
            }
            guard case .success(let mark) = mark(slot: mi, at: now) else { return nil }
            if let u = options!.underlying(perpSlot: mi), hasOption[u] {
                portfolio[u].append(MarginPosition(instrument: 0, size: p.size))
            } else {
                linear += Margin.requirement(price: mark, quantity: p.size, bps: markets[mi].tier.maintenanceBps)
            }
        }
        var parts: [DecisionScenario.Portfolio] = []
        // `options.underlyings` is in ascending perpetual id.
        for u in 0..<count where hasOption[u] {
            let margin = options!.underlyings[u].margin
            guard case .success(let (arrays, f)) = underlyingArrays(u, at: now),
                  let r = try? PortfolioMargin.evaluate(portfolio[u], arrays: arrays, config: margin)
            else { return nil }
            let worst = arrays.scenarios[r.worstScenario]
            parts.append(DecisionScenario.Portfolio(
                underlying: options!.underlyings[u].perpID, mark: f, scanBps: arrays.scanRangeBps,
                scenario: UInt32(r.worstScenario), moveSteps: worst.moveSteps,
                volShiftBps: worst.volShift > 0 ? margin.volUpBps : (worst.volShift < 0 ? -margin.volDownBps : 0),
                price: worst.price, loss: FixedMath.saturating(r.worstLoss),
                shortOptionContingency: FixedMath.saturating(r.shortOptionContingency),
                confidenceContingency: FixedMath.saturating(r.confidenceContingency)))
        }
        return DecisionScenario(linearRequirement: FixedMath.saturating(linear), portfolios: parts)
    }
}
