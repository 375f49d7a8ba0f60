/// The margin requirement and every formula derived from it by inversion, in one home:
/// the requirement itself, the bankruptcy and worst prices of a liquidation step, the
/// exact liquidation price of a single-position account, and the movement budgets of a
/// cross-margined one (docs/CONFIG.md, "Margin and liquidation rules"). The inverses lean
/// on how the requirement and equity round; a change to one that missed the others would
/// let the liquidation index skip an account that is below maintenance.
///
/// Units: prices in quote micro-units per whole base unit, sizes in base units of 10^-8,
/// money in quote micro-units, fractions in bps.
public enum Margin {
    /// 10^12 = quantity scale × bps: a requirement divides |size| × price × bps by it.
    @usableFromInline static let scaleBps: Int128 = FixedMath.quantityScale * FixedMath.bps

    /// Rounding slack per position, micro-units: equity rounds each position's value down
    /// (at most 1 below exact) and the requirement rounds each up (at most 1 above).
    static let slackPerPosition: Int128 = 2

    // MARK: - The requirement

    /// A margin requirement: ⌈|`quantity`| × `price` × `bps` / (10^8 × 10^4)⌉ (requirements
    /// always round up). Prices and tiers are positive; other values take the Int128 path.
    @inlinable
    public static func requirement(price: Int64, quantity: Int64, bps: Int64) -> Int128 {
        // Fast path when the gross notional |q| × p fits in 64 bits: split it so every
        // step stays in 64 bits and divides by a constant. With g = q1·10^8 + r1 and
        // q1·bps = a1·10^4 + a0, g·bps = a1·10^12 + (a0·10^8 + r1·bps), and the bracket
        // is below 2·10^12.
        let (high, gross) = quantity.magnitude.multipliedFullWidth(by: price.magnitude)
        if high == 0, price >= 0, bps >= 0, bps <= 10_000 {
            let b = UInt64(bps)
            let q1 = gross / 100_000_000
            let r1 = gross % 100_000_000
            let a = q1 * b
            let rest = (a % 10_000) * 100_000_000 + r1 * b
            var q = a / 10_000 + rest / 1_000_000_000_000
            if rest % 1_000_000_000_000 != 0 { q += 1 }
            return Int128(q)
        }
        return FixedMath.mulDiv(Int128(price) * Int128(quantity.magnitude), Int128(bps), scaleBps, .up)
    }

    // MARK: - Inverse: bankruptcy and worst price (docs/CONFIG.md M4)

    /// The price of a position's market at which the account's `equity` (all positions at
    /// their marks) would be zero, other marks unchanged: `mark ∓ ⌊equity × 10^8 / |size|⌋`,
    /// so rounded in the account's favour (up for a long, down for a short). `size` ≠ 0.
    static func bankruptcyPrice(mark: Int64, equity: Int128, size: Int64) -> Int128 {
        let shift = FixedMath.mulDiv(equity, FixedMath.quantityScale, Int128(size.magnitude), .down)
        return size > 0 ? Int128(mark) - shift : Int128(mark) + shift
    }

    /// The bankruptcy price on the tick grid, again in the account's favour (a long's sale
    /// price rounds up, a short's purchase price down), and at least one tick.
    static func worstPrice(bankruptcy: Int128, long: Bool, tickSize: Int64) -> Int128 {
        let tick = Int128(tickSize)
        let onGrid = FixedMath.mulDiv(bankruptcy, 1, tick, long ? .up : .down) * tick
        return max(onGrid, tick)
    }

    // MARK: - Inverse: liquidation price of one position

    /// The exact liquidation price of an account whose only position is `size`, minus
    /// the rounding slack: with `collateral` c and maintenance fraction f, equity
    /// c + size × P / 10^8 falls below the requirement |size| × P × f / 10^12 at
    /// P < (−c) × 10^12 / (size × (10^4 − f)) for a long and P > c × 10^12 /
    /// (|size| × (10^4 + f)) for a short. Rounded and moved by the slack toward the mark,
    /// so a mark that does not reach it leaves the account safe: a long is safe while
    /// mark > price, a short while mark < price. Independent of the mark.
    static func liquidationPrice(collateral c: Int128, size: Int64, maintenanceBps: Int64) -> Int128 {
        liquidationPrice64(collateral: c, size: size, maintenanceBps: maintenanceBps)
            ?? liquidationPrice128(collateral: c, size: size, maintenanceBps: maintenanceBps)
    }

