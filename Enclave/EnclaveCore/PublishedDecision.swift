#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Engine
import Wire

/// A liquidation decision as published in `DATA/outputs/decisions.jsonl`: one JSON object
/// per line. Not yet signed or batched (the commitments work adds the batch index and an
/// inclusion proof); fields and units as in `LiquidationDecision`.
public struct PublishedDecision: Codable, Equatable, Sendable {
    public var sequence: UInt64
    public var enclaveTime: UInt64
    /// Hex SHA-256 account commitment; the account's owner learns its own when its
    /// session is accepted.
    public var account: String
    public var market: UInt32
    /// "buy" or "sell": the closing trade.
    public var side: String
    public var size: Int64
    public var markPrice: Int64
    public var bankruptcyPrice: Int64
    public var worstPrice: Int64
    public var equity: Int64
    public var maintenanceRequirement: Int64
    /// "maintenance-full" or "maintenance-partial".
    public var reason: String
    public var filledOnBook: Int64
    public var toInsuranceFund: Int64
    public var autoDeleveraged: Int64

    public init(_ d: LiquidationDecision) {
        sequence = d.sequence
        enclaveTime = d.enclaveTime
        account = Hex.encode(d.accountCommitment)
        market = d.market
        side = d.side == .buy ? "buy" : "sell"
        size = d.size
        markPrice = d.markPrice
        bankruptcyPrice = d.bankruptcyPrice
        worstPrice = d.worstPrice
        equity = d.equity
        maintenanceRequirement = d.maintenanceRequirement
        reason = d.reason == .maintenanceFull ? "maintenance-full" : "maintenance-partial"
        filledOnBook = d.filledOnBook
        toInsuranceFund = d.toInsuranceFund
        autoDeleveraged = d.autoDeleveraged
    }

    /// JSON lines for a link `decisions` message.
    public static func jsonLines(_ decisions: [LiquidationDecision]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var out: [UInt8] = []
        for d in decisions {
            out += try encoder.encode(PublishedDecision(d))
            out.append(0x0a)
        }
        return out
    }
}
