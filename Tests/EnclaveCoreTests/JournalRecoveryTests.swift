import Client
import Commitments
import Engine
import Journal
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

func storageKey(_ byte: UInt8) -> SecretBytes {
    var raw = [UInt8](repeating: byte, count: 32)
    return SecretBytes(consuming: &raw)
}

/// A TPM NV counter stand-in.
final class FakeCounter: MonotonicCounter {
    var value: UInt64
    init(_ value: UInt64 = 0) { self.value = value }
    func read() throws -> UInt64 { value }
    func increment() throws -> UInt64 {
        value += 1
        return value
    }
}

/// A journaling worker driven like the host drives the enclave: every journal record it
/// seals is collected, every closed batch kept as the host would publish it.
final class JournalRun {
    let h: Harness<PerpEngine>
    var journal: [UInt8] = []
    var closed: [ClosedBatch] = []
    /// The receipt of the last order `trade` placed ("buy1", in the open batch).
    var lastOrder: Receipt?

    init(key: SecretBytes = storageKey(7), counter: (any MonotonicCounter)? = nil, venue: VenueConfig = DemoKeys.venue()) throws {
        h = try Harness<PerpEngine>(storageKey: key, counter: counter, venue: venue) {
            try PerpEngine(config: $0, accountCommitment: { id in withUnsafeBytes(of: id) { SHA256.hash($0) } })
        }
    }

    var worker: Worker<PerpEngine> { h.worker }

    func collect() { worker.takeJournal { journal += Array($0) } }

    @discardableResult
    func send(_ frame: [UInt8]) throws -> (type: MessageType, body: [UInt8]) {
        defer { collect() }
        return try h.send(frame)
    }

    func price(_ price: Int64) throws {
        for p in DemoKeys.publisherNames {
            let reply = try send(DemoKeys.price(market: 1, price: price, confidence: 0, publishTime: h.now, publisher: p).encode())
            #expect(reply.type == .publicAck)
        }
    }

    func deposit(_ account: UInt64, _ name: String, amount: Int64) throws {
        let d = DemoKeys.deposit(venueID: h.venue.venueID, accountID: account,
                                 accountKey: DemoKeys.signingKey(.trader, name).publicKey.bytes, amount: amount, depositID: account)
        #expect(try send(d.encode()).type == .publicAck)
    }

    func place(_ s: EnclaveSession, _ id: String, _ side: Side, price: Int64, quantity: Int64 = 10_000_000) throws -> Receipt {
        let request = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID(id), market: 1, side: side,
                                                     price: price, quantity: quantity))
        return try h.receipt(try send(try s.seal(request).frame), session: s)
    }

    func open(_ account: UInt64, _ name: String) throws -> EnclaveSession {
        defer { collect() }
        return try h.openSession(account: account, name: name)
    }

    func cut() {
        defer { collect() }
        if let b = worker.closeBatchIfDue(force: true) { closed.append(b) }
    }

    /// Deposits of a maker (account 1) and a taker (2), a price, four asks of which the
    /// taker's "buy0" fills one and a half: two closed batches, three asks resting.
    @discardableResult
    func twoBatches() throws -> (maker: EnclaveSession, taker: EnclaveSession) {
        let usd: Int64 = 1_000_000
        try deposit(1, "maker", amount: 10_000_000 * usd)
        try deposit(2, "taker", amount: 100_000 * usd)
        try price(60_000 * usd)
        cut()
        let maker = try open(1, "maker"), taker = try open(2, "taker")
        for i in 0..<4 {
            h.now += 1_000
            _ = try place(maker, "ask\(i)", .sell, price: (60_000 + Int64(i)) * usd)
        }
        _ = try place(taker, "buy0", .buy, price: 60_001 * usd, quantity: 15_000_000)
        cut()
        return (maker, taker)
    }

    /// A victim (account 2, 400 USD) buys 0.1 BTC at 60,000 from a maker (account 1, with
    /// a bid at 56,000 resting); the mark then falls to 57,000, where its equity (~97 USD)
    /// is below 3% of 5,700: one liquidation step of account 2, its batch closed.
    func liquidation() throws {
        let usd: Int64 = 1_000_000
        try deposit(1, "maker", amount: 10_000_000 * usd)
        try deposit(2, "victim", amount: 400 * usd)
        try price(60_000 * usd)
        cut()
        let maker = try open(1, "maker"), victim = try open(2, "victim")
        _ = try place(maker, "ask", .sell, price: 60_000 * usd)
        #expect(try place(victim, "long", .buy, price: 60_000 * usd).status == .accepted)
        _ = try place(maker, "bid", .buy, price: 56_000 * usd)
        cut()
        h.now += 1_000_000_000
        try price(57_000 * usd)
        cut()
    }

    /// Deposits, prices, crossing orders, three closed batches and an open one.
    func trade() throws {
        let usd: Int64 = 1_000_000
        let (_, taker) = try twoBatches()
        h.now += 1_000_000_000
        try price(60_100 * usd)
        cut()
        lastOrder = try place(taker, "buy1", .buy, price: 60_003 * usd)
        try deposit(3, "late", amount: 5 * usd)
    }
}

