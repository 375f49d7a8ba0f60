import Foundation
import Testing

@testable import Host

/// The host indexes market data lines by a scan of their top-level members
/// (`MarketDataHead.scan`) instead of decoding every trade; it must read what JSONDecoder
/// reads, and give up (nil: the caller decodes) on anything else.
@Suite("Market data head scan")
struct MarketDataHeadScanTests {
    func scan(_ s: String) -> OutputPublisher.MarketDataHead? {
        Array(s.utf8).withUnsafeBytes { OutputPublisher.MarketDataHead.scan($0) }
    }

    func decoded(_ s: String) -> OutputPublisher.MarketDataHead? {
        try? JSONDecoder().decode(OutputPublisher.MarketDataHead.self, from: Data(s.utf8))
    }

    @Test func readsWhatTheDecoderReadsPastNestedValues() {
        let lines = [
            #"{"asks":[[60000000000,5],[60001000000,7]],"batchIndex":12,"bids":[],"firstSequence":1,"halted":false,"markPrice":60000000000,"market":3,"marketSequence":9,"option":{"kind":"call","greeks":{"delta":"0.5"}},"oracle":[{"confidence":0,"price":1}],"policy":"lit","trades":[{"aggressor":"buy","enclaveTime":5,"price":6,"sequence":7,"size":8}]}"#,
            #"{"batchIndex":0,"market":4294967295,"marketSequence":18446744073709551615}"# + "\n",
            #" { "note" : "a \"quoted\" ] } [ {" , "batchIndex" : 1 , "market" : 0 , "marketSequence" : 2 , "z" : null } "#,
            #"{"x":[{"y":["]","}"]}],"market":7,"batchIndex":2,"marketSequence":3,"t":true,"n":-1.5e3}"#,
        ]
        for line in lines {
            let head = scan(line)
            #expect(head != nil, "\(line)")
            #expect(head?.batchIndex == decoded(line)?.batchIndex && head?.market == decoded(line)?.market
                    && head?.marketSequence == decoded(line)?.marketSequence, "\(line)")
        }
    }

    @Test func givesUpOnEverythingElse() {
        let bad = [
            "", "[]", "{}", #"{"batchIndex":1,"market":2}"#,
            #"{"batchIndex":1,"market":2,"marketSequence":3,"market":4}"#,  // a key twice
            #"{"batchIndex":1,"market":4294967296,"marketSequence":3}"#,  // market beyond u32
            #"{"batchIndex":1.0,"market":2,"marketSequence":3}"#, #"{"batchIndex":1e2,"market":2,"marketSequence":3}"#,
            #"{"batchIndex":-1,"market":2,"marketSequence":3}"#, #"{"batchIndex":01,"market":2,"marketSequence":3}"#,
            #"{"batchIndex":18446744073709551616,"market":2,"marketSequence":3}"#,
            #"{"batchIndex":1,"market":2,"marketSequence":3} x"#, #"{"batchIndex":1,"market":2,"marketSequence":3"#,
            #"{"batchIndex":1,"market":2,"marketSequence":3,"s":"unterminated}"#, #"{"batchIndex":1,"market":2,"marketSequence":3,"a":[1,2}"#,
        ]
        for line in bad { #expect(scan(line) == nil, "\(line)") }
    }
}

extension OutputPublisher.MarketDataHead: Equatable {
    public static func == (a: Self, b: Self) -> Bool {
        a.batchIndex == b.batchIndex && a.market == b.market && a.marketSequence == b.marketSequence
    }
}
