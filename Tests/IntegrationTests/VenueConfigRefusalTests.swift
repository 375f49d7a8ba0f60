import Foundation
import TestSupport
import Testing

/// The host reads the venue config strictly before it starts a worker
/// (docs/CONFIG.md §Strict parsing), and every executable reports one version.
@Suite("Venue config refusal")
struct VenueConfigRefusalTests {
    /// A mistyped field: exit 64, the JSON path in the message, no data directory made
    /// (the host refused before opening its journal or spawning the enclave).
    @Test func hostRefusesABadConfigBeforeStartingAWorker() throws {
        let scratch = try makeScratchDirectory("bad-venue")
        let demo = try String(contentsOfFile: Binaries.venueConfig, encoding: .utf8)
        guard let range = demo.range(of: #""tickSize" : [0-9]+"#, options: .regularExpression) else {
            Issue.record("the demo venue has no tickSize")
            return
        }
        let bad = scratch.appendingPathComponent("venue.json")
        try demo.replacingCharacters(in: range, with: #""tickSize" : "100000""#).write(to: bad, atomically: true, encoding: .utf8)
        let data = scratch.appendingPathComponent("data")
        let result = try runCommand(try Binaries.path("sealstream-host"),
                                    ["run", "--config", bad.path, "--data-dir", data.path, "--listen", "127.0.0.1:0",
                                     "--http", "off"])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("$.markets[0].tickSize: expected a signed 64-bit integer"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data.path), "the host started before refusing")
        let replay = try runCommand(try Binaries.path("sealstream-host"), ["replay", "--config", bad.path, "--data-dir", data.path])
        #expect(replay.status == 64 && replay.stderr.contains("$.markets[0].tickSize"), "\(replay.stderr)")

        let extra = scratch.appendingPathComponent("extra.json")
        try ("{\"surprise\" : 1," + demo.dropFirst()).write(to: extra, atomically: true, encoding: .utf8)
        let unknown = try runCommand(try Binaries.path("sealstream-host"),
                                     ["run", "--config", extra.path, "--data-dir", data.path, "--http", "off"])
        #expect(unknown.status == 64 && unknown.stderr.contains("$.surprise: unknown key"), "\(unknown.stderr)")
    }

    @Test func everyExecutableReportsTheVersion() throws {
        var versions: Set<String> = []
        for name in ["sealstream-host", "sealstream-enclave", "sealstream-client", "attestation"] {
            let result = try runCommand(try Binaries.path(name), ["--version"])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            versions.insert(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(versions.count == 1 && versions.first?.isEmpty == false, "\(versions)")
    }
}