/// The records of a journal, one array each.
func records(_ journal: [UInt8]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var i = 0
    while i < journal.count {
        let t = Int(journal[i + 4]) << 24 | Int(journal[i + 5]) << 16 | Int(journal[i + 6]) << 8 | Int(journal[i + 7])
        out.append(Array(journal[i..<(i + t)]))
        i += t
    }
    return out
}

/// Recovers `worker` from `journal`, one replay message per `chunk` records.
func recover(
    _ worker: Worker<PerpEngine>, _ journal: [UInt8], published: [ClosedBatch], chunk: Int = 3, publishAll: Bool = false
) throws -> ReplayOutcome {
    let all = records(journal)
    for start in stride(from: 0, to: all.count, by: chunk) {
        let bytes = all[start..<min(all.count, start + chunk)].flatMap { $0 }
        try bytes.withUnsafeBytes { raw in try worker.replayJournal(raw) }
    }
    let line = published.last.map { Array($0.headerLine.dropLast()) } ?? []
    return try worker.finishReplay(ReplayEnd(published: UInt64(published.count), lastHeaderLine: line), publishAll: publishAll)
}

/// The rejection `body` throws; nil when it succeeds (any other error too, so it fails
/// the comparisons it is used in).
func rejection(_ body: () throws -> Void) -> JournalRejected? {
    do { try body() } catch { return error as? JournalRejected }
    return nil
}

