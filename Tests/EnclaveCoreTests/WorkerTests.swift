import Attestation
import Client
import Engine
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// Drives a real `Worker` (real crypto, real codecs) without processes: frames in, one
/// reply frame out per input, plus any sealed events pushed to other sessions.
final class Harness<E: MatchingEngine> {
    let worker: Worker<E>
    /// Sealed events pushed during the last `send`, with their routes.
    var events: [(route: UInt32, body: [UInt8])] = []
    let venue: VenueConfig
    var now: UInt64 = 1_000_000
    /// Nanoseconds the clock advances at every read (0: it reads `now` unchanged).
    var tick: UInt64 = 0
    let route: UInt32 = 5

    /// With `storageKey` the worker's keys derive from it and it journals
    /// (docs/DURABILITY.md §1, §2), as the enclave executable does.
    init(
        maxSessions: Int = 100, maxSessionsPerRoute: Int = 100, storageKey: SecretBytes? = nil,
        counter: (any MonotonicCounter)? = nil, venue: VenueConfig = DemoKeys.venue(), sealingThread: Bool = true,
        engine: (VenueConfig) throws -> E
    ) throws {
        self.venue = venue
        let keys = try storageKey.map { try StorageKeys(storageKey: $0) }
        let identity = EnclaveIdentity(
            sessionKey: try keys?.sessionKey ?? KXKeyPair(), signer: try keys?.signer ?? Secp256k1PrivateKey(), instanceID: 1,
            measurement: Array(repeating: 1, count: 32),
            configHash: Array(repeating: 2, count: 32), config: venue, mode: .software, isolation: .process,
            isolationReport: IsolationReport(dumpable: false, noNewPrivileges: true, privateNetworkNamespace: true,
                                             listeningSockets: 0, openFileDescriptors: 3),
            storageKey: storageKey, storageKeyProtection: "file-0600")
        var clock: () -> UInt64 = { 0 }
        worker = try Worker(identity: identity, engine: try engine(venue), maxSessions: maxSessions, maxSessionsPerRoute: maxSessionsPerRoute,
                            journalKey: keys?.journalKey, snapshotKey: keys?.snapshotKey, counter: counter, sealingThread: sealingThread,
                            clock: { clock() })
        clock = { [unowned self] in
            self.now += self.tick
            return self.now
        }
    }

    var enclaveKey: [UInt8] { worker.identity.sessionKey.publicKey.bytes }

    /// Sends one complete client frame; returns the single reply frame.
    func send(_ frame: [UInt8], route: UInt32? = nil) throws -> (type: MessageType, body: [UInt8]) {
        var batch = LinkBatchWriter(kind: .inboundBatch)
        batch.append(route: route ?? self.route, frame: frame)
        let inbound = batch.finish()
        var out = LinkBatchWriter(kind: .outboundBatch)
        try inbound.withUnsafeBytes { raw in
            try worker.process(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), into: &out)
        }
        let message = out.finish()
        var replies: [(UInt32, MessageType, [UInt8])] = []
        try message.withUnsafeBytes { raw in
            try LinkParser.forEachEntry(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), direction: .toClient) { r, h, f in
                replies.append((r, h.type, Array(f[h.bodyOffset..<h.totalLength])))
            }
        }
        events = replies.filter { $0.1 == .sealedEvent }.map { ($0.0, $0.2) }
        let answers = replies.filter { $0.1 != .sealedEvent }
        #expect(answers.count == 1, "exactly one reply per input")
        #expect(answers.first?.0 == route ?? self.route, "the reply goes back to the sender's route")
        return (answers[0].1, answers[0].2)
    }

    func deposit(account: UInt64, name: String, depositID: UInt64? = nil, amount: Int64 = 1_000_000) throws -> (type: MessageType, body: [UInt8]) {
        let d = DemoKeys.deposit(venueID: venue.venueID, accountID: account, accountKey: DemoKeys.signingKey(.trader, name).publicKey.bytes,
                                 amount: amount, depositID: depositID ?? account * 1000)
        return try send(d.encode())
    }

    func openSession(account: UInt64, name: String, signer: String? = nil) throws -> EnclaveSession {
        let (session, frame) = try EnclaveSession.open(enclaveKey: enclaveKey, accountID: account,
                                                       accountKey: DemoKeys.signingKey(.trader, signer ?? name))
        let reply = try send(frame)
        try #require(reply.type == .sessionAccepted, "got \(reply.type) \(refusalReason(reply) as Any)")
        try session.confirm(try reply.body.withUnsafeBytes { try SessionAccepted.decode(body: $0) })
        return session
    }

    func receipt(_ reply: (type: MessageType, body: [UInt8]), session: EnclaveSession) throws -> Receipt {
        try #require(reply.type == .sealedReceipt, "got \(reply.type) \(refusalReason(reply) as Any)")
        return try session.openReceipt(try reply.body.withUnsafeBytes { try SealedEnvelope.decode(body: $0) })
    }

    func refusalReason(_ reply: (type: MessageType, body: [UInt8])) -> RefusalReason? {
        guard reply.type == .refusal else { return nil }
        return try? reply.body.withUnsafeBytes { try Refusal.decode(body: $0) }.reason
    }
}

