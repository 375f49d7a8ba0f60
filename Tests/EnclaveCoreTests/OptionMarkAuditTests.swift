import Commitments
import Engine
import Foundation
import OutputVerification
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// `marks.options` (docs/COMMITMENTS.md §5.3, check 24a): the option marks of the market
/// data lines and decisions, and the settlements, recomputed from the signed prices and
/// smiles alone, to the micro-unit.
@Suite("Option marks recomputed by the auditor")
struct OptionMarkAuditTests {
    /// OptionRun (a price, a trade on the call), then a signed smile and a price a second
    /// later, each in its own batch.
    static func smiledRun(venue: VenueConfig = OptionRun.venue()) throws -> OptionRun {
        let run = try OptionRun(venue: venue)
        run.h.now += 1_000_000_000
        let smile = DemoKeys.smile(underlying: 1, expiry: OptionRun.expiry, a: 90_000_000, b: 100_000_000, rho: -300_000_000,
                                   m: 0, sigma: 100_000_000, publishTime: run.h.now, publisher: "pyth-a")
        #expect(try run.h.send(smile.encode()).type == .publicAck)
        run.cut()
        run.h.now += 1_000_000_000
        try run.publish(61_000 * OptionRun.usd)
        run.cut()
        return run
    }

    static func optionLine(_ run: OptionRun, market: UInt32 = OptionRun.call, batch: UInt64) -> Int {
        run.records.firstIndex { $0.record.market == market && $0.record.batchIndex == batch }!
    }

    @Test func anHonestEpochWithASmilePassesAndEveryOptionLineIsChecked() throws {
        let run = try Self.smiledRun()
        let verdicts = run.verifyAll()
        #expect(failing(verdicts).isEmpty, "\(verdicts.values.filter { !$0.pass })")
        let lines = run.records.filter { $0.record.option != nil }
        #expect(lines.count == 8, "two option markets, four batches")
        #expect(verdicts["marks.options"]?.detail == "8 option marks and settlements checked")
        // The smile moved the call's mark between batches 1 and 2 (the replay saw it).
        let marks = run.records.filter { $0.record.market == OptionRun.call }.map(\.record.markPrice)
        #expect(marks[2] > marks[1])
    }

