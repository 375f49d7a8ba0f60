import Attestation
import CTPM
import EnclaveCore
import SealCrypto
import Wire

/// The worker's TPM (`swtpm` or `tpm` mode) through CTPM: measures the start into the
/// PCR, holds the attestation key (a primary in the endorsement hierarchy, regenerated
/// for each quote) and answers quotes. Used from the worker's one thread only.
final class TPMQuoteSource: QuoteSource, @unchecked Sendable {
    enum Failure: Error, CustomStringConvertible {
        case tpm(String, UInt32)
        /// The counter's NV index exists with another public area (TPMA_NV `attributes`, when
        /// known: nil when it was replaced after the worker opened it).
        case counterMismatch(index: UInt32, attributes: UInt32?)
        /// Defining the counter with the empty owner password failed: the owner hierarchy
        /// has a password.
        case counterOwnerPassword(index: UInt32, rc: UInt32)
        /// The counter exists but its own auth value is not empty.
        case counterPassword(index: UInt32, rc: UInt32)
        /// Sealing or unsealing the storage key: the storage primary key is created in the
        /// owner hierarchy with the empty password, and the owner has a password.
        case ownerPassword(what: String, rc: UInt32)

        var description: String {
            switch self {
            case .tpm(let what, let rc): "\(what): \(String(cString: ctpm_error_string(rc)))"
            case .counterMismatch(let index, let attributes):
                "NV index \(Self.hex(index)) exists with attributes \(attributes.map(Self.hex) ?? "other than when opened"), "
                    + "not the rollback counter's "
                    + "\(Self.hex(CTPM_COUNTER_ATTRIBUTES)) (nt=counter|authread|authwrite|no_da, 8 bytes, SHA-256, no "
                    + "policy); refusing to use it. Remove it (tpm2_nvundefine \(Self.hex(index))) only if it is not "
                    + "another application's (docs/DURABILITY.md §5)"
            case .counterOwnerPassword(let index, let rc):
                "cannot define the rollback counter NV index \(Self.hex(index)): the TPM's owner hierarchy has a "
                    + "password (\(String(cString: ctpm_error_string(rc)))). Define it once yourself: tpm2_nvdefine "
                    + "\(Self.hex(index)) -C o -P OWNER_PASSWORD -s 8 -a 'nt=counter|authread|authwrite|no_da' "
                    + "(docs/DURABILITY.md §5)"
            case .ownerPassword(let what, let rc):
                "\(what): the TPM's owner hierarchy has a password (\(String(cString: ctpm_error_string(rc)))); the "
                    + "worker creates its storage primary key in the owner hierarchy with the empty password "
                    + "(docs/ATTESTATION.md §7, docs/DURABILITY.md §5.1)"
            case .counterPassword(let index, let rc):
                "the rollback counter NV index \(Self.hex(index)) has a non-empty auth value "
                    + "(\(String(cString: ctpm_error_string(rc)))); it must be defined with none (docs/DURABILITY.md §5)"
            }
        }

        private static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
    }

    private let handle: OpaquePointer
    let pcrs: [Int]
    let akPublic: [UInt8]
    let ekCertificate: [UInt8]
    /// The RSA 2048 EK certificate (credential activation), when provisioned.
    let activationEKCertificate: [UInt8]?
    /// The firmware event log (`tpm` mode, booted in the appliance image), read once at start.
    let bootEventLog: [UInt8]?
    /// Where the kernel exposes the firmware's TCG event log (securityfs).
    static let bootEventLogPath = "/sys/kernel/security/tpm0/binary_bios_measurements"
    /// Whether the NV counter has been defined or checked (on first use, MonotonicCounter).
    private var counterReady = false

