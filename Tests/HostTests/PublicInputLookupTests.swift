import Foundation
import NIOEmbedded
import Testing

@testable import Host

/// `GET /v1/inputs?batch=I` and `GET /v1/funding?batch=I` (docs/COMMITMENTS.md §4.2): the
/// lines appended since the previous header belong to the next one; the open batch's are
/// not served; a continued epoch indexes the kept lines again, by the kept leaves' types
/// (inputs) and by `sequence` (funding).
@Suite("Public inputs and funding by batch")
struct PublicInputLookupTests {
    static func line(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Leaves `range` with message type 0x04 or 0x05 where `types` says so (else 0x03).
    static func leaves(_ range: ClosedRange<Int>, types: [Int: UInt8]) -> [UInt8] {
        var out = OutputEpochTests.leaves(range)
        for (sequence, type) in types where range.contains(sequence) { out[(sequence - range.lowerBound) * 49 + 16] = type }
        return out
    }

    static func append(_ p: OutputPublisher, inputs: [[UInt8]] = [], funding: [[UInt8]] = []) throws {
        let i: [UInt8] = inputs.flatMap { $0 + [0x0a] }, f: [UInt8] = funding.flatMap { $0 + [0x0a] }
        if !i.isEmpty { try i.withUnsafeBytes { try p.appendPublicInputs($0) } }
        if !f.isEmpty { try f.withUnsafeBytes { try p.appendFunding($0) } }
    }

    @Test func linesBelongToTheNextHeaderAndSurviveAContinuedEpoch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sealstream-inputs-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = OutputEpochTests.signerA
        let types: [Int: UInt8] = [1: 0x05, 3: 0x04, 5: 0x04, 7: 0x04]
        let (deposit, price3, price5, price7) = (Self.line(#"{"kind":"deposit","sequence":1}"#),
                                                 Self.line(#"{"kind":"oraclePrice","sequence":3}"#),
                                                 Self.line(#"{"kind":"oraclePrice","sequence":5}"#),
                                                 Self.line(#"{"kind":"oraclePrice","sequence":7}"#))
        let (funding4, funding7) = (Self.line(#"{"market":1,"sequence":4}"#), Self.line(#"{"market":1,"sequence":7}"#))

        let first = OutputPublisher(dataDirectory: dir.path)
        try first.startEpoch(instanceID: "01", signer: a, evidenceJSON: OutputEpochTests.hello("01", a))
        try Self.leaves(1...4, types: types).withUnsafeBytes { try first.appendEventLeaves($0) }
        try Self.append(first, inputs: [deposit, price3], funding: [funding4])
        #expect(first.inputLines(batch: 0) == nil, "no header yet: nothing is served")
        try OutputPublisherTests.headerLine(index: 0, first: 1, last: 4).withUnsafeBytes { try first.appendBatch($0) }
        try Self.leaves(5...6, types: types).withUnsafeBytes { try first.appendEventLeaves($0) }
        try Self.append(first, inputs: [price5])
        try OutputPublisherTests.headerLine(index: 1, first: 5, last: 6).withUnsafeBytes { try first.appendBatch($0) }
        try Self.leaves(7...7, types: types).withUnsafeBytes { try first.appendEventLeaves($0) }
        try Self.append(first, inputs: [price7], funding: [funding7])  // the open batch

        func check(_ p: OutputPublisher, batch2IsOpen: Bool = true) {
            #expect(p.inputLines(batch: 0) == [deposit, price3] && p.fundingLines(batch: 0) == [funding4])
            #expect(p.inputLines(batch: 1) == [price5] && p.fundingLines(batch: 1) == [])
            #expect(p.inputLines(batch: -1) == nil && p.inputLines(batch: 3) == nil)
            if batch2IsOpen { #expect(p.inputLines(batch: 2) == nil && p.fundingLines(batch: 2) == nil) }
        }
        check(first)

        // The same signer continues: the open batch's lines are cut, the rest indexed again.
        let second = OutputPublisher(dataDirectory: dir.path)
        let start = try second.startEpoch(instanceID: "02", signer: a, evidenceJSON: OutputEpochTests.hello("02", a))
        #expect(start.continued && start.trimmedInputLines == 1 && start.trimmedFundingLines == 1)
        check(second)
        try Self.leaves(7...7, types: types).withUnsafeBytes { try second.appendEventLeaves($0) }
        try Self.append(second, inputs: [price7], funding: [funding7])
        try OutputPublisherTests.headerLine(index: 2, first: 7, last: 7).withUnsafeBytes { try second.appendBatch($0) }
        #expect(second.inputLines(batch: 2) == [price7] && second.fundingLines(batch: 2) == [funding7])
        check(second, batch2IsOpen: false)

        // The HTTP answer is the lines verbatim, joined by commas.
        let loop = EmbeddedEventLoop()
        let handler = HTTPAPIHandler(publisher: second, metrics: HostMetrics(), evidence: { _ in
            loop.makeFailedFuture(EvidenceRequestError.enclaveUnavailable)
        })
        guard case .answer(let inputs) = handler.route(method: .GET, uri: "/v1/inputs?batch=0"),
              case .answer(let funding) = handler.route(method: .GET, uri: "/v1/funding?batch=1")
        else { Issue.record("answered at once"); return }
        #expect(inputs.status == 200 && inputs.body == [UInt8(ascii: "[")] + deposit + [UInt8(ascii: ",")] + price3 + [UInt8(ascii: "]")])
        #expect(funding.status == 200 && funding.body == Array("[]".utf8))
    }
}
