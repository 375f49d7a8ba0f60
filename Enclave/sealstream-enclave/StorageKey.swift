#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Attestation
import EnclaveCore
import SealCrypto
import Wire

/// The worker's long-lived storage key (docs/ATTESTATION.md §7): created on the first
/// start, kept across restarts. In TPM modes it is sealed to the measurement PCR, so only
/// the same measured worker on the same TPM gets it back; the file holds only the sealed
/// blobs. In `software` mode there is nothing to seal to: the key itself is in a 0600
/// file, and the evidence says so.
enum StorageKey {
    struct File: Codable {
        var version = 1
        var mode: String
        /// Hex of the sealed TPM2B_PUBLIC / TPM2B_PRIVATE (TPM modes).
        var sealedPublic: String?
        var sealedPrivate: String?
        /// Hex of the key (software mode only).
        var key: String?
        /// TPM modes: the TPM NV counter's value when the key was created (the epoch's
        /// base, docs/DURABILITY.md §5.1), and hex of its tag `EpochCounter.baseTag`.
        var counterBase: UInt64?
        var counterBaseTag: String?
    }

    enum Failure: Error, CustomStringConvertible {
        case unreadable(String)
        case wrongMode(file: String, running: String)
        /// A TPM-mode file without the counter base (made before the rollback counter).
        case counterBaseMissing
        /// The counter base's tag does not match the key: the file was edited.
        case counterBaseForged

        var description: String {
            switch self {
            case .unreadable(let why): "storage key file: \(why)"
            case .wrongMode(let file, let running): "storage key file was made in \(file) mode; this worker runs in \(running) mode"
            case .counterBaseMissing:
                "storage key file has no rollback counter base (made before docs/DURABILITY.md §5.1); "
                    + "remove it to start a new epoch"
            case .counterBaseForged: "storage key file: the rollback counter base does not match the key (edited)"
            }
        }
    }

    /// The key, how it is protected (for the evidence), and in TPM modes the epoch's
    /// counter base (docs/DURABILITY.md §5.1): the TPM NV counter's value when the key was
    /// created, read (the counter defined if absent) before the key file is written, so
    /// that `EpochCounter(tpm, base:)` starts the epoch at 0.
    static func load(path: String, mode: AttestationMode, tpm: TPMQuoteSource?, pcr: Int) throws
        -> (SecretBytes, String, UInt64?)
    {
        let protection = tpm == nil ? "file-0600" : "sealed-pcr-\(pcr)"
        if let data = FileManager.default.contents(atPath: path) {
            guard let file = try? JSONDecoder().decode(File.self, from: data), file.version == 1 else {
                throw Failure.unreadable("not a storage key file")
            }
            guard file.mode == mode.rawValue else { throw Failure.wrongMode(file: file.mode, running: mode.rawValue) }
            if let tpm {
                guard let pub = file.sealedPublic.flatMap(Hex.decode), let priv = file.sealedPrivate.flatMap(Hex.decode) else {
                    throw Failure.unreadable("sealed blobs missing")
                }
                let key = try tpm.unseal(public: pub, private: priv)
                guard let base = file.counterBase, let tag = file.counterBaseTag.flatMap(Hex.decode) else {
                    throw Failure.counterBaseMissing
                }
                guard Sodium.constantTimeEqual(tag, EpochCounter.baseTag(storageKey: key, base: base)) else {
                    throw Failure.counterBaseForged
                }
                return (key, protection, base)
            }
            guard var raw = file.key.flatMap(Hex.decode), raw.count == 32 else { throw Failure.unreadable("key missing") }
            return (SecretBytes(consuming: &raw), protection, nil)
        }
        var fresh = Sodium.randomBytes(32)
        let key = SecretBytes(consuming: &fresh)
        var file = File(mode: mode.rawValue)
        if let tpm {
            let sealed = try tpm.seal(key)
            file.sealedPublic = Hex.encode(sealed.public)
            file.sealedPrivate = Hex.encode(sealed.private)
            let base = try tpm.read()
            file.counterBase = base
            file.counterBaseTag = Hex.encode(EpochCounter.baseTag(storageKey: key, base: base))
        } else {
            // Software mode keeps the key in the clear on disk by definition; this hex
            // copy cannot be wiped, and is no worse than the file.
            file.key = key.withUnsafeBytes { Hex.encode(Array($0)) }
        }
        var bytes = Array(try JSONEncoder().encode(file))
        defer { Sodium.wipe(&bytes) }
        // Created 0600 and written once; a crash mid-write leaves no file, not a torn one.
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure.unreadable("cannot create \(tmp) (errno \(errno))") }
        let written = bytes.withUnsafeBytes { FileIO.writeAll(fd, $0) }
        fsync(fd)
        close(fd)
        guard written, rename(tmp, path) == 0 else { throw Failure.unreadable("cannot write \(path) (errno \(errno))") }
        return (key, protection, file.counterBase)
    }
}
