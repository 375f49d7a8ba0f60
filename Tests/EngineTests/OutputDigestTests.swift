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
