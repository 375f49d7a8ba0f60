import Foundation
import Client
import Commitments
import Engine
import SealCrypto
import Testing
import Wire
@testable import EnclaveCore

/// The engine's statement entries through liquidations (docs/COMMITMENTS.md §7.2): a step
/// into the book with its fee, a take-over by the insurance fund, and auto-deleveraging.
/// Every account's entries, through the statement log (which derives the running
/// positions) and read from an empty opening, must satisfy the client's arithmetic check
/// and end at the engine's own balance.
@Suite("Statement entries")
struct StatementEntriesTests {
    static let usd: Int64 = 1_000_000
    static let unit: Int64 = 100_000_000
    static let second: UInt64 = 1_000_000_000
    static let publishers = (1...3).map { [UInt8](repeating: UInt8($0), count: 32) }

    /// BTC (market 1) at 5% initial / 3% maintenance, 0.5% liquidation fee, fees 1 / 5 bps.
    static func venue(insurance: Int64) -> VenueConfig {
        let oracle = OracleConfig(publishers: publishers.map { Hex.encode($0) }, minPublishers: 2, stalenessNanos: 10 * second,
                                  maxConfidenceBps: 50, maxDeviationBps: 1_000, jumpConfirmationNanos: 5 * second)
        return VenueConfig(
            venueID: 1, name: "test", custodyKey: Hex.encode([UInt8](repeating: 9, count: 32)),
            marginTiers: [MarginTier(name: "large-cap", initialBps: 500, maintenanceBps: 300)],
            fees: FeeSchedule(makerBps: 1, takerBps: 5),
            liquidation: LiquidationConfig(partialThreshold: 100_000 * usd, maxCloseBps: 2_500, cooldownNanos: 5 * second,
                                           feeBps: 50, insuranceFund: insurance),
            markets: [MarketConfig(id: 1, symbol: "BTC-PERP", tickSize: usd / 10, stepSize: unit / 10_000, tier: "large-cap",
                                   oracle: oracle, funding: FundingConfig(intervalNanos: 3_600 * second, maxRateBps: 75))])
    }

    struct Run {
        var engine: PerpEngine
        var sequence: UInt64 = 0
        var now: UInt64 = 1_000 * StatementEntriesTests.second
        var log = StatementLog(retain: 10_000)

        /// Publishers of market 1's oracle, as raw keys.
        var publishers = StatementEntriesTests.publishers

        init(insurance: Int64) {
            self.init(config: StatementEntriesTests.venue(insurance: insurance))
        }

        init(config: VenueConfig, now: UInt64 = 1_000 * StatementEntriesTests.second) {
            engine = try! PerpEngine(config: config)
            engine.setRecordsStatements(true)
            publishers = config.markets[0].oracle.publishers.map { Hex.decode($0)! }
            self.now = now
        }

        mutating func apply(_ input: EngineInput) {
            sequence += 1
            now += 1_000
            _ = engine.apply(SequencedEvent(globalSequence: sequence, enclaveTime: now, input: input))
            for e in engine.takeStatementEntries() { log.append(e) }
            log.endEvent()
        }

        /// Each account's entries, with the running balances the log derives.
        var entries: [UInt64: [StatementEntry]] {
            var out: [UInt64: [StatementEntry]] = [:]
            for account in [0, 1, 2, 3] as [UInt64] {
                let page = log.page(account: account, since: 0, offset: 0, head: sequence, budget: 1 << 20, leaf: nil)
                if page.status == .ok, !page.entries.isEmpty { out[account] = page.entries }
            }
            return out
        }

        mutating func deposit(_ account: UInt64, _ usd: Int64) {
            apply(.deposit(Deposit(accountID: account, accountKey: [UInt8](repeating: 1, count: 32),
                                   amount: usd * StatementEntriesTests.usd, depositID: sequence + 1, signature: [])))
        }

        mutating func price(_ usd: Int64) {
            for p in publishers {
                apply(.oraclePrice(OraclePrice(market: 1, price: usd * StatementEntriesTests.usd, confidence: 0, publishTime: now,
                                               publisher: p, signature: [])))
            }
        }

        mutating func order(_ account: UInt64, _ side: Side, _ quantity: Int64, _ usd: Int64, _ id: String) {
            order(account, side, quantity, micros: usd * StatementEntriesTests.usd, id, market: 1)
        }

        mutating func order(_ account: UInt64, _ side: Side, _ quantity: Int64, micros: Int64, _ id: String, market: UInt32) {
            apply(.request(account: account, .newOrder(NewOrder(clientOrderID: try! ClientOrderID(id), market: market, side: side,
                                                                price: micros, quantity: quantity))))
        }

