import StrictJSON

/// What public market data the venue publishes (docs/MARKETDATA.md, docs/CONFIG.md): the
/// transparency policy. Optional in the file (defaults below); part of the measured
/// configuration either way.
public struct MarketDataConfig: Codable, Equatable, Sendable {
    public enum Policy: String, Codable, Sendable, CaseIterable {
        /// Depth to `depthLevels` levels and trades, in the batch that sequenced them.
        case lit
        /// Depth and trades as `lit`, each batch's records published only in the first
        /// batch closing at least `delayNanos` of enclave time after it.
        case delayed
        /// Trades only (a dark book): no depth is ever published.
        case tradesOnly = "trades-only"
    }

    public var policy: Policy
    /// Levels of depth per side (1…100); ignored (no depth) for `trades-only`.
    public var depthLevels: Int
    /// `delayed` only: enclave time between a batch's close and the release of its
    /// records, ns (1 ms…1 h); must be 0 for the other policies.
    public var delayNanos: UInt64
    /// Published sizes are multiples of this, base units of 10^-8 (≥ 1): depth sizes and
    /// open interest round down (a level that rounds to 0 is left out), trade sizes round up.
    public var sizeRounding: Int64

    public init(policy: Policy = .lit, depthLevels: Int = 10, delayNanos: UInt64 = 0, sizeRounding: Int64 = 1) {
        self.policy = policy
        self.depthLevels = depthLevels
        self.delayNanos = delayNanos
        self.sizeRounding = sizeRounding
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case policy, depthLevels, delayNanos, sizeRounding
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MarketDataConfig()
        policy = try c.decodeIfPresent(Policy.self, forKey: .policy) ?? d.policy
        depthLevels = try c.decodeIfPresent(Int.self, forKey: .depthLevels) ?? d.depthLevels
        delayNanos = try c.decodeIfPresent(UInt64.self, forKey: .delayNanos) ?? d.delayNanos
        sizeRounding = try c.decodeIfPresent(Int64.self, forKey: .sizeRounding) ?? d.sizeRounding
    }

    /// Levels of depth actually published: 0 for `trades-only`.
    public var publishedLevels: Int { policy == .tradesOnly ? 0 : depthLevels }

    func validate() throws(ConfigError) {
        guard (1...100).contains(depthLevels) else { throw .invalid("marketData.depthLevels must be 1...100") }
        guard sizeRounding >= 1 else { throw .invalid("marketData.sizeRounding must be >= 1") }
        if policy == .delayed {
            guard (1_000_000...3_600_000_000_000).contains(delayNanos) else {
                throw .invalid("marketData.delayNanos must be 1 ms...1 h for the delayed policy")
            }
        } else {
            guard delayNanos == 0 else { throw .invalid("marketData.delayNanos must be 0 unless the policy is delayed") }
        }
    }

    /// `size` rounded down to a multiple of `sizeRounding` (depth, open interest).
    public func roundDown(_ size: Int64) -> Int64 { size - size % sizeRounding }

    /// `size` (> 0) rounded up to a multiple of `sizeRounding` (trades), saturating.
    public func roundUp(_ size: Int64) -> Int64 {
        let r = size % sizeRounding
        guard r != 0 else { return size }
        let (up, overflow) = size.addingReportingOverflow(sizeRounding - r)
        return overflow ? roundDown(Int64.max) : up
    }

    static func strict(_ v: JSONValue, _ p: String) throws(VenueConfigParseError) -> MarketDataConfig {
        let c = try Members(v, p, keys: Set(CodingKeys.allCases.map(\.stringValue)))
        let d = MarketDataConfig()
        var policy = d.policy
        if let name = try c.optional("policy", Members.string) {
            guard let parsed = Policy(rawValue: name) else {
                throw .wrongType(path: p + ".policy", expected: "one of \"lit\", \"delayed\", \"trades-only\"")
            }
            policy = parsed
        }
        return MarketDataConfig(
            policy: policy, depthLevels: try c.optional("depthLevels", Members.int) ?? d.depthLevels,
            delayNanos: try c.optional("delayNanos", Members.u64) ?? d.delayNanos,
            sizeRounding: try c.optional("sizeRounding", Members.i64) ?? d.sizeRounding)
    }
}
