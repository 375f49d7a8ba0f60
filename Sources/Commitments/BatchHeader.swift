import SealCrypto
import Wire

/// The signed summary of one batch of sequenced events (docs/COMMITMENTS.md §3).
public struct BatchHeader: Equatable, Sendable {
    public var venueId: UInt64
    public var batchIndex: UInt64
    /// `hashStruct` of the previous header; zero for batch 0.
    public var previousHeaderHash: Hash32
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    /// Enclave time at batch close, Unix ns.
    public var enclaveTime: UInt64
    /// Root of the epoch's event log at size `lastSequence`.
    public var eventsRoot: Hash32
    /// Root of the salted per-account state leaves.
    public var stateRoot: Hash32
    public var accountCount: UInt64
    /// Root of the batch's decision struct hashes.
    public var decisionsRoot: Hash32
    public var decisionCount: UInt64
    /// Root of the batch's public market data records (docs/MARKETDATA.md §3); the empty
    /// tree's root when the batch published none.
    public var marketDataRoot: Hash32
    /// Markets whose liquidations are halted at batch close, ascending.
    public var haltedMarkets: [UInt32]

    public init(
        venueId: UInt64, batchIndex: UInt64, previousHeaderHash: Hash32, firstSequence: UInt64, lastSequence: UInt64,
        enclaveTime: UInt64, eventsRoot: Hash32, stateRoot: Hash32, accountCount: UInt64, decisionsRoot: Hash32,
        decisionCount: UInt64, marketDataRoot: Hash32, haltedMarkets: [UInt32]
    ) {
        self.venueId = venueId
        self.batchIndex = batchIndex
        self.previousHeaderHash = previousHeaderHash
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.enclaveTime = enclaveTime
        self.eventsRoot = eventsRoot
        self.stateRoot = stateRoot
        self.accountCount = accountCount
        self.decisionsRoot = decisionsRoot
        self.decisionCount = decisionCount
        self.marketDataRoot = marketDataRoot
        self.haltedMarkets = haltedMarkets
    }

    public static let encodeType =
        "BatchHeader(uint64 venueId,uint64 batchIndex,bytes32 previousHeaderHash,uint64 firstSequence,uint64 lastSequence,"
        + "uint64 enclaveTime,bytes32 eventsRoot,bytes32 stateRoot,uint64 accountCount,bytes32 decisionsRoot,"
        + "uint64 decisionCount,bytes32 marketDataRoot,uint32[] haltedMarkets)"
    public static let typeHash = EIP712.typeHash(encodeType)

    /// EIP-712 `hashStruct`: the header hash that chains batches and that the verifier
    /// contract stores.
    public var structHash: Hash32 {
        var e = EIP712StructEncoder(typeHash: Self.typeHash)
        e.uint(venueId)
        e.uint(batchIndex)
        e.bytes32(previousHeaderHash.bytes)
        e.uint(firstSequence)
        e.uint(lastSequence)
        e.uint(enclaveTime)
        e.bytes32(eventsRoot.bytes)
        e.bytes32(stateRoot.bytes)
        e.uint(accountCount)
        e.bytes32(decisionsRoot.bytes)
        e.uint(decisionCount)
        e.bytes32(marketDataRoot.bytes)
        e.uint32Array(haltedMarkets)
        return Hash32(e.hash())
    }

    /// The 32 bytes that are signed: `keccak256(0x19 0x01 ‖ domainSeparator ‖ structHash)`.
    public func digest(domain: EIP712Domain) -> Hash32 {
        Self.digest(domainSeparator: domain.separator, structHash: structHash)
    }

    /// `digest(domain:)` from the domain's separator and the header's `structHash` when the
    /// caller has both already: a batch close needs all three and hashes each once.
    public static func digest(domainSeparator: [UInt8], structHash: Hash32) -> Hash32 {
        Hash32(EIP712.digest(domainSeparator: domainSeparator, structHash: structHash.bytes))
    }
}

/// A liquidation decision as committed in `decisionsRoot` (docs/COMMITMENTS.md §3):
/// the engine's `LiquidationDecision` in EIP-712 form. Prices in quote micro-units per
/// base unit, sizes in base units of 10^-8, money in quote micro-units.
public struct DecisionFields: Equatable, Sendable {
    public enum Reason: UInt8, Sendable, CaseIterable {
        case maintenanceFull = 1
        case maintenancePartial = 2
        /// A Greek-limit escalation (docs/OPTIONS.md §10.11): not a margin shortfall.
        case greekLimit = 3

        public var name: String {
            switch self {
            case .maintenanceFull: "maintenance-full"
            case .maintenancePartial: "maintenance-partial"
            case .greekLimit: "greek-limit"
            }
        }
        public init?(name: String) {
            switch name {
            case "maintenance-full": self = .maintenanceFull
            case "maintenance-partial": self = .maintenancePartial
            case "greek-limit": self = .greekLimit
            default: return nil
            }
        }
    }

