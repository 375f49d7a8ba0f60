import TestSupport
import Testing
@testable import Engine
import Wire

/// Everything an engine hands out after one event, for comparing twins.
private struct StepOutputs: Equatable {
    var outcome: EngineOutcome
    var makerFills: [MakerFill]
    var decisions: [LiquidationDecision]
    var funding: [FundingPayment]
    var changed: [UInt64]
    var state: [UInt8]
    var liquidatable: [UInt64]
}

/// The venue of the property tests with funding every minute, so funding clocks and
/// accumulators are exercised within a run.
private func snapshotVenue() -> VenueConfig {
    var config = Fixture.venue(insurance: 200_000 * Fixture.usd, makerBps: 1, takerBps: 5)
    for i in config.markets.indices { config.markets[i].funding.intervalNanos = 60 * Fixture.second }
    return config
}

/// Applies one input and drains every output, as the enclave does after each event.
private func step(_ d: inout Driver, _ input: EngineInput, advance: UInt64) -> StepOutputs {
    let outcome = d.apply(input, advance: advance)
    return drain(&d, outcome)
}

private func drain(_ d: inout Driver, _ outcome: EngineOutcome) -> StepOutputs {
    var changed: [UInt64] = []
    d.engine.drainChangedAccounts { changed.append($0) }
    return StepOutputs(
        outcome: outcome, makerFills: d.engine.takeMakerFills(), decisions: d.engine.takeDecisions(),
        funding: d.engine.takeFundingPayments(), changed: changed, state: d.engine.canonicalState(),
        liquidatable: d.engine.liquidatableAccounts(at: d.now))
}

/// Restores `d`'s engine from its snapshot into a fresh driver at the same clock.
private func twin(of d: Driver, config: VenueConfig) throws -> Driver {
    var t = Driver(config)
    t.engine = try PerpEngine(snapshot: d.engine.snapshot(), config: config)
    t.sequence = d.sequence
    t.now = d.now
    return t
}

/// Byte equality without printing megabytes when it fails.
private func same(_ a: [UInt8], _ b: [UInt8]) -> Bool { a == b }

