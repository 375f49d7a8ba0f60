import Commitments
import Engine
import Options
import Wire

extension OutputVerifier {
    /// Check `decisions.scenario` (docs/COMMITMENTS.md §5.3, 25a): each decision's triggering
    /// scenario against the decision's own fields and, with the venue configuration, against
    /// the scenario grid of docs/OPTIONS.md §7.3. The first failing rule per decision, in
    /// order: `missing`, `range`, `maintenance`, `underlying`, `grid`, `scan`, `price`.
    static func checkScenarios(_ decisions: [UInt8], config: VenueConfig?, into check: inout Check) {
        for (line, result) in JSONLines.read(decisions, { l throws(RecordError) in try DecisionRecord(jsonLine: l).fields() }) {
            guard case .success(let d) = result else { continue }
            Self.note(scenarioFault(d, config: config), at: "decision line \(line)", "its scenario does not hold", into: &check)
        }
    }

    /// The first rule `d`'s scenario breaks, or nil.
    static func scenarioFault(_ d: DecisionFields, config: VenueConfig?) -> String? {
        let options = config?.options
        let option = options?.markets.first { $0.id == d.market }
        guard let s = d.scenario else {
            // A decision on an option market liquidated an account holding that option, and a
            // Greek-limit escalation is taken only on an account holding one (OPTIONS §10.11).
            return option == nil && d.reason != .greekLimit ? nil : "missing"
        }
        if s.linearRequirement < 0 || s.portfolios.contains(where: {
            $0.mark < 1 || $0.scanBps < 1 || $0.price < 1 || $0.shortOptionContingency < 0
                || $0.confidenceContingency < 0
        }) {
            return "range"
        }
        let total = s.maintenance
        let saturated = Int64(clamping: total)
        if saturated != d.maintenanceRequirement { return "maintenance" }
        guard let options else { return nil }
        if let option, !s.portfolios.contains(where: { $0.underlying == option.underlying }) { return "underlying" }
        for p in s.portfolios {
            guard let u = options.underlyings.first(where: { $0.market == p.underlying }) else { return "underlying" }
            let m = u.margin.marginConfig
            let n = Int64(m.priceBuckets)
            let regular = 3 * (2 * n + 1)
            let index = Int64(p.scenario)
            let (steps, shift): (Int64, Int64)
            if index < regular {
                steps = index / 3 - n
                shift = [0, m.volUpBps, -m.volDownBps][Int(index % 3)]
            } else if m.extremeMultiple > 0, index < regular + 2 {
                steps = (index == regular ? -1 : 1) * m.extremeMultiple * n
                shift = 0
            } else {
                return "grid"
            }
            if p.moveSteps != steps || p.volShiftBps != shift { return "grid" }
            if p.scanBps < m.minScanBps || p.scanBps > m.maxScanBps { return "scan" }
            if p.price != RiskArrays.movedPrice(mark: p.mark, rangeBps: p.scanBps, steps: steps, buckets: n) { return "price" }
        }
        return nil
    }
}