    /// `liquidationPrice` in 128-bit arithmetic, for any operands.
    static func liquidationPrice128(collateral c: Int128, size: Int64, maintenanceBps: Int64) -> Int128 {
        let f = Int128(maintenanceBps)
        if size > 0 {
            return FixedMath.mulDiv(slackPerPosition - c, scaleBps, Int128(size) * (FixedMath.bps - f), .up)
        }
        return FixedMath.mulDiv(c - slackPerPosition, scaleBps, Int128(size.magnitude) * (FixedMath.bps + f), .down)
    }

    /// `liquidationPrice` in 64-bit words, the same integer, when the operands allow
    /// (collateral within ±2^63, |size| × (10^4 ∓ f) within 2^64, a quotient below 2^64):
    /// |c ∓ slack| × 10^12 as one 64 × 64 → 128-bit product and one 128-by-64 division,
    /// then the rounding (up for a long, down for a short) by the remainder and the sign.
    /// Nil otherwise (the Int128 path then decides, including its traps). The general
    /// `mulDiv` multiplied and divided in 128 bits: ~200 instructions, on every check of a
    /// single-position account after a fill (issue 17).
    @inline(__always)
    static func liquidationPrice64(collateral c: Int128, size: Int64, maintenanceBps f: Int64) -> Int128? {
        guard size != 0, f >= 0, f < 10_000, let c64 = Int64(exactly: c) else { return nil }
        // A long: (slack − c) × 10^12 / (size × (10^4 − f)), up; a short:
        // (c − slack) × 10^12 / (|size| × (10^4 + f)), down.
        let long = size > 0
        let (a, aOverflow) = long ? Int64(slackPerPosition).subtractingReportingOverflow(c64)
            : c64.subtractingReportingOverflow(Int64(slackPerPosition))
        let (d, dOverflow) = size.magnitude.multipliedReportingOverflow(by: UInt64(long ? 10_000 - f : 10_000 + f))
        guard !aOverflow, !dOverflow else { return nil }
        let product = a.magnitude.multipliedFullWidth(by: 1_000_000_000_000)
        guard product.high < d else { return nil }
        let (q, r) = d.dividingFullWidth(product)
        let exact = r == 0
        if a >= 0 {
            // ⌈q + r/d⌉ or ⌊q + r/d⌋.
            return Int128(q) + (long && !exact ? 1 : 0)
        }
        // ⌈−(q + r/d)⌉ = −q, ⌊−(q + r/d)⌋ = −q − 1 when inexact.
        return -Int128(q) - (!long && !exact ? 1 : 0)
    }

    // MARK: - Inverse: movement budgets of a cross-margined account

    /// The buffer a cross-margined account can lose before it is liquidatable, less the
    /// rounding slack of `positions` positions and one more per budget's own rounding;
    /// clamped to 2^64 so buffer × 10^12 × mark cannot overflow (a smaller budget is still
    /// safe). Not positive: the account has no budget and must be rechecked at once.
    static func movementBuffer(equity: Int128, maintenance: Int128, positions: Int) -> Int128 {
        min(equity - maintenance - (Int128(positions) + 1) * slackPerPosition, Int128(1) << 64)
    }

    /// One position's weight in the split of the buffer: how fast (per unit of absolute
    /// price movement, × 10^12) its market eats the buffer, scaled by its mark so that
    /// budgets come out proportional to each market's price level:
    /// |size| × (10^4 + f) × mark.
    static func movementWeight(size: Int64, maintenanceBps: Int64, mark: Int64) -> Int128 {
        Int128(size.magnitude) * (FixedMath.bps + Int128(maintenanceBps)) * Int128(mark)
    }

    /// A market's share of the buffer as absolute price movement (price units), rounded
    /// down: ⌊buffer × 10^12 × mark / Σ weights⌋. Each market moving by its budget at once
    /// costs the account at most the buffer, so no price path liquidates it before some
    /// market's movement passes its budget.
    static func movementBudget(buffer: Int128, mark: Int64, totalWeight: Int128) -> Int128 {
        FixedMath.mulDiv(buffer * scaleBps, Int128(mark), totalWeight, .down)
    }
}
