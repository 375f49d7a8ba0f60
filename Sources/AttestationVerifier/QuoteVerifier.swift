import Attestation
import AuditCrypto
import SealCrypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The named checks of `attestation verify` (docs/ATTESTATION.md §5), in report order.
public enum AttestationCheckName: String, CaseIterable, Sendable {
    case parse
    case mode
    case ekChain = "ek.chain"
    case akEnrolled = "ak.enrolled"
    case akAttributes = "ak.attributes"
    case quoteSignature = "quote.signature"
    case quoteMagic = "quote.magic"
    case quoteType = "quote.type"
    case quoteSigner = "quote.signer"
    case quoteExtraData = "quote.extraData"
    case preimage
    case pcrSelection = "pcr.selection"
    case pcrSHA1 = "pcr.sha1"
    case pcrDigest = "pcr.digest"
    case nonce
    case clock
    case eventlog
    case measurement
    case configHash
    case loadedObjects
    case bootPCRs = "boot.pcrs"
    case bootEventLog = "boot.eventlog"
    case imagePCRs = "image.pcrs"
    case imageUKI = "image.uki"
    case imageKernel = "image.kernel"
    case imageInitrd = "image.initrd"
    case imageCmdline = "image.cmdline"
}

/// The outcome of one named check.
public struct AttestationCheck: Codable, Equatable, Sendable {
    public var check: String
    public var pass: Bool
    public var expected: String
    public var actual: String
    /// Why it failed, or what passing means here (including "skipped" cases).
    public var detail: String
}

/// Every check's outcome for one evidence document. `ok` only when all pass.
public struct AttestationReport: Codable, Equatable, Sendable {
    public var ok: Bool
    /// True unless the evidence is `tpm` mode (and true when the mode is unknown).
    public var simulated: Bool
    public var mode: AttestationMode?
    public var checks: [AttestationCheck]
    /// What to remember for the next verification when `ok` (clock counters of this AK,
    /// the nonce used); nil when verification failed, so failures never change state.
    public var nextState: VerifierState?

    private enum CodingKeys: String, CodingKey { case ok, simulated, mode, checks }

    /// Names of the checks that failed, in report order.
    public var failedChecks: [String] { checks.filter { !$0.pass }.map(\.check) }

    public subscript(_ name: AttestationCheckName) -> AttestationCheck? { checks.first { $0.check == name.rawValue } }
}

/// What a verifier remembers between verifications (the CLI's `--state` file): per
/// attestation key, the last accepted clock counters, so a TPM whose state was rolled
/// back (resetCount or restartCount going backwards) is noticed; and hashes of nonces
/// already accepted, so one answer is not accepted twice.
public struct VerifierState: Codable, Equatable, Sendable {
    public static let currentVersion = 1
    /// Nonce hashes kept, newest last; older ones are forgotten.
    public static let maxNonces = 4096

    public var version: Int
    /// Last accepted clock information by AK Name (hex).
    public var clocks: [String: TPMSClockInfo]
    /// SHA-256 of each accepted non-empty nonce, hex, oldest first.
    public var usedNonces: [String]

    public init() {
        version = Self.currentVersion
        clocks = [:]
        usedNonces = []
    }

    public static func parse(_ bytes: [UInt8]) throws(PolicyError) -> VerifierState {
        guard bytes.count <= 1024 * 1024 else { throw .tooLarge(bytes.count) }
        let state: VerifierState
        do { state = try JSONDecoder().decode(VerifierState.self, from: Data(bytes)) } catch {
            throw .malformed("\(error)")
        }
        guard state.version == currentVersion else { throw .unsupportedVersion(state.version) }
        return state
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array(try encoder.encode(self))
    }
}

/// Verifies version-2 evidence against a policy from bytes alone (no TPM): every check
/// of `AttestationCheckName` runs and reports, whatever failed before it; a check whose
/// input did not parse fails as "not evaluated". Pure: the CLI reads the files, prints
/// the report and writes `nextState`.
public struct QuoteVerifier: Sendable {
    public let policy: AttestationPolicy
    private let tpmRoots: [X509Certificate]
    private let swtpmRoots: [X509Certificate]

