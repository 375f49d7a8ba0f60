import Options
import StrictJSON

/// Per-account limits on the Greeks of an account's portfolio on one underlying
/// (docs/CONFIG.md "Options", `options.underlyings[].greekLimits`; docs/OPTIONS.md
/// §10.11). Optional: an underlying without it limits no Greek. Part of the measured
/// configuration; absent from the file when nil, so older files keep their bytes and hash.
public struct GreekLimitsConfig: Codable, Equatable, Sendable {
    /// Largest |delta| of a portfolio that new orders may leave, base units of 10⁻⁸ of the
    /// underlying (docs/OPTIONS.md §7.7's delta), 1...2^62.
    public var maxAbsDelta: Int64
    /// Largest |gamma| of a portfolio that new orders may leave, base units of 10⁻⁸ of
    /// delta per quote unit (one USD, 10⁶ micro-units) of the underlying's price
    /// (docs/OPTIONS.md §7.7's gamma), 1...2^62.
    public var maxAbsGamma: Int64
    /// The escalation to liquidation (docs/OPTIONS.md §10.11 "Escalation"): a portfolio whose
    /// |delta| exceeds ⌊maxAbsDelta × escalationBps / 10⁴⌋ or whose |gamma| exceeds
    /// ⌊maxAbsGamma × escalationBps / 10⁴⌋ is liquidated back within the limits.
    /// 10,000...1,000,000 (1× to 100× the limits); nil (absent from the file): a breach never
    /// escalates, and the file and its config hash are what they were before the member existed.
    public var escalationBps: Int64?

    public init(maxAbsDelta: Int64, maxAbsGamma: Int64, escalationBps: Int64? = nil) {
        self.maxAbsDelta = maxAbsDelta
        self.maxAbsGamma = maxAbsGamma
        self.escalationBps = escalationBps
    }

    /// Range of `escalationBps`.
    public static let escalationRange: ClosedRange<Int64> = 10_000...1_000_000

    /// The largest limit: a portfolio's |delta| never exceeds 512 × 2^53 = 2^62 (§7.5's
    /// bounds), so this limit never binds delta.
    public static let maxLimit: Int64 = 1 << 62

    /// docs/CONFIG.md's rules in order; the first failing is
    /// `invalid("PATH.FIELD: out of range")`, `PATH` the member's JSON path.
    func validate(_ p: String) throws(ConfigError) {
        guard (1...Self.maxLimit).contains(maxAbsDelta) else { throw .invalid("\(p).maxAbsDelta: out of range") }
        guard (1...Self.maxLimit).contains(maxAbsGamma) else { throw .invalid("\(p).maxAbsGamma: out of range") }
        if let e = escalationBps, !Self.escalationRange.contains(e) { throw .invalid("\(p).escalationBps: out of range") }
    }

