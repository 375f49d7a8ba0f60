import Foundation
import Testing

@testable import Host

/// Outputs continuity (docs/COMMITMENTS.md §4): the epoch is the signer.
@Suite("Output epochs")
struct OutputEpochTests {
    static let signerA = "0x" + String(repeating: "a", count: 40)
    static let signerB = "0x" + String(repeating: "b", count: 40)

    static func hello(_ id: String, _ signer: String) -> [UInt8] {
        Array(#"{"instanceID":"\#(id)","signer":"\#(signer)"}"#.utf8)
    }

    static func leaves(_ range: ClosedRange<Int>) -> [UInt8] {
        var out: [UInt8] = []
        for i in range {
            var leaf = [UInt8](repeating: 0, count: 49)
            withUnsafeBytes(of: UInt64(i).bigEndian) { leaf[0..<8] = ArraySlice($0) }
            leaf[16] = 0x03
            out += leaf
        }
        return out
    }

    static func size(_ dir: URL, _ name: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: dir.path + "/outputs/" + name))?[.size] as? Int) ?? -1
    }

    /// A restarted worker with the same signer continues the files, cut back to the last
    /// header; the tail past it (leaves, a decision line, a torn header line) goes.
    @Test func sameSignerContinuesAndTrimsTheTail() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sealstream-epoch-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = OutputPublisher(dataDirectory: dir.path)
        try first.startEpoch(instanceID: "01", signer: Self.signerA, evidenceJSON: Self.hello("01", Self.signerA))
        try Self.leaves(1...4).withUnsafeBytes { try first.appendEventLeaves($0) }
        try OutputPublisherTests.headerLine(index: 0, first: 1, last: 4).withUnsafeBytes { try first.appendBatch($0) }
        let headerBytes = Self.size(dir, "batches.jsonl")
        // The open batch's tail, then a torn header line (a crash mid-write).
        try Self.leaves(5...6).withUnsafeBytes { try first.appendEventLeaves($0) }
        try Array(#"{"batchIndex":1}"#.utf8 + [0x0a]).withUnsafeBytes { try first.appendDecisions($0) }
        let handle = try FileHandle(forWritingTo: dir.appendingPathComponent("outputs/batches.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"batchIndex":1,"ven"#.utf8))
        try handle.close()

        let second = OutputPublisher(dataDirectory: dir.path)
        let start = try second.startEpoch(instanceID: "02", signer: Self.signerA, evidenceJSON: Self.hello("02", Self.signerA))
        #expect(start == OutputPublisher.EpochStart(
            continued: true, batches: 1, trimmedEventBytes: 2 * 49, trimmedDecisionLines: 1, trimmedDecisionBytes: 17,
            trimmedHeaderBytes: 20))
        #expect(Self.size(dir, "events.log") == 4 * 49 && Self.size(dir, "decisions.jsonl") == 0)
        #expect(Self.size(dir, "batches.jsonl") == headerBytes)
        #expect(second.batchCount == 1 && second.eventProof(sequence: 4) != nil)
        // And it appends the next batch after the kept one.
        try Self.leaves(5...7).withUnsafeBytes { try second.appendEventLeaves($0) }
        try OutputPublisherTests.headerLine(index: 1, first: 5, last: 7).withUnsafeBytes { try second.appendBatch($0) }
        #expect(second.batchCount == 2 && second.eventProof(sequence: 7)?.batchIndex == 1)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/outputs/epochs"))
    }

    /// `inputs.jsonl` keeps one line per price or deposit leaf (types 0x04, 0x05) that
    /// the kept headers cover; the open batch's lines go with its leaves.
    @Test func continuingTrimsThePublicInputsToTheKeptLeaves() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sealstream-epoch-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = OutputPublisher(dataDirectory: dir.path)
        try first.startEpoch(instanceID: "01", signer: Self.signerA, evidenceJSON: Self.hello("01", Self.signerA))
        var leaves = Self.leaves(1...6)
        leaves[0 * 49 + 16] = 0x05  // a deposit
        leaves[2 * 49 + 16] = 0x04  // a price
        leaves[4 * 49 + 16] = 0x04  // a price of the open batch
        let input = Array(#"{"kind":"x"}"#.utf8) + [0x0a]
        try leaves.withUnsafeBytes { try first.appendEventLeaves(UnsafeRawBufferPointer(rebasing: $0[0..<(4 * 49)])) }
        try (input + input).withUnsafeBytes { try first.appendPublicInputs($0) }
        try OutputPublisherTests.headerLine(index: 0, first: 1, last: 4).withUnsafeBytes { try first.appendBatch($0) }
        try leaves.withUnsafeBytes { try first.appendEventLeaves(UnsafeRawBufferPointer(rebasing: $0[(4 * 49)...])) }
        try input.withUnsafeBytes { try first.appendPublicInputs($0) }
        #expect(Self.size(dir, "inputs.jsonl") == 3 * input.count)

        let second = OutputPublisher(dataDirectory: dir.path)
        let start = try second.startEpoch(instanceID: "02", signer: Self.signerA, evidenceJSON: Self.hello("02", Self.signerA))
        #expect(start.continued && start.trimmedInputLines == 1 && start.trimmedEventBytes == 2 * 49)
        #expect(Self.size(dir, "inputs.jsonl") == 2 * input.count)
        try input.withUnsafeBytes { try second.appendPublicInputs($0) }
        #expect(Self.size(dir, "inputs.jsonl") == 3 * input.count, "appends after the kept lines")
        // funding.jsonl keeps the lines whose sequence the kept headers cover.
        let covered = Array(#"{"sequence":4}"#.utf8) + [0x0a], tail = Array(#"{"sequence":5}"#.utf8) + [0x0a]
        try (covered + tail).withUnsafeBytes { try second.appendFunding($0) }
        let third = try OutputPublisher(dataDirectory: dir.path).startEpoch(
            instanceID: "02", signer: Self.signerA, evidenceJSON: Self.hello("02", Self.signerA))
        #expect(third.trimmedFundingLines == 1 && Self.size(dir, "funding.jsonl") == covered.count)

        // Fewer lines than the kept leaves need: the epoch cannot start.
        try Data(input).write(to: dir.appendingPathComponent("outputs/inputs.jsonl"))
        #expect(throws: PublishError.self) {
            try OutputPublisher(dataDirectory: dir.path).startEpoch(instanceID: "03", signer: Self.signerA, evidenceJSON: Self.hello("03", Self.signerA))
        }
        // A new signer archives it with the rest.
        _ = try OutputPublisher(dataDirectory: dir.path).startEpoch(instanceID: "04", signer: Self.signerB, evidenceJSON: Self.hello("04", Self.signerB))
        #expect(Self.size(dir, "epochs/02/inputs.jsonl") == input.count && Self.size(dir, "inputs.jsonl") == 0)
    }

    @Test func differentSignerArchives() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sealstream-epoch-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = OutputPublisher(dataDirectory: dir.path)
        try first.startEpoch(instanceID: "01", signer: Self.signerA, evidenceJSON: Self.hello("01", Self.signerA))
        try Self.leaves(1...4).withUnsafeBytes { try first.appendEventLeaves($0) }
        try OutputPublisherTests.headerLine(index: 0, first: 1, last: 4).withUnsafeBytes { try first.appendBatch($0) }
        let second = OutputPublisher(dataDirectory: dir.path)
        let start = try second.startEpoch(instanceID: "02", signer: Self.signerB, evidenceJSON: Self.hello("02", Self.signerB))
        #expect(!start.continued && second.batchCount == 0 && Self.size(dir, "events.log") == 0)
        #expect(Self.size(dir, "epochs/01/events.log") == 4 * 49)
    }
}
