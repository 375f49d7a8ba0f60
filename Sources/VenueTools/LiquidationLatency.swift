import Client
import Commitments
import Engine
import Foundation
import SealCrypto
import Wire

/// Price to liquidation end to end (issue 17; docs/SCENARIOS.md "Liquidation latency"):
/// how long a signed oracle price that makes accounts liquidatable takes, from being sent
/// to the host to the signed batch header committing to their decisions being readable
/// from the host's HTTP API. Rounds as in `drill`: each round a fresh cohort of traders
/// buys 0.1 BTC at 15× from a maker's ask at 60,000; the first publisher signs 57,000
/// (the median of three does not move); **the second publisher's 57,000 is timed**: sent at
/// t0, its acknowledgement read at t1 (the global sequence S), and, concurrently, the first
/// header whose range reaches S read from the market data feed (`GET /v1/feed`, subscribed
/// before the rounds, `HeaderWatch`) at t2: the host pushes a header on the feed after it
/// is indexed for `GET /v1/batches`, so t2 is when a subscriber holds a header that the
/// HTTP API already serves. That header must carry at least the cohort's decisions, and
/// (after t2, untimed) `GET /v1/batches` must serve it byte for byte. The third publisher
/// follows and all three return to 60,000 before the next round.
///
/// The figure includes the client's send, the loopback and the feed's hop to the HTTP
/// listener's thread; background load, if any, is the caller's (scripts/bench-liquidation.sh
/// runs `load` beside it).
public enum LiquidationLatency {
    public struct Quantiles: Codable, Sendable, Equatable {
        public var p50: Double
        public var p99: Double
        public var max: Double

        init(_ xs: [Double]) {
            let s = xs.sorted()
            func q(_ p: Double) -> Double { s.isEmpty ? 0 : s[Swift.min(s.count - 1, Int(Double(s.count - 1) * p))] }
            (p50, p99, max) = (q(0.5), q(0.99), s.last ?? 0)
        }
    }

    public struct Round: Codable, Sendable, Equatable {
        /// Price sent → its acknowledgement read, µs.
        public var toAckMicros: Double
        /// Price sent → the header covering it read from the feed, µs (may be less than
        /// `toAckMicros`: the acknowledgement and the header are released by the same sync).
        public var toHeaderMicros: Double
        /// Decisions in that header (the cohort's, and any the background load caused).
        public var decisions: UInt64
        public var batchIndex: UInt64
    }

    public struct Summary: Codable, Sendable {
        public var rounds: Int
        public var cohort: Int
        public var backgroundAccounts: Int
        public var setupSeconds: Double
        public var toAckMicros: Quantiles
        public var toHeaderMicros: Quantiles
        public var perRound: [Round]
    }

    public enum LatencyError: Error, CustomStringConvertible {
        case request(String)
        case noHeader(sequence: UInt64)
        case feed(String)
        case notServed(batchIndex: UInt64)
        case tooFewDecisions(batchIndex: UInt64, decisions: UInt64, cohort: Int)

        public var description: String {
            switch self {
            case .request(let s): "liquidation-latency: \(s)"
            case .noHeader(let s): "liquidation-latency: no signed header covering sequence \(s) within 10 s"
            case .feed(let s): "liquidation-latency: \(s)"
            case .notServed(let b):
                "liquidation-latency: GET /v1/batches does not serve batch \(b)'s header as the feed pushed it"
            case .tooFewDecisions(let b, let d, let c):
                "liquidation-latency: batch \(b) carries \(d) decisions, fewer than the cohort's \(c)"
            }
        }
    }

    static let usd: Int64 = 1_000_000
    static let btc: Int64 = 100_000_000

