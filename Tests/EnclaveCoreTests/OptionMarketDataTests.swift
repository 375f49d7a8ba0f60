import Client
import Commitments
import Engine
import Foundation
import Options
import OutputVerification
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// A worker on the demo venue with a call (101, strike 50,000) and a put (102, strike
/// 65,000) on BTC (market 1), both expiring at `expiry`; a maker rests an ask on the call
/// at its mark and a taker lifts part of it, each step its own batch.
final class OptionRun {
    static let usd: Int64 = 1_000_000
    static let call: UInt32 = 101
    static let put: UInt32 = 102
    /// 30 days of enclave time, a whole second.
    static let expiry: UInt64 = 2_592_000_000_000_000

    static func venue(_ policy: MarketDataConfig = MarketDataConfig(), expiry: UInt64 = OptionRun.expiry) -> VenueConfig {
        var venue = DemoKeys.venue()
        venue.marketData = policy
        let margin = PortfolioMarginConfig(
            priceBuckets: 8, minScanBps: 500, maxScanBps: 3_000, scanDeviationsMilli: 4_000, horizonNanos: 86_400_000_000_000,
            volUpBps: 5_000, volDownBps: 3_000, extremeMultiple: 3, extremeCoverBps: 3_300, shortOptionMinimumBps: 100,
            initialRatioBps: 13_000)
        venue.options = OptionsConfig(
            underlyings: [OptionUnderlyingConfig(
                market: 1, margin: margin,
                realizedVolatility: RealizedVolatilityConfig(halfLifeNanos: 3_600_000_000_000, minIntervalNanos: 1_000_000_000,
                                                             initialVolatilityPpm: 600_000),
                smiles: [SmileConfig(expiry: expiry, a: 20_000_000, b: 100_000_000, rho: -300_000_000, m: 0, sigma: 100_000_000)])],
            markets: [
                OptionMarketConfig(id: call, symbol: "BTC-C-50000", underlying: 1, kind: .call, strike: 50_000 * usd,
                                   expiry: expiry, contractSize: 1_000_000, tickSize: 100_000),
                OptionMarketConfig(id: put, symbol: "BTC-P-65000", underlying: 1, kind: .put, strike: 65_000 * usd,
                                   expiry: expiry, contractSize: 1_000_000, tickSize: 100_000),
            ])
        return venue
    }

    let h: Harness<PerpEngine>
    var marketData: [UInt8] = []
    var batches: [UInt8] = []
    var funding: [UInt8] = []
    var events: [UInt8] = []
    /// `inputs.jsonl` and `decisions.jsonl`, for the checks of the public inputs and marks.
    var inputs: [UInt8] = []
    var decisions: [UInt8] = []
    var closed: [ClosedBatch] = []
    /// The call's premium the orders used: its mark at the trade, rounded down to the tick.
    var premium: Int64 = 0

    init(venue: VenueConfig = OptionRun.venue()) throws {
        h = try Harness<PerpEngine>(venue: venue) {
            try PerpEngine(config: $0, accountCommitment: { id in withUnsafeBytes(of: id) { SHA256.hash($0) } })
        }
        _ = try h.deposit(account: 1, name: "maker", amount: 10_000_000 * Self.usd)
        _ = try h.deposit(account: 2, name: "taker", amount: 10_000_000 * Self.usd)
        try publish(60_000 * Self.usd)
        cut()  // batch 0: deposits and the first prices

        var engine = h.worker.engine
        guard case .success(let mark) = engine.mark(Self.call, at: h.now) else { throw NoOptionMark() }
        premium = mark / 100_000 * 100_000
        let maker = try h.openSession(account: 1, name: "maker")
        try order(maker, NewOrder(clientOrderID: try ClientOrderID("ask"), market: Self.call, side: .sell, price: premium,
                                  quantity: 10_000_000))
        let taker = try h.openSession(account: 2, name: "taker")
        try order(taker, NewOrder(clientOrderID: try ClientOrderID("lift"), market: Self.call, side: .buy, price: premium,
                                  quantity: 4_000_000))
        cut()  // batch 1: the trade
    }

