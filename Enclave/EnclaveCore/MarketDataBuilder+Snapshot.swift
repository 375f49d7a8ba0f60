import Commitments
import Engine
import Wire

/// The market data builder's part of the committer snapshot (docs/DURABILITY.md §6.4):
/// per market the records published and the open batch's trades, then the records made
/// and not yet released, in order (an option market's with its series after the trades).
/// All integers big-endian; counts u32.
extension MarketDataBuilder {
    func writeSnapshot(into w: inout ByteWriter) {
        w.write(UInt32(markets.count))
        for (mi, market) in markets.enumerated() {
            w.write(market)
            w.write(published[mi])
            Self.write(trades[mi], into: &w)
            if optionMarkets.contains(market) { Self.write(settlements[mi], into: &w) }
        }
        w.write(UInt32(pending.count))
        for p in pending {
            w.write(p.releaseAt)
            w.write(p.market)
            w.write(p.firstSequence)
            w.write(p.lastSequence)
            w.write(p.stateTime)
            for side in [p.bids, p.asks] {
                w.write(UInt32(side.count))
                for level in side { w.write(level[0]); w.write(level[1]) }
            }
            w.write(p.markPrice)
            w.write(p.priceInvalidity)
            w.write(UInt32(p.oracle.count))
            for q in p.oracle {
                w.write(q.publisher)
                w.write(q.price)
                w.write(q.confidence)
                w.write(q.publishTime)
            }
            w.write(p.fundingRateBps)
            w.write(p.nextFundingTime)
            w.write(p.openInterest)
            Self.write(p.trades, into: &w)
            // An option market's record carries its series (a perpetual's, nothing more:
            // a perpetuals-only snapshot is byte for byte as before options were published).
            // Exactly the option markets' records have one: `close` checks it of every view
            // and `restore` reads one for exactly those markets.
            if let o = p.option {
                w.write(o.contractSize)
                w.write(o.expiry)
                w.write(UInt8(o.kind == "put" ? 1 : 0))
                w.write(UInt8(o.settled ? 1 : 0))
                w.write(o.strike)
                w.write(o.underlying)
                w.write(o.underlyingMark)
                Self.write(o.settlement, into: &w)
                // Since version 5: the option mark's volatility and Greeks.
                w.write(UInt8(o.greeks != nil ? 1 : 0))
                if let g = o.greeks {
                    for v in [g.delta, g.gamma, g.impliedVolatilityPpm, g.realizedVolatilityPpm, g.theta, g.vega] { w.write(v) }
                }
            }
        }
    }

