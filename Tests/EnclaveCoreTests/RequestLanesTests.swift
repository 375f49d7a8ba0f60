import Attestation
import Engine
import Journal
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// Request lanes (`enclaveLanes`, docs/CONFIG.md; RequestLanes): the same input stream
/// with 1, 2 and 4 lanes gives the same replies, journal payloads and batch outputs byte
/// for byte; a tampered ciphertext opened on a lane is refused as on one lane; and a
/// batch the lanes cannot keep up with (no lane thread at all, or more jobs than the
/// first allocation holds) loses and reorders nothing.
@Suite("Request lanes")
struct RequestLanesTests {
    static let sessions = 6
    static let route: UInt32 = 3
    static let usd: Int64 = 1_000_000

    /// One session's keys for both ends, salted with a fixed salt, so every worker of a
    /// comparison holds the same session (the handshake's salt is random).
    struct Keys {
        let server: SessionCipher
        let client: SessionCipher
    }

    static func storageKey() -> SecretBytes {
        var raw = [UInt8](repeating: 11, count: 32)
        return SecretBytes(consuming: &raw)
    }

    static func makeWorker(lanes: Int, clock: @escaping () -> UInt64) throws -> Worker<PerpEngine> {
        var venue = DemoKeys.venue()
        venue.enclaveLanes = lanes
        let keys = try StorageKeys(storageKey: storageKey())
        let identity = EnclaveIdentity(
            sessionKey: try keys.sessionKey, signer: try keys.signer, instanceID: 1,
            measurement: Array(repeating: 1, count: 32), configHash: Array(repeating: 2, count: 32), config: venue,
            mode: .software, isolation: .process,
            isolationReport: IsolationReport(dumpable: false, noNewPrivileges: true, privateNetworkNamespace: true,
                                             listeningSockets: 0, openFileDescriptors: 3),
            storageKey: storageKey(), storageKeyProtection: "file-0600")
        return try Worker(identity: identity, engine: try PerpEngine(config: venue, accountCommitment: identity.accountCommitment),
                          journalKey: keys.journalKey, snapshotKey: keys.snapshotKey, clock: clock)
    }

    static func sessionKeys(enclave: KXKeyPair) throws -> [Keys] {
        try (0..<sessions).map { i in
            let client = try KXKeyPair()
            let salt = [UInt8](repeating: UInt8(i + 1), count: SessionKeys.saltByteCount)
            return Keys(
                server: SessionCipher(keys: try enclave.serverSessionKeys(client: client.publicKey).salted(salt), sendDirection: .enclaveToClient),
                client: SessionCipher(keys: try client.clientSessionKeys(server: enclave.publicKey).salted(salt), sendDirection: .clientToEnclave))
        }
    }

    /// Session `i` has id 100 + i and account i + 1.
    static func install(_ keys: [Keys], in worker: Worker<PerpEngine>) {
        for (i, k) in keys.enumerated() {
            let sid = UInt64(100 + i), account = UInt64(i + 1)
            worker.sessions[sid] = .init(cipher: k.server, accountID: account, route: route, lastSequence: 0)
            worker.sessionsByRoute[route, default: []].append(sid)
            worker.sessionsByAccount[account, default: []].append(sid)
        }
    }

    static func sealed(_ request: OrderRequest, session i: Int, sequence: UInt64, keys: [Keys]) throws -> [UInt8] {
        let sid = UInt64(100 + i)
        let ad = SealedAssociatedData.bytes(type: .sealedRequest, sessionID: sid, sequence: sequence)
        let ct = try keys[i].client.seal(sequence: sequence, associatedData: ad, plaintext: request.encode())
        return SealedEnvelope(sessionID: sid, sequence: sequence, ciphertext: ct).encode(type: .sealedRequest)
    }

