#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SealCrypto
import StrictJSON
import Wire

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
    /// The worker alone in a virtual machine booted from the measured appliance image
    /// (docs/IMAGE.md): its own kernel, but the hypervisor can read its memory.
    case vm
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

/// The evidence bundle, format version 2 (docs/EVIDENCE.md, docs/ATTESTATION.md §4): the
/// enclave's identity and keys, and — from version 2 — the TPM quote that binds them
/// (`attestation`, `eventLog`, `reportPreimage`). The new fields are optional here so the
/// model can describe evidence that lacks them, but `QuoteVerifier` requires them all;
/// evidence without them is unattested.
public struct Evidence: Codable, Equatable, Sendable {
    public static let currentVersion = 2

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
    /// The TPM quote and what checking it needs; nil in evidence that is not attested.
    public var attestation: TPMAttestation?
    /// The application event log of docs/ATTESTATION.md §2, in extension order.
    public var eventLog: [EventLogEntry]?
    /// Hex of the report preimage (docs/ATTESTATION.md §1) whose SHA-256 is the quote's
    /// extraData.
    public var reportPreimage: String?
    /// How the worker keeps its storage key: `sealed-pcr-23` (TPM modes: only the same
    /// measured worker on the same TPM can unseal it) or `file-0600` (software mode: a
    /// plain file the host's root can read). Absent when the worker runs without one.
    public var storageKey: String?
    /// Every file the worker has mapped executable besides its executable (shared
    /// libraries, the dynamic loader), canonical order; its digest is the third event log
    /// entry (docs/ATTESTATION.md §2). Absent only in evidence that is not attested.
    public var loadedObjects: [LoadedObject]?
    /// Hex of the firmware's TCG event log (crypto-agile, as the kernel exposes it in
    /// `/sys/kernel/security/tpm0/binary_bios_measurements`), when the worker booted in a
    /// measured appliance image (docs/IMAGE.md §6); at most `maxBootEventLog` bytes.
    public var bootEventLog: String?

    /// The marshalled TPMS_ATTEST (hex) when the evidence carries a quote. Version 1 had
    /// a reserved top-level `quote`; version 2 carries it in `attestation.quote`.
    public var quote: String? { attestation?.quote }

    public init(
        mode: AttestationMode, isolation: IsolationClass, instanceID: String, enclaveKey: String, signer: String,
        chainId: UInt64, verifyingContract: String, measurement: String, configHash: String, venueID: UInt64, nonce: String, enclaveTime: UInt64,
        isolationReport: IsolationReport, attestation: TPMAttestation? = nil, eventLog: [EventLogEntry]? = nil,
        reportPreimage: String? = nil, storageKey: String? = nil, loadedObjects: [LoadedObject]? = nil,
        bootEventLog: [UInt8]? = nil
    ) {
        self.bootEventLog = bootEventLog.map(hexString)
        self.storageKey = storageKey
        self.loadedObjects = loadedObjects
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
        self.attestation = attestation
        self.eventLog = eventLog
        self.reportPreimage = reportPreimage
    }