func order(_ id: String, market: UInt32 = 1, quantity: Int64 = 100, price: Int64 = 60_000_000_000) -> OrderRequest {
    .newOrder(NewOrder(clientOrderID: try! ClientOrderID(id), market: market, side: .buy, price: price, quantity: quantity))
}

extension Harness where E == SequencerEngine {
    convenience init(maxSessions: Int = 100, maxSessionsPerRoute: Int = 100) throws {
        try self.init(maxSessions: maxSessions, maxSessionsPerRoute: maxSessionsPerRoute) { SequencerEngine(config: $0) }
    }
}

@Suite("Enclave worker")
struct WorkerTests {
    /// With the real engine: a crossing order's receipt carries the fill, and the maker's
    /// session gets a sealed fill event only it can open.
    @Test func makerFillsArePushedAsSealedEvents() throws {
        let h = try Harness<PerpEngine> { try PerpEngine(config: $0) }
        _ = try h.deposit(account: 1, name: "maker", amount: 10_000_000_000)
        _ = try h.deposit(account: 2, name: "taker", amount: 10_000_000_000)
        for p in DemoKeys.publisherNames {
            #expect(try h.send(DemoKeys.price(market: 1, price: 60_000_000_000, confidence: 0, publishTime: h.now, publisher: p).encode()).type == .publicAck)
        }
        let maker = try h.openSession(account: 1, name: "maker")
        let taker = try h.openSession(account: 2, name: "taker")
        let ask = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("ask-1"), market: 1, side: .sell, price: 60_000_000_000, quantity: 1_000_000))
        let rest = try OrderReport.decode(try h.receipt(try h.send(try maker.seal(ask).frame), session: maker).detail)
        #expect(rest.resting == 1_000_000 && h.events.isEmpty)
        let bid = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("bid-1"), market: 1, side: .buy, price: 60_000_000_000, quantity: 1_000_000))
        let receipt = try h.receipt(try h.send(try taker.seal(bid).frame), session: taker)
        let report = try OrderReport.decode(receipt.detail)
        #expect(report.fills.count == 1 && report.fills[0].quantity == 1_000_000 && !report.fills[0].isMaker)
        #expect(h.events.count == 1)
        let envelope = try h.events[0].body.withUnsafeBytes { try SealedEnvelope.decode(body: $0) }
        #expect(envelope.sessionID == maker.sessionID && envelope.sequence == 1)
        let event = try maker.openEvent(envelope)
        #expect(event.clientOrderID == (try ClientOrderID("ask-1")))
        #expect(event.side == .sell && event.quantity == 1_000_000 && event.globalSequence == receipt.globalSequence)
        #expect(throws: ClientError.self) { try taker.openEvent(envelope) }
        #expect(throws: ClientError.self) { try maker.openEvent(envelope) }  // replayed
    }

    /// A liquidation set off by an oracle price fills a resting bid: the maker hears of it
    /// at once, stamped with the price's sequence number and time, not at some later
    /// sealed request.
    @Test func liquidationFillsArePushedWithTheirOwnEvent() throws {
        // Decisions are committed, so accounts need 32-byte commitments.
        let h = try Harness<PerpEngine> { try PerpEngine(config: $0, accountCommitment: { id in withUnsafeBytes(of: id) { SHA256.hash($0) } }) }
        _ = try h.deposit(account: 1, name: "maker", amount: 1_000_000_000_000)
        _ = try h.deposit(account: 2, name: "long", amount: 1_750_000_000)
        _ = try h.deposit(account: 3, name: "seller", amount: 1_000_000_000_000)
        func price(_ p: Int64, _ publishers: [String]) throws -> PublicAck {
            var ack: PublicAck?
            for name in publishers {
                let reply = try h.send(DemoKeys.price(market: 1, price: p, confidence: 0, publishTime: h.now, publisher: name).encode())
                ack = try reply.body.withUnsafeBytes { try PublicAck.decode(body: $0) }
            }
            return ack!
        }
        _ = try price(60_000_000_000, DemoKeys.publisherNames)
        let maker = try h.openSession(account: 1, name: "maker")
        let long = try h.openSession(account: 2, name: "long")
        let seller = try h.openSession(account: 3, name: "seller")
        func place(_ s: EnclaveSession, _ id: String, _ side: Side, _ p: Int64) throws -> Receipt {
            let o = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID(id), market: 1, side: side, price: p, quantity: 50_000_000))
            return try h.receipt(try h.send(try s.seal(o).frame), session: s)
        }
        #expect(try place(seller, "ask", .sell, 60_000_000_000).status == .accepted)
        #expect(try place(long, "buy", .buy, 60_000_000_000).status == .accepted)
        #expect(try place(maker, "bid", .buy, 57_000_000_000).status == .accepted)
        h.events = []
        // 0.5 BTC long with 1,735 left is liquidatable below 58,247; two publishers make the mark.
        h.now += 1_000_000_000
        _ = try price(58_000_000_000, ["pyth-a"])
        #expect(h.events.isEmpty)
        let ack = try price(58_000_000_000, ["pyth-b"])
        try #require(h.events.count == 1, "the maker's fill is pushed with the price that caused it")
        let event = try maker.openEvent(try h.events[0].body.withUnsafeBytes { try SealedEnvelope.decode(body: $0) })
        #expect(event.clientOrderID == (try ClientOrderID("bid")) && event.side == .buy && event.quantity == 50_000_000)
        #expect(event.price == 57_000_000_000)
        #expect(event.globalSequence == ack.globalSequence && event.enclaveTime == ack.enclaveTime)
    }

    @Test func ordersGetGapFreeGlobalSequenceNumbers() throws {
        let h = try Harness()
        #expect(try h.deposit(account: 1, name: "alice").type == .publicAck)
        #expect(try h.deposit(account: 2, name: "bob").type == .publicAck)
        let alice = try h.openSession(account: 1, name: "alice")
        let bob = try h.openSession(account: 2, name: "bob")
        var seen: [UInt64] = []
        for i in 0..<20 {
            let s = i % 2 == 0 ? alice : bob
            let r = try h.receipt(try h.send(try s.seal(order("o\(i)")).frame), session: s)
            #expect(r.status == .accepted)
            #expect(r.clientOrderID == (try ClientOrderID("o\(i)")))
            seen.append(r.globalSequence)
        }
        // Deposits took 1 and 2.
        #expect(seen == Array(3...22))
        #expect(h.worker.globalSequence == 22)
    }

    @Test func replayedAndReorderedFramesAreRefused() throws {
        let h = try Harness()
        _ = try h.deposit(account: 1, name: "alice")
        let s = try h.openSession(account: 1, name: "alice")
        let first = try s.seal(order("a")).frame
        let second = try s.seal(order("b")).frame
        let third = try s.seal(order("c")).frame
        #expect(try h.receipt(try h.send(first), session: s).status == .accepted)
        #expect(h.refusalReason(try h.send(first)) == .replayOrReorder, "replay")
        #expect(try h.receipt(try h.send(third), session: s).status == .accepted)
        #expect(h.refusalReason(try h.send(second)) == .replayOrReorder, "reordered behind a later frame")
        #expect(h.worker.counters.refusals(.replayOrReorder) == 2)
    }

    @Test func everyBitFlipInTheSealedFrameIsRefusedAndSpendsNothing() throws {
        let h = try Harness()
        _ = try h.deposit(account: 1, name: "alice")
        let s = try h.openSession(account: 1, name: "alice")
        let frame = try s.seal(order("flip")).frame
        let sequenceBefore = h.worker.globalSequence
        // Bits of session id, sequence and ciphertext (the AEAD's associated data and
        // body); version and type flips are refused by the frame parser (WireTests).
        for bit in (6 * 8)..<(frame.count * 8) {
            var tampered = frame
            tampered[bit / 8] ^= 1 << (bit % 8)
            let reply = try h.send(tampered)
            #expect(reply.type == .refusal, "bit \(bit)")
            let reason = h.refusalReason(reply)
            #expect([.authenticationFailed, .unknownSession, .replayOrReorder].contains(reason), "bit \(bit): \(reason as Any)")
        }
        #expect(h.worker.globalSequence == sequenceBefore, "no tampered frame was sequenced")
        // The untampered frame still goes through: refusals did not consume its sequence number.
        #expect(try h.receipt(try h.send(frame), session: s).status == .accepted)
    }

    /// The host closes a connection, then replays the captured session-open and the old
    /// requests. The enclave's per-session salt makes the replayed session's keys new,
    /// so nothing old authenticates and no receipt is sealed twice under one nonce.
    @Test func replayedSessionOpenCannotResurrectASession() throws {
        let h = try Harness()
        _ = try h.deposit(account: 1, name: "alice")
        let (session, openFrame) = try EnclaveSession.open(enclaveKey: h.enclaveKey, accountID: 1, accountKey: DemoKeys.signingKey(.trader, "alice"))
        let accepted = try h.send(openFrame)
        try session.confirm(try accepted.body.withUnsafeBytes { try SessionAccepted.decode(body: $0) })
        let orderFrame = try session.seal(order("once")).frame
        let first = try h.send(orderFrame)
        #expect(try h.receipt(first, session: session).status == .accepted)
        let sequenced = h.worker.globalSequence

        h.worker.routeClosed(h.route)
        let replayedOpen = try h.send(openFrame)
        #expect(replayedOpen.type == .sessionAccepted)
        #expect(replayedOpen.body != accepted.body, "fresh salt, fresh acceptance")
        let replayedOrder = try h.send(orderFrame)
        #expect(h.refusalReason(replayedOrder) == .authenticationFailed)
        #expect(h.worker.globalSequence == sequenced, "the old order was not sequenced again")
    }

    @Test func sessionsAreBoundToTheirConnection() throws {
        let h = try Harness()
        _ = try h.deposit(account: 1, name: "alice")
        let s = try h.openSession(account: 1, name: "alice")
        #expect(h.refusalReason(try h.send(try s.seal(order("x")).frame, route: 99)) == .unknownSession)
    }

    @Test func sessionAuthentication() throws {
        let h = try Harness()
        _ = try h.deposit(account: 1, name: "alice")
        // Signed by the wrong account key.
        let (_, wrongKey) = try EnclaveSession.open(enclaveKey: h.enclaveKey, accountID: 1, accountKey: DemoKeys.signingKey(.trader, "mallory"))
        #expect(h.refusalReason(try h.send(wrongKey)) == .badAccountSignature)
        // An account no deposit registered.
        let (_, unknown) = try EnclaveSession.open(enclaveKey: h.enclaveKey, accountID: 99, accountKey: DemoKeys.signingKey(.trader, "alice"))
        #expect(h.refusalReason(try h.send(unknown)) == .unknownAccount)
        // Sealed to some other enclave's key.
        let other = try KXKeyPair()
        let (_, misdirected) = try EnclaveSession.open(enclaveKey: other.publicKey.bytes, accountID: 1, accountKey: DemoKeys.signingKey(.trader, "alice"))
        #expect(h.refusalReason(try h.send(misdirected)) == .authenticationFailed)
        // Session ids are unique.
        let (_, a) = try EnclaveSession.open(enclaveKey: h.enclaveKey, accountID: 1, accountKey: DemoKeys.signingKey(.trader, "alice"), sessionID: 77)
        let (_, b) = try EnclaveSession.open(enclaveKey: h.enclaveKey, accountID: 1, accountKey: DemoKeys.signingKey(.trader, "alice"), sessionID: 77)
        #expect(try h.send(a).type == .sessionAccepted)
        #expect(h.refusalReason(try h.send(b)) == .sessionIDInUse)
        #expect(h.worker.sessionCount == 1)
    }

    @Test func sessionLimitAndRouteClosure() throws {
        let h = try Harness(maxSessions: 2)
        _ = try h.deposit(account: 1, name: "alice")
        _ = try h.openSession(account: 1, name: "alice")
        let s2 = try h.openSession(account: 1, name: "alice")
        let (_, third) = try EnclaveSession.open(enclaveKey: h.enclaveKey, accountID: 1, accountKey: DemoKeys.signingKey(.trader, "alice"))
        #expect(h.refusalReason(try h.send(third)) == .sessionLimit)
        h.worker.routeClosed(h.route)
        #expect(h.worker.sessionCount == 0)
        #expect(h.refusalReason(try h.send(try s2.seal(order("late")).frame)) == .unknownSession)
    }

    @Test func oneConnectionCannotTakeEverySession() throws {
        let h = try Harness(maxSessions: 100, maxSessionsPerRoute: 2)
        _ = try h.deposit(account: 1, name: "alice")
        _ = try h.openSession(account: 1, name: "alice")
        _ = try h.openSession(account: 1, name: "alice")
        let (_, third) = try EnclaveSession.open(enclaveKey: h.enclaveKey, accountID: 1, accountKey: DemoKeys.signingKey(.trader, "alice"))
        #expect(h.refusalReason(try h.send(third)) == .sessionLimit)
        // Another connection still can.
        let (_, other) = try EnclaveSession.open(enclaveKey: h.enclaveKey, accountID: 1, accountKey: DemoKeys.signingKey(.trader, "alice"))
        #expect(try h.send(other, route: 6).type == .sessionAccepted)
    }

    @Test func garbagePlaintextIsAnsweredButNotSequenced() throws {
        let h = try Harness()
        _ = try h.deposit(account: 1, name: "alice")
        let s = try h.openSession(account: 1, name: "alice")
        // A validly sealed request whose plaintext is not a request.
        var raw: [UInt8] = []
        _ = [UInt8]([9, 9, 9]).withUnsafeBytes { s.seal(encodedRequest: $0, appendingTo: &raw) }
        let before = h.worker.globalSequence
        let r = try h.receipt(try h.send(raw), session: s)
        #expect(r.status == .notSequenced && r.reason == .malformedRequest && r.globalSequence == 0)
        #expect(h.worker.globalSequence == before)
    }

    @Test func engineRejectionsAreSequencedAndSealed() throws {
        let h = try Harness()
        _ = try h.deposit(account: 1, name: "alice")
        let s = try h.openSession(account: 1, name: "alice")
        let r1 = try h.receipt(try h.send(try s.seal(order("m", market: 42)).frame), session: s)
        #expect(r1.status == .rejected && r1.reason == .unknownMarket && r1.globalSequence == 2)
        let r2 = try h.receipt(try h.send(try s.seal(order("q", quantity: 0)).frame), session: s)
        #expect(r2.status == .rejected && r2.reason == .invalidQuantity && r2.globalSequence == 3)
    }

    @Test func depositsAreCustodySignedUniqueAndKeyStable() throws {
        let h = try Harness()
        #expect(try h.deposit(account: 1, name: "alice", depositID: 5).type == .publicAck)
        #expect(h.refusalReason(try h.deposit(account: 1, name: "alice", depositID: 5)) == .duplicateDeposit)
        #expect(h.refusalReason(try h.deposit(account: 1, name: "mallory", depositID: 6)) == .accountKeyMismatch)
        #expect(h.refusalReason(try h.deposit(account: 3, name: "carol", depositID: 7, amount: 0)) == .invalidAmount)
        var forged = DemoKeys.deposit(venueID: h.venue.venueID, accountID: 9, accountKey: Array(repeating: 1, count: 32), amount: 5, depositID: 8)
        forged.amount = 5_000_000_000
        #expect(h.refusalReason(try h.send(forged.encode())) == .badCustodySignature)
        // Signed for another venue.
        let otherVenue = DemoKeys.deposit(venueID: 1, accountID: 9, accountKey: Array(repeating: 1, count: 32), amount: 5, depositID: 9)
        #expect(h.refusalReason(try h.send(otherVenue.encode())) == .badCustodySignature)
    }

    @Test func oraclePricesMustComeFromRegisteredPublishers() throws {
        let h = try Harness()
        let good = DemoKeys.price(market: 1, price: 60_000_000_000, confidence: 1, publishTime: 10, publisher: "pyth-a")
        let ack = try h.send(good.encode())
        #expect(ack.type == .publicAck)
        let parsed = try ack.body.withUnsafeBytes { try PublicAck.decode(body: $0) }
        #expect(parsed.acknowledged == .oraclePrice && parsed.reference == 10 && parsed.globalSequence == 1)
        var forged = good
        forged.price = 1
        #expect(h.refusalReason(try h.send(forged.encode())) == .badPublisherSignature)
        let stranger = DemoKeys.price(market: 1, price: 1, confidence: 1, publishTime: 11, publisher: "not-registered")
        #expect(h.refusalReason(try h.send(stranger.encode())) == .unknownPublisher)
        let noMarket = DemoKeys.price(market: 99, price: 1, confidence: 1, publishTime: 12, publisher: "pyth-a")
        #expect(h.refusalReason(try h.send(noMarket.encode())) == .unknownMarket)
    }

    /// Publishers are registered per perpetual: a signed price naming an option market is
    /// refused `unknownMarket` at admission and never sequenced (docs/OPTIONS.md §10.1,
    /// PROTOCOL §2.6), even from a publisher of its underlying.
    @Test func pricesNamingAnOptionMarketAreRefused() throws {
        var venue = DemoKeys.venue()
        let margin = PortfolioMarginConfig(
            priceBuckets: 8, minScanBps: 500, maxScanBps: 3_000, scanDeviationsMilli: 4_000, horizonNanos: 86_400_000_000_000,
            volUpBps: 5_000, volDownBps: 3_000, extremeMultiple: 3, extremeCoverBps: 3_300, shortOptionMinimumBps: 100,
            initialRatioBps: 13_000)
        let expiry: UInt64 = 2_592_000_000_000_000
        venue.options = OptionsConfig(
            underlyings: [OptionUnderlyingConfig(
                market: 1, margin: margin,
                realizedVolatility: RealizedVolatilityConfig(halfLifeNanos: 3_600_000_000_000, minIntervalNanos: 1_000_000_000,
                                                             initialVolatilityPpm: 600_000),
                smiles: [SmileConfig(expiry: expiry, a: 20_000_000, b: 100_000_000, rho: -300_000_000, m: 0, sigma: 100_000_000)])],
            markets: [OptionMarketConfig(id: 101, symbol: "BTC-30D-50000-C", underlying: 1, kind: .call, strike: 50_000_000_000,
                                         expiry: expiry, contractSize: 1_000_000, tickSize: 100_000)])
        let h = try Harness(venue: venue) { try PerpEngine(config: $0) }
        let option = DemoKeys.price(market: 101, price: 1_000_000, confidence: 0, publishTime: 10, publisher: "pyth-a")
        #expect(h.refusalReason(try h.send(option.encode())) == .unknownMarket)
        let underlying = DemoKeys.price(market: 1, price: 60_000_000_000, confidence: 1, publishTime: 11, publisher: "pyth-a")
        let ack = try h.send(underlying.encode())
        let parsed = try ack.body.withUnsafeBytes { try PublicAck.decode(body: $0) }
        #expect(parsed.globalSequence == 1, "the refused price took no sequence number")
    }

    @Test func replayedOrOutOfWindowPricesAreRefused() throws {
        let h = try Harness()
        h.now = 100_000_000_000
        let price = DemoKeys.price(market: 1, price: 60_000_000_000, confidence: 1, publishTime: 99_000_000_000, publisher: "pyth-a")
        #expect(try h.send(price.encode()).type == .publicAck)
        #expect(h.refusalReason(try h.send(price.encode())) == .stalePrice, "replay")
        let older = DemoKeys.price(market: 1, price: 1, confidence: 1, publishTime: 98_000_000_000, publisher: "pyth-a")
        #expect(h.refusalReason(try h.send(older.encode())) == .stalePrice, "older than the publisher's last")
        let ancient = DemoKeys.price(market: 1, price: 1, confidence: 1, publishTime: 1, publisher: "pyth-b")
        #expect(h.refusalReason(try h.send(ancient.encode())) == .stalePrice, "beyond the staleness limit")
        let future = DemoKeys.price(market: 1, price: 1, confidence: 1, publishTime: 106_000_000_000, publisher: "pyth-b")
        #expect(h.refusalReason(try h.send(future.encode())) == .stalePrice, "too far ahead")
        // Another publisher's fresh price is fine.
        let other = DemoKeys.price(market: 1, price: 60_000_000_000, confidence: 1, publishTime: 99_500_000_000, publisher: "pyth-b")
        #expect(try h.send(other.encode()).type == .publicAck)
    }

    @Test func evidenceAnswersTheNonce() throws {
        let h = try Harness()
        let nonce = Sodium.randomBytes(32)
        let reply = try h.send(EvidenceRequest(nonce: nonce).encode())
        #expect(reply.type == .evidence)
        let evidence = try Evidence.parse(reply.body)
        #expect(evidence.nonce == Hex.encode(nonce))
        #expect(evidence.enclaveKeyBytes == h.enclaveKey)
        #expect(evidence.simulated && evidence.mode == .software)
        #expect(h.worker.globalSequence == 0, "evidence is not a sequenced event")
    }

    @Test func enclaveTimeNeverGoesBackwards() throws {
        let h = try Harness()
        h.now = 500
        let a = try h.send(DemoKeys.price(market: 1, price: 1, confidence: 0, publishTime: 1, publisher: "pyth-a").encode())
        h.now = 100  // the host's clock stepped back
        let b = try h.send(DemoKeys.price(market: 1, price: 1, confidence: 0, publishTime: 2, publisher: "pyth-a").encode())
        let ta = try a.body.withUnsafeBytes { try PublicAck.decode(body: $0) }.enclaveTime
        let tb = try b.body.withUnsafeBytes { try PublicAck.decode(body: $0) }.enclaveTime
        #expect(ta == 500 && tb == 500)
    }

    @Test func malformedBatchesThrow() throws {
        let h = try Harness()
        var out = LinkBatchWriter(kind: .outboundBatch)
        // Count says two entries, only one present.
        var batch = LinkBatchWriter(kind: .inboundBatch)
        batch.append(route: 1, frame: EvidenceRequest(nonce: Array(repeating: 0, count: 32)).encode())
        var bytes = batch.finish()
        bytes[8] = 2
        #expect(throws: WireError.self) {
            try bytes.withUnsafeBytes { try h.worker.process(batchBody: UnsafeRawBufferPointer(rebasing: $0[5...]), into: &out) }
        }
    }
}
