import Client
import SealCrypto
import Engine
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// Margin calls through the real worker (docs/OPTIONS.md §10.10, docs/PROTOCOL.md §2.11):
/// sealed to the called account's open session only, opened by it to the engine's values.
@Suite("Margin call delivery")
struct MarginCallDeliveryTests {
    static let usd: Int64 = 1_000_000

    /// The demo venue with OptionRun's call (101, strike 50,000) and put on BTC, and calls
    /// at 2 % over one day with 0.5 % hysteresis, no repeat.
    static func venue() -> VenueConfig {
        var venue = OptionRun.venue()
        venue.options!.marginCall = MarginCallConfig(levelPpm: 20_000, hysteresisPpm: 5_000,
                                                     horizonNanos: 86_400_000_000_000, repeatNanos: 0)
        return venue
    }

    /// BTC at 50,000. The writer (account 2, 1,500 USD) sells 0.1 of the call to the
    /// holder (account 1, 10 M USD); a bystander (account 3) holds cash. Each has a session.
    /// BTC then rises 250 USD per 30 s: the writer's session gets exactly one sealed margin
    /// call, which opens to the engine's health, delta and probability at the price event
    /// that made it; the holder's and the bystander's sessions get nothing after the trade.
    @Test func aPriceMoveSealsOneCallToTheWriterOnly() throws {
        let h = try Harness<PerpEngine>(venue: Self.venue()) { try PerpEngine(config: $0) }
        _ = try h.deposit(account: 1, name: "holder", amount: 10_000_000 * Self.usd)
        _ = try h.deposit(account: 2, name: "writer", amount: 1_500 * Self.usd)
        _ = try h.deposit(account: 3, name: "bystander", amount: 1_000 * Self.usd)
        try publish(h, 50_000 * Self.usd)
        let holder = try h.openSession(account: 1, name: "holder")
        let writer = try h.openSession(account: 2, name: "writer")
        let bystander = try h.openSession(account: 3, name: "bystander")

        var engine = h.worker.engine
        let mark = try engine.mark(OptionRun.call, at: h.now).get()
        let premium = mark / 100_000 * 100_000
        let ask = NewOrder(clientOrderID: try ClientOrderID("ask"), market: OptionRun.call, side: .sell, price: premium,
                           quantity: 10_000_000)
        #expect(try h.receipt(try h.send(try writer.seal(.newOrder(ask)).frame), session: writer).status == .accepted)
        let lift = NewOrder(clientOrderID: try ClientOrderID("lift"), market: OptionRun.call, side: .buy, type: .limit,
                            timeInForce: .immediateOrCancel, price: premium, quantity: 10_000_000)
        #expect(try h.receipt(try h.send(try holder.seal(.newOrder(lift)).frame), session: holder).status == .accepted)
        // The writer's resting ask filled: a fill event (kind 1), no call yet.
        #expect(h.events.count == 1)
        if case .fill = try writer.openSessionEvent(try envelope(h.events[0].body)) {} else { Issue.record("not a fill") }

        var calls: [(event: MarginCallEvent, ack: PublicAck, health: PerpEngine.Health, mark: Int64)] = []
        var others = 0
        for step in 1...6 {
            h.now += 30_000_000_000
            for p in DemoKeys.publisherNames {
                let price = DemoKeys.price(market: 1, price: (50_000 + 250 * Int64(step)) * Self.usd, confidence: 0,
                                           publishTime: h.now, publisher: p)
                let reply = try h.send(price.encode())
                #expect(reply.type == .publicAck)
                let ack = try reply.body.withUnsafeBytes { try PublicAck.decode(body: $0) }
                for e in h.events {
                    let env = try envelope(e.body)
                    guard env.sessionID == writer.sessionID else {
                        others += 1
                        continue
                    }
                    guard case .marginCall(let call) = try writer.openSessionEvent(env) else {
                        Issue.record("the writer got another event")
                        continue
                    }
                    var engine = h.worker.engine
                    let health = try engine.health(2, now: h.now).get()
                    calls.append((call, ack, health, try engine.mark(1, at: h.now).get()))
                }
            }
        }
        #expect(others == 0, "the holder's and the bystander's sessions receive nothing")
        try #require(calls.count == 1, "exactly one margin call over the rise")
        let (call, ack, health, btc) = calls[0]
        #expect(call.trigger == .crossed && call.probabilityPpm >= 20_000 && call.probabilityPpm <= 1_000_000)
        #expect(call.globalSequence == ack.globalSequence && call.enclaveTime == ack.enclaveTime)
        #expect(Int128(call.equity) == health.equity && Int128(call.maintenance) == health.maintenanceRequirement)
        #expect(Int128(call.distance) == health.equity - health.maintenanceRequirement && call.distance > 0)
        #expect(call.exposures.count == 1)
        let x = call.exposures[0]
        #expect(x.underlying == 1 && x.exposed && x.probabilityPpm == call.probabilityPpm && x.delta < 0 && x.gamma < 0)
        #expect(x.mark == btc && btc > 50_000 * Self.usd)
        // 48 + 45 bytes of plaintext, sealed: the host sees 16 + 93 + 16 bytes of body.
        #expect(call.encode().count == MarginCallEvent.length(underlyings: 1))
        #expect(h.worker.counters.marginCallEventsSealed == 1)
        #expect(bystander.sessionID != writer.sessionID)
    }