    /// Largest evidence document without `bootEventLog` accepted by `parse`, in bytes.
    public static let maxEncodedLength = 60 * 1024
    /// Largest firmware event log carried in `bootEventLog`, in bytes (before hex).
    public static let maxBootEventLog = 64 * 1024
    /// Largest evidence document with a `bootEventLog`, in bytes.
    public static let maxEncodedLengthWithBootLog = maxEncodedLength + 2 * maxBootEventLog

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array(try encoder.encode(self))
    }

    /// Strict parse: size limit, known version, and internal consistency.
    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> Evidence {
        guard bytes.count <= maxEncodedLengthWithBootLog else { throw .tooLarge(bytes.count) }
        // Foundation's decoder keeps the first of two members of one name and reads 7.0 or
        // 7e0 as an integer; the strict reader refuses both (and a byte order mark), as the
        // Python SDK's parser does, so two readers never see two documents in one file.
        do { _ = try StrictJSON.parse(bytes) } catch { throw .malformed(error.description) }
        let evidence: Evidence
        do {
            evidence = try JSONDecoder().decode(Evidence.self, from: Data(bytes))
        } catch {
            throw .malformed(String(describing: error))
        }
        if let log = evidence.bootEventLog {
            guard let bytes = hexBytes(log), !bytes.isEmpty, bytes.count <= maxBootEventLog else {
                throw .inconsistent("bootEventLog is not hex of 1...\(maxBootEventLog) bytes")
            }
        } else if bytes.count > maxEncodedLength {
            throw .tooLarge(bytes.count)
        }
        guard evidence.version == currentVersion else { throw .unsupportedVersion(evidence.version) }
        guard evidence.simulated == evidence.mode.isSimulated else { throw .inconsistent("simulated flag disagrees with mode") }
        guard let key = hexBytes(evidence.enclaveKey), key.count == 32 else { throw .inconsistent("enclaveKey is not 32 hex bytes") }
        guard evidence.signer.hasPrefix("0x"), let signer = hexBytes(String(evidence.signer.dropFirst(2))), signer.count == 20 else {
            throw .inconsistent("signer is not a 0x-prefixed 20-byte address")
        }
        guard evidence.verifyingContract.hasPrefix("0x"),
              hexBytes(String(evidence.verifyingContract.dropFirst(2)))?.count == 20
        else {
            throw .inconsistent("verifyingContract is not a 0x-prefixed 20-byte address")
        }
        guard hexBytes(evidence.nonce).map({ $0.count <= ReportPreimage.maxNonceLength }) == true else {
            throw .inconsistent("nonce is not hex of at most \(ReportPreimage.maxNonceLength) bytes")
        }
        for (name, value) in [("measurement", evidence.measurement), ("configHash", evidence.configHash)] {
            guard hexBytes(value)?.count == 32 else { throw .inconsistent("\(name) is not 32 hex bytes") }
        }
        if let attestation = evidence.attestation { try attestation.validate() }
        if let log = evidence.eventLog {
            guard log.count <= EventLogEntry.maxEntries else {
                throw .inconsistent("eventLog has more than \(EventLogEntry.maxEntries) entries")
            }
            for entry in log {
                guard (0..<64).contains(entry.pcr), hexBytes(entry.digest)?.count == 32, !entry.type.isEmpty else {
                    throw .inconsistent("eventLog entry is not {pcr < 64, type, 32-byte hex digest}")
                }
            }
        }
        if let objects = evidence.loadedObjects {
            do { try LoadedObjects.validate(objects) } catch { throw .inconsistent("loadedObjects: \(error)") }
        }
        if let preimage = evidence.reportPreimage, hexBytes(preimage) == nil {
            throw .inconsistent("reportPreimage is not hex")
        }
        return evidence
    }

    /// The signer address as 20 bytes.
    public var signerBytes: [UInt8] { Self.hexBytes(String(signer.dropFirst(2))) ?? [] }

    /// The enclave's X25519 key as bytes.
    public var enclaveKeyBytes: [UInt8] { Self.hexBytes(enclaveKey) ?? [] }

    /// Bytes of lower- or upper-case hex without prefix; nil on odd length or a non-hex
    /// character.
    public static func hexBytes(_ s: String) -> [UInt8]? { Hex.decode(s, allowingPrefix: false) }
}

/// Why evidence could not be parsed.
public enum EvidenceError: Error, Equatable, Sendable {
    case tooLarge(Int)
    case malformed(String)
    case unsupportedVersion(Int)
    case inconsistent(String)
    /// A report preimage (docs/ATTESTATION.md §1) could not be built or parsed.
    case invalidPreimage(String)
}

/// The TPM side of version-2 evidence (docs/ATTESTATION.md §4). Binary fields are
/// lower-case hex without 0x.
public struct TPMAttestation: Codable, Equatable, Sendable {
    /// Marshalled TPMT_PUBLIC of the attestation key.
    public var akPublic: String
    /// Marshalled TPMS_ATTEST (the contents of the TPM2B_ATTEST `TPM2_Quote` returns).
    public var quote: String
    /// Marshalled TPMT_SIGNATURE over SHA-256 of `quote`.
    public var signature: String
    /// The PCR bank of `pcrValues`: `sha256` (`sha1`, `sha384`, `sha512` parse, and fail
    /// verification).
    public var pcrBank: String
    /// Quoted PCR indices, ascending.
    public var pcrs: [Int]
    /// PCR values at the time of the quote, by decimal index (`"23"`), hex.
    public var pcrValues: [String: String]
    /// DER of the EK certificate, hex; absent in `software` mode.
    public var ekCertificate: String?
    /// DER of intermediate CA certificates, hex, the leaf's issuer first; may be absent.
    public var ekChain: [String]?
    /// DER of the RSA 2048 EK certificate, hex, when the TPM has one: the EK that
    /// `attestation enroll` makes its credential for (docs/ATTESTATION.md §8).
    public var activationEKCertificate: String?