    mutating func restore(_ r: inout SnapshotReader) throws(EngineSnapshotError) {
        guard Int(try r.u32()) == markets.count else { throw .configMismatch("market data markets") }
        for mi in markets.indices {
            guard try r.u32() == markets[mi] else { throw .configMismatch("market data market \(markets[mi])") }
            published[mi] = try r.u64()
            trades[mi] = try Self.readTrades(&r)
            settlements[mi] = optionMarkets.contains(markets[mi]) ? try Self.readSettlement(&r) : nil
        }
        pending = []
        for _ in 0..<(try r.count(minBytes: 72, "market data pending")) {
            let releaseAt = try r.u64(), market = try r.u32()
            guard markets.contains(market) else { throw .malformed("market data pending market \(market)") }
            let first = try r.u64(), last = try r.u64(), time = try r.u64()
            var sides: [[[Int64]]] = []
            for _ in 0..<2 {
                var side: [[Int64]] = []
                for _ in 0..<(try r.count(minBytes: 16, "market data levels")) { side.append([try r.i64(), try r.i64()]) }
                sides.append(side)
            }
            let mark = try r.i64(), invalidity = try r.u8()
            var oracle: [MarketDataRecord.Quote] = []
            for _ in 0..<(try r.count(minBytes: 28, "market data quotes")) {
                let publisher = try r.u32(), price = try r.i64(), confidence = try r.u64(), time = try r.u64()
                oracle.append(.init(confidence: confidence, price: price, publishTime: time, publisher: publisher))
            }
            let rate = try r.i64(), next = try r.u64(), oi = try r.i64()
            let trades = try Self.readTrades(&r)
            var option: MarketDataRecord.Option?
            if optionMarkets.contains(market) {
                let size = try r.i64(), expiry = try r.u64(), kind = try r.u8(), settled = try r.u8()
                guard kind <= 1, settled <= 1 else { throw .malformed("market data option series") }
                option = MarketDataRecord.Option(
                    contractSize: size, expiry: expiry, kind: kind == 1 ? "put" : "call", settled: settled == 1,
                    strike: try r.i64(), underlying: try r.u32(), underlyingMark: try r.i64(),
                    settlement: try Self.readSettlement(&r))
                let hasGreeks = try r.u8()
                guard hasGreeks <= 1 else { throw .malformed("market data option greeks") }
                if hasGreeks == 1 {
                    option?.greeks = MarketDataRecord.Greeks(
                        delta: try r.i64(), gamma: try r.i64(), impliedVolatilityPpm: try r.i64(),
                        realizedVolatilityPpm: try r.i64(), theta: try r.i64(), vega: try r.i64())
                }
            }
            pending.append(Pending(
                releaseAt: releaseAt, market: market, firstSequence: first, lastSequence: last, stateTime: time,
                bids: sides[0], asks: sides[1], markPrice: mark, priceInvalidity: invalidity, oracle: oracle,
                fundingRateBps: rate, nextFundingTime: next, openInterest: oi, trades: trades, option: option))
        }
    }

    /// u8 0 (none) or 1 then `enclaveTime u64 ‖ paid i64 ‖ positions i64 ‖ received i64 ‖
    /// residue i64 ‖ sequence u64 ‖ settlementPrice i64 ‖ valuePerUnit i64`.
    private static func write(_ s: MarketDataRecord.Settlement?, into w: inout ByteWriter) {
        guard let s else { return w.write(UInt8(0)) }
        w.write(UInt8(1))
        w.write(s.enclaveTime)
        w.write(s.paid)
        w.write(s.positions)
        w.write(s.received)
        w.write(s.residue)
        w.write(s.sequence)
        w.write(s.settlementPrice)
        w.write(s.valuePerUnit)
    }

    private static func readSettlement(
        _ r: inout SnapshotReader
    ) throws(EngineSnapshotError) -> MarketDataRecord.Settlement? {
        switch try r.u8() {
        case 0: return nil
        case 1:
            let time = try r.u64(), paid = try r.i64(), positions = try r.i64(), received = try r.i64()
            let residue = try r.i64(), sequence = try r.u64(), price = try r.i64(), value = try r.i64()
            return MarketDataRecord.Settlement(
                enclaveTime: time, paid: paid, positions: positions, received: received, residue: residue,
                sequence: sequence, settlementPrice: price, valuePerUnit: value)
        default: throw .malformed("market data settlement")
        }
    }

    private static func write(_ trades: [MarketDataRecord.Trade], into w: inout ByteWriter) {
        w.write(UInt32(trades.count))
        for t in trades {
            w.write(UInt8(t.aggressor == "buy" ? 1 : 0))
            w.write(t.enclaveTime)
            w.write(t.price)
            w.write(t.sequence)
            w.write(t.size)
        }
    }

    private static func readTrades(_ r: inout SnapshotReader) throws(EngineSnapshotError) -> [MarketDataRecord.Trade] {
        var out: [MarketDataRecord.Trade] = []
        for _ in 0..<(try r.count(minBytes: 33, "market data trades")) {
            let buy: Bool
            switch try r.u8() {
            case 0: buy = false
            case 1: buy = true
            default: throw .malformed("market data trade aggressor")
            }
            let time = try r.u64(), price = try r.i64(), sequence = try r.u64(), size = try r.i64()
            out.append(.init(aggressor: buy ? "buy" : "sell", enclaveTime: time, price: price, sequence: sequence, size: size))
        }
        return out
    }
}
