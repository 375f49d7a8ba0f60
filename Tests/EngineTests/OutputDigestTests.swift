import Testing
@testable import Engine
import Wire

/// Golden digests of everything a perpetuals-only engine outputs over seeded streams, so
/// that work on the engine's speed (issue 17) cannot change an output unnoticed: every
/// verdict and receipt detail, maker fill, liquidation decision (with its private
/// fraud-proof fields), funding payment, statement entry and changed-account id after
/// every event, then the canonical state, every account's commitment state, the fee pool
/// and the insurance fund. The constants were recorded on 38b0141 (main before this
/// work) and must not move unless an output is meant to change.
@Suite("Engine output digests")
struct OutputDigestTests {
    /// FNV-1a, 64 bits, over a `ByteWriter`'s bytes: a regression check, not a commitment.
    struct Digest {
        var w = ByteWriter(capacity: 1 << 16)
        var counts = (events: 0, fills: 0, decisions: 0, funding: 0, statements: 0, rejected: 0)

        func value() -> UInt64 {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for b in w.bytes { h = (h ^ UInt64(b)) &* 0x0100_0000_01B3 }
            return h
        }

        mutating func int128(_ v: Int128) {
            w.write(UInt64(truncatingIfNeeded: v >> 64))
            w.write(UInt64(truncatingIfNeeded: v))
        }

        mutating func bytes(_ b: [UInt8]) {
            w.write(UInt32(b.count))
            w.write(bytes: b)
        }

        mutating func fill(_ f: Fill) {
            w.write(f.market)
            w.write(f.side.rawValue)
            w.write(f.price)
            w.write(f.quantity)
            w.write(f.fee)
            w.write(f.isMaker ? UInt8(1) : 0)
            w.write(f.makerOrderID)
        }

        /// Everything the engine hands out after one event.
        mutating func event(_ verdict: EngineVerdict, detail: [UInt8], engine: inout PerpEngine) {
            counts.events += 1
            switch verdict {
            case .accepted:
                w.write(UInt8(1))
                bytes(detail)
            case .rejected(let r):
                counts.rejected += 1
                w.write(UInt8(2))
                w.write(r.rawValue)
            }
            let makerFills = engine.takeMakerFills()
            counts.fills += makerFills.count
            w.write(UInt32(makerFills.count))
            for m in makerFills {
                w.write(m.account)
                bytes(m.clientOrderID.bytes)
                fill(m.fill)
            }
            let decisions = engine.takeDecisions()
            counts.decisions += decisions.count
            w.write(UInt32(decisions.count))
            for d in decisions {
                w.write(d.sequence)
                w.write(d.enclaveTime)
                bytes(d.accountCommitment)
                w.write(d.market)
                w.write(d.side.rawValue)
                for v in [d.size, d.markPrice, d.bankruptcyPrice, d.worstPrice, d.equity, d.maintenanceRequirement] { w.write(v) }
                w.write(d.reason.rawValue)
                for v in [d.filledOnBook, d.toInsuranceFund, d.autoDeleveraged, d.liquidationFee] { w.write(v) }
                w.write(UInt32(d.fills.count))
                for f in d.fills {
                    w.write(f.kind.rawValue)
                    w.write(f.price)
                    w.write(f.quantity)
                }
                w.write(d.scenario == nil ? UInt8(0) : 1)
                w.write(d.accountID)
                w.write(d.step)
                bytes(d.preState)
                w.write(UInt32(d.marks.count))
                for m in d.marks {
                    w.write(m.market)
                    w.write(m.mark)
                    w.write(m.maintenanceBps)
                }
            }
            let funding = engine.takeFundingPayments()
            counts.funding += funding.count
            w.write(UInt32(funding.count))
            for f in funding {
                w.write(f.market)
                for v in [f.sequence, f.enclaveTime, f.dueTime] { w.write(v) }
                for v in [f.markPrice, f.rateBps, f.perUnit] { w.write(v) }
            }
            let statements = engine.takeStatementEntries()
            counts.statements += statements.count
            w.write(UInt32(statements.count))
            for s in statements {
                w.write(s.account)
                w.write(s.sequence)
                w.write(s.kind.rawValue)
                w.write(s.market)
                for v in [s.price, s.quantity, s.amount] { w.write(v) }
                int128(s.collateral)
            }
            var changed: [UInt64] = []
            engine.drainChangedAccounts { changed.append($0) }
            w.write(UInt32(changed.count))
            for id in changed { w.write(id) }
        }