    @Test func anOptionMarkOneMicroUnitOffIsNamed() throws {
        let run = try Self.smiledRun()
        let line = Self.optionLine(run, batch: 2)
        let edited = tamper(run.marketData, line: line) { $0["markPrice"] = ($0["markPrice"] as! Int) + 1 }
        let verdicts = run.verifyAll(marketData: edited)
        #expect(failing(verdicts) == ["marketdata.root", "marks.options"])
        #expect(verdicts["marks.options"]?.error == "mark")
        #expect(verdicts["marks.options"]?.detail.hasPrefix("market data line \(line + 1) (batch 2, market 101)") == true,
                "\(verdicts["marks.options"]?.detail ?? "")")
        let forward = tamper(run.marketData, line: line) { o in
            var option = o["option"] as! [String: Any]
            option["underlyingMark"] = (option["underlyingMark"] as! Int) - 1
            o["option"] = option
        }
        // The underlying's own line disagrees too (marketdata.options), and the replay names it.
        let v = run.verifyAll(marketData: forward)
        #expect(v["marks.options"]?.error == "underlyingMark" && v["marketdata.options"]?.pass == false)
        // Each published Greek and volatility, one unit off, and the member left out.
        for name in ["delta", "gamma", "impliedVolatilityPpm", "realizedVolatilityPpm", "theta", "vega"] {
            let greek = tamper(run.marketData, line: line) { o in
                var option = o["option"] as! [String: Any]
                var greeks = option["greeks"] as! [String: Any]
                greeks[name] = (greeks[name] as! Int) - 1
                option["greeks"] = greeks
                o["option"] = option
            }
            let g = run.verifyAll(marketData: greek)
            #expect(failing(g) == ["marketdata.root", "marks.options"] && g["marks.options"]?.error == "greeks", "\(name)")
        }
        let stripped = tamper(run.marketData, line: line) { o in
            var option = o["option"] as! [String: Any]
            option["greeks"] = nil
            o["option"] = option
        }
        #expect(run.verifyAll(marketData: stripped)["marks.options"]?.error == "greeks")
    }

    /// docs/MARKETDATA.md §2.1: `greeks` is read strictly, and never on a halted line.
    @Test func greeksAreReadStrictly() throws {
        let run = try Self.smiledRun()
        let line = Array(run.marketData.split(separator: 0x0a)[Self.optionLine(run, batch: 2)])
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.contains(#""greeks":{"delta":"#))
        let record = try MarketDataRecord(jsonLine: line)
        let delta = try #require(record.option?.greeks?.delta)
        let wild = text.replacingOccurrences(of: #""delta":\#(delta),"#, with: #""delta":100000001,"#)
        #expect(throws: RecordError.outOfRange(path: "$.option.greeks.delta")) { try MarketDataRecord(jsonLine: Array(wild.utf8)) }
        let extra = text.replacingOccurrences(of: #""greeks":{"#, with: #""greeks":{"rho":1,"#)
        #expect(throws: RecordError.unknownField(path: "$.option.greeks.rho")) {
            try MarketDataRecord(jsonLine: Array(extra.utf8))
        }
        // A halted line (no option mark) carries none.
        let halted = text.replacingOccurrences(of: #""halted":false"#, with: #""halted":true"#)
            .replacingOccurrences(of: #""markPrice":\#(record.markPrice),"#, with: #""markPrice":0,"#)
            .replacingOccurrences(of: #""priceInvalidity":0"#, with: #""priceInvalidity":1"#)
        #expect(throws: RecordError.mismatch(path: "$.option.greeks")) { try MarketDataRecord(jsonLine: Array(halted.utf8)) }
    }

    @Test func aForgedSmileStopsTheOptionReplay() throws {
        let run = try Self.smiledRun()
        let line = PublicInputTests.lineIndex(run.inputs) { $0.contains("oracleSmile") }
        let forged = tamper(run.inputs, line: line) { $0["a"] = 90_000_001 }
        let verdicts = run.verifyAll(inputs: forged)
        #expect(failing(verdicts) == ["inputs.leaf", "inputs.signature", "marks.options"])
        #expect(verdicts["marks.options"]?.error == "incomplete")
    }

    /// An enclave that priced its options with a smile it never sequenced: every signature
    /// and root holds (the enclave signed what it computed), and only the recomputation
    /// from the published inputs shows the marks are not the inputs'.
    @Test func marksPricedWithAnUnpublishedSmileFail() throws {
        let run = try OptionRun()
        let hidden = DemoKeys.smile(underlying: 1, expiry: OptionRun.expiry, a: 90_000_000, b: 100_000_000, rho: -300_000_000,
                                    m: 0, sigma: 100_000_000, publishTime: run.h.now, publisher: "pyth-b")
        var detail = ByteWriter()
        _ = run.h.worker.engine.apply(SequencedEvent(globalSequence: run.h.worker.globalSequence, enclaveTime: run.h.now,
                                                     input: .oracleSmile(hidden)), detail: &detail)
        run.h.now += 1_000_000_000
        try run.publish(61_000 * OptionRun.usd)
        run.cut()
        let verdicts = run.verifyAll()
        #expect(failing(verdicts) == ["marks.options"], "\(verdicts.values.filter { !$0.pass })")
        #expect(verdicts["marks.options"]?.error == "mark")
        #expect(verdicts["marks.options"]?.detail.contains("(batch 2, market 101)") == true)
    }

    @Test func aSettlementIsRecomputedFromItsEvent() throws {
        let expiry: UInt64 = 7_200_000_000_000
        let run = try OptionRun(venue: OptionRun.venue(expiry: expiry))
        run.h.now = expiry + 1_000_000_000
        try run.publish(61_000 * OptionRun.usd)
        run.cut()
        var verdicts = run.verifyAll()
        #expect(failing(verdicts).isEmpty, "\(verdicts.values.filter { !$0.pass })")
        let line = Self.optionLine(run, batch: 2)
        // Another event of the same batch: the line still reads and its batch holds it.
        let edited = tamper(run.marketData, line: line) { o in
            var option = o["option"] as! [String: Any]
            var settlement = option["settlement"] as! [String: Any]
            settlement["sequence"] = (settlement["sequence"] as! Int) + 1
            option["settlement"] = settlement
            o["option"] = option
        }
        verdicts = run.verifyAll(marketData: edited)
        #expect(verdicts["marks.options"]?.error == "settlement", "\(verdicts["marks.options"]?.detail ?? "")")
        #expect(verdicts["marks.options"]?.detail.hasPrefix("market data line \(line + 1)") == true)
    }

    @Test func aVenueWithoutOptionsHasNothingToRecompute() throws {
        let run = try CommittedRun(traders: 1)
        let verdict = try #require(run.verifyAll()["marks.options"])
        #expect(verdict.pass && verdict.expected.hasPrefix("no option markets"))
        #expect(!verdict.expected.contains("not checked"))
    }
}
