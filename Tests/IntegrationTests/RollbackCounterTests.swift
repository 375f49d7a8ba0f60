#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// The real worker and the TPM NV rollback counter (docs/DURABILITY.md §5.1) on a real
/// swtpm: the worker defines the counter when it creates its storage key and records the
/// epoch's base in the key file; it refuses, with a message naming the cause, an index
/// with other attributes, a TPM whose owner hierarchy has a password, and a key file whose
/// base was edited. The worker runs alone
/// (stdin at end of file): it fails before the link protocol, or says hello and exits.
@Suite("Worker and the TPM rollback counter", .serialized)
struct RollbackCounterTests {
    @Test func workerDefinesRefusesAndChecksTheBase() throws {
        let dir = try makeScratchDirectory("nv-counter")
        defer { try? FileManager.default.removeItem(at: dir) }
        let swtpm = try SwtpmInstance(under: dir)
        defer { swtpm.stop() }
        let tcti = swtpm.tcti
        let index = "0x1500023"
        func tools(_ arguments: [String]) throws -> ToolOutput {
            try runTool(try executable(arguments[0], package: "tpm2-tools"), Array(arguments.dropFirst()),
                        environment: ["TPM2TOOLS_TCTI": tcti, "TSS2_LOG": "all+none"])
        }
        let keyFile = dir.appendingPathComponent("storage.key").path
        func worker() throws -> (status: Int32, stdout: String, stderr: String) {
            // As the host starts it: an empty environment but TSS2_LOG (the worker refuses others).
            try runCommand("/usr/bin/env",
                           ["-i", "TSS2_LOG=all+none", try Binaries.path("sealstream-enclave"), "--config", Binaries.venueConfig, "--attestation", "swtpm", "--tcti", tcti,
                            "--storage-key", keyFile])
        }

        // An index with other attributes at the counter's handle: refused, left alone, no key.
        try tools(["tpm2_nvdefine", index, "-C", "o", "-s", "8", "-a", "nt=counter|ownerread|ownerwrite"])
            .succeed("tpm2_nvdefine")
        let mismatch = try worker()
        #expect(mismatch.status == 70)
        #expect(mismatch.stderr.contains("NV index 0x1500023 exists with attributes 0x20012"), "\(mismatch.stderr)")
        #expect(!FileManager.default.fileExists(atPath: keyFile))
        try tools(["tpm2_nvundefine", index]).succeed("tpm2_nvundefine")

        // An owner password: the worker cannot create its storage primary key (nor define
        // the counter) with the empty owner password, and says so.
        try tools(["tpm2_changeauth", "-c", "o", "owner-secret"]).succeed("tpm2_changeauth")
        let owner = try worker()
        #expect(owner.status == 70)
        #expect(owner.stderr.contains("owner hierarchy has a password"), "\(owner.stderr)")
        #expect(!FileManager.default.fileExists(atPath: keyFile))

        // An index the operator defined (here while the owner had a password) is used as it is.
        try tools(["tpm2_nvdefine", index, "-C", "o", "-P", "owner-secret", "-s", "8",
                   "-a", "nt=counter|authread|authwrite|no_da"]).succeed("tpm2_nvdefine")
        try tools(["tpm2_changeauth", "-c", "o", "-p", "owner-secret"]).succeed("tpm2_changeauth (clear)")
        let first = try worker()
        #expect(first.stderr.contains("\"event\":\"started\""), "\(first.stderr)")
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: keyFile)))
                                    as? [String: Any])
        let base = try #require(file["counterBase"] as? Int)
        let counter = try tools(["tpm2_nvread", index, "-s", "8"])
        try counter.succeed("tpm2_nvread")
        #expect(base == Int(counter.stdout.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))
        #expect((file["counterBaseTag"] as? String)?.count == 64)

        // The same key file again: accepted.
        #expect(try worker().stderr.contains("\"event\":\"started\""))

        // A key file whose base was edited (to hide increments): refused.
        let text = try String(contentsOfFile: keyFile, encoding: .utf8)
        let edited = text.replacingOccurrences(of: "\"counterBase\":\(base)", with: "\"counterBase\":\(base + 5)")
        #expect(edited != text, "the key file's counterBase was not found as written: \(text)")
        try edited.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let forged = try worker()
        #expect(forged.status == 70)
        #expect(forged.stderr.contains("rollback counter base does not match"), "\(forged.stderr)")
    }
}