    public init(
        akPublic: String, quote: String, signature: String, pcrBank: String = "sha256", pcrs: [Int],
        pcrValues: [String: String], ekCertificate: String? = nil, ekChain: [String]? = nil,
        activationEKCertificate: String? = nil
    ) {
        self.activationEKCertificate = activationEKCertificate
        self.akPublic = akPublic
        self.quote = quote
        self.signature = signature
        self.pcrBank = pcrBank
        self.pcrs = pcrs
        self.pcrValues = pcrValues
        self.ekCertificate = ekCertificate
        self.ekChain = ekChain
    }

    /// Digest size of each PCR bank name this format knows.
    public static let bankDigestSizes = ["sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64]
    /// Most intermediate certificates accepted in `ekChain`.
    public static let maxChainLength = 4

    /// Internal consistency: hex everywhere, pcrs ascending and < 64, one value of the
    /// bank's size for each quoted PCR and no other.
    func validate() throws(EvidenceError) {
        for (name, value) in [("akPublic", akPublic), ("quote", quote), ("signature", signature)] {
            guard let bytes = Evidence.hexBytes(value), !bytes.isEmpty else {
                throw .inconsistent("attestation.\(name) is not hex")
            }
        }
        guard let size = Self.bankDigestSizes[pcrBank] else {
            throw .inconsistent("attestation.pcrBank \(pcrBank) is unknown")
        }
        guard !pcrs.isEmpty, pcrs.allSatisfy({ (0..<64).contains($0) }),
            zip(pcrs, pcrs.dropFirst()).allSatisfy({ $0 < $1 })
        else {
            throw .inconsistent("attestation.pcrs is not ascending indices below 64")
        }
        guard Set(pcrValues.keys) == Set(pcrs.map(String.init)) else {
            throw .inconsistent("attestation.pcrValues does not have exactly one value per quoted PCR")
        }
        guard pcrValues.values.allSatisfy({ Evidence.hexBytes($0)?.count == size }) else {
            throw .inconsistent("attestation.pcrValues are not \(size)-byte hex values")
        }
        if let ek = ekCertificate, Evidence.hexBytes(ek)?.isEmpty != false {
            throw .inconsistent("attestation.ekCertificate is not hex")
        }
        let chain = ekChain ?? []
        guard chain.count <= Self.maxChainLength, chain.allSatisfy({ Evidence.hexBytes($0)?.isEmpty == false }) else {
            throw .inconsistent("attestation.ekChain is not at most \(Self.maxChainLength) hex certificates")
        }
    }

    /// PCR values by index, decoded (after `validate`).
    public var pcrValueBytes: [Int: [UInt8]] {
        var out: [Int: [UInt8]] = [:]
        for (key, value) in pcrValues {
            if let index = Int(key), let bytes = Evidence.hexBytes(value) { out[index] = bytes }
        }
        return out
    }
}

/// One application event (docs/ATTESTATION.md §2): the enclave extended `pcr` of the
/// SHA-256 bank with `digest`.
public struct EventLogEntry: Codable, Equatable, Sendable {
    /// `type` of the enclave executable's measurement.
    public static let enclaveExecutable = "enclave-executable"
    /// `type` of the venue configuration's hash.
    public static let venueConfig = "venue-config"
    /// Most entries accepted in an evidence document.
    public static let maxEntries = 64

    public var pcr: Int
    public var type: String
    /// SHA-256 digest extended into the PCR, hex.
    public var digest: String

    public init(pcr: Int, type: String, digest: String) {
        self.pcr = pcr
        self.type = type
        self.digest = digest
    }

    /// The log §2 prescribes: the executable's measurement, the configuration hash, then
    /// the digest of the loaded objects (`LoadedObjects.digest`).
    public static func measuredStart(
        measurement: [UInt8], configHash: [UInt8], loadedObjects: [UInt8], pcr: Int
    ) -> [EventLogEntry] {
        [
            EventLogEntry(pcr: pcr, type: enclaveExecutable, digest: hexString(measurement)),
            EventLogEntry(pcr: pcr, type: venueConfig, digest: hexString(configHash)),
            EventLogEntry(pcr: pcr, type: LoadedObjects.eventType, digest: hexString(loadedObjects)),
        ]
    }

