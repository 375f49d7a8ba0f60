import Wire

/// An authenticated input, ready to be sequenced. Signatures and session crypto were
/// checked by the enclave before an input gets here.
public enum EngineInput: Equatable, Sendable {
    case deposit(Deposit)
    case oraclePrice(OraclePrice)
    /// A signed SVI smile (docs/PROTOCOL.md §2.17, docs/OPTIONS.md §10.9).
    case oracleSmile(OracleSmile)
    case request(account: UInt64, OrderRequest)
}

/// An input with its place in the global order. Time enters the engine only here.
public struct SequencedEvent: Equatable, Sendable {
    /// Gap-free, starting at 1.
    public var globalSequence: UInt64
    /// The enclave's stamp: Unix nanoseconds, never decreasing.
    public var enclaveTime: UInt64
    public var input: EngineInput

    public init(globalSequence: UInt64, enclaveTime: UInt64, input: EngineInput) {
        self.globalSequence = globalSequence
        self.enclaveTime = enclaveTime
        self.input = input
    }
}

/// What the engine made of one event, with an accepted request's detail as an array.
public enum EngineOutcome: Equatable, Sendable {
    /// Accepted; `detail` is engine-specific bytes for the trader's receipt.
    case accepted(detail: [UInt8])
    case rejected(RejectReason)
}

/// The engine's verdict on one event; an accepted request's detail bytes went to the
/// caller's buffer.
public enum EngineVerdict: Equatable, Sendable {
    case accepted
    case rejected(RejectReason)
}

/// The deterministic state machine behind the enclave. Implementations do no I/O, read
/// no clock, draw no randomness and use no floating point: the same events give the
/// same outcomes in every process.
public protocol MatchingEngine {
    /// Applies one event. An accepted request's detail (engine-specific bytes for the
    /// trader's receipt) is appended to `detail`, a buffer the caller reuses, so the
    /// engine allocates nothing per event for it.
    mutating func apply(_ event: SequencedEvent, detail: inout ByteWriter) -> EngineVerdict
    /// Fills of resting orders since the last call, in the order they happened, for
    /// notifying their owners.
    mutating func takeMakerFills() -> [MakerFill]
    /// Liquidation decisions since the last call (public outputs).
    mutating func takeDecisions() -> [LiquidationDecision]
    /// Funding payments since the last call (public outputs).
    mutating func takeFundingPayments() -> [FundingPayment]
    /// Option settlements (docs/OPTIONS.md §10.5) since the last call, in order.
    mutating func takeOptionSettlements() -> [OptionSettlement]
    /// Margin calls (docs/OPTIONS.md §10.10) since the last call, in order: private, for
    /// the owners' open sessions.
    mutating func takeMarginCalls() -> [MarginCallNotice]
    /// Account changes since the last call, for the owners' private statements
    /// (docs/COMMITMENTS.md §7), in the order made; empty unless the engine records them.
    mutating func takeStatementEntries() -> [AccountStatementEntry]
    /// Turns statement entries on or off (off by default).
    mutating func setRecordsStatements(_ on: Bool)
    /// The account's collateral and positions now; nil when it does not exist.
    func statementBalance(of account: UInt64) -> StatementBalance?
    /// Calls `body` with each account whose state changed since the last call (repeats
    /// possible), in the order of the changes: the leaves the enclave rehashes for
    /// `stateRoot`.
    mutating func drainChangedAccounts(_ body: (UInt64) -> Void)
    /// Appends the canonical state of `account` (docs/COMMITMENTS.md §2.2) to `writer`;
    /// false when the account does not exist.
    func writeCommitmentState(of account: UInt64, into writer: inout ByteWriter) -> Bool
    /// Markets whose liquidations are halted at `now`, ascending.
    func haltedMarkets(at now: UInt64) -> [UInt32]
    /// The last publish time recorded for `publisher`'s signed smile of (`underlying`,
    /// `expiry`) (docs/OPTIONS.md §10.9); 0 when none.
    func lastSmilePublishTime(underlying: UInt32, expiry: UInt64, publisher: [UInt8]) -> UInt64
    /// The public view of `market` at `now` with `levels` levels of depth (docs/MARKETDATA.md);
    /// nil when the engine keeps no such market. Changes no state (mutating only to fill
    /// an option underlying's risk-array cache once per batch close, not once per market).
    mutating func marketView(_ market: UInt32, levels: Int, at now: UInt64) -> MarketView?
}

