#if canImport(Glibc)
import Glibc
#endif
import Engine
import Wire

// engine-instructions: the engine alone on a realistic order stream, for counting
// instructions per event under callgrind (issue 17). Not part of the enclave's closure:
// it links only Engine and Wire.
//
//     engine-instructions [EVENTS]        (default 2,000,000)
//     valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measuredRun*' \
//         engine-instructions 200000
//
// The stream: 60% limit orders, 30% cancels of live orders, 10% IOC orders, over 200
// well-funded accounts in one market with a fixed mark, about 3,500 orders resting in
// steady state. It is generated first by driving a scratch engine (so cancels name
// orders that are really live and the book's depth is steered to the target), then
// replayed on a fresh engine inside `measuredRun`, the only function callgrind counts.
// Per event the loop does what the enclave does: apply with a reused detail buffer,
// take the maker fills, decisions and funding payments, drain the changed accounts.

let usd: Int64 = 1_000_000
let unit: Int64 = 100_000_000
let second: UInt64 = 1_000_000_000
let publishers = (1...3).map { [UInt8](repeating: UInt8($0), count: 32) }
let accountCount: UInt64 = 200
/// Resting orders the generator steers the book towards.
let targetResting = 3_500
let mid: Int64 = 60_000 * usd
let tick: Int64 = usd / 10

