import Engine
import Glibc
import Wire

// Issue 15's tick figure through the engine: a venue with `accounts` accounts on BTC-PERP,
// `exposed` of them holding options (42 series) and the perpetual on BTC, the rest the
// perpetual alone. One oracle tick (one publisher's update that moves the median mark)
// is timed in thread CPU time through `PerpEngine.apply`, with the outputs the enclave
// drains after each event; also one event that is not a tick (a deposit to a
// perpetual-only account), because every account holding options is checked at every
// priced event (docs/OPTIONS.md §10.3). Grid: price buckets (scenarios) × positions per
// exposed portfolio (the perpetual and positions − 1 options), margin calls off and on.
// Not package-benchmark: a plain executable, like OptionsBench.
//
// Usage: OptionsTickBench [accounts=100000] [exposed=10000] [repetitions=7] [buckets...]
//   OPTIONS_TICK_CALLS=off|on and OPTIONS_TICK_POSITIONS=2,4,8 narrow the grid. Under
//   `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measuredOracleEvent*'` only
//   the timed ticks are counted (the setup is not).

let usd: Int64 = 1_000_000
let unit: Int64 = 100_000_000
let second: UInt64 = 1_000_000_000
let day: UInt64 = 86_400 * second
let btc: UInt32 = 1
let house: UInt64 = 1
let publishers = (1...3).map { [UInt8](repeating: UInt8($0), count: 32) }
let start: UInt64 = 1_000 * second
let expiries = [7, 30, 90].map { start + UInt64($0) * day }
let strikes: [Int64] = (0...6).map { (50_000 + 5_000 * Int64($0)) * usd }

func cpuNanos() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

func venue(buckets: Int64, marginCalls: Bool) -> VenueConfig {
    let oracle = OracleConfig(publishers: publishers.map { Hex.encode($0) }, minPublishers: 2, stalenessNanos: 3_600 * second,
                              maxConfidenceBps: 50, maxDeviationBps: 5_000, jumpConfirmationNanos: 5 * second)
    var v = VenueConfig(
        venueID: 1, name: "bench", custodyKey: Hex.encode([UInt8](repeating: 9, count: 32)),
        marginTiers: [MarginTier(name: "large-cap", initialBps: 500, maintenanceBps: 300)],
        fees: FeeSchedule(makerBps: 0, takerBps: 0),
        liquidation: LiquidationConfig(partialThreshold: 1_000_000 * usd, maxCloseBps: 2_500, cooldownNanos: 5 * second,
                                       feeBps: 50, insuranceFund: 1_000_000_000 * usd),
        markets: [MarketConfig(id: btc, symbol: "BTC-PERP", tickSize: usd / 10, stepSize: unit / 10_000, tier: "large-cap",
                               oracle: oracle, funding: FundingConfig(intervalNanos: 3_600 * second, maxRateBps: 75))])
    let margin = PortfolioMarginConfig(
        priceBuckets: buckets, minScanBps: 300, maxScanBps: 3_000, scanDeviationsMilli: 4_000, horizonNanos: day,
        volUpBps: 3_000, volDownBps: 2_000, extremeMultiple: 3, extremeCoverBps: 3_300, shortOptionMinimumBps: 100,
        initialRatioBps: 15_000)
    let vol = RealizedVolatilityConfig(halfLifeNanos: 3_600 * second, minIntervalNanos: second, initialVolatilityPpm: 600_000)
    let smiles = expiries.enumerated().map { i, e in
        SmileConfig(expiry: e, a: 2_000_000 * Int64(i + 1), b: 60_000_000, rho: -250_000_000, m: 0, sigma: 150_000_000)
    }
    var markets: [OptionMarketConfig] = []
    for e in expiries {
        for k in strikes {
            for kind in [OptionMarketConfig.Kind.call, .put] {
                markets.append(OptionMarketConfig(
                    id: 101 + UInt32(markets.count), symbol: "O\(markets.count)", underlying: btc, kind: kind, strike: k,
                    expiry: e, contractSize: unit / 100, tickSize: usd / 10))
            }
        }
    }
    v.options = OptionsConfig(
        underlyings: [OptionUnderlyingConfig(market: btc, margin: margin, realizedVolatility: vol, smiles: smiles)],
        markets: markets,
        marginCall: marginCalls ? MarginCallConfig(levelPpm: 20_000, hysteresisPpm: 5_000, horizonNanos: day, repeatNanos: 0) : nil)
    return v
}

