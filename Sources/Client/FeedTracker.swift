import Commitments
import Foundation
import OutputVerification
import SealCrypto

/// The consumer's side of the market data feed (docs/MARKETDATA.md §6), pure: each text
/// message in, what it means out. It checks every line against the header it came with
/// (the header's hash recomputed from its fields, its signature when the signer is known,
/// the line's inclusion proof into `marketDataRoot`) and each market's `marketSequence`:
/// a gap yields `.gap`, after which the caller asks for a resync and the market's updates
/// are ignored until its snapshot arrives.
public struct FeedTracker {
    public enum Event: Sendable {
        case header(BatchRecord)
        /// A market data line, read strictly; `verified` when every check above passed.
        case record(MarketDataRecord, snapshot: Bool, verified: Bool)
        /// `marketSequence` jumped from `expected` to `got`: send a resync.
        case gap(market: UInt32, expected: UInt64, got: UInt64)
        /// A message that is not a feed message, or a line that does not read.
        case invalid(String)
    }

    struct Message: Decodable {
        var type: String
        var header: BatchRecord?
        var batchIndex: UInt64?
        var leafCount: UInt64?
        var leafIndex: UInt64?
        var line: String?
        var market: UInt32?
        var marketSequence: UInt64?
        var proof: [String]?
    }

    /// Who must have signed the headers, and the domain they are signed in; nil: headers
    /// are checked for their hash only.
    public let signer: (address: EthereumAddress, domain: EIP712Domain)?
    private var header: BatchRecord?
    /// The next `marketSequence` expected per market.
    public private(set) var next: [UInt32: UInt64] = [:]
    /// Markets waiting for a snapshot after a gap.
    public private(set) var resyncing: Set<UInt32> = []

    public init(signer: (address: EthereumAddress, domain: EIP712Domain)? = nil) { self.signer = signer }

    /// The resync request the caller sends after `.gap` (docs/MARKETDATA.md §6).
    public static let resyncRequest = Array(#"{"op":"resync"}"#.utf8)

    public mutating func receive(_ text: [UInt8]) -> [Event] {
        guard let m = try? JSONDecoder().decode(Message.self, from: Data(text)) else { return [.invalid("not a feed message")] }
        switch m.type {
        case "header":
            guard let h = m.header else { return [.invalid("header message without a header")] }
            header = h
            return [.header(h)]
        case "snapshot", "update":
            let snapshot = m.type == "snapshot"
            guard let line = m.line, let market = m.market, let sequence = m.marketSequence, let leafIndex = m.leafIndex,
                  let leafCount = m.leafCount, let proofHex = m.proof, let batch = m.batchIndex,
                  let h = snapshot ? m.header : header
            else { return [.invalid("\(m.type) message lacks a field or its header")] }
            let bytes = Array(line.utf8)
            guard let record = try? MarketDataRecord(jsonLine: bytes) else { return [.invalid("line does not read")] }
            let proof = proofHex.compactMap { Hash32(hex: $0) }
            var verified = proof.count == proofHex.count && record.batchIndex == batch && h.batchIndex == batch
                && record.market == market && record.marketSequence == sequence && record.leafIndex == leafIndex
            if verified, let fields = try? h.header() {
                verified = fields.structHash.hex == h.headerHash
                    && RFC6962.verifyInclusion(leafHash: MarketDataTree.leafHash(bytes), index: leafIndex, treeSize: leafCount,
                                               proof: proof, root: fields.marketDataRoot)
                if let signer, verified {
                    let digest = fields.digest(domain: signer.domain)
                    let recovered = (try? h.recoverableSignature()).flatMap { try? Secp256k1.recoverAddress(digest: digest.bytes, signature: $0) }
                    verified = recovered == signer.address
                }
            } else {
                verified = false
            }
            if snapshot {
                resyncing.remove(market)
                next[market] = max(next[market] ?? 0, sequence + 1)
                return [.record(record, snapshot: true, verified: verified)]
            }
            guard !resyncing.contains(market) else { return [] }
            if let expected = next[market], sequence != expected {
                if sequence < expected { return [] }  // already seen (a snapshot overtook it)
                resyncing.insert(market)
                return [.gap(market: market, expected: expected, got: sequence)]
            }
            next[market] = sequence + 1
            return [.record(record, snapshot: false, verified: verified)]
        default:
            return [.invalid("unknown message type \(m.type)")]
        }
    }
}
