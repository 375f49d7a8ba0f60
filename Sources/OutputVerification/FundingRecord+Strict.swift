import Commitments
import SealCrypto
import StrictJSON

extension FundingRecord {
    static let members: Set<String> = [
        "digest", "dueTime", "enclaveTime", "intervalNanos", "markPrice", "market", "perUnit", "rateBps", "sequence",
        "signature", "signer", "structHash", "venueId",
    ]

    /// Reads one line of `funding.jsonl` strictly (docs/COMMITMENTS.md §5.1).
    public init(jsonLine line: some Collection<UInt8>) throws(RecordError) {
        let o = try ObjectReader(try JSONLines.object(ArraySlice(line)), path: "$", fields: Self.members)
        let digest = try o.hex("digest")
        let dueTime: UInt64 = try o.integer("dueTime")
        let enclaveTime: UInt64 = try o.integer("enclaveTime")
        let intervalNanos: UInt64 = try o.integer("intervalNanos")
        let markPrice: Int64 = try o.integer("markPrice")
        let market: UInt32 = try o.integer("market")
        let perUnit: Int64 = try o.integer("perUnit")
        let rateBps: Int64 = try o.integer("rateBps")
        let sequence: UInt64 = try o.integer("sequence")
        let g = try o.object("signature", fields: ["r", "s", "v"])
        let r = try g.hex("r"), s = try g.hex("s")
        let v: UInt8 = try g.integer("v")
        guard v == 27 || v == 28 else { throw .outOfRange(path: "$.signature.v") }
        let signer = try o.hex("signer", bytes: 20)
        let structHash = try o.hex("structHash")
        let venueId: UInt64 = try o.integer("venueId")
        self.init(
            fields: FundingFields(venueId: venueId, sequence: sequence, enclaveTime: enclaveTime, market: market,
                                  markPrice: markPrice, rateBps: rateBps, perUnit: perUnit, intervalNanos: intervalNanos,
                                  dueTime: dueTime),
            structHash: structHash, digest: digest, signer: signer, signature: BatchRecord.Signature(r: r, s: s, v: v))
    }

    /// The signature, for recovery (hex already checked by the reader).
    func recoverableSignature() -> RecoverableSignature? {
        guard let r = Hash32(hex: signature.r), let s = Hash32(hex: signature.s) else { return nil }
        return try? RecoverableSignature(r: r.bytes, s: s.bytes, v: signature.v)
    }
}
