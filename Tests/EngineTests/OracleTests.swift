import Testing
@testable import Engine
import Wire

private let D = Fixture.usd
private let S = Fixture.second

@Suite("Oracle guard rails")
struct OracleTests {
    private func halted(_ d: inout Driver) -> Bool {
        d.engine.haltedMarkets(at: d.now).contains(Fixture.btc)
    }

    private func reason(_ d: inout Driver) -> PriceInvalidity? {
        if case .failure(let e) = d.engine.mark(Fixture.btc, at: d.now) { return e.reason }
        return nil
    }

    @Test func markIsTheMedianOfValidPublishers() throws {
        var d = Driver()
        d.price(Fixture.btc, 60_000 * D, publishers: [0])
        d.price(Fixture.btc, 60_100 * D, publishers: [1])
        d.price(Fixture.btc, 60_050 * D, publishers: [2])
        #expect(try d.engine.mark(Fixture.btc, at: d.now).get() == 60_050 * D)
        // Even count: the mean of the middle two, rounded down.
        var e = Driver()
        e.price(Fixture.btc, 60_000 * D, publishers: [0])
        e.price(Fixture.btc, 60_001 * D + 1, publishers: [1])
        #expect(try e.engine.mark(Fixture.btc, at: e.now).get() == 60_000 * D + D / 2)
    }

    /// Each invalid state halts; a valid update resumes.
    @Test func validityMatrix() throws {
        // No price at all.
        var d = Driver()
        #expect(reason(&d) == .noPrice && halted(&d))

        // Too few publishers: one fresh price, two required.
        d.price(Fixture.btc, 60_000 * D, publishers: [0])
        #expect(reason(&d) == .tooFewPublishers)
        d.price(Fixture.btc, 60_000 * D, publishers: [1])
        #expect(reason(&d) == nil && !halted(&d), "recovered")

        // Stale: 11 s pass with no update (limit 10 s).
        d.now += 11 * S
        #expect(reason(&d) == .stale && halted(&d))
        d.price(Fixture.btc, 60_000 * D, publishers: [0, 1])
        #expect(!halted(&d))

        // Non-positive prices leave too few.
        d.price(Fixture.btc, 0, publishers: [0, 1, 2])
        #expect(reason(&d) == .nonPositive)
        d.price(Fixture.btc, 60_000 * D, publishers: [0, 1, 2])
        #expect(!halted(&d))

        // Too uncertain: confidence 1% against a 0.5% limit.
        d.price(Fixture.btc, 60_000 * D, publishers: [0, 1, 2], confidence: UInt64(600 * D))
        #expect(reason(&d) == .tooUncertain)
        d.price(Fixture.btc, 60_000 * D, publishers: [0, 1, 2], confidence: UInt64(60 * D))
        #expect(!halted(&d))

        // Too far from the reference: +20% against a 10% limit halts, and keeps halting
        // while the new level is unconfirmed (5 s).
        d.price(Fixture.btc, 72_000 * D, publishers: [0, 1, 2])
        #expect(reason(&d) == .deviation && halted(&d))
        d.now += 2 * S
        d.price(Fixture.btc, 72_050 * D, publishers: [0, 1, 2])
        #expect(reason(&d) == .deviation, "2 s is not long enough to confirm")
        // A bad print that reverts: back within the limit of the reference, valid again.
        d.price(Fixture.btc, 60_100 * D, publishers: [0, 1, 2])
        #expect(!halted(&d))
        // A genuine jump that persists past the confirmation time becomes the reference.
        d.price(Fixture.btc, 72_000 * D, publishers: [0, 1, 2])
        #expect(halted(&d))
        d.now += 6 * S
        d.price(Fixture.btc, 72_100 * D, publishers: [0, 1, 2])
        #expect(!halted(&d))
        #expect(try d.engine.mark(Fixture.btc, at: d.now).get() == 72_100 * D)
    }

    @Test func outOfOrderUpdatesAreIgnored() throws {
        var d = Driver()
        let t = d.now
        d.price(Fixture.btc, 60_000 * D, publishers: [0, 1], publishTime: t)
        d.price(Fixture.btc, 10_000 * D, publishers: [0, 1], publishTime: t - S)
        #expect(try d.engine.mark(Fixture.btc, at: d.now).get() == 60_000 * D)
    }

    /// Found in review: a quote expiring moved the median 25% with no halt.
    @Test func anExpiringQuoteCannotSlipAJumpPastTheGuard() {
        var d = Driver()
        let t = d.now
        d.price(Fixture.btc, 60_000 * D, publishers: [0], publishTime: t)
        d.price(Fixture.btc, 60_000 * D, publishers: [1], publishTime: t + 4 * S)
        d.now = t + 5 * S
        d.price(Fixture.btc, 30_000 * D, publishers: [2], publishTime: t + 5 * S)
        #expect(!halted(&d), "median of 60k, 60k, 30k is 60k")
        d.now = t + 10 * S + 1   // publisher 0 goes stale: median of 60k and 30k = 45k
        #expect(reason(&d) == .deviation && halted(&d))
    }

    @Test func haltedMarketsRefuseNewRiskAndWithdrawals() {
        var d = Driver()
        d.deposit(1, 100_000)
        d.deposit(2, 100_000)
        d.price(Fixture.btc, 60_000 * D)
        d.order(1, .sell, Fixture.btc, quantity: Fixture.unit / 10, price: 60_000 * D, id: "a")
        d.order(2, .buy, Fixture.btc, quantity: Fixture.unit / 10, price: 60_000 * D, id: "b")
        d.now += 11 * S
        #expect(d.order(2, .buy, Fixture.btc, quantity: Fixture.unit / 10, price: 60_000 * D, id: "c").rejection == .priceUnavailable)
        #expect(d.apply(.request(account: 2, .withdraw(id: try! ClientOrderID("w"), amount: D))).rejection == .priceUnavailable)
        // No trading at all without a price to band it (even closing), but cancels work.
        #expect(d.order(2, .sell, Fixture.btc, quantity: Fixture.unit / 10, price: 60_000 * D, id: "close").rejection == .priceUnavailable)
        d.price(Fixture.btc, 60_000 * D)
        d.order(1, .buy, Fixture.btc, quantity: Fixture.unit / 10, price: 60_000 * D, id: "rest")
        d.now += 11 * S
        #expect(d.cancel(1, "rest").report?.cancelled == Fixture.unit / 10)
    }
}