    /// Opens the TPM at `tcti`, resets the measurement PCR and extends it with each
    /// event log digest in order, creates the AK and reads the EK certificate.
    init(tcti: String, mode: AttestationMode, measurementPCR: Int, eventLog digests: [[UInt8]]) throws {
        ctpm_silence_tss_logging()
        var h: OpaquePointer?
        try Self.check(ctpm_open(tcti, &h), "open \(tcti.prefix { $0 != ":" }) TPM")
        handle = h!
        // In the appliance image (docs/IMAGE.md §7) the quote also covers the PCRs the image
        // is measured into, and the evidence carries the firmware's log of them. A log too
        // large for the evidence is left out, which fails the verifier's boot.eventlog.
        if mode == .tpm, let log = try? FileIO.read(Self.bootEventLogPath, limit: Evidence.maxBootEventLog),
            !log.isEmpty
        {
            bootEventLog = log
            pcrs = Array(0...7) + [9, 11, 12] + [measurementPCR]
        } else {
            bootEventLog = nil
            pcrs = mode == .tpm ? Array(0...7) + [measurementPCR] : [measurementPCR]
        }
        let pcr = UInt32(measurementPCR)
        try Self.check(ctpm_pcr_reset(handle, pcr), "reset PCR \(pcr)")
        for d in digests { try Self.check(ctpm_pcr_extend(handle, pcr, d), "extend PCR \(pcr)") }
        var name = [UInt8](repeating: 0, count: Int(CTPM_NAME_MAX))
        var nameLength = name.count
        akPublic = try Self.output(Int(CTPM_PUBLIC_MAX), "create the attestation key") { [handle] buffer, length in
            ctpm_create_primary_ak(handle, buffer, length, &name, &nameLength)
        }
        ekCertificate = try Self.output(Int(CTPM_EK_CERT_MAX), "read the EK certificate") { [handle] buffer, length in
            ctpm_read_ek_certificate(handle, 0, buffer, length)
        }
        activationEKCertificate = try? Self.output(Int(CTPM_EK_CERT_MAX), "read the RSA EK certificate") { [handle] buffer, length in
            ctpm_read_ek_certificate(handle, CTPM_EK_CERT_RSA2048, buffer, length)
        }
    }

    deinit { ctpm_close(handle) }

    func quote(qualifying: [UInt8]) throws -> TPMAttestation {
        let selection = pcrs.map(UInt32.init)
        var signature = [UInt8](repeating: 0, count: Int(CTPM_SIGNATURE_MAX))
        var signatureLength = signature.count
        let attest = try Self.output(Int(CTPM_ATTEST_MAX), "quote") { [handle] buffer, length in
            ctpm_quote(handle, qualifying, selection, selection.count, buffer, length, &signature, &signatureLength)
        }
        var values = [UInt8](repeating: 0, count: 32 * selection.count)
        try Self.check(ctpm_pcr_read(handle, selection, selection.count, &values), "read PCRs")
        var pcrValues: [String: String] = [:]
        for (i, pcr) in pcrs.enumerated() { pcrValues[String(pcr)] = Hex.encode(Array(values[(32 * i)..<(32 * i + 32)])) }
        return TPMAttestation(
            akPublic: Hex.encode(akPublic), quote: Hex.encode(attest), signature: Hex.encode(Array(signature[..<signatureLength])),
            pcrs: pcrs, pcrValues: pcrValues, ekCertificate: Hex.encode(ekCertificate),
            activationEKCertificate: activationEKCertificate.map(Hex.encode))
    }

    func activateCredential(credentialBlob: [UInt8], encryptedSecret: [UInt8]) throws -> [UInt8] {
        try Self.output(64, "activate the credential") { [handle] buffer, length in
            ctpm_activate_credential(handle, CTPM_EK_CERT_RSA2048, credentialBlob, credentialBlob.count, encryptedSecret,
                                     encryptedSecret.count, buffer, length)
        }
    }