func venue() -> VenueConfig {
    let oracle = OracleConfig(
        publishers: publishers.map { Hex.encode($0) }, minPublishers: 2, stalenessNanos: 3_600 * second,
        maxConfidenceBps: 50, maxDeviationBps: 5_000, jumpConfirmationNanos: 5 * second)
    return VenueConfig(
        venueID: 1, name: "instructions", custodyKey: Hex.encode([UInt8](repeating: 9, count: 32)),
        marginTiers: [MarginTier(name: "large-cap", initialBps: 500, maintenanceBps: 300)],
        fees: FeeSchedule(makerBps: 1, takerBps: 5),
        liquidation: LiquidationConfig(
            partialThreshold: 1_000_000 * usd, maxCloseBps: 2_500, cooldownNanos: 5 * second,
            feeBps: 50, insuranceFund: 1_000_000_000 * usd),
        markets: [MarketConfig(
            id: 1, symbol: "BTC-PERP", tickSize: tick, stepSize: unit / 10_000, tier: "large-cap",
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

/// A funded venue with a valid mark; the same for generation and measurement.
func primedEngine() -> (PerpEngine, Clock) {
    var engine = try! PerpEngine(config: venue())
    // ENGINE_STATEMENTS=1: record statement entries as the enclave does (docs/COMMITMENTS.md §7).
    engine.setRecordsStatements(getenv("ENGINE_STATEMENTS").map { String(cString: $0) == "1" } ?? false)
    var clock = Clock()
    for a in 1...accountCount {
        _ = engine.apply(clock.event(.deposit(Deposit(
            accountID: a, accountKey: [], amount: 10_000_000 * usd, depositID: a, signature: []))))
    }
    for p in 0..<3 {
        _ = engine.apply(clock.event(.oraclePrice(OraclePrice(
            market: 1, price: mid, confidence: 0, publishTime: clock.now, publisher: publishers[p], signature: []))))
    }
    return (engine, clock)
}

struct OrderKey: Hashable {
    var account: UInt64
    var id: ClientOrderID
}

/// The stream of `count` requests, generated against a scratch engine.
func generate(count: Int) -> [EngineInput] {
    var (engine, clock) = primedEngine()
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
    var live: [OrderKey] = []
    var remaining: [OrderKey: (remaining: Int64, slot: Int)] = [:]
    func forget(_ key: OrderKey) {
        guard let slot = remaining.removeValue(forKey: key)?.slot else { return }
        let last = live.removeLast()
        if slot < live.count {
            live[slot] = last
            remaining[last]!.slot = slot
        }
    }
    var out: [EngineInput] = []
    out.reserveCapacity(count)
    for i in 0..<count {
        let roll = next() % 100
        let account = next() % accountCount + 1
        let side: Side = next() % 2 == 0 ? .buy : .sell
        let input: EngineInput
        var resting: OrderKey? = nil
        var quantity = Int64(next() % 10 + 1) * unit / 1_000
        if roll < 60 || live.isEmpty {
            // Passive by default, one to fifty ticks off the mid; above the target depth,
            // half of them cross (the book stays near the target).
            let cross = next() % 100 < (live.count > targetResting ? 50 : 5)
            let off = cross ? -Int64(next() % 20) : Int64(next() % 50 + 1)
            let price = side == .buy ? mid - off * tick : mid + off * tick
            let key = OrderKey(account: account, id: try! ClientOrderID("o\(i)"))
            input = .request(account: account, .newOrder(NewOrder(
                clientOrderID: key.id, market: 1, side: side, price: price, quantity: quantity)))
            resting = key
        } else if roll < 90 {
            let key = live[Int(next() % UInt64(live.count))]
            input = .request(account: key.account, .cancel(key.id))
            forget(key)
        } else {
            quantity = unit / 1_000
            input = .request(account: account, .newOrder(NewOrder(
                clientOrderID: try! ClientOrderID("i\(i)"), market: 1, side: side, timeInForce: .immediateOrCancel,
                price: side == .buy ? mid + 20 * tick : mid - 20 * tick, quantity: quantity)))
        }
        out.append(input)
        guard case .accepted(let detail) = engine.apply(clock.event(input)) else { continue }
        for fill in engine.takeMakerFills() {
            let key = OrderKey(account: fill.account, id: fill.clientOrderID)
            guard let r = remaining[key] else { continue }
            if r.remaining == fill.fill.quantity { forget(key) } else { remaining[key]!.remaining -= fill.fill.quantity }
        }
        guard case .request(let taker, .newOrder) = input, let report = try? OrderReport.decode(detail) else { continue }
        for id in report.selfTradeCancelled { forget(OrderKey(account: taker, id: id)) }
        if let key = resting, report.resting > 0 {
            remaining[key] = (report.resting, live.count)
            live.append(key)
        }
    }
    return out
}

/// The only function callgrind counts (`--toggle-collect='*measuredRun*'`).
///
/// `pending` is the stream in reverse: each input is moved out of it with `removeLast`,
/// as the enclave hands the engine an input it has just decoded and owns. Iterating the
/// array instead copied each `EngineInput` out of it (an outlined enum copy, ~100
/// instructions an event) that the enclave never pays; the release of the input after
/// the event stays counted, as the enclave pays it too.
@inline(never)
func measuredRun(_ engine: inout PerpEngine, clock: inout Clock, pending: consuming [EngineInput]) -> Int {
    var detail = ByteWriter(capacity: 1_024)
    var outputs = 0
    while !pending.isEmpty {
        let e = pending.removeLast()
        detail.truncate(to: 0)
        switch engine.apply(clock.event(e), detail: &detail) {
        case .accepted: outputs &+= detail.count
        case .rejected: outputs &+= 1
        }
        outputs &+= engine.takeMakerFills().count + engine.takeDecisions().count + engine.takeFundingPayments().count
            + engine.takeStatementEntries().count
        engine.drainChangedAccounts { outputs &+= Int($0 & 1) }
    }
    return outputs
}

func price(_ p: Int64, publisher: Int, at t: UInt64) -> EngineInput {
    .oraclePrice(OraclePrice(market: 1, price: p, confidence: 0, publishTime: t, publisher: publishers[publisher], signature: []))
}

/// The oracle-tick suite's venue (Benchmarks/EngineBenchmarks): `n` accounts, each long
/// 0.01 BTC from 60,000, liquidation prices spread from 30,000 to 59,000.
func crowd(_ n: Int) -> (PerpEngine, Clock) {
    var (engine, clock) = (try! PerpEngine(config: venue()), Clock())
    let q = unit / 100
    _ = engine.apply(clock.event(.deposit(Deposit(accountID: 10_000_000, accountKey: [], amount: 1_000_000_000 * usd, depositID: 1, signature: []))))
    for p in 0..<3 { _ = engine.apply(clock.event(price(60_000 * usd, publisher: p, at: clock.now))) }
    _ = engine.apply(clock.event(.request(account: 10_000_000, .newOrder(NewOrder(
        clientOrderID: try! ClientOrderID("mm"), market: 1, side: .sell, price: 60_000 * usd, quantity: q * Int64(n))))))
    for i in 0..<n {
        let id = UInt64(i + 1)
        let l: Int64 = i < n / 100 ? 58_200 : 30_000 + Int64(i % 27_000)
        let deposit = 600 * usd - (97 * l * usd) / 10_000 + 1
        _ = engine.apply(clock.event(.deposit(Deposit(accountID: id, accountKey: [], amount: deposit, depositID: id + 1, signature: []))))
        _ = engine.apply(clock.event(.request(account: id, .newOrder(NewOrder(
            clientOrderID: try! ClientOrderID("b"), market: 1, side: .buy, price: 60_000 * usd, quantity: q)))))
    }
    return (engine, clock)
}

/// `ticks` oracle ticks (three publisher updates each) that reach no liquidation price.
@inline(never)
func measuredTicks(_ engine: inout PerpEngine, clock: inout Clock, ticks: Int) -> Int {
    var p: Int64 = 59_500
    var accepted = 0
    for _ in 0..<ticks {
        p = p == 59_500 ? 59_400 : 59_500
        for pub in 0..<3 {
            if case .accepted = engine.apply(clock.event(price(p * usd, publisher: pub, at: clock.now))) { accepted += 1 }
        }
    }
    return accepted
}

if CommandLine.arguments.count > 2 && CommandLine.arguments[1] == "tick" {
    // engine-instructions tick ACCOUNTS [TICKS]: the oracle-tick case (issue 17's tick
    // cost as the venue grows), for perf stat or callgrind --cache-sim=yes.
    let n = Int(CommandLine.arguments[2])!
    let ticks = CommandLine.arguments.count > 3 ? Int(CommandLine.arguments[3])! : 10_000
    var (engine, clock) = crowd(n)
    // Wall time too, for a quick look (instructions are what callgrind is for); the first
    // tick is timed alone, as it meets a cache the setup left cold.
    let wall = ContinuousClock()
    var first = 0
    let coldTick = wall.measure { first = measuredTicks(&engine, clock: &clock, ticks: 1) }
    var accepted = 0
    let warm = wall.measure { accepted = measuredTicks(&engine, clock: &clock, ticks: ticks) }
    func micros(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
    }
    print("accounts \(n), ticks \(ticks), accepted \(first + accepted), first tick \(micros(coldTick)) µs, "
          + "then \(micros(warm) / Double(max(ticks, 1))) µs per tick")
} else {
    let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 2_000_000
    let events = generate(count: count)
    var (engine, clock) = primedEngine()
    let outputs = measuredRun(&engine, clock: &clock, pending: Array(events.reversed()))
    let resting = engine.restingOrders(market: 1, side: .buy).count + engine.restingOrders(market: 1, side: .sell).count
    print("events \(count), resting at end \(resting), checksum \(outputs)")
}