    func publish(_ h: Harness<PerpEngine>, _ price: Int64) throws {
        for p in DemoKeys.publisherNames {
            let reply = try h.send(DemoKeys.price(market: 1, price: price, confidence: 0, publishTime: h.now, publisher: p).encode())
            #expect(reply.type == .publicAck)
        }
    }

    func envelope(_ body: [UInt8]) throws -> SealedEnvelope {
        try body.withUnsafeBytes { try SealedEnvelope.decode(body: $0) }
    }
}

extension MarginCallDeliveryTests {
    /// Calls are recomputed, not replayed: a worker recovering the journal of a run that
    /// made a call seals nothing, and ends with the same engine snapshot, margin-call
    /// memory included (its last 20 bytes: one entry, account 2, at the call's time).
    @Test func aJournalReplayRebuildsTheMemoryAndSealsNothing() throws {
        let run = try JournalRun(key: storageKey(9), venue: Self.venue())
        let h = run.h
        try run.deposit(1, "holder", amount: 10_000_000 * Self.usd)
        try run.deposit(2, "writer", amount: 1_500 * Self.usd)
        try run.price(50_000 * Self.usd)
        let holder = try run.open(1, "holder"), writer = try run.open(2, "writer")
        var engine = h.worker.engine
        let premium = try engine.mark(OptionRun.call, at: h.now).get() / 100_000 * 100_000
        _ = try h.receipt(try run.send(try writer.seal(.newOrder(NewOrder(
            clientOrderID: try ClientOrderID("ask"), market: OptionRun.call, side: .sell, price: premium,
            quantity: 10_000_000))).frame), session: writer)
        _ = try h.receipt(try run.send(try holder.seal(.newOrder(NewOrder(
            clientOrderID: try ClientOrderID("lift"), market: OptionRun.call, side: .buy, timeInForce: .immediateOrCancel,
            price: premium, quantity: 10_000_000))).frame), session: holder)
        run.cut()
        var callTime: UInt64 = 0
        for step in 1...6 {
            h.now += 30_000_000_000
            for p in DemoKeys.publisherNames {
                let price = DemoKeys.price(market: 1, price: (50_000 + 250 * Int64(step)) * Self.usd, confidence: 0,
                                           publishTime: h.now, publisher: p)
                #expect(try run.send(price.encode()).type == .publicAck)
                if !h.events.isEmpty { callTime = h.now }
            }
        }
        run.cut()
        #expect(callTime > 0 && h.worker.counters.marginCallEventsSealed == 1)
        let original = h.worker.engine.snapshot()
        var tail = ByteWriter(capacity: 20)
        tail.write(UInt32(1))
        tail.write(UInt64(2))
        tail.write(callTime)
        #expect(Array(original.suffix(20)) == tail.bytes)

        let fresh = try Harness<PerpEngine>(storageKey: storageKey(9), venue: Self.venue()) {
            try PerpEngine(config: $0, accountCommitment: { id in withUnsafeBytes(of: id) { SHA256.hash($0) } })
        }
        _ = try recover(fresh.worker, run.journal, published: run.closed)
        #expect(fresh.worker.engine.snapshot() == original)
        #expect(fresh.worker.counters.marginCallEventsSealed == 0)
    }
}