extension MatchingEngine {
    /// `apply(_:detail:)` with the detail in a fresh array (tests, tools).
    public mutating func apply(_ event: SequencedEvent) -> EngineOutcome {
        var detail = ByteWriter(capacity: 32)
        switch apply(event, detail: &detail) {
        case .accepted: return .accepted(detail: detail.bytes)
        case .rejected(let reason): return .rejected(reason)
        }
    }

    public mutating func takeMakerFills() -> [MakerFill] { [] }
    public mutating func takeDecisions() -> [LiquidationDecision] { [] }
    public mutating func takeFundingPayments() -> [FundingPayment] { [] }
    public mutating func takeOptionSettlements() -> [OptionSettlement] { [] }
    public mutating func takeMarginCalls() -> [MarginCallNotice] { [] }
    public mutating func takeStatementEntries() -> [AccountStatementEntry] { [] }
    public mutating func setRecordsStatements(_ on: Bool) {}
    public func statementBalance(of account: UInt64) -> StatementBalance? { nil }
    public mutating func drainChangedAccounts(_ body: (UInt64) -> Void) {}
    public func writeCommitmentState(of account: UInt64, into writer: inout ByteWriter) -> Bool { false }
    public func haltedMarkets(at now: UInt64) -> [UInt32] { [] }
    public mutating func marketView(_ market: UInt32, levels: Int, at now: UInt64) -> MarketView? { nil }
}

/// One change to an account as the engine made it (docs/COMMITMENTS.md §7.2), without
/// the running positions: a trade changes the size in `market` by `quantity`, nothing
/// else changes a position, so the statement log derives them (no array per entry on
/// the event path).
public struct AccountStatementEntry: Equatable, Sendable {
    public var account: UInt64
    public var sequence: UInt64
    public var kind: StatementEntry.Kind
    public var market: UInt32
    public var price: Int64
    public var quantity: Int64
    public var amount: Int64
    /// The account's collateral after the change, quote micro-units.
    public var collateral: Int128

    public init(account: UInt64, sequence: UInt64, kind: StatementEntry.Kind, market: UInt32 = 0, price: Int64 = 0,
                quantity: Int64 = 0, amount: Int64, collateral: Int128) {
        self.account = account
        self.sequence = sequence
        self.kind = kind
        self.market = market
        self.price = price
        self.quantity = quantity
        self.amount = amount
        self.collateral = collateral
    }

    /// `before` changed by this entry: its collateral, and for a trade the market's size;
    /// an option settlement closes the position it names.
    public func apply(to before: inout StatementBalance) {
        before.collateral = collateral
        if kind == .optionSettlement {
            before.positions.removeAll { $0.market == market }
            return
        }
        guard kind.isTrade else { return }
        if let i = before.positions.firstIndex(where: { $0.market == market }) {
            before.positions[i].size += quantity
            if before.positions[i].size == 0 { before.positions.remove(at: i) }
        } else if quantity != 0 {
            let at = before.positions.firstIndex { $0.market > market } ?? before.positions.count
            before.positions.insert(StatementPosition(market: market, size: quantity), at: at)
        }
    }

    /// The wire entry with the balance after it.
    public func entry(after: StatementBalance) -> StatementEntry {
        StatementEntry(sequence: sequence, kind: kind, market: market, price: price, quantity: quantity, amount: amount,
                       after: after)
    }
}

/// A fill of a resting order, to be pushed to its owner.
public struct MakerFill: Equatable, Sendable {
    public var account: UInt64
    public var clientOrderID: ClientOrderID
    public var fill: Fill

    public init(account: UInt64, clientOrderID: ClientOrderID, fill: Fill) {
        self.account = account
        self.clientOrderID = clientOrderID
        self.fill = fill
    }
}

/// The engine of the pipeline issue: sequencing only. It validates what can be checked
/// without a book (market exists, positive quantity and price) and accepts the rest.
/// The matching and margin engine replaces it behind `MatchingEngine`.
public struct SequencerEngine: MatchingEngine {
    private let markets: Set<UInt32>

    public init(config: VenueConfig) {
        markets = Set(config.markets.map(\.id))
    }

    public mutating func apply(_ event: SequencedEvent, detail: inout ByteWriter) -> EngineVerdict {
        switch event.input {
        case .deposit, .oraclePrice, .oracleSmile:
            return .accepted
        case .request(_, .cancel), .request(_, .withdraw):
            return .accepted
        case .request(_, .newOrder(let order)):
            guard markets.contains(order.market) else { return .rejected(.unknownMarket) }
            guard order.quantity > 0 else { return .rejected(.invalidQuantity) }
            guard order.price > 0 else { return .rejected(.invalidPrice) }
            return .accepted
        }
    }
}