    public var venueId: UInt64
    public var sequence: UInt64
    public var enclaveTime: UInt64
    /// Account commitment: SHA-256 of a domain tag, the enclave's secret key and the id.
    public var account: Hash32
    public var market: UInt32
    /// The closing trade buys (closes a short).
    public var isBuy: Bool
    public var size: Int64
    public var markPrice: Int64
    public var bankruptcyPrice: Int64
    public var worstPrice: Int64
    public var equity: Int64
    public var maintenanceRequirement: Int64
    public var reason: Reason
    public var filledOnBook: Int64
    public var toInsuranceFund: Int64
    public var autoDeleveraged: Int64
    /// Liquidation fee paid to the insurance fund, quote micro-units (docs/CONFIG.md M5).
    public var liquidationFee: Int64
    /// The step's trades in order (§4): committed as `fillsHash`.
    public var fills: [Fill]
    /// Salted hash of the account's §2.2 `state` just before the step (`DecisionCommitment`).
    public var stateHash: Hash32
    /// Salted hash of the marks and maintenance fractions of every market the account held
    /// just before the step (`DecisionCommitment`).
    public var marksHash: Hash32
    /// The scenario that triggered the step on an account holding options (§3, docs/OPTIONS.md
    /// §10.6); nil on the linear model. Committed as `scenarioHash`.
    public var scenario: DecisionScenario?

    /// One trade of a liquidation step (docs/COMMITMENTS.md §3).
    public struct Fill: Equatable, Sendable {
        public enum Kind: UInt8, Sendable, CaseIterable {
            case book = 1
            case insuranceFund = 2
            case autoDeleveraging = 3

            /// The name in decision records.
            public var name: String {
                switch self {
                case .book: "book"
                case .insuranceFund: "insuranceFund"
                case .autoDeleveraging: "adl"
                }
            }
        }

        public var kind: Kind
        /// Quote micro-units per whole base unit.
        public var price: Int64
        /// Base units of 10⁻⁸.
        public var quantity: Int64

        public init(kind: Kind, price: Int64, quantity: Int64) {
            self.kind = kind
            self.price = price
            self.quantity = quantity
        }
    }

    public init(
        venueId: UInt64, sequence: UInt64, enclaveTime: UInt64, account: Hash32, market: UInt32, isBuy: Bool, size: Int64,
        markPrice: Int64, bankruptcyPrice: Int64, worstPrice: Int64, equity: Int64, maintenanceRequirement: Int64,
        reason: Reason, filledOnBook: Int64, toInsuranceFund: Int64, autoDeleveraged: Int64, liquidationFee: Int64 = 0,
        fills: [Fill] = [], stateHash: Hash32 = .zero, marksHash: Hash32 = .zero, scenario: DecisionScenario? = nil
    ) {
        self.scenario = scenario
        self.stateHash = stateHash
        self.marksHash = marksHash
        self.liquidationFee = liquidationFee
        self.fills = fills
        self.venueId = venueId
        self.sequence = sequence
        self.enclaveTime = enclaveTime
        self.account = account
        self.market = market
        self.isBuy = isBuy
        self.size = size
        self.markPrice = markPrice
        self.bankruptcyPrice = bankruptcyPrice
        self.worstPrice = worstPrice
        self.equity = equity
        self.maintenanceRequirement = maintenanceRequirement
        self.reason = reason
        self.filledOnBook = filledOnBook
        self.toInsuranceFund = toInsuranceFund
        self.autoDeleveraged = autoDeleveraged
    }

    public static let encodeType =
        "LiquidationDecision(uint64 venueId,uint64 sequence,uint64 enclaveTime,bytes32 account,uint32 market,bool isBuy,"
        + "int64 size,int64 markPrice,int64 bankruptcyPrice,int64 worstPrice,int64 equity,int64 maintenanceRequirement,"
        + "uint8 reason,int64 filledOnBook,int64 toInsuranceFund,int64 autoDeleveraged,int64 liquidationFee,bytes32 fillsHash,"
        + "bytes32 stateHash,bytes32 marksHash,bytes32 scenarioHash)"
    public static let typeHash = EIP712.typeHash(encodeType)

