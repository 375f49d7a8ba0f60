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