    /// The PCR value after extending a PCR that starts at 32 zero bytes with each digest
    /// in order: pcr = SHA-256(pcr ‖ digest).
    public static func replay(_ digests: [[UInt8]]) -> [UInt8] {
        digests.reduce([UInt8](repeating: 0, count: 32)) { SHA256.hash($0 + $1) }
    }
}

/// The report preimage of docs/ATTESTATION.md §1. Its SHA-256 is the quote's extraData,
/// so every field here is bound to the TPM's signature.
public struct ReportPreimage: Equatable, Sendable {
    /// `sealstream/attest/v1` and four zero bytes.
    public static let domainTag: [UInt8] = Array("sealstream/attest/v1".utf8) + [0, 0, 0, 0]
    /// Longest nonce the preimage carries, in bytes.
    public static let maxNonceLength = 64

    public var mode: AttestationMode
    public var nonce: [UInt8]
    /// X25519 order-flow key, 32 bytes.
    public var enclaveKey: [UInt8]
    /// secp256k1 signer address, 20 bytes.
    public var signer: [UInt8]
    /// SHA-256 of the enclave executable.
    public var measurement: [UInt8]
    /// SHA-256 of the venue configuration file.
    public var configHash: [UInt8]

    /// The preimage bytes; throws when a field has the wrong length.
    public static func build(
        mode: AttestationMode, nonce: [UInt8], enclaveKey: [UInt8], signer: [UInt8], measurement: [UInt8],
        configHash: [UInt8]
    ) throws(EvidenceError) -> [UInt8] {
        guard nonce.count <= maxNonceLength else {
            throw .invalidPreimage("nonce of \(nonce.count) bytes exceeds \(maxNonceLength)")
        }
        for (name, value, size) in [
            ("enclaveKey", enclaveKey, 32), ("signer", signer, 20), ("measurement", measurement, 32),
            ("configHash", configHash, 32),
        ]
        where value.count != size {
            throw .invalidPreimage("\(name) is \(value.count) bytes, expected \(size)")
        }
        return domainTag + [mode.preimageCode, UInt8(nonce.count)] + nonce + enclaveKey + signer + measurement
            + configHash
    }

    /// Parses exactly one preimage: domain tag, known mode, nonce length ≤ 64, total
    /// length 142 + nonce length.
    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> ReportPreimage {
        guard bytes.count >= 26, Array(bytes[0..<24]) == domainTag else {
            throw .invalidPreimage("no sealstream/attest/v1 domain tag")
        }
        guard let mode = AttestationMode.allCases.first(where: { $0.preimageCode == bytes[24] }) else {
            throw .invalidPreimage("unknown mode byte \(bytes[24])")
        }
        let n = Int(bytes[25])
        guard n <= maxNonceLength else { throw .invalidPreimage("nonce length \(n) exceeds \(maxNonceLength)") }
        guard bytes.count == 142 + n else {
            throw .invalidPreimage("\(bytes.count) bytes, expected \(142 + n) for a \(n)-byte nonce")
        }
        func field(_ offset: Int, _ size: Int) -> [UInt8] { Array(bytes[26 + n + offset..<26 + n + offset + size]) }
        return ReportPreimage(
            mode: mode, nonce: Array(bytes[26..<26 + n]), enclaveKey: field(0, 32), signer: field(32, 20),
            measurement: field(52, 32), configHash: field(84, 32))
    }

    public init(
        mode: AttestationMode, nonce: [UInt8], enclaveKey: [UInt8], signer: [UInt8], measurement: [UInt8],
        configHash: [UInt8]
    ) {
        self.mode = mode
        self.nonce = nonce
        self.enclaveKey = enclaveKey
        self.signer = signer
        self.measurement = measurement
        self.configHash = configHash
    }

    /// The preimage bytes.
    public func bytes() throws(EvidenceError) -> [UInt8] {
        try Self.build(
            mode: mode, nonce: nonce, enclaveKey: enclaveKey, signer: signer, measurement: measurement,
            configHash: configHash)
    }
}

extension AttestationMode {
    /// The mode's byte in the report preimage: 1 software, 2 swtpm, 3 tpm.
    public var preimageCode: UInt8 {
        switch self {
        case .software: 1
        case .swtpm: 2
        case .tpm: 3
        }
    }
}

/// Lower-case hex.
package func hexString(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
