@testable import Engine
import Foundation
import Options
import TestSupport
import Testing
import Wire

/// The engine against `scripts/options_engine_reference.py`, an implementation of
/// docs/OPTIONS.md §10.2–§10.5 written from the documents alone (the option mark, an
/// account's health, realized volatility from the stream, settlement at expiry): a seeded
/// run through the real engine records every oracle price with its event's enclave time and,
/// after each round, the engine's marks, aggregated confidence, variance and every account's
/// collateral, positions and health; the script recomputes all of them from the inputs and
/// must agree to the micro-unit (and the Q64 variance to the raw bit).
@Suite("Options in the engine against the reference written from the docs")
struct OptionsEngineConformanceTests {
    /// A six-hour series (call 103 at 49,700: the walk keeps BTC near 50,000, so it mostly
    /// settles in the money and moves cash) beside the fixture's 30-day call and put, so a run
    /// reaches its expiry: it is unpriced for its last minutes (σ > 16, §10.8) and settles.
    static let shortExpiry: UInt64 = 1_000 * Fixture.second + 6 * 3_600 * Fixture.second

    static func venue() -> VenueConfig {
        var config = OptionsFixture.venue(makerBps: 1, takerBps: 5)
        config.options!.underlyings[0].smiles.append(
            SmileConfig(expiry: shortExpiry, a: 1_000_000, b: 10_000_000, rho: -300_000_000, m: 0, sigma: 100_000_000))
        var short = config.options!.markets[0]
        short.id = 103
        short.symbol = "BTC-6H-49700-C"
        short.strike = 49_700 * Fixture.usd
        short.expiry = shortExpiry
        config.options!.markets.append(short)
        return config
    }

    struct Run {
        var d = Driver(OptionsEngineConformanceTests.venue())
        var events: [[String: Any]] = []
        var checks: [[String: Any]] = []
        /// Draws the hypothetical states of `check()` (M1's: one market's size replaced).
        var whatIfs = SplitMix64(seed: 7)
        let optionIDs: [UInt32] = [101, 102, 103]
        let accountIDs: [UInt64] = Array(1...8)

        func holders(_ market: UInt32) -> [[Int64]] {
            d.engine.accounts.keys.sorted().compactMap { id in
                let q = d.engine.accounts[id]!.position(market)
                return q == 0 ? nil : [Int64(id), q]
            }
        }

        /// Publisher `p` signs `price` with `confidence`, published at the event's time less
        /// one microsecond (as `Driver.price`).
        mutating func price(_ market: UInt32, _ price: Int64, publisher p: Int, confidence: UInt64) {
            let held = Dictionary(uniqueKeysWithValues: optionIDs.map { ($0, holders($0)) })
            let publishTime = d.now
            d.apply(.oraclePrice(OraclePrice(market: market, price: price, confidence: confidence, publishTime: publishTime,
                                             publisher: Fixture.publishers[p], signature: [])))
            var event: [String: Any] = [
                "time": d.now,
                "price": ["market": market, "publisher": p, "price": price, "confidence": confidence, "publishTime": publishTime],
            ]
            let settled = d.engine.takeOptionSettlements()
            if !settled.isEmpty {
                event["settlements"] = settled.map { s -> [String: Any] in
                    ["market": s.market, "settlementPrice": s.settlementPrice, "valuePerUnit": s.valuePerUnit,
                     "residue": s.residue, "paid": s.paid, "received": s.received, "positions": s.positions,
                     "holders": held[s.market]!]
                }
            }
            events.append(event)
        }

