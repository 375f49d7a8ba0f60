#if canImport(Glibc)
import Glibc
#endif
import Attestation
import Client
import Commitments
import Engine
import Foundation
import OutputVerification
import SealCrypto
import Wire

/// An options liquidation drill through a real host on the demo options venue
/// (scripts/demo/options-venue.json, docs/SCENARIOS.md "Options drill"): a maker rests a
/// bid on the first call of the underlying; N traders each deposit and write (sell) 0.1
/// of that call into it, their deposits spread from just above the initial requirement to
/// three times that; then a signed move (every publisher: +3⅓ %, twice) raises the
/// realized-volatility EWMA and one publisher signs a steeper smile (a volatility spike).
/// The drill computes who must now be below maintenance on its own
/// (`OptionsDrillReference`), waits for the signed header committing to the decisions,
/// verifies the published outputs (`OutputVerifier`: signatures, chain, event log, every
/// decision's inclusion proof) and compares: exactly the expected accounts liquidated,
/// each decision's equity, maintenance and triggering scenario equal to the reference's.
public enum OptionsLiquidationDrill {
    /// One named check of the drill and its outcome.
    public struct Check: Codable, Equatable, Sendable {
        public var check: String
        public var pass: Bool
        public var detail: String
    }

    /// What the spike did to the underlying, by the reference (before: at the last trade;
    /// after: at the last spike event).
    public struct Spike: Codable, Sendable {
        /// Underlying mark, micro-units per whole base unit.
        public var markBefore: Int64
        public var markAfter: Int64
        /// The written call's option mark, micro-units per whole base unit.
        public var callMarkBefore: Int64
        public var callMarkAfter: Int64
        /// √v of the EWMA estimator, parts per million (rounded down).
        public var realizedVolatilityPpmBefore: Int64
        public var realizedVolatilityPpmAfter: Int64
        /// The call's implied volatility from the smile in force, ppm (rounded down).
        public var impliedVolatilityPpmBefore: Int64
        public var impliedVolatilityPpmAfter: Int64
        /// Scan range R of docs/OPTIONS.md §7.2, basis points.
        public var scanRangeBpsBefore: Int64
        public var scanRangeBpsAfter: Int64
    }

    public struct Summary: Codable, Sendable {
        public var traders: Int
        /// Deposits of the traders, whole USD: the least and the greatest.
        public var depositUSD: [Int64]
        /// Traders the reference puts below maintenance after the spike.
        public var expectedLiquidations: Int
        /// Accounts with at least one decision.
        public var liquidatedAccounts: Int
        public var decisions: Int
        /// Decisions whose sequence, equity, maintenance and scenario equal the reference's.
        public var decisionsMatched: Int
        /// Decisions whose inclusion proof reached a header signed by the evidence's signer.
        public var proofsVerified: Int
        /// Batches holding the decisions.
        public var decisionBatches: [UInt64]
        /// How the liquidations were filled, base units of 10⁻⁸ summed over decisions.
        public var filledOnBook: Int64
        public var toInsuranceFund: Int64
        public var autoDeleveraged: Int64
        public var spike: Spike
        /// Deposits, the opening price, the maker's bid and the traders' sells.
        public var setupSeconds: Double
        /// From sending the spike's first price to seeing the signed header covering the
        /// last spike event over the HTTP API.
        public var spikeToHeaderMillis: Double
        /// Fetching and verifying the epoch's outputs, and the reference's evaluation.
        public var verifySeconds: Double
        public var seconds: Double
        public var checks: [Check]
        /// Every check passed.
        public var pass: Bool

        init(traders: Int, depositUSD: [Int64], spike: Spike) {
            self.traders = traders
            self.depositUSD = depositUSD
            expectedLiquidations = 0
            liquidatedAccounts = 0
            decisions = 0
            decisionsMatched = 0
            proofsVerified = 0
            decisionBatches = []
            filledOnBook = 0
            toInsuranceFund = 0
            autoDeleveraged = 0
            self.spike = spike
            setupSeconds = 0
            spikeToHeaderMillis = 0
            verifySeconds = 0
            seconds = 0
            checks = []
            pass = false
        }
    }

