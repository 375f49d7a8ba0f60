@testable import Engine
import Wire

/// A venue for engine tests: BTC (large-cap 5%/3%) and ETH (mid-cap 10%/5%), three
/// publishers each of which two must agree, 10 s staleness, 0.5% confidence, 10% deviation.
enum Fixture {
    static let publishers = (1...3).map { i in [UInt8](repeating: UInt8(i), count: 32) }
    static let btc: UInt32 = 1
    static let eth: UInt32 = 2
    /// One whole base unit in quantity units.
    static let unit: Int64 = 100_000_000
    /// One quote unit (USD) in price units.
    static let usd: Int64 = 1_000_000
    static let second: UInt64 = 1_000_000_000

    static func venue(insurance: Int64 = 1_000_000 * 1_000_000, makerBps: Int64 = 0, takerBps: Int64 = 0) -> VenueConfig {
        let oracle = OracleConfig(publishers: publishers.map { Hex.encode($0) }, minPublishers: 2,
                                  stalenessNanos: 10 * second, maxConfidenceBps: 50, maxDeviationBps: 1_000,
                                  jumpConfirmationNanos: 5 * second)
        let funding = FundingConfig(intervalNanos: 3_600 * second, maxRateBps: 75)
        return VenueConfig(
            venueID: 1, name: "test", custodyKey: Hex.encode([UInt8](repeating: 9, count: 32)),
            marginTiers: [MarginTier(name: "large-cap", initialBps: 500, maintenanceBps: 300),
                          MarginTier(name: "mid-cap", initialBps: 1_000, maintenanceBps: 500)],
            fees: FeeSchedule(makerBps: makerBps, takerBps: takerBps),
            liquidation: LiquidationConfig(partialThreshold: 100_000 * usd, maxCloseBps: 2_500, cooldownNanos: 5 * second,
                                           feeBps: 50, insuranceFund: insurance),
            markets: [
                MarketConfig(id: btc, symbol: "BTC-PERP", tickSize: usd / 10, stepSize: unit / 10_000, tier: "large-cap",
                             oracle: oracle, funding: funding),
                MarketConfig(id: eth, symbol: "ETH-PERP", tickSize: usd / 100, stepSize: unit / 1_000, tier: "mid-cap",
                             oracle: oracle, funding: funding),
            ])
    }
}

/// Drives a `PerpEngine` with sequenced events, numbering and stamping them.
struct Driver {
    var engine: PerpEngine
    var sequence: UInt64 = 0
    var now: UInt64 = 1_000 * Fixture.second
    var depositID: UInt64 = 0

    init(_ config: VenueConfig = Fixture.venue()) {
        engine = try! PerpEngine(config: config)
    }

    @discardableResult
    mutating func apply(_ input: EngineInput, advance: UInt64 = 1_000) -> EngineOutcome {
        sequence += 1
        now += advance
        return engine.apply(SequencedEvent(globalSequence: sequence, enclaveTime: now, input: input))
    }

    mutating func deposit(_ account: UInt64, _ usd: Int64) {
        depositID += 1
        apply(.deposit(Deposit(accountID: account, accountKey: [UInt8](repeating: 1, count: 32), amount: usd * Fixture.usd,
                               depositID: depositID, signature: [])))
    }

    /// All three publishers at `price` (micro-USD, as the oracle message carries it) unless told otherwise.
    mutating func price(_ market: UInt32, _ price: Int64, publishers: [Int] = [0, 1, 2], confidence: UInt64 = 0, publishTime: UInt64? = nil) {
        for p in publishers {
            apply(.oraclePrice(OraclePrice(market: market, price: price, confidence: confidence, publishTime: publishTime ?? now,
                                           publisher: Fixture.publishers[p], signature: [])))
        }
    }

    @discardableResult
    mutating func order(
        _ account: UInt64, _ side: Side, _ market: UInt32, quantity: Int64, price: Int64, id: String,
        type: OrderType = .limit, tif: TimeInForce = .goodTillCancel, reduceOnly: Bool = false
    ) -> EngineOutcome {
        apply(.request(account: account, .newOrder(NewOrder(
            clientOrderID: try! ClientOrderID(id), market: market, side: side, type: type, timeInForce: tif,
            reduceOnly: reduceOnly, price: price, quantity: quantity))))
    }

    @discardableResult
    mutating func cancel(_ account: UInt64, _ id: String) -> EngineOutcome {
        apply(.request(account: account, .cancel(try! ClientOrderID(id))))
    }
}

extension EngineOutcome {
    var report: OrderReport? {
        if case .accepted(let detail) = self, !detail.isEmpty { return try? OrderReport.decode(detail) }
        return nil
    }

    var rejection: RejectReason? {
        if case .rejected(let r) = self { return r }
        return nil
    }
}
