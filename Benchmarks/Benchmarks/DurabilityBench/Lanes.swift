#if canImport(Glibc)
import Glibc
#endif
import EnclaveCore
import Engine
import SealCrypto
import VenueTools

// Issue 17: the worker alone, fed pre-sealed frames from memory (no host, no pipe, no
// client), with 1, 2 and 4 request lanes (`enclaveLanes`), against the AEAD-open rate of
// the same run. Each round measures the AEAD baseline (`CryptoBaseline`, the yardstick of
// scripts/bench.sh: one thread, 60-byte plaintexts), then each lane count on a fresh worker
// with the journal on (the seal lane too, as the enclave runs); the order of lane counts
// rotates from round to round so drift on a shared machine favours none. Orders/s are of
// wall clock over the feeding loop (200,000 orders by default, `--events`); the
// sequencer's thread CPU per order and the process's CPU per order are printed beside.
// Wall clock on a machine shared with other work measures the share of the cores this
// process got as much as the worker, so each round also gives a CPU-time ratio: orders
// per second of the sequencer thread's CPU (the rate it would reach with a core of its
// own) against AEAD opens per second of one thread's CPU, measured alike.

/// AEAD opens per second of this thread's CPU time (the same messages as `CryptoBaseline`:
/// the whole XChaCha20-Poly1305-IETF open, subkey derivation included).
func aeadOpensPerCPUSecond(seconds: Double = 1) throws -> Double {
    let server = try KXKeyPair(), client = try KXKeyPair()
    let sender = SessionCipher(keys: try client.clientSessionKeys(server: server.publicKey), sendDirection: .clientToEnclave)
    let receiveKey = try server.serverSessionKeys(client: client.publicKey).receive
    var nonce = [UInt8](repeating: 0, count: XChaCha20Poly1305.nonceByteCount)
    nonce.withUnsafeMutableBytes { SessionCipher.nonce(direction: .clientToEnclave, sequence: 1, into: $0) }
    let ad = [UInt8](repeating: 1, count: 18)
    let sealed = try sender.seal(sequence: 1, associatedData: ad, plaintext: [UInt8](repeating: 7, count: 60))
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 16)
    defer { out.deallocate() }
    var count = 0
    let start = cpuNanos(CLOCK_THREAD_CPUTIME_ID)
    var now = start
    try ad.withUnsafeBytes { a in
        try sealed.withUnsafeBytes { c in
            try nonce.withUnsafeBytes { n in
                while now - start < UInt64(seconds * 1e9) {
                    for _ in 0..<1_000 {
                        _ = try XChaCha20Poly1305.open(key: receiveKey, nonce: n, associatedData: a, ciphertext: c, into: out)
                    }
                    count += 1_000
                    now = cpuNanos(CLOCK_THREAD_CPUTIME_ID)
                }
            }
        }
    }
    return Double(count) / (Double(now - start) / 1e9)
}

func monotonic() -> UInt64 { cpuNanos(CLOCK_MONOTONIC) }

struct LaneRun {
    var ordersPerSecond: Double
    var sequencerMicros: Double
    var processMicros: Double
    var bySequencer: UInt64
    var jobs: UInt64
    var sealsBySequencer: UInt64
    var seals: UInt64
}

func runLanes(_ lanes: Int) throws -> LaneRun {
    let feeder = Feeder(try makeWorker(journal: true, lanes: lanes), keepJournal: false)
    let frames = try prepare(feeder, count: events)
    let w0 = monotonic(), t0 = cpuNanos(CLOCK_THREAD_CPUTIME_ID), p0 = cpuNanos(CLOCK_PROCESS_CPUTIME_ID)
    var i = 0
    while i < frames.count {
        try feeder.feed(frames[i..<min(frames.count, i + framesPerBatch)])
        i += framesPerBatch
    }
    if let b = feeder.worker.closeBatchIfDue(force: true) { feeder.closed.append(b) }
    feeder.takeJournal()
    let w1 = monotonic(), t1 = cpuNanos(CLOCK_THREAD_CPUTIME_ID), p1 = cpuNanos(CLOCK_PROCESS_CPUTIME_ID)
    let counts = feeder.worker.laneJobCounts ?? (0, 0, 0, 0)
    let n = Double(frames.count)
    return LaneRun(ordersPerSecond: n / (Double(w1 - w0) / 1e9), sequencerMicros: Double(t1 - t0) / n / 1_000,
                   processMicros: Double(p1 - p0) / n / 1_000, bySequencer: counts.bySequencer, jobs: counts.jobs,
                   sealsBySequencer: counts.sealsBySequencer, seals: counts.seals)
}

func lanesBench(rounds: Int = 3) throws {
    let laneCounts = [1, 2, 4]
    var runs: [Int: [LaneRun]] = [:]
    var baselines: [Double] = []
    var cpuBaselines: [Double] = []
    func fmt(_ x: Double, _ places: Int) -> String {
        let scale = [1.0, 10, 100, 1_000][places]
        return String(Double((x * scale).rounded()) / scale)
    }
    for round in 0..<rounds {
        baselines.append(try CryptoBaseline.opensPerSecond(plaintextBytes: 60, seconds: 1))
        cpuBaselines.append(try aeadOpensPerCPUSecond())
        for k in 0..<laneCounts.count {
            let lanes = laneCounts[(k + round) % laneCounts.count]
            let r = try runLanes(lanes)
            runs[lanes, default: []].append(r)
            print("round \(round + 1), \(lanes) lane(s): \(Int(r.ordersPerSecond)) orders/s = "
                  + "\(fmt(r.ordersPerSecond / baselines[round], 3)) x AEAD opens/s \(Int(baselines[round])); "
                  + "sequencer \(fmt(r.sequencerMicros, 2)) µs/order (CPU-bound ratio "
                  + "\(fmt(1e6 / r.sequencerMicros / cpuBaselines[round], 3)) x \(Int(cpuBaselines[round])) opens per CPU s), "
                  + "process \(fmt(r.processMicros, 2)) µs/order"
                  + (lanes > 1 ? "; \(r.bySequencer) of \(r.jobs) opens and \(r.sealsBySequencer) of \(r.seals) seals"
                     + " on the sequencer" : ""))
        }
    }
    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
    print("medians of \(rounds) rounds, \(events) orders each (journal on, \(sessions) sessions, link batches of "
          + "\(framesPerBatch)); AEAD opens/s \(Int(median(baselines))) of wall clock, \(Int(median(cpuBaselines))) "
          + "per CPU second (one thread, same run):")
    for lanes in laneCounts {
        let rs = runs[lanes]!
        let ratios = zip(rs, baselines).map { $0.ordersPerSecond / $1 }
        let cpuRatios = zip(rs, cpuBaselines).map { 1e6 / $0.sequencerMicros / $1 }
        print("  \(lanes) lane(s): \(Int(median(rs.map(\.ordersPerSecond)))) orders/s, ratio to AEAD open "
              + "\(fmt(median(ratios), 3)) (rounds \(ratios.map { fmt($0, 3) }.joined(separator: " "))), "
              + "sequencer \(fmt(median(rs.map(\.sequencerMicros)), 2)) µs/order, CPU-bound ratio "
              + "\(fmt(median(cpuRatios), 3)) (rounds \(cpuRatios.map { fmt($0, 3) }.joined(separator: " "))), process "
              + "\(fmt(median(rs.map(\.processMicros)), 2)) µs/order")
    }
}