        /// Every account's entries pass the client's order and arithmetic checks and end
        /// at the engine's balance.
        func check() {
            let address = EthereumAddress(hex: "0x" + String(repeating: "11", count: 20))!
            let domain = EIP712Domain(name: "Sealstream", version: "1", chainId: 1, verifyingContract: address)
            for (account, list) in entries {
                let s = Statement(accountID: account, since: 0, head: sequence, openingSequence: 0, opening: .empty,
                                  entries: list, leaf: nil)
                let checks = StatementVerifier.verify(s, accountID: account, signer: address, domain: domain)
                let firstTwo = checks.prefix(2).map { $0.pass }
                #expect(firstTwo == [true, true], "account \(account): \(checks.prefix(2))")
                #expect(list.last?.after == engine.statementBalance(of: account), "account \(account)")
            }
        }
    }

    @Test func aStepIntoTheBookRecordsItsFillAndFee() {
        var r = Run(insurance: 1_000_000 * Self.usd)
        r.deposit(1, 3_500)
        r.deposit(2, 1_000_000)
        r.price(60_000)
        r.order(2, .sell, Self.unit, 60_000, "s")
        r.order(1, .buy, Self.unit, 60_000, "b")
        r.order(2, .buy, 2 * Self.unit, 58_000, "bid")
        r.price(58_000)
        let kinds = r.entries[1]!.map(\.kind)
        #expect(kinds == [.deposit, .takerFill, .liquidation, .liquidationFee], "\(kinds)")
        #expect(r.entries[2]!.map(\.kind) == [.deposit, .makerFill, .makerFill])
        r.check()
    }

    @Test func theFundTakesOverAndADLHitsTheShorts() {
        var fund = Run(insurance: 1_000_000 * Self.usd)
        fund.deposit(1, 3_500)
        fund.deposit(2, 1_000_000)
        fund.price(60_000)
        fund.order(2, .sell, Self.unit, 60_000, "s")
        fund.order(1, .buy, Self.unit, 60_000, "b")
        fund.price(56_000)
        #expect(fund.entries[1]!.map(\.kind) == [.deposit, .takerFill, .liquidation])
        #expect(fund.entries[0] == nil, "the insurance fund keeps no statement")
        fund.check()

        var adl = Run(insurance: 0)
        for (id, usd) in [(1, 3_500), (2, 100_000), (3, 100_000)] as [(UInt64, Int64)] { adl.deposit(id, usd) }
        adl.price(60_000)
        adl.order(2, .sell, Self.unit / 2, 60_000, "s2")
        adl.order(1, .buy, Self.unit / 2, 60_000, "b1")
        adl.price(59_000)
        adl.order(3, .sell, Self.unit / 2, 59_000, "s3")
        adl.order(1, .buy, Self.unit / 2, 59_000, "b2")
        adl.price(55_000)
        #expect(adl.entries[1]!.filter { $0.kind == .liquidation }.count == 2)
        for short in [2, 3] as [UInt64] {
            let last = adl.entries[short]!.last!
            #expect(last.kind == .autoDeleveraged && last.quantity == Self.unit / 2 && last.after.positions.isEmpty)
        }
        adl.check()
    }

    /// An option position cash-settled at expiry (docs/COMMITMENTS.md §7.2 kind 9): the
    /// premium moves as a trade, the settlement closes both sides at the intrinsic value,
    /// and both accounts' statements pass the client's arithmetic and end at the engine's
    /// balance. The venue is docs/CONFIG.md's options example (call 101 on BTC, struck at
    /// 50,000, expiring at 30 days of enclave time).
    @Test func anOptionSettlementClosesThePositionAtItsValue() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/corpus/venue-config/options-example")
        let config = try VenueConfig.parseStrict(try Data(contentsOf: url))
        let expiry = config.options!.markets[0].series.expiry
        var r = Run(config: config, now: expiry - 2 * 86_400 * Self.second)
        r.deposit(1, 100_000)
        r.deposit(2, 100_000)
        r.price(50_000)
        // Two days before expiry (not within its last hours, where the configured smile's
        // volatility passes 16 and the market is unpriced: docs/OPTIONS.md §10.8), at the
        // money: the premium is inside the price band (§10.2).
        let premium = 100 * Self.usd
        let q = Self.unit / 10
        r.order(1, .sell, q, micros: premium, "s", market: 101)
        r.order(2, .buy, q, micros: premium, "b", market: 101)
        #expect(r.entries[2]?.map(\.kind) == [.deposit, .takerFill], "\(String(describing: r.entries[2]))")
        r.now = expiry
        r.price(52_000)
        let settled = try #require(r.entries[2]?.last)
        #expect(settled.kind == .optionSettlement && settled.market == 101 && settled.quantity == q)
        #expect(settled.price == 2_000 * Self.usd && settled.amount == 200 * Self.usd && settled.after.positions.isEmpty)
        let short = try #require(r.entries[1]?.last)
        #expect(short.kind == .optionSettlement && short.quantity == -q && short.amount == -200 * Self.usd)
        r.check()
    }
}