        /// The state at the end of a stream.
        mutating func final(_ engine: PerpEngine) {
            bytes(engine.canonicalState())
            for id in engine.accounts.keys.sorted() {
                var state = ByteWriter()
                #expect(engine.writeCommitmentState(of: id, into: &state))
                bytes(state.bytes)
            }
            int128(engine.feePool)
            int128(engine.insuranceFund)
            int128(engine.netDeposits)
        }
    }

    /// Runs `randomEvents(seed:)` (every kind of request, a random-walk oracle, funding),
    /// 100 ms apart as the stream's prices assume, with statements recorded; then a
    /// leveraged phase that liquidates: 20 pairs of accounts trade 0.1 BTC with each other
    /// at 10 × leverage, and BTC falls 15% and rises 30% in 1% steps.
    static func digest(seed: UInt64, count: Int, makerBps: Int64 = 1, takerBps: Int64 = 5) -> Digest {
        var d = Driver(Fixture.venue(insurance: 50_000 * Fixture.usd, makerBps: makerBps, takerBps: takerBps))
        d.engine.setRecordsStatements(true)
        var digest = Digest()
        var detail = ByteWriter(capacity: 1_024)
        func step(_ input: EngineInput) {
            d.sequence += 1
            d.now += 100_000_000
            detail.truncate(to: 0)
            let verdict = d.engine.apply(SequencedEvent(globalSequence: d.sequence, enclaveTime: d.now, input: input), detail: &detail)
            digest.event(verdict, detail: detail.bytes, engine: &d.engine)
        }
        func price(_ p: Int64) {
            for pub in Fixture.publishers {
                step(.oraclePrice(OraclePrice(market: Fixture.btc, price: p, confidence: 0, publishTime: d.now, publisher: pub,
                                              signature: [])))
            }
        }
        for input in randomEvents(seed: seed, count: count) { step(input) }
        let tick = Fixture.usd / 10
        var p: Int64 = 60_000 * Fixture.usd
        price(p)
        let q = Fixture.unit / 10
        for i in 0..<UInt64(20) {
            let (long, short) = (10_001 + 2 * i, 10_002 + 2 * i)
            for a in [long, short] {
                d.depositID += 1
                step(.deposit(Deposit(accountID: a, accountKey: [], amount: (600 + 25 * Int64(i)) * Fixture.usd,
                                      depositID: d.depositID, signature: [])))
            }
            step(.request(account: short, .newOrder(NewOrder(clientOrderID: try! ClientOrderID("s\(i)"), market: Fixture.btc,
                                                             side: .sell, price: p, quantity: q))))
            step(.request(account: long, .newOrder(NewOrder(clientOrderID: try! ClientOrderID("l\(i)"), market: Fixture.btc,
                                                            side: .buy, price: p, quantity: q))))
        }
        for k in 0..<45 {
            p = (k < 15 ? p - p / 100 : p + p / 100) / tick * tick
            price(p)
            // Resting liquidity on both sides for the liquidations to trade against.
            step(.request(account: 1, .newOrder(NewOrder(clientOrderID: try! ClientOrderID("b\(k)"), market: Fixture.btc,
                                                         side: .buy, price: p - 50 * tick, quantity: q))))
            step(.request(account: 2, .newOrder(NewOrder(clientOrderID: try! ClientOrderID("a\(k)"), market: Fixture.btc,
                                                         side: .sell, price: p + 50 * tick, quantity: q))))
        }
        digest.final(d.engine)
        return digest
    }