    public static func run(
        host: String, http: String, rounds: Int, cohort: Int, backgroundAccounts: Int,
        requirement: AttestationRequirement? = nil, progress: ProgressReporter? = nil, log: @escaping (String) -> Void = { _ in }
    ) throws -> Summary {
        let setupStart = monotonicMicros()
        var pin: EnclaveIdentityPin?
        func connect(_ label: String) throws -> RecoveringConnection {
            let c = RecoveringConnection(addresses: try HostAddresses.parse(host), requirement: requirement, pin: pin) {
                log("\(label): \($0)")
            }
            _ = try c.connect()
            pin = c.pin
            return c
        }
        let venue = DemoKeys.venue()
        let run = Hex.encode(Array(Sodium.randomBytes(4)))
        func key(_ id: UInt64) -> Ed25519SigningKey { DemoKeys.signingKey(.trader, "latency-\(run)-\(id)") }
        let publicConnection = try connect("public")
        func acknowledge(_ t: RecoveringConnection.Ticket, _ what: String) throws -> PublicAck {
            let answer = try publicConnection.await(t)
            guard case .acknowledged(let ack) = answer?.kind else {
                throw LatencyError.request("\(what): \(LiquidationDrill.describe(answer))")
            }
            return ack
        }
        func deposit(_ id: UInt64, _ accountKey: [UInt8], _ amount: Int64) throws -> RecoveringConnection.Ticket {
            let d = DemoKeys.deposit(venueID: venue.venueID, accountID: id, accountKey: accountKey, amount: amount,
                                     depositID: Sodium.randomUInt64())
            return try publicConnection.submitPublic(frame: d.encode(), type: .deposit, reference: d.depositID)
        }

        // Background accounts with collateral, in windows of 4,096 outstanding deposits.
        let firstID = UInt64.random(in: 1 << 40 ..< 1 << 41)
        let backgroundKey = key(0).publicKey.bytes
        var done = 0
        while done < backgroundAccounts {
            let n = Swift.min(4_096, backgroundAccounts - done)
            let tickets = try (0..<n).map { try deposit(firstID + UInt64(done + $0), backgroundKey, 10_000 * usd) }
            for t in tickets { _ = try acknowledge(t, "background deposit") }
            done += n
            progress?.update(phase: "background", done: done, total: backgroundAccounts, unit: "deposits")
        }
        func price(_ publisher: String, _ value: Int64) throws -> RecoveringConnection.Ticket {
            let t = realtimeNanos()
            let m = DemoKeys.price(market: 1, price: value * usd, confidence: 0, publishTime: t, publisher: publisher)
            return try publicConnection.submitPublic(frame: m.encode(), type: .oraclePrice, reference: t)
        }
        for p in DemoKeys.publisherNames { _ = try acknowledge(try price(p, 60_000), "price") }

        let makerID = firstID - 1
        // Collateral for every fill the rounds can take (R × C × 0.1 BTC at 60,000) on top of
        // 100,000,000 USD, so the maker's margin never limits a round.
        let makerCollateral = (100_000_000 + 6_000 * Int64(rounds) * Int64(cohort)) * usd
        _ = try acknowledge(try deposit(makerID, key(makerID).publicKey.bytes, makerCollateral), "maker deposit")
        let maker = try connect("maker")
        try maker.openSessions([(makerID, key(makerID))])
        let ask = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("latency-ask"), market: 1, side: .sell,
                                                 price: 60_000 * usd, quantity: Int64(rounds * cohort) * btc / 10))
        let askReceipt = try LiquidationDrill.receipt(maker, try maker.submit(ask, account: makerID))
        try LiquidationDrill.requireAccepted(askReceipt, "maker ask")
        let setupSeconds = (monotonicMicros() - setupStart) / 1e6

        let watch = try HeaderWatch(http: http)
        defer { watch.stop() }
        var results: [Round] = []
        for r in 0..<rounds {
            let ids = (0..<UInt64(cohort)).map { firstID + UInt64(backgroundAccounts) + UInt64(r * cohort) + $0 }
            let deposits = try ids.map { try deposit($0, key($0).publicKey.bytes, 400 * usd) }
            for t in deposits { _ = try acknowledge(t, "trader deposit") }
            let traders = try connect("cohort \(r)")
            try traders.openSessions(ids.map { ($0, key($0)) })
            let buys = try ids.map { id in
                try traders.submit(.newOrder(NewOrder(clientOrderID: try ClientOrderID("latency-buy"), market: 1, side: .buy,
                                                      timeInForce: .immediateOrCancel, price: 60_000 * usd, quantity: btc / 10)),
                                   account: id)
            }
            for t in buys { try LiquidationDrill.requireAccepted(try LiquidationDrill.receipt(traders, t), "trader buy") }
            _ = try acknowledge(try price(DemoKeys.publisherNames[0], 57_000), "price")

            // The timed price.
            watch.arm()
            let t0 = monotonicMicros()
            let ack = try acknowledge(try price(DemoKeys.publisherNames[1], 57_000), "timed price")
            let t1 = monotonicMicros()
            let arrival = try watch.header(reaching: ack.globalSequence, deadline: t0 + 10_000_000)
            let header = arrival.record
            guard header.decisionCount >= UInt64(cohort) else {
                throw LatencyError.tooFewDecisions(batchIndex: header.batchIndex, decisions: header.decisionCount, cohort: cohort)
            }
            // Untimed: the HTTP API serves the same header.
            let served = try HTTPFetch.get(http, path: "/v1/batches?from=\(header.batchIndex)&limit=1")
            guard served.status == 200, RecordArray.elements(served.body)?.first == arrival.bytes else {
                throw LatencyError.notServed(batchIndex: header.batchIndex)
            }
            results.append(Round(toAckMicros: t1 - t0, toHeaderMicros: arrival.micros - t0, decisions: header.decisionCount,
                                 batchIndex: header.batchIndex))
            progress?.update(phase: "rounds", done: r + 1, total: rounds, unit: "rounds")

            _ = try acknowledge(try price(DemoKeys.publisherNames[2], 57_000), "price")
            for p in DemoKeys.publisherNames { _ = try acknowledge(try price(p, 60_000), "price") }
        }
        return Summary(rounds: rounds, cohort: cohort, backgroundAccounts: backgroundAccounts,
                       setupSeconds: setupSeconds, toAckMicros: Quantiles(results.map(\.toAckMicros)),
                       toHeaderMicros: Quantiles(results.map(\.toHeaderMicros)), perRound: results)
    }

    static func monotonicMicros() -> Double { Double(monotonicNanos()) / 1e3 }
}
