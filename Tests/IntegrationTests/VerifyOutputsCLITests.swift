import Foundation
import SealCrypto
import Testing

/// `attestation verify-outputs` on files alone (docs/COMMITMENTS.md §5).
@Suite("verify-outputs command line")
struct VerifyOutputsCLITests {
    func run(_ files: [String: String]?) throws -> (status: Int32, stdout: String, stderr: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verify-outputs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let outputs = dir.appendingPathComponent("outputs")
        try FileManager.default.createDirectory(at: outputs, withIntermediateDirectories: true)
        for (name, text) in files ?? [:] { try Data(text.utf8).write(to: outputs.appendingPathComponent(name)) }
        return try runCommand(try Binaries.path("attestation"), [
            "verify-outputs", "--data-dir", dir.path, "--signer", try Secp256k1PrivateKey().address.hex, "--json"])
    }

    /// A worker that died before its first batch leaves empty files: that epoch passes.
    @Test func anEmptyEpochPasses() throws {
        let r = try run(["batches.jsonl": "", "decisions.jsonl": "", "events.log": ""])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(report["ok"] as? Bool == true)
    }

    /// No files at all is a wrong directory, not an empty epoch.
    @Test func missingFilesAreAnError() throws {
        let r = try run(nil)
        #expect(r.status == 2 && r.stderr.contains("holds no batches.jsonl"), "\(r.stdout)\(r.stderr)")
    }

    /// A blank line is refused with its line number and error name.
    @Test func aBlankLineIsNamed() throws {
        let r = try run(["batches.jsonl": "\n", "decisions.jsonl": ""])
        #expect(r.status == 1)
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let parse = (report["checks"] as! [[String: Any]]).first { $0["check"] as? String == "headers.parse" }!
        #expect(parse["error"] as? String == "blankLine" && parse["line"] as? Int == 1, "\(parse)")
    }
}