    @Test(arguments: [
        (UInt64(1), UInt64(0x61b0_5f18_634a_b6f1)),
        (UInt64(2), UInt64(0x2ab0_17c1_20eb_619a)),
        (UInt64(3), UInt64(0x8408_ee35_f39f_52f3)),
    ])
    func outputsMatchTheRecordedDigest(seed: UInt64, expected: UInt64) {
        let d = Self.digest(seed: seed, count: 40_000)
        // The stream must exercise what the digest is for, or the constant proves little.
        #expect(d.counts.fills > 1_000, "fills \(d.counts.fills)")
        #expect(d.counts.decisions > 0, "decisions \(d.counts.decisions)")
        #expect(d.counts.funding > 0, "funding payments \(d.counts.funding)")
        #expect(d.counts.rejected > 0, "rejections \(d.counts.rejected)")
        #expect(d.value() == expected, "digest \(String(d.value(), radix: 16)) counts \(d.counts)")
    }
}

/// Golden digests of everything an options engine outputs over seeded option-heavy streams
/// (`OptionsLifecycleTests.stream`: orders on a call, a put and both perpetuals, a random
/// walk of BTC, liquidations, the expiry crossed and settled), with and without Greek-limit
/// escalation and margin calls, so that work on the oracle tick's speed (issue 15) cannot
/// change an output unnoticed. After every event: the verdict and receipt detail, maker
/// fills, liquidation decisions, margin calls, funding payments, option settlements,
/// statement entries, the changed-account ids and every account's Greek entries; at the
/// end every account's health, the canonical state and the snapshot. Each output is
/// written with `dump` (every stored field, recursively) and hashed with FNV-1a. The
/// constants were recorded on ba6bf28 (main before this work) and must not move unless
/// an output is meant to change.
@Suite("Engine output digests, options")
struct OptionOutputDigestTests {
    struct Digest {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        var counts = (events: 0, optionFills: 0, decisions: 0, greekLimit: 0, marginCalls: 0, settlements: 0, greekEntries: 0,
                      rejected: 0)

        mutating func bytes<C: Collection>(_ b: C) where C.Element == UInt8 {
            for x in b { h = (h ^ UInt64(x)) &* 0x0100_0000_01B3 }
            h = (h ^ 0xFF) &* 0x0100_0000_01B3
        }

        /// Every stored field of `value`, recursively, as `dump` writes it.
        mutating func value<T>(_ value: T) {
            var s = ""
            dump(value, to: &s)
            bytes(s.utf8)
        }
    }

    static func venue(escalating: Bool, marginCalls: Bool) -> VenueConfig {
        var v = OptionsLifecycleTests.streamVenue(escalating: escalating)
        if marginCalls {
            v.options!.marginCall = MarginCallConfig(levelPpm: 20_000, hysteresisPpm: 5_000,
                                                     horizonNanos: 86_400 * Fixture.second, repeatNanos: 30 * Fixture.second)
        }
        return v
    }

    static func digest(seed: UInt64, escalating: Bool, marginCalls: Bool, count: Int) -> Digest {
        var d = Driver(venue(escalating: escalating, marginCalls: marginCalls))
        d.engine.setRecordsStatements(true)
        var digest = Digest()
        var detail = ByteWriter(capacity: 1_024)
        for (input, advance) in OptionsLifecycleTests.stream(seed: seed, count: count) {
            var stamped = input
            if case .oraclePrice(var p) = input {
                p.publishTime = d.now + advance
                stamped = .oraclePrice(p)
            }
            d.sequence += 1
            d.now += advance
            detail.truncate(to: 0)
            let verdict = d.engine.apply(SequencedEvent(globalSequence: d.sequence, enclaveTime: d.now, input: stamped), detail: &detail)
            digest.counts.events += 1
            if case .rejected = verdict { digest.counts.rejected += 1 }
            digest.value(verdict)
            digest.bytes(detail.bytes)
            if let report = try? OrderReport.decode(detail.bytes) {
                digest.counts.optionFills += report.fills.filter { $0.market > 100 }.count
            }
            digest.value(d.engine.takeMakerFills())
            let decisions = d.engine.takeDecisions()
            digest.counts.decisions += decisions.count
            digest.counts.greekLimit += decisions.filter { $0.reason == .greekLimit }.count
            digest.value(decisions)
            let calls = d.engine.takeMarginCalls()
            digest.counts.marginCalls += calls.count
            digest.value(calls)
            digest.value(d.engine.takeFundingPayments())
            let settlements = d.engine.takeOptionSettlements()
            digest.counts.settlements += settlements.count
            digest.value(settlements)
            digest.value(d.engine.takeStatementEntries())
            var changed: [UInt64] = []
            d.engine.drainChangedAccounts { changed.append($0) }
            digest.value(changed)
            for id in d.engine.accounts.keys.sorted() {
                let greeks = d.engine.portfolioGreeks(of: id)
                if !greeks.isEmpty { digest.counts.greekEntries += 1 }
                digest.value((id, greeks))
            }
        }
        for id in d.engine.accounts.keys.sorted() {
            switch d.engine.health(id, now: d.now) {
            case .success(let h): digest.value((id, h))
            case .failure(let e): digest.value((id, e))
            }
        }
        digest.bytes(d.engine.canonicalState())
        digest.bytes(d.engine.snapshot())
        return digest
    }

