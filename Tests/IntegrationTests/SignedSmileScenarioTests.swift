#if canImport(Glibc)
import Glibc
#endif
import Client
import Foundation
import TestSupport
import Testing
import VenueTools

/// The signed volatility feed through real processes (docs/PROTOCOL.md §2.17): the Swift
/// scenario client's `smile` line (docs/SCENARIOS.md) acknowledged by a real enclave, a
/// smile for an unlisted expiry refused `unknownExpiry`, the smile published in
/// `inputs.jsonl`, and `attestation verify-outputs --config` accepting the epoch.
@Suite("Signed smiles through real processes", .serialized)
struct SignedSmileScenarioTests {
    @Test func aScenarioPublishesASmileAndTheEpochVerifies() throws {
        let scratch = try makeScratchDirectory("smile-venue")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let venue = try OptionMarketDataFeedTests.optionsVenue(in: scratch)
        // A second option market on BTC with another expiry exists only in the client's venue
        // file: the enclave does not list it, so its smile is refused.
        var clientVenue = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: venue))) as! [String: Any]
        var options = clientVenue["options"] as! [String: Any]
        var markets = options["markets"] as! [[String: Any]]
        var unlisted = markets[0]
        unlisted["id"] = 102
        unlisted["symbol"] = "BTC-UNLISTED-C"
        unlisted["expiry"] = (unlisted["expiry"] as! Int) + 1_000_000_000
        markets.append(unlisted)
        options["markets"] = markets
        clientVenue["options"] = options
        let clientVenuePath = scratch.appendingPathComponent("client-venue.json").path
        try JSONSerialization.data(withJSONObject: clientVenue, options: [.sortedKeys]).write(to: URL(fileURLWithPath: clientVenuePath))

        let scenario = scratch.appendingPathComponent("smile.txt")
        try """
            price BTC-PERP 60000 publisher=pyth-a
            price BTC-PERP 60000 publisher=pyth-b
            smile BTC-30D-55000-C a=0.09 b=0.1 rho=-0.3 m=0 sigma=0.1
            smile BTC-UNLISTED-C a=0.09 b=0.1 rho=-0.3 m=0 sigma=0.1 publisher=pyth-b
            """.write(to: scenario, atomically: true, encoding: .utf8)
        let host = try HostProcess(label: "smile", venueConfig: venue)
        let run = try runCommand(try Binaries.path("sealstream-client"), [
            "scenario", scenario.path, "--host", host.address, "--venue", clientVenuePath, "--json",
        ] + Binaries.softwarePolicyArguments(in: host.workDirectory, venueConfig: venue))
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try JSONDecoder().decode(ScenarioSummary.self, from: Data(run.stdout.utf8))
        #expect(summary.pricesAcked == 2 && summary.smilesAcked == 1)
        #expect(summary.refusals == ["unknownExpiry": 1])
        let evidence = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        #expect(host.stop() == 0)

        let inputs = try String(contentsOf: host.dataDirectory.appendingPathComponent("outputs/inputs.jsonl"), encoding: .utf8)
        #expect(inputs.components(separatedBy: #""kind":"oracleSmile""#).count == 2, "one smile published")
        let evidenceFile = host.workDirectory.appendingPathComponent("evidence.json")
        try Data(try evidence.encoded()).write(to: evidenceFile)
        let verified = try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path, "--config", venue, "--json"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as? [String: Any] ?? [:]
        let checks = report["checks"] as? [[String: Any]] ?? []
        for name in ["events.log", "inputs.leaf", "inputs.signature", "inputs.admission"] {
            #expect(checks.contains { $0["check"] as? String == name && $0["pass"] as? Bool == true }, "\(name)")
        }
    }
}
