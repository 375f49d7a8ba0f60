import TestSupport
import Testing
import Wire

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

    /// The batch close writes its decision lines straight from the fields
    /// (`DecisionRecord.appendLine`, issue 17); they must be the bytes of the record's own
    /// line: every reason, every fill kind, with and without a scenario, extreme numbers,
    /// every proof length of a 9-leaf tree, several lines into one buffer.
    @Test func decisionLinesFromTheFieldsAreTheRecordsLines() {
        var r = SplitMix64(seed: 23)
        func hash() -> Hash32 { Hash32((0..<32).map { _ in UInt8(truncatingIfNeeded: r.next()) }) }
        func i64() -> Int64 { Int64(bitPattern: r.next()) >> Int64(r.next() % 64) }
        let scenario = DecisionScenario(linearRequirement: -7, portfolios: [
            .init(underlying: 1, mark: 58_000_000_000, scanBps: 700, scenario: 31, moveSteps: 2, volShiftBps: 5_000,
                  price: 59_015_000_000, loss: -5, shortOptionContingency: 1_000, confidenceContingency: 0),
            .init(underlying: 7, mark: 3, scanBps: 1, scenario: 0, moveSteps: -8, volShiftBps: -3_000, price: 1,
                  loss: .max, shortOptionContingency: 0, confidenceContingency: 0),
        ])
        let leaves = (0..<9).map { _ in hash() }
        let tree = MerkleTree(leafHashes: leaves)
        var expected: [UInt8] = []
        var written: [UInt8] = Array("prefix\n".utf8)
        expected = written
        for i in 0..<9 {
            let fills = (0..<(i % 4)).map { k in
                DecisionFields.Fill(kind: DecisionFields.Fill.Kind.allCases[k % 3], price: i64(), quantity: i64())
            }
            let d = DecisionFields(
                venueId: r.next(), sequence: i == 0 ? 0 : r.next(), enclaveTime: r.next(), account: hash(),
                market: UInt32(truncatingIfNeeded: r.next()), isBuy: i % 2 == 0, size: i == 1 ? .min : i64(),
                markPrice: i == 1 ? .max : i64(), bankruptcyPrice: i64(), worstPrice: i64(), equity: i64(),
                maintenanceRequirement: i64(), reason: DecisionFields.Reason.allCases[i % 3], filledOnBook: i64(),
                toInsuranceFund: i64(), autoDeleveraged: i64(), liquidationFee: i64(), fills: fills, stateHash: hash(),
                marksHash: hash(), scenario: i % 3 == 2 ? scenario : nil)
            let structHash = hash()
            let proof = tree.inclusionProof(index: i)
            let batchIndex = i == 4 ? UInt64.max : r.next() % 1_000
            expected += DecisionRecord(d, batchIndex: batchIndex, leafIndex: UInt64(i), proof: proof, structHash: structHash).jsonLine()
            DecisionRecord.appendLine(d, batchIndex: batchIndex, leafIndex: UInt64(i), proof: proof, structHash: structHash,
                                      to: &written)
        }
        #expect(String(decoding: written, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        // And with an empty proof (a batch of one decision).
        var one: [UInt8] = []
        let d = DecisionFields(venueId: 1, sequence: 2, enclaveTime: 3, account: hash(), market: 1, isBuy: false, size: 1,
                               markPrice: 1, bankruptcyPrice: 1, worstPrice: 1, equity: -1, maintenanceRequirement: 0,
                               reason: .maintenanceFull, filledOnBook: 0, toInsuranceFund: 0, autoDeleveraged: 0)
        DecisionRecord.appendLine(d, batchIndex: 0, leafIndex: 0, proof: [], structHash: .zero, to: &one)
        #expect(one == DecisionRecord(d, batchIndex: 0, leafIndex: 0, proof: [], structHash: .zero).jsonLine())
    }
}