    /// The stream, as link batches of frames: deposits and prices, then orders that cross
    /// and fill (receipts, fill events, journal records), cancels, a resend (duplicate), a
    /// replayed sequence number, a tampered ciphertext, an unknown session, a price
    /// between orders; `tampered` names the tampered frames' (session, sequence).
    static func stream(keys: [Keys], batchSize: Int) throws -> (batches: [[[UInt8]]], tampered: [(UInt64, UInt64)]) {
        var setup: [[UInt8]] = []
        for i in 0..<sessions {
            let account = UInt64(i + 1)
            setup.append(DemoKeys.deposit(
                venueID: DemoKeys.venue().venueID, accountID: account,
                accountKey: DemoKeys.signingKey(.trader, "t\(i)").publicKey.bytes, amount: 1_000_000_000 * usd,
                depositID: account).encode())
        }
        for p in DemoKeys.publisherNames {
            setup.append(DemoKeys.price(market: 1, price: 60_000 * usd, confidence: 0, publishTime: 1_000, publisher: p).encode())
        }
        var frames: [[UInt8]] = []
        var tampered: [(UInt64, UInt64)] = []
        var next = [UInt64](repeating: 1, count: sessions)
        for k in 0..<1_500 {
            let i = k % sessions
            let side: Side = (k / sessions + i) % 2 == 0 ? .buy : .sell
            let id = try ClientOrderID("o\(k)")
            let request: OrderRequest = k % 10 == 9 ? .cancel(try ClientOrderID("o\(k - sessions)"))
                : .newOrder(NewOrder(clientOrderID: id, market: 1, side: side, price: (60_000 + Int64(k % 5) - 2) * usd,
                                     quantity: 1_000_000))
            var frame = try sealed(request, session: i, sequence: next[i], keys: keys)
            if k % 97 == 13 {
                frame[frame.count - 3] ^= 0x40
                tampered.append((UInt64(100 + i), next[i]))
            }
            frames.append(frame)
            if k % 131 == 7 { frames.append(frame) }  // the same sequence again: replayOrReorder
            if k % 149 == 11, case .newOrder = request {
                // A resend of an order already sequenced, under a new sequence number.
                next[i] += 1
                frames.append(try sealed(request, session: i, sequence: next[i], keys: keys))
            }
            if k % 211 == 5 {
                frames.append(SealedEnvelope(sessionID: 999, sequence: 1, ciphertext: Array(repeating: 1, count: 40))
                    .encode(type: .sealedRequest))
            }
            if k == 700 {
                frames.append(DemoKeys.price(market: 1, price: 60_010 * usd, confidence: 0, publishTime: 2_000,
                                             publisher: DemoKeys.publisherNames[0]).encode())
            }
            next[i] += 1
        }
        var batches = [setup]
        var i = 0
        while i < frames.count {
            batches.append(Array(frames[i..<min(frames.count, i + batchSize)]))
            i += batchSize
        }
        return (batches, tampered)
    }

