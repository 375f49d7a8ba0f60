import Commitments
import Engine
import Foundation
import OutputVerification
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// The demo venue with another market data policy.
func venueWith(_ policy: MarketDataConfig) -> VenueConfig {
    var v = DemoKeys.venue()
    v.marketData = policy
    return v
}

extension CommittedRun {
    /// Every published market data line, read strictly, with its raw bytes.
    var marketRecords: [(record: MarketDataRecord, line: ArraySlice<UInt8>)] {
        marketData.split(separator: 0x0a).map { (try! MarketDataRecord(jsonLine: $0), $0) }
    }
}

@Suite("Public market data")
struct MarketDataTests {
    static let usd: Int64 = 1_000_000

    @Test func litDataAgreesWithAnIndependentRebuildFromReceiptsAndDecisions() throws {
        let run = try CommittedRun()
        let records = run.marketRecords
        // One record per listed market per batch, markets ascending, numbered 1, 2, 3 per market.
        #expect(records.count == run.closed.count * 4)
        for (i, r) in records.enumerated() {
            #expect(r.record.batchIndex == UInt64(i / 4) && r.record.market == UInt32(i % 4 + 1))
            #expect(r.record.marketSequence == UInt64(i / 4 + 1) && r.record.leafIndex == UInt64(i % 4))
        }
        let btc = records.filter { $0.record.market == 1 }.map(\.record)
        let trades = btc.flatMap(\.trades)

        // Trades taken by orders: exactly the fills of the takers' receipts.
        var fromReceipts: [MarketDataRecord.Trade] = []
        for (_, receipt) in run.orders where receipt.status == .accepted {
            for f in try OrderReport.decode(receipt.detail).fills {
                fromReceipts.append(.init(aggressor: f.side == .buy ? "buy" : "sell", enclaveTime: receipt.enclaveTime,
                                          price: f.price, sequence: receipt.globalSequence, size: f.quantity))
            }
        }
        let orderSequences = Set(run.orders.map(\.receipt.globalSequence))
        #expect(fromReceipts.count == 6, "six 0.3 BTC buys fill against the ask")
        #expect(trades.filter { orderSequences.contains($0.sequence) } == fromReceipts)

        // Trades made by liquidations: per input, the decisions' size filled on the book and side.
        let decisions = try run.decisions.split(separator: 0x0a).map { try DecisionRecord(jsonLine: $0) }
        var liquidated: [UInt64: (size: Int64, side: String)] = [:]
        for d in decisions where d.filledOnBook > 0 {
            liquidated[d.sequence, default: (0, d.side)].size += d.filledOnBook
        }
        #expect(!liquidated.isEmpty, "the crash liquidates into the bid")
        var printed: [UInt64: (size: Int64, side: String)] = [:]
        for t in trades where !orderSequences.contains(t.sequence) {
            printed[t.sequence, default: (0, t.aggressor)].size += t.size
            #expect(t.price == 57_500 * Self.usd, "liquidations fill at the resting bid")
        }
        #expect(printed.mapValues(\.size) == liquidated.mapValues(\.size))
        #expect(printed.mapValues(\.side) == liquidated.mapValues(\.side))

        // Depth, open interest and mark after the last batch, rebuilt from the engine's orders and accounts.
        var engine = run.h.worker.engine
        let last = try #require(btc.last)
        func levels(_ side: Side) -> [[Int64]] {
            var out: [[Int64]] = []
            for o in engine.restingOrders(market: 1, side: side) {
                if out.last?[0] == o.price { out[out.count - 1][1] += o.remaining } else { out.append([o.price, o.remaining]) }
            }
            return Array(out.prefix(10))
        }
        #expect(last.bids == levels(.buy) && last.asks == levels(.sell))
        #expect(last.asks == [[60_000 * Self.usd, 20_000_000]], "0.2 BTC of the ask is left")
        let longs = engine.accounts.values.map { $0.position(1) }.filter { $0 > 0 }.reduce(0, +)
        #expect(last.openInterest == longs && longs > 0)
        #expect(last.markPrice == 58_000 * Self.usd && !last.halted && last.priceInvalidity == 0)
        #expect(last.oracle.map(\.price) == Array(repeating: 58_000 * Self.usd, count: DemoKeys.publisherNames.count))
        guard case .success(let mark) = engine.mark(1, at: run.h.now) else { Issue.record("no mark"); return }
        #expect(mark == last.markPrice)
        // Markets nobody priced are halted, with no mark.
        for r in records where r.record.market != 1 {
            #expect(r.record.halted && r.record.markPrice == 0 && r.record.priceInvalidity == PriceInvalidity.noPrice.rawValue)
        }
    }

