import Foundation
import Testing

/// `sealstream-client liquidation-latency` (docs/SCENARIOS.md "Liquidation latency") against
/// a real host: every timed round's header carries the cohort's decisions, the rounds'
/// headers are distinct batches in order, and each price is served in a header no sooner
/// than it was acknowledged.
@Suite("Liquidation latency through real processes", .serialized)
struct LiquidationLatencyTests {
    @Test func everyTimedPriceIsServedInAHeaderCarryingItsCohortsDecisions() throws {
        let host = try HostProcess(label: "liquidation-latency")
        let client = try Binaries.path("sealstream-client")
        let run = try runCommand(client, ["liquidation-latency", "--host", host.address, "--http", host.httpAddress,
                                          "--rounds", "3", "--cohort", "10", "--background-accounts", "300",
                                          "--no-attestation"])
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(summary["backgroundAccounts"] as? Int == 300)
        let rounds = try #require(summary["perRound"] as? [[String: Any]])
        #expect(rounds.count == 3)
        var lastBatch = -1
        for r in rounds {
            let decisions = try #require(r["decisions"] as? Int)
            #expect(decisions >= 10, "the cohort's decisions are in the timed header: \(r)")
            let batch = try #require(r["batchIndex"] as? Int)
            #expect(batch > lastBatch, "one header per round, in order: \(rounds)")
            lastBatch = batch
            let toAck = try #require(r["toAckMicros"] as? Double), toHeader = try #require(r["toHeaderMicros"] as? Double)
            #expect(toAck > 0 && toHeader >= toAck, "\(r)")
        }
        let header = try #require(summary["toHeaderMicros"] as? [String: Double])
        #expect(header["p50"]! <= header["p99"]! && header["p99"]! <= header["max"]!)
        #expect(host.stop() == 0)
    }

    @Test func aCohortLargerThanAConnectionsSessionsIsRefusedBeforeConnecting() throws {
        let client = try Binaries.path("sealstream-client")
        let run = try runCommand(client, ["liquidation-latency", "--http", "127.0.0.1:1", "--cohort", "300", "--no-attestation"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("--cohort must be 1...250"), "\(run.stderr)")
    }
}