    public init(policy: AttestationPolicy) throws(PolicyError) {
        try policy.validate()
        self.policy = policy
        tpmRoots = try policy.roots(for: .tpm)
        swtpmRoots = try policy.roots(for: .swtpm)
    }

    /// - Parameters:
    ///   - evidence: the evidence JSON.
    ///   - nonce: the nonce this verifier sent, when it sent one.
    ///   - allowSimulated: accept `software` and `swtpm` evidence (reported `simulated`).
    ///   - state: what previous verifications remembered; nil skips the rollback and
    ///     reuse comparisons (and says so in the `clock` and `nonce` details).
    public func verify(
        evidence bytes: [UInt8], nonce: [UInt8]? = nil, allowSimulated: Bool = false, state: VerifierState? = nil
    ) -> AttestationReport {
        let inputs = Inputs(bytes)
        var checks: [AttestationCheck] = []
        for name in AttestationCheckName.allCases {
            let outcome: Outcome
            do {
                outcome = try evaluate(name, inputs, nonce: nonce, allowSimulated: allowSimulated, state: state)
            } catch {
                outcome = Outcome(false, "not evaluated", "needs \(error.what), which is missing or did not parse")
            }
            checks.append(
                AttestationCheck(
                    check: name.rawValue, pass: outcome.pass, expected: expected(name, inputs, nonce: nonce),
                    actual: outcome.actual, detail: outcome.detail))
        }
        let ok = checks.allSatisfy(\.pass)
        var report = AttestationReport(
            ok: ok, simulated: inputs.evidence?.mode.isSimulated ?? true, mode: inputs.evidence?.mode, checks: checks)
        if ok, let attest = inputs.attest, let name = inputs.akName, let preimage = inputs.preimage {
            var next = state ?? VerifierState()
            next.clocks[hexString(name)] = attest.clockInfo
            if !preimage.nonce.isEmpty {
                next.usedNonces.append(hexString(SHA256.hash(preimage.nonce)))
                next.usedNonces = Array(next.usedNonces.suffix(VerifierState.maxNonces))
            }
            report.nextState = next
        }
        return report
    }

    // MARK: Checks

    struct Outcome {
        var pass: Bool
        var actual: String
        var detail: String
        init(_ pass: Bool, _ actual: String, _ detail: String = "") {
            (self.pass, self.actual, self.detail) = (pass, actual, detail)
        }
    }

    /// A check's input is missing because something else failed.
    struct Unavailable: Error { let what: String }

    func need<T>(_ value: T?, _ what: String) throws(Unavailable) -> T {
        guard let value else { throw Unavailable(what: what) }
        return value
    }

