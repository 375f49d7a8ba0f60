#if canImport(Glibc)
import Glibc
#endif
import Client
import Foundation
import SealCrypto
import TestSupport
import Testing
import VenueTools
import Wire

/// The demo's options scenario (`scripts/demo/options-scenario.txt` on
/// `scripts/demo/options-venue.json`, docs/SCENARIOS.md "Option markets") through a real host:
/// option orders by symbol, a signed smile, a rally with a volatility spike, and exactly one
/// liquidation decision, for frank (account 3001), the thinly collateralized call writer.
///
/// The reference, by hand from OPTIONS §10.3 and §7 (the figures are the scenario's, rounded):
/// frank and grace each sell 0.1 BTC of the 60000 call at 22,000 (mark ≈ 22,100 at F = 60,000,
/// σ ≈ 48 %, T ≈ 4 years), so equity ≈ their deposits (2,400 and 6,000) less fees. At the open
/// the scan range is 4 × 60 % × √(1/365) ≈ 12.6 % and the worst scenario (F + 12.6 %, volatility
/// × 1.5) costs a short 0.1 call ≈ 1,540: maintenance ≈ 1,540, initial ≈ 2,000, so both orders
/// pass M1. After the rally to 64,000 a second apart the EWMA's realized volatility is far above
/// 100 % (the scan range widens towards its 30 % cap) and the signed smile lifts σ to ≈ 63 %: the
/// call's mark ≈ 31,570 (a run's decision: 31,573.6), so each writer has lost ≈ 960. Frank's
/// equity ≈ 2,400 − 960 ≈ 1,440 (the decision: 1,441.5) is below the new maintenance, which the
/// same grid puts near 2,000 (the decision: 1,995.4); grace's ≈ 5,040 is
/// above it by more than 2×, and every other account is long options or holds a small fraction
/// of its collateral in risk (dave's short put gains as the underlying rises). The test checks
/// the decision's own figures against the rule (equity < maintenance), not these approximations.
@Suite("Options demo scenario through real processes", .serialized)
struct OptionsDemoScenarioTests {
    static var demo: URL { Binaries.packageRoot.appendingPathComponent("scripts/demo") }

