import TestSupport
import Testing
@testable import Engine

/// The requirement's inverses agree with the requirement: each is checked against
/// equity and maintenance computed forward (`notional` rounded down, `requirement` up),
/// so a change to the requirement's rounding that missed an inverse fails here.
@Suite("Margin inverses")
struct MarginTests {
    /// Equity minus maintenance of one position plus collateral, computed forward.
    private func surplus(collateral: Int128, size: Int64, mark: Int64, bps: Int64) -> Int128 {
        collateral + FixedMath.notional(price: mark, quantity: size, .down)
            - Margin.requirement(price: mark, quantity: size, bps: bps)
    }

    private func random(_ rng: inout SplitMix64, _ range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(rng.next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// A single position is safe at every mark on the safe side of its liquidation price,
    /// and liquidatable a few micro-units (of equity) past it: the key neither misses an
    /// account nor fires far early.
    @Test func liquidationPriceSeparatesSafeFromLiquidatable() {
        var rng = SplitMix64(seed: 41)
        for _ in 0..<20_000 {
            let long = rng.next() % 2 == 0
            let lots = random(&rng, 1...1_000_000_000_000)
            let size = long ? lots : -lots
            let f = random(&rng, 1...9_999)
            let target = Int128(random(&rng, 1_000...100_000_000_000))
            let weight = Int128(lots) * (long ? 10_000 - Int128(f) : 10_000 + Int128(f))
            // Collateral whose exact liquidation price is near `target`.
            let c = (long ? -target : target) * weight / 1_000_000_000_000 + Int128(random(&rng, -1_000...1_000))
            let price = Margin.liquidationPrice(collateral: c, size: size, maintenanceBps: f)
            // On the safe side (a long above, a short below), at the edge and further out.
            for step in [1, Int128(random(&rng, 1...1_000_000))] {
                let mark = long ? price + step : price - step
                guard mark > 0, mark < Int128(Int64.max) else { continue }
                #expect(surplus(collateral: c, size: size, mark: Int64(mark), bps: f) >= 0,
                        "safe at \(mark): c \(c) size \(size) f \(f)")
            }
            // Past it by more than the slack's worth of price: liquidatable.
            let d = (2 * 1_000_000_000_000 + weight - 1) / weight + 2
            let past = long ? price - d : price + d
            if past > 0, past < Int128(Int64.max) {
                #expect(surplus(collateral: c, size: size, mark: Int64(past), bps: f) < 0,
                        "liquidatable at \(past): c \(c) size \(size) f \(f)")
            }
        }
    }

