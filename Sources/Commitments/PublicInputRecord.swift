import Wire

/// One line of `DATA/outputs/inputs.jsonl` (docs/COMMITMENTS.md §4.1): a sequenced public
/// input, an oracle price, a custody deposit or an oracle smile, published in full beside its event leaf,
/// so anyone can check that the leaf's body hash is the hash of this input, check its
/// signature, and recompute every mark from the signed prices (§5.3).
public enum PublicInputRecord: Equatable, Sendable {
    case oraclePrice(sequence: UInt64, enclaveTime: UInt64, OraclePrice)
    case deposit(sequence: UInt64, enclaveTime: UInt64, Deposit)
    /// A signed SVI smile (docs/PROTOCOL.md §2.17).
    case oracleSmile(sequence: UInt64, enclaveTime: UInt64, OracleSmile)

    /// The `kind` names of the record.
    public static let oraclePriceKind = "oraclePrice"
    public static let depositKind = "deposit"
    public static let oracleSmileKind = "oracleSmile"

    /// Global sequence number of the input (its event leaf is leaf `sequence − 1`).
    public var sequence: UInt64 {
        switch self {
        case .oraclePrice(let s, _, _), .deposit(let s, _, _), .oracleSmile(let s, _, _): s
        }
    }

    /// Enclave time stamp of the input, Unix ns (the same as its event leaf's).
    public var enclaveTime: UInt64 {
        switch self {
        case .oraclePrice(_, let t, _), .deposit(_, let t, _), .oracleSmile(_, let t, _): t
        }
    }

    /// The message type of the input's frame: 0x04, 0x05 or 0x0a.
    public var messageType: MessageType {
        switch self {
        case .oraclePrice: .oraclePrice
        case .deposit: .deposit
        case .oracleSmile: .oracleSmile
        }
    }

    /// The frame body the enclave received (docs/PROTOCOL.md §2.6, §2.7): its SHA-256 is the
    /// event leaf's `bodyHash`. The body layouts are fixed-size, so the fields give it exactly.
    public var body: [UInt8] {
        let frame = switch self {
        case .oraclePrice(_, _, let p): p.encode()
        case .deposit(_, _, let d): d.encode()
        case .oracleSmile(_, _, let s): s.encode()
        }
        return Array(frame.dropFirst(WireProtocol.lengthPrefixBytes + WireProtocol.headerBytes))
    }

    /// The record as one JSON line (with its newline), keys sorted. Keys, signatures and
    /// the account key are `0x` and lower-case hex.
    public func jsonLine() -> [UInt8] {
        var w = JSONLineWriter(capacity: 400)
        switch self {
        case .oraclePrice(let sequence, let time, let p):
            w.field("confidence", p.confidence)
            w.field("enclaveTime", time)
            w.field("kind", Self.oraclePriceKind)
            w.field("market", p.market)
            w.field("price", p.price)
            w.field("publishTime", p.publishTime)
            w.field("publisher", "0x" + Hex.encode(p.publisher))
            w.field("sequence", sequence)
            w.field("signature", "0x" + Hex.encode(p.signature))
        case .deposit(let sequence, let time, let d):
            w.field("accountId", d.accountID)
            w.field("accountKey", "0x" + Hex.encode(d.accountKey))
            w.field("amount", d.amount)
            w.field("depositId", d.depositID)
            w.field("enclaveTime", time)
            w.field("kind", Self.depositKind)
            w.field("sequence", sequence)
            w.field("signature", "0x" + Hex.encode(d.signature))
        case .oracleSmile(let sequence, let time, let s):
            w.field("a", s.a)
            w.field("b", s.b)
            w.field("enclaveTime", time)
            w.field("expiry", s.expiry)
            w.field("kind", Self.oracleSmileKind)
            w.field("m", s.m)
            w.field("publishTime", s.publishTime)
            w.field("publisher", "0x" + Hex.encode(s.publisher))
            w.field("rho", s.rho)
            w.field("sequence", sequence)
            w.field("sigma", s.sigma)
            w.field("signature", "0x" + Hex.encode(s.signature))
            w.field("underlying", s.underlying)
        }
        return w.line()
    }
}
