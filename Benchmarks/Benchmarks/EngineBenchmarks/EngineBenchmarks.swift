import Benchmark
import Engine
import Wire

// Engine suites (issue 3). Figures are per engine event, single-threaded.

let usd: Int64 = 1_000_000
let unit: Int64 = 100_000_000
let second: UInt64 = 1_000_000_000
let publishers = (1...3).map { [UInt8](repeating: UInt8($0), count: 32) }

func venue() -> VenueConfig {
    let oracle = OracleConfig(publishers: publishers.map { Hex.encode($0) }, minPublishers: 2, stalenessNanos: 3_600 * second,
                              maxConfidenceBps: 50, maxDeviationBps: 5_000, jumpConfirmationNanos: 5 * second)
    return VenueConfig(
        venueID: 1, name: "bench", custodyKey: Hex.encode([UInt8](repeating: 9, count: 32)),
        marginTiers: [MarginTier(name: "large-cap", initialBps: 500, maintenanceBps: 300)],
        fees: FeeSchedule(makerBps: 1, takerBps: 5),
        liquidation: LiquidationConfig(partialThreshold: 1_000_000 * usd, maxCloseBps: 2_500, cooldownNanos: 5 * second,
                                       feeBps: 50, insuranceFund: 1_000_000_000 * usd),
        markets: [MarketConfig(id: 1, symbol: "BTC-PERP", tickSize: usd / 10, stepSize: unit / 10_000, tier: "large-cap",
                               oracle: oracle, funding: FundingConfig(intervalNanos: 3_600 * second, maxRateBps: 75))])
}

struct Clock {
    var sequence: UInt64 = 0
    var now: UInt64 = 1_000 * second
    mutating func event(_ input: EngineInput) -> SequencedEvent {
        sequence += 1
        now += 1_000
        return SequencedEvent(globalSequence: sequence, enclaveTime: now, input: input)
    }
}

func price(_ p: Int64, publisher: Int, at t: UInt64) -> EngineInput {
    .oraclePrice(OraclePrice(market: 1, price: p, confidence: 0, publishTime: t, publisher: publishers[publisher], signature: []))
}

/// A realistic mix: 60% limit orders around the mark (half cross), 30% cancels, 5% IOC,
/// 5% oracle updates, over 200 accounts.
func mix(count: Int) -> [EngineInput] {
    var out: [EngineInput] = []
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
    var live: [(UInt64, Int)] = []
    for i in 0..<count {
        let roll = next() % 100
        let account = next() % 200 + 1
        if roll < 60 || live.isEmpty {
            let side: Side = next() % 2 == 0 ? .buy : .sell
            let off = Int64(next() % 20) - 10
            out.append(.request(account: account, .newOrder(NewOrder(
                clientOrderID: try! ClientOrderID("o\(i)"), market: 1, side: side,
                price: 60_000 * usd + off * usd / 10, quantity: Int64(next() % 10 + 1) * unit / 1_000))))
            live.append((account, i))
        } else if roll < 90 {
            let (a, i) = live.remove(at: Int(next() % UInt64(live.count)))
            out.append(.request(account: a, .cancel(try! ClientOrderID("o\(i)"))))
        } else if roll < 95 {
            out.append(.request(account: account, .newOrder(NewOrder(
                clientOrderID: try! ClientOrderID("i\(i)"), market: 1, side: next() % 2 == 0 ? .buy : .sell,
                timeInForce: .immediateOrCancel, price: 60_000 * usd, quantity: unit / 1_000))))
        } else {
            out.append(.oraclePrice(OraclePrice(market: 1, price: 60_000 * usd + Int64(next() % 10) * usd / 10, confidence: 0,
                                                publishTime: 1_000 * second + UInt64(i) * 1_000, publisher: publishers[i % 3], signature: [])))
        }
    }
    return out
}

func primedEngine() -> (PerpEngine, Clock) {
    var engine = try! PerpEngine(config: venue())
    var clock = Clock()
    for a in 1...200 as ClosedRange<UInt64> {
        _ = engine.apply(clock.event(.deposit(Deposit(accountID: a, accountKey: [], amount: 10_000_000 * usd, depositID: a, signature: []))))
    }
    for p in 0..<3 { _ = engine.apply(clock.event(price(60_000 * usd, publisher: p, at: clock.now))) }
    return (engine, clock)
}

