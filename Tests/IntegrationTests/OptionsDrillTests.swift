import Client
import Foundation
import Testing
import VenueTools

/// `sealstream-client options-drill` (docs/SCENARIOS.md "Options drill") through a real host
/// on the demo options venue, at a small size: 50 call writers with deposits from just
/// above the initial requirement to three times that, a signed move and a volatility
/// spike. The drill computes the accounts below maintenance itself and compares them with
/// the published decisions; this test then checks the host's own files: one decision per
/// expected account, each below maintenance with its scenario (a non-zero confidence
/// contingency included: the drill's prices carry confidences), and the epoch passes
/// `attestation verify-outputs --config` (option marks and scenarios recomputed).
@Suite("Options liquidation drill through real processes", .serialized)
struct OptionsDrillTests {
    @Test func theSpikeLiquidatesExactlyTheAccountsTheReferenceFindsBelowMaintenance() throws {
        let venue = Binaries.packageRoot.appendingPathComponent("scripts/demo/options-venue.json").path
        let host = try HostProcess(label: "optdrill", venueConfig: venue)
        defer { _ = host.stop() }
        let run = try runCommand(try Binaries.path("sealstream-client"), [
            "options-drill", "--host", host.address, "--http", host.httpAddress, "--venue", venue, "--traders", "50",
        ] + Binaries.softwarePolicyArguments(in: host.workDirectory, venueConfig: venue))
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let summary = try JSONDecoder().decode(OptionsLiquidationDrill.Summary.self, from: Data(run.stdout.utf8))
        #expect(summary.pass, "\(summary.checks.filter { !$0.pass })")
        #expect(Set(summary.checks.map(\.check)) == ["venue", "outputs", "inputs", "accounts", "decisions", "scenarios", "spike", "mix"])
        // Some writers over-leveraged, some safe; each liquidated one decision, matched to the micro-unit.
        #expect(summary.traders == 50 && summary.expectedLiquidations > 0 && summary.expectedLiquidations < 50)
        #expect(summary.liquidatedAccounts == summary.expectedLiquidations)
        #expect(summary.decisions == summary.expectedLiquidations && summary.decisionsMatched == summary.decisions)
        #expect(summary.proofsVerified == summary.decisions && !summary.decisionBatches.isEmpty)
        #expect(summary.spike.realizedVolatilityPpmAfter > summary.spike.realizedVolatilityPpmBefore)
        #expect(summary.spike.scanRangeBpsAfter > summary.spike.scanRangeBpsBefore)
        #expect(summary.spike.callMarkAfter > summary.spike.callMarkBefore)
        #expect(summary.spikeToHeaderMillis > 0 && summary.spikeToHeaderMillis < 10_000)
        let evidence = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        #expect(host.stop() == 0)

        // The host's files: as many decisions as the drill expected, each a maintenance close
        // of a short call, below maintenance, with the scenario that triggered it.
        let lines = try String(contentsOf: host.dataDirectory.appendingPathComponent("outputs/decisions.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == summary.expectedLiquidations)
        var accounts = Set<String>()
        for line in lines {
            let d = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            accounts.insert(d["account"] as? String ?? "")
            #expect(d["market"] as? Int == 101 && d["side"] as? String == "buy" && d["size"] as? Int == 10_000_000)
            #expect(d["reason"] as? String == "maintenance-full")
            #expect((d["equity"] as? Int ?? 0) < (d["maintenanceRequirement"] as? Int ?? 0))
            let scenario = try #require(d["scenario"] as? [String: Any], "the decision carries its scenario")
            let parts = try #require(scenario["portfolios"] as? [[String: Any]])
            #expect(parts.count == 1 && (parts[0]["moveSteps"] as? Int ?? 0) > 0, "a short call loses most when BTC rises")
            // The drill's publishers sign confidences (c = 10 bps of the price): the contingency
            // is in the maintenance, and the drill's `scenarios` check matched it to the micro-unit.
            #expect((parts.first?["confidenceContingency"] as? Int ?? 0) > 0, "\(parts)")
        }
        #expect(accounts.count == lines.count, "one decision per account")

        // The auditor accepts the epoch with the configuration: marks and scenarios recomputed.
        let evidenceFile = host.workDirectory.appendingPathComponent("evidence.json")
        try Data(try evidence.encoded()).write(to: evidenceFile)
        let verified = try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path, "--config", venue, "--json"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let checks = (try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as? [String: Any])?["checks"]
            as? [[String: Any]] ?? []
        let scenarios = checks.first { $0["check"] as? String == "decisions.scenario" }
        #expect(scenarios?["pass"] as? Bool == true && (scenarios?["detail"] as? String)?.hasPrefix("\(lines.count) ") == true,
                "\(String(describing: scenarios))")
        #expect(checks.contains { $0["check"] as? String == "marks.options" && $0["pass"] as? Bool == true })
    }
}
