import Attestation
import AuditCrypto
import SealCrypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a verifier accepts (docs/ATTESTATION.md §5): the reference measurement and
/// configuration, the modes, the PCR the enclave extends, optionally the boot PCRs, and
/// the roots EK certificates must chain to. `attestation measure` writes it; JSON,
/// binary values in lower-case hex.
public struct AttestationPolicy: Codable, Equatable, Sendable {
    /// Version 2 added `loadedObjects`; version 1 policies pinned the executable alone
    /// and are refused (they cannot tell a worker that runs an unmeasured library).
    public static let currentVersion = 2
    /// The PCR of §2 when the policy does not name one.
    public static let defaultPCR = 23
    /// Largest policy document accepted by `parse`, in bytes.
    public static let maxEncodedLength = 256 * 1024

    public var version: Int
    /// SHA-256 of the enclave executable.
    public var measurement: String
    /// SHA-256 of the venue configuration file.
    public var configHash: String
    /// Modes accepted. The simulated ones (`software`, `swtpm`) also need the verifier's
    /// explicit `allowSimulated`.
    public var allowedModes: [AttestationMode]
    /// The PCR (SHA-256 bank) the enclave extends with its event log; 8…23, default 23.
    public var pcr: Int
    /// Expected SHA-256 values of PCRs 0–7 in `tpm` mode, by decimal index; absent or
    /// empty: the boot chain is not constrained.
    public var bootPCRs: [String: String]?
    /// PEM root certificates EK certificates of `tpm` evidence must chain to (TPM
    /// manufacturers' CAs). Never put a simulator's CA here.
    public var ekRoots: [String]
    /// PEM root certificates for `swtpm` evidence (swtpm_localca's root).
    public var swtpmEKRoots: [String]
    /// Names (hex, nameAlg ‖ SHA-256) of enrolled attestation keys. When non-empty, the
    /// AK must be one of them; `tpm` evidence requires a non-empty list (see the
    /// `ak.enrolled` check).
    public var akNames: [String]
    /// Every file the worker may have mapped executable besides its executable (shared
    /// libraries and the dynamic loader of the machine it runs on), canonical order
    /// (`LoadedObjects`): the evidence must list exactly these.
    public var loadedObjects: [LoadedObject]
    /// The appliance image the worker must have booted in (docs/IMAGE.md §5), predicted by
    /// `attestation measure --image`; nil for a worker that is not booted from an image.
    public var image: ImagePolicy?

    public init(
        measurement: [UInt8], configHash: [UInt8], allowedModes: [AttestationMode], pcr: Int = defaultPCR,
        bootPCRs: [Int: [UInt8]]? = nil, ekRoots: [String] = [], swtpmEKRoots: [String] = [], akNames: [[UInt8]] = [],
        loadedObjects: [LoadedObject]
    ) {
        self.version = Self.currentVersion
        self.loadedObjects = LoadedObjects.sorted(loadedObjects)
        self.measurement = hexString(measurement)
        self.configHash = hexString(configHash)
        self.allowedModes = allowedModes
        self.pcr = pcr
        self.bootPCRs = bootPCRs.map {
            Dictionary(uniqueKeysWithValues: $0.map { (String($0.key), hexString($0.value)) })
        }
        self.ekRoots = ekRoots
        self.swtpmEKRoots = swtpmEKRoots
        self.akNames = akNames.map(hexString)
    }

    private enum CodingKeys: String, CodingKey {
        case version, measurement, configHash, allowedModes, pcr, bootPCRs, ekRoots, swtpmEKRoots, akNames, loadedObjects
        case image
    }

    /// Decodes with defaults for the optional keys (`pcr` 23, empty root and AK lists).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        measurement = try c.decode(String.self, forKey: .measurement)
        configHash = try c.decode(String.self, forKey: .configHash)
        allowedModes = try c.decode([AttestationMode].self, forKey: .allowedModes)
        pcr = try c.decodeIfPresent(Int.self, forKey: .pcr) ?? Self.defaultPCR
        bootPCRs = try c.decodeIfPresent([String: String].self, forKey: .bootPCRs)
        ekRoots = try c.decodeIfPresent([String].self, forKey: .ekRoots) ?? []
        swtpmEKRoots = try c.decodeIfPresent([String].self, forKey: .swtpmEKRoots) ?? []
        akNames = try c.decodeIfPresent([String].self, forKey: .akNames) ?? []
        loadedObjects = try c.decode([LoadedObject].self, forKey: .loadedObjects)
        image = try c.decodeIfPresent(ImagePolicy.self, forKey: .image)
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    /// Strict parse: size limit, known version, then `validate()`.
    public static func parse(_ bytes: [UInt8]) throws(PolicyError) -> AttestationPolicy {
        guard bytes.count <= maxEncodedLength else { throw .tooLarge(bytes.count) }
        let policy: AttestationPolicy
        do {
            policy = try JSONDecoder().decode(AttestationPolicy.self, from: Data(bytes))
        } catch {
            throw .malformed(String(describing: error))
        }
        try policy.validate()
        return policy
    }