    /// Seed, escalation, margin calls; the liquidation decisions and margin calls the stream
    /// makes (recorded with the digest); the digest.
    @Test(arguments: [
        (UInt64(21), false, false, 2, 0, UInt64(0x3e6e_d423_a3a7_a885)),
        (UInt64(21), false, true, 2, 49, UInt64(0x39bc_355d_ed64_830c)),
        (UInt64(21), true, false, 10, 0, UInt64(0x6281_802f_74ee_0d8f)),
        (UInt64(21), true, true, 10, 33, UInt64(0x8a7c_2fb9_574e_296b)),
        (UInt64(23), false, false, 3, 0, UInt64(0x57b4_a43f_fe4c_af8a)),
        (UInt64(23), false, true, 3, 17, UInt64(0xc4ce_901e_ff78_dcd3)),
        (UInt64(23), true, false, 3, 0, UInt64(0x5ab6_76be_f231_d393)),
        (UInt64(23), true, true, 3, 11, UInt64(0x6411_cfdc_142c_ee29)),
        (UInt64(25), false, false, 0, 0, UInt64(0x2bf3_7eb6_789a_fb54)),
        (UInt64(25), false, true, 0, 16, UInt64(0xd587_6b8f_4db2_3e28)),
        (UInt64(25), true, false, 11, 0, UInt64(0x36e9_17dc_5d40_09aa)),
        (UInt64(25), true, true, 11, 11, UInt64(0x0ecf_f60e_c791_5575)),
        (UInt64(27), false, false, 5, 0, UInt64(0x08d4_7f25_7939_2018)),
        (UInt64(27), false, true, 5, 39, UInt64(0x7b73_2050_e186_4dac)),
        (UInt64(27), true, false, 11, 0, UInt64(0xeb1d_3470_8d7d_e1e8)),
        (UInt64(27), true, true, 11, 20, UInt64(0xd208_0446_60d5_52d0)),
    ])
    func outputsMatchTheRecordedDigest(seed: UInt64, escalating: Bool, marginCalls: Bool, decisions: Int, calls: Int, expected: UInt64) {
        let d = Self.digest(seed: seed, escalating: escalating, marginCalls: marginCalls, count: 1_500)
        // The stream must exercise what the digest is for, or the constant proves little.
        #expect(d.counts.optionFills > 30, "option fills \(d.counts)")
        #expect(d.counts.decisions == decisions, "decisions \(d.counts)")
        #expect(d.counts.marginCalls == calls && (calls > 0) == marginCalls, "margin calls \(d.counts)")
        #expect(d.counts.settlements == 2, "settlements \(d.counts)")
        #expect(d.counts.greekEntries > 1_000, "Greek entries \(d.counts)")
        #expect(escalating ? d.counts.greekLimit > 0 : d.counts.greekLimit == 0, "greek-limit decisions \(d.counts)")
        #expect(d.h == expected, "digest \(String(d.h, radix: 16)) counts \(d.counts)")
    }
}