    static func strict(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> GreekLimitsConfig {
        let m = try Members(v, p, keys: ["escalationBps", "maxAbsDelta", "maxAbsGamma"])
        return GreekLimitsConfig(maxAbsDelta: try m.i64("maxAbsDelta"), maxAbsGamma: try m.i64("maxAbsGamma"),
                                 escalationBps: try m.optional("escalationBps", Members.i64))
    }

    /// The rule of docs/OPTIONS.md §10.11 on a portfolio's Greeks before (`delta`, `gamma`)
    /// and after (`newDelta`, `newGamma`) an order's full fill: the order passes when it
    /// leaves both within the limits, or when it increases neither |delta| nor |gamma|.
    public func admits(delta: Int128, gamma: Int128, newDelta: Int128, newGamma: Int128) -> Bool {
        let within = newDelta.magnitude <= UInt128(maxAbsDelta) && newGamma.magnitude <= UInt128(maxAbsGamma)
        return within || (newDelta.magnitude <= delta.magnitude && newGamma.magnitude <= gamma.magnitude)
    }

    /// Whether a portfolio's Greeks are within both limits: |delta| ≤ maxAbsDelta and
    /// |gamma| ≤ maxAbsGamma.
    public func contains(delta: Int128, gamma: Int128) -> Bool {
        delta.magnitude <= UInt128(maxAbsDelta) && gamma.magnitude <= UInt128(maxAbsGamma)
    }

    /// The escalation thresholds ⌊maxAbsDelta × escalationBps / 10⁴⌋ and
    /// ⌊maxAbsGamma × escalationBps / 10⁴⌋ (docs/OPTIONS.md §10.11), nil without `escalationBps`.
    public var escalationThresholds: (delta: Int128, gamma: Int128)? {
        escalationBps.map { (Int128(maxAbsDelta) * Int128($0) / 10_000, Int128(maxAbsGamma) * Int128($0) / 10_000) }
    }

    /// Whether a portfolio with these Greeks escalates to liquidation: |delta| or |gamma|
    /// strictly above its threshold (so exactly at the threshold it does not; one unit above, it does).
    public func escalates(delta: Int128, gamma: Int128) -> Bool {
        guard let t = escalationThresholds else { return false }
        return delta.magnitude > t.delta.magnitude || gamma.magnitude > t.gamma.magnitude
    }
}

extension PerpEngine {
    /// Whether an order leaving the account with `newSize` in `market` (slot `mi`) is
    /// refused `greekLimitExceeded` (docs/OPTIONS.md §10.11), or, called for the maker of a
    /// fill with `newSize` its position after this fill alone, whether that resting order is
    /// cancelled instead of filling (§10.11 "Resting orders"). Only an order on a market of
    /// an underlying with `greekLimits` (its perpetual or one of its options), by an
    /// account that holds an option position on that underlying before or after the
    /// order's full fill, is judged: its portfolio's Greeks of §7.7 (the perpetual as
    /// instrument 0) from the risk arrays at `now`, before and after. Where the arrays are
    /// refused no Greek is known and the order is not judged here (§10.2 then refuses it
    /// `priceUnavailable` if it adds risk).
    mutating func exceedsGreekLimits(
        _ s: AccountSlot, market: UInt32, slot mi: Int, newSize: Int64, now: UInt64
    ) -> Bool {
        let u: Int
        if isOptionSlot(mi) {
            u = options!.optionSlots[mi - perpCount].underlying
        } else if let k = options!.underlying(perpSlot: mi) {
            u = k
        } else {
            return false
        }
        guard let limits = options!.underlyings[u].greekLimits else { return false }
        let underlying = options!.underlyings[u]
        func instrument(_ id: UInt32) -> Int? {
            id == underlying.perpID ? 0 : underlying.ids.firstIndex(of: id).map { $0 + 1 }
        }
        var before: [MarginPosition] = [], after: [MarginPosition] = []
        var holdsOption = false, sawMarket = false
        for p in accounts[slot: s].positions where p.size != 0 {
            guard let i = instrument(p.market) else { continue }
            before.append(MarginPosition(instrument: i, size: p.size))
            if i > 0 { holdsOption = true }
            let size = p.market == market ? newSize : p.size
            if p.market == market { sawMarket = true }
            if size != 0 { after.append(MarginPosition(instrument: i, size: size)) }
        }
        if !sawMarket, newSize != 0, let i = instrument(market) {
            after.append(MarginPosition(instrument: i, size: newSize))
        }
        guard holdsOption || after.contains(where: { $0.instrument > 0 }) else { return false }
        guard case .success(let (arrays, _)) = underlyingArrays(u, at: now),
              let old = try? PortfolioMargin.greeks(before, arrays: arrays),
              let new = try? PortfolioMargin.greeks(after, arrays: arrays)
        else { return false }
        return !limits.admits(delta: old.delta, gamma: old.gamma, newDelta: new.delta, newGamma: new.gamma)
    }
}
