import Glibc
import Options

// Issue 15's portfolio-margin figure: one oracle tick re-evaluates every exposed option
// portfolio on the ticked underlying. A tick is RiskArrays (every series priced in every
// scenario, once) plus PortfolioMargin.evaluate per portfolio. Reports thread CPU time
// per tick (best and median of the repetitions) over a grid of scenario counts ×
// positions per portfolio, so the scaling shows. Not package-benchmark: a plain
// executable, like DurabilityBench.
//
// Usage: OptionsBench [portfolios=10000] [repetitions=7]

func cpuNanos() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let portfolios = arguments.first ?? 10_000
let repetitions = arguments.dropFirst().first ?? 7
let day: UInt64 = 86_400_000_000_000
let now: UInt64 = 1_000 * day
let mark: Int64 = 65_432_100_000
let expiries = [7, 30, 90].map { now + UInt64($0) * day }
var smiles: [UInt64: SVIParameters] = [:]
for (i, e) in expiries.enumerated() {
    smiles[e] = SVIParameters(nanoUnits: 2_000_000 * Int64(i + 1), b: 60_000_000, rho: -250_000_000, m: 0, sigma: 150_000_000)
}
// 3 expiries × 7 strikes × call/put = 42 series.
let series: [OptionSeries] = expiries.flatMap { e in
    stride(from: 50_000_000_000 as Int64, through: 80_000_000_000, by: 5_000_000_000).flatMap { k in
        [OptionSeries(kind: .call, strike: k, expiry: e), OptionSeries(kind: .put, strike: k, expiry: e)]
    }
}
let state = UnderlyingState(mark: mark, confidence: 20_000_000, now: now, realizedVolatility: Fixed(ratio: 6, 10), smiles: smiles)

func config(buckets: Int) -> MarginConfig {
    MarginConfig(
        priceBuckets: buckets, minScanBps: 300, maxScanBps: 3_000, scanDeviationsMilli: 4_000, horizonNanos: day,
        volUpBps: 3_000, volDownBps: 2_000, extremeMultiple: 3, extremeCoverBps: 3_300,
        shortOptionMinimumBps: 100, initialRatioBps: 15_000)
}

/// Seeded portfolios: `positions` distinct instruments each (perpetual included), sizes ±0.01…10 units.
func makePortfolios(_ positions: Int) -> [[MarginPosition]] {
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
    return (0..<portfolios).map { _ in
        var chosen = Set<Int>()
        while chosen.count < positions { chosen.insert(Int(next() % UInt64(series.count + 1))) }
        return chosen.sorted().map { MarginPosition(instrument: $0, size: (Int64(next() % 1_000) + 1) * 1_000_000 * (next() % 2 == 0 ? 1 : -1)) }
    }
}

// Not inlined, so callgrind can count each alone (`--toggle-collect='*measuredArrays*'`,
// `'*measuredEvaluations*'`).
@inline(never)
func measuredArrays(_ state: UnderlyingState, _ series: [OptionSeries], _ c: MarginConfig) throws -> RiskArrays {
    try RiskArrays(state: state, series: series, config: c)
}

@inline(never)
func measuredEvaluations(_ books: [[MarginPosition]], arrays: RiskArrays, config c: MarginConfig) throws -> Int128 {
    var sum: Int128 = 0
    for book in books { sum &+= try PortfolioMargin.evaluate(book, arrays: arrays, config: c).maintenance }
    return sum
}

func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

print("OptionsBench: \(portfolios) portfolios per tick, \(series.count) series, \(repetitions) repetitions; thread CPU time")
print("buckets  scenarios  positions  arrays ms (best/median)  portfolios ms (best/median)  tick ms (median)  ns per position×scenario")
var sink: Int128 = 0
for buckets in [4, 8, 16] {
    let c = config(buckets: buckets)
    for positions in [2, 4, 8] {
        let books = makePortfolios(positions)
        var arrayTimes: [Double] = []
        var evalTimes: [Double] = []
        for _ in 0..<repetitions {
            let t0 = cpuNanos()
            let arrays = try measuredArrays(state, series, c)
            let t1 = cpuNanos()
            sink &+= try measuredEvaluations(books, arrays: arrays, config: c)
            let t2 = cpuNanos()
            arrayTimes.append(Double(t1 - t0) / 1e6)
            evalTimes.append(Double(t2 - t1) / 1e6)
        }
        let scenarios = c.scenarioCount
        let perCell = median(evalTimes) * 1e6 / Double(portfolios * positions * scenarios)
        let arrayCell: String = fmt(arrayTimes.min()!) + " / " + fmt(median(arrayTimes))
        let evalCell: String = fmt(evalTimes.min()!) + " / " + fmt(median(evalTimes))
        let tick: String = fmt(median(arrayTimes) + median(evalTimes))
        let line: [String] = [
            pad(String(buckets), 9), pad(String(scenarios), 11), pad(String(positions), 11),
            pad(arrayCell, 25), pad(evalCell, 29), pad(tick, 18), fmt(perCell),
        ]
        print(line.joined())
    }
}
if sink == 42 { print("") }
print("Target (issue 15): re-evaluating 10k exposed option portfolios per tick <= 5 ms on one core.")

// A margin call's evaluation (docs/OPTIONS.md §10.10) adds, per portfolio, its Greeks and
// the §7.8 probability to the health the engine computes anyway; the buffer here is half
// the portfolio's maintenance, so every probability takes the Φ path (none is 0 or 1).
print("")
print("margin-call evaluation per portfolio (Greeks + probability), \(portfolios) portfolios, 8 buckets")
print("positions  ms per tick (best/median)  ns per portfolio (median)  ns without Φ (z only, median)")
for positions in [2, 4, 8] {
    let c = config(buckets: 8)
    let books = makePortfolios(positions)
    let arrays = try RiskArrays(state: state, series: series, config: c)
    let buffers = try books.map { try PortfolioMargin.evaluate($0, arrays: arrays, config: c).maintenance / 2 + 1 }
    var times: [Double] = []
    var zTimes: [Double] = []
    for _ in 0..<repetitions {
        let t0 = cpuNanos()
        for (book, buffer) in zip(books, buffers) {
            let g = try PortfolioMargin.greeks(book, arrays: arrays)
            sink &+= try MarginCall.probability(buffer: buffer, netDelta: g.delta, mark: mark, volatility: Fixed(ratio: 6, 10),
                                                horizonNanos: day).raw
        }
        let t1 = cpuNanos()
        // What an evaluation costs when z is past the engine's skip threshold (§10.10 "Cost").
        for (book, buffer) in zip(books, buffers) {
            let g = try PortfolioMargin.greeks(book, arrays: arrays)
            if case .deviations(let z) = try MarginCall.stage(buffer: buffer, netDelta: g.delta, mark: mark,
                                                              volatility: Fixed(ratio: 6, 10), horizonNanos: day) {
                sink &+= z.raw
            }
        }
        times.append(Double(t1 - t0) / 1e6)
        zTimes.append(Double(cpuNanos() - t1) / 1e6)
    }
    let perPortfolio = median(times) * 1e6 / Double(portfolios)
    let zOnly = median(zTimes) * 1e6 / Double(portfolios)
    print(pad(String(positions), 11) + pad(fmt(times.min()!) + " / " + fmt(median(times)), 27) + pad(fmt(perPortfolio), 27)
          + fmt(zOnly))
}
if sink == 43 { print("") }

/// Two decimals, no Foundation.
func fmt(_ v: Double) -> String {
    let hundredths = Int((v * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
}

func pad(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
