import Testing
@testable import Engine
import TestSupport
import Wire

private let D = Fixture.usd
private let S = Fixture.second

/// `MarkReplay` (what `verify-outputs` runs on public inputs) against the engine itself:
/// the same events, every mark compared after every event, and halted markets at random
/// batch closes. The streams jump past the deviation limit, let quotes go stale, send
/// uncertain and non-positive prices, and mix in orders, deposits (to account 0 too) and
/// requests of unknown accounts, which the engine refuses but still runs its pass for.
@Suite("Marks from public inputs")
struct MarkReplayTests {
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func replayMatchesTheEngine(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var d = Driver()
        var replay = MarkReplay(config: d.engine.config)
        var level: [UInt32: Int64] = [Fixture.btc: 60_000 * D, Fixture.eth: 3_000 * D]
        var publishTimes: [[UInt8]: UInt64] = [:]
        d.deposit(7, 1_000_000)
        replay.apply(.other, at: d.now)
        var compared = 0
        for _ in 0..<1_500 {
            let advance = [UInt64(1_000), S / 2, 2 * S, 4 * S, 11 * S][Int(rng.next() % 5)]
            let roll = rng.next() % 100
            switch roll {
            case 0..<70:
                let market = rng.next() % 2 == 0 ? Fixture.btc : Fixture.eth
                if rng.next() % 25 == 0 { level[market]! = level[market]! * (rng.next() % 2 == 0 ? 13 : 7) / 10 }
                let publisher = Fixture.publishers[Int(rng.next() % 3)]
                var price = level[market]! + Int64(rng.next() % 200) * D / 10 - 10 * D
                if rng.next() % 40 == 0 { price = -price }
                let confidence: UInt64 = rng.next() % 30 == 0 ? UInt64(price.magnitude) / 100 : 0
                // Sometimes an out-of-order publish time: the engine ignores it, and so must the replay.
                let time = rng.next() % 20 == 0 ? (publishTimes[publisher] ?? 0) : d.now + advance
                let p = OraclePrice(market: market, price: price, confidence: confidence, publishTime: time,
                                    publisher: publisher, signature: [])
                publishTimes[publisher] = max(publishTimes[publisher] ?? 0, time)
                d.apply(.oraclePrice(p), advance: advance)
                replay.apply(.oraclePrice(p), at: d.now)
            case 70..<80:
                let account: UInt64 = rng.next() % 2 == 0 ? 0 : 7
                d.depositID += 1
                d.apply(.deposit(Deposit(accountID: account, accountKey: [UInt8](repeating: 1, count: 32), amount: D,
                                         depositID: d.depositID, signature: [])), advance: advance)
                replay.apply(.other, at: d.now)
            default:
                // A sealed request: the replay sees only its time. Account 99 does not exist.
                let account: UInt64 = rng.next() % 3 == 0 ? 99 : 7
                d.apply(.request(account: account, .cancel(try! ClientOrderID("none"))), advance: advance)
                replay.apply(.other, at: d.now)
            }
            // The whole oracle state, read without evaluating anything (an evaluation
            // here would run the guard in both and hide a missed one).
            for (i, market) in [Fixture.btc, Fixture.eth].enumerated() {
                let engine = d.engine.markets[d.engine.slot(of: market)!].oracle
                #expect(Self.same(engine, replay.oracles[i]), "seed \(seed), event \(d.sequence), market \(market)")
                compared += 1
            }
            if rng.next() % 10 == 0 {
                let close = d.now + rng.next() % (3 * S)
                #expect(d.engine.haltedMarkets(at: close) == replay.haltedMarkets(at: close), "seed \(seed), close after \(d.sequence)")
            }
        }
        #expect(compared == 3_000)
    }

    /// Every field of two oracle states (the cached mark and its window included).
    static func same(_ a: OracleState, _ b: OracleState) -> Bool {
        a.reference == b.reference && a.pendingJump?.since == b.pendingJump?.since
            && a.pendingJump?.level == b.pendingJump?.level && a.deviationTripped == b.deviationTripped
            && a.cachedMark == b.cachedMark && a.cachedInvalidity == b.cachedInvalidity
            && a.cacheValidUntil == b.cacheValidUntil && a.cacheComputedAt == b.cacheComputedAt
            && a.quotes.map { $0?.price } == b.quotes.map { $0?.price }
            && a.quotes.map { $0?.publishTime } == b.quotes.map { $0?.publishTime }
    }

    /// The stream exercises what makes marks path-dependent: a halt for deviation, and
    /// its confirmation (otherwise the comparison above would prove little).
    @Test func aJumpHaltsAndIsConfirmedInTheReplay() {
        var replay = MarkReplay(config: Fixture.venue())
        var t: UInt64 = 1_000 * S
        func price(_ p: Int64, _ who: Int) {
            t += 1_000
            replay.apply(.oraclePrice(OraclePrice(market: Fixture.btc, price: p, confidence: 0, publishTime: t,
                                                  publisher: Fixture.publishers[who], signature: [])), at: t)
        }
        price(60_000 * D, 0)
        price(60_000 * D, 1)
        #expect(replay.mark(Fixture.btc, at: t) == .success(60_000 * D))
        price(80_000 * D, 0)
        price(80_000 * D, 1)
        #expect(replay.mark(Fixture.btc, at: t) == .failure(PriceInvalidityError(reason: .deviation)))
        #expect(replay.haltedMarkets(at: t) == [Fixture.btc, Fixture.eth])
        t += 6 * S
        price(80_000 * D, 0)
        price(80_000 * D, 1)
        #expect(replay.mark(Fixture.btc, at: t) == .success(80_000 * D), "confirmed after 5 s")
    }
}
