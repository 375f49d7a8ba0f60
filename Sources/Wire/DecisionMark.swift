/// The mark and maintenance fraction of one market an account held when a liquidation
/// step was taken (docs/COMMITMENTS.md §3, `marksHash`).
public struct DecisionMark: Equatable, Sendable {
    public var market: UInt32
    /// Quote micro-units per whole base unit.
    public var mark: Int64
    /// The market's tier `maintenanceBps` (a perpetual); 0 for an option market, whose
    /// requirement is the portfolio's (docs/OPTIONS.md §10.3).
    public var maintenanceBps: UInt32

    public init(market: UInt32, mark: Int64, maintenanceBps: UInt32) {
        self.market = market
        self.mark = mark
        self.maintenanceBps = maintenanceBps
    }
}