struct Bench {
    var engine: PerpEngine
    var sequence: UInt64 = 0
    var now: UInt64 = start
    var detail = ByteWriter(capacity: 1_024)
    var outputs = 0
    var rejected = 0
    var orderID = 0

    mutating func apply(_ input: EngineInput) {
        sequence += 1
        now += 1_000
        detail.truncate(to: 0)
        if case .rejected = engine.apply(SequencedEvent(globalSequence: sequence, enclaveTime: now, input: input), detail: &detail) {
            rejected += 1
        }
        outputs &+= engine.takeMakerFills().count &+ engine.takeDecisions().count &+ engine.takeFundingPayments().count
        outputs &+= engine.takeMarginCalls().count
        engine.drainChangedAccounts { outputs &+= Int($0 & 1) }
    }

    mutating func order(_ account: UInt64, _ market: UInt32, _ side: Side, price: Int64, quantity: Int64, ioc: Bool = false) {
        orderID += 1
        apply(.request(account: account, .newOrder(NewOrder(
            clientOrderID: try! ClientOrderID("o\(orderID)"), market: market, side: side,
            timeInForce: ioc ? .immediateOrCancel : .goodTillCancel, price: price, quantity: quantity))))
    }

    mutating func price(_ p: Int64, publisher: Int) {
        apply(.oraclePrice(OraclePrice(market: btc, price: p, confidence: 0, publishTime: now, publisher: publishers[publisher],
                                       signature: [])))
    }

    mutating func mark(_ market: UInt32) -> Int64 {
        guard case .success(let m) = engine.mark(market, at: now) else { fatalError("market \(market) unpriced") }
        return m
    }
}

/// Builds the venue: every account rests its orders (bids below the mark, asks above),
/// then the house sweeps each book with one IOC per side, so positions open in a few
/// events rather than one per account (each event checks every option holder).
func build(accounts: Int, exposed: Int, positions: Int, buckets: Int64, marginCalls: Bool) -> Bench {
    var b = Bench(engine: try! PerpEngine(config: venue(buckets: buckets, marginCalls: marginCalls)))
    for p in 0..<3 { b.price(65_432_100_000, publisher: p) }
    b.apply(.deposit(Deposit(accountID: house, accountKey: [], amount: 1_000_000_000_000 * usd, depositID: 1, signature: [])))
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
    let series = expiries.count * strikes.count * 2
    var resting: [UInt32: (bid: Int64, ask: Int64, bids: Int64, asks: Int64)] = [:]
    func rest(_ account: UInt64, _ market: UInt32, lot: Int64, tick: Int64) {
        if resting[market] == nil {
            let m = b.mark(market) / tick * tick
            resting[market] = (max(tick, m - 100 * tick), m + 100 * tick, 0, 0)
        }
        let q = lot * Int64(next() % 10 + 1)
        if next() % 2 == 0 {
            b.order(account, market, .buy, price: resting[market]!.bid, quantity: q)
            resting[market]!.bids += q
        } else {
            b.order(account, market, .sell, price: resting[market]!.ask, quantity: q)
            resting[market]!.asks += q
        }
    }
    for i in 0..<accounts {
        let id = UInt64(i + 2)
        b.apply(.deposit(Deposit(accountID: id, accountKey: [], amount: 1_000_000 * usd, depositID: id, signature: [])))
        rest(id, btc, lot: unit / 100, tick: usd / 10)
        guard i < exposed else { continue }
        var chosen = Set<Int>()
        while chosen.count < positions - 1 { chosen.insert(Int(next() % UInt64(series))) }
        for k in chosen.sorted() { rest(id, 101 + UInt32(k), lot: unit / 100, tick: usd / 10) }
    }
    for (market, r) in resting.sorted(by: { $0.key < $1.key }) {
        if r.bids > 0 { b.order(house, market, .sell, price: r.bid, quantity: r.bids, ioc: true) }
        if r.asks > 0 { b.order(house, market, .buy, price: r.ask, quantity: r.asks, ioc: true) }
    }
    precondition(b.rejected == 0, "setup: \(b.rejected) events rejected")
    return b
}

