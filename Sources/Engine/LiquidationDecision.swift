import Wire

/// Why and how an account was liquidated. Public output: the account appears only as a
/// commitment. Prices in quote micro-units per base unit; sizes in base units of 10^-8;
/// money in quote micro-units (saturated to Int64 for output).
public struct LiquidationDecision: Equatable, Sendable {
    public enum Reason: UInt8, Sendable {
        /// Equity below maintenance; the whole position closed (notional at or below
        /// the partial threshold).
        case maintenanceFull = 1
        /// Equity below maintenance; a capped step of a large position closed.
        case maintenancePartial = 2
    }

    /// Global sequence number of the event during which it was decided.
    public var sequence: UInt64
    public var enclaveTime: UInt64
    /// Hash of the account id and a per-account secret: reveals nothing by itself.
    public var accountCommitment: [UInt8]
    public var market: UInt32
    /// Side of the closing trade (sell closes a long).
    public var side: Side
    public var size: Int64
    public var markPrice: Int64
    /// Price at which closing the whole position leaves zero equity, rounded toward the
    /// mark (so closing there never leaves the account below zero).
    public var bankruptcyPrice: Int64
    /// Worst price the closing trade may fill at: the bankruptcy price on the tick grid.
    public var worstPrice: Int64
    public var equity: Int64
    public var maintenanceRequirement: Int64
    public var reason: Reason
    /// How the size was closed: against the book, taken over by the insurance fund at
    /// the worst price, or auto-deleveraged against opposite positions.
    public var filledOnBook: Int64
    public var toInsuranceFund: Int64
    public var autoDeleveraged: Int64
}

/// One funding payment of one market. Public output.
public struct FundingPayment: Equatable, Sendable {
    public var market: UInt32
    public var enclaveTime: UInt64
    public var markPrice: Int64
    /// Clamped premium of the book mid over the mark, bps; positive: longs pay shorts.
    public var rateBps: Int64
    /// Quote micro-units per whole base unit paid by longs (negative: received).
    public var perUnit: Int64
}
