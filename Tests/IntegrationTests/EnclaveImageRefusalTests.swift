import Foundation
import TestSupport
import Testing

/// `sealstream-host run --enclave-image` (docs/IMAGE.md §10) refuses what the VM worker
/// cannot do before it starts anything. Booting the image is scripts/image-demo.sh's job
/// (minutes under TCG), run by scripts/image-tests.sh.
@Suite("Enclave image: host refusals")
struct EnclaveImageRefusalTests {
    /// The local journal is fine (the host keeps the key file, docs/DURABILITY.md §4.1);
    /// the replicated one and any mode but `tpm` are refused.
    @Test func hostRefusesAnImageWorkerWithTheReplicatedJournalOrWithoutTPMMode() throws {
        let scratch = try makeScratchDirectory("image-refusal")
        let data = scratch.appendingPathComponent("data")
        let image = scratch.appendingPathComponent("sealstream.efi")
        try Data("not booted".utf8).write(to: image)
        let base = ["run", "--config", Binaries.venueConfig, "--data-dir", data.path, "--listen", "127.0.0.1:0",
                    "--http", "off", "--enclave-image", image.path]
        for extra in [["--attestation", "tpm", "--journal", "nats://127.0.0.1:4222"],
                      ["--attestation", "software", "--journal", "off"], ["--attestation", "software"]] {
            let result = try runCommand(try Binaries.path("sealstream-host"), base + extra)
            #expect(result.status == 64, "\(extra): \(result.stderr)")
            #expect(result.stderr.contains("--enclave-image needs --attestation tpm"), "\(result.stderr)")
        }
        let missing = try runCommand(
            try Binaries.path("sealstream-host"),
            ["run", "--config", Binaries.venueConfig, "--data-dir", data.path, "--http", "off", "--attestation", "tpm",
             "--journal", "off", "--enclave-image", scratch.appendingPathComponent("absent.efi").path,
             "--vm-launcher", Binaries.packageRoot.appendingPathComponent("scripts/vm-worker.sh").path])
        #expect(missing.status == 64 && missing.stderr.contains("file not readable"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("vm").path))
    }
}