/// One timed tick (not inlined, so callgrind can count it alone).
@inline(never)
func measuredOracleEvent(_ b: inout Bench, price: Int64, publisher: Int) {
    b.price(price, publisher: publisher)
}

func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
func fmt(_ x: Double) -> String {
    let s = String(Int((x * 100).rounded()))
    let padded = s.count < 3 ? String(repeating: "0", count: 3 - s.count) + s : s
    return String(padded.dropLast(2)) + "." + String(padded.suffix(2))
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let accounts = arguments.first ?? 100_000
let exposed = min(arguments.dropFirst().first ?? 10_000, accounts)
let repetitions = arguments.dropFirst(2).first ?? 7
let bucketGrid = arguments.count > 3 ? arguments.dropFirst(3).map { Int64($0) } : [4, 8, 16]
print("OptionsTickBench: \(accounts) accounts, \(exposed) holding options and the perpetual on the ticked underlying "
    + "(42 series), the rest the perpetual alone; \(repetitions) repetitions; thread CPU time per event, median")
print("margin calls  buckets  scenarios  positions  tick ms  µs per exposed portfolio  other event ms  setup s")
let callsGrid = environment("OPTIONS_TICK_CALLS").map { [$0 == "on"] } ?? [false, true]
let positionsGrid = environment("OPTIONS_TICK_POSITIONS").map { $0.split(separator: ",").compactMap { Int($0) } } ?? [2, 4, 8]
for marginCalls in callsGrid {
    for buckets in bucketGrid {
        for positions in positionsGrid {
            let t0 = cpuNanos()
            var b = build(accounts: accounts, exposed: exposed, positions: positions, buckets: buckets, marginCalls: marginCalls)
            let setup = Double(cpuNanos() - t0) / 1e9
            // Each tick updates the publisher with the lowest price to a new high, so the
            // median (the mark) moves at every tick, by a few dollars: no liquidation.
            var prices: [Int64] = [65_432_100_000, 65_432_100_000, 65_432_100_000]
            var ticks: [Double] = []
            var others: [Double] = []
            for r in 0..<(repetitions + 2) {
                let p = prices.indices.min { prices[$0] < prices[$1] }!
                prices[p] = prices.max()! + 1_000_000
                let t1 = cpuNanos()
                measuredOracleEvent(&b, price: prices[p], publisher: p)
                let t2 = cpuNanos()
                b.apply(.deposit(Deposit(accountID: UInt64(accounts + 1), accountKey: [], amount: usd,
                                         depositID: UInt64(1_000_000 + r), signature: [])))
                let t3 = cpuNanos()
                if r >= 2 {
                    ticks.append(Double(t2 - t1) / 1e6)
                    others.append(Double(t3 - t2) / 1e6)
                }
            }
            precondition(b.rejected == 0, "\(b.rejected) events rejected")
            let scenarios = (2 * Int(buckets) + 1) * 3 + 2
            let perPortfolio = median(ticks) * 1_000 / Double(max(exposed, 1))
            print("\(marginCalls ? "on " : "off")           \(buckets)        \(scenarios)         \(positions)          "
                + "\(fmt(median(ticks)))    \(fmt(perPortfolio))                      \(fmt(median(others)))          \(fmt(setup))")
            if b.outputs == -1 { print("") }
        }
    }
}