    private func expected(_ name: AttestationCheckName, _ inputs: Inputs, nonce: [UInt8]?) -> String {
        switch name {
        case .parse:
            "evidence v\(Evidence.currentVersion) with attestation, eventLog and reportPreimage; strict TPM structures"
        case .mode:
            "one of [" + policy.allowedModes.map(\.rawValue).joined(separator: ", ")
                + "]; simulated modes need allowSimulated"
        case .ekChain: "EK certificate chains to a policy root for the mode"
        case .akEnrolled: policy.akNames.isEmpty ? "an enrolled AK (tpm mode)" : "AK Name in policy.akNames"
        case .akAttributes:
            "ECC NIST P-256, nameAlg SHA256, ECDSA-SHA256, no symmetric/KDF, "
                + "fixedTPM|fixedParent|sensitiveDataOrigin|restricted|sign, not decrypt"
        case .quoteSignature: "ECDSA-SHA256 by the AK over SHA-256(quote)"
        case .quoteMagic: "0x" + hexDigits(UInt64(TPMSAttest.generatedValue), width: 8) + " (TPM_GENERATED_VALUE)"
        case .quoteType: TPMAttestType.quote.description
        case .quoteSigner: "qualified name of the AK as an endorsement-hierarchy primary"
        case .quoteExtraData: inputs.preimageBytes.map { hexString(SHA256.hash($0)) } ?? "SHA-256(reportPreimage)"
        case .preimage:
            "§1 preimage whose fields equal the evidence's mode, nonce, enclaveKey, signer, measurement, configHash"
        case .pcrSelection:
            "SHA-256 bank only, including PCR \(policy.pcr)" + (inputs.evidence?.mode == .tpm ? " and 0–7" : "")
                + (policy.image != nil ? ", 4, 9, 11, 12 and the pinned boot PCRs" : "")
        case .pcrSHA1: "no SHA-1 bank selected"
        case .pcrDigest: "SHA-256 of the reported PCR values = quoted pcrDigest"
        case .nonce: nonce.map { hexString($0) } ?? "(no verifier nonce)"
        case .clock: "safe, and resetCount/restartCount/clock not behind the remembered state"
        case .eventlog: "§2 log on PCR \(policy.pcr) replaying to the quoted value"
        case .measurement: policy.measurement
        case .configHash: policy.configHash
        case .loadedObjects:
            "the \(policy.loadedObjects.count) objects of the policy, digest "
                + hexString(LoadedObjects.digest(policy.loadedObjects))
        case .bootPCRs:
            policy.bootPCRValues.isEmpty
                ? "unconstrained"
                : "policy values of PCRs " + policy.bootPCRValues.keys.sorted().map(String.init).joined(separator: ",")
        case .bootEventLog, .imagePCRs, .imageUKI, .imageKernel, .imageInitrd, .imageCmdline:
            imageExpected(name)
        }
    }