    /// Internal consistency: 32-byte hex values, a PCR in 8…23, boot PCRs only 0–7, at
    /// least one mode, roots that parse as certificates, AK names of 34 bytes.
    public func validate() throws(PolicyError) {
        guard version == Self.currentVersion else { throw .unsupportedVersion(version) }
        guard Evidence.hexBytes(measurement)?.count == 32 else { throw .invalid("measurement is not 32 hex bytes") }
        guard Evidence.hexBytes(configHash)?.count == 32 else { throw .invalid("configHash is not 32 hex bytes") }
        guard !allowedModes.isEmpty else { throw .invalid("allowedModes is empty") }
        guard (8...23).contains(pcr) else { throw .invalid("pcr \(pcr) is not in 8...23") }
        for (key, value) in bootPCRs ?? [:] {
            guard let index = Int(key), (0...7).contains(index), Evidence.hexBytes(value)?.count == 32 else {
                throw .invalid("bootPCRs must map \"0\"…\"7\" to 32-byte hex values")
            }
        }
        for name in akNames where Evidence.hexBytes(name)?.count != 34 {
            throw .invalid("akNames entry is not 34 hex bytes (0x000b ‖ SHA-256)")
        }
        do { try LoadedObjects.validate(loadedObjects) } catch { throw .invalid("loadedObjects: \(error)") }
        try image?.validate()
        _ = try roots(for: .tpm)
        _ = try roots(for: .swtpm)
    }

    /// The parsed EK roots trusted for `mode` (none for `software`).
    public func roots(for mode: AttestationMode) throws(PolicyError) -> [X509Certificate] {
        let pems: [String]
        switch mode {
        case .tpm: pems = ekRoots
        case .swtpm: pems = swtpmEKRoots
        case .software: pems = []
        }
        var out: [X509Certificate] = []
        for pem in pems {
            do { out.append(try X509Certificate(pem: pem)) } catch {
                throw .invalid("EK root for \(mode.rawValue): \(error)")
            }
        }
        return out
    }

    /// Boot PCR expectations by index.
    public var bootPCRValues: [Int: [UInt8]] {
        var out: [Int: [UInt8]] = [:]
        for (key, value) in bootPCRs ?? [:] {
            if let index = Int(key), let bytes = Evidence.hexBytes(value) { out[index] = bytes }
        }
        return out
    }

    /// The value the policy PCR must have after the §2 log of this measurement,
    /// configuration and loaded objects.
    public var expectedPCRValue: [UInt8] {
        EventLogEntry.replay([
            Evidence.hexBytes(measurement) ?? [], Evidence.hexBytes(configHash) ?? [],
            LoadedObjects.digest(loadedObjects),
        ])
    }
}

/// The image part of a policy (docs/IMAGE.md §5.3): what booting the appliance image
/// extends into PCRs 4, 9, 11 and 12, event by event, and the resulting values.
public struct ImagePolicy: Codable, Equatable, Sendable {
    /// One predicted firmware event log entry.
    public struct Event: Codable, Equatable, Sendable {
        public var pcr: Int
        /// TCG event type (e.g. 0x80000003 EV_EFI_BOOT_SERVICES_APPLICATION).
        public var type: UInt32
        /// SHA-256 digest (hex).
        public var digest: String
        /// What the digest covers: `firmware action`, `separator`, `uki`, `kernel`,
        /// `load options`, `initrd`, `section NAME name`, `section NAME`.
        public var component: String
    }

    /// SHA-256 of the image file (informative: identifies the file measured).
    public var sha256: String
    /// Authenticode SHA-256 of the UKI and of the kernel in its `.linux` section.
    public var uki: String
    public var kernel: String
    /// The command line in `.cmdline` (informative; its measurements are in `events`).
    public var commandLine: String
    /// Every predicted event, by PCR in log order.
    public var events: [Event]
    /// Predicted values of PCRs 4, 9, 11 and 12 by decimal index (hex).
    public var pcrs: [String: String]

    public init(file: [UInt8], measurement: ImageMeasurement) {
        sha256 = hexString(SHA256.hash(file))
        uki = hexString(measurement.uki)
        kernel = hexString(measurement.kernel)
        commandLine = measurement.commandLine
        events = measurement.events.map {
            Event(pcr: $0.pcr, type: $0.type, digest: hexString($0.digest), component: $0.component)
        }
        pcrs = Dictionary(uniqueKeysWithValues: measurement.pcrValues.map { (String($0.key), hexString($0.value)) })
    }

    /// 32-byte hex digests, events only on PCRs 4, 9, 11 and 12, one value for each of them
    /// that replays from its events.
    public func validate() throws(PolicyError) {
        for value in [sha256, uki, kernel] + events.map(\.digest) where Evidence.hexBytes(value)?.count != 32 {
            throw .invalid("image: a digest is not 32 hex bytes")
        }
        guard events.allSatisfy({ ImageMeasurement.predictedPCRs.contains($0.pcr) }) else {
            throw .invalid("image: an event is not on PCR 4, 9, 11 or 12")
        }
        guard Set(pcrs.keys) == Set(ImageMeasurement.predictedPCRs.map(String.init)) else {
            throw .invalid("image: pcrs must give exactly PCRs 4, 9, 11 and 12")
        }
        for (key, value) in pcrs {
            let replayed = EventLogEntry.replay(
                events.filter { String($0.pcr) == key }.map { Evidence.hexBytes($0.digest) ?? [] })
            guard Evidence.hexBytes(value) == replayed else {
                throw .invalid("image: PCR \(key) is not the replay of its events")
            }
        }
    }

    /// Predicted values by index.
    public var pcrValues: [Int: [UInt8]] {
        var out: [Int: [UInt8]] = [:]
        for (key, value) in pcrs { if let i = Int(key), let v = Evidence.hexBytes(value) { out[i] = v } }
        return out
    }
}

/// Why a policy could not be used.
public enum PolicyError: Error, Equatable, Sendable {
    case tooLarge(Int)
    case malformed(String)
    case unsupportedVersion(Int)
    case invalid(String)
}