    /// Why the drill could not run to its checks.
    public enum DrillError: Error, CustomStringConvertible {
        /// The configuration is not one the drill can run on (no call on the underlying…).
        case venue(String)
        /// A request was not answered as the drill needs (refused, not filled in full…).
        case request(String)
        /// No signed header covering `sequence` was published in time.
        case noHeader(sequence: UInt64, waitedSeconds: Int)

        public var description: String {
            switch self {
            case .venue(let s): "venue: \(s)"
            case .request(let s): s
            case let .noHeader(sequence, waited): "no signed header covering sequence \(sequence) after \(waited) s"
            }
        }
    }

    static let usd: Int64 = 1_000_000
    static let btc: Int64 = 100_000_000
    /// Each trader writes 0.1 of the call.
    static let size: Int64 = btc / 10
    /// The underlying's opening price and the signed move, USD.
    static let openingPrice: Int64 = 60_000
    static let movePrices: [Int64] = [62_000, 64_000]

    /// The confidence publisher `k` (index in `DemoKeys.publisherNames`) signs with `price`:
    /// 5, 10, 15 bps of it (within the demo's 50 bps limit), so the aggregated confidence (the
    /// median, docs/OPTIONS.md §10.2) is 10 bps of the price and every writer's maintenance
    /// carries a confidence contingency, which the reference recomputes from the same prices.
    static func confidence(price: Int64, publisher k: Int) -> UInt64 {
        UInt64(price / 10_000 * Int64(5 + 5 * k))
    }
    /// The spike smile raises SVI `a` (the level of total variance) by this, 10⁻⁹ units:
    /// the demo's 0.9 becomes 1.6 (implied volatility ≈ 48 % → ≈ 63 % at the money).
    static let spikeLevel: Int64 = 700_000_000
    /// The publisher that signs the spike smile.
    static let smilePublisher = "pyth-b"

