#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How the evidence was produced. Bound into the evidence; verifiers refuse the
/// simulated modes unless told otherwise.
public enum AttestationMode: String, Codable, Sendable, CaseIterable {
    /// The machine's TPM.
    case tpm
    /// The swtpm TPM 2.0 simulator: the real protocol, no hardware root of trust.
    case swtpm
    /// No TPM at all: software stand-in.
    case software

    public var isSimulated: Bool { self != .tpm }
}

/// What isolates the enclave's memory from the host, stated honestly.
public enum IsolationClass: String, Codable, Sendable {
    /// A separate, hardened process on the same kernel as the untrusted host: root on
    /// the host can still read its memory. Protects against a compromised host
    /// *process*, not a compromised machine.
    case process
    /// A confidential VM (SEV-SNP, TDX): memory encrypted against the host.
    case cvm
}

/// What the enclave did to confine itself at start-up, as it observed it.
public struct IsolationReport: Codable, Equatable, Sendable {
    /// `PR_SET_DUMPABLE` is 0: no core dumps, no ptrace attach by non-root peers.
    public var dumpable: Bool
    /// `PR_SET_NO_NEW_PRIVS` set.
    public var noNewPrivileges: Bool
    /// The worker is in a network namespace of its own with no interfaces up.
    public var privateNetworkNamespace: Bool
    /// Listening sockets the process holds (must be 0).
    public var listeningSockets: Int
    /// File descriptors open after start-up hygiene (expected: stdin, stdout, stderr).
    public var openFileDescriptors: Int

    public init(dumpable: Bool, noNewPrivileges: Bool, privateNetworkNamespace: Bool, listeningSockets: Int, openFileDescriptors: Int) {
        self.dumpable = dumpable
        self.noNewPrivileges = noNewPrivileges
        self.privateNetworkNamespace = privateNetworkNamespace
        self.listeningSockets = listeningSockets
        self.openFileDescriptors = openFileDescriptors
    }
}

/// The evidence bundle, format version 1 (`docs/EVIDENCE.md`). In this release the
/// bundle carries the enclave's identity and keys but no TPM quote yet: `quote` is
/// absent and verifiers must treat such evidence as unattested.
public struct Evidence: Codable, Equatable, Sendable {
    public static let currentVersion = 1

    public var version: Int
    public var mode: AttestationMode
    public var isolation: IsolationClass
    /// Convenience copy of `mode.isSimulated`; verifiers recompute it from `mode`.
    public var simulated: Bool
    /// Random id of this enclave process lifetime (hex, 8 bytes).
    public var instanceID: String
    /// X25519 key for order-flow sessions (hex, 32 bytes).
    public var enclaveKey: String
    /// Ethereum address (0x + 40 hex) of the secp256k1 key that signs batch headers
    /// (docs/COMMITMENTS.md); the key itself never leaves the enclave.
    public var signer: String
    /// EIP-712 domain of the batch signatures (from the measured venue config).
    public var chainId: UInt64
    public var verifyingContract: String
    /// SHA-256 of the enclave executable (hex).
    public var measurement: String
    /// SHA-256 of the venue configuration file bytes (hex).
    public var configHash: String
    public var venueID: UInt64
    /// The verifier's nonce this evidence answers (hex).
    public var nonce: String
    /// Enclave time when produced, Unix nanoseconds.
    public var enclaveTime: UInt64
    public var isolationReport: IsolationReport
    /// Reserved for the TPM quote (attestation issue); nil in this release.
    public var quote: String?

    public init(
        mode: AttestationMode, isolation: IsolationClass, instanceID: String, enclaveKey: String, signer: String,
        chainId: UInt64, verifyingContract: String, measurement: String, configHash: String, venueID: UInt64, nonce: String, enclaveTime: UInt64,
        isolationReport: IsolationReport, quote: String? = nil
    ) {
        self.version = Self.currentVersion
        self.mode = mode
        self.isolation = isolation
        self.simulated = mode.isSimulated
        self.instanceID = instanceID
        self.enclaveKey = enclaveKey
        self.signer = signer
        self.chainId = chainId
        self.verifyingContract = verifyingContract
        self.measurement = measurement
        self.configHash = configHash
        self.venueID = venueID
        self.nonce = nonce
        self.enclaveTime = enclaveTime
        self.isolationReport = isolationReport
        self.quote = quote
    }

    /// Largest evidence document accepted by `parse`, in bytes.
    public static let maxEncodedLength = 60 * 1024

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array(try encoder.encode(self))
    }

    /// Strict parse: size limit, known version, and internal consistency.
    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> Evidence {
        guard bytes.count <= maxEncodedLength else { throw .tooLarge(bytes.count) }
        let evidence: Evidence
        do {
            evidence = try JSONDecoder().decode(Evidence.self, from: Data(bytes))
        } catch {
            throw .malformed(String(describing: error))
        }
        guard evidence.version == currentVersion else { throw .unsupportedVersion(evidence.version) }
        guard evidence.simulated == evidence.mode.isSimulated else { throw .inconsistent("simulated flag disagrees with mode") }
        guard let key = hexBytes(evidence.enclaveKey), key.count == 32 else { throw .inconsistent("enclaveKey is not 32 hex bytes") }
        guard evidence.signer.hasPrefix("0x"), let signer = hexBytes(String(evidence.signer.dropFirst(2))), signer.count == 20 else {
            throw .inconsistent("signer is not a 0x-prefixed 20-byte address")
        }
        return evidence
    }

    /// The enclave's X25519 key as bytes.
    public var enclaveKeyBytes: [UInt8] { Self.hexBytes(enclaveKey) ?? [] }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        var i = 0
        while i < u.count {
            guard let b = UInt8(String(decoding: u[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
            i += 2
        }
        return out
    }
}

/// Why evidence could not be parsed.
public enum EvidenceError: Error, Equatable, Sendable {
    case tooLarge(Int)
    case malformed(String)
    case unsupportedVersion(Int)
    case inconsistent(String)
}
