import Commitments
import StrictJSON
import Wire

extension PublicInputRecord {
    static let priceFields: Set<String> = [
        "confidence", "enclaveTime", "kind", "market", "price", "publishTime", "publisher", "sequence", "signature",
    ]
    static let depositFields: Set<String> = [
        "accountId", "accountKey", "amount", "depositId", "enclaveTime", "kind", "sequence", "signature",
    ]

    static let smileFields: Set<String> = [
        "a", "b", "enclaveTime", "expiry", "kind", "m", "publishTime", "publisher", "rho", "sequence", "sigma", "signature",
        "underlying",
    ]

    /// Reads one line of `inputs.jsonl` strictly (docs/COMMITMENTS.md §5.1): `kind` first
    /// (it chooses the schema), then any member that kind's schema lacks, then the fields
    /// in alphabetical order.
    public init(jsonLine line: some Collection<UInt8>) throws(RecordError) {
        let value = try JSONLines.object(ArraySlice(line))
        guard case .object(let members) = value else { throw .wrongType(path: "$", expected: "object") }
        guard let kindValue = members.first(where: { $0.name == "kind" })?.value else { throw .missingField(path: "$.kind") }
        guard case .string(let kind) = kindValue else { throw .wrongType(path: "$.kind", expected: "string") }
        switch kind {
        case Self.oraclePriceKind:
            let o = try ObjectReader(value, path: "$", fields: Self.priceFields)
            let confidence: UInt64 = try o.integer("confidence")
            let enclaveTime: UInt64 = try o.integer("enclaveTime")
            let market: UInt32 = try o.integer("market")
            let price: Int64 = try o.integer("price")
            let publishTime: UInt64 = try o.integer("publishTime")
            let publisher = Hex.decode(try o.hex("publisher"))!
            let sequence: UInt64 = try o.integer("sequence")
            let signature = Hex.decode(try o.hex("signature", bytes: 64))!
            self = .oraclePrice(sequence: sequence, enclaveTime: enclaveTime, OraclePrice(
                market: market, price: price, confidence: confidence, publishTime: publishTime, publisher: publisher,
                signature: signature))
        case Self.depositKind:
            let o = try ObjectReader(value, path: "$", fields: Self.depositFields)
            let accountID: UInt64 = try o.integer("accountId")
            let accountKey = Hex.decode(try o.hex("accountKey"))!
            let amount: Int64 = try o.integer("amount")
            let depositID: UInt64 = try o.integer("depositId")
            let enclaveTime: UInt64 = try o.integer("enclaveTime")
            let sequence: UInt64 = try o.integer("sequence")
            let signature = Hex.decode(try o.hex("signature", bytes: 64))!
            self = .deposit(sequence: sequence, enclaveTime: enclaveTime, Deposit(
                accountID: accountID, accountKey: accountKey, amount: amount, depositID: depositID, signature: signature))
        case Self.oracleSmileKind:
            let o = try ObjectReader(value, path: "$", fields: Self.smileFields)
            let a: Int64 = try o.integer("a")
            let b: Int64 = try o.integer("b")
            let enclaveTime: UInt64 = try o.integer("enclaveTime")
            let expiry: UInt64 = try o.integer("expiry")
            let m: Int64 = try o.integer("m")
            let publishTime: UInt64 = try o.integer("publishTime")
            let publisher = Hex.decode(try o.hex("publisher"))!
            let rho: Int64 = try o.integer("rho")
            let sequence: UInt64 = try o.integer("sequence")
            let sigma: Int64 = try o.integer("sigma")
            let signature = Hex.decode(try o.hex("signature", bytes: 64))!
            let underlying: UInt32 = try o.integer("underlying")
            self = .oracleSmile(sequence: sequence, enclaveTime: enclaveTime, OracleSmile(
                underlying: underlying, expiry: expiry, a: a, b: b, rho: rho, m: m, sigma: sigma, publishTime: publishTime,
                publisher: publisher, signature: signature))
        default:
            throw .outOfRange(path: "$.kind")
        }
    }
}
