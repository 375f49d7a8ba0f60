import Foundation
import TestSupport

/// The two-TPM setup of the swtpm enrollment and standby tests (docs/REPLICATION.md §11):
/// a scratch directory, a primary's and a standby's swtpm under it (`p/`, `s/`), and one
/// venue config trusting both throwaway EK CAs, `venue.json` in the directory (every host
/// of a test shares it: its hash is in the evidence). The test defers `stop()`, which ends
/// both simulators and removes the directory.
struct TwoSwtpm {
    let work: URL
    let primaryTPM: SwtpmInstance
    let standbyTPM: SwtpmInstance
    /// The venue config trusting both EK CAs.
    let configPath: String

    init(label: String) throws {
        let work = try makeScratchDirectory(label)
        var started: [SwtpmInstance] = []
        do {
            started.append(try SwtpmInstance(under: work.appendingPathComponent("p")))
            started.append(try SwtpmInstance(under: work.appendingPathComponent("s")))
            configPath = try SwtpmInstance.venueTrusting(started, in: work)
        } catch {
            for tpm in started.reversed() { tpm.stop() }
            try? FileManager.default.removeItem(at: work)
            throw error
        }
        self.work = work
        primaryTPM = started[0]
        standbyTPM = started[1]
    }

    /// `--attestation swtpm --tcti …`: a host or command on `tpm`.
    static func arguments(_ tpm: SwtpmInstance) -> [String] { ["--attestation", "swtpm", "--tcti", tpm.tcti] }

    /// Stops the standby's then the primary's simulator, then removes the directory.
    func stop() {
        standbyTPM.stop()
        primaryTPM.stop()
        try? FileManager.default.removeItem(at: work)
    }
}
