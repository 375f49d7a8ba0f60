import Attestation
import Client
import Foundation
import Testing

/// Progress lines of `sealstream-client drill` and `attestation verify-outputs`
/// (docs/SCENARIOS.md "Progress output", docs/COMMITMENTS.md §5.2 "Progress"): on standard
/// error with `--progress`, none by default when standard error is not a terminal, and
/// standard output the same either way.
@Suite("Progress output through real processes", .serialized)
struct ProgressOutputTests {
    @Test func drillAndVerifyOutputsReportProgressOnStandardErrorOnly() throws {
        let host = try HostProcess(label: "progress")
        let evidence = try EvidenceFetch.fetch(over: try Connection(address: host.address))
        let client = try Binaries.path("sealstream-client")
        let drill = try runCommand(client, ["drill", "--host", host.address, "--traders", "30", "--no-attestation", "--progress"])
        #expect(drill.status == 0, "\(drill.stderr)")
        let stdoutLines = drill.stdout.split(separator: "\n")
        #expect(stdoutLines.count == 1, "one JSON summary on standard output: \(drill.stdout)")
        let summary = try JSONSerialization.jsonObject(with: Data(drill.stdout.utf8)) as? [String: Any]
        #expect(summary?["filled"] as? Int == 30, "\(drill.stdout)")
        let progress = drill.stderr.split(separator: "\n").filter { $0.hasPrefix("drill: ") && $0.contains("/s") }
        #expect(progress.contains { $0.hasPrefix("drill: deposits 31/31 deposits (100%)") && $0.contains("done in") }, "\(drill.stderr)")
        #expect(progress.contains { $0.hasPrefix("drill: orders 30/30 traders (100%)") && $0.contains("done in") }, "\(drill.stderr)")
        #expect(host.stop() == 0)

        let evidenceFile = host.workDirectory.appendingPathComponent("evidence.json")
        try Data(try evidence.encoded()).write(to: evidenceFile)
        let cli = try Binaries.path("attestation")
        let arguments = ["verify-outputs", "--data-dir", host.dataDirectory.path, "--evidence", evidenceFile.path,
                         "--config", Binaries.venueConfig, "--json"]
        let quiet = try runCommand(cli, arguments)
        #expect(quiet.status == 0, "\(quiet.stdout)\(quiet.stderr)")
        #expect(!quiet.stderr.contains("verify-outputs: "), "no progress when standard error is not a terminal")
        let shown = try runCommand(cli, arguments + ["--progress"])
        #expect(shown.status == 0 && shown.stdout == quiet.stdout, "standard output byte for byte the same")
        let lines = shown.stderr.split(separator: "\n").filter { $0.hasPrefix("verify-outputs: ") }
        for phase in ["headers", "events", "eventsRoots", "decisions", "inputs", "marks"] {
            #expect(lines.contains { $0.hasPrefix("verify-outputs: \(phase) ") && $0.contains("done in") }, "\(phase): \(shown.stderr)")
        }
        let off = try runCommand(cli, arguments + ["--no-progress"])
        #expect(off.stdout == quiet.stdout && !off.stderr.contains("verify-outputs: "))
    }
}
