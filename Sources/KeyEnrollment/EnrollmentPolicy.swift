import Attestation
import AttestationVerifier
import AuditCrypto
import SealCrypto
import Wire

/// What an enclave knows about itself and holds its peer to (docs/REPLICATION.md §11.2):
/// a primary derives the policy it checks a standby's evidence against from these facts,
/// and a standby the policy it checks the primary's evidence against. Both are the
/// policy an auditor would write with `attestation measure` for this build and config.
public struct EnclaveFacts: Sendable, Equatable {
    /// SHA-256 of the enclave executable.
    public var measurement: [UInt8]
    /// SHA-256 of the venue configuration file bytes.
    public var configHash: [UInt8]
    public var mode: AttestationMode
    /// The measurement PCR (16 or 23).
    public var pcr: Int
    public var loadedObjects: [LoadedObject]
    /// PEM documents from the measured venue config's `enrollment` section.
    public var ekRoots: [String]
    public var swtpmEKRoots: [String]

    public init(
        measurement: [UInt8], configHash: [UInt8], mode: AttestationMode, pcr: Int, loadedObjects: [LoadedObject],
        ekRoots: [String] = [], swtpmEKRoots: [String] = []
    ) {
        self.measurement = measurement
        self.configHash = configHash
        self.mode = mode
        self.pcr = pcr
        self.loadedObjects = loadedObjects
        self.ekRoots = ekRoots
        self.swtpmEKRoots = swtpmEKRoots
    }

    /// The auditor policy for a peer: this measurement, config hash, PCR and loaded
    /// objects, only this mode, the config's EK roots, no pinned AK names and no boot PCRs
    /// or image (§11.2 says what that leaves out).
    public var policy: AttestationPolicy {
        AttestationPolicy(
            measurement: measurement, configHash: configHash, allowedModes: [mode], pcr: pcr,
            ekRoots: ekRoots, swtpmEKRoots: swtpmEKRoots, loadedObjects: loadedObjects)
    }
}

/// A peer's evidence that passed the policy of `EnclaveFacts`.
public struct VerifiedPeer: Sendable {
    public let evidence: Evidence
    /// The evidence's X25519 `enclaveKey`.
    public let enclaveKey: KXPublicKey
    /// The evidence's signer address, 20 bytes.
    public let signer: [UInt8]
    /// TPM modes: the AK's Name and the DER public key of the RSA EK certificate that
    /// chains to the config's roots (for MakeCredential). Nil in `software` mode.
    public let akName: [UInt8]?
    public let activationEKPublicKey: [UInt8]?
}

/// Checks a peer's evidence: every check of `QuoteVerifier` except `ak.enrolled` (the
/// credential activation of §11.3 stands in for the pin), then in TPM modes the RSA EK
/// certificate used for activation. The first failing check, in the order of §11.5,
/// names the refusal.
public enum EnrollmentVerifier {
    /// The refusal for each check, in the order they are looked at.
    static let order: [(AttestationCheckName, EnrollmentRefusal)] = [
        (.parse, .evidenceMalformed), (.mode, .modeMismatch), (.measurement, .measurementMismatch),
        (.configHash, .configMismatch), (.loadedObjects, .loadedObjectsMismatch), (.nonce, .nonceMismatch),
        (.ekChain, .ekUntrusted),
    ]

    public static func verify(
        evidence bytes: [UInt8], nonce: [UInt8], facts: EnclaveFacts, needsActivationEK: Bool
    ) throws(EnrollmentRefusal) -> VerifiedPeer {
        let verifier: QuoteVerifier
        do { verifier = try QuoteVerifier(policy: facts.policy) } catch { throw .ekUntrusted }
        let report = verifier.verify(evidence: bytes, nonce: nonce, allowSimulated: true)
        let failed = Set(report.failedChecks).subtracting([AttestationCheckName.akEnrolled.rawValue])
        if !failed.isEmpty {
            for (check, refusal) in order where failed.contains(check.rawValue) { throw refusal }
            throw .quoteInvalid
        }
        guard let evidence = try? Evidence.parse(bytes), let enclaveKey = try? KXPublicKey(bytes: evidence.enclaveKeyBytes),
              case let signer = evidence.signerBytes, signer.count == 20
        else { throw .evidenceMalformed }
        guard evidence.mode != .software else {
            return VerifiedPeer(evidence: evidence, enclaveKey: enclaveKey, signer: signer, akName: nil, activationEKPublicKey: nil)
        }
        guard needsActivationEK else {
            return VerifiedPeer(evidence: evidence, enclaveKey: enclaveKey, signer: signer, akName: nil, activationEKPublicKey: nil)
        }
        guard let attestation = evidence.attestation, let ekHex = attestation.activationEKCertificate,
              let ekDER = Evidence.hexBytes(ekHex), let akPublic = Evidence.hexBytes(attestation.akPublic),
              let ek = try? X509Certificate(der: ekDER), let roots = try? facts.policy.roots(for: evidence.mode),
              !roots.isEmpty
        else { throw .ekUntrusted }
        var intermediates: [X509Certificate] = []
        for hex in attestation.ekChain ?? [] {
            guard let der = Evidence.hexBytes(hex), let cert = try? X509Certificate(der: der) else { throw .ekUntrusted }
            intermediates.append(cert)
        }
        do { try X509Certificate.verifyChain(leaf: ek, intermediates: intermediates, roots: roots) } catch {
            throw .ekUntrusted
        }
        guard let akName = try? TPMTPublic.name(publicArea: akPublic) else { throw .quoteInvalid }
        guard let ekPublicKey = try? ek.publicKeyDER else { throw .ekUntrusted }
        return VerifiedPeer(
            evidence: evidence, enclaveKey: enclaveKey, signer: signer, akName: akName,
            activationEKPublicKey: ekPublicKey)
    }
}