    private func evaluate(
        _ name: AttestationCheckName, _ inputs: Inputs, nonce: [UInt8]?, allowSimulated: Bool, state: VerifierState?
    ) throws(Unavailable) -> Outcome {
        switch name {
        case .parse:
            return inputs.problems.isEmpty
                ? Outcome(true, "parsed", "evidence, AK public area, quote, signature, certificates and values parse")
                : Outcome(false, inputs.problems.joined(separator: "; "))

        case .mode:
            let mode = try need(inputs.evidence, "the evidence").mode
            if !policy.allowedModes.contains(mode) {
                return Outcome(false, mode.rawValue, "the policy does not allow \(mode.rawValue)")
            }
            if mode.isSimulated && !allowSimulated {
                return Outcome(
                    false, mode.rawValue,
                    "\(mode.rawValue) is simulated (no hardware root of trust) "
                        + "and simulated modes were not allowed (--allow-simulated)"
                )
            }
            return Outcome(
                true, mode.rawValue, mode.isSimulated ? "SIMULATED: accepted because simulated modes were allowed" : "")

        case .ekChain:
            let evidence = try need(inputs.evidence, "the evidence")
            if evidence.mode == .software {
                return inputs.ekCertificate == nil && (evidence.attestation?.ekCertificate == nil)
                    ? Outcome(
                        true, "skipped", "software mode: no TPM and no EK certificate, nothing is anchored in hardware")
                    : Outcome(false, "EK certificate present", "software evidence must not carry an EK certificate")
            }
            let leaf = try need(inputs.ekCertificate, "the EK certificate")
            let chain = try need(inputs.ekChain, "the EK chain")
            let roots = evidence.mode == .tpm ? tpmRoots : swtpmRoots
            guard !roots.isEmpty else {
                return Outcome(
                    false, "issuer \(leaf.issuer)",
                    "the policy trusts no EK root for \(evidence.mode.rawValue) evidence")
            }
            do {
                try X509Certificate.verifyChain(leaf: leaf, intermediates: chain, roots: roots)
                return Outcome(true, "issuer \(leaf.issuer)", "chains through \(chain.count) intermediate(s)")
            } catch {
                return Outcome(false, "issuer \(leaf.issuer)", "\(error)")
            }

        case .akEnrolled:
            let mode = try need(inputs.evidence, "the evidence").mode
            let akName = hexString(try need(inputs.akName, "the AK public area"))
            if !policy.akNames.isEmpty {
                return policy.akNames.contains(where: { $0.lowercased() == akName })
                    ? Outcome(true, akName, "enrolled AK")
                    : Outcome(false, akName, "this AK is not one of the policy's enrolled AKs")
            }
            return mode == .tpm
                ? Outcome(
                    false, akName,
                    "the policy pins no AK: nothing binds this AK to the EK certificate "
                        + "(enrol it by credential activation, then add its Name to akNames)"
                )
                : Outcome(true, akName, "\(mode.rawValue): AK not pinned, so not bound to the EK certificate")

        case .akAttributes:
            let ak = try need(inputs.ak, "the AK public area")
            var problems: [String] = []
            if ak.type != .ecc { problems.append("type \(ak.type)") }
            if ak.nameAlg != .sha256 { problems.append("nameAlg \(ak.nameAlg)") }
            let required: TPMAObject = [.fixedTPM, .fixedParent, .sensitiveDataOrigin, .restricted, .sign]
            let missing = TPMAObject(rawValue: required.rawValue & ~ak.objectAttributes.rawValue)
            if !missing.isEmpty { problems.append("missing \(missing)") }
            if ak.objectAttributes.contains(.decrypt) { problems.append("decrypt set") }
            if ak.symmetric.algorithm != .null { problems.append("symmetric \(ak.symmetric.algorithm)") }
            if ak.scheme.scheme != .ecdsa || ak.scheme.hashAlg != .sha256 {
                problems.append("scheme \(ak.scheme.scheme)/\(ak.scheme.hashAlg)")
            }
            if ak.curveID != TPMECCCurve.nistP256 {
                problems.append("curve 0x\(hexDigits(UInt64(ak.curveID), width: 4))")
            }
            if ak.kdf.scheme != .null { problems.append("kdf \(ak.kdf.scheme)") }
            if inputs.akKey == nil { problems.append("unique is not a P-256 point") }
            return problems.isEmpty
                ? Outcome(true, "\(ak.objectAttributes)")
                : Outcome(false, "\(ak.objectAttributes)", problems.joined(separator: "; "))

        case .quoteSignature:
            let signature = try need(inputs.signature, "the signature")
            let attestBytes = try need(inputs.attestBytes, "the quote")
            let key = try need(inputs.akKey, "a valid AK public key")
            guard signature.sigAlg == .ecdsa, signature.hash == .sha256, case .ecc(let r, let s) = signature.body else {
                return Outcome(false, "\(signature.sigAlg)/\(signature.hash)", "not an ECDSA-SHA256 signature")
            }
            return key.isValidSignature(r: r, s: s, digest: SHA256.hash(attestBytes))
                ? Outcome(true, "valid")
                : Outcome(false, "invalid", "the signature does not verify under the AK over this quote")

        case .quoteMagic:
            let magic = try need(inputs.attest, "the quote").magic
            return Outcome(magic == TPMSAttest.generatedValue, "0x" + hexDigits(UInt64(magic), width: 8))

        case .quoteType:
            let type = try need(inputs.attest, "the quote").type
            return type == .quote
                ? Outcome(true, "\(type)") : Outcome(false, "\(type)", "the TPM signed a different kind of structure")

        case .quoteSigner:
            let attest = try need(inputs.attest, "the quote")
            let qualified = try need(inputs.akQualifiedName, "the AK public area")
            return attest.qualifiedSigner == qualified
                ? Outcome(true, hexString(attest.qualifiedSigner))
                : Outcome(
                    false, hexString(attest.qualifiedSigner),
                    "expected \(hexString(qualified)), the AK as a primary key of the endorsement hierarchy (§3): "
                        + "the quote names another signer or parent"
                )

        case .quoteExtraData:
            let attest = try need(inputs.attest, "the quote")
            let preimage = try need(inputs.preimageBytes, "the report preimage")
            return attest.extraData == SHA256.hash(preimage)
                ? Outcome(true, hexString(attest.extraData))
                : Outcome(false, hexString(attest.extraData), "the quote does not bind this report preimage")

        case .preimage:
            let evidence = try need(inputs.evidence, "the evidence")
            guard let bytes = inputs.preimageBytes else { throw Unavailable(what: "the report preimage") }
            let preimage: ReportPreimage
            do { preimage = try ReportPreimage.parse(bytes) } catch { return Outcome(false, "unparsable", "\(error)") }
            var differ: [String] = []
            if preimage.mode != evidence.mode {
                differ.append("mode (\(preimage.mode.rawValue) bound, \(evidence.mode.rawValue) claimed)")
            }
            if preimage.nonce != Evidence.hexBytes(evidence.nonce) { differ.append("nonce") }
            if preimage.enclaveKey != evidence.enclaveKeyBytes { differ.append("enclaveKey") }
            if preimage.signer != evidence.signerBytes { differ.append("signer") }
            if preimage.measurement != Evidence.hexBytes(evidence.measurement) { differ.append("measurement") }
            if preimage.configHash != Evidence.hexBytes(evidence.configHash) { differ.append("configHash") }
            return differ.isEmpty
                ? Outcome(true, "consistent", "the evidence's identity fields are the ones the quote binds")
                : Outcome(
                    false,
                    "differs in "
                        + differ.map { $0.split(separator: " ").first.map(String.init) ?? $0 }.joined(separator: ", "),
                    "the evidence claims other values than the quote binds: " + differ.joined(separator: ", "))

        case .pcrSelection:
            let info = try need(inputs.attest?.quoteInfo, "a quote with TPMS_QUOTE_INFO")
            let evidence = try need(inputs.evidence, "the evidence")
            let attestation = try need(evidence.attestation, "the evidence's attestation")
            let actual = Self.describe(info.pcrSelect)
            var problems: [String] = []
            let sha256 = info.pcrSelect.filter { $0.hash == .sha256 }
            let others = info.pcrSelect.filter { $0.hash != .sha256 && !$0.indices.isEmpty }
            if sha256.count != 1 { problems.append("\(sha256.count) SHA-256 bank entries") }
            let indices = sha256.first?.indices ?? []
            if !indices.contains(policy.pcr) { problems.append("PCR \(policy.pcr) not selected") }
            if evidence.mode == .tpm, !Set(0...7).isSubset(of: Set(indices)) {
                problems.append("boot PCRs 0–7 not all selected")
            }
            if policy.image != nil {
                let needed = Set(ImageMeasurement.predictedPCRs).union(policy.bootPCRValues.keys)
                let missing = needed.subtracting(indices).sorted()
                if !missing.isEmpty {
                    problems.append("image PCRs " + missing.map(String.init).joined(separator: ",") + " not selected")
                }
            }
            if !others.isEmpty {
                problems.append("other banks selected: " + others.map { "\($0.hash)" }.joined(separator: ", "))
            }
            if attestation.pcrBank != "sha256" || attestation.pcrs != indices {
                problems.append(
                    "evidence lists \(attestation.pcrBank):"
                        + attestation.pcrs.map(String.init).joined(separator: ",") + ", not what was quoted"
                )
            }
            return Outcome(problems.isEmpty, actual, problems.joined(separator: "; "))

        case .pcrSHA1:
            let info = try need(inputs.attest?.quoteInfo, "a quote with TPMS_QUOTE_INFO")
            let sha1 = info.pcrSelect.filter { $0.hash == .sha1 && !$0.indices.isEmpty }
            return sha1.isEmpty
                ? Outcome(true, Self.describe(info.pcrSelect))
                : Outcome(false, Self.describe(sha1), "SHA-1 PCRs can be forged by collision; quote the SHA-256 bank")

        case .pcrDigest:
            let info = try need(inputs.attest?.quoteInfo, "a quote with TPMS_QUOTE_INFO")
            let attestation = try need(inputs.evidence?.attestation, "the evidence's attestation")
            let values = try need(inputs.pcrValues, "the PCR values")
            var concatenated: [UInt8] = []
            var covered = Set<Int>()
            for selection in info.pcrSelect where !selection.indices.isEmpty {
                guard Self.bankName(selection.hash) == attestation.pcrBank else {
                    return Outcome(
                        false, "no values",
                        "the quote selects \(selection.hash) but the evidence reports \(attestation.pcrBank) values")
                }
                for index in selection.indices {
                    guard let value = values[index] else {
                        return Outcome(false, "no value", "PCR \(index) is quoted but not reported")
                    }
                    concatenated += value
                    covered.insert(index)
                }
            }
            let extra = Set(values.keys).subtracting(covered)
            if !extra.isEmpty {
                return Outcome(false, "unquoted values", "PCRs \(extra.sorted()) are reported but not quoted")
            }
            let digest = SHA256.hash(concatenated)
            return digest == info.pcrDigest
                ? Outcome(true, hexString(digest))
                : Outcome(
                    false, hexString(digest),
                    "the reported PCR values are not the quoted ones (quoted digest \(hexString(info.pcrDigest)))")

        case .nonce:
            // The nonce the quote binds (through the preimage), not the evidence's claim.
            let bound = try need(inputs.preimage, "the report preimage").nonce
            let actual = bound.isEmpty ? "(empty)" : hexString(bound)
            if let nonce {
                if nonce.isEmpty { return Outcome(false, actual, "an empty verifier nonce proves no freshness") }
                if bound != nonce { return Outcome(false, actual, "the quote answers another nonce") }
            } else if bound.isEmpty {
                return Outcome(true, actual, "no nonce on either side: this evidence is not shown to be fresh")
            }
            let freshness =
                nonce == nil ? "no verifier nonce given: freshness not established" : "answers this verifier's nonce"
            guard let state else { return Outcome(true, actual, freshness + "; no state: reuse not checked") }
            if state.usedNonces.contains(hexString(SHA256.hash(bound))) {
                return Outcome(false, actual, "this nonce was already accepted once (state)")
            }
            return Outcome(true, actual, freshness)

        case .clock:
            let clock = try need(inputs.attest, "the quote").clockInfo
            let actual =
                "clock \(clock.clock) ms, resetCount \(clock.resetCount), restartCount \(clock.restartCount), "
                + "safe \(clock.safe ? "yes" : "no")"
            guard clock.safe else {
                return Outcome(false, actual, "safe is NO: the TPM clock may have gone back (unorderly shutdown)")
            }
            guard let state else { return Outcome(true, actual, "no state: rollback not checked") }
            let name = hexString(try need(inputs.akName, "the AK public area"))
            guard let last = state.clocks[name] else {
                return Outcome(true, actual, "first quote remembered from this AK")
            }
            if (clock.resetCount, clock.restartCount) < (last.resetCount, last.restartCount) {
                return Outcome(
                    false, actual,
                    "counters went backwards from resetCount \(last.resetCount), restartCount \(last.restartCount): "
                        + "TPM state rolled back or replaced"
                )
            }
            if clock.clock < last.clock {
                return Outcome(false, actual, "clock went backwards from \(last.clock) ms")
            }
            return Outcome(
                true, actual,
                "not behind resetCount \(last.resetCount), restartCount \(last.restartCount), clock \(last.clock)")

        case .eventlog:
            let log = try need(inputs.evidence?.eventLog, "the event log")
            let preimage = try need(inputs.preimage, "the report preimage")
            let attestation = try need(inputs.evidence?.attestation, "the evidence's attestation")
            let values = try need(inputs.pcrValues, "the PCR values")
            let digests = log.map { Evidence.hexBytes($0.digest) ?? [] }
            let replayed = EventLogEntry.replay(digests)
            var problems: [String] = []
            let objects = try need(inputs.evidence?.loadedObjects, "the evidence's loadedObjects")
            let expectedLog = EventLogEntry.measuredStart(
                measurement: preimage.measurement, configHash: preimage.configHash,
                loadedObjects: LoadedObjects.digest(objects), pcr: policy.pcr)
            if log.map(\.type) != expectedLog.map(\.type) {
                problems.append(
                    "entries [" + log.map(\.type).joined(separator: ", ") + "], expected ["
                        + expectedLog.map(\.type).joined(separator: ", ") + "]")
            }
            if log.contains(where: { $0.pcr != policy.pcr }) { problems.append("an entry is not on PCR \(policy.pcr)") }
            if log.count == expectedLog.count,
                zip(log, expectedLog).contains(where: { $0.type == $1.type && $0.digest.lowercased() != $1.digest })
            {
                problems.append("digests differ from the bound measurement/configHash or the listed loadedObjects")
            }
            if attestation.pcrBank != "sha256" {
                problems.append("no SHA-256 value of PCR \(policy.pcr) reported")
            } else if let quoted = values[policy.pcr] {
                if quoted != replayed {
                    problems.append("replays to \(hexString(replayed)), quoted \(hexString(quoted))")
                }
            } else {
                problems.append("PCR \(policy.pcr) not reported")
            }
            return Outcome(
                problems.isEmpty, "\(log.count) entries, replay \(hexString(replayed))",
                problems.joined(separator: "; "))

        case .measurement:
            let bound = try need(inputs.preimage, "the report preimage").measurement
            return bound == Evidence.hexBytes(policy.measurement)
                ? Outcome(true, hexString(bound))
                : Outcome(false, hexString(bound), "not the enclave executable the policy expects")

        case .configHash:
            let bound = try need(inputs.preimage, "the report preimage").configHash
            return bound == Evidence.hexBytes(policy.configHash)
                ? Outcome(true, hexString(bound))
                : Outcome(false, hexString(bound), "not the venue configuration the policy expects")

        case .loadedObjects:
            let listed = try need(inputs.evidence?.loadedObjects, "the evidence's loadedObjects")
            let expected = policy.loadedObjects
            let unexpected = listed.filter { !expected.contains($0) }
            let missing = expected.filter { !listed.contains($0) }
            guard unexpected.isEmpty && missing.isEmpty else {
                var problems: [String] = []
                if !unexpected.isEmpty {
                    problems.append("not in the policy: " + unexpected.map { "\($0.path) (\($0.sha256))" }.joined(separator: ", "))
                }
                if !missing.isEmpty {
                    problems.append("missing: " + missing.map { "\($0.path) (\($0.sha256))" }.joined(separator: ", "))
                }
                return Outcome(
                    false, "\(listed.count) objects, digest \(hexString(LoadedObjects.digest(listed)))",
                    "the worker runs code the policy does not name: " + problems.joined(separator: "; "))
            }
            return Outcome(true, "\(listed.count) objects, digest \(hexString(LoadedObjects.digest(listed)))")

        case .bootEventLog, .imagePCRs, .imageUKI, .imageKernel, .imageInitrd, .imageCmdline:
            return try evaluateImage(name, inputs)

        case .bootPCRs:
            let mode = try need(inputs.evidence, "the evidence").mode
            let expectedValues = policy.bootPCRValues
            guard mode == .tpm || policy.image != nil else {
                return Outcome(true, "not applicable", "\(mode.rawValue) mode: no measured boot")
            }
            guard !expectedValues.isEmpty else {
                return Outcome(true, "unconstrained", "the policy does not constrain PCRs 0–7")
            }
            let values = try need(inputs.pcrValues, "the PCR values")
            let wrong = expectedValues.keys.sorted().filter { values[$0] != expectedValues[$0] }
            return wrong.isEmpty
                ? Outcome(true, "as expected")
                : Outcome(
                    false, "PCRs " + wrong.map(String.init).joined(separator: ","), "boot chain differs from the policy"
                )
        }
    }

