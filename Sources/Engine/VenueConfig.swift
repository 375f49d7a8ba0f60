import Wire

/// The venue's configuration: part of the enclave's measured identity (its hash is in
/// the evidence). JSON on disk; see `docs/CONFIG.md`. Every number states its unit.
public struct VenueConfig: Codable, Equatable, Sendable {
    /// Venue id, bound into custody-signed deposits.
    public var venueID: UInt64
    public var name: String
    /// Hex Ed25519 public key of the custody bridge that signs deposits.
    public var custodyKey: String
    public var marginTiers: [MarginTier]
    public var fees: FeeSchedule
    public var liquidation: LiquidationConfig
    public var risk: RiskLimits
    public var markets: [MarketConfig]
    /// How public outputs are batched and which EIP-712 domain signs them. Optional in
    /// the file (defaults below); part of the measured configuration either way.
    public var commitments: CommitmentsConfig
    /// How long the worker remembers the client order id of a sequenced new order or
    /// withdrawal, to answer a resend as a duplicate (docs/DURABILITY.md §7), ns of
    /// enclave time. Optional in the file (default 30 s); 0 remembers nothing.
    public var dedupeWindowNanos: UInt64
    /// The public market data policy (docs/MARKETDATA.md). Optional in the file (default
    /// `lit`, 10 levels, no rounding); part of the measured configuration either way.
    public var marketData: MarketDataConfig
    /// The EK roots a primary enclave trusts when a standby enrolls for its keys
    /// (docs/REPLICATION.md §11.2). Optional in the file (default: none, which refuses
    /// every `swtpm` and `tpm` standby); measured with the rest.
    public var enrollment: EnrollmentConfig
    /// Option markets and their underlyings' portfolio-margin parameters
    /// (docs/CONFIG.md "Options"). Optional in the file; nil: a perpetuals-only venue.
    public var options: OptionsConfig?
    /// Threads of the worker that share its session crypto, the sequencer's own included
    /// (docs/CONFIG.md): 1 (the default) opens every sealed request on the sequencer's
    /// thread; N opens them on N − 1 lane threads beside it. Outputs are the same for
    /// every value; measured with the rest, so an auditor sees what the enclave runs.
    public var enclaveLanes: Int
    public static let defaultDedupeWindowNanos: UInt64 = 30_000_000_000
    /// Most `enclaveLanes`.
    public static let maxEnclaveLanes = 8

    public init(
        venueID: UInt64, name: String, custodyKey: String, marginTiers: [MarginTier], fees: FeeSchedule,
        liquidation: LiquidationConfig, risk: RiskLimits = RiskLimits(), markets: [MarketConfig],
        commitments: CommitmentsConfig = CommitmentsConfig(), dedupeWindowNanos: UInt64 = VenueConfig.defaultDedupeWindowNanos,
        marketData: MarketDataConfig = MarketDataConfig(), enrollment: EnrollmentConfig = EnrollmentConfig(),
        options: OptionsConfig? = nil, enclaveLanes: Int = 1
    ) {
        self.enclaveLanes = enclaveLanes
        self.options = options
        self.marketData = marketData
        self.enrollment = enrollment
        self.commitments = commitments
        self.dedupeWindowNanos = dedupeWindowNanos
        self.risk = risk
        self.venueID = venueID
        self.name = name
        self.custodyKey = custodyKey
        self.marginTiers = marginTiers
        self.fees = fees
        self.liquidation = liquidation
        self.markets = markets
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case venueID, name, custodyKey, marginTiers, fees, liquidation, risk, markets, commitments, dedupeWindowNanos, marketData
        case enrollment, options, enclaveLanes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        venueID = try c.decode(UInt64.self, forKey: .venueID)
        name = try c.decode(String.self, forKey: .name)
        custodyKey = try c.decode(String.self, forKey: .custodyKey)
        marginTiers = try c.decode([MarginTier].self, forKey: .marginTiers)
        fees = try c.decode(FeeSchedule.self, forKey: .fees)
        liquidation = try c.decode(LiquidationConfig.self, forKey: .liquidation)
        risk = try c.decode(RiskLimits.self, forKey: .risk)
        markets = try c.decode([MarketConfig].self, forKey: .markets)
        commitments = try c.decodeIfPresent(CommitmentsConfig.self, forKey: .commitments) ?? CommitmentsConfig()
        dedupeWindowNanos = try c.decodeIfPresent(UInt64.self, forKey: .dedupeWindowNanos) ?? Self.defaultDedupeWindowNanos
        marketData = try c.decodeIfPresent(MarketDataConfig.self, forKey: .marketData) ?? MarketDataConfig()
        enrollment = try c.decodeIfPresent(EnrollmentConfig.self, forKey: .enrollment) ?? EnrollmentConfig()
        options = try c.decodeIfPresent(OptionsConfig.self, forKey: .options)
        enclaveLanes = try c.decodeIfPresent(Int.self, forKey: .enclaveLanes) ?? 1
    }