    @Test func theVolatilitySpikeLiquidatesExactlyTheOverLeveragedWriter() throws {
        let venue = Self.demo.appendingPathComponent("options-venue.json").path
        let host = try HostProcess(label: "optdemo", venueConfig: venue)
        defer { _ = host.stop() }
        let run = try runCommand(try Binaries.path("sealstream-client"), [
            "scenario", Self.demo.appendingPathComponent("options-scenario.txt").path, "--host", host.address,
            "--venue", venue, "--json", "--verify-inclusion", host.httpAddress,
        ] + Binaries.softwarePolicyArguments(in: host.workDirectory, venueConfig: venue))
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try JSONDecoder().decode(ScenarioSummary.self, from: Data(run.stdout.utf8))
        #expect(summary.rejected.isEmpty && summary.refusals.isEmpty, "\(summary.rejected) \(summary.refusals)")
        #expect(summary.smilesAcked == 2 && summary.fills >= 5, "fills \(summary.fills)")
        #expect(summary.inclusionFailed == 0 && summary.inclusionProven >= summary.accepted)

        // The accounts' commitments (COMMITMENTS §3), as the session acceptance tells each owner,
        // from sessions opened with the scenario's demo keys.
        let evidence = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        var owners: [String: String] = [:]
        for (name, id) in [("frank", UInt64(3001)), ("grace", 3002), ("dave", 2002), ("mm-beta", 1002)] {
            let connection = try Connection(address: host.address)
            let (session, frame) = try EnclaveSession.open(enclaveKey: evidence.enclaveKeyBytes, accountID: id,
                                                           accountKey: DemoKeys.signingKey(.trader, name))
            try connection.send(frame)
            let reply = try connection.receive()
            #expect(reply.type == .sessionAccepted)
            try session.confirm(try reply.body.withUnsafeBytes { try SessionAccepted.decode(body: $0) })
            owners["0x" + Hex.encode(session.accountCommitment)] = name
        }
        #expect(host.stop() == 0)

        let file = host.dataDirectory.appendingPathComponent("outputs/decisions.jsonl")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        var liquidated = Set<String>()
        for line in lines {
            let d = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            liquidated.insert(owners[d["account"] as? String ?? ""] ?? "another account")
            #expect(d["market"] as? Int == 101, "the 60000 call is the position closed")
            #expect((d["equity"] as? Int ?? 0) < (d["maintenanceRequirement"] as? Int ?? 0))
            // The scenario that triggered it (OPTIONS §10.6): the BTC portfolio's worst
            // scenario, a rise (a short call), adding up to the maintenance.
            let scenario = try #require(d["scenario"] as? [String: Any], "the decision carries its scenario")
            let parts = try #require(scenario["portfolios"] as? [[String: Any]])
            #expect(parts.count == 1 && parts[0]["underlying"] as? Int == 1)
            #expect((parts[0]["moveSteps"] as? Int ?? 0) > 0, "a short call loses most when BTC rises")
            let sum = (scenario["linearRequirement"] as? Int ?? -1) + max(parts[0]["loss"] as? Int ?? 0, 0)
                + (parts[0]["shortOptionContingency"] as? Int ?? 0) + (parts[0]["confidenceContingency"] as? Int ?? 0)
            #expect(sum == d["maintenanceRequirement"] as? Int)
        }
        #expect(liquidated == ["frank"], "decisions: \(lines)")

        // The auditor accepts the epoch, the option decision included (COMMITMENTS §5.3
        // `marks.decisions`: its time and its underlying's mark; this failed `halted` before).
        let evidenceFile = host.workDirectory.appendingPathComponent("evidence.json")
        try Data(try evidence.encoded()).write(to: evidenceFile)
        let verified = try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path, "--config", venue, "--json"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as? [String: Any] ?? [:]
        let checks = report["checks"] as? [[String: Any]] ?? []
        #expect(checks.contains { $0["check"] as? String == "marks.decisions" && $0["pass"] as? Bool == true })
        #expect(checks.contains { $0["check"] as? String == "decisions.scenario" && $0["pass"] as? Bool == true
            && ($0["detail"] as? String ?? "").hasPrefix("1 ") })
        // The option marks recomputed from the signed prices and smiles (check 24a): the
        // decision's, every option line's and nothing skipped.
        let options = try #require(checks.first { $0["check"] as? String == "marks.options" })
        #expect(options["pass"] as? Bool == true && (options["detail"] as? String)?.hasPrefix("0 ") == false, "\(options)")

        // One option line's mark one micro-unit off: named by that check.
        let marketData = host.dataDirectory.appendingPathComponent("outputs/marketdata.jsonl")
        let original = try String(contentsOf: marketData, encoding: .utf8)
        var rows = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let k = try #require(rows.lastIndex { $0.contains(#""market":101,"#) })
        let line = try #require(try JSONSerialization.jsonObject(with: Data(rows[k].utf8)) as? [String: Any])
        let mark = try #require(line["markPrice"] as? Int)
        rows[k] = rows[k].replacingOccurrences(of: #""markPrice":\#(mark),"#, with: #""markPrice":\#(mark + 1),"#)
        try rows.joined(separator: "\n").write(to: marketData, atomically: true, encoding: .utf8)
        let tampered = try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path, "--config", venue, "--json"])
        let tamperedChecks = (try JSONSerialization.jsonObject(with: Data(tampered.stdout.utf8)) as? [String: Any])?["checks"]
            as? [[String: Any]] ?? []
        let failed = tamperedChecks.first { $0["check"] as? String == "marks.options" }
        #expect(tampered.status == 1 && failed?["pass"] as? Bool == false && failed?["error"] as? String == "mark", "\(String(describing: failed))")
        #expect((failed?["detail"] as? String)?.hasPrefix("market data line \(k + 1) ") == true)
        try original.write(to: marketData, atomically: true, encoding: .utf8)
    }
}