    /// Runs the drill. `http` is the host's HTTP API (`HOST:PORT`), `venueBytes` the file of
    /// the host's configuration (scripts/demo/options-venue.json or one of the same shape;
    /// its SHA-256 must be the evidence's `configHash`).
    public static func run(
        host: String, http: String, venueBytes: [UInt8], traders: Int, requirement: AttestationRequirement? = nil,
        makerID: UInt64 = 9_000, firstTraderID: UInt64 = 20_000, replyTimeoutMillis: Int32 = 60_000,
        progress: ProgressReporter? = nil,
        log: @escaping (String) -> Void = { _ in }
    ) throws -> Summary {
        let start = monotonicNanos()
        let venue = try VenueConfig.parseStrict(venueBytes)
        guard let perp = venue.markets.min(by: { $0.id < $1.id }), venue.options?.underlying(perp.id) != nil else {
            throw DrillError.venue("no option underlying on the first perpetual")
        }
        guard let call = venue.options!.markets.filter({ $0.underlying == perp.id && $0.kind == .call })
            .min(by: { ($0.strike - openingPrice * usd).magnitude < ($1.strike - openingPrice * usd).magnitude })
        else { throw DrillError.venue("no call option on \(perp.symbol)") }
        guard size % call.contractSize == 0 else { throw DrillError.venue("0.1 is not a whole number of \(call.symbol) contracts") }

        var session = Session(host: host, requirement: requirement, replyTimeoutMillis: replyTimeoutMillis, log: log)
        let publicConnection = try session.connect("public")
        guard let evidence = publicConnection.evidence else { throw DrillError.request("no evidence from the host") }
        var inputs: [UInt64: (input: OptionsDrillReference.Input, body: [UInt8])] = [:]
        let label = Hex.encode(Array(Sodium.randomBytes(4)))
        func key(_ id: UInt64) -> Ed25519SigningKey { DemoKeys.signingKey(.trader, "options-drill-\(label)-\(id)") }

        // Deposits: from just above what the initial requirement asks at the opening (so
        // every sell passes M1) to three times that, spread over the traders.
        let opening = try openingTerms(venue: venue, underlying: perp.id, call: call)
        let lowest = (opening.leastDeposit + usd - 1) / usd
        let deposits = (0..<traders).map { k in (lowest + lowest * 2 * Int64((k * 7_919) % 1_000) / 1_000) * usd }
        let ids = (0..<UInt64(traders)).map { firstTraderID + $0 }
        let makerDeposit = max(100_000_000, Int64(traders) * 5_000) * usd
        var tickets: [RecoveringConnection.Ticket] = []
        for (k, id) in ([makerID] + ids).enumerated() {
            let deposit = DemoKeys.deposit(venueID: venue.venueID, accountID: id, accountKey: key(id).publicKey.bytes,
                                           amount: k == 0 ? makerDeposit : deposits[k - 1], depositID: Sodium.randomUInt64())
            tickets.append(try publicConnection.submitPublic(frame: deposit.encode(), type: .deposit, reference: deposit.depositID))
        }
        for (i, t) in tickets.enumerated() {
            defer { progress?.update(phase: "deposits", done: i + 1, total: tickets.count, unit: "deposits") }
            guard case .acknowledged = try publicConnection.await(t)?.kind else {
                throw DrillError.request("deposit \(i) not acknowledged")
            }
        }
        var lastPrice = monotonicNanos()
        try publish(publicConnection, market: perp.id, price: openingPrice * usd, into: &inputs)

        // The maker's bid, 1 % under the call's mark on the tick, for every trader's sell.
        let makerConnection = try session.connect("maker")
        try makerConnection.openSessions([(makerID, key(makerID))])
        let bid = opening.bid
        let order = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("odrill-bid"), market: call.id, side: .buy,
                                                   timeInForce: .postOnly, price: bid, quantity: Int64(traders) * size))
        let bidReceipt = try receipt(makerConnection, try makerConnection.submit(order, account: makerID))
        guard bidReceipt.status == .accepted else { throw DrillError.request("maker bid: \(bidReceipt.status)") }

        // The traders, 100 sessions per connection, each selling 0.1 of the call into the bid.
        var accounts: [UInt64: OptionsDrillReference.Account] = [:]
        var maker = OptionsDrillReference.Account(collateral: Int128(makerDeposit), positions: [:])
        var lastTrade: UInt64 = 0
        var commitments: [Hash32: UInt64] = [:]
        var offset = 0
        while offset < ids.count {
            let group = Array(ids[offset..<min(ids.count, offset + 100)])
            // Keep the opening price fresh (the oracle's staleness) on a long run; an
            // unchanged mark takes no volatility sample (docs/OPTIONS.md §10.4).
            if monotonicNanos() - lastPrice > 15_000_000_000 {
                try publish(publicConnection, market: perp.id, price: openingPrice * usd, into: &inputs)
                lastPrice = monotonicNanos()
            }
            let connection = try session.connect("traders \(group[0])…")
            try connection.openSessions(group.map { ($0, key($0)) })
            var sells: [(UInt64, RecoveringConnection.Ticket)] = []
            for id in group {
                let sell = OrderRequest.newOrder(NewOrder(clientOrderID: try ClientOrderID("odrill-sell"), market: call.id, side: .sell,
                                                          timeInForce: .immediateOrCancel, price: bid, quantity: size))
                sells.append((id, try connection.submit(sell, account: id)))
            }
            for (id, t) in sells {
                let r = try receipt(connection, t)
                offset += 1
                progress?.update(phase: "sells", done: offset, total: ids.count, unit: "traders")
                // A sell answered `duplicate` after a reconnect was sequenced before it, but its
                // fills are not known to the drill, so its reference would be wrong.
                guard r.status != .duplicate else {
                    throw DrillError.request("trader \(id)'s sell was resent after a reconnect and answered duplicate: its fills are "
                        + "unknown, so the reference cannot be computed; run again on a fresh host (with a longer --timeout-millis)")
                }
                guard r.status == .accepted, let report = try? OrderReport.decode(r.detail),
                      report.fills.reduce(0, { $0 + $1.quantity }) == size
                else { throw DrillError.request("trader \(id)'s sell of 0.1 \(call.symbol) did not fill in full: \(r.status)") }
                var collateral = Int128(deposits[Int(id - firstTraderID)])
                for f in report.fills {
                    let cash = OptionsDrillReference.notional(price: f.price, quantity: f.quantity)
                    collateral += cash - Int128(f.fee)
                    maker.collateral -= cash + OptionsDrillReference.fee(cash: cash, bps: venue.fees.makerBps)
                }
                accounts[id] = .init(collateral: collateral, positions: [call.id: -size])
                lastTrade = max(lastTrade, r.globalSequence)
                if let c = connection.session(for: id)?.accountCommitment, c.count == 32 { commitments[Hash32(c)] = id }
            }
        }
        maker.positions[call.id] = Int64(traders) * size
        if let c = makerConnection.session(for: makerID)?.accountCommitment, c.count == 32 { commitments[Hash32(c)] = makerID }
        accounts[makerID] = maker
        let setupSeconds = Double(monotonicNanos() - start) / 1e9

        // The spike: every publisher signs each move, then one signs the steeper smile.
        let spikeStart = monotonicNanos()
        var lastSpike: UInt64 = 0
        for price in movePrices {
            lastSpike = try publish(publicConnection, market: perp.id, price: price * usd, into: &inputs)
        }
        guard let configured = venue.options!.underlying(perp.id)!.smiles.first(where: { $0.expiry == call.expiry }) else {
            throw DrillError.venue("no configured smile for \(call.symbol)'s expiry")
        }
        let smile = DemoKeys.smile(underlying: perp.id, expiry: call.expiry, a: configured.a + spikeLevel, b: configured.b,
                                   rho: configured.rho, m: configured.m, sigma: configured.sigma, publishTime: realtimeNanos(),
                                   publisher: smilePublisher)
        let smileAnswer = try publicConnection.await(try publicConnection.submitPublic(
            frame: smile.encode(), type: .oracleSmile, reference: smile.publishTime))
        guard case .acknowledged(let ack) = smileAnswer?.kind else { throw DrillError.request("spike smile not acknowledged") }
        inputs[ack.globalSequence] = (.oracleSmile(smile), smile.encodeBody())
        lastSpike = ack.globalSequence
        try waitForHeader(http: http, covering: lastSpike)
        let spikeToHeader = Double(monotonicNanos() - spikeStart) / 1e6
        log("signed header covering sequence \(lastSpike) seen \(String(format: "%.0f", spikeToHeader)) ms after the spike's first price")

        // Verify what was published, then compare with the reference.
        let verifyStart = monotonicNanos()
        let outputs = try PublishedOutputs.fetch(address: http)
        var summary = try evaluate(
            outputs: outputs, evidence: evidence, venueBytes: venueBytes, venue: venue, underlying: perp.id, call: call, inputs: inputs,
            accounts: accounts, commitments: commitments, makerID: makerID, lastTrade: lastTrade, lastSpike: lastSpike)
        summary.depositUSD = [deposits.min() ?? 0, deposits.max() ?? 0].map { $0 / usd }
        summary.setupSeconds = setupSeconds
        summary.spikeToHeaderMillis = spikeToHeader
        summary.verifySeconds = Double(monotonicNanos() - verifyStart) / 1e9
        summary.seconds = Double(monotonicNanos() - start) / 1e9
        return summary
    }

    /// The maker's bid, 1 % under the call's mark at the opening price (configured smile and
    /// initial volatility) on the tick, and the least deposit whose 0.1 sell into it passes M1
    /// there with 50 USD to spare: the initial requirement, plus the sale's loss against the
    /// mark (the premium at the bid is below the position's value at the mark), plus the fee.
    static func openingTerms(venue: VenueConfig, underlying: UInt32, call: OptionMarketConfig) throws
        -> (bid: Int64, leastDeposit: Int64)
    {
        var reference = try OptionsDrillReference(config: venue, underlying: underlying)
        let now = realtimeNanos()
        for (k, p) in DemoKeys.publisherNames.enumerated() {
            reference.apply(.oraclePrice(DemoKeys.price(market: underlying, price: openingPrice * usd,
                                                        confidence: confidence(price: openingPrice * usd, publisher: k),
                                                        publishTime: now, publisher: p)), at: now)
        }
        guard let arrays = try reference.arrays(at: now), let mark = reference.optionMark(call.id, in: arrays) else {
            throw DrillError.venue("the call has no mark at the opening price")
        }
        let sold = OptionsDrillReference.Account(collateral: 0, positions: [call.id: -size])
        let health = try reference.health(sold, arrays: arrays)
        let bid = (mark - mark / 100) / call.tickSize * call.tickSize
        let premium = OptionsDrillReference.notional(price: bid, quantity: size)
        let least = health.margin.initial - health.equity - premium + OptionsDrillReference.fee(cash: premium, bps: venue.fees.takerBps)
        return (bid, Int64(least) + 50 * usd)
    }

    /// Every demo publisher signs `price` for `market` now; records each acknowledged
    /// price under its sequence. Returns the last sequence.
    @discardableResult
    static func publish(_ connection: RecoveringConnection, market: UInt32, price: Int64,
                        into inputs: inout [UInt64: (input: OptionsDrillReference.Input, body: [UInt8])]) throws -> UInt64 {
        var last: UInt64 = 0
        for (k, p) in DemoKeys.publisherNames.enumerated() {
            let message = DemoKeys.price(market: market, price: price,
                                         confidence: confidence(price: price, publisher: k),
                                         publishTime: realtimeNanos(), publisher: p)
            let answer = try connection.await(try connection.submitPublic(frame: message.encode(), type: .oraclePrice,
                                                                          reference: message.publishTime))
            guard case .acknowledged(let ack) = answer?.kind else {
                throw DrillError.request("price \(price) by \(p): \(LiquidationDrill.describe(answer))")
            }
            // The event leaf hashes the frame body: the frame without its length prefix and header.
            inputs[ack.globalSequence] = (.oraclePrice(message),
                                          Array(message.encode().dropFirst(WireProtocol.lengthPrefixBytes + WireProtocol.headerBytes)))
            last = ack.globalSequence
        }
        return last
    }

    /// Polls `GET /v1/batches` until a signed header's range reaches `sequence` (10 s at most).
    static func waitForHeader(http: String, covering sequence: UInt64) throws {
        let deadline = monotonicNanos() + 10_000_000_000
        var from = 0
        while true {
            let answer = try HTTPFetch.get(http, path: "/v1/batches?from=\(from)&limit=1000")
            if answer.status == 200, let lines = RecordArray.elements(answer.body) {
                for line in lines {
                    guard let record = try? BatchRecord(jsonLine: line) else { continue }
                    if record.lastSequence >= sequence { return }
                    from = Int(record.batchIndex) + 1
                }
            }
            guard monotonicNanos() < deadline else { throw DrillError.noHeader(sequence: sequence, waitedSeconds: 10) }
            usleep(5_000)
        }
    }

    static func receipt(_ connection: RecoveringConnection, _ ticket: RecoveringConnection.Ticket) throws -> Receipt {
        let answer = try connection.await(ticket)
        guard case .receipt(let r) = answer?.kind else {
            throw DrillError.request("no receipt: \(LiquidationDrill.describe(answer))")
        }
        return r
    }

    /// The drill's connections, each verified like the first (the same enclave identity).
    struct Session {
        let host: String
        let requirement: AttestationRequirement?
        let replyTimeoutMillis: Int32
        let log: (String) -> Void
        var connections: [RecoveringConnection] = []
        var pin: EnclaveIdentityPin?

        mutating func connect(_ label: String) throws -> RecoveringConnection {
            let addresses = try HostAddresses.parse(host)
            let log = self.log
            let c = RecoveringConnection(
                addresses: connections.first.map { HostAddresses.rotated(addresses, startingAt: $0.address) } ?? addresses,
                requirement: requirement, pin: pin, policy: .standard, replyTimeoutMillis: replyTimeoutMillis
            ) {
                log("\(label): \($0)")
            }
            _ = try c.connect()
            pin = c.pin
            connections.append(c)
            return c
        }
    }
}