    func publish(_ price: Int64) throws {
        for p in DemoKeys.publisherNames {
            let reply = try h.send(DemoKeys.price(market: 1, price: price, confidence: 0, publishTime: h.now, publisher: p).encode())
            #expect(reply.type == .publicAck)
        }
    }

    func order(_ session: EnclaveSession, _ order: NewOrder) throws {
        let receipt = try h.receipt(try h.send(try session.seal(.newOrder(order)).frame), session: session)
        #expect(receipt.status == .accepted, "\(order.clientOrderID) refused: \(receipt)")
    }

    func cut() {
        guard let b = h.worker.closeBatchIfDue(force: true) else { return }
        closed.append(b)
        marketData += b.marketDataLines
        batches += b.headerLine
        funding += b.fundingLines
        events += b.eventLeaves
        inputs += b.inputLines
        decisions += b.decisionLines
    }

    var records: [(record: MarketDataRecord, line: ArraySlice<UInt8>)] {
        marketData.split(separator: 0x0a).map { (try! MarketDataRecord(jsonLine: $0), $0) }
    }

    var verifier: OutputVerifier {
        OutputVerifier(
            signer: h.worker.identity.signer.address,
            domain: EIP712Domain(name: "Sealstream", version: "1", chainId: h.venue.commitments.chainId,
                                 verifyingContract: EthereumAddress(hex: h.venue.commitments.verifyingContract)!),
            venueID: h.venue.venueID)
    }

    func verify(marketData: [UInt8]? = nil) -> [String: Verdict] {
        let verdicts = verifier.verify(batches: batches, decisions: [], eventsLog: events, marketData: marketData ?? self.marketData)
        return Dictionary(uniqueKeysWithValues: verdicts.map { ($0.check, $0) })
    }

    /// Every check, the public inputs and marks (COMMITMENTS §5.3) included, with the venue.
    func verifyAll(inputs: [UInt8]? = nil, decisions: [UInt8]? = nil, marketData: [UInt8]? = nil) -> [String: Verdict] {
        let verdicts = verifier.verify(batches: batches, decisions: decisions ?? self.decisions, eventsLog: events,
                                       inputs: inputs ?? self.inputs, config: h.venue, funding: funding,
                                       marketData: marketData ?? self.marketData)
        return Dictionary(uniqueKeysWithValues: verdicts.map { ($0.check, $0) })
    }
}

struct NoOptionMark: Error {}

