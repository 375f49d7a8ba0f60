import Client
import Commitments
import Foundation
import Testing

/// `sealstream-client liquidation-latency` (docs/SCENARIOS.md "Liquidation latency") against
/// a real host: every timed round's header, read from the market data feed, carries the
/// cohort's decisions and is the one `GET /v1/batches` serves for its batch; the rounds'
/// headers are distinct batches in order.
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
        #expect(summary["pollMicros"] == nil, "the tool no longer polls: \(summary.keys.sorted())")
        #expect(Set(summary.keys) == ["rounds", "cohort", "backgroundAccounts", "setupSeconds", "toAckMicros",
                                      "toHeaderMicros", "perRound"], "the keys of docs/SCENARIOS.md")
        let rounds = try #require(summary["perRound"] as? [[String: Any]])
        #expect(rounds.count == 3)
        var lastBatch = -1
        var batches: [Int] = []
        for r in rounds {
            let decisions = try #require(r["decisions"] as? Int)
            #expect(decisions >= 10, "the cohort's decisions are in the timed header: \(r)")
            let batch = try #require(r["batchIndex"] as? Int)
            #expect(batch > lastBatch, "one header per round, in order: \(rounds)")
            lastBatch = batch
            batches.append(batch)
            // The header may arrive on the feed before the acknowledgement is read (one sync
            // releases both), never before the price was sent.
            let toAck = try #require(r["toAckMicros"] as? Double), toHeader = try #require(r["toHeaderMicros"] as? Double)
            #expect(toAck > 0 && toHeader > 0, "\(r)")
        }
        // Each timed header is the published one: same decision count over HTTP.
        for (r, batch) in zip(rounds, batches) {
            let answer = try HTTPFetch.get(host.httpAddress, path: "/v1/batches?from=\(batch)&limit=1")
            #expect(answer.status == 200)
            let lines = try #require(RecordArray.elements(answer.body))
            let record = try BatchRecord(jsonLine: try #require(lines.first))
            let decisions = try #require(r["decisions"] as? Int)
            #expect(record.batchIndex == UInt64(batch) && record.decisionCount == UInt64(decisions))
        }
        let header = try #require(summary["toHeaderMicros"] as? [String: Double])
        #expect(header["p50"]! <= header["p99"]! && header["p99"]! <= header["max"]!)
        #expect(host.stop() == 0)
    }

    @Test func thePollingOptionIsRefused() throws {
        let client = try Binaries.path("sealstream-client")
        let run = try runCommand(client, ["liquidation-latency", "--http", "127.0.0.1:1", "--poll-micros", "200", "--no-attestation"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("--poll-micros"), "\(run.stderr)")
    }

    @Test func aCohortLargerThanAConnectionsSessionsIsRefusedBeforeConnecting() throws {
        let client = try Binaries.path("sealstream-client")
        let run = try runCommand(client, ["liquidation-latency", "--http", "127.0.0.1:1", "--cohort", "300", "--no-attestation"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("--cohort must be 1...250"), "\(run.stderr)")
    }
}
