import Options
import StrictJSON
import Wire

/// When the enclave sends an account holding options a private margin call
/// (docs/CONFIG.md "Options", `options.marginCall`; docs/OPTIONS.md §10.10). Optional: a
/// venue without it sends none. Part of the measured configuration (its config hash).
public struct MarginCallConfig: Codable, Equatable, Sendable {
    /// The call level, probability in millionths, 1...1,000,000: an armed account is
    /// called when its probability (in millionths, rounded down) is at least this.
    public var levelPpm: Int64
    /// 0...levelPpm − 1: a called account is armed again once its probability is below
    /// `levelPpm − hysteresisPpm`.
    public var hysteresisPpm: Int64
    /// The horizon of the probability, ns of time, 1...one year (31,536,000 s).
    public var horizonNanos: UInt64
    /// 0 (never) or 1...2^62 ns of enclave time: a called account still at or above the
    /// level this long after its last call is called again.
    public var repeatNanos: UInt64

    public init(levelPpm: Int64, hysteresisPpm: Int64, horizonNanos: UInt64, repeatNanos: UInt64) {
        self.levelPpm = levelPpm
        self.hysteresisPpm = hysteresisPpm
        self.horizonNanos = horizonNanos
        self.repeatNanos = repeatNanos
    }

    /// One year of 365 days, ns: the longest horizon.
    public static let maxHorizonNanos: UInt64 = 365 * 86_400 * 1_000_000_000
    /// Longest repeat interval, ns.
    public static let maxRepeatNanos: UInt64 = 1 << 62

    /// Most option underlyings a venue with margin calls lists: a call carries one exposure
    /// per underlying and must fit one frame (docs/PROTOCOL.md §5: 65,536 − 2 bytes of body,
    /// less 16 of envelope and 16 of tag, is 65,502 bytes of plaintext ≥ 48 + 45 × 1,454).
    public static let maxUnderlyings = 1_454

    /// docs/CONFIG.md's rules in order; the first failing is
    /// `invalid("$.options.marginCall.FIELD: out of range")`, or the underlying count.
    func validate(underlyings: Int) throws(ConfigError) {
        let p = "$.options.marginCall"
        guard underlyings <= Self.maxUnderlyings else {
            throw .invalid("\(p): more than \(Self.maxUnderlyings) option underlyings (a call must fit one frame)")
        }
        guard (1...1_000_000).contains(levelPpm) else { throw .invalid("\(p).levelPpm: out of range") }
        guard hysteresisPpm >= 0, hysteresisPpm < levelPpm else { throw .invalid("\(p).hysteresisPpm: out of range") }
        guard (1...Self.maxHorizonNanos).contains(horizonNanos) else { throw .invalid("\(p).horizonNanos: out of range") }
        guard repeatNanos <= Self.maxRepeatNanos else { throw .invalid("\(p).repeatNanos: out of range") }
    }

    static func strict(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> MarginCallConfig {
        let m = try Members(v, p, keys: ["levelPpm", "hysteresisPpm", "horizonNanos", "repeatNanos"])
        return MarginCallConfig(
            levelPpm: try m.i64("levelPpm"), hysteresisPpm: try m.i64("hysteresisPpm"),
            horizonNanos: try m.u64("horizonNanos"), repeatNanos: try m.u64("repeatNanos"))
    }

    // MARK: - The rule (docs/OPTIONS.md §10.10)

    /// A Q64 probability in millionths: ⌊p × 10⁶ / 2^64⌋, 0...1,000,000 for p in [0, 1].
    public static func ppm(_ p: Fixed) -> UInt32 {
        let clamped = min(max(p.raw, 0), Fixed.one.raw)
        return UInt32((clamped * 1_000_000) >> 64)
    }

    /// Beyond this many deviations z (§7.8 step 4) the probability is below
    /// `levelPpm − hysteresisPpm`, so no evaluation needs its Φ to decide (docs/OPTIONS.md
    /// §10.10, "Cost"): the least raw z at which `ppm(min(1, 2 Φ(−z)))` falls below that
    /// bound, found by bisection on 0...32 (Φ is monotone, OPTIONS §3.5), plus 2^-30 of
    /// slack (Φ's documented error, 2^-56, moves such a z by far less where a probability
    /// is at least 10⁻⁶).
    public func skipDeviations() -> Fixed {
        let bound = UInt32(levelPpm - hysteresisPpm)
        var lo: Int128 = 0, hi: Int128 = Int128(32) << 64
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if Self.ppm(MarginCall.probability(deviations: Fixed(raw: mid))) < bound { hi = mid } else { lo = mid }
        }
        return Fixed(raw: hi + (Int128(1) << 34))
    }

    /// The hysteresis of one evaluation. `lastCall` is the enclave time of the account's
    /// last call while it is not armed, nil while armed. Returns the call to send, if any,
    /// and the new `lastCall`:
    /// - armed and `ppm ≥ levelPpm`: `.crossed`, disarmed at `now`;
    /// - disarmed and `ppm < levelPpm − hysteresisPpm`: no call, armed again;
    /// - disarmed, `ppm ≥ levelPpm`, `repeatNanos > 0` and `now − lastCall ≥ repeatNanos`:
    ///   `.repeated`, disarmed at `now`;
    /// - otherwise no call and no change.
    public func decide(ppm: UInt32, lastCall: UInt64?, now: UInt64) -> (call: MarginCallEvent.Trigger?, lastCall: UInt64?) {
        let p = Int64(ppm)
        guard let last = lastCall else { return p >= levelPpm ? (.crossed, now) : (nil, nil) }
        if p < levelPpm - hysteresisPpm { return (nil, nil) }
        if p >= levelPpm, repeatNanos > 0, now >= last, now - last >= repeatNanos { return (.repeated, now) }
        return (nil, last)
    }
}
