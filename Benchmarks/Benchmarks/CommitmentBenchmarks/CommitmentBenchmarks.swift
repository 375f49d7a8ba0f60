import Benchmark
import Commitments
import EnclaveCore
import Engine
import SealCrypto
import Wire

// Batch close cost (issue 4): for a batch of N events, everything the enclave does for
// commitments: hash each input's body into its event leaf and the log, then at close the
// log's root and consistency proof, the changed accounts' salted state leaves (N/10 of
// a 100k-account venue), the decision tree, and one EIP-712 header signed with secp256k1.

func venue() -> VenueConfig {
    let key = Hex.encode([UInt8](repeating: 9, count: 32))
    let oracle = OracleConfig(publishers: [key], minPublishers: 1, stalenessNanos: 60_000_000_000, maxConfidenceBps: 50,
                              maxDeviationBps: 1_000, jumpConfirmationNanos: 1_000_000_000)
    return VenueConfig(
        venueID: 1, name: "bench", custodyKey: key, marginTiers: [MarginTier(name: "t", initialBps: 500, maintenanceBps: 300)],
        fees: FeeSchedule(makerBps: 1, takerBps: 5),
        liquidation: LiquidationConfig(partialThreshold: 1, maxCloseBps: 2_500, cooldownNanos: 1, feeBps: 50, insuranceFund: 1),
        markets: [MarketConfig(id: 1, symbol: "BTC-PERP", tickSize: 1, stepSize: 1, tier: "t", oracle: oracle,
                               funding: FundingConfig(intervalNanos: 3_600_000_000_000, maxRateBps: 75))])
}

/// A sealed order's frame body is about 100 bytes (session id, sequence, ciphertext).
let body = [UInt8](repeating: 0xab, count: 100)
let accounts = 100_000

/// About the size of a one-position account's canonical state.
func writeState(_ id: UInt64, _ w: inout ByteWriter) -> Bool {
    w.write(id)
    w.write(bytes: repeatElement(UInt8(truncatingIfNeeded: id), count: 80))
    return true
}

func salt(_ id: UInt64, _ version: UInt64) -> [UInt8] {
    var h = SHA256()
    withUnsafeBytes(of: id) { h.update($0) }
    withUnsafeBytes(of: version) { h.update($0) }
    return h.finalize()
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(10), maxIterations: 20)
    let signer = try! Secp256k1PrivateKey()

    for n in [1_000, 10_000, 100_000] {
        Benchmark("Batch of \(n) events: leaves + close + signature", configuration: .init(maxIterations: n >= 100_000 ? 5 : 20)) { benchmark in
            // A venue whose 100k accounts are already committed.
            var committer = try! BatchCommitter(config: venue())
            body.withUnsafeBytes { committer.recordEvent(sequence: 1, enclaveTime: 1, type: .sealedRequest, body: $0) }
            for id in 1...UInt64(accounts) { committer.noteChanged(id) }
            _ = committer.close(now: 1, haltedMarkets: [], signer: signer, writeState: writeState, salt: salt)
            var sequence: UInt64 = 1
            var round: UInt64 = 0
            for _ in benchmark.scaledIterations {
                round += 1
                // Each event changes one account; a tenth of them distinct.
                let changed = (0..<UInt64(n / 10)).map { ($0 * 7_919 + round) % UInt64(accounts) + 1 }
                benchmark.startMeasurement()
                body.withUnsafeBytes { raw in
                    for i in 0..<n {
                        sequence += 1
                        committer.recordEvent(sequence: sequence, enclaveTime: sequence, type: .sealedRequest, body: raw)
                        committer.noteChanged(changed[i % changed.count])
                    }
                }
                blackHole(committer.close(now: sequence, haltedMarkets: [], signer: signer, writeState: writeState, salt: salt))
                benchmark.stopMeasurement()
            }
        }
    }
}