    /// `SHA-256("sealstream/v1/fills" ‖ per fill: kind u8 ‖ price i64 ‖ quantity i64)`,
    /// big-endian, in order (docs/COMMITMENTS.md §3).
    public var fillsHash: Hash32 {
        // Absorbed fill by fill from the stack: no array per decision (issue 17).
        var h = SHA256()
        let tag: StaticString = "sealstream/v1/fills"
        h.update(UnsafeRawBufferPointer(start: tag.utf8Start, count: tag.utf8CodeUnitCount))
        var record: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &record) { raw in
            for f in fills {
                raw[0] = f.kind.rawValue
                raw.storeBytes(of: f.price.bigEndian, toByteOffset: 1, as: Int64.self)
                raw.storeBytes(of: f.quantity.bigEndian, toByteOffset: 9, as: Int64.self)
                h.update(UnsafeRawBufferPointer(rebasing: raw[0..<17]))
            }
        }
        return Hash32(finalizing: &h)
    }

    /// `scenarioHash` (docs/COMMITMENTS.md §3): 32 zero bytes without a scenario, else
    /// `SHA-256("sealstream/v1/scenario" ‖ linearRequirement i64 ‖ per portfolio, in order:
    /// underlying u32 ‖ mark i64 ‖ scanBps i64 ‖ scenario u32 ‖ moveSteps i64 ‖ volShiftBps i64
    /// ‖ price i64 ‖ loss i64 ‖ shortOptionContingency i64 ‖ confidenceContingency i64)`, big-endian.
    public var scenarioHash: Hash32 {
        guard let scenario else { return .zero }
        return Self.scenarioHash(scenario)
    }

    public static func scenarioHash(_ scenario: DecisionScenario) -> Hash32 {
        var bytes = Array("sealstream/v1/scenario".utf8)
        bytes.reserveCapacity(bytes.count + 8 + 72 * scenario.portfolios.count)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.bigEndian) { bytes += $0 } }
        put(scenario.linearRequirement)
        for p in scenario.portfolios {
            put(p.underlying)
            put(p.mark)
            put(p.scanBps)
            put(p.scenario)
            put(p.moveSteps)
            put(p.volShiftBps)
            put(p.price)
            put(p.loss)
            put(p.shortOptionContingency)
            put(p.confidenceContingency)
        }
        return bytes.withUnsafeBytes { RFC6962.sha256(of: $0) }
    }

    /// EIP-712 `hashStruct`: the decision's leaf in `decisionsRoot`.
    public var structHash: Hash32 {
        Hash32(encoder.hash())
    }

    /// `structHash` of each decision, in order: hashed side by side, as a batch close
    /// needs them (`EIP712StructEncoder.hashes`; every decision's struct is 22 words).
    public static func structHashes(_ decisions: [DecisionFields]) -> [Hash32] {
        guard !decisions.isEmpty else { return [] }
        return [Hash32](unsafeUninitializedCapacity: decisions.count) { out, initialized in
            structHashes(decisions[...], into: out.baseAddress!)
            initialized = decisions.count
        }
    }

    /// `structHashes` of a run of decisions (a slice of a batch's, which shares its storage:
    /// no decision is copied), written to `out[0..<decisions.count]`, which need not be
    /// initialised.
    public static func structHashes(_ decisions: ArraySlice<DecisionFields>, into out: UnsafeMutablePointer<Hash32>) {
        structHashes(of: decisions.map(\.encoder), into: out)
    }

    /// `structHashes` of a run of decisions with each one's `stateHash` and `marksHash`
    /// taken from `stateHashes[k]` and `marksHashes[k]` (k its position in the run), not
    /// from its fields: for a close that computes those commitments beside the struct
    /// hashes, on a thread that must not write the decisions (issue 17).
    public static func structHashes(
        _ decisions: ArraySlice<DecisionFields>, stateHashes: UnsafePointer<Hash32>, marksHashes: UnsafePointer<Hash32>,
        into out: UnsafeMutablePointer<Hash32>
    ) {
        var encoders: [EIP712StructEncoder] = []
        encoders.reserveCapacity(decisions.count)
        for (k, d) in decisions.enumerated() {
            encoders.append(d.encoder(stateHash: stateHashes[k], marksHash: marksHashes[k]))
        }
        structHashes(of: encoders, into: out)
    }

    private static func structHashes(of encoders: [EIP712StructEncoder], into out: UnsafeMutablePointer<Hash32>) {
        let digests = EIP712StructEncoder.hashes(encoders)
        digests.withUnsafeBytes { raw in
            for i in 0..<encoders.count {
                (out + i).initialize(to: Hash32(UnsafeRawBufferPointer(rebasing: raw[32 * i..<32 * (i + 1)])))
            }
        }
    }

    /// The struct's members in the order of `encodeType`.
    private var encoder: EIP712StructEncoder { encoder(stateHash: stateHash, marksHash: marksHash) }

    private func encoder(stateHash: Hash32, marksHash: Hash32) -> EIP712StructEncoder {
        var e = EIP712StructEncoder(typeHash: Self.typeHash, members: 21)
        e.uint(venueId)
        e.uint(sequence)
        e.uint(enclaveTime)
        e.bytes32(account)
        e.uint(UInt64(market))
        e.bool(isBuy)
        e.int(size)
        e.int(markPrice)
        e.int(bankruptcyPrice)
        e.int(worstPrice)
        e.int(equity)
        e.int(maintenanceRequirement)
        e.uint(UInt64(reason.rawValue))
        e.int(filledOnBook)
        e.int(toInsuranceFund)
        e.int(autoDeleveraged)
        e.int(liquidationFee)
        e.bytes32(fillsHash)
        e.bytes32(stateHash)
        e.bytes32(marksHash)
        e.bytes32(scenarioHash)
        return e
    }
}
