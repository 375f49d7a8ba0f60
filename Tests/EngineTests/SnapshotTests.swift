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
    /// liquidations and ADL): at random points the engine is snapshotted — sometimes
    /// before that event's outputs are drained — restored into a fresh engine, and both
    /// are fed the rest of the stream. Every step's outcome, maker fills, decisions,
    /// funding, changed accounts, canonical state and liquidatable set (checked against
    /// the brute-force scan) agree, and the snapshots are byte-identical throughout.
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
            let points = Set((0..<3).map { _ in Int(rng.next() % UInt64(stream.events.count)) })
            var original = Driver(config)
            for (k, input) in stream.events.enumerated() {
                guard points.contains(k) else {
                    _ = step(&original, input, advance: stream.advance)
                    continue
                }
                // Snapshot with this event's outputs still pending half of the time.
                let pending = rng.next() % 2 == 0
                let outcome = original.apply(input, advance: stream.advance)
                var copy = try twin(of: original, config: config)
                #expect(same(copy.engine.snapshot(), original.engine.snapshot()), "canonical bytes at event \(k)")
                totals.restores += 1
                if !pending {
                    _ = drain(&original, outcome)
                    copy = try twin(of: original, config: config)
                    _ = drain(&copy, outcome)
                } else {
                    #expect(drain(&copy, outcome) == drain(&original, outcome), "pending outputs at event \(k)")
                }
                for (j, next) in stream.events[(k + 1)...].enumerated() {
                    let a = step(&original, next, advance: stream.advance)
                    let b = step(&copy, next, advance: stream.advance)
                    guard a == b else {
                        Issue.record("restored at \(k): diverged at event \(k + 1 + j)")
                        return
                    }
                    #expect(a.liquidatable == bruteForceLiquidatable(&copy.engine, now: copy.now))
                    totals.fills += a.makerFills.count
                    totals.decisions += a.decisions.count
                    totals.funding += a.funding.count
                }
                #expect(same(copy.engine.snapshot(), original.engine.snapshot()), "canonical bytes at the end")
                // Keep feeding the original from here: later points restore from it again.
                original = try twin(of: original, config: config)
                break
            }
        }
        #expect(totals.restores >= 2)
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
            #expect(same(restored.snapshot(), bytes), "event \(k)")
        }
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
}
