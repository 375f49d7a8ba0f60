import Engine
import SealCrypto
import Wire

/// Runs a seeded, realistic event stream through a fresh engine and digests everything it
/// produced: every outcome (receipt detail), every liquidation decision and funding
/// payment, and the final canonical state. Two processes given the same seed must print
/// the same digest: Swift seeds hashing per process, so this catches any Dictionary or Set
/// order that leaks into an output.
public enum EngineReplay {
    public struct Result: Codable, Sendable {
        public var events: Int
        public var fills: Int
        public var liquidations: Int
        public var digest: String
    }

    public static func run(seed: UInt64, events count: Int) throws -> Result {
        var config = DemoKeys.venue()
        config.liquidation.partialThreshold = 20_000_000_000
        var engine = try PerpEngine(config: config)
        var rng = seed &+ 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            rng ^= rng << 13
            rng ^= rng >> 7
            rng ^= rng << 17
            return rng
        }
        let publishers = config.markets[0].oracle.publishers.compactMap { Hex.decode($0) }
        var hasher = SHA256()
        var sequence: UInt64 = 0
        var now: UInt64 = 1_700_000_000_000_000_000
        var price: Int64 = 60_000_000_000
        var fills = 0
        var liquidations = 0
        func apply(_ input: EngineInput) {
            sequence += 1
            now += 50_000_000
            let outcome = engine.apply(SequencedEvent(globalSequence: sequence, enclaveTime: now, input: input))
            switch outcome {
            case .accepted(let detail):
                hasher.update([0])
                hasher.update(detail)
                fills += (try? OrderReport.decode(detail).fills.count) ?? 0
            case .rejected(let reason):
                hasher.update([1, UInt8(reason.rawValue >> 8), UInt8(reason.rawValue & 0xff)])
            }
            for d in engine.takeDecisions() {
                liquidations += 1
                var w = ByteWriter()
                w.write(d.sequence); w.write(bytes: d.accountCommitment); w.write(d.market); w.write(d.size)
                w.write(d.markPrice); w.write(d.bankruptcyPrice); w.write(d.equity); w.write(d.maintenanceRequirement)
                w.write(d.filledOnBook); w.write(d.toInsuranceFund); w.write(d.autoDeleveraged)
                w.write(d.liquidationFee)
                for f in d.fills { w.write(f.kind.rawValue); w.write(f.price); w.write(f.quantity) }
                w.withUnsafeBytes { hasher.update($0) }
            }
            for f in engine.takeFundingPayments() {
                var w = ByteWriter()
                w.write(f.market); w.write(f.perUnit)
                w.withUnsafeBytes { hasher.update($0) }
            }
            for m in engine.takeMakerFills() {
                var w = ByteWriter()
                w.write(m.account); w.write(m.fill.quantity)
                w.withUnsafeBytes { hasher.update($0) }
            }
        }
        let accounts: UInt64 = 300
        for a in 1...accounts {
            apply(.deposit(Deposit(accountID: a, accountKey: [], amount: Int64(next() % 20_000 + 2_000) * 1_000_000,
                                   depositID: a, signature: [])))
        }
        apply(.deposit(Deposit(accountID: 9_999, accountKey: [], amount: 100_000_000_000_000, depositID: 9_999, signature: [])))
        for i in 0..<count {
            let roll = next() % 100
            if roll < 10 || i == 0 {
                // A drifting, falling market: liquidations happen.
                price = max(1_000_000, price - 6_000_000 + Int64(next() % 8_000_001) - 4_000_000) / 100_000 * 100_000
                for p in publishers {
                    apply(.oraclePrice(OraclePrice(market: 1, price: price, confidence: 0, publishTime: now + 50_000_000,
                                                   publisher: p, signature: [])))
                }
            } else if roll < 85 {
                let account = roll < 25 ? 9_999 : next() % accounts + 1
                let side: Side = next() % 3 == 0 ? .sell : .buy
                let offset = (Int64(next() % 200) - 100) * 100_000
                apply(.request(account: account, .newOrder(NewOrder(
                    clientOrderID: try ClientOrderID("r\(i)"), market: 1, side: side,
                    timeInForce: next() % 2 == 0 ? .immediateOrCancel : .goodTillCancel,
                    price: max(100_000, price + offset), quantity: Int64(next() % 30 + 1) * 1_000_000))))
            } else {
                apply(.request(account: next() % accounts + 1, .cancel(try ClientOrderID("r\(Int(next() % UInt64(i + 1)))"))))
            }
        }
        hasher.update(engine.canonicalState())
        return Result(events: Int(sequence), fills: fills, liquidations: liquidations, digest: Hex.encode(hasher.finalize()))
    }
}