    /// The 64-bit path of the liquidation price gives the 128-bit path's integer wherever
    /// it answers (both signs of collateral and size, exact and inexact quotients, the
    /// edges of its guards), and declines where its words would overflow.
    @Test func liquidationPriceIn64BitsIsTheSameInteger() {
        var rng = SplitMix64(seed: 43)
        var answered = 0
        var cases: [(Int128, Int64, Int64)] = []
        for c: Int128 in [0, 1, 2, 3, -1, -2, Int128(Int64.max), Int128(Int64.min), Int128(Int64.max) + 1, Int128(Int64.min) - 1] {
            for size: Int64 in [1, -1, 3, -3, Int64.max, Int64.min + 1, Int64.min] {
                for f: Int64 in [0, 1, 300, 9_999] { cases.append((c, size, f)) }
            }
        }
        for _ in 0..<50_000 {
            let size = random(&rng, -1_000_000_000_000...1_000_000_000_000)
            let c = Int128(random(&rng, -20_000_000_000_000...20_000_000_000_000)) >> Int(rng.next() % 40)
            cases.append((c, size == 0 ? 7 : size, random(&rng, 0...9_999)))
        }
        for (c, size, f) in cases {
            guard let fast = Margin.liquidationPrice64(collateral: c, size: size, maintenanceBps: f) else {
                // Only where a word overflows: the collateral (less the slack), the divisor,
                // or the quotient (then the 128-bit result is at least 2^64 in magnitude).
                let divisor = size.magnitude.multipliedReportingOverflow(by: UInt64(size > 0 ? 10_000 - f : 10_000 + f))
                #expect(Int64(exactly: c) == nil || Int64(exactly: size > 0 ? 2 - c : c - 2) == nil || divisor.overflow
                            || Margin.liquidationPrice128(collateral: c, size: size, maintenanceBps: f).magnitude >= UInt64.max,
                        "declined c \(c) size \(size) f \(f)")
                continue
            }
            answered += 1
            #expect(fast == Margin.liquidationPrice128(collateral: c, size: size, maintenanceBps: f), "c \(c) size \(size) f \(f)")
        }
        #expect(answered > 40_000)
    }

    /// Closing a whole position at the worst price never leaves negative equity, and the
    /// worst price is within one tick of the bankruptcy price, on the account's side.
    @Test func closingAtTheWorstPriceLeavesNoBadDebt() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<20_000 {
            let long = rng.next() % 2 == 0
            let lots = random(&rng, 1...1_000_000_000_000)
            let size = long ? lots : -lots
            let mark = random(&rng, 1_000_000...100_000_000_000)
            let tick = random(&rng, 1...1_000_000)
            let equity = Int128(random(&rng, -1_000_000_000_000...1_000_000_000_000))
            let b = Margin.bankruptcyPrice(mark: mark, equity: equity, size: size)
            let w = Margin.worstPrice(bankruptcy: b, long: long, tickSize: tick)
            #expect(w % Int128(tick) == 0 && w >= Int128(tick))
            guard b >= Int128(tick), b < Int128(Int64.max) / 2 else { continue }  // the tick floor binds
            #expect(long ? (w >= b && w - b < Int128(tick)) : (w <= b && b - w < Int128(tick)))
            // Equity after the close: the position's value at the mark is replaced by the
            // cash of the close at `w`.
            let cash = FixedMath.notional(price: Int64(w), quantity: lots, .down)
            let after = equity - FixedMath.notional(price: mark, quantity: size, .down) + (long ? cash : -cash)
            #expect(after >= 0, "equity \(equity) size \(size) mark \(mark) tick \(tick) b \(b) w \(w)")
        }
    }

    /// Every market moving against a cross-margined account by up to its movement budget,
    /// all at once, leaves it at or above maintenance.
    @Test func movementBudgetsNeverLetAnAccountSlipBelowMaintenance() {
        var rng = SplitMix64(seed: 43)
        for _ in 0..<5_000 {
            let n = Int(random(&rng, 2...4))
            var legs: [(size: Int64, bps: Int64, mark: Int64)] = []
            for _ in 0..<n {
                let lots = random(&rng, 1...10_000_000_000)
                let bps = random(&rng, 1...5_000)
                legs.append((rng.next() % 2 == 0 ? lots : -lots, bps, random(&rng, 1_000_000...100_000_000_000)))
            }
            var value: Int128 = 0
            var maintenance: Int128 = 0
            for l in legs {
                value += FixedMath.notional(price: l.mark, quantity: l.size, .down)
                maintenance += Margin.requirement(price: l.mark, quantity: l.size, bps: l.bps)
            }
            let c = maintenance - value + Int128(random(&rng, 0...Int64(min(maintenance, 1 << 60))))
            let buffer = Margin.movementBuffer(equity: c + value, maintenance: maintenance, positions: n)
            guard buffer > 0 else { continue }
            let total = legs.reduce(Int128(0)) {
                $0 + Margin.movementWeight(size: $1.size, maintenanceBps: $1.bps, mark: $1.mark)
            }
            var equity = c
            var after: Int128 = 0
            for l in legs {
                let budget = Margin.movementBudget(buffer: buffer, mark: l.mark, totalWeight: total)
                let move = rng.next() % 4 == 0 ? budget : budget * Int128(rng.next() % 1_000) / 1_000
                // Clamped to positive prices that fit: a smaller move is still within budget.
                let target = l.size > 0 ? Int128(l.mark) - move : Int128(l.mark) + move
                let moved = min(max(1, target), Int128(Int64.max / 4))
                equity += FixedMath.notional(price: Int64(moved), quantity: l.size, .down)
                after += Margin.requirement(price: Int64(moved), quantity: l.size, bps: l.bps)
            }
            #expect(equity >= after, "legs \(legs) c \(c) buffer \(buffer)")
        }
    }
}