    private static func bankName(_ hash: TPMAlgorithmID) -> String {
        switch hash {
        case .sha1: "sha1"
        case .sha256: "sha256"
        case .sha384: "sha384"
        case .sha512: "sha512"
        default: "\(hash)"
        }
    }

    private static func describe(_ selections: [TPMSPCRSelection]) -> String {
        selections.isEmpty
            ? "(none)"
            : selections.map { "\(bankName($0.hash)):" + $0.indices.map(String.init).joined(separator: ",") }.joined(
                separator: " ")
    }
}

// MARK: - Inputs

/// The evidence decoded as far as it goes; each piece is nil when it is missing or did not
/// parse, and `problems` says why (the `parse` check).
struct Inputs {
    var evidence: Evidence?
    var akBytes: [UInt8]?
    var ak: TPMTPublic?
    var akKey: P256PublicKey?
    var akName: [UInt8]?
    var akQualifiedName: [UInt8]?
    var attestBytes: [UInt8]?
    var attest: TPMSAttest?
    var signature: TPMTSignature?
    var preimageBytes: [UInt8]?
    var preimage: ReportPreimage?
    var ekCertificate: X509Certificate?
    var ekChain: [X509Certificate]?
    var pcrValues: [Int: [UInt8]]?
    /// The firmware event log, when the evidence carries one that parses.
    var bootLog: TCGEventLog?
    var problems: [String] = []