    @Test func everyPublishedLineVerifiesAgainstItsSignedHeader() throws {
        let run = try CommittedRun()
        let verdicts = run.verify()
        #expect(failing(verdicts).isEmpty, "\(verdicts.values.filter { !$0.pass })")
        #expect(verdicts["marketdata.root"]?.detail.hasPrefix("3 roots") == true)
        // Each line on its own: an inclusion proof into its batch's marketDataRoot.
        let records = run.marketRecords
        for header in run.closed.map(\.header) {
            let lines = records.filter { $0.record.batchIndex == header.batchIndex }.map(\.line)
            let tree = MarketDataTree.tree(lines)
            for (i, line) in lines.enumerated() {
                #expect(RFC6962.verifyInclusion(
                    leafHash: MarketDataTree.leafHash(line), index: UInt64(i), treeSize: UInt64(lines.count),
                    proof: tree.inclusionProof(index: i), root: header.marketDataRoot))
            }
        }
        // One changed byte (a trade's size) breaks the root; a dropped line breaks the sequence and the root.
        let text = String(decoding: run.marketData, as: UTF8.self)
        let edited = text.replacingOccurrences(of: "\"size\":30000000", with: "\"size\":30000001")
        #expect(edited != text)
        #expect(failing(run.verify(marketData: Array(edited.utf8))) == ["marketdata.root"])
        var lines = run.marketData.split(separator: 0x0a, omittingEmptySubsequences: false)
        lines.remove(at: 1)
        let dropped = Array(lines.joined(separator: [0x0a]))
        #expect(failing(run.verify(marketData: dropped)) == ["marketdata.batch", "marketdata.root"])
    }

    @Test func tradesOnlyPublishesNoDepth() throws {
        let run = try CommittedRun(venue: venueWith(MarketDataConfig(policy: .tradesOnly)))
        let records = run.marketRecords
        #expect(records.count == 12)
        #expect(records.allSatisfy { $0.record.asks.isEmpty && $0.record.bids.isEmpty && $0.record.policy == "trades-only" })
        #expect(records.flatMap(\.record.trades).count > 6, "trades are still printed")
        #expect(!run.marketData.contains(Array("[[".utf8)), "no level anywhere in the bytes")
        #expect(failing(run.verify()).isEmpty)
        // A line claiming depth under trades-only fails verification.
        let text = String(decoding: run.marketData, as: UTF8.self)
        let forged = text.replacingOccurrences(of: "\"asks\":[]", with: "\"asks\":[[1,1]]")
        #expect(failing(run.verify(marketData: Array(forged.utf8))).contains("marketdata.batch"))
    }

    @Test func delayedRecordsAreReleasedInALaterBatch() throws {
        let run = try CommittedRun(venue: venueWith(MarketDataConfig(policy: .delayed, delayNanos: 500_000_000)))
        let records = run.marketRecords.map(\.record)
        // Batches 0 and 1 close within 500 ms of each other; batch 2 closes 1 s later and
        // releases both; its own records wait.
        #expect(records.allSatisfy { $0.batchIndex == 2 })
        #expect(records.count == 8)
        #expect(records.map(\.lastSequence) == Array(repeating: run.closed[0].header.lastSequence, count: 4)
            + Array(repeating: run.closed[1].header.lastSequence, count: 4))
        #expect(records.filter { $0.market == 1 }.map(\.marketSequence) == [1, 2])
        #expect(records.allSatisfy { $0.stateTime + 500_000_000 <= run.closed[2].header.enclaveTime })
        #expect(failing(run.verify()).isEmpty)
        // The queue survives a committer snapshot byte for byte.
        let committer = try #require(run.h.worker.committer)
        #expect(committer.marketData.pending.count == 4)
        let bytes = committer.snapshot()
        let restored = try bytes.withUnsafeBytes { raw in
            var r = SnapshotReader(ByteReader(raw))
            return try BatchCommitter(snapshot: &r, config: run.h.venue)
        }
        #expect(restored.snapshot() == committer.snapshot() && restored.marketData.pending == committer.marketData.pending)
    }

    @Test func sizeRoundingHidesSmallLevelsAndRoundsTradesUp() throws {
        let run = try CommittedRun(venue: venueWith(MarketDataConfig(sizeRounding: 100_000_000)))
        let btc = run.marketRecords.map(\.record).filter { $0.market == 1 }
        let trades = btc.flatMap(\.trades)
        #expect(trades.allSatisfy { $0.size % 100_000_000 == 0 && $0.size > 0 })
        #expect(btc.last?.asks == [], "0.2 BTC rounds down to nothing")
        #expect(btc.allSatisfy { $0.openInterest % 100_000_000 == 0 })
        #expect(failing(run.verify()).isEmpty)
    }

    @Test func configPolicyIsParsedStrictly() throws {
        func parse(_ section: String) -> String {
            var v = try! JSONSerialization.jsonObject(with: JSONEncoder().encode(DemoKeys.venue())) as! [String: Any]
            v["marketData"] = try! JSONSerialization.jsonObject(with: Data(section.utf8))
            let bytes = try! JSONSerialization.data(withJSONObject: v)
            do {
                let c = try VenueConfig.parseStrict(Array(bytes))
                try c.validate()
                return "\(c.marketData.policy.rawValue) \(c.marketData.depthLevels) \(c.marketData.delayNanos)"
            } catch {
                return "\(error)"
            }
        }
        #expect(parse(#"{"policy":"delayed","delayNanos":2000000}"#) == "delayed 10 2000000")
        #expect(parse(#"{"policy":"trades-only"}"#) == "trades-only 10 0")
        #expect(parse(#"{"policy":"dark"}"#).contains("$.marketData.policy"))
        #expect(parse(#"{"levels":5}"#).contains("$.marketData.levels: unknown key"))
        #expect(parse(#"{"policy":"delayed"}"#).contains("delayNanos"))
        #expect(parse(#"{"policy":"lit","delayNanos":5}"#).contains("delayNanos must be 0"))
        #expect(parse(#"{"depthLevels":0}"#).contains("depthLevels"))
    }
}