    /// Encodes every field, but `options` only when present and `enclaveLanes` only when it
    /// is not the default 1: a venue that uses neither keeps the bytes (and so the config
    /// hash) it had before they existed.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(venueID, forKey: .venueID)
        try c.encode(name, forKey: .name)
        try c.encode(custodyKey, forKey: .custodyKey)
        try c.encode(marginTiers, forKey: .marginTiers)
        try c.encode(fees, forKey: .fees)
        try c.encode(liquidation, forKey: .liquidation)
        try c.encode(risk, forKey: .risk)
        try c.encode(markets, forKey: .markets)
        try c.encode(commitments, forKey: .commitments)
        try c.encode(dedupeWindowNanos, forKey: .dedupeWindowNanos)
        try c.encode(marketData, forKey: .marketData)
        try c.encode(enrollment, forKey: .enrollment)
        try c.encodeIfPresent(options, forKey: .options)
        if enclaveLanes != 1 { try c.encode(enclaveLanes, forKey: .enclaveLanes) }
    }

    /// Checks the structural rules a config must meet before the enclave will load it.
    public func validate() throws(ConfigError) {
        try commitments.validate()
        try marketData.validate()
        guard dedupeWindowNanos <= 3_600_000_000_000 else { throw .invalid("dedupeWindowNanos must be 0...3600 s") }
        guard (1...Self.maxEnclaveLanes).contains(enclaveLanes) else {
            throw .invalid("enclaveLanes must be 1...\(Self.maxEnclaveLanes)")
        }
        guard let key = Hex.decode(custodyKey), key.count == 32 else { throw .invalidKey("custodyKey") }
        guard !markets.isEmpty else { throw .noMarkets }
        var tierNames = Set<String>()
        for t in marginTiers {
            guard tierNames.insert(t.name).inserted else { throw .invalid("duplicate margin tier \(t.name)") }
            guard 0 < t.maintenanceBps, t.maintenanceBps < t.initialBps, t.initialBps <= 10_000 else {
                throw .invalid("tier \(t.name): need 0 < maintenance < initial <= 10000 bps")
            }
        }
        guard (0...1_000).contains(fees.makerBps), (0...1_000).contains(fees.takerBps) else {
            throw .invalid("fees must be 0...1000 bps")
        }
        let l = liquidation
        guard (1...10_000).contains(l.maxCloseBps), (0...1_000).contains(l.feeBps), l.partialThreshold >= 0,
              l.insuranceFund >= 0
        else { throw .invalid("liquidation parameters out of range") }
        guard (1...5_000).contains(risk.priceBandBps), (1...100_000).contains(risk.maxOpenOrdersPerAccount) else {
            throw .invalid("risk: priceBandBps 1...5000, maxOpenOrdersPerAccount 1...100000")
        }
        var seen = Set<UInt32>()
        for m in markets {
            guard seen.insert(m.id).inserted else { throw .duplicateMarket(m.id) }
            guard tierNames.contains(m.tier) else { throw .invalid("market \(m.symbol): unknown tier \(m.tier)") }
            guard m.tickSize > 0, m.stepSize > 0 else { throw .invalid("market \(m.symbol): tick and step must be > 0") }
            let o = m.oracle
            guard !o.publishers.isEmpty else { throw .noPublishers(m.symbol) }
            guard (1...o.publishers.count).contains(o.minPublishers) else {
                throw .invalid("market \(m.symbol): minPublishers must be 1...\(o.publishers.count)")
            }
            for p in o.publishers {
                guard let k = Hex.decode(p), k.count == 32 else { throw .invalidKey("publisher of \(m.symbol)") }
            }
            guard o.stalenessNanos > 0, o.maxConfidenceBps > 0, o.maxDeviationBps > 0 else {
                throw .invalid("market \(m.symbol): oracle limits must be > 0")
            }
            guard (1...366 * 86_400_000_000_000).contains(m.funding.intervalNanos), (0...10_000).contains(m.funding.maxRateBps) else {
                throw .invalid("market \(m.symbol): funding interval 1 ns...366 days, max rate 0...10000 bps")
            }
        }
        try options?.validate(perpetuals: markets)
    }

    public func market(_ id: UInt32) -> MarketConfig? { markets.first { $0.id == id } }
    public func tier(_ name: String) -> MarginTier? { marginTiers.first { $0.name == name } }
}

