#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing

import Commitments
@testable import Host

/// The output publisher without processes: what the order path's appends wait for.
@Suite("Output publisher")
struct OutputPublisherTests {
    /// A header line the publisher indexes (it checks index, counts and sequences only;
    /// signatures are for verifiers).
    static func headerLine(index: UInt64, first: UInt64, last: UInt64) -> [UInt8] {
        let zero = String(repeating: "0", count: 64)
        let json = """
            {"batchIndex":\(index),"venueId":1,"previousHeaderHash":"\(zero)","firstSequence":\(first),\
            "lastSequence":\(last),"enclaveTime":1,"eventsRoot":"\(zero)","stateRoot":"\(zero)","accountCount":0,\
            "decisionsRoot":"\(zero)","decisionCount":0,"marketDataRoot":"\(zero)","haltedMarkets":[],"headerHash":"\(zero)","digest":"\(zero)",\
            "signer":"0x\(String(repeating: "0", count: 40))","signature":{"r":"\(zero)","s":"\(zero)","v":27},\
            "eventsConsistency":{"fromSize":0,"proof":[]}}

            """
        return Array(json.utf8)
    }

    static func publisher(events: Int) throws -> (OutputPublisher, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sealstream-publisher-\(UUID().uuidString.prefix(8))")
        let publisher = OutputPublisher(dataDirectory: dir.path)
        try publisher.startEpoch(instanceID: "0102030405060708", evidenceJSON: Array(#"{"instanceID":"0102030405060708"}"#.utf8))
        // Leaf i: global sequence i+1, enclave time, type 0x03, a body hash (big-endian).
        var leaves = [UInt8](repeating: 0, count: events * 49)
        for i in 0..<events {
            withUnsafeBytes(of: UInt64(i + 1).bigEndian) { for (k, b) in $0.enumerated() { leaves[i * 49 + k] = b } }
            leaves[i * 49 + 15] = 1
            leaves[i * 49 + 16] = 0x03
            leaves[i * 49 + 17] = UInt8(truncatingIfNeeded: i)
        }
        try leaves.withUnsafeBytes { try publisher.appendEventLeaves($0) }
        try headerLine(index: 0, first: 1, last: UInt64(events)).withUnsafeBytes { try publisher.appendBatch($0) }
        return (publisher, dir)
    }

    @Test("An event proof is found for every sequence of a batch and for none outside")
    func proofLookup() throws {
        let (publisher, dir) = try Self.publisher(events: 10)
        defer { try? FileManager.default.removeItem(at: dir) }
        var leaves: [Hash32] = []
        for sequence in 1...10 {
            let proof = try #require(publisher.eventProof(sequence: UInt64(sequence)))
            #expect(proof.batchIndex == 0 && proof.leaf.globalSequence == UInt64(sequence))
            leaves.append(RFC6962.leafHash(proof.leaf.bytes))
        }
        let root = MerkleTree(leafHashes: leaves).root(size: 10)
        for sequence in 1...10 {
            let proof = try #require(publisher.eventProof(sequence: UInt64(sequence)))
            #expect(RFC6962.verifyInclusion(
                leafHash: leaves[sequence - 1], index: UInt64(sequence - 1), treeSize: 10, proof: proof.proof, root: root))
        }
        #expect(publisher.eventProof(sequence: 0) == nil)
        #expect(publisher.eventProof(sequence: 11) == nil)
    }

    @Test("Building a large proof does not hold the lock that the order path's appends take")
    func proofsDoNotBlockAppends() throws {
        let (publisher, dir) = try Self.publisher(events: 1024)
        defer { try? FileManager.default.removeItem(at: dir) }
        let leaf = [UInt8](repeating: 0x05, count: 49)
        let appended = DispatchSemaphore(value: 0)
        let outcome = Mutex<Bool?>(nil)
        // Hold the proof lock, as a prover hashing a large tree does, while another thread
        // appends. An append that took this lock could not return while it is held: the
        // wait runs out and the test fails (then the lock is released and the append
        // finishes, so the suite does not hang).
        let returnedWhileHeld = publisher.proofs.withLock { _ -> Bool in
            let appender = Thread {
                let ok = (try? leaf.withUnsafeBytes { try publisher.appendEventLeaves($0) }) != nil
                outcome.withLock { $0 = ok }
                appended.signal()
            }
            appender.start()
            return appended.wait(timeout: .now() + .seconds(10)) == .success
        }
        if !returnedWhileHeld { appended.wait() }
        #expect(returnedWhileHeld, "the append waited for the proof lock")
        #expect(outcome.withLock { $0 } == true)
        // And proofs still work once the lock is free: a full proof over the old events.
        #expect(publisher.eventProof(sequence: 1024) != nil)
    }
}