@Suite("Engine snapshots")
struct EngineSnapshotTests {
    /// Random streams (orders, cancels, withdrawals, oracle walks; a crash with
    /// liquidations and ADL) run through a reference engine and a chain engine that is
    /// replaced, at eight random points per stream, by a fresh engine restored from its
    /// own snapshot — half of the time before that event's outputs are drained. After
    /// every event both give the same outcome, maker fills, decisions, funding, changed
    /// accounts, canonical state and liquidatable set (also checked against the
    /// brute-force scan), and at every restore the snapshots are byte-identical.
    @Test(arguments: [21, 22, 23] as [UInt64])
    func restoredEngineIsIndistinguishable(seed: UInt64) throws {
        let config = snapshotVenue()
        var rng = SplitMix64(seed: seed)
        let streams: [(events: [EngineInput], advance: UInt64)] = [
            (randomEvents(seed: seed, count: 2_500), 100_000_000),
            (crashEvents(seed: seed), 40_000_000),
        ]
        var totals = (fills: 0, decisions: 0, funding: 0, restores: 0)
        for stream in streams {
            let points = Set((0..<8).map { _ in Int(rng.next() % UInt64(stream.events.count)) })
            var reference = Driver(config)
            var chain = Driver(config)
            for (k, input) in stream.events.enumerated() {
                let a: StepOutputs
                let b: StepOutputs
                if points.contains(k) {
                    let pending = rng.next() % 2 == 0
                    let outcomeA = reference.apply(input, advance: stream.advance)
                    let outcomeB = chain.apply(input, advance: stream.advance)
                    if pending { chain = try twin(of: chain, config: config) }
                    a = drain(&reference, outcomeA)
                    b = drain(&chain, outcomeB)
                    if !pending { chain = try twin(of: chain, config: config) }
                    let identical = same(chain.engine.snapshot(), reference.engine.snapshot())
                    #expect(identical, "canonical bytes at event \(k)")
                    totals.restores += 1
                } else {
                    a = step(&reference, input, advance: stream.advance)
                    b = step(&chain, input, advance: stream.advance)
                }
                guard a == b else {
                    Issue.record("diverged at event \(k) (restores at \(points.sorted()))")
                    return
                }
                #expect(a.liquidatable == bruteForceLiquidatable(&chain.engine, now: chain.now))
                totals.fills += a.makerFills.count
                totals.decisions += a.decisions.count
                totals.funding += a.funding.count
            }
            let identical = same(chain.engine.snapshot(), reference.engine.snapshot())
            #expect(identical, "canonical bytes at the end")
        }
        #expect(totals.restores >= 12)
        #expect(totals.fills > 0 && totals.decisions > 0 && totals.funding > 0,
                "the streams exercise fills, liquidations and funding (\(totals))")
    }

    /// Every prefix of the stream snapshots and restores to the same bytes (the format is
    /// canonical even where orders were cancelled lazily or levels freed).
    @Test func everyPrefixRoundTrips() throws {
        let config = snapshotVenue()
        var d = Driver(config)
        for (k, input) in randomEvents(seed: 31, count: 600).enumerated() {
            _ = step(&d, input, advance: 100_000_000)
            let bytes = d.engine.snapshot()
            let restored = try PerpEngine(snapshot: bytes, config: config)
            let identical = same(restored.snapshot(), bytes)
            #expect(identical, "event \(k)")
        }
    }

    /// Restoring never traps: any single corrupted byte gives a typed error or some
    /// engine (the seal of §6.3 is what keeps corrupted snapshots out; this is the
    /// reader's own guard).
    @Test func corruptedBytesNeverTrap() throws {
        let config = snapshotVenue()
        var d = Driver(config)
        for input in crashEvents(seed: 3, accounts: 20, steps: 300) { _ = step(&d, input, advance: 40_000_000) }
        let bytes = d.engine.snapshot()
        var rng = SplitMix64(seed: 99)
        var refused = 0
        for _ in 0..<3_000 {
            var bad = bytes
            let at = Int(rng.next() % UInt64(bad.count))
            bad[at] = UInt8(truncatingIfNeeded: rng.next())
            do { _ = try PerpEngine(snapshot: bad, config: config) } catch is EngineSnapshotError { refused += 1 }
        }
        #expect(refused > 100, "\(refused) of 3,000 refused")
    }

    @Test func refusesAnotherVenueAndBadBytes() throws {
        let config = snapshotVenue()
        var d = Driver(config)
        for input in randomEvents(seed: 32, count: 200) { _ = step(&d, input, advance: 100_000_000) }
        let bytes = d.engine.snapshot()

        var other = config
        other.venueID += 1
        #expect(throws: EngineSnapshotError.configMismatch("venue id \(other.venueID - 1), configured \(other.venueID)")) {
            try PerpEngine(snapshot: bytes, config: other)
        }
        var fewer = config
        fewer.markets.removeLast()
        #expect(throws: EngineSnapshotError.self) { try PerpEngine(snapshot: bytes, config: fewer) }
        #expect(throws: EngineSnapshotError.badMagic) { try PerpEngine(snapshot: [0] + bytes.dropFirst(), config: config) }
        var version = bytes
        version[5] = 2
        #expect(throws: EngineSnapshotError.unsupportedVersion(2)) { try PerpEngine(snapshot: version, config: config) }
        #expect(throws: EngineSnapshotError.truncated) { try PerpEngine(snapshot: Array(bytes.dropLast()), config: config) }
        #expect(throws: EngineSnapshotError.malformed("1 trailing bytes")) {
            try PerpEngine(snapshot: bytes + [0], config: config)
        }
        // Every truncation is refused with a typed error, never a trap.
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 300)) {
            #expect(throws: EngineSnapshotError.self) { try PerpEngine(snapshot: Array(bytes[..<cut]), config: config) }
        }
    }

    /// A decision's variable-length fields are read in canonical form only (DURABILITY
    /// §6.2 item 5): a commitment other than the one the restoring engine derives for the
    /// account, or a pre-step state that is not that account's §2.2 state, is `malformed`.
    @Test func refusesADecisionWhoseCommitmentOrStateIsNotCanonical() throws {
        var d = Driver(snapshotVenue())
        for input in crashEvents(seed: 21) {
            d.apply(input, advance: 40_000_000)
            if !d.engine.decisions.isEmpty { break }
        }
        let decision = try #require(d.engine.decisions.first)
        let bytes = d.engine.snapshot()
        // The engine's own bytes restore, with the commitment it derived.
        #expect(try PerpEngine(snapshot: bytes, config: snapshotVenue()).snapshot() == bytes)
        // An engine deriving other commitments (16 bytes, not the default's 8) refuses them.
        #expect(throws: EngineSnapshotError.malformed("decision account commitment")) {
            try PerpEngine(snapshot: bytes, config: snapshotVenue(),
                           accountCommitment: { id in withUnsafeBytes(of: id.bigEndian) { Array($0) + Array($0) } })
        }
        // The pre-step state naming another account (its first 8 bytes) is refused.
        var prefixed = ByteWriter()
        prefixed.write(UInt32(decision.preState.count))
        prefixed.write(bytes: decision.preState)
        let at = try #require((0...(bytes.count - prefixed.bytes.count)).first {
            bytes[$0..<$0 + prefixed.bytes.count].elementsEqual(prefixed.bytes)
        }) + 4
        var other = bytes
        other[at + 7] ^= 0x01
        #expect(throws: EngineSnapshotError.malformed("decision state")) {
            try PerpEngine(snapshot: other, config: snapshotVenue())
        }
        // A position of size 0 in it (the size of the first position, 8 bytes at 32).
        try #require(decision.preState.count >= 32 + 44)
        var zero = bytes
        for i in 32..<40 { zero[at + i] = 0 }
        #expect(throws: EngineSnapshotError.malformed("decision state")) {
            try PerpEngine(snapshot: zero, config: snapshotVenue())
        }
    }

    /// Where `decision`'s marks start in `bytes` (their count), found after its pre-step state.
    static func marksOffset(_ bytes: [UInt8], _ decision: LiquidationDecision) throws -> Int {
        var prefixed = ByteWriter()
        prefixed.write(UInt32(decision.preState.count))
        prefixed.write(bytes: decision.preState)
        prefixed.write(UInt32(decision.marks.count))
        let at = try #require((0...(bytes.count - prefixed.bytes.count)).first {
            bytes[$0..<$0 + prefixed.bytes.count].elementsEqual(prefixed.bytes)
        })
        return at + 4 + decision.preState.count
    }

    /// Each mark of a pending decision carries the maintenance bps the configuration gives
    /// its market (DURABILITY §6.5): a perpetual's tier's, an option market's 0. The
    /// engine's own marks restore; a mark off by one bps, the same bytes under a
    /// configuration whose tier says otherwise, a mark of a market the configuration does
    /// not list, and an option market's mark with its underlying's tier value are
    /// `malformed("decision marks")` (snapshotRejected reason 3).
    @Test func refusesADecisionMarkWhoseMaintenanceIsNotTheConfigurations() throws {
        let config = snapshotVenue()
        var d = Driver(config)
        for input in crashEvents(seed: 21) {
            d.apply(input, advance: 40_000_000)
            if !d.engine.decisions.isEmpty { break }
        }
        let decision = try #require(d.engine.decisions.first)
        let mark = try #require(decision.marks.first)
        let market = try #require(config.markets.first { $0.id == mark.market })
        #expect(Int64(mark.maintenanceBps) == config.tier(market.tier)!.maintenanceBps)
        let bytes = d.engine.snapshot()
        #expect(try PerpEngine(snapshot: bytes, config: config).snapshot() == bytes)
        let marks = try Self.marksOffset(bytes, decision) + 4
        var off = bytes
        off[marks + 15] ^= 0x01  // the first mark's maintenance bps, its last byte
        #expect(throws: EngineSnapshotError.malformed("decision marks")) { try PerpEngine(snapshot: off, config: config) }
        // The configuration decides: the same bytes under a venue whose tier says 250.
        var retiered = config
        let tier = try #require(retiered.marginTiers.firstIndex { $0.name == market.tier })
        retiered.marginTiers[tier].maintenanceBps = 250
        #expect(throws: EngineSnapshotError.malformed("decision marks")) { try PerpEngine(snapshot: bytes, config: retiered) }
        // Market 99, which the venue does not list, as the state's last position and its mark.
        let last = decision.marks.count - 1
        var unlisted = bytes
        let state = marks - 4 - decision.preState.count
        for (i, b) in ([0, 0, 0, 99] as [UInt8]).enumerated() {
            unlisted[state + 28 + 44 * last + i] = b
            unlisted[marks + 16 * last + i] = b
        }
        #expect(throws: EngineSnapshotError.malformed("decision marks")) { try PerpEngine(snapshot: unlisted, config: config) }

        // An option market's mark carries 0; its underlying's tier value is refused.
        let venue = OptionsLifecycleTests.streamVenue(escalating: false)
        var o = Driver(venue)
        for (input, advance) in OptionsLifecycleTests.stream(seed: 21, count: 800) {
            var stamped = input
            if case .oraclePrice(var p) = input {
                p.publishTime = o.now + advance
                stamped = .oraclePrice(p)
            }
            o.apply(stamped, advance: advance)
            if o.engine.decisions.contains(where: { $0.marks.contains { $0.market == OptionsFixture.call } }) { break }
        }
        let hedged = try #require(o.engine.decisions.first { $0.marks.contains { $0.market == OptionsFixture.call } })
        let j = try #require(hedged.marks.firstIndex { $0.market == OptionsFixture.call })
        #expect(hedged.marks[j].maintenanceBps == 0)
        let options = o.engine.snapshot()
        #expect(try PerpEngine(snapshot: options, config: venue).snapshot() == options)
        var tiered = options
        let at = try Self.marksOffset(options, hedged) + 4 + 16 * j + 12
        tiered[at..<at + 4] = [0, 0, 0x01, 0x2c]  // 300, BTC's large-cap value
        #expect(throws: EngineSnapshotError.malformed("decision marks")) { try PerpEngine(snapshot: tiered, config: venue) }
    }
}
