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
        /// The account's Greeks on an underlying passed the escalation threshold of its
        /// `greekLimits` (docs/OPTIONS.md §10.11): a step closing enough of one position to
        /// bring them back within the limits, whatever the account's margin.
        case greekLimit = 3
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
    /// The liquidation fee moved from the account to the insurance fund, quote
    /// micro-units: `⌈Σ book fill cash × feeBps / 10⁴⌉`, capped at the account's equity
    /// after the book fills (never below 0; docs/CONFIG.md M5).
    public var liquidationFee: Int64 = 0
    /// The step's execution, in order: the book fills (maker prices, price-time priority),
    /// then the insurance fund's take-over or each deleveraged counterparty's share, both
    /// at `worstPrice`. Quantities sum per kind to `filledOnBook`, `toInsuranceFund` and
    /// `autoDeleveraged`.
    public var fills: [ExecutionFill] = []
    /// The scenario that triggered the step when the account held an option position just
    /// before it (docs/OPTIONS.md §10.6): per underlying portfolio, its worst scenario of
    /// the grid and contingencies. Nil on the linear model (no option position).
    public var scenario: DecisionScenario? = nil

    // What a fraud proof opens (docs/COMMITMENTS.md §3, §6.1). Private: the enclave
    // commits to them salted (`stateHash`, `marksHash`) and gives them only to the owner.

    /// The liquidated account's id (private; the public decision names its commitment).
    public var accountID: UInt64 = 0
    /// 0-based index of this step among the decisions taken after the same event (any
    /// account), in the order taken: with `accountID` and `sequence` it derives the salt.
    public var step: UInt32 = 0
    /// The account's canonical `state` bytes (docs/COMMITMENTS.md §2.2) just before the step.
    public var preState: [UInt8] = []
    /// Per position of `preState`, in its order (ascending market id): the market's mark
    /// and the maintenance fraction the engine used at that moment.
    public var marks: [DecisionMark] = []
}


/// One trade of a liquidation step: who took it (not which account), at what price, how much.
public struct ExecutionFill: Equatable, Sendable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// A resting order on the book.
        case book = 1
        /// The insurance fund took the rest over.
        case insuranceFund = 2
        /// An opposite position was auto-deleveraged.
        case autoDeleveraging = 3
    }

    public var kind: Kind
    /// Quote micro-units per whole base unit.
    public var price: Int64
    /// Base units of 10⁻⁸, > 0.
    public var quantity: Int64

    public init(kind: Kind, price: Int64, quantity: Int64) {
        self.kind = kind
        self.price = price
        self.quantity = quantity
    }
}

/// One funding payment of one market. Public output (docs/COMMITMENTS.md §4.3).
public struct FundingPayment: Equatable, Sendable {
    public var market: UInt32
    /// Global sequence number of the event after which it was paid (the first event at or
    /// after `dueTime` with a valid mark).
    public var sequence: UInt64 = 0
    public var enclaveTime: UInt64
    public var markPrice: Int64
    /// Clamped premium of the book mid over the mark, bps; positive: longs pay shorts.
    public var rateBps: Int64
    /// Quote micro-units per whole base unit paid by longs (negative: received).
    public var perUnit: Int64
    /// Enclave time (ns) at which this payment fell due.
    public var dueTime: UInt64 = 0
}