    /// Where two sequences first differ (an index, or the shorter length), nil when equal:
    /// a failure names the place instead of printing megabytes.
    static func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
        if let i = (0..<min(a.count, b.count)).first(where: { a[$0] != b[$0] }) { return i }
        return a.count == b.count ? nil : min(a.count, b.count)
    }

    struct Outputs {
        var replies: [UInt8] = []
        var journal: [[UInt8]] = []
        var batches: [[UInt8]] = []
        var refusals: [RefusalReason: UInt64] = [:]
    }

    /// Feeds `batches` to a fresh worker with `lanes` lanes (or, with `sequencerOnly`, lanes
    /// with no thread: the sequencer opens every job itself); a batch is closed every third
    /// link batch.
    static func run(lanes: Int, keys: [Keys], batches: [[[UInt8]]], sequencerOnly: Bool = false) throws -> Outputs {
        var now: UInt64 = 1_000
        let worker = try makeWorker(lanes: lanes, clock: { now })
        if sequencerOnly { worker.lanes = RequestLanes(threads: 0) }
        install(keys, in: worker)
        var out = Outputs()
        var journal = JournalCipher(key: try StorageKeys(storageKey: storageKey()).journalKey)
        func takeJournal() throws {
            var records: [UInt8] = []
            worker.takeJournal { records += Array($0) }
            var offset = 0
            try records.withUnsafeBytes { raw in
                while offset < raw.count {
                    let r = try journal.open(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                    out.journal.append([r.kind.rawValue] + r.payload)
                    offset += r.length
                }
            }
        }
        for (n, frames) in batches.enumerated() {
            var batch = LinkBatchWriter(kind: .inboundBatch)
            for f in frames { batch.append(route: route, frame: f) }
            let message = batch.finish()
            var o = LinkBatchWriter(kind: .outboundBatch)
            // A small flush threshold: the mid-batch flushes happen too.
            try message.withUnsafeBytes { raw in
                try worker.process(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), into: &o, flushThreshold: 8_192,
                                   flush: { w in
                                       try? takeJournal()
                                       out.replies += w.finish()
                                       w.reset()
                                   })
            }
            try takeJournal()
            out.replies += o.finish()
            now += 1_000_000
            if n % 3 == 2, let closed = worker.closeBatchIfDue(force: true) {
                try takeJournal()
                out.batches.append(closed.eventLeaves + closed.decisionLines + closed.inputLines + closed.headerLine)
            }
        }
        if let closed = worker.closeBatchIfDue(force: true) {
            try takeJournal()
            out.batches.append(closed.eventLeaves + closed.decisionLines + closed.inputLines + closed.headerLine)
        }
        for reason in RefusalReason.allCases where worker.counters.refusals(reason) > 0 {
            out.refusals[reason] = worker.counters.refusals(reason)
        }
        #expect(worker.laneCount == (sequencerOnly ? 1 : lanes))
        if lanes > 1 || sequencerOnly {
            let counts = worker.laneJobCounts!
            #expect(counts.jobs > 1_000 && counts.seals > 1_000, "requests opened and replies sealed through the lanes")
            if sequencerOnly { #expect(counts.bySequencer == counts.jobs && counts.sealsBySequencer == counts.seals) }
        }
        return out
    }

    /// Link batches as the host forwards them under load (512 frames), small, and one frame each.
    @Test(arguments: [512, 37, 1])
    func lanesGiveTheOutputsOfOneLane(batchSize: Int) throws {
        let keys = try Self.sessionKeys(enclave: try StorageKeys(storageKey: Self.storageKey()).sessionKey)
        let (batches, tampered) = try Self.stream(keys: keys, batchSize: batchSize)
        let one = try Self.run(lanes: 1, keys: keys, batches: batches)
        #expect(one.refusals[.authenticationFailed, default: 0] >= UInt64(tampered.count) && !tampered.isEmpty)
        #expect(one.refusals[.replayOrReorder]! > 0 && one.refusals[.unknownSession]! > 0)
        #expect(one.journal.count > 1_400 && one.batches.count >= 2)
        for lanes in [2, 4] {
            let many = try Self.run(lanes: lanes, keys: keys, batches: batches)
            #expect(Self.firstDifference(many.replies, one.replies) == nil, "replies with \(lanes) lanes")
            #expect(Self.firstDifference(many.journal, one.journal) == nil, "journal payloads with \(lanes) lanes")
            #expect(Self.firstDifference(many.batches, one.batches) == nil, "batch outputs with \(lanes) lanes")
            #expect(many.refusals == one.refusals)
        }
    }

    /// No lane thread at all: the sequencer finds every job unclaimed and opens or seals it
    /// itself; a batch of 2,048 requests grows the job table past its first 1,024 slots and
    /// fills the ring of 1,024 seal jobs (drained mid-batch: back-pressure).
    @Test func withNoLaneRunningTheSequencerOpensEveryJob() throws {
        let keys = try Self.sessionKeys(enclave: try StorageKeys(storageKey: Self.storageKey()).sessionKey)
        let (batches, _) = try Self.stream(keys: keys, batchSize: 2_048)
        let one = try Self.run(lanes: 1, keys: keys, batches: batches)
        let alone = try Self.run(lanes: 2, keys: keys, batches: batches, sequencerOnly: true)
        #expect(Self.firstDifference(alone.replies, one.replies) == nil)
        #expect(Self.firstDifference(alone.journal, one.journal) == nil)
        #expect(Self.firstDifference(alone.batches, one.batches) == nil)
        #expect(alone.refusals == one.refusals)
    }

    /// A tampered frame opened on a lane gets the refusal one lane gives, naming its
    /// session and sequence, and spends no sequence number: the untampered resend with
    /// the same sequence number is then sequenced.
    @Test func aTamperedFrameOnALaneIsRefused() throws {
        let keys = try Self.sessionKeys(enclave: try StorageKeys(storageKey: Self.storageKey()).sessionKey)
        let worker = try Self.makeWorker(lanes: 2, clock: { 5_000 })
        Self.install(keys, in: worker)
        let order = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("x"), market: 1, side: .buy,
                                                   price: 60_000 * Self.usd, quantity: 1_000_000))
        let good = try Self.sealed(order, session: 0, sequence: 1, keys: keys)
        var bad = good
        bad[bad.count - 1] ^= 1
        var batch = LinkBatchWriter(kind: .inboundBatch)
        batch.append(route: Self.route, frame: bad)
        batch.append(route: Self.route, frame: good)
        var o = LinkBatchWriter(kind: .outboundBatch)
        try batch.finish().withUnsafeBytes { raw in
            try worker.process(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), into: &o)
        }
        var replies: [(MessageType, [UInt8])] = []
        try o.finish().withUnsafeBytes { raw in
            try LinkParser.forEachEntry(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), direction: .toClient) { _, h, f in
                replies.append((h.type, Array(f[h.bodyOffset..<h.totalLength])))
            }
        }
        #expect(replies.map(\.0) == [.refusal, .sealedReceipt])
        let refusal = try replies[0].1.withUnsafeBytes { try Refusal.decode(body: $0) }
        #expect(refusal == Refusal(refused: .sealedRequest, sessionID: 100, reference: 1, reason: .authenticationFailed))
        #expect(worker.globalSequence == 1)
        #expect(worker.counters.refusals(.authenticationFailed) == 1)
    }
}
