import Foundation
import StrictJSON
import Testing

@testable import Host

/// The host indexes market data lines by their `batchIndex`, `market` and
/// `marketSequence`, read strictly (docs/COMMITMENTS.md §4, §5.1): the whole line is
/// checked, only those three members are built, and any fault is a typed error.
@Suite("Market data head scan")
struct MarketDataHeadScanTests {
    func scan(_ s: String) throws(MarketDataLineError) -> OutputPublisher.MarketDataHead {
        try scan(Array(s.utf8))
    }

    func scan(_ bytes: [UInt8]) throws(MarketDataLineError) -> OutputPublisher.MarketDataHead {
        try bytes.withUnsafeBufferPointer { (b) throws(MarketDataLineError) in
            try OutputPublisher.MarketDataHead.scan(UnsafeRawBufferPointer(b))
        }
    }

    func refusal(_ s: String) -> MarketDataLineError? { refusal(Array(s.utf8)) }

    func refusal(_ bytes: [UInt8]) -> MarketDataLineError? {
        do {
            _ = try scan(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func readsTheThreeMembersPastNestedValues() throws {
        let lines: [(String, UInt64, UInt32, UInt64)] = [
            (#"{"asks":[[60000000000,5],[60001000000,7]],"batchIndex":12,"bids":[],"firstSequence":1,"halted":false,"markPrice":60000000000,"market":3,"marketSequence":9,"option":{"kind":"call","greeks":{"delta":"0.5"}},"oracle":[{"confidence":0,"price":1}],"policy":"lit","trades":[{"aggressor":"buy","enclaveTime":5,"price":6,"sequence":7,"size":8}]}"#, 12, 3, 9),
            (#"{"batchIndex":0,"market":4294967295,"marketSequence":18446744073709551615}"#, 0, 4_294_967_295, .max),
            (#" { "note" : "a \"quoted\" ] } [ {" , "batchIndex" : 1 , "market" : 0 , "marketSequence" : 2 , "z" : null } "#, 1, 0, 2),
            (#"{"x":[{"y":["]","}"]}],"market":7,"batchIndex":2,"marketSequence":3,"t":true,"n":-15,"e":"\u00e9\ud83d\ude00\n"}"#, 2, 7, 3),
            // A name written with escapes is the same name.
            (#"{"\u0062atchIndex":5,"market":6,"marketSequence":7}"#, 5, 6, 7),
        ]
        for (line, batchIndex, market, marketSequence) in lines {
            let head = try scan(line)
            #expect(head.batchIndex == batchIndex && head.market == market && head.marketSequence == marketSequence, "\(line)")
        }
    }

    /// Each refusal names what is wrong: the strict JSON error (kind and path) of the whole
    /// line, or which of the three members is missing, mistyped or out of range.
    @Test(arguments: [
        ("", "json syntax $"),
        ("[]", "wrongType $"),
        (#""x""#, "wrongType $"),
        ("{}", "missingField $.batchIndex"),
        (#"{"batchIndex":1,"market":2}"#, "missingField $.marketSequence"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3,"market":4}"#, "json duplicateKey $.market"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3,"trades":[{"size":1,"size":2}]}"#, "json duplicateKey $.trades[0].size"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3,"a":1,"\u0061":2}"#, "json duplicateKey $.a"),
        (#"{"batchIndex":1,"market":4294967296,"marketSequence":3}"#, "outOfRange $.market"),
        (#"{"batchIndex":1,"market":2,"marketSequence":-3}"#, "outOfRange $.marketSequence"),
        (#"{"batchIndex":18446744073709551616,"market":2,"marketSequence":3}"#, "outOfRange $.batchIndex"),
        (#"{"batchIndex":"1","market":2,"marketSequence":3}"#, "wrongType $.batchIndex"),
        (#"{"batchIndex":1,"market":null,"marketSequence":3}"#, "wrongType $.market"),
        (#"{"batchIndex":1.0,"market":2,"marketSequence":3}"#, "json nonCanonicalNumber $.batchIndex"),
        (#"{"batchIndex":1e2,"market":2,"marketSequence":3}"#, "json nonCanonicalNumber $.batchIndex"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3,"n":-1.5e3}"#, "json nonCanonicalNumber $.n"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3,"trades":[{"price":-0}]}"#, "json nonCanonicalNumber $.trades[0].price"),
        (#"{"batchIndex":01,"market":2,"marketSequence":3}"#, "json syntax"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3,"s":"\x"}"#, "json syntax"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3,"s":"\ud800"}"#, "json syntax"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3} x"#, "json trailingData $"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3}{}"#, "json trailingData $"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3"#, "json syntax"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3,"s":"unterminated}"#, "json syntax"),
        (#"{"batchIndex":1,"market":2,"marketSequence":3,"a":[1,2}"#, "json syntax"),
        // A grammar fault late comes before a duplicate early (§5.1's order).
        (#"{"batchIndex":1,"batchIndex":1,"market":2,"marketSequence":3,"a":[1,]}"#, "json syntax"),
    ] as [(String, String)])
    func refuses(_ line: String, _ expected: String) throws {
        let error = try #require(refusal(line), "accepted \(line)")
        let named: String
        switch error {
        case .json(let e): named = e.kind == .syntax ? "json syntax" : "json \(e.kind.rawValue) \(e.path)"
        case .wrongType(let path): named = "wrongType \(path)"
        case .missingField(let path): named = "missingField \(path)"
        case .outOfRange(let path): named = "outOfRange \(path)"
        }
        #expect(named == expected.replacingOccurrences(of: "json syntax $", with: "json syntax"), "\(line)")
    }

    @Test func invalidUTF8IsTheJSONError() {
        let line: [UInt8] = Array(#"{"batchIndex":1,"market":2,"marketSequence":3,"s":""#.utf8) + [0xc3, 0x28] + Array(#""}"#.utf8)
        #expect(refusal(line) == .json(StrictJSONError(.invalidUTF8, path: "$", offset: 0)))
    }

    /// A link message with a refused line is refused whole: none of its lines is written or
    /// indexed, and the error names the line; the next good message is appended as before.
    @Test func aRefusedLineRefusesItsWholeMessage() throws {
        let (publisher, dir) = try OutputPublisherTests.publisher(events: 2)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = #"{"batchIndex":1,"market":1,"marketSequence":1,"trades":[]}"# + "\n"
        let bad = #"{"batchIndex":1,"market":2,"marketSequence":1,"trades":[{"size":1.5}]}"# + "\n"
        #expect(throws: PublishError.marketData(
            line: 2, .json(StrictJSONError(.nonCanonicalNumber, path: "$.trades[0].size", offset: 64))))
        {
            try Array((good + bad).utf8).withUnsafeBytes { try publisher.appendMarketData($0) }
        }
        let file = dir.appendingPathComponent("outputs/marketdata.jsonl").path
        #expect(FileManager.default.contents(atPath: file) == Data())
        try Array(good.utf8).withUnsafeBytes { try publisher.appendMarketData($0) }
        try OutputPublisherTests.headerLine(index: 1, first: 3, last: 2).withUnsafeBytes { try publisher.appendBatch($0) }
        #expect(publisher.marketDataLines(batch: 1) == [Array(good.utf8.dropLast())])
        #expect(FileManager.default.contents(atPath: file) == Data(good.utf8))
    }
}
