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

    /// Global sequence number of the event after which the step was taken: any event
    /// (a later step fires at the first event of any kind after the cooldown), not
    /// necessarily one that concerns the account (docs/CONFIG.md M7, M8).
    public var sequence: UInt64
    /// Enclave time (Unix ns) of that event.
    public var enclaveTime: UInt64
    /// Hash of the account id and a per-account secret: reveals nothing by itself.
    public var accountCommitment: [UInt8]
    public var market: UInt32
    /// Side of the closing trade (sell closes a long).
    public var side: Side
    public var size: Int64
    public var markPrice: Int64
    /// Price of this market at which the account's equity (all positions, other marks
    /// unchanged) is zero, rounded in the account's favour: up for a long, down for a
    /// short (docs/CONFIG.md M4).
    public var bankruptcyPrice: Int64
    /// Price of the closing trade's limit on the book and of any fund or ADL transfer:
    /// the bankruptcy price on the tick grid, again rounded in the account's favour, at
    /// least one tick. May lie outside the price band.
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
