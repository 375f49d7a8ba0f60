import Commitments
import SealCrypto
import Wire

// Reading the hashed fields of published records (docs/COMMITMENTS.md §5): the
// verifier's half of Records.swift, which the enclave (it only writes records) does not
// link.

func hash32(_ s: String, _ field: String) throws(RecordError) -> Hash32 {
    guard isCanonicalHex(s, bytes: 32), let h = Hash32(hex: s) else { throw .badHex(path: "$." + field) }
    return h
}

func hashes(_ list: [String], _ field: String) throws(RecordError) -> [Hash32] {
    var out: [Hash32] = []
    out.reserveCapacity(list.count)
    for (i, s) in list.enumerated() { out.append(try hash32(s, "\(field)[\(i)]")) }
    return out
}

extension BatchRecord {
    public func header() throws(RecordError) -> BatchHeader {
        BatchHeader(
            venueId: venueId, batchIndex: batchIndex, previousHeaderHash: try hash32(previousHeaderHash, "previousHeaderHash"),
            firstSequence: firstSequence, lastSequence: lastSequence, enclaveTime: enclaveTime,
            eventsRoot: try hash32(eventsRoot, "eventsRoot"), stateRoot: try hash32(stateRoot, "stateRoot"),
            accountCount: accountCount, decisionsRoot: try hash32(decisionsRoot, "decisionsRoot"),
            decisionCount: decisionCount, marketDataRoot: try hash32(marketDataRoot, "marketDataRoot"),
            haltedMarkets: haltedMarkets)
    }

    public func recoverableSignature() throws(RecordError) -> RecoverableSignature {
        let r = try hash32(signature.r, "signature.r"), s = try hash32(signature.s, "signature.s")
        guard let sig = try? RecoverableSignature(r: r.bytes, s: s.bytes, v: signature.v) else {
            throw .outOfRange(path: "$.signature.v")
        }
        return sig
    }

    public func consistencyProof() throws(RecordError) -> [Hash32] {
        try hashes(eventsConsistency.proof, "eventsConsistency.proof")
    }
}

extension DecisionRecord {
    public func fields() throws(RecordError) -> DecisionFields {
        guard let r = DecisionFields.Reason(rawValue: reasonCode) else { throw .outOfRange(path: "$.reasonCode") }
        guard r.name == reason else { throw .mismatch(path: "$.reason") }
        guard side == (isBuy ? "buy" : "sell") else { throw .mismatch(path: "$.side") }
        return DecisionFields(
            venueId: venueId, sequence: sequence, enclaveTime: enclaveTime, account: try hash32(account, "account"),
            market: market, isBuy: isBuy, size: size, markPrice: markPrice, bankruptcyPrice: bankruptcyPrice,
            worstPrice: worstPrice, equity: equity, maintenanceRequirement: maintenanceRequirement, reason: r,
            filledOnBook: filledOnBook, toInsuranceFund: toInsuranceFund, autoDeleveraged: autoDeleveraged,
            liquidationFee: liquidationFee, fills: try fills.enumerated().map { i, f throws(RecordError) in
                guard let kind = DecisionFields.Fill.Kind.allCases.first(where: { $0.name == f.kind }) else {
                    throw .outOfRange(path: "$.fills[\(i)].kind")
                }
                return DecisionFields.Fill(kind: kind, price: f.price, quantity: f.quantity)
            }, stateHash: try hash32(stateHash, "stateHash"), marksHash: try hash32(marksHash, "marksHash"),
            scenario: scenario)
    }

    public func inclusionProof() throws(RecordError) -> [Hash32] { try hashes(proof, "proof") }
}
