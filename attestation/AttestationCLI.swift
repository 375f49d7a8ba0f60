import ArgumentParser
import Attestation
import Foundation

@main
struct AttestationCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attestation",
        abstract: "Auditor tools for Sealstream enclave evidence.",
        discussion: """
            This release can inspect evidence. Quote verification against a policy
            (measure, challenge, verify, enroll) and output verification (verify-outputs)
            are not built yet; see the README's status table.
            """,
        subcommands: [Inspect.self])
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse an evidence file strictly and print what it claims.",
        discussion: "Inspecting is not verifying: nothing here checks a TPM quote.")

    @Argument(help: "Evidence JSON file (from `sealstream-client evidence` or DATA/enclave.json).")
    var file: String

    @Flag(name: .long, help: "Print the parsed evidence as JSON.")
    var json = false

    func run() throws {
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        let evidence: Evidence
        do {
            evidence = try Evidence.parse(bytes)
        } catch {
            FileHandle.standardError.write(Data("attestation: \(file): \(error)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: try evidence.encoded(), as: UTF8.self))
            return
        }
        let r = evidence.isolationReport
        let rows: [(String, String)] = [
            ("format version", "\(evidence.version)"),
            ("mode", evidence.mode.rawValue + (evidence.simulated ? "  (SIMULATED: not a hardware root of trust)" : "")),
            ("isolation", evidence.isolation.rawValue + (evidence.isolation == .process ? "  (separate process; host root can read its memory)" : "")),
            ("instance", evidence.instanceID),
            ("venue", "\(evidence.venueID)"),
            ("enclave X25519 key", evidence.enclaveKey),
            ("measurement (sha256)", evidence.measurement),
            ("config hash (sha256)", evidence.configHash),
            ("nonce", evidence.nonce.isEmpty ? "(none: start-up snapshot, not fresh)" : evidence.nonce),
            ("enclave time", "\(evidence.enclaveTime) ns"),
            ("dumpable", "\(r.dumpable)"),
            ("no_new_privs", "\(r.noNewPrivileges)"),
            ("private netns", "\(r.privateNetworkNamespace)"),
            ("listening sockets", "\(r.listeningSockets)"),
            ("open fds", "\(r.openFileDescriptors)"),
            ("TPM quote", evidence.quote == nil ? "absent: this evidence is NOT attested" : "present (not verified by inspect)"),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        for (k, v) in rows {
            print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v)
        }
    }
}