@Suite("Option markets in the public market data")
struct OptionMarketDataTests {
    @Test func anOptionLineCarriesItsDepthTradesAndTheEngineOptionMark() throws {
        let run = try OptionRun()
        let records = run.records
        // Perpetuals 1…4 and options 101, 102 per batch, ascending id.
        #expect(records.map(\.record.market) == [1, 2, 3, 4, 101, 102, 1, 2, 3, 4, 101, 102])
        let call = try #require(records.last { $0.record.market == OptionRun.call }).record
        #expect(call.batchIndex == 1 && call.marketSequence == 2)
        #expect(call.trades.map { [$0.price, $0.size] } == [[run.premium, 4_000_000]] && call.trades[0].aggressor == "buy")
        #expect(call.asks == [[run.premium, 6_000_000]] && call.bids.isEmpty)
        #expect(call.openInterest == 4_000_000)
        var engine = run.h.worker.engine
        guard case .success(let mark) = engine.mark(OptionRun.call, at: run.closed[1].header.enclaveTime) else {
            Issue.record("no option mark")
            return
        }
        #expect(call.markPrice == mark && mark > 10_000 * OptionRun.usd && !call.halted && call.priceInvalidity == 0)
        // Its volatility and Greeks (MARKETDATA §2.1 `greeks`), from the Options module at the
        // close's whole second: a long of one whole unit, each value rounded down once.
        let close = run.closed[1].header.enclaveTime
        let f = 60_000 * OptionRun.usd, k = 50_000 * OptionRun.usd
        let t = Black76.yearFraction(now: close - close % 1_000_000_000, expiry: OptionRun.expiry)
        let smile = SVIParameters(nanoUnits: 20_000_000, b: 100_000_000, rho: -300_000_000, m: 0, sigma: 100_000_000)
        let sigma = try smile.volatility(forward: f, strike: k, time: t)
        let g = try Black76.evaluate(.call, forward: f, strike: k, volatility: sigma, time: t)
        func scaled(_ x: Fixed, _ n: Int128) -> Int64 { Int64(Wide.mulDiv(x.raw, n, Int128(1) << 64)) }
        let initial = Fixed(ratio: 600_000, 1_000_000)
        let greeks = MarketDataRecord.Greeks(
            delta: scaled(g.delta, 100_000_000), gamma: scaled(g.gamma, 100_000_000),
            impliedVolatilityPpm: scaled(sigma, 1_000_000),
            realizedVolatilityPpm: scaled(FixedFunctions.sqrt(initial * initial), 1_000_000), theta: scaled(g.theta, 1),
            vega: scaled(g.vega, 1))
        #expect(greeks.delta > 50_000_000 && greeks.delta < 100_000_000 && greeks.theta < 0 && greeks.vega > 0)
        #expect(greeks.impliedVolatilityPpm > 100_000 && abs(greeks.realizedVolatilityPpm - 600_000) <= 1)
        #expect(call.option == MarketDataRecord.Option(
            contractSize: 1_000_000, expiry: OptionRun.expiry, kind: "call", settled: false, strike: 50_000 * OptionRun.usd,
            underlying: 1, underlyingMark: 60_000 * OptionRun.usd, greeks: greeks))
        #expect(call.oracle.isEmpty && call.fundingRateBps == 0 && call.nextFundingTime == 0)
        let put = try #require(records.last { $0.record.market == OptionRun.put }).record
        #expect(put.option?.kind == "put" && put.markPrice > 5_000 * OptionRun.usd && put.trades.isEmpty && put.openInterest == 0)
        // Perpetuals' lines have no option member; the underlying's mark is the option's F.
        for r in records where r.record.market < 100 {
            #expect(r.record.option == nil && !String(decoding: r.line, as: UTF8.self).contains(#""option""#))
        }
        let btc = try #require(records.last { $0.record.market == 1 }).record
        #expect(btc.markPrice == call.option?.underlyingMark)
        #expect(failing(run.verify()).isEmpty, "\(run.verify().values.filter { !$0.pass })")
    }

    @Test func forgedOptionLinesFailVerification() throws {
        let run = try OptionRun()
        let text = String(decoding: run.marketData, as: UTF8.self)
        let callLine = try #require(records(text).firstIndex { $0.contains(#""market":101"#) })
        // A changed premium breaks the root only; a funding rate or a bad series on an option line does not read.
        let premium = tamper(run.marketData, line: callLine) { $0["markPrice"] = ($0["markPrice"] as! Int) + 1 }
        #expect(failing(run.verify(marketData: premium)) == ["marketdata.root"])
        let funded = tamper(run.marketData, line: callLine) { $0["fundingRateBps"] = 1 }
        #expect(failing(run.verify(marketData: funded)) == ["marketdata.parse", "marketdata.batch", "marketdata.root"])
        let series = tamper(run.marketData, line: callLine) { $0["option"] = ["kind": "call"] }
        #expect(failing(run.verify(marketData: series)) == ["marketdata.parse", "marketdata.batch", "marketdata.root"])
        // The strict reader names the path.
        let line = Array(records(text)[callLine].utf8)
        let oracle = String(decoding: line, as: UTF8.self).replacingOccurrences(
            of: #""oracle":[]"#, with: #""oracle":[{"confidence":0,"price":1,"publishTime":1,"publisher":0}]"#)
        #expect(throws: RecordError.mismatch(path: "$.oracle")) { try MarketDataRecord(jsonLine: Array(oracle.utf8)) }
        let kind = String(decoding: line, as: UTF8.self).replacingOccurrences(of: #""kind":"call""#, with: #""kind":"future""#)
        #expect(throws: RecordError.outOfRange(path: "$.option.kind")) { try MarketDataRecord(jsonLine: Array(kind.utf8)) }
    }

    func records(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    @Test func thePoliciesApplyToOptionMarkets() throws {
        let dark = try OptionRun(venue: OptionRun.venue(MarketDataConfig(policy: .tradesOnly)))
        let call = try #require(dark.records.last { $0.record.market == OptionRun.call }).record
        #expect(call.asks.isEmpty && call.bids.isEmpty && call.trades.count == 1 && call.policy == "trades-only")
        #expect(failing(dark.verify()).isEmpty)

        let rounded = try OptionRun(venue: OptionRun.venue(MarketDataConfig(sizeRounding: 5_000_000)))
        let r = try #require(rounded.records.last { $0.record.market == OptionRun.call }).record
        #expect(r.asks == [[rounded.premium, 5_000_000]] && r.trades[0].size == 5_000_000 && r.openInterest == 0)

        let delayed = try OptionRun(venue: OptionRun.venue(MarketDataConfig(policy: .delayed, delayNanos: 500_000_000)))
        #expect(delayed.records.isEmpty, "both batches close within 500 ms")
        let committer = try #require(delayed.h.worker.committer)
        #expect(committer.marketData.pending.count == 12)
        #expect(committer.marketData.pending.filter { $0.option != nil }.map(\.market) == [101, 102, 101, 102])
        // The queue, option series included, survives a committer snapshot byte for byte.
        let bytes = committer.snapshot()
        let restored = try bytes.withUnsafeBytes { raw in
            var r = SnapshotReader(ByteReader(raw))
            return try BatchCommitter(snapshot: &r, config: delayed.h.venue)
        }
        #expect(restored.snapshot() == bytes && restored.marketData.pending == committer.marketData.pending)
        delayed.h.now += 1_000_000_000
        try delayed.publish(61_000 * OptionRun.usd)
        delayed.cut()
        let released = delayed.records.map(\.record)
        #expect(released.count == 12 && released.allSatisfy { $0.batchIndex == 2 })
        #expect(released.filter { $0.market == OptionRun.call }.map { $0.trades.count } == [0, 1])
        #expect(failing(delayed.verify()).isEmpty)
    }

    @Test func optionsAreHaltedWithTheirUnderlying() throws {
        let h = try Harness<PerpEngine>(venue: OptionRun.venue()) { try PerpEngine(config: $0) }
        _ = try h.deposit(account: 1, name: "maker")
        let b = try #require(h.worker.closeBatchIfDue(force: true))
        let lines = b.marketDataLines.split(separator: 0x0a).map { try! MarketDataRecord(jsonLine: $0) }
        let call = try #require(lines.first { $0.market == OptionRun.call })
        #expect(call.halted && call.markPrice == 0 && call.priceInvalidity == PriceInvalidity.noPrice.rawValue)
        #expect(call.option?.underlyingMark == 0)
    }

    /// docs/MARKETDATA.md §2.2: the settlement at expiry is on the option line of the
    /// batch whose event settled it, with the totals the engine moved, and survives a
    /// committer snapshot taken between the settlement and the batch close.
    @Test func aSettlementIsPublishedOnTheLineOfItsBatch() throws {
        // Two hours: close enough to expiry, the configured smile still prices (OPTIONS §10.8).
        let expiry: UInt64 = 7_200_000_000_000
        let run = try OptionRun(venue: OptionRun.venue(expiry: expiry))
        let fundBefore = run.h.worker.engine.insuranceFund
        run.h.now = expiry + 1_000_000_000
        try run.publish(61_000 * OptionRun.usd)
        // Settled during the price events, before the batch closes: the open batch holds it.
        let committer = try #require(run.h.worker.committer)
        let open = committer.marketData.settlements.compactMap { $0 }
        #expect(open.count == 2, "the call and the put settle at the same event")
        let bytes = committer.snapshot()
        let restored = try bytes.withUnsafeBytes { raw in
            var r = SnapshotReader(ByteReader(raw))
            return try BatchCommitter(snapshot: &r, config: run.h.venue)
        }
        #expect(restored.snapshot() == bytes && restored.marketData.settlements == committer.marketData.settlements)
        run.cut()

        let last = run.records.map(\.record).filter { $0.batchIndex == 2 }
        let call = try #require(last.first { $0.market == OptionRun.call })
        let t = try #require(call.option?.settlement)
        #expect(call.option?.settled == true && call.asks.isEmpty && call.openInterest == 0 && call.trades.isEmpty)
        #expect((run.closed[2].header.firstSequence...run.closed[2].header.lastSequence).contains(t.sequence))
        #expect(t.enclaveTime == expiry + 1_000_000_000 && t.enclaveTime <= call.stateTime)
        let f = t.settlementPrice
        #expect(f >= 60_000 * OptionRun.usd && f <= 61_000 * OptionRun.usd)
        #expect(t.valuePerUnit == f - 50_000 * OptionRun.usd && t.positions == 2)
        // The taker's 0.04 long receives ⌊q S / 10⁸⌋, the maker's short pays ⌈…⌉, the rest to the fund.
        let received = Int64((Int128(4_000_000) * Int128(t.valuePerUnit)) / 100_000_000)
        let paid = Int64((Int128(4_000_000) * Int128(t.valuePerUnit) + 99_999_999) / 100_000_000)
        #expect(t.received == received && t.paid == paid && t.residue == paid - received)
        #expect((run.h.worker.engine.insuranceFund) == fundBefore + Int128(t.residue))
        let put = try #require(last.first { $0.market == OptionRun.put })
        #expect(put.option?.settlement?.positions == 0 && put.option?.settlement?.paid == 0)
        #expect(put.option?.settlement?.valuePerUnit == 65_000 * OptionRun.usd - f)
        // Only the batch of the settlement carries it; later lines say settled.
        run.h.now += 1_000_000_000
        try run.publish(61_500 * OptionRun.usd)
        run.cut()
        let after = try #require(run.records.last { $0.record.market == OptionRun.call }).record
        #expect(after.batchIndex == 3 && after.option?.settled == true && after.option?.settlement == nil)
        #expect(failing(run.verify()).isEmpty, "\(run.verify().values.filter { !$0.pass })")
        // A settlement claiming another value per unit does not read.
        let text = String(decoding: run.marketData, as: UTF8.self)
        let forged = text.replacingOccurrences(of: #""valuePerUnit":\#(t.valuePerUnit)"#, with: #""valuePerUnit":1"#)
        #expect(forged != text)
        #expect(failing(run.verify(marketData: Array(forged.utf8))).contains("marketdata.parse"))
    }

    /// DURABILITY: a worker replaying the journal republishes the option lines and the
    /// settlement byte for byte (the audit replay returns every batch).
    @Test func aReplayRepublishesTheOptionLinesAndTheSettlement() throws {
        let expiry: UInt64 = 7_200_000_000_000
        let venue = OptionRun.venue(expiry: expiry)
        let a = try JournalRun(venue: venue)
        let usd = OptionRun.usd
        try a.deposit(1, "maker", amount: 10_000_000 * usd)
        try a.deposit(2, "taker", amount: 10_000_000 * usd)
        try a.price(60_000 * usd)
        a.cut()
        var engine = a.worker.engine
        guard case .success(let mark) = engine.mark(OptionRun.call, at: a.h.now) else { throw NoOptionMark() }
        let maker = try a.open(1, "maker"), taker = try a.open(2, "taker")
        for (s, side, q) in [(maker, Side.sell, Int64(10_000_000)), (taker, .buy, 4_000_000)] {
            let order = NewOrder(clientOrderID: try ClientOrderID("o\(q)"), market: OptionRun.call, side: side,
                                 price: mark / 100_000 * 100_000, quantity: q)
            #expect(try a.h.receipt(try a.send(try s.seal(.newOrder(order)).frame), session: s).status == .accepted)
        }
        a.cut()
        a.h.now = expiry + 1_000_000_000
        try a.price(61_000 * usd)
        a.cut()
        let published = a.closed.flatMap(\.marketDataLines)
        #expect(String(decoding: published, as: UTF8.self).contains(#""settlement":{"#))

        let b = try JournalRun(venue: venue)
        let outcome = try recover(b.worker, a.journal, published: a.closed, publishAll: true)
        #expect(outcome.republish.map(\.marketDataLines) == a.closed.map(\.marketDataLines))
        #expect(outcome.republish.map(\.headerLine) == a.closed.map(\.headerLine))
    }
}
