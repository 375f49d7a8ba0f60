import TestSupport
import Testing

@testable import Commitments

/// The public JSON lines spell every integer as `String(v)` does (docs/COMMITMENTS.md:
/// canonical decimal, no leading zeros, `-` only for negatives), though the writer formats
/// numbers itself rather than through a string per number.
@Suite("JSON line writer")
struct JSONLineWriterTests {
    func written(_ body: (inout JSONLineWriter) -> Void) -> String {
        var w = JSONLineWriter()
        body(&w)
        return String(decoding: w.closedObject(), as: UTF8.self)
    }

    @Test func integersAreSpelledAsStringSpellsThem() {
        var r = SplitMix64(seed: 17)
        var cases: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, Int64.max, Int64.min, Int64.min + 1]
        for _ in 0..<2_000 { cases.append(Int64(bitPattern: r.next()) >> Int64(r.next() % 64)) }
        for v in cases { #expect(written { $0.field("v", v) } == "{\"v\":\(v)}") }
        let unsigned: [UInt64] = [0, 7, UInt64.max, UInt64.max / 10, 10_000_000_000_000_000_000]
        for v in unsigned { #expect(written { $0.field("v", v) } == "{\"v\":\(v)}") }
        let wide: [Int128] = [Int128(Int64.min) * 4, Int128(UInt64.max) + 1, -(Int128(UInt64.max) + 1), Int128(UInt64.max)]
        for v in wide { #expect(written { $0.field("v", v) } == "{\"v\":\(v)}") }
        #expect(written { $0.field("a", [UInt32(0), 7, UInt32.max]); $0.field("b", levels: [[-1, 20], [3, 0]]) }
                == "{\"a\":[0,7,4294967295],\"b\":[[-1,20],[3,0]]}")
    }
}
