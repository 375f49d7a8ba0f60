import ArgumentParser
import Attestation
import AttestationVerifier
import Client
import Commitments
import Engine
import OutputVerification
import Foundation
import AuditCrypto
import SealCrypto
import Wire

@main
struct AttestationCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attestation",
        abstract: "Auditor tools for Sealstream enclave evidence and outputs.",
        discussion: """
            `measure` computes the reference measurement of an enclave build and writes a \
            policy; `verify` checks evidence (its TPM quote, EK chain, event log and bound \
            identity) against that policy from the bytes alone. `inspect` only parses; \
            `verify-outputs` checks the signed outputs. `challenge` fetches fresh evidence \
            for a nonce it makes up over the host's HTTP API. `enroll` proves by credential \
            activation that the evidence's AK lives in the TPM of its certified EK, and pins \
            it in the policy.
            """,
        version: SealstreamVersion.string,
        subcommands: [
            Inspect.self, Measure.self, Challenge.self, Enroll.self, Verify.self, VerifyOutputs.self, BootLog.self,
        ])
}

struct Measure: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure an enclave build and its venue config; write the verification policy.",
        discussion: """
            Prints SHA-256 of the enclave executable, SHA-256 of the configuration file, and \
            the value the PCR must hold after the enclave's event log (docs/ATTESTATION.md \
            §2). With --policy-out, writes the policy `verify` checks against.
            """)

    @Option(name: .long, help: "The sealstream-enclave executable (the build you reviewed).")
    var enclave: String

    @Option(name: .long, help: "The venue configuration file the enclave runs with.")
    var config: String

    @Option(name: .long, help: "The PCR (SHA-256 bank) the enclave extends, 8...23.")
    var pcr = AttestationPolicy.defaultPCR

    @Option(name: .long, help: "Write the policy JSON here.")
    var policyOut: String?

    @Option(name: .long, help: "Modes the policy accepts, comma-separated (e.g. swtpm,software).")
    var allowMode = AllowedModes(modes: [.tpm])

    @Option(name: .long, parsing: .upToNextOption, help: "PEM files of EK root certificates trusted for tpm evidence.")
    var ekRoot: [String] = []

    @Option(
        name: .long, parsing: .upToNextOption,
        help: "PEM files of EK root certificates trusted for swtpm evidence (swtpm_localca's root).")
    var swtpmEkRoot: [String] = []

    @Option(name: .long, help: "Name (hex) of an enrolled attestation key (repeatable).")
    var akName: [String] = []

    @Option(name: .long, help: "Expected boot PCR value in tpm mode, INDEX=HEX with INDEX 0...7 (repeatable).")
    var bootPcr: [String] = []

    @Option(
        name: .long,
        help: "The worker's loaded objects as a manifest (sha256sum lines, paths ascending) of the machine it runs on; default: resolve them here with the dynamic loader.")
    var loadedObjects: String?

    @Option(name: .long, help: "Dynamic loader that resolves the loaded objects.")
    var loader = LoadedObjectResolver.defaultLoader

    @Option(
        name: .long,
        help: "The appliance image (UKI) the worker boots in: predict PCRs 4, 9, 11 and 12 into the policy (docs/IMAGE.md §5).")
    var image: String?

    func run() throws {
        let measurement = SHA256.hash(try Array(Data(contentsOf: URL(fileURLWithPath: enclave))))
        let configHash = SHA256.hash(try Array(Data(contentsOf: URL(fileURLWithPath: config))))
        let modes = allowMode.modes
        func roots(_ files: [String]) throws -> [String] {
            try files.flatMap { file in
                do {
                    return try X509Certificate.certificates(pem: String(contentsOfFile: file, encoding: .utf8)).map(
                        \.pem)
                } catch let error as SealCryptoError {
                    throw ValidationError("\(file): \(error)")
                }
            }
        }
        var boot: [Int: [UInt8]] = [:]
        for entry in bootPcr {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let index = Int(parts[0]), let value = Evidence.hexBytes(String(parts[1])) else {
                throw ValidationError("--boot-pcr \(entry): expected INDEX=HEX")
            }
            boot[index] = value
        }
        let names = try akName.map { hex in
            guard let bytes = Evidence.hexBytes(hex) else { throw ValidationError("--ak-name \(hex) is not hex") }
            return bytes
        }
        let objects: [LoadedObject]
        if let loadedObjects {
            do {
                objects = try LoadedObjects.parse(manifest: Array(try Data(contentsOf: URL(fileURLWithPath: loadedObjects))))
            } catch let problem as LoadedObjects.Problem {
                throw ValidationError("--loaded-objects \(loadedObjects): \(problem)")
            }
        } else {
            objects = try LoadedObjectResolver.resolve(enclave: enclave, loader: loader)
        }
        var policy = AttestationPolicy(
            measurement: measurement, configHash: configHash, allowedModes: modes, pcr: pcr,
            bootPCRs: boot.isEmpty ? nil : boot, ekRoots: try roots(ekRoot), swtpmEKRoots: try roots(swtpmEkRoot),
            akNames: names, loadedObjects: objects)
        if let image {
            let file = try Array(Data(contentsOf: URL(fileURLWithPath: image)))
            do {
                policy.image = ImagePolicy(file: file, measurement: try ImageMeasurement(image: file))
            } catch { throw ValidationError("--image \(image): \(error)") }
        }
        do { try policy.validate() } catch { throw ValidationError("policy: \(error)") }
        let rows = [
            ("measurement (sha256)", policy.measurement),
            ("config hash (sha256)", policy.configHash),
            ("loaded objects", "\(objects.count), digest " + Self.hex(LoadedObjects.digest(objects))),
            ("PCR \(pcr) after replay", Self.hex(policy.expectedPCRValue)),
            ("allowed modes", modes.map(\.rawValue).joined(separator: ", ")),
        ] + (policy.image.map { image in
            [("image uki", image.uki), ("image kernel", image.kernel), ("image cmdline", image.commandLine)]
                + ImageMeasurement.predictedPCRs.map { ("image PCR \($0)", image.pcrs[String($0)] ?? "") }
        } ?? [])
        for (k, v) in rows { print(k.padding(toLength: 22, withPad: " ", startingAt: 0) + "  " + v) }
        if let policyOut {
            try Data(try policy.encoded()).write(to: URL(fileURLWithPath: policyOut), options: .atomic)
            print("policy written to \(policyOut)")
        }
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify evidence (TPM quote, EK chain, event log, bound identity) against a policy.",
        discussion: """
            Runs every check of docs/ATTESTATION.md §5 and reports each one, whatever \
            failed before it. Exit status 0 only if every check passes. Simulated modes \
            (software, swtpm) are refused unless --allow-simulated; they are then reported \
            SIMULATED. With --state, the file remembers the TPM's reset and restart \
            counters and the nonces accepted, and is updated only when verification passes.
            """)

    @Option(name: .long, help: "Evidence JSON (from `sealstream-client evidence` or DATA/enclave.json).")
    var evidence: String

    @Option(name: .long, help: "Policy JSON from `attestation measure --policy-out`.")
    var policy: String

    @Option(name: .long, help: "The nonce you asked the enclave to answer, hex.")
    var nonce: String?

    @Flag(name: .long, help: "Accept software and swtpm evidence (reported SIMULATED).")
    var allowSimulated = false

    @Option(name: .long, help: "Verifier state file (created on first success).")
    var state: String?

    @Flag(name: .long, help: "Print {ok, simulated, mode, checks} as JSON.")
    var json = false

    func run() throws {
        func fail(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("attestation: \(message)\n".utf8))
            return ExitCode(2)
        }
        let verifier: QuoteVerifier
        do {
            verifier = try QuoteVerifier(
                policy: AttestationPolicy.parse(Array(Data(contentsOf: URL(fileURLWithPath: policy)))))
        } catch {
            throw fail("\(policy): \(error)")
        }
        var nonceBytes: [UInt8]?
        if let nonce {
            guard let bytes = Evidence.hexBytes(nonce.hasPrefix("0x") ? String(nonce.dropFirst(2)) : nonce) else {
                throw ValidationError("--nonce is not hex")
            }
            nonceBytes = bytes
        }
        var remembered: VerifierState?
        if let state {
            if let bytes = FileManager.default.contents(atPath: state) {
                do { remembered = try VerifierState.parse(Array(bytes)) } catch { throw fail("\(state): \(error)") }
            } else {
                remembered = VerifierState()
            }
        }
        let bytes: [UInt8]
        do { bytes = try Array(Data(contentsOf: URL(fileURLWithPath: evidence))) } catch {
            throw fail("\(evidence): \(error)")
        }
        let report = verifier.verify(
            evidence: bytes, nonce: nonceBytes, allowSimulated: allowSimulated, state: remembered)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            let mode =
                report.mode.map { $0.rawValue + (report.simulated ? ", SIMULATED: no hardware root of trust" : "") }
                ?? "unknown"
            print("evidence \(evidence) (mode \(mode))")
            let width = report.checks.map(\.check.count).max() ?? 0
            for c in report.checks {
                let name = c.check.padding(toLength: width, withPad: " ", startingAt: 0)
                if c.pass {
                    print("PASS  \(name)  \(c.actual)" + (c.detail.isEmpty ? "" : " (\(c.detail))"))
                } else {
                    print(
                        "FAIL  \(name)  expected \(c.expected); got \(c.actual)"
                            + (c.detail.isEmpty ? "" : ": \(c.detail)"))
                }
            }
            print(
                report.ok
                    ? (report.simulated ? "all checks passed (SIMULATED)" : "all checks passed") : "VERIFICATION FAILED"
            )
        }
        if let state, let next = report.nextState {
            try Data(try next.encoded()).write(to: URL(fileURLWithPath: state), options: .atomic)
        }
        if !report.ok { throw ExitCode(1) }
    }
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
            ("TPM quote", evidence.quote == nil ? "absent: this evidence is NOT attested"
                : evidence.mode == .software ? "software stand-in: NOT attested by a TPM (check it with `attestation verify --allow-simulated`)"
                : "present (not verified by inspect; use `attestation verify`)"),
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
            and inputs.jsonl and checks them against the signer: every record read
            strictly, every header's EIP-712 signature and signer field, the chain of
            headers, the event log's consistency proofs and roots, every decision's
            inclusion proof and execution, the signed funding records (funding.jsonl), and
            (docs/COMMITMENTS.md §5.3) every published oracle price and deposit against its
            event leaf; with --config also their signatures, and every mark a decision or
            funding payment used and every header's halted markets, recomputed from the
            signed prices, and which events owed a funding payment. An epoch without batches passes. Exit status 2 when
            the two .jsonl files are missing. The signer and EIP-712
            domain come from --evidence, or from --signer with --chain-id and
            --verifying-contract. Exit status 0 only if every check passes.

            With --url instead of --data-dir it reads the current epoch through the
            host's HTTP API (GET /v1/batches, then each batch's decisions, inputs, funding,
            market data and event leaves: docs/COMMITMENTS.md §4.2) and runs the same
            checks on what every published header covers; an answer other than 200 (a
            standby's 503, a batch gone because the epoch changed meanwhile) exits 2.

            Files alone cannot show that batches were cut off at the end; compare the
            last batch index with an external anchor (the verifier contract's
            nextBatchIndex, or the index you saw last time).

            Progress lines go to standard error, never standard output: by default only
            when standard error is a terminal; --progress and --no-progress decide.
            """)

    @Option(name: .long, help: "The host's data directory (outputs are read from DIR/outputs).")
    var dataDir: String?

    @Option(name: .long, help: "Read the current epoch from the host's HTTP API instead: http://HOST:PORT (or HOST:PORT).")
    var url: String?

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

    @Option(name: .long, help: "The venue configuration the epoch ran (with --evidence: must hash to its configHash).")
    var config: String?

    @Flag(name: .long, help: "Print the verdicts as JSON.")
    var json = false

    @Flag(inversion: .prefixedNo, help: "Progress lines on standard error (default: only when it is a terminal).")
    var progress: Bool?

    func validate() throws {
        guard (signer == nil) != (evidence == nil) else {
            throw ValidationError("give exactly one of --signer and --evidence")
        }
        guard (dataDir == nil) != (url == nil) else {
            throw ValidationError("give exactly one of --data-dir and --url")
        }
        guard url == nil || epoch == nil else {
            throw ValidationError("--epoch reads an archived epoch's files: the HTTP API serves the current epoch only")
        }
    }

    func run() throws {
        var verifier: OutputVerifier
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
        var venue: VenueConfig?
        if let config {
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: config)))
            if let evidence, let e = try? Evidence.parse(Array(Data(contentsOf: URL(fileURLWithPath: evidence)))),
               Hex.encode(SHA256.hash(bytes)) != e.configHash.lowercased()
            {
                FileHandle.standardError.write(Data("attestation: \(config) is not the configuration the evidence names (configHash)\n".utf8))
                throw ExitCode(2)
            }
            do { venue = try VenueConfig.parseStrict(bytes) } catch {
                FileHandle.standardError.write(Data("attestation: --config \(config): \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        let reporter = ProgressReporter.make(tool: "verify-outputs", requested: progress)
        let directory: String
        // The files' bytes; nil for a file the directory does not hold.
        var batches: [UInt8] = [], decisions: [UInt8] = []
        var eventsLog: [UInt8]?, inputs: [UInt8]?, funding: [UInt8]?, marketData: [UInt8]?
        if let url {
            var address = url
            if address.hasPrefix("http://") { address.removeFirst("http://".count) }
            while address.hasSuffix("/") { address.removeLast() }
            directory = "http://" + address
            do {
                let o = try PublishedOutputs.fetch(address: address, progress: reporter.map { r in
                    { r.update(phase: "fetch", done: $0, total: $1, unit: "batches") }
                })
                (batches, decisions, eventsLog) = (o.batches, o.decisions, o.eventsLog)
                (inputs, funding, marketData) = (o.inputs, o.funding, o.marketData)
            } catch {
                FileHandle.standardError.write(Data("attestation: \(directory): \(error)\n".utf8))
                throw ExitCode(2)
            }
        } else {
            directory = dataDir! + "/outputs" + (epoch.map { "/epochs/" + $0.filter(\.isHexDigit) } ?? "")
            func read(_ name: String) -> [UInt8]? {
                FileManager.default.contents(atPath: directory + "/" + name).map { Array($0) }
            }
            // The host creates both files when an epoch starts, empty or not; their absence
            // means a wrong directory, not an empty epoch.
            guard let b = read("batches.jsonl"), let d = read("decisions.jsonl") else {
                FileHandle.standardError.write(Data("attestation: \(directory) holds no batches.jsonl and decisions.jsonl\n".utf8))
                throw ExitCode(2)
            }
            (batches, decisions, eventsLog) = (b, d, read("events.log"))
            (inputs, funding, marketData) = (read("inputs.jsonl"), read("funding.jsonl"), read("marketdata.jsonl"))
        }
        if let reporter {
            verifier.progress = { reporter.update(phase: $0.phase, done: $0.done, total: $0.total, unit: $0.unit) }
        }
        let verdicts = verifier.verify(batches: batches, decisions: decisions, eventsLog: eventsLog, inputs: inputs,
                                       config: venue, funding: funding, marketData: marketData)
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

struct Challenge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch fresh evidence for a random nonce from the host's HTTP API.",
        discussion: """
            GET URL/v1/evidence?nonce=HEX with 32 fresh random bytes; writes the evidence
            to --out and prints the nonce, which `verify --nonce` must be given: evidence
            that answers another nonce is stale or replayed. Nothing is verified here.
            """)

    @Option(name: .long, help: "The host's HTTP API: http://HOST:PORT (or HOST:PORT).")
    var url: String

    @Option(name: .long, help: "Where to write the evidence JSON.")
    var out: String

    func run() throws {
        var address = url
        if address.hasPrefix("http://") { address.removeFirst("http://".count) }
        while address.hasSuffix("/") { address.removeLast() }
        let nonce = Sodium.randomBytes(32)
        let hex = Hex.encode(nonce)
        // The client generated from docs/openapi.yaml: an answer the document does not give
        // `getEvidence` (status or media type), or a documented error, is an error here.
        let response: APIResponse
        do { response = try SealstreamAPI(address: address).getEvidence(nonce: hex) } catch {
            FileHandle.standardError.write(Data("attestation: \(url): \(error)\n".utf8))
            throw ExitCode(1)
        }
        do {
            let evidence = try Evidence.parse(response.body)
            guard evidence.nonce == hex else {
                FileHandle.standardError.write(Data("attestation: the evidence answers another nonce (stale or replayed)\n".utf8))
                throw ExitCode(1)
            }
        } catch let error as EvidenceError {
            FileHandle.standardError.write(Data("attestation: the answer is not evidence: \(error)\n".utf8))
            throw ExitCode(1)
        }
        try Data(response.body).write(to: URL(fileURLWithPath: out))
        print("wrote \(out)")
        print("nonce \(hex)")
    }
}

struct Enroll: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prove the evidence's attestation key lives in the TPM of its certified EK, and pin it in the policy.",
        discussion: """
            Checks the evidence against the policy (everything but the AK pin), checks the RSA
            EK certificate the evidence carries against the policy's EK roots, then makes a
            credential in software (TPM2_MakeCredential: a random secret, wrapped for that EK
            and bound to the AK's Name) and sends it to the worker, whose TPM can only
            recover it if it holds both the certified EK and a key with that Name
            (TPM2_ActivateCredential). On success the AK's Name is added to the policy's
            akNames (--policy-out), and `verify` accepts quotes from that AK only.
            """)

    @Option(name: .long, help: "The host's client address HOST:PORT (the credential goes to the worker over the wire protocol).")
    var host: String

    @Option(name: .long, help: "Evidence JSON from the same worker (from `attestation challenge`).")
    var evidence: String

    @Option(name: .long, help: "Policy from `attestation measure`.")
    var policy: String

    @Option(name: .long, help: "Where to write the policy with the AK pinned.")
    var policyOut: String

    @Flag(name: .long, help: "Accept swtpm evidence (SIMULATED).")
    var allowSimulated = false

    func run() throws {
        func fail(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("attestation enroll: \(message)\n".utf8))
            return ExitCode(1)
        }
        let evidenceBytes = try Array(Data(contentsOf: URL(fileURLWithPath: evidence)))
        var policyValue = try AttestationPolicy.parse(Array(Data(contentsOf: URL(fileURLWithPath: policy))))
        let report = try QuoteVerifier(policy: policyValue).verify(evidence: evidenceBytes, allowSimulated: allowSimulated)
        let failed = report.failedChecks.filter { $0 != AttestationCheckName.akEnrolled.rawValue }
        guard failed.isEmpty else { throw fail("the evidence fails \(failed.joined(separator: ", ")); run `attestation verify`") }
        let parsed = try Evidence.parse(evidenceBytes)
        guard let attestation = parsed.attestation, let ekHex = attestation.activationEKCertificate,
              let ekDER = Evidence.hexBytes(ekHex), let akPublic = Evidence.hexBytes(attestation.akPublic)
        else { throw fail("the evidence carries no RSA EK certificate (software mode, or a TPM without one)") }
        let ek = try X509Certificate(der: ekDER)
        let intermediates = try (attestation.ekChain ?? []).map { hex -> X509Certificate in
            guard let der = Evidence.hexBytes(hex) else { throw fail("bad ekChain entry") }
            return try X509Certificate(der: der)
        }
        do {
            try X509Certificate.verifyChain(leaf: ek, intermediates: intermediates, roots: try policyValue.roots(for: parsed.mode))
        } catch {
            throw fail("the RSA EK certificate does not chain to the policy's \(parsed.mode.rawValue) roots: \(error)")
        }
        let akName = try TPMTPublic.name(publicArea: akPublic)
        let credential = Sodium.randomBytes(32)
        let made = try MakeCredential.make(ekPublicKeyDER: ek.publicKeyDER, akName: akName, credential: credential)

        let connection = try Connection(address: host)
        try connection.send(ActivateCredential(credentialBlob: made.credentialBlob, encryptedSecret: made.encryptedSecret).encode())
        let reply = try connection.receive(timeoutMillis: 30_000)
        switch reply.type {
        case .credentialActivated:
            let answer = try reply.body.withUnsafeBytes { try CredentialActivated.decode(body: $0) }
            guard answer.credential == credential else { throw fail("the worker returned another credential") }
        case .refusal:
            let refusal = try reply.body.withUnsafeBytes { try Refusal.decode(body: $0) }
            throw fail("the worker could not activate the credential: \(refusal.reason.label)")
        default:
            throw fail("unexpected answer \(reply.type)")
        }
        let name = Hex.encode(akName)
        if !policyValue.akNames.contains(where: { $0.lowercased() == name }) { policyValue.akNames.append(name) }
        try Data(try policyValue.encoded()).write(to: URL(fileURLWithPath: policyOut))
        print("AK \(name) is in the TPM of the certified EK (\(ek.subject)); pinned in \(policyOut)")
    }
}

/// `--allow-mode`: one or more attestation modes, comma-separated, each checked here.
struct AllowedModes: ExpressibleByArgument {
    var modes: [AttestationMode]

    init(modes: [AttestationMode]) { self.modes = modes }

    init?(argument: String) {
        var modes: [AttestationMode] = []
        for name in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let mode = AttestationMode(rawValue: name.trimmingCharacters(in: .whitespaces)) else { return nil }
            modes.append(mode)
        }
        self.modes = modes
    }

    static var allValueStrings: [String] { AttestationMode.allCases.map(\.rawValue) }
    var defaultValueDescription: String { modes.map(\.rawValue).joined(separator: ",") }
}
