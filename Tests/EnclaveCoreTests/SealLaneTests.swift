import Engine
import Journal
import SealCrypto
import Testing
import Wire
@testable import EnclaveCore

/// The seal lane (docs/DURABILITY.md §2.1) and the replay's open lane (§4): records sealed
/// off the sequencer's thread are the records it would have sealed, whole and in order,
/// however the takes fall; a replay opened on a second thread applies exactly what a
/// record-by-record replay applies.
@Suite("Seal lane and open lane")
struct SealLaneTests {
    static func key() -> SecretBytes {
        var raw = [UInt8](repeating: 9, count: 32)
        return SecretBytes(consuming: &raw)
    }

    /// Payload `i`: its length varies (empty, and one larger than a chunk), its bytes
    /// name it.
    static func payload(_ i: Int) -> [UInt8] {
        let length = i == 500 ? SealLane.chunkBytes + 4_000 : (i * 37) % 300
        return (0..<length).map { UInt8(truncatingIfNeeded: $0 &+ i) }
    }

    /// Appends 1,000 records, taking at irregular points (inside a chunk, at a chunk's
    /// end, after many chunks: more than the ring holds, so the sequencer seals some).
    static func run(threaded: Bool) -> (journal: [UInt8], lane: SealLane) {
        let lane = SealLane(cipher: JournalCipher(key: key()), threaded: threaded)
        var journal: [UInt8] = []
        let takes: Set<Int> = [0, 1, 31, 32, 33, 64, 400, 401, 999]
        for i in 0..<1_000 {
            let p = payload(i)
            lane.append(kind: i % 7 == 6 ? .batchClose : .input, length: p.count) { out in
                p.withUnsafeBytes { if !$0.isEmpty { out.copyMemory(from: $0) } }
            }
            #expect(lane.pendingBytes > 0)
            if takes.contains(i) { lane.take { journal += Array($0) } }
        }
        return (journal, lane)
    }

    @Test(arguments: [true, false])
    func recordsOpenInOrderWhateverTheTakes(threaded: Bool) throws {
        let (journal, lane) = Self.run(threaded: threaded)
        #expect(lane.isThreaded == threaded)
        var opener = JournalCipher(key: Self.key())
        var offset = 0
        var i = 0
        var lastRecord: [UInt8] = []
        try journal.withUnsafeBytes { raw in
            while offset < raw.count {
                let r = try opener.open(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                #expect(r.kind == (i % 7 == 6 ? .batchClose : .input))
                #expect(r.payload == Self.payload(i), "record \(i + 1)")
                lastRecord = Array(raw[offset..<(offset + r.length)])
                offset += r.length
                i += 1
            }
        }
        #expect(i == 1_000)
        #expect(lane.cipher.lastSequence == 1_000)
        #expect(lane.cipher.lastHash == SHA256.hash(lastRecord))
        #expect(lane.pendingBytes == 0)
        let counts = lane.chunkCounts
        #expect(counts.sealed > 1_000 / SealLane.chunkRecords)
        if !threaded { #expect(counts.byOwner == counts.sealed) }
    }

    /// A take right after a take hands nothing; the chain continues across takes and a
    /// `resume` (where a snapshot leaves it).
    @Test func theChainContinuesAfterAResume() throws {
        let lane = SealLane(cipher: JournalCipher(key: Self.key()), threaded: true)
        var first: [UInt8] = []
        lane.append(kind: .input, length: 3) { out in [UInt8]([1, 2, 3]).withUnsafeBytes { out.copyMemory(from: $0) } }
        lane.take { first += Array($0) }
        var nothing = true
        lane.take { _ in nothing = false }
        #expect(nothing)
        lane.cipher.resume(lastSequence: 41, lastHash: [UInt8](repeating: 5, count: 32))
        var second: [UInt8] = []
        lane.append(kind: .input, length: 1) { $0[0] = 7 }
        lane.take { second += Array($0) }
        var opener = JournalCipher(key: Self.key(), lastSequence: 41, lastHash: [UInt8](repeating: 5, count: 32))
        let r = try second.withUnsafeBytes { try opener.open($0) }
        #expect(r.payload == [7])
        #expect(lane.cipher.lastSequence == 42)
        #expect(try JournalFrame.parse(first).sequence == 1)
    }

    /// The replay's opener runs ahead on its own thread; a record that does not open
    /// stops the replay there, with every record before it applied and none after.
    @Test(arguments: [true, false])
    func aReplayAppliesEverythingBeforeTheFirstRecordThatDoesNotOpen(threaded: Bool) throws {
        let a = try JournalRun()
        try a.trade()
        var all = records(a.journal)
        let k = 9
        all[k][60] ^= 1
        let crc = CRC32C.checksum(all[k].dropLast(4))
        all[k].replaceSubrange((all[k].count - 4)..., with: withUnsafeBytes(of: crc.bigEndian) { Array($0) })
        let b = try Harness<PerpEngine>(storageKey: storageKey(7), sealingThread: threaded) {
            try PerpEngine(config: $0, accountCommitment: { id in withUnsafeBytes(of: id) { SHA256.hash($0) } })
        }
        let journal = all.flatMap { $0 }
        let rejected = rejection { try journal.withUnsafeBytes { try b.worker.replayJournal($0) } }
        #expect(rejected == JournalRejected(recordSequence: UInt64(k + 1), reason: .doesNotOpen))
        let inputsBefore = all[..<k].filter { $0[16] == JournalFrame.Kind.input.rawValue }.count
        #expect(b.worker.globalSequence == UInt64(inputsBefore))
        #expect(b.worker.replay.recordsReplayed == UInt64(k))
        #expect(b.worker.lastRecordSequence == UInt64(k))
    }
}