/// Key enrollment trust anchors (docs/REPLICATION.md §11.2): PEM root certificates for the
/// standby's EK certificate, kept apart by mode as in an auditor's policy
/// (docs/ATTESTATION.md §5.1). Each string is one PEM document (it may hold several
/// certificates). Checked when a standby enrolls, not at start.
public struct EnrollmentConfig: Codable, Equatable, Sendable {
    /// Roots for `tpm` standbys (TPM manufacturers' EK CAs).
    public var ekRoots: [String]
    /// Roots for `swtpm` standbys (swtpm_localca's root).
    public var swtpmEKRoots: [String]

    public init(ekRoots: [String] = [], swtpmEKRoots: [String] = []) {
        self.ekRoots = ekRoots
        self.swtpmEKRoots = swtpmEKRoots
    }
}

/// Batching of public outputs and the EIP-712 domain of their signatures
/// (docs/COMMITMENTS.md).
public struct CommitmentsConfig: Codable, Equatable, Sendable {
    /// EIP-712 domain `chainId` of the chain where the verifier contract lives.
    public var chainId: UInt64
    /// EIP-712 domain `verifyingContract`: the verifier contract's address, 0x + 40 hex.
    public var verifyingContract: String
    /// Close a batch once it holds this many sequenced events.
    public var batchMaxEvents: Int
    /// Close a batch once this much enclave time (ns) passed since its first event.
    public var batchMaxNanos: UInt64
    /// Close a batch at the end of any cycle that sequenced an oracle price.
    public var closeOnOracleTick: Bool

    /// 31337 is the chain id local EVM test nodes use; a venue that publishes on chain
    /// sets its own chain and contract.
    public init(
        chainId: UInt64 = 31_337, verifyingContract: String = "0x" + String(repeating: "0", count: 40),
        batchMaxEvents: Int = 4_096, batchMaxNanos: UInt64 = 100_000_000, closeOnOracleTick: Bool = true
    ) {
        self.chainId = chainId
        self.verifyingContract = verifyingContract
        self.batchMaxEvents = batchMaxEvents
        self.batchMaxNanos = batchMaxNanos
        self.closeOnOracleTick = closeOnOracleTick
    }

    enum CodingKeys: String, CodingKey {
        case chainId, verifyingContract, batchMaxEvents, batchMaxNanos, closeOnOracleTick
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CommitmentsConfig()
        chainId = try c.decodeIfPresent(UInt64.self, forKey: .chainId) ?? d.chainId
        verifyingContract = try c.decodeIfPresent(String.self, forKey: .verifyingContract) ?? d.verifyingContract
        batchMaxEvents = try c.decodeIfPresent(Int.self, forKey: .batchMaxEvents) ?? d.batchMaxEvents
        batchMaxNanos = try c.decodeIfPresent(UInt64.self, forKey: .batchMaxNanos) ?? d.batchMaxNanos
        closeOnOracleTick = try c.decodeIfPresent(Bool.self, forKey: .closeOnOracleTick) ?? d.closeOnOracleTick
    }

    func validate() throws(ConfigError) {
        // "0x" and exactly 40 hex digits: the digits are decoded without a second optional prefix.
        let hex = verifyingContract.hasPrefix("0x") ? String(verifyingContract.dropFirst(2)) : ""
        guard let address = Hex.decode(hex, allowingPrefix: false), address.count == 20 else {
            throw .invalidKey("commitments.verifyingContract")
        }
        guard (1...1_000_000).contains(batchMaxEvents) else { throw .invalid("commitments.batchMaxEvents must be 1...1000000") }
        guard (1_000_000...60_000_000_000).contains(batchMaxNanos) else {
            throw .invalid("commitments.batchMaxNanos must be 1 ms...60 s")
        }
    }
}

/// Limits that keep any one account from hurting the venue or the enclave.
public struct RiskLimits: Codable, Equatable, Sendable {
    /// Orders must be priced within this fraction (bps) of the mark, and fills happen
    /// only within it: no trade at an absurd price can move value between accounts.
    public var priceBandBps: Int64
    /// Most resting orders one account may have.
    public var maxOpenOrdersPerAccount: Int

    public init(priceBandBps: Int64 = 1_000, maxOpenOrdersPerAccount: Int = 1_000) {
        self.priceBandBps = priceBandBps
        self.maxOpenOrdersPerAccount = maxOpenOrdersPerAccount
    }
}

/// Margin fractions, in basis points of position notional at mark.
public struct MarginTier: Codable, Equatable, Sendable {
    public var name: String
    /// Initial margin fraction (bps): needed to open or increase risk.
    public var initialBps: Int64
    /// Maintenance margin fraction (bps): below it the account is liquidatable.
    public var maintenanceBps: Int64