    /// Seals a 32-byte secret to the measurement PCR's current value (the measured start
    /// of this binary with this configuration).
    func seal(_ secret: SecretBytes) throws -> (public: [UInt8], private: [UInt8]) {
        var priv = [UInt8](repeating: 0, count: Int(CTPM_PRIVATE_MAX))
        var privLength = priv.count
        let pcr = UInt32(pcrs.last!)
        let what = "seal the storage key"
        do {
            let pub = try secret.withUnsafeBytes { s in
                try Self.output(Int(CTPM_PUBLIC_MAX), what) { [handle] buffer, length in
                    ctpm_seal(handle, pcr, nil, s.baseAddress!.assumingMemoryBound(to: UInt8.self), buffer, length, &priv, &privLength)
                }
            }
            return (pub, Array(priv[..<privLength]))
        } catch Failure.tpm(_, let rc) where ctpm_rc_is_bad_auth(rc) == 1 {
            throw Failure.ownerPassword(what: what, rc: rc)
        }
    }

    /// Unseals a secret sealed by `seal`; the TPM refuses unless the measurement PCR
    /// holds the value it was sealed to.
    func unseal(public pub: [UInt8], private priv: [UInt8]) throws -> SecretBytes {
        let pcr = UInt32(pcrs.last!)
        var rc: UInt32 = 0
        let secret = SecretBytes(count: 32) { out in
            rc = ctpm_unseal(handle, pcr, pub, pub.count, priv, priv.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        if ctpm_rc_is_bad_auth(rc) == 1 { throw Failure.ownerPassword(what: "unseal the storage key", rc: rc) }
        try Self.check(rc, "unseal the storage key (sealed to another measured start, or another TPM)")
        return secret
    }

    // MARK: MonotonicCounter: the TPM NV counter of docs/DURABILITY.md §5

    /// Opens the counter on first use (defines it if absent); its value then, or nil when
    /// it was already open.
    private func openCounter() throws -> UInt64? {
        guard !counterReady else { return nil }
        let index = CTPM_COUNTER_INDEX
        var value: UInt64 = 0
        var attributes: UInt32 = 0
        var defined: Int32 = 0
        let rc = ctpm_counter_open(handle, index, &value, &attributes, &defined)
        if rc == CTPM_RC_COUNTER_MISMATCH { throw Failure.counterMismatch(index: index, attributes: attributes) }
        if ctpm_rc_is_bad_auth(rc) == 1 {
            // attributes stay 0 when the definition failed, before the index was read.
            throw attributes == 0
                ? Failure.counterOwnerPassword(index: index, rc: rc) : Failure.counterPassword(index: index, rc: rc)
        }
        try Self.check(rc, "open the rollback counter NV index 0x\(String(index, radix: 16))")
        counterReady = true
        return value
    }

    private static func check(_ rc: UInt32, _ what: String) throws {
        guard rc == 0 else { throw Failure.tpm(what, rc) }
    }

    private static func output(
        _ capacity: Int, _ what: String, _ call: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<Int>) -> UInt32
    ) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: capacity)
        var length = capacity
        let rc = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress!, &length) }
        try check(rc, what)
        return Array(buffer[..<length])
    }
}

extension TPMQuoteSource: MonotonicCounter {
    /// TPM2_NV_Read of the counter, after checking the index is still the counter.
    func read() throws -> UInt64 {
        if let value = try openCounter() { return value }
        var value: UInt64 = 0
        try counterCall(ctpm_counter_read(handle, CTPM_COUNTER_INDEX, &value), "read")
        return value
    }

    /// TPM2_NV_Increment, then a read: the new value (about 1 ms on swtpm, DURABILITY.md §5).
    func increment() throws -> UInt64 {
        _ = try openCounter()
        var value: UInt64 = 0
        try counterCall(ctpm_counter_increment(handle, CTPM_COUNTER_INDEX, &value), "increment")
        return value
    }

    private func counterCall(_ rc: UInt32, _ what: String) throws {
        if rc == CTPM_RC_COUNTER_MISMATCH {
            throw Failure.counterMismatch(index: CTPM_COUNTER_INDEX, attributes: nil)
        }
        if ctpm_rc_is_bad_auth(rc) == 1 { throw Failure.counterPassword(index: CTPM_COUNTER_INDEX, rc: rc) }
        guard rc == 0 else {
            throw Failure.tpm("\(what) the rollback counter NV index 0x\(String(CTPM_COUNTER_INDEX, radix: 16))", rc)
        }
    }
}