    init(_ bytes: [UInt8]) {
        let evidence: Evidence
        do { evidence = try Evidence.parse(bytes) } catch {
            problems.append("evidence: \(error)")
            return
        }
        self.evidence = evidence
        guard let attestation = evidence.attestation else {
            problems.append("no attestation: the evidence is not attested")
            return
        }
        if evidence.eventLog == nil { problems.append("no eventLog") }
        if let hex = evidence.bootEventLog {
            do { bootLog = try TCGEventLog(Evidence.hexBytes(hex) ?? []) } catch {
                problems.append("bootEventLog: \(error)")
            }
        }
        if let hex = evidence.reportPreimage {
            preimageBytes = Evidence.hexBytes(hex)
            do { preimage = try ReportPreimage.parse(preimageBytes ?? []) } catch {
                problems.append("reportPreimage: \(error)")
            }
        } else {
            problems.append("no reportPreimage")
        }
        // Evidence.parse checked that these are hex and consistent.
        akBytes = Evidence.hexBytes(attestation.akPublic)
        attestBytes = Evidence.hexBytes(attestation.quote)
        pcrValues = attestation.pcrValueBytes
        do {
            let ak = try TPMTPublic.parse(akBytes ?? [])
            self.ak = ak
            akName = try TPMTPublic.name(publicArea: akBytes ?? [])
            akQualifiedName = try TPMTPublic.endorsementPrimaryQualifiedName(publicArea: akBytes ?? [])
            akKey = try? P256PublicKey(x: ak.x, y: ak.y)
        } catch {
            problems.append("akPublic: \(error)")
        }
        do { attest = try TPMSAttest.parse(attestBytes ?? []) } catch { problems.append("quote: \(error)") }
        do { signature = try TPMTSignature.parse(Evidence.hexBytes(attestation.signature) ?? []) } catch {
            problems.append("signature: \(error)")
        }
        if let ek = attestation.ekCertificate {
            do { ekCertificate = try X509Certificate(der: Evidence.hexBytes(ek) ?? []) } catch {
                problems.append("ekCertificate: \(error)")
            }
        }
        do {
            var chain: [X509Certificate] = []
            for der in attestation.ekChain ?? [] {
                chain.append(try X509Certificate(der: Evidence.hexBytes(der) ?? []))
            }
            ekChain = chain
        } catch {
            problems.append("ekChain: \(error)")
        }
    }
}