        mutating func check() {
            var marks: [String: Any] = [:]
            for id in [Fixture.btc, Fixture.eth] + optionIDs {
                if case .success(let m) = d.engine.mark(id, at: d.now) { marks[String(id)] = m }
            }
            let btcSlot = d.engine.slot(of: Fixture.btc)!
            var check: [String: Any] = [
                "index": checks.count, "after": events.count - 1, "now": d.now, "marks": marks,
                "variance": String(d.engine.options!.underlyings[0].volatility.variance.raw),
            ]
            if case .success = d.engine.mark(Fixture.btc, at: d.now) {
                check["confidence"] = d.engine.markets[btcSlot].oracle.confidence(at: d.now)
            }
            check["accounts"] = accountIDs.compactMap { id -> [String: Any]? in
                guard let account = d.engine.accounts[id] else { return nil }
                var row: [String: Any] = [
                    "id": id, "collateral": Int64(account.collateral),
                    "positions": account.positions.filter { $0.size != 0 }.map { [Int64($0.market), $0.size] },
                ]
                if case .success(let h) = d.engine.health(id, now: d.now) { row["health"] = Self.row(h) }
                // M1's hypothetical state (docs/OPTIONS.md §10.3 "Which model, when"): one
                // market at another size, 0 (closing it) one time in four, and cash moved.
                let market = ([Fixture.btc, Fixture.eth] + optionIDs)[Int(whatIfs.next() % 5)]
                let lots = whatIfs.next() % 4 == 0 ? 0 : Int64(whatIfs.next() % 41) - 20
                let newSize = lots * (market == Fixture.eth ? Fixture.unit / 1_000 : Fixture.unit / 100)
                let delta = (Int64(whatIfs.next() % 2_001) - 1_000) * Fixture.usd
                var whatIf: [String: Any] = ["market": market, "newSize": newSize, "collateralDelta": delta]
                if case .success(let h) = d.engine.health(id, market: market, newSize: newSize, collateralDelta: Int128(delta),
                                                          now: d.now) {
                    whatIf["health"] = Self.row(h)
                }
                row["whatIf"] = whatIf
                return row
            }
            checks.append(check)
        }

        static func row(_ h: PerpEngine.Health) -> [String: Any] {
            ["equity": Int64(h.equity), "initial": Int64(h.initialRequirement), "maintenance": Int64(h.maintenanceRequirement)]
        }

        func json() throws -> Data {
            let config = d.engine.config
            let u = config.options!.underlyings[0]
            let m = u.margin
            let run: [String: Any] = [
                "underlying": u.market,
                "margin": [
                    "priceBuckets": m.priceBuckets, "minScanBps": m.minScanBps, "maxScanBps": m.maxScanBps,
                    "scanDeviationsMilli": m.scanDeviationsMilli, "horizonNanos": m.horizonNanos, "volUpBps": m.volUpBps,
                    "volDownBps": m.volDownBps, "extremeMultiple": m.extremeMultiple, "extremeCoverBps": m.extremeCoverBps,
                    "shortOptionMinimumBps": m.shortOptionMinimumBps, "initialRatioBps": m.initialRatioBps,
                ],
                "vol": ["halfLifeNanos": u.realizedVolatility.halfLifeNanos,
                        "minIntervalNanos": u.realizedVolatility.minIntervalNanos,
                        "initialVolatilityPpm": u.realizedVolatility.initialVolatilityPpm],
                "smiles": u.smiles.map { ["expiry": $0.expiry, "a": $0.a, "b": $0.b, "rho": $0.rho, "m": $0.m, "sigma": $0.sigma] },
                "options": config.options!.markets.map {
                    ["id": $0.id, "kind": $0.kind == .call ? "call" : "put", "strike": $0.strike, "expiry": $0.expiry]
                },
                "perps": config.markets.map { market -> [String: Any] in
                    let tier = config.marginTiers.first { $0.name == market.tier }!
                    return ["id": market.id, "initialBps": tier.initialBps, "maintenanceBps": tier.maintenanceBps,
                            "oracle": ["stalenessNanos": market.oracle.stalenessNanos,
                                       "maxConfidenceBps": market.oracle.maxConfidenceBps,
                                       "minPublishers": market.oracle.minPublishers]]
                },
                "events": events, "checks": checks,
            ]
            return try JSONSerialization.data(withJSONObject: run, options: [.sortedKeys])
        }
    }