/// `n` accounts, each long 0.01 BTC from 60,000, with liquidation prices spread from
/// 30,000 to 59,000; the first 1% sit just above 58,000.
func crowd(_ n: Int) -> (PerpEngine, Clock) {
    var engine = try! PerpEngine(config: venue())
    var clock = Clock()
    let q = unit / 100
    _ = engine.apply(clock.event(.deposit(Deposit(accountID: 10_000_000, accountKey: [], amount: 1_000_000_000 * usd, depositID: 1, signature: []))))
    for p in 0..<3 { _ = engine.apply(clock.event(price(60_000 * usd, publisher: p, at: clock.now))) }
    _ = engine.apply(clock.event(.request(account: 10_000_000, .newOrder(NewOrder(
        clientOrderID: try! ClientOrderID("mm"), market: 1, side: .sell, price: 60_000 * usd, quantity: q * Int64(n))))))
    for i in 0..<n {
        let id = UInt64(i + 1)
        // A long of 0.01 BTC bought at 60,000 is liquidatable below L = (600 − deposit) /
        // 0.0097 (3% maintenance), so deposit = 600 − 0.0097 × L (USD) places L. The first
        // 1% sit at 58,200 (reached by a tick to 58,000); the rest between 30,000 and 57,000.
        let l: Int64 = i < n / 100 ? 58_200 : 30_000 + Int64(i % 27_000)
        let deposit = 600 * usd - (97 * l * usd) / 10_000 + 1
        _ = engine.apply(clock.event(.deposit(Deposit(accountID: id, accountKey: [], amount: deposit, depositID: id + 1, signature: []))))
        _ = engine.apply(clock.event(.request(account: id, .newOrder(NewOrder(
            clientOrderID: try! ClientOrderID("b"), market: 1, side: .buy, price: 60_000 * usd, quantity: q)))))
    }
    // A deep bid for the liquidations to trade into.
    _ = engine.apply(clock.event(.request(account: 10_000_000, .newOrder(NewOrder(
        clientOrderID: try! ClientOrderID("bid"), market: 1, side: .buy, price: 50_000 * usd, quantity: q * Int64(n))))))
    return (engine, clock)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(10), maxIterations: 30)

    let events = mix(count: 100_000)
    // Per event, what the enclave does: apply with its reused detail buffer, then take the
    // maker fills, decisions and funding payments and drain the changed accounts.
    Benchmark("Engine realistic mix (per 100k events)", configuration: .init(scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations {
            var (engine, clock) = primedEngine()
            var detail = ByteWriter(capacity: 1_024)
            var outputs = 0
            benchmark.startMeasurement()
            for e in events {
                detail.truncate(to: 0)
                blackHole(engine.apply(clock.event(e), detail: &detail))
                outputs &+= engine.takeMakerFills().count + engine.takeDecisions().count + engine.takeFundingPayments().count
                engine.drainChangedAccounts { outputs &+= Int($0 & 1) }
            }
            benchmark.stopMeasurement()
            blackHole(outputs)
        }
    }

    for n in [10_000, 100_000, 1_000_000] {
        // A tick that moves the mark but reaches no liquidation price: the index's cost, in
        // steady state (a venue ticks many times a second, so what a tick touches stays
        // warm). 1,000 untimed ticks first, then 1,000 timed per iteration; the figure is
        // per tick of three publisher updates.
        Benchmark("Oracle tick, no crossings, \(n) accounts", configuration: .init(scalingFactor: .kilo, maxIterations: 5)) {
            benchmark in
            var (engine, clock) = crowd(n)
            var p: Int64 = 59_500
            func tick() {
                p = p == 59_500 ? 59_400 : 59_500
                for pub in 0..<3 { blackHole(engine.apply(clock.event(price(p * usd, publisher: pub, at: clock.now)))) }
            }
            for _ in 0..<1_000 { tick() }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { tick() }
            benchmark.stopMeasurement()
        }
        // The same tick once, right after set-up: what a first tick costs with nothing of
        // the index or the accounts in cache (reported, not a target).
        Benchmark("Oracle tick, no crossings, first after set-up, \(n) accounts", configuration: .init(maxIterations: 5)) {
            benchmark in
            var (engine, clock) = crowd(n)
            benchmark.startMeasurement()
            for pub in 0..<3 { blackHole(engine.apply(clock.event(price(59_400 * usd, publisher: pub, at: clock.now)))) }
            benchmark.stopMeasurement()
        }
        // A tick to 58,000 that makes 1% of the accounts liquidatable, and liquidates them.
        Benchmark("Oracle tick liquidating 1%, \(n) accounts", configuration: .init(maxIterations: 3)) { benchmark in
            for _ in benchmark.scaledIterations {
                var (engine, clock) = crowd(n)
                benchmark.startMeasurement()
                for pub in 0..<3 { blackHole(engine.apply(clock.event(price(58_000 * usd, publisher: pub, at: clock.now)))) }
                benchmark.stopMeasurement()
                precondition(engine.takeDecisions().count >= n / 100, "the tick liquidates 1%")
            }
        }
    }
}
