import ArgumentParser
import Attestation
import Commitments
import Foundation
import SealCrypto

@main
struct AttestationCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attestation",
        abstract: "Auditor tools for Sealstream enclave evidence and outputs.",
        discussion: """
            This release can inspect evidence and verify the signed outputs (batches,
            decisions, event log). Quote verification against a policy (measure,
            challenge, verify, enroll) is not built yet; see the README's status table.
            """,
        subcommands: [Inspect.self, VerifyOutputs.self])
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

struct VerifyOutputs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-outputs",
        abstract: "Verify one epoch of published outputs: signatures, chain, proofs.",
        discussion: """
            Reads DIR/outputs/batches.jsonl, decisions.jsonl and (when present) events.log
            and checks them against the signer: every header's EIP-712 signature, the
            chain of headers, the event log's consistency proofs and roots, and every
            decision's inclusion proof (docs/COMMITMENTS.md §5). The signer and EIP-712
            domain come from --evidence, or from --signer with --chain-id and
            --verifying-contract. Exit status 0 only if every check passes.

            Files alone cannot show that batches were cut off at the end; compare the
            last batch index with an external anchor (the verifier contract's
            nextBatchIndex, or the index you saw last time).
            """)

    @Option(name: .long, help: "The host's data directory (outputs are read from DIR/outputs).")
    var dataDir: String

    @Option(name: .long, help: "Expected signer address, 0x + 40 hex (the attested key).")
    var signer: String?

    @Option(name: .long, help: "Evidence JSON naming the signer and domain (from `sealstream-client evidence`).")
    var evidence: String?

    @Option(name: .long, help: "EIP-712 domain chain id (with --signer).")
    var chainId: UInt64 = 31_337

    @Option(name: .long, help: "EIP-712 domain verifying contract (with --signer).")
    var verifyingContract: String = "0x" + String(repeating: "0", count: 40)

    @Option(name: .long, help: "Verify an archived epoch: DIR/outputs/epochs/ID instead of DIR/outputs.")
    var epoch: String?

    @Flag(name: .long, help: "Print the verdicts as JSON.")
    var json = false

    func validate() throws {
        guard (signer == nil) != (evidence == nil) else {
            throw ValidationError("give exactly one of --signer and --evidence")
        }
    }

    func run() throws {
        let verifier: OutputVerifier
        if let evidence {
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: evidence)))
            let e: Evidence
            do { e = try Evidence.parse(bytes) } catch {
                FileHandle.standardError.write(Data("attestation: \(evidence): \(error)\n".utf8))
                throw ExitCode(2)
            }
            guard let address = EthereumAddress(hex: e.signer), let contract = EthereumAddress(hex: e.verifyingContract) else {
                throw ValidationError("evidence signer or verifyingContract is not an address")
            }
            verifier = OutputVerifier(
                signer: address,
                domain: EIP712Domain(name: "Sealstream", version: "1", chainId: e.chainId, verifyingContract: contract),
                venueID: e.venueID)
        } else {
            guard let address = EthereumAddress(hex: signer!) else { throw ValidationError("--signer is not a 0x address") }
            guard let contract = EthereumAddress(hex: verifyingContract) else {
                throw ValidationError("--verifying-contract is not a 0x address")
            }
            verifier = OutputVerifier(
                signer: address,
                domain: EIP712Domain(name: "Sealstream", version: "1", chainId: chainId, verifyingContract: contract))
        }
        let directory = dataDir + "/outputs" + (epoch.map { "/epochs/" + $0.filter(\.isHexDigit) } ?? "")
        func read(_ name: String) -> [UInt8]? {
            FileManager.default.contents(atPath: directory + "/" + name).map { Array($0) }
        }
        let verdicts = verifier.verify(
            batches: read("batches.jsonl") ?? [], decisions: read("decisions.jsonl") ?? [], eventsLog: read("events.log"))
        let ok = verdicts.allSatisfy(\.pass)
        if json {
            struct Report: Encodable {
                var ok: Bool
                var signer: String
                var directory: String
                var checks: [Verdict]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            let report = Report(ok: ok, signer: verifier.signer.hex, directory: directory, checks: verdicts)
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            let width = verdicts.map(\.check.count).max() ?? 0
            print("outputs in \(directory), signer \(verifier.signer.hex)")
            for v in verdicts {
                print((v.pass ? "PASS  " : "FAIL  ") + v.check.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v.detail)
            }
            print(ok ? "all checks passed" : "VERIFICATION FAILED")
        }
        if !ok { throw ExitCode(1) }
    }
}
