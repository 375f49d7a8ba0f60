import Foundation
import TestSupport
import Testing

/// `scripts/chaos.sh` at a small size (docs/DURABILITY.md, "Chaos"): traders and load
/// through five `kill -9`s of the worker, the host or both, then every recorded answer
/// against the published event log, one chain that verify-outputs accepts, and a replay
/// from genesis in a separate process that reproduces every header and the state root.
@Suite("Chaos", .serialized)
struct ChaosTests {
    @Test(.timeLimit(.minutes(3))) func fiveKillsLoseNothingAndDoubleNothing() throws {
        let work = try makeScratchDirectory("chaos")
        defer { try? FileManager.default.removeItem(at: work) }
        let seed = UInt32.random(in: 1...UInt32.max)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Binaries.packageRoot.appendingPathComponent("scripts/chaos.sh").path, "5", work.path]
        var environment = ProcessInfo.processInfo.environment
        environment["SEALSTREAM_BIN_DIR"] = Binaries.directory.path
        environment["SEED"] = String(seed)
        environment["TRADERS"] = "3"
        environment["STEPS"] = "100"
        environment["LOAD_RATE"] = "100"
        environment["DRILL_TRADERS"] = "40"
        process.environment = environment
        let output = work.appendingPathComponent("chaos.out")
        try launch(process, loggingTo: output)
        process.waitUntilExit()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "seed \(seed):\n\(text)")
        #expect(text.components(separatedBy: ": kill -9 ").count - 1 == 5, "\(text)")
        #expect(text.contains("violations 0"), "\(text)")
        #expect(text.contains("all checks passed"), "\(text)")
        #expect(text.contains("replay matches"), "\(text)")
        #expect(text.contains(" s: PASS"), "\(text)")
    }
}