    public init(name: String, initialBps: Int64, maintenanceBps: Int64) {
        self.name = name
        self.initialBps = initialBps
        self.maintenanceBps = maintenanceBps
    }
}

/// Trading fees in bps of fill notional, rounded up, paid into the fee pool.
public struct FeeSchedule: Codable, Equatable, Sendable {
    public var makerBps: Int64
    public var takerBps: Int64

    public init(makerBps: Int64, takerBps: Int64) {
        self.makerBps = makerBps
        self.takerBps = takerBps
    }
}

/// How liquidations proceed.
public struct LiquidationConfig: Codable, Equatable, Sendable {
    /// Positions with notional (quote micro-units, at mark) above this are closed in
    /// partial steps; at or below it, fully.
    public var partialThreshold: Int64
    /// Largest fraction of a large position closed in one step (bps).
    public var maxCloseBps: Int64
    /// Enclave time between partial steps on the same account and market, ns.
    public var cooldownNanos: UInt64
    /// Liquidation fee (bps of closed notional), paid into the insurance fund.
    public var feeBps: Int64
    /// Opening balance of the insurance fund, quote micro-units.
    public var insuranceFund: Int64

    public init(partialThreshold: Int64, maxCloseBps: Int64, cooldownNanos: UInt64, feeBps: Int64, insuranceFund: Int64) {
        self.partialThreshold = partialThreshold
        self.maxCloseBps = maxCloseBps
        self.cooldownNanos = cooldownNanos
        self.feeBps = feeBps
        self.insuranceFund = insuranceFund
    }
}

/// One perpetual market.
public struct MarketConfig: Codable, Equatable, Sendable {
    public var id: UInt32
    public var symbol: String
    /// Prices must be multiples of this (quote micro-units per base unit).
    public var tickSize: Int64
    /// Quantities must be multiples of this (base units of 10^-8).
    public var stepSize: Int64
    /// Name of a `MarginTier`.
    public var tier: String
    public var oracle: OracleConfig
    public var funding: FundingConfig

    public init(id: UInt32, symbol: String, tickSize: Int64, stepSize: Int64, tier: String, oracle: OracleConfig, funding: FundingConfig) {
        self.id = id
        self.symbol = symbol
        self.tickSize = tickSize
        self.stepSize = stepSize
        self.tier = tier
        self.oracle = oracle
        self.funding = funding
    }

    /// Shorthand used by code that only needs the publisher keys.
    public var publishers: [String] { oracle.publishers }
}

/// Oracle guard rails of one market.
public struct OracleConfig: Codable, Equatable, Sendable {
    /// Hex Ed25519 public keys of the publishers whose prices count.
    public var publishers: [String]
    /// Fewest fresh, plausible publisher prices for a valid mark.
    public var minPublishers: Int
    /// A publisher price older than this (enclave time − publish time, ns) is stale.
    public var stalenessNanos: UInt64
    /// A price whose confidence exceeds this fraction of it (bps) is too uncertain.
    public var maxConfidenceBps: Int64
    /// A median further than this (bps) from the reference (the last accepted median)
    /// makes the price invalid.
    public var maxDeviationBps: Int64
    /// How long medians must stay consistent with a new level beyond the deviation limit
    /// before it becomes the reference, ns. Until then liquidations halt.
    public var jumpConfirmationNanos: UInt64

    public init(
        publishers: [String], minPublishers: Int, stalenessNanos: UInt64, maxConfidenceBps: Int64, maxDeviationBps: Int64,
        jumpConfirmationNanos: UInt64
    ) {
        self.publishers = publishers
        self.minPublishers = minPublishers
        self.stalenessNanos = stalenessNanos
        self.maxConfidenceBps = maxConfidenceBps
        self.maxDeviationBps = maxDeviationBps
        self.jumpConfirmationNanos = jumpConfirmationNanos
    }
}

/// Funding of one perpetual market.
public struct FundingConfig: Codable, Equatable, Sendable {
    /// Enclave time between funding payments, ns.
    public var intervalNanos: UInt64
    /// Clamp on the per-interval rate (bps of mark).
    public var maxRateBps: Int64

    public init(intervalNanos: UInt64, maxRateBps: Int64) {
        self.intervalNanos = intervalNanos
        self.maxRateBps = maxRateBps
    }
}

/// Why a venue configuration was refused.
public enum ConfigError: Error, Equatable, Sendable {
    case invalidKey(String)
    case noMarkets
    case duplicateMarket(UInt32)
    case noPublishers(String)
    case invalid(String)
}
