import Options
import Wire

/// The signed volatility feed of one underlying (docs/OPTIONS.md §10.9): per listed
/// expiry, each registered publisher's last recorded publish time and the smile in
/// force; and which smile prices each expiry at a given enclave time.
///
/// Pure state: it changes only when a smile is recorded, and what it yields at `now`
/// is a function of that state and `now` alone.
struct SmileFeed: Sendable {
    /// A recorded signed smile, with its parameters as signed (10⁻⁹ units) for snapshots.
    struct Signed: Sendable, Equatable {
        var raw: [Int64]
        var parameters: SVIParameters
        var publishTime: UInt64
        /// Index of the publisher in the underlying oracle's configuration.
        var publisher: Int
    }

    /// The listed expiries of the underlying, ascending, unique.
    let expiries: [UInt64]
    /// The configured smile of each expiry (CONFIG), same order.
    let configured: [SVIParameters?]
    /// The underlying oracle's publisher keys, configuration order.
    let publisherKeys: [[UInt8]]
    /// The underlying oracle's staleness limit, ns.
    let stalenessNanos: UInt64
    /// `last[e][p]`: publisher p's last recorded publish time for expiry e (0: none).
    var last: [[UInt64]]
    /// The smile in force for each expiry: the recorded one with the greatest publish
    /// time, ties to the later recorded; nil until the first is recorded.
    var inForce: [Signed?]
    /// Counts changes of `inForce` (a cache key, not state: not in snapshots).
    var version: UInt64 = 0

    init(expiries: [UInt64], configured: [UInt64: SVIParameters], publishers: [String], stalenessNanos: UInt64) {
        self.expiries = Array(Set(expiries)).sorted()
        self.configured = self.expiries.map { configured[$0] }
        publisherKeys = publishers.map { Hex.decode($0) ?? [] }
        self.stalenessNanos = stalenessNanos
        last = Array(repeating: Array(repeating: 0, count: publishers.count), count: self.expiries.count)
        inForce = Array(repeating: nil, count: self.expiries.count)
    }

    /// Why a smile is not recorded (the engine ignores it; the enclave refuses it first).
    enum Ignored: Error, Equatable {
        case unknownExpiry, unknownPublisher, invalidSmile, notNewer
    }

    /// Records `s` if its expiry is listed, its publisher registered, its parameters
    /// valid (§5.2) and its publish time after that publisher's last for the expiry. It
    /// goes in force if its publish time is ≥ the one in force.
    mutating func record(_ s: OracleSmile) -> Result<Void, Ignored> {
        guard let e = expiries.firstIndex(of: s.expiry) else { return .failure(.unknownExpiry) }
        guard let p = publisherKeys.firstIndex(of: s.publisher) else { return .failure(.unknownPublisher) }
        let parameters = SVIParameters(nanoUnits: s.a, b: s.b, rho: s.rho, m: s.m, sigma: s.sigma)
        guard (try? parameters.validate()) != nil else { return .failure(.invalidSmile) }
        guard s.publishTime > last[e][p] else { return .failure(.notNewer) }
        last[e][p] = s.publishTime
        if let current = inForce[e], s.publishTime < current.publishTime { return .success(()) }
        inForce[e] = Signed(raw: [s.a, s.b, s.rho, s.m, s.sigma], parameters: parameters, publishTime: s.publishTime, publisher: p)
        version &+= 1
        return .success(())
    }

    /// Whether a smile published at `publishTime` is stale at `now`: `now` more than the
    /// staleness limit after it (a publish time ahead of `now` is never stale).
    func isStale(_ publishTime: UInt64, at now: UInt64) -> Bool {
        now > publishTime && now - publishTime > stalenessNanos
    }

    /// How many smiles in force are stale at `now`. Between two recordings this only
    /// grows with `now`, so (`version`, this count) identifies `smiles(at:)`.
    func staleCount(at now: UInt64) -> Int {
        var n = 0
        for case let s? in inForce where isStale(s.publishTime, at: now) { n += 1 }
        return n
    }

    /// The smiles pricing the expiries at `now`: an expiry at or before `now` (time to
    /// expiry 0: priced at intrinsic value, the smile unused) takes its configured one, so
    /// a feed that stops publishing for it cannot leave the underlying unpriced; otherwise
    /// an expiry without any recorded signed smile takes its configured one, and one with
    /// a signed smile in force takes it while it is fresh and has none while it is stale
    /// (its underlying is then unpriced, §7.4).
    func smiles(at now: UInt64) -> [UInt64: SVIParameters] {
        var out: [UInt64: SVIParameters] = [:]
        for (e, expiry) in expiries.enumerated() {
            if now >= expiry {
                out[expiry] = configured[e] ?? inForce[e]?.parameters
            } else if let s = inForce[e] {
                if !isStale(s.publishTime, at: now) { out[expiry] = s.parameters }
            } else if let c = configured[e] {
                out[expiry] = c
            }
        }
        return out
    }

    /// The last recorded publish time of `publisher` for `expiry` (0: none or unknown).
    func lastPublishTime(expiry: UInt64, publisher: [UInt8]) -> UInt64 {
        guard let e = expiries.firstIndex(of: expiry), let p = publisherKeys.firstIndex(of: publisher) else { return 0 }
        return last[e][p]
    }
}

extension SmileFeed {
    /// Per expiry in ascending order: per publisher in configuration order its last
    /// publish time (u64, 0: none); then a u8 whether a smile is in force and if so its
    /// a, b, ρ, m, σ (i64 each), publish time (u64) and publisher index (u32).
    func writeSnapshot(into w: inout ByteWriter) {
        for e in expiries.indices {
            for t in last[e] { w.write(t) }
            w.writeSnapshot(inForce[e] != nil)
            if let s = inForce[e] {
                for v in s.raw { w.write(UInt64(bitPattern: v)) }
                w.write(s.publishTime)
                w.write(UInt32(s.publisher))
            }
        }
    }

    mutating func restore(_ r: inout SnapshotReader, underlying: UInt32) throws(EngineSnapshotError) {
        for e in expiries.indices {
            for p in last[e].indices { last[e][p] = try r.u64() }
            guard try r.bool("smile in force") else {
                inForce[e] = nil
                continue
            }
            var raw: [Int64] = []
            for _ in 0..<5 { raw.append(try r.i64()) }
            let time = try r.u64()
            let publisher = Int(try r.u32())
            let parameters = SVIParameters(nanoUnits: raw[0], b: raw[1], rho: raw[2], m: raw[3], sigma: raw[4])
            guard publisher < publisherKeys.count, (try? parameters.validate()) != nil else {
                throw .malformed("smile of underlying \(underlying), expiry \(expiries[e])")
            }
            inForce[e] = Signed(raw: raw, parameters: parameters, publishTime: time, publisher: publisher)
        }
        version &+= 1
    }
}
