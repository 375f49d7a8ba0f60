import Wire

/// One position in one market.
public struct Position: Equatable, Sendable {
    public var market: UInt32
    /// Signed size in base units of 10^-8: positive long, negative short.
    public var size: Int64
    /// Quote micro-units paid to open the current size (negative for shorts: received).
    /// Only for ranking (ADL) and reporting; value and margin come from `collateral`
    /// and the mark.
    public var costBasis: Int128
    /// The market's cumulative funding index when this position last settled.
    public var fundingIndex: Int128
}

/// A trading account. `collateral` is the account's quote balance: deposits, minus
/// withdrawals, plus every fill's cash flow (a buy pays its notional, a sell receives
/// it), minus fees, plus funding. Equity at mark is `collateral + Σ size × mark`, so
/// unrealized PnL is implicit and every fill moves the same integer amount from one
/// account to another: the venue's money is conserved exactly.
public struct Account: Sendable {
    public let id: UInt64
    /// Quote micro-units.
    public internal(set) var collateral: Int128
    /// Positions with non-zero size, sorted by market id.
    public internal(set) var positions: [Position] = []
    /// Resting orders (the orders themselves are in the engine's `OpenOrderIndex`).
    var openOrderCount: Int32 = 0
    /// Enclave time of the last liquidation step per market (cooldown).
    var lastLiquidation: [UInt32: UInt64] = [:]

    init(id: UInt64, collateral: Int128) {
        self.id = id
        self.collateral = collateral
    }

    /// The account's canonical state for the salted state commitment
    /// (docs/COMMITMENTS.md §2.2): id ‖ collateral ‖ positions ‖ open order count, all
    /// big-endian. Cooldown stamps are bookkeeping, not state, and are left out.
    public func writeCommitmentState(into w: inout ByteWriter) {
        func write128(_ v: Int128) {
            w.write(UInt64(truncatingIfNeeded: v >> 64))
            w.write(UInt64(truncatingIfNeeded: v))
        }
        w.write(id)
        write128(collateral)
        w.write(UInt32(positions.count))
        for p in positions {
            w.write(p.market)
            w.write(p.size)
            write128(p.costBasis)
            write128(p.fundingIndex)
        }
        w.write(UInt32(openOrderCount))
    }

    /// The markets of `bytes` if it is a canonical state of `account` as
    /// `writeCommitmentState` writes one (docs/COMMITMENTS.md §2.2): that id, collateral,
    /// a position count and exactly that many 44-byte positions, markets strictly
    /// ascending and sizes ≠ 0, a non-negative open order count, nothing after it; else nil.
    /// What a snapshot reader checks a stored pre-step state against (docs/DURABILITY.md §6.2).
    public static func commitmentStateMarkets(_ bytes: [UInt8], of account: UInt64) -> [UInt32]? {
        func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        func u64(_ at: Int) -> UInt64 { bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        guard bytes.count >= 32, u64(0) == account else { return nil }
        let p = Int(u32(24))
        guard p <= (bytes.count - 32) / 44, bytes.count == 32 + 44 * p, u32(28 + 44 * p) <= UInt32(Int32.max) else {
            return nil
        }
        var markets: [UInt32] = []
        for i in 0..<p {
            let at = 28 + 44 * i
            guard markets.last.map({ $0 < u32(at) }) ?? true, u64(at + 4) != 0 else { return nil }
            markets.append(u32(at))
        }
        return markets
    }

    public func position(_ market: UInt32) -> Int64 {
        positions.first { $0.market == market }?.size ?? 0
    }

    func positionIndex(_ market: UInt32) -> Int? {
        positions.firstIndex { $0.market == market }
    }

    /// `basis × new / old`, truncated toward zero: in 64 bits when the product fits (the
    /// same quotient: both divisions truncate), else in 128. Half the fills reduce a
    /// position, and the 128-bit multiply and division cost more than the rest of the fill
    /// (issue 17).
    @inline(__always)
    static func proRata(_ basis: Int128, _ new: Int64, _ old: Int64) -> Int128 {
        if let b = Int64(exactly: basis) {
            let (product, overflow) = b.multipliedReportingOverflow(by: new)
            if !overflow && product != .min { return Int128(product / old) }
        }
        return basis * Int128(new) / Int128(old)
    }

    /// Applies a fill: `quantity` > 0 buys, < 0 sells, at `price`; moves `cash` (the
    /// fill's notional, rounded down, shared exactly with the counterparty) and takes
    /// `fee` (quote micro-units, 0 for a fill that pays none). Returns the size in
    /// `market` before the fill.
    @discardableResult
    mutating func applyFill(market: UInt32, quantity: Int64, cash: Int128, fee: Int128 = 0, fundingIndex: Int128) -> Int64 {
        // A buy pays cash, a sell receives it.
        collateral += quantity > 0 ? -cash : cash
        collateral -= fee
        let signedCash = quantity > 0 ? cash : -cash
        if let i = positionIndex(market) {
            var p = positions[i]
            let old = p.size
            let new = old + quantity
            if old == 0 || (old > 0) == (quantity > 0) {
                p.costBasis += signedCash
            } else if (new > 0) == (old > 0) && new != 0 {
                // Reduced: release cost basis pro rata, rounded toward zero.
                p.costBasis = Self.proRata(p.costBasis, new, old)
            } else if new == 0 {
                p.costBasis = 0
            } else {
                // Flipped: the remainder opened at this fill's price.
                p.costBasis = signedCash * Int128(new) / Int128(quantity)
            }
            p.size = new
            if new == 0 {
                positions.remove(at: i)
            } else {
                positions[i] = p
            }
            return old
        } else if quantity != 0 {
            let p = Position(market: market, size: quantity, costBasis: signedCash, fundingIndex: fundingIndex)
            let at = positions.firstIndex { $0.market > market } ?? positions.count
            positions.insert(p, at: at)
        }
        return 0
    }
}