@Suite("Journal and recovery")
struct JournalRecoveryTests {
    @Test func aRecoveredWorkerContinuesTheSameChain() throws {
        let a = try JournalRun()
        try a.trade()
        let journal = a.journal
        #expect(records(journal).count == Int(a.worker.lastRecordSequence))
        // The host published two of the three closed batches before it died.
        let b = try JournalRun()
        // The shell's loop reads the clock before the journal arrives.
        b.h.now = a.h.now + 1
        #expect(b.worker.closeBatchIfDue() == nil)
        b.h.now = a.h.now
        let outcome = try recover(b.worker, journal, published: Array(a.closed.prefix(2)))
        #expect(outcome.recovered == Recovered(
            recordsReplayed: a.worker.lastRecordSequence, lastRecordSequence: a.worker.lastRecordSequence,
            lastGlobalSequence: a.worker.globalSequence, batchesClosed: 3))
        #expect(outcome.republish.map(\.headerLine) == [a.closed[2].headerLine])
        #expect(outcome.republish.map(\.eventLeaves) == [a.closed[2].eventLeaves])
        #expect(outcome.republish.map(\.inputLines) == [a.closed[2].inputLines])
        #expect(b.worker.identity.signer.address == a.worker.identity.signer.address)
        #expect(b.worker.identity.sessionKey.publicKey == a.worker.identity.sessionKey.publicKey)

        // Both take the same next input at the same time and close: byte-identical headers.
        for run in [a, b] {
            run.h.now += 500_000_000
            try run.price(60_200 * 1_000_000)
            run.cut()
        }
        #expect(b.closed.last!.headerLine == a.closed.last!.headerLine)
        #expect(b.closed.last!.header.stateRoot == a.closed.last!.header.stateRoot)
        #expect(b.closed.last!.header.batchIndex == 3)
        // b's new records continue the chain it replayed: a third worker replays both.
        let c = try JournalRun()
        let again = try recover(c.worker, journal + b.journal, published: a.closed.prefix(3) + [b.closed.last!])
        #expect(again.republish.isEmpty)
        #expect(c.worker.globalSequence == b.worker.globalSequence)
    }

    @Test func timeNeverGoesBackAcrossARecovery() throws {
        let a = try JournalRun()
        try a.trade()
        let b = try JournalRun()
        b.h.now = 1  // a clock far behind the journal's
        _ = try recover(b.worker, a.journal, published: a.closed)
        let d = DemoKeys.deposit(venueID: b.h.venue.venueID, accountID: 9, accountKey: DemoKeys.signingKey(.trader, "n").publicKey.bytes,
                                 amount: 5, depositID: 9)
        let reply = try b.send(d.encode())
        let ack = try reply.body.withUnsafeBytes { try PublicAck.decode(body: $0) }
        #expect(ack.enclaveTime == a.h.now && ack.globalSequence == a.worker.globalSequence + 1)
    }

    @Test func theAuditReplayReturnsEveryBatch() throws {
        let a = try JournalRun()
        try a.trade()
        let b = try JournalRun()
        let outcome = try recover(b.worker, a.journal, published: a.closed, publishAll: true)
        #expect(outcome.republish.map(\.headerLine) == a.closed.map(\.headerLine))
        #expect(outcome.republish.map(\.decisionLines) == a.closed.map(\.decisionLines))
        #expect(outcome.republish.map(\.inputLines) == a.closed.map(\.inputLines))
        #expect(a.closed.contains { !$0.inputLines.isEmpty }, "the run has prices or deposits")
    }

    @Test func anEmptyJournalRecoversToGenesis() throws {
        let b = try JournalRun()
        let outcome = try recover(b.worker, [], published: [])
        #expect(outcome.recovered == Recovered(recordsReplayed: 0, lastRecordSequence: 0, lastGlobalSequence: 0, batchesClosed: 0))
    }

    @Test func brokenJournalsAreRejectedWithTheirReason() throws {
        let a = try JournalRun()
        try a.trade()
        let all = records(a.journal)
        let k = 5
        func attempt(_ journal: [UInt8], published: [ClosedBatch]? = nil, key: SecretBytes = storageKey(7)) throws -> JournalRejected? {
            let b = try JournalRun(key: key)
            return rejection { _ = try recover(b.worker, journal, published: published ?? a.closed) }
        }
        _ = try recover(try JournalRun().worker, a.journal, published: a.closed)

        // A flipped ciphertext byte, with the CRC made to match again: does not open.
        var tampered = all
        tampered[k][50] ^= 1
        let crc = CRC32C.checksum(tampered[k].dropLast(4))
        tampered[k].replaceSubrange((tampered[k].count - 4)..., with: withUnsafeBytes(of: crc.bigEndian) { Array($0) })
        #expect(try attempt(tampered.flatMap { $0 }) == JournalRejected(recordSequence: UInt64(k + 1), reason: .doesNotOpen))
        // Without the CRC fixed: the frame is broken, and it does not open either.
        var flipped = all
        flipped[k][50] ^= 1
        #expect(try attempt(flipped.flatMap { $0 }) == JournalRejected(recordSequence: UInt64(k + 1), reason: .doesNotOpen))

        // Two records swapped, one deleted in the middle, one repeated: out of sequence.
        var swapped = all
        swapped.swapAt(k, k + 1)
        #expect(try attempt(swapped.flatMap { $0 }) == JournalRejected(recordSequence: UInt64(k + 2), reason: .outOfSequence))
        var deleted = all
        deleted.remove(at: k)
        #expect(try attempt(deleted.flatMap { $0 }) == JournalRejected(recordSequence: UInt64(k + 2), reason: .outOfSequence))
        var repeated = all
        repeated.insert(all[k], at: k + 1)
        #expect(try attempt(repeated.flatMap { $0 }) == JournalRejected(recordSequence: UInt64(k + 1), reason: .outOfSequence))

        // A record cut short at the end of a replay message (records never span messages).
        let b = try JournalRun()
        let cut = rejection {
            try all[0].withUnsafeBytes { try b.worker.replayJournal($0) }
            try all[1].dropLast(3).withUnsafeBytes { try b.worker.replayJournal($0) }
        }
        #expect(cut == JournalRejected(recordSequence: 2, reason: .doesNotOpen))

        // Another storage key opens nothing.
        #expect(try attempt(a.journal, key: storageKey(8)) == JournalRejected(recordSequence: 1, reason: .doesNotOpen))

        // Truncated after the second close: the third published header is not reproduced.
        let secondClose = all.indices.filter { all[$0][16] == JournalFrame.Kind.batchClose.rawValue }[1]
        let truncated = all[...secondClose].flatMap { $0 }
        #expect(try attempt(truncated) == JournalRejected(recordSequence: UInt64(secondClose + 1), reason: .headerMismatch))
        // A published line that differs from the replayed one.
        var forged = a.closed
        forged[2].headerLine[20] ^= 1
        #expect(try attempt(a.journal, published: forged)
            == JournalRejected(recordSequence: UInt64(all.count), reason: .headerMismatch))
    }

    /// Records that open but do not continue the state: reason 5.
    @Test func wellSealedNonsenseIsAMalformedPayload() throws {
        func reject(_ payloads: [(JournalFrame.Kind, [UInt8])]) throws -> JournalRejected? {
            var cipher = JournalCipher(key: try StorageKeys(storageKey: storageKey(7)).journalKey)
            var journal: [UInt8] = []
            for (kind, payload) in payloads { payload.withUnsafeBytes { cipher.seal(kind: kind, payload: $0, into: &journal) } }
            let b = try JournalRun()
            return rejection { _ = try recover(b.worker, journal, published: []) }
        }
        func input(sequence: UInt64, time: UInt64, type: UInt8 = 0x05, body: [UInt8]) -> [UInt8] {
            var w = ByteWriter()
            JournalInput(globalSequence: sequence, enclaveTime: time, messageType: type, eventBodyHash: Array(repeating: 0, count: 32),
                         account: 0, body: body).encode(into: &w)
            return w.bytes
        }
        let deposit = Array(DemoKeys.deposit(venueID: DemoKeys.venue().venueID, accountID: 1,
                                             accountKey: DemoKeys.signingKey(.trader, "x").publicKey.bytes, amount: 5,
                                             depositID: 1).encode()[6...])
        #expect(try reject([(.input, input(sequence: 1, time: 10, body: deposit))]) == nil)
        #expect(try reject([(.input, [1, 2, 3])]) == JournalRejected(recordSequence: 1, reason: .malformedPayload))
        #expect(try reject([(.input, input(sequence: 2, time: 10, body: deposit))])
            == JournalRejected(recordSequence: 1, reason: .malformedPayload), "global sequence gap")
        #expect(try reject([(.input, input(sequence: 1, time: 10, body: [0]))])
            == JournalRejected(recordSequence: 1, reason: .malformedPayload), "body does not decode")
        let close = { (index: UInt64, time: UInt64) -> [UInt8] in
            var w = ByteWriter()
            JournalBatchClose(batchIndex: index, closeTime: time, counter: 0).encode(into: &w)
            return w.bytes
        }
        #expect(try reject([(.batchClose, close(0, 10))]) == JournalRejected(recordSequence: 1, reason: .malformedPayload),
                "no batch open")
        #expect(try reject([(.input, input(sequence: 1, time: 10, body: deposit)), (.batchClose, close(1, 10))])
            == JournalRejected(recordSequence: 2, reason: .malformedPayload), "another index")
        #expect(try reject([(.input, input(sequence: 1, time: 10, body: deposit)), (.batchClose, close(0, 9))])
            == JournalRejected(recordSequence: 2, reason: .malformedPayload), "time goes back")
        #expect(try reject([(.input, input(sequence: 1, time: 10, body: deposit)), (.batchClose, close(0, 10))]) == nil)
    }

    @Test func theCounterCatchesARollback() throws {
        let counter = FakeCounter(10)
        let a = try JournalRun(counter: counter)
        try a.trade()
        #expect(counter.value == 13, "one increment per batch")
        let closes = records(a.journal).filter { $0[16] == JournalFrame.Kind.batchClose.rawValue }
        #expect(closes.count == 3)
        for (value, ok) in [(13 as UInt64, true), (14, true), (15, false), (12, false)] {
            let b = try JournalRun(counter: FakeCounter(value))
            let result = rejection { _ = try recover(b.worker, a.journal, published: a.closed) }
            #expect((result == nil) == ok, "counter \(value)")
            if !ok { #expect(result?.reason == .rollback) }
        }
        // The journal cut back to the first close (counter 11): the counter (13) is ahead by two.
        let all = records(a.journal)
        let firstClose = all.indices.first { all[$0][16] == JournalFrame.Kind.batchClose.rawValue }!
        let b = try JournalRun(counter: FakeCounter(13))
        let result = rejection {
            _ = try recover(b.worker, all[...firstClose].flatMap { $0 }, published: Array(a.closed.prefix(1)))
        }
        #expect(result == JournalRejected(recordSequence: UInt64(firstClose + 1), reason: .rollback))
    }

    @Test func aResendAfterRecoveryIsADuplicate() throws {
        let a = try JournalRun()
        try a.trade()
        let b = try JournalRun()
        b.h.now = a.h.now + 1_000_000_000
        _ = try recover(b.worker, a.journal, published: a.closed)
        let sequenced = b.worker.globalSequence
        let taker = try b.open(2, "taker")
        let original = try #require(a.lastOrder)
        #expect(original.status == .accepted)
        let receipt = try b.place(taker, "buy1", .buy, price: 60_003 * 1_000_000)
        #expect(receipt.status == .duplicate)
        #expect(receipt.globalSequence == original.globalSequence && receipt.enclaveTime == original.enclaveTime)
        #expect(receipt.clientOrderID == (try ClientOrderID("buy1")))
        #expect(b.worker.globalSequence == sequenced, "not sequenced again")
        #expect(b.worker.pendingJournalBytes == 0 && b.journal.isEmpty, "not journaled")
        #expect(b.worker.counters.duplicates == 1)
        // A new id is executed; the old one ages out after the window.
        #expect(try b.place(taker, "buy2", .buy, price: 60_003 * 1_000_000).status == .accepted)
        #expect(b.worker.globalSequence == sequenced + 1)
        b.h.now += b.h.venue.dedupeWindowNanos
        #expect(try b.place(taker, "buy1", .buy, price: 60_003 * 1_000_000).status != .duplicate)
        #expect(b.worker.globalSequence == sequenced + 2)
    }

    @Test func theDedupeMemoryForgetsInOrder() {
        var m = DedupeMemory(window: 100)
        let k = { (i: UInt64) in DedupeMemory.Key(account: i, kind: 1, clientOrderID: try! ClientOrderID("x")) }
        for i: UInt64 in 0..<10 { m.remember(k(i), .init(globalSequence: i, enclaveTime: i * 20)) }
        // At time 180 the last 100 ns hold times 100...180 (i = 5...9).
        #expect(m.count == 5)
        #expect(m.original(of: k(5), now: 180)?.globalSequence == 5)
        #expect(m.original(of: k(4), now: 180) == nil)
        #expect(m.original(of: k(9), now: 280) == nil, "aged out even before it is evicted")
        m.remember(k(0), .init(globalSequence: 10, enclaveTime: 200))
        #expect(m.original(of: k(0), now: 200)?.globalSequence == 10)
        #expect(DedupeMemory.bytesPerEntry == 152, "docs/DURABILITY.md §7 states 120 to 152 bytes")
    }
}