    /// A seeded run: each round moves time (a microsecond to five minutes), has the three
    /// BTC publishers and the three ETH ones sign prices around a slow walk (some with a
    /// confidence too wide to count, so the counted set and its median confidence vary),
    /// and trades the four markets between account 1 and accounts 2…8; it runs past the
    /// six-hour expiry.
    static func run(seed: UInt64) -> Run {
        var rng = SplitMix64(seed: seed)
        var r = Run()
        r.d.deposit(1, 10_000_000)
        for a: UInt64 in 2...8 { r.d.deposit(a, 200_000) }
        r.whatIfs = SplitMix64(seed: seed ^ 0x5eed)
        var btc: Int64 = 50_000 * Fixture.usd
        let gaps: [UInt64] = [1_000, 700_000_000, 1_500_000_000, 9 * Fixture.second, 60 * Fixture.second, 300 * Fixture.second]
        var round = 0
        while r.d.now < shortExpiry + 600 * Fixture.second {
            round += 1
            r.d.now += gaps[Int(rng.next() % UInt64(gaps.count))]
            btc = min(max(btc + (Int64(rng.next() % 401) - 200) * Fixture.usd, 49_000 * Fixture.usd), 51_000 * Fixture.usd)
            for p in 0..<3 where rng.next() % 5 != 0 || round < 3 {
                let noise = (Int64(rng.next() % 301) - 150) * Fixture.usd
                let price = btc + noise
                let confidence = rng.next() % UInt64(price * 60 / 10_000)
                r.price(Fixture.btc, price, publisher: p, confidence: confidence)
            }
            for p in 0..<3 {
                r.price(Fixture.eth, 3_000 * Fixture.usd + (Int64(rng.next() % 21) - 10) * Fixture.usd, publisher: p,
                        confidence: rng.next() % 10 * UInt64(Fixture.usd))
            }
            for k in 0..<2 {
                let account = rng.next() % 7 + 2
                let market: UInt32 = [101, 102, 103, Fixture.btc, Fixture.eth][Int(rng.next() % 5)]
                let lot = market == Fixture.eth ? Fixture.unit / 1_000 : Fixture.unit / 100
                let quantity = Int64(rng.next() % 20 + 1) * lot
                let price: Int64
                switch market {
                case Fixture.btc, Fixture.eth:
                    guard case .success(let m) = r.d.engine.mark(market, at: r.d.now) else { continue }
                    price = m / (Fixture.usd / 10) * (Fixture.usd / 10)
                default: price = r.d.optionPrice(market)
                }
                if rng.next() % 2 == 0 {
                    r.d.trade(buyer: account, seller: 1, market, quantity: quantity, price: price, id: "\(round)-\(k)")
                } else {
                    r.d.trade(buyer: 1, seller: account, market, quantity: quantity, price: price, id: "\(round)-\(k)")
                }
            }
            r.check()
        }
        return r
    }

    @Test(arguments: [21, 22, 23] as [UInt64])
    func engineAgreesWithTheReference(seed: UInt64) throws {
        var r = Self.run(seed: seed)
        #expect(r.d.engine.takeOptionSettlements().isEmpty, "a settlement after an event that is not a price")
        let settlements = r.events.filter { $0["settlements"] != nil }.count
        let optionHealth = r.checks.flatMap { ($0["accounts"] as! [[String: Any]]) }.filter { row in
            (row["positions"] as! [[Int64]]).contains { $0[0] > 100 } && row["health"] != nil
        }.count
        let unpriced = r.checks.filter { check in
            let marks = check["marks"] as! [String: Any]
            return marks["103"] == nil && marks["1"] != nil
        }.count
        #expect(settlements == 1 && optionHealth > 100 && unpriced > 0,
                "the run covers settlement (\(settlements)), option health (\(optionHealth)) and the unpriced window (\(unpriced))")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let scratch = try makeScratchDirectory("options-conformance")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let file = scratch.appendingPathComponent("run.json")
        try r.json().write(to: file)
        if let keep = ProcessInfo.processInfo.environment["OPTIONS_CONFORMANCE_KEEP"] {
            try r.json().write(to: URL(fileURLWithPath: "\(keep)-\(seed).json"))
        }
        let out = try runTool("/usr/bin/env", ["python3", root.appendingPathComponent("scripts/options_engine_reference.py").path,
                                               file.path])
        let summary = String(decoding: out.stdout, as: UTF8.self)
        #expect(out.status == 0, "the reference disagrees: \(summary.prefix(4_000)) \(out.stderr.prefix(2_000))")
        let compared = (try? JSONSerialization.jsonObject(with: out.stdout) as? [String: Any])?["compared"] as? Int ?? 0
        #expect(compared > 1_000, "\(compared) values compared")
    }
}
