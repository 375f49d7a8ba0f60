import SealCrypto

/// One funding payment of one market (docs/COMMITMENTS.md §4.3) in EIP-712 form. Prices
/// in quote micro-units per whole base unit; times in enclave ns.
public struct FundingFields: Equatable, Sendable {
    public var venueId: UInt64
    /// Global sequence number of the event after which it was paid.
    public var sequence: UInt64
    /// That event's enclave time stamp.
    public var enclaveTime: UInt64
    public var market: UInt32
    /// The mark it was computed at.
    public var markPrice: Int64
    /// Clamped premium of the book mid over the mark, bps; > 0: longs pay shorts.
    public var rateBps: Int64
    /// `markPrice × rateBps / 10⁴`, rounded toward zero: paid per whole base unit by longs.
    public var perUnit: Int64
    /// The market's `funding.intervalNanos`.
    public var intervalNanos: UInt64
    /// When the payment fell due.
    public var dueTime: UInt64

    public init(venueId: UInt64, sequence: UInt64, enclaveTime: UInt64, market: UInt32, markPrice: Int64, rateBps: Int64,
                perUnit: Int64, intervalNanos: UInt64, dueTime: UInt64) {
        self.venueId = venueId
        self.sequence = sequence
        self.enclaveTime = enclaveTime
        self.market = market
        self.markPrice = markPrice
        self.rateBps = rateBps
        self.perUnit = perUnit
        self.intervalNanos = intervalNanos
        self.dueTime = dueTime
    }

    public static let encodeType =
        "FundingPayment(uint64 venueId,uint64 sequence,uint64 enclaveTime,uint32 market,int64 markPrice,int64 rateBps,"
        + "int64 perUnit,uint64 intervalNanos,uint64 dueTime)"
    public static let typeHash = EIP712.typeHash(encodeType)

    public var structHash: Hash32 {
        var e = EIP712StructEncoder(typeHash: Self.typeHash)
        e.uint(venueId)
        e.uint(sequence)
        e.uint(enclaveTime)
        e.uint(UInt64(market))
        e.int(markPrice)
        e.int(rateBps)
        e.int(perUnit)
        e.uint(intervalNanos)
        e.uint(dueTime)
        return Hash32(e.hash())
    }

    /// What the enclave signs: `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)`.
    public func digest(domain: EIP712Domain) -> Hash32 {
        Hash32(EIP712.digest(domainSeparator: domain.separator, structHash: structHash.bytes))
    }
}

/// One line of `DATA/outputs/funding.jsonl`: a funding payment signed on its own by the
/// enclave's batch signer (the batch header's fields are not extended for it).
public struct FundingRecord: Equatable, Sendable {
    public var fields: FundingFields
    public var structHash: String
    public var digest: String
    public var signer: String
    public var signature: BatchRecord.Signature

    package init(fields: FundingFields, structHash: String, digest: String, signer: String, signature: BatchRecord.Signature) {
        self.fields = fields
        self.structHash = structHash
        self.digest = digest
        self.signer = signer
        self.signature = signature
    }

    public init(_ f: FundingFields, domain: EIP712Domain, signer: EthereumAddress, signature: RecoverableSignature) {
        fields = f
        structHash = f.structHash.hex
        digest = f.digest(domain: domain).hex
        self.signer = signer.hex
        self.signature = BatchRecord.Signature(r: Hash32(signature.r).hex, s: Hash32(signature.s).hex, v: signature.v)
    }

    /// The record as one JSON line (with its newline), keys sorted.
    public func jsonLine() -> [UInt8] {
        var w = JSONLineWriter(capacity: 600)
        w.field("digest", digest)
        w.field("dueTime", fields.dueTime)
        w.field("enclaveTime", fields.enclaveTime)
        w.field("intervalNanos", fields.intervalNanos)
        w.field("markPrice", fields.markPrice)
        w.field("market", fields.market)
        w.field("perUnit", fields.perUnit)
        w.field("rateBps", fields.rateBps)
        w.field("sequence", fields.sequence)
        w.object("signature") { g in
            g.field("r", signature.r)
            g.field("s", signature.s)
            g.field("v", signature.v)
        }
        w.field("signer", signer)
        w.field("structHash", structHash)
        w.field("venueId", fields.venueId)
        return w.line()
    }
}
